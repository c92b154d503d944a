package manifests

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// The manager's RBAC is asked of the API server, after config/default's
// roles and bindings are applied to it: what the manager's service account
// may do (every +kubebuilder:rbac marker of the code, and the hand-written
// rules of config/rbac), what it may not, and that it may do nothing else.

// customerNamespace stands for any namespace other than partnerops-system:
// a customer account.
const customerNamespace = "acme"

// permission is one verb on one resource (or one non-resource URL), in one
// namespace ("" for all namespaces and cluster-scoped resources).
type permission struct {
	namespace, group, resource, subresource, name, verb, url string
}

func (p permission) String() string {
	if p.url != "" {
		return p.verb + " " + p.url
	}
	s := p.verb + " " + p.resource
	if p.group != "" {
		s += "." + p.group
	}
	if p.subresource != "" {
		s += "/" + p.subresource
	}
	if p.name != "" {
		s += " " + p.name
	}
	if p.namespace != "" {
		s += " in " + p.namespace
	}
	return s
}

// handWritten are the rules of config/rbac that no marker generates: leader
// election (leader_election_role.yaml) and the metrics endpoint's
// authentication and authorization of scrapers (metrics_auth_role.yaml).
var handWritten = []permission{
	{namespace: namespace, group: "coordination.k8s.io", resource: "leases", verb: "create"},
	{namespace: namespace, group: "coordination.k8s.io", resource: "leases", name: "leader.partnerops.dev", verb: "get"},
	{namespace: namespace, group: "coordination.k8s.io", resource: "leases", name: "leader.partnerops.dev", verb: "update"},
	{namespace: namespace, resource: "events", verb: "create"},
	{namespace: namespace, resource: "events", verb: "patch"},
	{group: "authentication.k8s.io", resource: "tokenreviews", verb: "create"},
	{group: "authorization.k8s.io", resource: "subjectaccessreviews", verb: "create"},
}

// marker is one +kubebuilder:rbac marker of the code.
type marker struct {
	where string // file:line
	perms []permission
}

var markerRE = regexp.MustCompile(`^\s*//\s*\+kubebuilder:rbac:(.+)$`)

// rbacMarkers reads the +kubebuilder:rbac markers of the module's Go code,
// as controller-gen does when it generates config/rbac/role.yaml.
func rbacMarkers(t *testing.T) []marker {
	t.Helper()
	var out []marker
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == root {
				return nil
			}
			switch d.Name() {
			case ".git", "bin", "dist", "node_modules", "testdata":
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for line := 1; s.Scan(); line++ {
			m := markerRE.FindStringSubmatch(s.Text())
			if m == nil {
				continue
			}
			rel, _ := filepath.Rel(root, path)
			mk, err := parseMarker(m[1])
			if err != nil {
				return fmt.Errorf("%s:%d: %w", rel, line, err)
			}
			mk.where = fmt.Sprintf("%s:%d", rel, line)
			out = append(out, mk)
		}
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no +kubebuilder:rbac markers found")
	}
	return out
}

func parseMarker(args string) (marker, error) {
	kv := map[string][]string{}
	for _, part := range strings.Split(args, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return marker{}, fmt.Errorf("marker argument %q", part)
		}
		v = strings.Trim(v, `"`)
		kv[k] = strings.Split(v, ";")
	}
	for k := range kv {
		if !slices.Contains([]string{"groups", "resources", "verbs", "namespace", "resourceNames", "urls"}, k) {
			return marker{}, fmt.Errorf("marker argument %s: the test does not know it", k)
		}
	}
	ns := ""
	if n := kv["namespace"]; len(n) == 1 {
		ns = n[0]
	}
	names := kv["resourceNames"]
	if len(names) == 0 {
		names = []string{""}
	}
	var mk marker
	for _, verb := range kv["verbs"] {
		for _, url := range kv["urls"] {
			mk.perms = append(mk.perms, permission{verb: verb, url: url})
		}
		for _, g := range kv["groups"] {
			for _, r := range kv["resources"] {
				res, sub, _ := strings.Cut(r, "/")
				for _, n := range names {
					mk.perms = append(mk.perms, permission{namespace: ns, group: g, resource: res, subresource: sub, name: n, verb: verb})
				}
			}
		}
	}
	return mk, nil
}

// allowed asks the API server whether the manager's service account may do
// p.
func allowed(t *testing.T, p permission) (bool, string) {
	t.Helper()
	return allowedFor(t, managerUser, managerGroups, p)
}

// allowedFor asks the API server whether user, in groups, may do p.
func allowedFor(t *testing.T, user string, groups []string, p permission) (bool, string) {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups}}
	if p.url != "" {
		sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: p.url, Verb: p.verb}
	} else {
		sar.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace: p.namespace, Verb: p.verb, Group: p.group, Resource: p.resource,
			Subresource: p.subresource, Name: p.name,
		}
	}
	if err := env.Client.Create(ctx, sar); err != nil {
		t.Fatal(err)
	}
	return sar.Status.Allowed, sar.Status.Reason
}

// TestManagerRBACAllows: everything the code declares it does (each
// +kubebuilder:rbac marker, in every namespace unless the marker names one)
// and the hand-written leader-election and metrics rules are allowed.
func TestManagerRBACAllows(t *testing.T) {
	installNamespaceAndRBAC(t)
	for _, mk := range rbacMarkers(t) {
		for _, p := range mk.perms {
			t.Run(mk.where+" "+p.String(), func(t *testing.T) {
				if ok, reason := allowed(t, p); !ok {
					t.Errorf("refused (%s)", reason)
				}
			})
		}
	}
	for _, p := range handWritten {
		t.Run("config/rbac "+p.String(), func(t *testing.T) {
			if ok, reason := allowed(t, p); !ok {
				t.Errorf("refused (%s)", reason)
			}
		})
	}
}

// TestManagerRBACRefuses: what the manager must not be able to do, even if
// its code tried. (Updating or patching a PartnerAccount or a
// PartnerInvitation is allowed: finalizers and the invitations an account
// owns are written through the object itself, and RBAC cannot tell a write
// of spec from a write of metadata; the controllers' tests hold the rule
// that spec is never written.)
func TestManagerRBACRefuses(t *testing.T) {
	installNamespaceAndRBAC(t)
	const partners = "partners.partnerops.dev"
	for _, tc := range []struct {
		why string
		p   permission
	}{
		{"Secrets of a customer namespace", permission{namespace: customerNamespace, resource: "secrets", verb: "get"}},
		{"Secrets of every namespace", permission{resource: "secrets", verb: "list"}},
		{"Secrets of kube-system", permission{namespace: "kube-system", resource: "secrets", verb: "watch"}},
		{"changing a Secret (the key Secret is only created)", permission{namespace: namespace, resource: "secrets", verb: "update"}},
		{"patching a Secret", permission{namespace: namespace, resource: "secrets", verb: "patch"}},
		{"deleting a Secret", permission{namespace: namespace, resource: "secrets", verb: "delete"}},
		{"ConfigMaps of a customer namespace", permission{namespace: customerNamespace, resource: "configmaps", verb: "get"}},
		{"writing ConfigMaps", permission{namespace: namespace, resource: "configmaps", verb: "update"}},
		{"creating ConfigMaps", permission{namespace: namespace, resource: "configmaps", verb: "create"}},
		{"deleting a PartnerAccount (users delete accounts)", permission{namespace: customerNamespace, group: partners, resource: "partneraccounts", verb: "delete"}},
		{"creating a PartnerAccount", permission{namespace: customerNamespace, group: partners, resource: "partneraccounts", verb: "create"}},
		{"deleting every invitation at once", permission{namespace: customerNamespace, group: partners, resource: "partnerinvitations", verb: "deletecollection"}},
		{"changing a namespace", permission{resource: "namespaces", verb: "update"}},
		{"deleting a namespace", permission{resource: "namespaces", verb: "delete"}},
		{"creating a namespace", permission{resource: "namespaces", verb: "create"}},
		{"reading Pods", permission{namespace: customerNamespace, resource: "pods", verb: "list"}},
		{"creating Pods", permission{namespace: namespace, resource: "pods", verb: "create"}},
		{"exec into Pods", permission{namespace: namespace, resource: "pods", subresource: "exec", verb: "create"}},
		{"changing its own Deployment", permission{namespace: namespace, group: "apps", resource: "deployments", verb: "patch"}},
		{"tokens of service accounts", permission{namespace: namespace, resource: "serviceaccounts", subresource: "token", verb: "create"}},
		{"impersonation", permission{resource: "users", verb: "impersonate"}},
		{"granting itself more", permission{group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", verb: "create"}},
		{"escalating a role", permission{namespace: namespace, group: "rbac.authorization.k8s.io", resource: "roles", verb: "escalate"}},
		{"changing the CRDs", permission{group: "apiextensions.k8s.io", resource: "customresourcedefinitions", verb: "update"}},
		{"Leases of another namespace", permission{namespace: customerNamespace, group: "coordination.k8s.io", resource: "leases", verb: "create"}},
		{"another Lease of its namespace", permission{namespace: namespace, group: "coordination.k8s.io", resource: "leases", name: "other", verb: "update"}},
		{"listing Leases", permission{namespace: namespace, group: "coordination.k8s.io", resource: "leases", verb: "list"}},
		{"deleting its Lease", permission{namespace: namespace, group: "coordination.k8s.io", resource: "leases", name: "leader.partnerops.dev", verb: "delete"}},
		{"core Events outside its namespace", permission{namespace: customerNamespace, resource: "events", verb: "create"}},
		{"deleting Events", permission{namespace: customerNamespace, group: "events.k8s.io", resource: "events", verb: "delete"}},
		{"its own metrics (only scrapers bound to metrics-reader)", permission{url: "/metrics", verb: "get"}},
	} {
		t.Run(tc.why, func(t *testing.T) {
			if ok, _ := allowed(t, tc.p); ok {
				t.Errorf("%s is allowed", tc.p)
			}
		})
	}
}

// TestManagerRBACNothingElse asks the API server for every rule the
// manager's service account has (a SelfSubjectRulesReview, as that account)
// in its own namespace and in a customer's, and compares them with the
// markers and the hand-written rules: a verb or a resource added by hand to
// config/rbac without code that needs it fails here. What every
// authenticated account may do (discovery, self reviews) is left out, as
// reviewed for an account with no bindings.
func TestManagerRBACNothingElse(t *testing.T) {
	installNamespaceAndRBAC(t)
	var declared []permission
	for _, mk := range rbacMarkers(t) {
		declared = append(declared, mk.perms...)
	}
	declared = append(declared, handWritten...)

	for _, ns := range []string{namespace, customerNamespace} {
		t.Run(ns, func(t *testing.T) {
			want := sets.New[string]()
			for _, p := range declared {
				if p.namespace == "" || p.namespace == ns {
					want.Insert(ruleKey(p.verb, p.group, p.resource, p.subresource, p.name))
				}
			}
			got := rulesOf(t, managerUser, ns).Difference(rulesOf(t, "system:serviceaccount:"+namespace+":no-bindings", ns))
			if extra := got.Difference(want); extra.Len() > 0 {
				t.Errorf("allowed, and no marker or config/rbac rule declares it:\n  %s", strings.Join(sets.List(extra), "\n  "))
			}
			if missing := want.Difference(got); missing.Len() > 0 {
				t.Errorf("declared, and not allowed:\n  %s", strings.Join(sets.List(missing), "\n  "))
			}
		})
	}
}

func ruleKey(verb, group, resource, subresource, name string) string {
	r := resource
	if subresource != "" {
		r += "/" + subresource
	}
	k := verb + " " + group + "/" + r
	if name != "" {
		k += " " + name
	}
	return k
}

// rulesOf is every rule user has in namespace, as the API server reviews
// them for that user, one key per verb, resource and name.
func rulesOf(t *testing.T, user, ns string) sets.Set[string] {
	t.Helper()
	c := impersonate(t, user, managerGroups...)
	review := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}
	if err := c.Create(ctx, review); err != nil {
		t.Fatal(err)
	}
	if review.Status.Incomplete {
		t.Fatalf("the rules review for %s is incomplete: %s", user, review.Status.EvaluationError)
	}
	out := sets.New[string]()
	for _, r := range review.Status.ResourceRules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, v := range r.Verbs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					res, sub, _ := strings.Cut(res, "/")
					for _, n := range names {
						out.Insert(ruleKey(v, g, res, sub, n))
					}
				}
			}
		}
	}
	for _, r := range review.Status.NonResourceRules {
		for _, v := range r.Verbs {
			for _, u := range r.NonResourceURLs {
				out.Insert(v + " " + u)
			}
		}
	}
	return out
}
