package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

// The tenant roles config/default installs (config/rbac/tenant_roles.yaml).
const (
	tenantViewRole = "partnerops-tenant-view"
	tenantEditRole = "partnerops-tenant-edit"
)

const partnersGroup = "partners.partnerops.dev"

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}
)

// TestTenantRoles asks the API server, with SubjectAccessReviews, what the
// users of a customer namespace may do with partnerops when a RoleBinding
// there gives them one of the built-in ClusterRoles view, edit and admin:
// view reads both kinds, edit and admin also write them; in that namespace
// only; and nobody gets the status subresources or the finalizers.
//
// The built-in view, edit and admin have an aggregationRule and no rules of
// their own: kube-controller-manager's ClusterRole aggregation controller
// fills them from the ClusterRoles that carry the aggregate-to-* labels.
// The test control plane is kube-apiserver and etcd only (envtest), where
// the three stay empty and every review would be refused for the wrong
// reason. So the test runs that very controller
// (k8s.io/kubernetes/pkg/controller/clusterroleaggregation, wired as
// kube-controller-manager wires it, in hack/tools/kube/clusterrole-aggregation,
// which hack/install-control-plane.sh builds outside the operator's go.mod)
// against the test API server, and waits until it has aggregated the
// tenant roles: the reviews then see the built-in roles as a real
// cluster's are.
func TestTenantRoles(t *testing.T) {
	objs := installNamespaceAndRBAC(t)
	for name, label := range map[string][]string{
		tenantViewRole: {"rbac.authorization.k8s.io/aggregate-to-view"},
		tenantEditRole: {"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"},
	} {
		role := &rbacv1.ClusterRole{}
		typed(t, objs.Get(t, "ClusterRole", name), role)
		for _, l := range label {
			if role.Labels[l] != "true" {
				t.Errorf("ClusterRole %s lacks the label %s: \"true\"", name, l)
			}
		}
	}

	aggregateClusterRoles(t)
	for builtin, verb := range map[string]string{"view": "watch", "edit": "deletecollection", "admin": "deletecollection"} {
		eventually(t, "the ClusterRole "+builtin+" to aggregate the tenant rules", func() bool {
			role := &rbacv1.ClusterRole{}
			if err := env.Client.Get(ctx, client.ObjectKey{Name: builtin}, role); err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Contains(r.APIGroups, partnersGroup) && slices.Contains(r.Resources, "partnerinvitations") &&
					slices.Contains(r.Resources, "partneraccounts") && slices.Contains(r.Verbs, verb)
			})
		})
	}

	ns, other := env.Namespace(t), env.Namespace(t)
	users := map[string]string{"view": "vera", "edit": "eddie", "admin": "ada"}
	for builtin, user := range users {
		bind(t, ns, user, builtin)
	}

	for _, builtin := range []string{"view", "edit", "admin"} {
		user := users[builtin]
		t.Run(builtin, func(t *testing.T) {
			check := func(want bool, p permission) {
				t.Helper()
				if ok, reason := allowedFor(t, user, []string{"system:authenticated"}, p); ok != want {
					t.Errorf("%s (bound to %s in %s): %s allowed=%v, want %v (%s)", user, builtin, ns, p, ok, want, reason)
				}
			}
			for _, resource := range []string{"partneraccounts", "partnerinvitations"} {
				for _, verb := range readVerbs {
					check(true, permission{namespace: ns, group: partnersGroup, resource: resource, verb: verb})
				}
				for _, verb := range writeVerbs {
					check(builtin != "view", permission{namespace: ns, group: partnersGroup, resource: resource, verb: verb})
				}
				for _, verb := range append(slices.Clone(readVerbs), writeVerbs...) {
					check(false, permission{namespace: other, group: partnersGroup, resource: resource, verb: verb})
				}
				check(false, permission{group: partnersGroup, resource: resource, verb: "list"}) // every namespace
				for _, verb := range []string{"get", "update", "patch"} {
					check(false, permission{namespace: ns, group: partnersGroup, resource: resource, subresource: "status", verb: verb})
				}
				check(false, permission{namespace: ns, group: partnersGroup, resource: resource, subresource: "finalizers", verb: "update"})
			}
		})
	}
}

// TestTenantRolesLeaveBuiltInBindingsAlone: an overlay of config/default
// that also binds a team to the built-in view, edit and admin keeps those
// bindings as written. (Had the tenant roles been named view and edit
// before config/default's prefix, kustomize would point such a roleRef at
// partnerops-view or partnerops-edit.)
func TestTenantRolesLeaveBuiltInBindingsAlone(t *testing.T) {
	k := "resources:\n- {{root}}/config/default\n"
	files := map[string]string{}
	for _, builtin := range []string{"view", "edit", "admin"} {
		k += "- " + builtin + ".yaml\n"
		files[builtin+".yaml"] = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: team-" + builtin +
			"\n  namespace: acme\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: " + builtin +
			"\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n  name: team\n"
	}
	objs := renderKustomization(t, k, files)
	for _, builtin := range []string{"view", "edit", "admin"} {
		rb := &rbacv1.RoleBinding{}
		typed(t, objs.Get(t, "RoleBinding", "team-"+builtin), rb)
		if rb.RoleRef.Name != builtin {
			t.Errorf("the overlay's binding to the built-in %s binds %s", builtin, rb.RoleRef.Name)
		}
	}
}

// bind gives user the ClusterRole role in ns, with a RoleBinding named
// after the user.
func bind(t *testing.T, ns, user, role string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if err := env.Client.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
}

// aggregateClusterRoles runs kube-controller-manager's ClusterRole
// aggregation controller against the test API server until the test ends
// (see TestTenantRoles).
func aggregateClusterRoles(t *testing.T) {
	t.Helper()
	path := os.Getenv("TEST_ASSET_CLUSTERROLE_AGGREGATION")
	if path == "" {
		matches, _ := filepath.Glob(filepath.Join(root, "bin", "k8s", "*", "clusterrole-aggregation"))
		sort.Strings(matches)
		if len(matches) == 0 {
			t.Fatal("no bin/k8s/*/clusterrole-aggregation: run `make test` (or hack/install-control-plane.sh), which builds it")
		}
		path = matches[len(matches)-1]
	}
	var log peer.Buffer
	cmd := exec.Command(path, "--kubeconfig", testenv.KubeconfigFile(t, env.Config, ""))
	cmd.Stdout, cmd.Stderr = &log, &log
	p, err := peer.Start(cmd, nil)
	if err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := p.StopWithin(10 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() || p.Err() != nil {
			t.Logf("clusterrole-aggregation (%s):\n%s", p.Status(), strings.TrimSpace(log.String()))
		}
	})
}
