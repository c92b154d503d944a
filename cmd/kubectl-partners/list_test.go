package main

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// listFixture creates, in ns, one invitation in each state an admin meets.
func listFixture(t *testing.T, ns string) {
	t.Helper()
	for _, inv := range []invitation{
		{name: "globex-carlos", account: "globex", email: "carlos.ruiz@globex.example", role: "viewer", systems: []v1alpha1.CatalogueKey{"insights"},
			status: status{state: v1alpha1.InvitationAccepted, expiresAt: t1, acceptedAt: t1}},
		{name: "globex-amelie", account: "globex", email: "Amelie.Dupont@globex.example", role: "editor", systems: []v1alpha1.CatalogueKey{"editor", "insights"},
			status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}},
		{name: "initech-bob", account: "initech", email: "bob@initech.example", role: "admin",
			status: status{state: v1alpha1.InvitationExpired, expiresAt: t1}},
		{name: "globex-zoe", account: "globex", email: "zoe@globex.example", role: "viewer"},
		{name: "globex-dan", account: "globex", email: "dan@globex.example", role: "viewer", revoked: true,
			status: status{state: v1alpha1.InvitationRevoked, expiresAt: t1}},
	} {
		inv.create(t, ns)
	}
}

func TestListShowsThePartnersView(t *testing.T) {
	ns := env.Namespace(t)
	listFixture(t, ns)
	other := env.Namespace(t)
	invitation{name: "globex-eve", account: "globex", email: "eve@globex.example"}.create(t, other)

	r := mustPartners(t, ns, "list")

	// Sorted by account then address; expiry only where a link is alive or
	// expired.
	want := `ACCOUNT   EMAIL                          ROLE     SYSTEMS           STATE             EXPIRES                INVITATION
globex    Amelie.Dupont@globex.example   editor   editor,insights   PendingApproval   2031-03-14T09:30:00Z   globex-amelie
globex    carlos.ruiz@globex.example     viewer   insights          Accepted          -                      globex-carlos
globex    dan@globex.example             viewer   -                 Revoked           -                      globex-dan
globex    zoe@globex.example             viewer   -                 -                 -                      globex-zoe
initech   bob@initech.example            admin    -                 Expired           2031-03-14T09:30:00Z   initech-bob
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = mustPartners(t, ns, "list", "--account", "initech")
	want = `ACCOUNT   EMAIL                 ROLE    SYSTEMS   STATE     EXPIRES                INVITATION
initech   bob@initech.example   admin   -         Expired   2031-03-14T09:30:00Z   initech-bob
`
	if r.stdout != want {
		t.Errorf("--account initech stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	// -n wins over the kubeconfig's namespace.
	r = mustPartners(t, ns, "list", "-n", other)
	if !strings.Contains(r.stdout, "eve@globex.example") || strings.Contains(r.stdout, "carlos") {
		t.Errorf("list -n %s printed:\n%s\nwant only that namespace's users", other, r.stdout)
	}
}

func TestListAllNamespaces(t *testing.T) {
	// Other tests' namespaces are in the cluster too: an account name no
	// other test uses keeps the output exact.
	a, b := env.Namespace(t), env.Namespace(t)
	if b < a {
		a, b = b, a
	}
	invitation{name: "x", account: "allns", email: "zed@globex.example", role: "viewer", status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, b)
	invitation{name: "y", account: "allns", email: "amy@globex.example", role: "viewer"}.create(t, a)
	invitation{name: "z", account: "other", email: "bea@globex.example", role: "viewer"}.create(t, a)

	r := mustPartners(t, a, "list", "-A", "--account", "allns")

	want := "NAMESPACE" + strings.Repeat(" ", len(a)-6) + "ACCOUNT   EMAIL                ROLE     SYSTEMS   STATE             EXPIRES                INVITATION\n" +
		a + "   allns     amy@globex.example   viewer   -         -                 -                      y\n" +
		b + "   allns     zed@globex.example   viewer   -         PendingApproval   2031-03-14T09:30:00Z   x\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestListOutputFormats(t *testing.T) {
	ns := env.Namespace(t)
	invitation{name: "globex-amelie", account: "globex", email: "amelie@globex.example", role: "editor", systems: []v1alpha1.CatalogueKey{"editor"},
		status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, ns)
	invitation{name: "globex-zoe", account: "globex", email: "zoe@globex.example", role: "viewer"}.create(t, ns)
	want := []row{
		{Namespace: ns, Account: "globex", Email: "amelie@globex.example", Role: "editor", Systems: []string{"editor"},
			State: "PendingApproval", ExpiresAt: &metav1.Time{Time: t1}, Invitation: "globex-amelie"},
		{Namespace: ns, Account: "globex", Email: "zoe@globex.example", Role: "viewer", Systems: []string{}, Invitation: "globex-zoe"},
	}

	for format, unmarshal := range map[string]func([]byte, any) error{
		"json": json.Unmarshal,
		"yaml": func(b []byte, v any) error { return yaml.UnmarshalStrict(b, v) },
	} {
		t.Run(format, func(t *testing.T) {
			r := mustPartners(t, ns, "list", "-o", format)
			var got []row
			if err := unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not a %s list of rows: %v\n%s", strings.ToUpper(format), err, r.stdout)
			}
			if !equalJSON(got, want) {
				t.Errorf("rows:\n%s\nwant %+v", r.stdout, want)
			}
			if format == "json" && (!strings.Contains(r.stdout, `"systems": []`) || !strings.Contains(r.stdout, `"expiresAt": "2031-03-14T09:30:00Z"`)) {
				t.Errorf("want systems as an empty list, never null, and expiresAt as RFC 3339:\n%s", r.stdout)
			}
		})
	}
	t.Run("nothing to list", func(t *testing.T) {
		empty := env.Namespace(t)
		r := mustPartners(t, empty, "list")
		if r.stdout != "" || r.stderr != "No partner users found in namespace "+empty+".\n" {
			t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
		r = mustPartners(t, ns, "list", "--account", "nobody")
		if r.stdout != "" || r.stderr != "No partner users of account nobody found in namespace "+ns+".\n" {
			t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
		for format, want := range map[string]string{"json": "[]\n", "yaml": "[]\n"} {
			if r := mustPartners(t, empty, "list", "-o", format); r.stdout != want || r.stderr != "" {
				t.Errorf("-o %s: stdout %q stderr %q, want %q", format, r.stdout, r.stderr, want)
			}
		}
	})
}
