package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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

// TestListOutputFormats: -o prints the invitations themselves, as kubectl
// get does, in the table's order.
func TestListOutputFormats(t *testing.T) {
	ns := env.Namespace(t)
	amelie := invitation{name: "globex-amelie", account: "globex", email: "amelie@globex.example", role: "editor", systems: []v1alpha1.CatalogueKey{"editor", "insights"},
		status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, ns)
	zoe := invitation{name: "globex-zoe", account: "globex", email: "zoe@globex.example", role: "viewer"}.create(t, ns)

	for format, unmarshal := range map[string]func([]byte, any) error{
		"json":  json.Unmarshal,
		"yaml":  func(b []byte, v any) error { return yaml.UnmarshalStrict(b, v) },
		"kyaml": func(b []byte, v any) error { return yaml.UnmarshalStrict(b, v) },
	} {
		t.Run(format, func(t *testing.T) {
			r := mustPartners(t, ns, "list", "-o", format)
			var got struct {
				APIVersion string                       `json:"apiVersion"`
				Kind       string                       `json:"kind"`
				Metadata   map[string]any               `json:"metadata"`
				Items      []v1alpha1.PartnerInvitation `json:"items"`
			}
			if err := unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not a %s List: %v\n%s", format, err, r.stdout)
			}
			if got.APIVersion != "v1" || got.Kind != "List" || len(got.Items) != 2 {
				t.Fatalf("printed %s %s with %d items, want a v1 List of 2:\n%s", got.APIVersion, got.Kind, len(got.Items), r.stdout)
			}
			for i, want := range []*v1alpha1.PartnerInvitation{amelie, zoe} {
				if g := got.Items[i]; g.Kind != "PartnerInvitation" || g.APIVersion != v1alpha1.GroupVersion.String() || g.UID != want.UID ||
					!equalJSON(g.Spec, want.Spec) || !equalJSON(g.Status, want.Status) {
					t.Errorf("item %d = %s/%s %s %+v, want the stored %s", i, g.APIVersion, g.Kind, g.Name, g.Spec, want.Name)
				}
			}
			if strings.Contains(r.stdout, "managedFields") {
				t.Errorf("managedFields printed without --show-managed-fields:\n%s", r.stdout)
			}
		})
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"name": {
			args: []string{"-o", "name"},
			want: "partnerinvitation.partners.partnerops.dev/globex-amelie\npartnerinvitation.partners.partnerops.dev/globex-zoe\n",
		},
		"jsonpath": {
			args: []string{"-o", `jsonpath={range .items[*]}{.spec.email}{" "}{.status.state}{"\n"}{end}`},
			want: "amelie@globex.example PendingApproval\nzoe@globex.example \n",
		},
		"go-template": {
			args: []string{"-o", `go-template={{range .items}}{{.spec.email}}/{{.spec.role}} {{end}}`},
			want: "amelie@globex.example/editor zoe@globex.example/viewer ",
		},
		"--template alone is a go-template": {
			args: []string{"--template", `{{len .items}}`},
			want: "2",
		},
		"custom-columns": {
			args: []string{"-o", "custom-columns=EMAIL:.spec.email,STATE:status.state,SYSTEMS:{.spec.systems[*]}"},
			want: "EMAIL                   STATE             SYSTEMS\n" +
				"amelie@globex.example   PendingApproval   editor,insights\n" +
				"zoe@globex.example      <none>            <none>\n",
		},
		"custom-columns --no-headers": {
			args: []string{"-o", "custom-columns=EMAIL:.spec.email", "--no-headers"},
			want: "amelie@globex.example\nzoe@globex.example\n",
		},
		"--no-headers": {
			args: []string{"--no-headers"},
			want: "globex   amelie@globex.example   editor   editor,insights   PendingApproval   2031-03-14T09:30:00Z   globex-amelie\n" +
				"globex   zoe@globex.example      viewer   -                 -                 -                      globex-zoe\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustPartners(t, ns, append([]string{"list"}, tc.args...)...)
			if r.stdout != tc.want || r.stderr != "" {
				t.Errorf("stdout:\n%s\nwant:\n%s\nstderr: %q", r.stdout, tc.want, r.stderr)
			}
		})
	}
	t.Run("custom-columns-file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "columns.txt")
		if err := os.WriteFile(file, []byte("EMAIL        ROLE\n.spec.email  .spec.role\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := mustPartners(t, ns, "list", "-o", "custom-columns-file="+file)
		want := "EMAIL                   ROLE\namelie@globex.example   editor\nzoe@globex.example      viewer\n"
		if r.stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
		}
	})
	t.Run("nothing to list", func(t *testing.T) {
		empty := env.Namespace(t)
		r := mustPartners(t, empty, "list")
		if r.stdout != "" || r.stderr != "No partner users found in namespace "+empty+".\n" {
			t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
		r = mustPartners(t, ns, "list", "--account", "nobody", "--no-headers")
		if r.stdout != "" || r.stderr != "No partner users of account nobody found in namespace "+ns+".\n" {
			t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
		// Like kubectl get: an empty List, and nothing on stderr.
		r = mustPartners(t, empty, "list", "-o", "json")
		var got map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["kind"] != "List" || len(got["items"].([]any)) != 0 || r.stderr != "" {
			t.Errorf("-o json: stdout %q stderr %q, want an empty List", r.stdout, r.stderr)
		}
		if r := mustPartners(t, empty, "list", "-o", "name"); r.stdout != "" || r.stderr != "" {
			t.Errorf("-o name: stdout %q stderr %q, want nothing", r.stdout, r.stderr)
		}
	})
}

// TestListWide: -o wide adds the locale, when the partner accepted, the
// reason of Ready and where each invitation comes from.
func TestListWide(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	acct := newAccount(ns, "globex")
	createAccount(t, acct)
	owned := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: invitationName("globex", "carlos@globex.example"),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(acct, v1alpha1.GroupVersion.WithKind("PartnerAccount"))}},
		Spec: v1alpha1.PartnerInvitationSpec{Account: "globex", Email: "carlos@globex.example", Role: "editor", Locale: "fr"},
	}
	if err := env.Client.Create(ctx, owned); err != nil {
		t.Fatal(err)
	}
	owned.Status.State = v1alpha1.InvitationAccepted
	owned.Status.AcceptedAt = &metav1.Time{Time: t1}
	owned.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Accepted", Message: "ok", LastTransitionTime: metav1.Time{Time: t1}}}
	if err := env.Client.Status().Update(ctx, owned); err != nil {
		t.Fatal(err)
	}
	invitation{name: "unknown-role", account: "globex", email: "dan@globex.example", role: "nope"}.create(t, ns)
	bad := getInvitation(t, ns, "unknown-role")
	bad.Status.State = v1alpha1.InvitationInvalid
	bad.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonUnknownRole, Message: "no", LastTransitionTime: metav1.Time{Time: t1}}}
	if err := env.Client.Status().Update(ctx, bad); err != nil {
		t.Fatal(err)
	}

	r := mustPartners(t, ns, "list", "-o", "wide")

	want := "ACCOUNT   EMAIL                   ROLE     SYSTEMS   STATE      EXPIRES   INVITATION               LOCALE   ACCEPTED               REASON        SOURCE\n" +
		"globex    carlos@globex.example   editor   -         Accepted   -         globex-carlos-abaa4ef7   fr       2031-03-14T09:30:00Z   Accepted      spec.users\n" +
		"globex    dan@globex.example      nope     -         Invalid    -         unknown-role             en       -                      UnknownRole   standalone\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
}

// TestListShowsTheAccountChosenByDomain: an invitation without spec.account
// shows the account the operator chose (status.account), or "-" until it
// has, and --account finds it.
func TestListShowsTheAccountChosenByDomain(t *testing.T) {
	ns := env.Namespace(t)
	joined := invitation{name: "jane", email: "jane@globex.example", role: "viewer", status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, ns)
	joined.Status.Account = "globex"
	if err := env.Client.Status().Update(context.Background(), joined); err != nil {
		t.Fatal(err)
	}
	invitation{name: "zed", email: "zed@umbrella.example", role: "viewer"}.create(t, ns)

	r := mustPartners(t, ns, "list")
	want := "ACCOUNT   EMAIL                  ROLE     SYSTEMS   STATE             EXPIRES                INVITATION\n" +
		"-         zed@umbrella.example   viewer   -         -                 -                      zed\n" +
		"globex    jane@globex.example    viewer   -         PendingApproval   2031-03-14T09:30:00Z   jane\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r := mustPartners(t, ns, "list", "--account", "globex", "-o", "name"); r.stdout != "partnerinvitation.partners.partnerops.dev/jane\n" {
		t.Errorf("--account globex printed %q", r.stdout)
	}
}
