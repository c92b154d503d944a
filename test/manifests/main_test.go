// Package manifests tests what users install and how the image is built:
// config/default rendered by a real kubectl (kustomize) and applied to a
// real kube-apiserver (server-side dry run; RBAC asked with access reviews;
// Pod Security admission asked with a dry-run Pod), the optional Components
// config/prometheus and config/network-policy, `make build-installer`, and
// the Dockerfile (its Go against go.mod, its build line against `make
// build`, its builder steps replayed on the .dockerignore'd context).
//
//   - config/default, rendered with `kubectl kustomize`, is applied with
//     `kubectl apply --server-side --dry-run=server`: every object admitted,
//     no warning; the Deployment is checked field by field.
//   - The pod template, created as a Pod (server-side dry run) in the
//     restricted namespace, is admitted; weakened copies (root, no seccomp,
//     a capability, privilege escalation, a host path, …) are refused, which
//     shows the namespace enforces.
//   - With the RBAC applied, the API server allows every +kubebuilder:rbac
//     marker of the code and every hand-written rule, refuses a table of
//     actions (Secrets of other namespaces, deleting accounts, Pods, RBAC,
//     other Leases, …), and a rules review as the service account finds
//     nothing beyond what is declared.
//   - The confirm-deletion ValidatingAdmissionPolicy and its binding are
//     applied for real: kubectl delete of an account with members is
//     refused with the command that confirms, allowed once annotated; an
//     account without members needs nothing; the manager's finalizer
//     removal (an update) is never refused.
//   - The requested-by MutatingAdmissionPolicy and ValidatingAdmissionPolicy
//     are applied for real, with the manager running for the invitations
//     an account owns: partnerops.dev/requested-by names who created an
//     invitation or last changed an account's spec.users, a value sent by
//     the client (or kept by a forged owner reference) is overwritten, the
//     manager's copy of the account's is kept, and nobody changes it
//     afterwards; Git-style applies leave it alone.
//   - The tenant roles: users bound in one namespace to the built-in view,
//     edit and admin, once kube-controller-manager's ClusterRole
//     aggregation controller (run by the test: the test control plane has
//     no controller-manager) has filled them, read or also write both
//     kinds there, nothing elsewhere, never the status or the finalizers.
//   - The NetworkPolicy Component is applied (dry run) and checked against
//     the Deployment's ports and the shipped configuration's SMTP and SCIM
//     ports; docs/install.md's overlays are rendered as the guide shows
//     them, its step 5 patch taken from the guide itself.
//   - The Prometheus Component is applied (dry run) with the Prometheus
//     Operator's own ServiceMonitor and PrometheusRule CRDs installed (from
//     its Go module, by hack/install-tools.sh): the ServiceMonitor's
//     `authorization` token is the scraper service account's, which alone
//     may get /metrics; the guide's kube-prometheus-stack label patch is
//     rendered from docs/install.md.
//   - No container engine is needed, and none runs the image.
package manifests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/partnerops/partnerops/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// What config/default installs, as the tests expect to find it.
const (
	namespace      = "partnerops-system"
	serviceAccount = "partnerops-controller-manager"
	deployment     = "partnerops-controller-manager"
	// managerUser is the manager's service account as the API server
	// authenticates it.
	managerUser = "system:serviceaccount:" + namespace + ":" + serviceAccount
)

// managerGroups are the groups the API server puts the manager's service
// account in.
var managerGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}

// root is the repository's root.
var root = testenv.RepoRoot()

// kubectl is the kubectl the tests run: TEST_ASSET_KUBECTL (make test sets
// it) or the one hack/install-control-plane.sh links at bin/kubectl.
func kubectl(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TEST_ASSET_KUBECTL"); p != "" {
		return p
	}
	p := filepath.Join(root, "bin", "kubectl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no kubectl at %s: run `make test` (or hack/install-control-plane.sh), which builds it", p)
	}
	return p
}

// run runs a command in dir and returns its standard output and error; it
// fails the test when the command fails.
func run(t *testing.T, dir, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := runErr(dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

func runErr(dir, name string, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// render runs `kubectl kustomize` on a directory of the repository, such as
// "config/default", and returns the objects it printed.
func render(t *testing.T, dir string) objects {
	t.Helper()
	out, _ := run(t, root, kubectl(t), "kustomize", filepath.Join(root, dir))
	return decode(t, out)
}

// renderOverlay renders an overlay of config/default with the given
// Components of the repository, as docs/install.md shows it.
func renderOverlay(t *testing.T, components ...string) objects {
	t.Helper()
	k := "resources:\n- {{root}}/config/default\n"
	if len(components) > 0 {
		k += "components:\n"
		for _, c := range components {
			k += "- {{root}}/" + c + "\n"
		}
	}
	return renderKustomization(t, k, nil)
}

// renderKustomization renders a kustomization.yaml of a directory outside
// the repository, with files beside it; {{root}} in it is the repository
// (kustomize refuses absolute paths to other kustomizations, so it becomes a
// relative one).
func renderKustomization(t *testing.T, kustomization string, files map[string]string) objects {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, root)
	if err != nil {
		t.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		strings.ReplaceAll(kustomization, "{{root}}", filepath.ToSlash(rel))
	writeFile(t, filepath.Join(dir, "kustomization.yaml"), k)
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	out, _ := run(t, dir, kubectl(t), "kustomize", dir)
	return decode(t, out)
}

// objects are rendered manifests, in order.
type objects []*unstructured.Unstructured

func decode(t *testing.T, manifests string) objects {
	t.Helper()
	var objs objects
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("decoding %s: %v", doc, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// get returns the object of that kind and name, failing the test when there
// is none.
func (objs objects) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the rendered manifests", kind, name)
	return nil
}

// ofKind returns the objects of the given kinds.
func (objs objects) ofKind(kinds ...string) objects {
	var out objects
	for _, o := range objs {
		for _, k := range kinds {
			if o.GetKind() == k {
				out = append(out, o)
			}
		}
	}
	return out
}

// yaml is the objects as one multi-document manifest.
func (objs objects) yaml(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		out, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(out)
	}
	return b.String()
}

// typed converts a rendered object into its Go type, failing on fields the
// type does not have (a misspelt or misplaced key in a manifest).
func typed(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// apply runs `kubectl apply --server-side` of objs on the test API server,
// with extra flags (such as --dry-run=server), and returns what kubectl
// printed.
func apply(t *testing.T, objs objects, flags ...string) (stdout, stderr string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "manifests.yaml")
	writeFile(t, file, objs.yaml(t))
	args := append([]string{"--kubeconfig", testenv.KubeconfigFile(t, env.Config, ""), "apply", "--server-side", "-f", file}, flags...)
	return run(t, root, kubectl(t), args...)
}

// installNamespaceAndRBAC applies, for real, the namespace and the RBAC of
// config/default (service account, roles, bindings): what the access
// reviews ask about and what a Pod of the manager needs to be admitted.
// Applying again changes nothing, so every test that needs them calls it.
func installNamespaceAndRBAC(t *testing.T) objects {
	t.Helper()
	objs := render(t, "config/default")
	apply(t, objs.ofKind("Namespace"))
	apply(t, objs.ofKind("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"))
	return objs
}

// managerDeployment is the rendered Deployment of the manager.
func managerDeployment(t *testing.T, objs objects) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	typed(t, objs.get(t, "Deployment", deployment), d)
	return d
}

var ctx = context.Background()

// impersonate is a client of the test API server acting as user in groups.
func impersonate(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls cond until it holds, for at most 30 seconds: for what
// the API server does asynchronously (a new admission policy comes into
// effect once its informer has it).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
