// Package helm tests the Helm chart charts/partnerops through the Helm v4
// SDK (helm.sh/helm/v4), in a Go module of its own so that the SDK stays out
// of the operator's go.mod. Rendering is `helm template`'s (an install
// action in client-only dry-run mode, schema validation included); the
// rendered objects go to the real kube-apiserver of internal/testenv.
//
//   - chart_test.go: `helm lint --strict` with the default values and with
//     testdata/full-values.yaml (every toggle on); what each renders; the
//     PodDisruptionBudget only with more than one replica; the
//     configuration's checksum on the pod template; the configuration file
//     the manager gets; the CRDs' keep policy.
//   - schema_test.go: values.schema.json refuses bad values, has every key
//     of docs/configuration.md, and the chart's README lists every value.
//   - agree_test.go: the chart and config/default with its Components
//     (rendered by kubectl's kustomize) install the same thing: names, the
//     manager's RBAC rules, its pod (security context, probes, ports, args,
//     resources), the Services, the CRDs, the admission policies, the
//     NetworkPolicy, the monitoring objects.
//   - apply_test.go: both renders applied server-side (dry run) to the API
//     server in a namespace enforcing Pod Security "restricted", with the
//     CRDs of the Gateway API's HTTPRoute and the Prometheus Operator's
//     ServiceMonitor and PrometheusRule installed for real.
//   - install_test.go: `make helm-package` writes the chart archive, which
//     the SDK's install, upgrade and uninstall actions run against the API
//     server: a new user's `helm install` from dist/.
package helm

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/manifest"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var (
	root     = testenv.RepoRoot()
	chartDir = filepath.Join(root, "charts", "partnerops")
)

// The release the tests render: with these, the chart's objects have
// config/default's names and namespace.
const (
	releaseName = "partnerops"
	namespace   = "partnerops-system"
	// kubeVersion is the test API server's (hack/tools/kube/go.mod).
	kubeVersion = "v1.37.2"
)

func kubeVersionOf(t *testing.T) *common.KubeVersion {
	t.Helper()
	v, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading %s: %v", chartDir, err)
	}
	return c
}

// values reads a values file of testdata/.
func values(t *testing.T, name string) map[string]any {
	t.Helper()
	v, err := common.ReadValuesFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// set returns vals (nil: none) with the value at a dotted path set, as
// `--set path=value` would; vals is not changed.
func set(vals map[string]any, path string, value any) map[string]any {
	out := deepCopy(vals)
	m := out
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = value
	return out
}

func deepCopy(m map[string]any) map[string]any {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range out {
		if sub, ok := v.(map[string]any); ok {
			out[k] = deepCopy(sub)
		}
	}
	return out
}

// renderRelease renders the chart as `helm template partnerops
// charts/partnerops -n partnerops-system` with vals would (schema
// validation included), and returns the release: its manifest and notes.
func renderRelease(vals map[string]any) (*release.Release, error) {
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion, _ = common.ParseKubeVersion(kubeVersion)
	c, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	rel, err := install.Run(c, vals)
	if err != nil {
		return nil, err
	}
	return rel.(*release.Release), nil
}

// render renders the chart with vals (nil: the defaults) and returns the
// objects, failing the test when the chart does not render.
func render(t *testing.T, vals map[string]any) objects {
	t.Helper()
	rel, err := renderRelease(vals)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	return manifest.Decode(t, rel.Manifest)
}

// objects are rendered manifests (internal/testenv/manifest, shared with
// test/manifests).
type objects = manifest.Objects

// kubectlApply runs `kubectl apply --server-side` of objs on the test API
// server, with extra flags, and returns what kubectl printed.
func kubectlApply(t *testing.T, objs objects, flags ...string) (stdout, stderr string) {
	t.Helper()
	return manifest.Apply(t, env.Config, objs, flags...)
}
