package invitation_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// The tests of this file hold seed rule 10: an invitation without
// spec.account joins the one account of its namespace whose allowedDomains
// covers its address, the most specific domain winning, and is then an
// invitation of that account like any other; and rule 6 with it: an
// account deleted and created again under the same name adopts none of the
// old invitations.

// noAccount leaves spec.account out: the address's domain chooses.
func noAccount(i *v1alpha1.PartnerInvitation) { i.Spec.Account = "" }

// allowing sets an account's allowedDomains and display name.
func allowing(display string, domains ...v1alpha1.DomainName) func(*v1alpha1.PartnerAccount) {
	return func(a *v1alpha1.PartnerAccount) { a.Spec.DisplayName, a.Spec.AllowedDomains = display, domains }
}

// readyIs fails unless inv's Ready is False with reason and a message
// saying each of says.
func readyIs(t *testing.T, inv *v1alpha1.PartnerInvitation, reason string, says ...string) {
	t.Helper()
	c := condition(inv, v1alpha1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason {
		t.Fatalf("Ready = %+v, want False/%s", c, reason)
	}
	for _, s := range says {
		if !strings.Contains(c.Message, s) {
			t.Errorf("Ready's message %q does not say %q", c.Message, s)
		}
	}
}

// TestJoinsTheAccountOfItsDomain: without spec.account an invitation joins
// the account whose allowedDomains covers its address, the most specific
// domain winning (an address of a subdomain is covered by its parent
// domain, as allowedDomains allows it); status.account and
// status.accountUID record the account, for named invitations too; the
// email names the account chosen.
func TestJoinsTheAccountOfItsDomain(t *testing.T) {
	h := start(t)
	globex := h.Account("globex", allowing("Globex Corporation", "globex.example"))
	eu := h.Account("globex-eu", allowing("Globex Europe", "eu.globex.example"))
	h.Account("open") // no allowedDomains: allows every domain, covers none
	h.Invite("mindy", "mindy@globex.example", noAccount)
	h.Invite("frank", "frank@eu.globex.example", noAccount)
	h.Invite("hans", "hans@de.eu.globex.example", noAccount)
	h.Invite("hank", "hank@globex.example") // spec.account: globex

	for name, want := range map[string]*v1alpha1.PartnerAccount{"mindy": globex, "frank": eu, "hans": eu, "hank": globex} {
		inv := h.WaitState(name, v1alpha1.InvitationPendingApproval)
		if inv.Status.Account != want.Name || inv.Status.AccountUID != string(want.UID) {
			t.Errorf("%s: status.account %q, accountUID %q; want %s, %s", name, inv.Status.Account, inv.Status.AccountUID, want.Name, want.UID)
		}
	}
	for _, m := range h.Sender.Sent() {
		company := "Globex Corporation"
		if strings.Contains(m.To, "eu.globex.example") {
			company = "Globex Europe"
		}
		if !strings.Contains(m.Text, company) {
			t.Errorf("the email to %s does not name %s:\n%s", m.To, company, m.Text)
		}
	}
	h.WaitAccount("globex-eu", "2 pending", func(a *v1alpha1.PartnerAccount) bool { return a.Status.Invitations.Pending == 2 })
	h.WaitAccount("globex", "2 pending", func(a *v1alpha1.PartnerAccount) bool { return a.Status.Invitations.Pending == 2 })

	// The choice is made once: a more specific account created later does
	// not take over an invitation that joined another.
	h.Account("globex-mindy", allowing("Mindy's", "mindy.globex.example", "globex.example"))
	h.Settle()
	if inv := h.Invitation("mindy"); inv.Status.Account != "globex" || inv.Status.State != v1alpha1.InvitationPendingApproval {
		t.Errorf("mindy moved: status.account %q, state %s", inv.Status.Account, inv.Status.State)
	}
}

// TestNoAccountForDomainRecovers: no account covers the address: Invalid
// with NoAccountForDomain naming the accounts there are, no email; then an
// account covering it is created, and the invitation joins it and is sent
// by itself (the account's watch wakes it, no polling); likewise when the
// domain is added to an existing account.
func TestNoAccountForDomainRecovers(t *testing.T) {
	h := start(t)
	h.Account("globex", allowing("Globex Corporation", "globex.example"))
	h.Account("open")
	h.Invite("jane", "jane@umbrella.example", noAccount)
	h.Invite("ann", "ann@initech.example", noAccount)

	inv := h.WaitState("jane", v1alpha1.InvitationInvalid)
	readyIs(t, inv, v1alpha1.ReasonNoAccountForDomain, "umbrella.example, the domain of jane@umbrella.example",
		"globex (globex.example)", "without allowedDomains are never chosen by domain: open")
	if inv.Status.Account != "" || inv.Status.AccountUID != "" {
		t.Errorf("status.account %q, accountUID %q before any account covers the address", inv.Status.Account, inv.Status.AccountUID)
	}
	h.WaitState("ann", v1alpha1.InvitationInvalid)
	h.WaitEvent("jane", "Warning NoAccountForDomain")
	if n := h.Sender.Attempts(); n != 0 {
		t.Fatalf("%d emails sent for invitations without an account", n)
	}

	umbrella := h.Account("umbrella", allowing("Umbrella", "umbrella.example"))
	inv = h.WaitState("jane", v1alpha1.InvitationPendingApproval)
	if inv.Status.Account != "umbrella" || inv.Status.AccountUID != string(umbrella.UID) {
		t.Errorf("status.account %q, accountUID %q; want umbrella, %s", inv.Status.Account, inv.Status.AccountUID, umbrella.UID)
	}
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.AllowedDomains = append(a.Spec.AllowedDomains, "initech.example")
	})
	if inv := h.WaitState("ann", v1alpha1.InvitationPendingApproval); inv.Status.Account != "globex" {
		t.Errorf("ann joined %q, want globex", inv.Status.Account)
	}
	if n := len(h.Sender.Sent()); n != 2 {
		t.Errorf("%d emails, want one to each", n)
	}
	h.WaitAccount("umbrella", "1 pending", func(a *v1alpha1.PartnerAccount) bool { return a.Status.Invitations.Pending == 1 })
}

// TestAmbiguousAccount: two accounts cover the address equally: Invalid
// with AmbiguousAccount naming both, no email; once one of them no longer
// allows the domain, the invitation joins the other by itself.
func TestAmbiguousAccount(t *testing.T) {
	h := start(t)
	h.Account("globex", allowing("Globex Corporation", "globex.example"))
	h.Account("hooli", allowing("Hooli", "initech.example", "globex.example"))
	h.Invite("jane", "jane@globex.example", noAccount)

	inv := h.WaitState("jane", v1alpha1.InvitationInvalid)
	readyIs(t, inv, v1alpha1.ReasonAmbiguousAccount, "jane@globex.example is covered equally by 2 PartnerAccounts", "globex, hooli", "spec.account")
	h.WaitEvent("jane", "Warning AmbiguousAccount")
	if n := h.Sender.Attempts(); n != 0 {
		t.Fatalf("%d emails sent for an ambiguous invitation", n)
	}

	h.EditAccount("hooli", func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"} })
	if inv := h.WaitState("jane", v1alpha1.InvitationPendingApproval); inv.Status.Account != "globex" {
		t.Errorf("jane joined %q, want globex", inv.Status.Account)
	}
}

// TestAccountOfADomainMember: a member who joined by domain is a member of
// the account like any other: listed in its members and counts, holding
// its finalizer, and deleting the account revokes the member's grants
// (AccountDeleted) before the account goes.
func TestAccountOfADomainMember(t *testing.T) {
	h := start(t)
	h.Account("globex", allowing("Globex Corporation", "globex.example"))
	h.Invite("frank", "frank@globex.example", noAccount, func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.Invite("mindy", "mindy@globex.example")
	h.Accept("frank")
	h.waitGranted("frank")
	if got := h.Backend.Members(h.Group("insights", "editor")); !slices.Equal(got, []string{"frank@globex.example"}) {
		t.Fatalf("members of the insights group: %v", got)
	}
	acct := h.WaitAccount("globex", "Active with frank as its member", func(a *v1alpha1.PartnerAccount) bool {
		return a.Status.State == v1alpha1.AccountActive && a.Status.MemberCount == 1 && len(a.Status.Members) == 1 &&
			a.Status.Members[0].Invitation == "frank" && a.Status.Invitations.Accepted == 1 && a.Status.Invitations.Pending == 1
	})
	if !slices.Contains(acct.Finalizers, v1alpha1.GrantsFinalizer) {
		t.Errorf("the account of a member has finalizers %v", acct.Finalizers)
	}

	h.DeleteAccount("globex")
	h.Eventually("the account to go once frank's grants are revoked", func() bool {
		return apierrors.IsNotFound(env.Client.Get(context.Background(), keyOf(h.NS, "globex"), &v1alpha1.PartnerAccount{}))
	})
	for _, name := range []string{"frank", "mindy"} {
		inv := h.Invitation(name)
		if inv.Status.State != v1alpha1.InvitationRevoked || inv.Status.RevokedReason != v1alpha1.RevokedAccountDeleted {
			t.Errorf("%s: state %s (%s), want Revoked/AccountDeleted", name, inv.Status.State, inv.Status.RevokedReason)
		}
	}
	if c := condition(h.Invitation("frank"), v1alpha1.ConditionAccepted); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonAccountDeleted {
		t.Errorf("frank's Accepted = %+v, want False/AccountDeleted", c)
	}
	if h.Backend.HasUser("frank@globex.example") || len(h.Backend.Members(h.Group("insights", "editor"))) != 0 {
		t.Errorf("left in the backend: user %v, members %v", h.Backend.HasUser("frank@globex.example"), h.Backend.Members(h.Group("insights", "editor")))
	}
}

// TestRecreatedAccountAdoptsNothing: an account deleted and created again
// under the same name while the manager did not watch (it only sees the
// new account, with another UID): its old invitations, named or joined by
// domain, are Revoked with AccountDeleted, not adopted (users must be
// invited again), and the new account counts none of them. An invitation
// created before its account exists still joins it once it appears.
func TestRecreatedAccountAdoptsNothing(t *testing.T) {
	h := start(t)
	old := h.Account("globex", allowing("Globex Corporation", "globex.example"))
	h.Invite("mindy", "mindy@globex.example")
	h.Invite("frank", "frank@globex.example", noAccount)
	h.Invite("early", "early@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Account = "initech" })
	for _, name := range []string{"mindy", "frank"} {
		if inv := h.WaitState(name, v1alpha1.InvitationPendingApproval); inv.Status.AccountUID != string(old.UID) {
			t.Fatalf("%s: accountUID %q, want %s", name, inv.Status.AccountUID, old.UID)
		}
	}
	if inv := h.WaitState("early", v1alpha1.InvitationInvalid); inv.Status.Account != "initech" || inv.Status.AccountUID != "" {
		t.Errorf("early, before its account exists: status.account %q, accountUID %q; want initech and no UID", inv.Status.Account, inv.Status.AccountUID)
	}
	h.WaitAccount("globex", "2 pending", func(a *v1alpha1.PartnerAccount) bool { return a.Status.Invitations.Pending == 2 })

	var recreated *v1alpha1.PartnerAccount
	h.Offline(func() {
		if err := env.Client.Delete(context.Background(), h.GetAccount("globex")); err != nil {
			t.Fatal(err)
		}
		h.Eventually("the old account to be gone", func() bool {
			return apierrors.IsNotFound(env.Client.Get(context.Background(), keyOf(h.NS, "globex"), &v1alpha1.PartnerAccount{}))
		})
		recreated = h.Account("globex", allowing("Globex Corporation", "globex.example"))
	})
	for _, name := range []string{"mindy", "frank"} {
		inv := h.WaitState(name, v1alpha1.InvitationRevoked)
		if inv.Status.RevokedReason != v1alpha1.RevokedAccountDeleted || inv.Status.AccountUID != string(old.UID) {
			t.Errorf("%s: revoked as %s, accountUID %q; want AccountDeleted, still %s", name, inv.Status.RevokedReason, inv.Status.AccountUID, old.UID)
		}
	}
	h.WaitAccount("globex", "observed", func(a *v1alpha1.PartnerAccount) bool { return a.Status.ObservedGeneration == a.Generation })
	h.Settle()
	a := h.GetAccount("globex")
	if c := a.Status.Invitations; c.Pending != 0 || c.Revoked != 0 || c.Accepted != 0 || a.Status.State != v1alpha1.AccountNoUsersOrSystems {
		t.Errorf("the new account counts the old invitations: %+v, state %s", c, a.Status.State)
	}

	// The old links are dead; a new invitation joins the new account.
	h.Invite("frank2", "frank@globex.example", noAccount)
	if inv := h.WaitState("frank2", v1alpha1.InvitationPendingApproval); inv.Status.AccountUID != string(recreated.UID) {
		t.Errorf("a new invitation joined account UID %q, want %s", inv.Status.AccountUID, recreated.UID)
	}
	initech := h.Account("initech", allowing("Initech", "globex.example", "initech.example"))
	if inv := h.WaitState("early", v1alpha1.InvitationPendingApproval); inv.Status.AccountUID != string(initech.UID) {
		t.Errorf("early, once its account exists: accountUID %q, want %s", inv.Status.AccountUID, initech.UID)
	}
}

// TestDomainMemberCannotBeMovedByStatus: a member who joined by domain
// accepted into that account: a status writer who points status.account
// (and its UID) at another account that also covers the address moves
// nothing: the acceptance proof binds the account, so the invitation is
// AcceptanceUnverified and the backend is not called. (The accounts'
// members lists follow the status as written: bookkeeping a status writer
// can break, docs/security.md.)
func TestDomainMemberCannotBeMovedByStatus(t *testing.T) {
	h := start(t)
	globex := h.Account("globex", allowing("Globex Corporation", "globex.example"))
	h.Account("globex-eu", allowing("Globex Europe", "eu.globex.example"))
	h.Invite("frank", "frank@eu.globex.example", noAccount)
	h.Accept("frank")
	if inv := h.waitGranted("frank"); inv.Status.Account != "globex-eu" {
		t.Fatalf("frank joined %q, want globex-eu", inv.Status.Account)
	}
	calls := h.Backend.Calls()

	h.WriteStatus("frank", func(i *v1alpha1.PartnerInvitation) {
		i.Status.Account, i.Status.AccountUID = "globex", string(globex.UID)
	})
	inv := h.WaitCondition("frank", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonAcceptanceUnverified)
	if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonAcceptanceUnverified {
		t.Errorf("Ready = %+v, want False/AcceptanceUnverified", c)
	}
	h.Settle()
	if got := h.Backend.Calls(); got != calls {
		t.Errorf("%d backend calls on the word of the rewritten status", got-calls)
	}
}
