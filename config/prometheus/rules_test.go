// Package prometheus tests the alerts of config/prometheus/rules and the
// Grafana dashboard of config/grafana with promtool (built from the Go
// module proxy by hack/install-tools.sh; $PROMTOOL, which make test sets,
// else bin/tools/promtool/v<version of hack/tools/promtool/go.mod>/):
//
//   - the PrometheusRule's spec.groups pass `promtool check rules`, and
//     `promtool test rules` passes alerts_test.yaml over them;
//   - every alert has a test where it fires and one where it does not yet,
//     a severity, a summary and a description, and a runbook_url that is a
//     section of docs/troubleshooting.md naming the alert's metrics;
//   - every query of the dashboard parses (`promtool check rules`, each as
//     a recording rule) and the dashboard shows what docs/observability.md
//     says it shows.
//
// That each metric the rules and the dashboard query exists in a running
// manager's /metrics is TestMetricsTheRulesAndDashboardRead, in the
// repository's root (it runs the binary).
//
// How the PrometheusRule and the ServiceMonitor are admitted by the
// Prometheus Operator's CRDs is test/manifests' TestPrometheusComponent.
package prometheus

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/partnerops/partnerops/internal/testenv"
)

var root = testenv.RepoRoot()

// ruleFile is the PrometheusRule, relative to the repository's root.
const ruleFile = "config/prometheus/rules/prometheusrule.yaml"

// promtool is the promtool the tests run.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	mod, err := os.ReadFile(filepath.Join(root, "hack", "tools", "promtool", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^(?:require)?[ \t]*github\.com/prometheus/prometheus (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("hack/tools/promtool/go.mod requires no github.com/prometheus/prometheus")
	}
	p := filepath.Join(root, "bin", "tools", "promtool", string(m[1]), "promtool")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no promtool at %s: run hack/install-tools.sh (make test does), or set $PROMTOOL", p)
	}
	return p
}

// runPromtool runs promtool in dir and fails the test with its output when
// it fails.
func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// rule is one rule of the PrometheusRule.
type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

type ruleGroups struct {
	Groups []ruleGroup `json:"groups"`
}

// prometheusRule reads the PrometheusRule: its kind and its spec.
func prometheusRule(t *testing.T) ruleGroups {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ruleFile))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       ruleGroups     `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(b, &pr); err != nil {
		t.Fatalf("%s: %v", ruleFile, err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Fatalf("%s is a %s %s, want a monitoring.coreos.com/v1 PrometheusRule", ruleFile, pr.APIVersion, pr.Kind)
	}
	return pr.Spec
}

func (g ruleGroups) alerts() []rule {
	var out []rule
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// writeRules writes groups as a Prometheus rule file into dir.
func writeRules(t *testing.T, dir, name string, groups ruleGroups) {
	t.Helper()
	b, err := yaml.Marshal(groups)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRulesPassPromtool: the PrometheusRule's groups are a valid rule file
// (`promtool check rules`), and alerts_test.yaml passes over them
// (`promtool test rules`).
func TestRulesPassPromtool(t *testing.T) {
	dir := t.TempDir()
	writeRules(t, dir, "partnerops.rules.yaml", prometheusRule(t))
	tests, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "rules", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, "check", "rules", "partnerops.rules.yaml")
	runPromtool(t, dir, "test", "rules", "alerts_test.yaml")
}

// TestEveryAlertIsTestedAndHasARunbook: each alert fires in a test of
// alerts_test.yaml and is checked before it fires; it has a severity, a
// summary and a description; its runbook_url is a section of
// docs/troubleshooting.md that names the alert and the metrics it reads.
func TestEveryAlertIsTestedAndHasARunbook(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "rules", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := markdownSections(string(doc))
	const runbooks = "https://github.com/partnerops/partnerops/blob/main/docs/troubleshooting.md#"
	alerts := prometheusRule(t).alerts()
	if len(alerts) == 0 {
		t.Fatal("the PrometheusRule has no alert")
	}
	for _, a := range alerts {
		if !fires[a.Alert] || !quiet[a.Alert] {
			t.Errorf("%s: alerts_test.yaml should show it firing (%v) and not firing yet (%v)", a.Alert, fires[a.Alert], quiet[a.Alert])
		}
		if s := a.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", a.Alert, s)
		}
		if a.Annotations["summary"] == "" || a.Annotations["description"] == "" {
			t.Errorf("%s: no summary or description", a.Alert)
		}
		anchor, ok := strings.CutPrefix(a.Annotations["runbook_url"], runbooks)
		if !ok {
			t.Errorf("%s: runbook_url %q is not a section of %s", a.Alert, a.Annotations["runbook_url"], runbooks)
			continue
		}
		section, ok := sections[anchor]
		if !ok {
			t.Errorf("%s: docs/troubleshooting.md has no section #%s", a.Alert, anchor)
			continue
		}
		if !strings.Contains(section, a.Alert) {
			t.Errorf("%s: its runbook section #%s does not name it", a.Alert, anchor)
		}
		for _, m := range metricNames(a.Expr) {
			if !strings.Contains(section, m) {
				t.Errorf("%s: its runbook section #%s does not name the metric %s it reads", a.Alert, anchor, m)
			}
		}
	}
}

// markdownSections maps the GitHub anchor of each heading of doc to its
// text, up to the next heading.
func markdownSections(doc string) map[string]string {
	out := map[string]string{}
	var anchor string
	var text strings.Builder
	flush := func() {
		if anchor != "" {
			out[anchor] = text.String()
		}
		text.Reset()
	}
	for _, line := range strings.Split(doc, "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			flush()
			anchor = githubAnchor(strings.TrimLeft(h, "#"))
		}
		text.WriteString(line + "\n")
	}
	flush()
	return out
}

// githubAnchor is the anchor GitHub gives a heading: lower case, spaces to
// hyphens, punctuation other than hyphens and underscores dropped.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// metricNames are the partnerops_ and controller_runtime_ metric names an
// expression reads.
func metricNames(expr string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\b(?:partnerops|controller_runtime)_[a-z_]+`).FindAllString(expr, -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// dashboardQueries are the expressions of the dashboard's panels, by panel
// title.
func dashboardQueries(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "config", "grafana", "partnerops.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("config/grafana/partnerops.json: %v", err)
	}
	out := map[string][]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out[p.Title] = append(out[p.Title], tg.Expr)
		}
	}
	return out
}

// TestDashboard: every query of the dashboard is valid PromQL (checked by
// promtool as a recording rule, with Grafana's $__rate_interval as 5m),
// and the dashboard shows invitations by state, emails sent and failed,
// grant syncs, the backend's p99 latency, the acceptance page's outcomes
// and reconcile errors.
func TestDashboard(t *testing.T) {
	queries := dashboardQueries(t)
	var all []string
	dashboard := ruleGroup{Name: "dashboard"}
	for _, title := range slices.Sorted(maps.Keys(queries)) {
		for _, q := range queries[title] {
			all = append(all, q)
			dashboard.Rules = append(dashboard.Rules, rule{
				Record: "dashboard:query_" + strconv.Itoa(len(all)),
				Expr:   strings.ReplaceAll(q, "$__rate_interval", "5m"),
			})
		}
	}
	dir := t.TempDir()
	writeRules(t, dir, "dashboard.rules.yaml", ruleGroups{Groups: []ruleGroup{dashboard}})
	runPromtool(t, dir, "check", "rules", "--lint=none", "dashboard.rules.yaml")

	joined := strings.Join(all, "\n")
	for what, want := range map[string]string{
		"invitations by state":  "sum by (state) (max by (namespace, state) (partnerops_invitations))",
		"emails sent":           "partnerops_emails_sent_total",
		"emails failed":         "partnerops_emails_failed_total",
		"grant syncs":           "partnerops_grant_syncs_total",
		"backend latency p99":   "histogram_quantile(0.99, sum by (backend, operation, le) (rate(partnerops_identity_backend_request_duration_seconds_bucket",
		"acceptance outcomes":   "sum by (outcome) (rate(partnerops_acceptance_requests_total",
		"reconcile errors":      "controller_runtime_reconcile_errors_total",
		"awaiting revocation":   "partnerops_invitations_awaiting_revocation",
		"the versions scraped":  "partnerops_build_info",
		"backend codes":         "sum by (backend, code) (rate(partnerops_identity_backend_requests_total",
		"the email send timing": "partnerops_email_send_duration_seconds_bucket",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("the dashboard does not show %s (%s)", what, want)
		}
	}
}
