package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/manifest"
)

// TestAppliesServerSide applies the chart's render, with the default
// values and with every toggle on, to the API server (server-side apply,
// dry run): every object passes the API server's validation and admission,
// and Pod Security "restricted", enforced and warned in the namespace as
// config/default labels it, has nothing to say about the manager's pod
// (kubectl prints no warning). The CRDs of the other projects' kinds are
// their own, installed for real: the Gateway API's HTTPRoute (from the
// sigs.k8s.io/gateway-api module this one requires) and the Prometheus
// Operator's ServiceMonitor and PrometheusRule (hack/install-tools.sh), so
// a misspelt or misplaced field is refused.
func TestAppliesServerSide(t *testing.T) {
	installCRDs(t)
	for name, vals := range map[string]map[string]any{
		"default values": nil,
		"full values":    values(t, "full-values.yaml"),
	} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, vals)
			createNamespaces(t, objs)
			stdout, stderr := kubectlApply(t, objs, "--dry-run=server")
			for _, o := range objs {
				if !strings.Contains(stdout, "/"+o.GetName()+" serverside-applied (server dry run)") {
					t.Errorf("%s %s was not applied:\n%s", o.GetKind(), o.GetName(), stdout)
				}
			}
			if strings.TrimSpace(stderr) != "" {
				t.Errorf("kubectl printed warnings (Pod Security would say \"would violate PodSecurity\"):\n%s", stderr)
			}
		})
	}
}

// createNamespaces creates, for real, the namespaces the objects are in,
// labelled as config/default labels partnerops-system: Pod Security
// "restricted" enforced, audited and warned.
func createNamespaces(t *testing.T, objs objects) {
	t.Helper()
	shipped := manifest.Kustomize(t, "config/default").Get(t, "Namespace", namespace)
	seen := map[string]bool{}
	var namespaces objects
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !seen[ns] {
			seen[ns] = true
			n := shipped.DeepCopy()
			n.SetName(ns)
			namespaces = append(namespaces, n)
		}
	}
	kubectlApply(t, namespaces)
}

// installCRDs installs the CRDs of the kinds of other projects the chart
// renders, and waits until they are served: the Gateway API's HTTPRoute,
// from the module this one requires, and the Prometheus Operator's
// ServiceMonitor and PrometheusRule, from $PROMETHEUS_OPERATOR_CRDS
// (hack/install-tools.sh prints it; make test exports it).
func installCRDs(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("finding the sigs.k8s.io/gateway-api module: %v", err)
	}
	prometheus := os.Getenv("PROMETHEUS_OPERATOR_CRDS")
	if prometheus == "" {
		t.Fatal("PROMETHEUS_OPERATOR_CRDS is not set: run `make test`, or export the line hack/install-tools.sh prints")
	}
	crds := map[string]string{
		"httproutes.gateway.networking.k8s.io":  filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml"),
		"servicemonitors.monitoring.coreos.com": filepath.Join(prometheus, "monitoring.coreos.com_servicemonitors.yaml"),
		"prometheusrules.monitoring.coreos.com": filepath.Join(prometheus, "monitoring.coreos.com_prometheusrules.yaml"),
	}
	for name, file := range crds {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		kubectlApply(t, manifest.Decode(t, string(data)))
		manifest.Run(t, root, manifest.Kubectl(t), "--kubeconfig", testenv.KubeconfigFile(t, env.Config, ""),
			"wait", "--for=condition=Established", "crd/"+name, "--timeout=60s")
	}
}
