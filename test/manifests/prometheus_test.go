package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/partnerops/partnerops/internal/testenv"
)

// The Prometheus Component, config/prometheus, applied to the API server
// with the Prometheus Operator's own CRDs for ServiceMonitor and
// PrometheusRule installed (from its Go module, by hack/install-tools.sh).

// prometheusObjects are what config/prometheus adds to config/default.
var prometheusObjects = []string{
	"ServiceMonitor/partnerops-metrics", "ServiceAccount/partnerops-metrics-scraper", "Secret/partnerops-metrics-scraper-token",
	"ClusterRoleBinding/partnerops-metrics-reader", "PrometheusRule/partnerops",
}

// prometheusOperatorCRDs is the directory of the Prometheus Operator's
// CRDs: $PROMETHEUS_OPERATOR_CRDS (make test sets it), else the version
// hack/install-tools.sh pins, in the module cache.
func prometheusOperatorCRDs(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMETHEUS_OPERATOR_CRDS"); p != "" {
		return p
	}
	script, err := os.ReadFile(filepath.Join(root, "hack", "install-tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PROMETHEUS_OPERATOR_VERSION=(\S+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("hack/install-tools.sh pins no PROMETHEUS_OPERATOR_VERSION")
	}
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(strings.TrimSpace(string(cache)), "github.com", "prometheus-operator", "prometheus-operator@"+string(m[1]), "example", "prometheus-operator-crd")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("no Prometheus Operator CRDs at %s: run hack/install-tools.sh (make test does), or set $PROMETHEUS_OPERATOR_CRDS", dir)
	}
	return dir
}

// installPrometheusOperatorCRDs applies the ServiceMonitor and
// PrometheusRule CRDs to the API server and waits until they serve.
func installPrometheusOperatorCRDs(t *testing.T) {
	t.Helper()
	dir := prometheusOperatorCRDs(t)
	kubeconfig := testenv.KubeconfigFile(t, env.Config, "")
	for _, crd := range []string{"servicemonitors", "prometheusrules"} {
		run(t, root, kubectl(t), "--kubeconfig", kubeconfig, "apply", "--server-side", "-f",
			filepath.Join(dir, "monitoring.coreos.com_"+crd+".yaml"))
		run(t, root, kubectl(t), "--kubeconfig", kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
			"crd/"+crd+".monitoring.coreos.com")
	}
}

// TestPrometheusComponent applies config/prometheus to the API server with
// the Prometheus Operator's CRDs (server-side dry run, so each object is
// checked against its real schema, unknown fields refused), and checks
// what ties it together: the ServiceMonitor scrapes the metrics Service
// (and not the acceptance page's) on its https port, with `authorization`
// (not the deprecated bearerTokenFile) from the token Secret of the
// scraper's service account, which the binding lets `get /metrics`, and
// nothing else (asked of the API server, as the manager asks it about each
// scraper). The CRDs enforce: a misspelt field or a bad duration is
// refused.
func TestPrometheusComponent(t *testing.T) {
	installPrometheusOperatorCRDs(t)
	objs := renderOverlay(t, "config/prometheus")
	apply(t, objs.OfKind("Namespace"))
	var added objects
	for _, id := range prometheusObjects {
		kind, name, _ := strings.Cut(id, "/")
		added = append(added, objs.Get(t, kind, name))
	}
	if _, stderr := apply(t, added, "--dry-run=server"); stderr != "" {
		t.Errorf("applying config/prometheus warned: %s", stderr)
	}

	sm := objs.Get(t, "ServiceMonitor", "partnerops-metrics")
	metrics, acceptance := &corev1.Service{}, &corev1.Service{}
	typed(t, objs.Get(t, "Service", "partnerops-metrics"), metrics)
	typed(t, objs.Get(t, "Service", "partnerops-acceptance"), acceptance)
	selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(selector) == 0 || !matches(selector, metrics.Labels) {
		t.Errorf("selector %v does not select the metrics Service %v", selector, metrics.Labels)
	}
	if matches(selector, acceptance.Labels) {
		t.Errorf("selector %v selects the acceptance Service too", selector)
	}
	if sm.GetNamespace() != metrics.Namespace {
		t.Errorf("the ServiceMonitor is in %s, the Service in %s", sm.GetNamespace(), metrics.Namespace)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("endpoints %v, want one", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	token := &corev1.Secret{}
	typed(t, objs.Get(t, "Secret", "partnerops-metrics-scraper-token"), token)
	for _, f := range []struct {
		path []string
		want any
	}{
		{[]string{"port"}, metrics.Spec.Ports[0].Name},
		{[]string{"scheme"}, "https"},
		{[]string{"path"}, "/metrics"},
		{[]string{"authorization", "type"}, "Bearer"},
		{[]string{"authorization", "credentials", "name"}, token.Name},
		{[]string{"authorization", "credentials", "key"}, corev1.ServiceAccountTokenKey},
		{[]string{"bearerTokenFile"}, nil},
		// The invitations' namespace label is kept as it is.
		{[]string{"honorLabels"}, true},
		// The manager's certificate is self-signed, made at start.
		{[]string{"tlsConfig", "insecureSkipVerify"}, true},
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(ep, f.path...)
		if got != f.want {
			t.Errorf("endpoints[0].%s = %v, want %v", strings.Join(f.path, "."), got, f.want)
		}
	}

	// The token is the scraper's, and only the scraper may read /metrics.
	scraper := &corev1.ServiceAccount{}
	typed(t, objs.Get(t, "ServiceAccount", "partnerops-metrics-scraper"), scraper)
	if token.Type != corev1.SecretTypeServiceAccountToken || token.Annotations[corev1.ServiceAccountNameKey] != scraper.Name ||
		token.Namespace != sm.GetNamespace() || scraper.Namespace != sm.GetNamespace() {
		t.Errorf("the Secret %s/%s (%s, for %q) is not a token of %s/%s in the ServiceMonitor's namespace",
			token.Namespace, token.Name, token.Type, token.Annotations[corev1.ServiceAccountNameKey], scraper.Namespace, scraper.Name)
	}
	binding, reader := &rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRole{}
	typed(t, objs.Get(t, "ClusterRoleBinding", "partnerops-metrics-reader"), binding)
	typed(t, objs.Get(t, "ClusterRole", binding.RoleRef.Name), reader)
	if want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}; !slices.EqualFunc(reader.Rules, want, rulesEqual) {
		t.Errorf("ClusterRole %s grants %v, want only get /metrics", reader.Name, reader.Rules)
	}
	if want := (rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: scraper.Name, Namespace: scraper.Namespace}); !slices.Equal(binding.Subjects, []rbacv1.Subject{want}) {
		t.Fatalf("subjects %v, want the scraper's service account alone", binding.Subjects)
	}
	apply(t, objects{objs.Get(t, "ClusterRole", reader.Name), objs.Get(t, "ClusterRoleBinding", binding.Name)})
	t.Cleanup(func() { _ = env.Client.Delete(ctx, binding) })
	if ok, reason := scraperMay(t, "system:serviceaccount:"+scraper.Namespace+":"+scraper.Name); !ok {
		t.Errorf("the scraper's account may not get /metrics (%s)", reason)
	}
	if ok, _ := scraperMay(t, "system:serviceaccount:"+scraper.Namespace+":someone-else"); ok {
		t.Errorf("any account may get /metrics")
	}

	// The CRDs enforce their schemas.
	for _, bad := range []struct {
		obj  *unstructured.Unstructured
		path []string
		val  any
		says string
	}{
		{sm, []string{"spec", "endpoints"}, []any{map[string]any{"port": "https", "authorization": map[string]any{"credentials": map[string]any{"nam": "x", "key": "token"}}}},
			".spec.endpoints[0].authorization.credentials.nam: field not declared in schema"},
		{objs.Get(t, "PrometheusRule", "partnerops"), []string{"spec", "groups"}, []any{map[string]any{"name": "g", "rules": []any{map[string]any{"alert": "A", "expr": "up", "for": "15 minutes"}}}},
			"spec.groups[0].rules[0].for"},
	} {
		o := bad.obj.DeepCopy()
		if err := unstructured.SetNestedField(o.Object, bad.val, bad.path...); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "bad.yaml")
		writeFile(t, file, objects{o}.YAML(t))
		_, stderr, err := runErr(root, kubectl(t), "--kubeconfig", testenv.KubeconfigFile(t, env.Config, ""), "apply", "--server-side", "--dry-run=server", "-f", file)
		if err == nil || !strings.Contains(stderr, bad.says) {
			t.Errorf("a %s with %s %v: %v %s, want refused for %s", o.GetKind(), strings.Join(bad.path, "."), bad.val, err, stderr, bad.says)
		}
	}
}

// TestInstallGuideSelectsForKubePrometheusStack renders docs/install.md's
// patch that adds kube-prometheus-stack's release label, taken from the
// guide: the ServiceMonitor and the PrometheusRule carry it (and keep
// their own labels), and the API server admits them.
func TestInstallGuideSelectsForKubePrometheusStack(t *testing.T) {
	installPrometheusOperatorCRDs(t)
	guide, err := os.ReadFile(filepath.Join(root, "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := yamlBlockWith(t, string(guide), "path: /metadata/labels/release")
	objs := renderKustomization(t, "resources:\n- {{root}}/config/default\n"+strings.ReplaceAll(block, "../partnerops/", "{{root}}/"), nil)
	apply(t, objs.OfKind("Namespace"))
	monitoring := objs.OfKind("ServiceMonitor", "PrometheusRule")
	if len(monitoring) != 2 {
		t.Fatalf("%d ServiceMonitors and PrometheusRules, want one of each", len(monitoring))
	}
	apply(t, monitoring, "--dry-run=server")
	for _, o := range monitoring {
		if l := o.GetLabels(); l["release"] != "kube-prometheus-stack" || l["app.kubernetes.io/name"] != "partnerops" {
			t.Errorf("%s %s has the labels %v, want release: kube-prometheus-stack besides its own", o.GetKind(), o.GetName(), l)
		}
	}
	for _, o := range objs {
		if k := o.GetKind(); k != "ServiceMonitor" && k != "PrometheusRule" && o.GetLabels()["release"] != "" {
			t.Errorf("the patch labelled %s %s too", k, o.GetName())
		}
	}
}
