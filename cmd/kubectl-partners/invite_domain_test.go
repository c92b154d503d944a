package main

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// TestInviteWithoutAccount: without --account the invitations name no
// account and the operator chooses it by the address's domain; the plugin
// says which account it expects, or warns when no account or several
// cover the domain.
func TestInviteWithoutAccount(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex", withAllowedDomains("globex.example")))
	createAccount(t, newAccount(ns, "globex-eu", withAllowedDomains("eu.globex.example")))
	createAccount(t, newAccount(ns, "initech", withAllowedDomains("initech.example")))
	createAccount(t, newAccount(ns, "initech-two", withAllowedDomains("initech.example")))
	createAccount(t, newAccount(ns, "open")) // no allowedDomains: never chosen by domain

	r := mustPartners(t, ns, "invite", "--role", "viewer", "--locale", "es",
		"jane@globex.example", "hans@eu.globex.example", "bob@initech.example", "zed@umbrella.example")

	emails := []string{"jane@globex.example", "hans@eu.globex.example", "bob@initech.example", "zed@umbrella.example"}
	joins := []string{" (joins account globex by its domain)", " (joins account globex-eu by its domain)", "", ""}
	var want strings.Builder
	for i, e := range emails {
		want.WriteString("partnerinvitation/" + invitationName("", e) + " created for " + e + joins[i] + "\n")
	}
	if r.stdout != want.String() {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want.String())
	}
	wantErr := "warning: bob@initech.example: partneraccounts initech and initech-two cover initech.example equally: the operator leaves the invitation Invalid (AmbiguousAccount) until only one does; name the account with --account instead\n" +
		"warning: zed@umbrella.example: no PartnerAccount of namespace " + ns + " covers umbrella.example in its allowedDomains: the operator leaves the invitation Invalid (NoAccountForDomain) until one does\n"
	if r.stderr != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, wantErr)
	}
	for _, e := range emails {
		inv := getInvitation(t, ns, invitationName("", e))
		if inv.Spec.Account != "" || inv.Spec.Email != v1alpha1.EmailAddress(e) || inv.Spec.Locale != "es" {
			t.Errorf("invitation for %s: spec %+v, want no account (the operator chooses it)", e, inv.Spec)
		}
	}
	if got, want := invitationName("", "jane.doe+partners@globex.example"), "jane-doe-partners-0183fed8"; got != want {
		t.Errorf("the name of an invitation without account is %q, want %q", got, want)
	}
}

// TestInviteWithoutAccountRefusesDuplicates: an address already invited
// is refused whether the earlier invitation named the account, was joined
// to it by the operator, or names none yet.
func TestInviteWithoutAccountRefusesDuplicates(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex", withAllowedDomains("globex.example"), withUser("hank@globex.example", "admin")))
	invitation{name: "carlos", account: "globex", email: "carlos@globex.example"}.create(t, ns)
	invitation{name: "amelie", email: "amelie@globex.example", status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, ns)
	joined := invitation{name: "dana", email: "dana@globex.example"}.create(t, ns)
	joined.Status.Account = "globex"
	if err := env.Client.Status().Update(context.Background(), joined); err != nil {
		t.Fatal(err)
	}

	r := partners(t, ns, "invite", "--role", "viewer", "carlos@globex.example", "Amelie@globex.example", "dana@globex.example", "hank@globex.example")
	want := `4 of 4 addresses cannot be invited, so no invitation was created:
  carlos@globex.example: already invited to account globex by partnerinvitation "carlos" (no state yet)
  Amelie@globex.example: already invited by partnerinvitation "amelie" (PendingApproval)
  dana@globex.example: already invited to account globex by partnerinvitation "dana" (no state yet)
  hank@globex.example: already a user of partneraccount "globex" (listed in its spec.users; change the user there)`
	if got := r.errText(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	// Naming the account finds the invitation the operator joined to it.
	r = partners(t, ns, "invite", "--account", "globex", "--role", "viewer", "dana@globex.example")
	want = `1 of 1 addresses cannot be invited, so no invitation was created:
  dana@globex.example: already invited to account globex by partnerinvitation "dana" (no state yet)`
	if got := r.errText(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	if names := invitationNames(t, ns); len(names) != 3 {
		t.Errorf("invitations %v, want the 3 there were", names)
	}
}

// TestInviteWithoutAccountWhenAccountsCannotBeRead: telling which account
// the domain chooses is best effort; a user who may create invitations but
// not read accounts still invites.
func TestInviteWithoutAccountWhenAccountsCannotBeRead(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex", withAllowedDomains("globex.example")))
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inviter"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"partnerinvitations"},
			Verbs: []string{"get", "list", "create"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inviter"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "inviter"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "inviter"}},
	}
	if err := env.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}

	r := mustPartners(t, ns, "--as", "inviter", "invite", "--role", "viewer", "jane@globex.example")

	if want := "partnerinvitation/" + invitationName("", "jane@globex.example") + " created for jane@globex.example\n"; r.stdout != want || r.stderr != "" {
		t.Errorf("stdout %q stderr %q, want %q and nothing on stderr", r.stdout, r.stderr, want)
	}
	// The same user cannot invite with --account, which reads the account.
	r = partners(t, ns, "--as", "inviter", "invite", "--account", "globex", "--role", "viewer", "bob@globex.example")
	if !strings.Contains(r.errText(), "forbidden") {
		t.Errorf("error %q, want the API server's refusal to read the account", r.errText())
	}
}
