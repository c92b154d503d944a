package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	partnersv1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
)

// TestMetricsTheRulesAndDashboardRead starts the manager binary, fresh,
// with one invitation in the cluster, and scrapes its /metrics: every
// metric the alerts of config/prometheus/rules and the Grafana dashboard
// of config/grafana query is there before anything happened (so their
// rate() and absent() answer right after a restart), and every partnerops
// counter is there at zero.
func TestMetricsTheRulesAndDashboardRead(t *testing.T) {
	queried := queriedMetrics(t)
	if len(queried) < 10 {
		t.Fatalf("found only %d metric names in the rules and the dashboard (%v): the parsing is stale", len(queried), queried)
	}

	ns := env.Namespace(t)
	inv := &partnersv1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jane"},
		Spec: partnersv1alpha1.PartnerInvitationSpec{
			Account: "nobody", Email: "jane@globex.example", Role: "editor", Systems: []partnersv1alpha1.CatalogueKey{"editor"},
		},
	}
	if err := env.Client.Create(context.Background(), inv); err != nil {
		t.Fatal(err)
	}

	metrics, probes := freeAddr(t), freeAddr(t)
	m := startManager(t, "--metrics-bind-address", metrics, "--metrics-secure=false", "--health-probe-bind-address", probes)
	waitHTTP(t, "http://"+probes+"/readyz", m.exited)

	// The controllers' own metrics appear once they start, and the
	// invitation counts as Invalid once it is reconciled.
	invalid := `partnerops_invitations{namespace="` + ns + `",state="Invalid"} 1`
	var scrape map[string][]string
	waitFor(t, "the controllers' metrics and the invitation Invalid", func() bool {
		scrape = scrapeMetrics(t, "http://"+metrics+"/metrics")
		return len(scrape["controller_runtime_reconcile_errors_total"]) > 0 && slices.Contains(scrape["partnerops_invitations"], invalid)
	})
	for _, name := range queried {
		if len(scrape[name]) == 0 {
			t.Errorf("%s is queried by the rules or the dashboard but not in the manager's /metrics", name)
		}
	}
	for name, series := range scrape {
		if !strings.HasPrefix(name, "partnerops_") || !strings.HasSuffix(name, "_total") {
			continue
		}
		for _, s := range series {
			if !strings.HasSuffix(s, " 0") {
				t.Errorf("%s, want 0 before anything happened", s)
			}
		}
	}
	for _, want := range []string{
		`partnerops_grant_syncs_total{operation="revoke",reason="BackendUnavailable",result="failure"} 0`,
		`partnerops_identity_backend_requests_total{backend="scim",code="unavailable",operation="RemoveMember"} 0`,
		`partnerops_invitations_awaiting_revocation{namespace="` + ns + `"} 0`,
	} {
		name, _, _ := strings.Cut(want, "{")
		if !slices.Contains(scrape[name], want) {
			t.Errorf("no %s in /metrics; %s:\n%s", want, name, strings.Join(scrape[name], "\n"))
		}
	}
	if info := scrape["partnerops_build_info"]; len(info) != 1 || !strings.Contains(info[0], `version="dev"`) || !strings.HasSuffix(info[0], " 1") {
		t.Errorf("partnerops_build_info: %v, want one series for version dev at 1", info)
	}
	if t.Failed() {
		t.Logf("the manager's log:\n%s", m.logs.String())
	}
}

// scrapeMetrics reads a /metrics page (text format): each metric name's
// sample lines, histograms by their _bucket, _sum and _count names.
func scrapeMetrics(t *testing.T, url string) map[string][]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		out[name] = append(out[name], line)
	}
	return out
}

// queriedMetrics are the metric names the alerts and the dashboard's
// panels query, read from their PromQL expressions.
func queriedMetrics(t *testing.T) []string {
	t.Helper()
	var exprs []string
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "prometheus", "rules", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Expr string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &rule); err != nil {
		t.Fatal(err)
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	if b, err = os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "grafana", "partnerops.json")); err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dashboard); err != nil {
		t.Fatal(err)
	}
	for _, p := range dashboard.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	var names []string
	for _, e := range exprs {
		for _, n := range metricSelectors(e) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promqlGroupings = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlNames     = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?`)
	promqlKeywords  = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// metricSelectors are the metric names of a PromQL expression: its
// identifiers that are not functions, aggregations, keywords, label names
// (in braces and groupings), strings or durations.
func metricSelectors(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlGroupings.ReplaceAllString(e, " ")
	var out []string
	for _, m := range promqlNames.FindAllStringSubmatch(e, -1) {
		if m[2] != "" || slices.Contains(promqlKeywords, strings.ToLower(m[1])) {
			continue // a function or an aggregation, or a keyword
		}
		out = append(out, m[1])
	}
	return out
}
