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
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/manifest"
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

// What this package shares with test/helm (internal/testenv/manifest):
// objects are rendered manifests, in order; decode reads them; typed
// converts one into its Go type, failing on fields it does not have; kubectl
// is the kubectl the tests run; run (failing the test) and runErr run a
// command in a directory; render runs `kubectl kustomize` on a directory of
// the repository, such as "config/default"; renderOverlay renders an
// overlay of config/default with Components of the repository, as
// docs/install.md shows it; renderKustomization renders a kustomization.yaml
// outside the repository ({{root}} in it is the repository), with files
// beside it; makeEnv is the environment for a make the tests run.
type objects = manifest.Objects

var (
	decode              = manifest.Decode
	typed               = manifest.Typed
	kubectl             = manifest.Kubectl
	run                 = manifest.Run
	runErr              = manifest.RunErr
	writeFile           = manifest.WriteFile
	render              = manifest.Kustomize
	renderOverlay       = manifest.KustomizeDefault
	renderKustomization = manifest.KustomizeOverlay
	makeEnv             = manifest.MakeEnv
)

// apply runs `kubectl apply --server-side` of objs on the test API server,
// with extra flags (such as --dry-run=server), and returns what kubectl
// printed.
func apply(t *testing.T, objs objects, flags ...string) (stdout, stderr string) {
	t.Helper()
	return manifest.Apply(t, env.Config, objs, flags...)
}

// installNamespaceAndRBAC applies, for real, the namespace and the RBAC of
// config/default (service account, roles, bindings): what the access
// reviews ask about and what a Pod of the manager needs to be admitted.
// Applying again changes nothing, so every test that needs them calls it.
func installNamespaceAndRBAC(t *testing.T) objects {
	t.Helper()
	objs := render(t, "config/default")
	apply(t, objs.OfKind("Namespace"))
	apply(t, objs.OfKind("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"))
	return objs
}

// managerDeployment is the rendered Deployment of the manager.
func managerDeployment(t *testing.T, objs objects) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	typed(t, objs.Get(t, "Deployment", deployment), d)
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
