package account_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
)

// TestUsersBecomeOwnedInvitations: each spec.users entry gets one
// invitation, named from the account and the address, owned by the
// account, labelled, asking what the entry asks; the account says Ready
// once they are all there, and each partner gets one email.
func TestUsersBecomeOwnedInvitations(t *testing.T) {
	h := start(t)
	acct := h.account("globex",
		user("hank.scorpio@globex.example", "admin", "admin-center", "insights"),
		user("Mindy@Globex.example", "editor", "editor"),
		user("frank@eu.globex.example", "viewer"))
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)

	invs := h.Invitations()
	if len(invs) != 3 {
		t.Fatalf("%d invitations for 3 users: %v", len(invs), keys(invs))
	}
	for _, u := range acct.Spec.Users {
		name := account.InvitationName("globex", string(u.Email))
		inv := invs[name]
		if inv == nil {
			t.Fatalf("no invitation %s for %s; have %v", name, u.Email, keys(invs))
		}
		refs := inv.OwnerReferences
		if len(refs) != 1 || refs[0].Kind != "PartnerAccount" || refs[0].APIVersion != v1alpha1.GroupVersion.String() ||
			refs[0].Name != "globex" || refs[0].UID != acct.UID ||
			refs[0].Controller == nil || !*refs[0].Controller || refs[0].BlockOwnerDeletion == nil || !*refs[0].BlockOwnerDeletion {
			t.Errorf("%s: owner references %+v; want the account as controller, blocking its deletion", name, refs)
		}
		if got := inv.Labels[v1alpha1.AccountLabel]; got != "globex" {
			t.Errorf("%s: label %s=%q, want globex", name, v1alpha1.AccountLabel, got)
		}
		s := inv.Spec
		if s.Account != "globex" || s.Email != u.Email || s.Role != u.Role || !slices.Equal(s.Systems, u.Systems) {
			t.Errorf("%s: spec %+v does not ask what the entry asks (%+v)", name, s, u)
		}
		if s.TTL != "" || s.Locale != v1alpha1.LocaleEnglish || s.Revoked || s.Resend != 0 || s.Message != "" {
			t.Errorf("%s: spec %+v; want ttl unset (the account's applies), locale en and nothing else", name, s)
		}
		h.WaitEvent("globex", "Normal InvitationCreated: Created PartnerInvitation "+name+" for "+string(u.Email))
	}
	if name := account.InvitationName("globex", "Mindy@Globex.example"); !strings.HasPrefix(name, "globex-mindy-") {
		t.Errorf("the name %s is not readable as globex-mindy-<hash>", name)
	}

	a := h.WaitAccount("globex", "3 pending invitations", func(a *v1alpha1.PartnerAccount) bool {
		return a.Status.Invitations.Pending == 3
	})
	if a.Status.State != v1alpha1.AccountPendingApproval {
		t.Errorf("state %q, want PendingApproval", a.Status.State)
	}
	h.Eventually("one email per user", func() bool { return len(h.Sender.Recipients()) == 3 })
	h.Settle()
	if got := h.Sender.Recipients(); len(got) != 3 {
		t.Errorf("emails to %v; want one per user", got)
	}
	// The invitations count from the moment they are created: the account
	// never claims to have no users on its way to PendingApproval.
	for _, e := range h.Events("globex") {
		if strings.Contains(e, "NoUsersOrSystems") {
			t.Errorf("the account went through NoUsersOrSystems: %s", e)
		}
	}
}

// TestEditingAnEntryUpdatesItsInvitation: a new role or systems in
// spec.users lands in the owned invitation, and what a user set on that
// invitation (a resend) stays.
func TestEditingAnEntryUpdatesItsInvitation(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "editor", "editor"), user("hank@globex.example", "admin"))
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	mindy, hank := account.InvitationName("globex", "mindy@globex.example"), account.InvitationName("globex", "hank@globex.example")
	h.WaitState(mindy, v1alpha1.InvitationPendingApproval)
	h.EditInvitation(mindy, func(inv *v1alpha1.PartnerInvitation) { inv.Spec.Resend = 1 })
	hankGen := h.Invitation(hank).Generation

	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users[0].Role = "admin"
		a.Spec.Users[0].Systems = []v1alpha1.CatalogueKey{"insights", "editor"}
	})
	h.Eventually("mindy's invitation to follow the entry", func() bool {
		s := h.Invitation(mindy).Spec
		return s.Role == "admin" && len(s.Systems) == 2
	})
	inv := h.Invitation(mindy)
	if !slices.Contains(inv.Spec.Systems, "insights") || !slices.Contains(inv.Spec.Systems, "editor") {
		t.Errorf("systems %v, want editor and insights", inv.Spec.Systems)
	}
	if inv.Spec.Resend != 1 || inv.Spec.Email != "mindy@globex.example" {
		t.Errorf("the update changed what it should not: %+v", inv.Spec)
	}
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	h.WaitEvent("globex", "Normal InvitationUpdated: Updated PartnerInvitation "+mindy)
	h.Settle()
	if g := h.Invitation(hank).Generation; g != hankGen {
		t.Errorf("hank's invitation was written (generation %d -> %d) though his entry did not change", hankGen, g)
	}
}

// TestRemovingAnEntryDeletesItsInvitation: the owned invitation of a
// removed entry is deleted; the others stay as they are.
func TestRemovingAnEntryDeletesItsInvitation(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "editor", "editor"), user("hank@globex.example", "admin"))
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	mindy, hank := account.InvitationName("globex", "mindy@globex.example"), account.InvitationName("globex", "hank@globex.example")
	hankUID := h.Invitation(hank).UID

	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = a.Spec.Users[1:] })
	h.WaitGone(&v1alpha1.PartnerInvitation{}, mindy)
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	if inv := h.Invitation(hank); inv.UID != hankUID || !inv.DeletionTimestamp.IsZero() {
		t.Errorf("hank's invitation was touched")
	}
	h.WaitEvent("globex", "Normal InvitationDeleted: Deleted PartnerInvitation "+mindy)
}

// TestStandaloneInvitationsAreAssociated: invitations created on their own
// for the account count in its status (every invited user of a partner
// belongs to its account, whoever created the invitation): members sorted by
// email, counts, state, and the grants finalizer once one is accepted.
func TestStandaloneInvitationsAreAssociated(t *testing.T) {
	h := start(t)
	h.account("globex")
	// Names in the opposite order of the emails, so members are sorted by email.
	h.invite("z-amelie", "globex", "amelie.dupont@globex.example", "editor", "insights")
	h.invite("a-carlos", "globex", "carlos.ruiz@globex.example")
	h.invite("initech-user", "initech", "someone@initech.example", "editor")

	a := h.WaitAccount("globex", "2 pending invitations", func(a *v1alpha1.PartnerAccount) bool {
		return a.Status.Invitations == v1alpha1.InvitationCounts{Pending: 2}
	})
	if a.Status.State != v1alpha1.AccountPendingApproval || len(a.Status.Members) != 0 || hasFinalizer(a) {
		t.Errorf("before any acceptance: state %q, members %v, finalizers %v", a.Status.State, a.Status.Members, a.Finalizers)
	}

	h.accept("a-carlos")
	h.accept("z-amelie")
	a = h.WaitAccount("globex", "two members", func(a *v1alpha1.PartnerAccount) bool { return len(a.Status.Members) == 2 })
	want := []v1alpha1.Member{
		{Email: "amelie.dupont@globex.example", Role: "editor", Systems: []string{"editor", "insights"}, AcceptedAt: metav1.NewTime(t0), Invitation: "z-amelie"},
		{Email: "carlos.ruiz@globex.example", Role: "editor", AcceptedAt: metav1.NewTime(t0), Invitation: "a-carlos"},
	}
	for i := range want {
		g, w := a.Status.Members[i], want[i]
		if g.Email != w.Email || g.Role != w.Role || !slices.Equal(g.Systems, w.Systems) || !g.AcceptedAt.Equal(&w.AcceptedAt) || g.Invitation != w.Invitation {
			t.Errorf("member %d is %+v, want %+v", i, g, w)
		}
	}
	if a.Status.Invitations != (v1alpha1.InvitationCounts{Accepted: 2}) {
		t.Errorf("counts %+v, want 2 accepted", a.Status.Invitations)
	}
	if a.Status.State != v1alpha1.AccountActive {
		t.Errorf("state %q, want Active", a.Status.State)
	}
	if !hasFinalizer(a) {
		t.Errorf("an account with accepted users has no %s finalizer", v1alpha1.GrantsFinalizer)
	}
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	if len(h.Invitations()) != 3 {
		t.Errorf("the account created invitations though it lists no users")
	}
}

// TestStateFollowsInvitations: NoUsersOrSystems, PendingApproval, Active
// and back, with an Event at each transition.
func TestStateFollowsInvitations(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "editor"))
	mindy := account.InvitationName("globex", "mindy@globex.example")
	state := func(s v1alpha1.AccountState) func(*v1alpha1.PartnerAccount) bool {
		return func(a *v1alpha1.PartnerAccount) bool { return a.Status.State == s }
	}
	h.WaitState(mindy, v1alpha1.InvitationPendingApproval)
	h.WaitAccount("globex", "NoUsersOrSystems: the only user has no system", state(v1alpha1.AccountNoUsersOrSystems))

	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Systems = []v1alpha1.CatalogueKey{"editor"} })
	h.WaitAccount("globex", "PendingApproval: a user with a system is invited", state(v1alpha1.AccountPendingApproval))

	h.accept(mindy)
	h.WaitAccount("globex", "Active: a user with a system accepted", state(v1alpha1.AccountActive))

	h.EditInvitation(mindy, func(inv *v1alpha1.PartnerInvitation) { inv.Spec.Revoked = true })
	a := h.WaitAccount("globex", "NoUsersOrSystems: the only user was withdrawn", state(v1alpha1.AccountNoUsersOrSystems))
	if a.Status.Invitations != (v1alpha1.InvitationCounts{Revoked: 1}) || len(a.Status.Members) != 0 {
		t.Errorf("counts %+v and members %v after the withdrawal", a.Status.Invitations, a.Status.Members)
	}
	for _, e := range []string{
		"Normal NoUsersOrSystems: The account has no users, or its users have no systems",
		"Normal PendingApproval: ",
		"Normal Active: A partner user accepted",
	} {
		h.WaitEvent("globex", e)
	}
}

// TestMembersWithoutSystems: an account whose only accepted member holds no
// system is NoUsersOrSystems (a member without a system has nothing to
// work on), and Active once that member is given one.
func TestMembersWithoutSystems(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "editor"))
	mindy := account.InvitationName("globex", "mindy@globex.example")
	h.accept(mindy)
	a := h.WaitAccount("globex", "NoUsersOrSystems with one member", func(a *v1alpha1.PartnerAccount) bool {
		return a.Status.State == v1alpha1.AccountNoUsersOrSystems && len(a.Status.Members) == 1
	})
	if a.Status.Invitations.Accepted != 1 {
		t.Errorf("counts %+v, want one accepted", a.Status.Invitations)
	}
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.WaitAccount("globex", "Active once the member holds a system", func(a *v1alpha1.PartnerAccount) bool {
		return a.Status.State == v1alpha1.AccountActive
	})
}

// TestDeclinedInvitationIsLeftAlone: an owned invitation that ended
// Revoked stays as it is while its entry is listed (no new email); deleting
// it invites again.
func TestDeclinedInvitationIsLeftAlone(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "editor", "editor"))
	mindy := account.InvitationName("globex", "mindy@globex.example")
	uid := h.WaitState(mindy, v1alpha1.InvitationPendingApproval).UID
	h.WriteStatus(mindy, func(inv *v1alpha1.PartnerInvitation) { // as the acceptance page records a decline
		inv.Status.State = v1alpha1.InvitationRevoked
		for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionAccepted} {
			meta.SetStatusCondition(&inv.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionFalse,
				Reason: v1alpha1.ReasonDeclined, Message: "The partner declined the invitation", ObservedGeneration: inv.Generation})
		}
	})
	a := h.WaitAccount("globex", "Ready to mention the decline", func(a *v1alpha1.PartnerAccount) bool {
		c := readyOf(a)
		return c != nil && c.Reason == v1alpha1.ReasonReconciled && strings.Contains(c.Message, "declined or withdrawn")
	})
	if c := readyOf(a); !strings.Contains(c.Message, mindy) || !strings.Contains(c.Message, "delete that invitation") {
		t.Errorf("Ready does not say which invitation or how to invite again: %q", c.Message)
	}
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Role = "admin" })
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	h.Settle()
	if inv := h.Invitation(mindy); inv.UID != uid || inv.Spec.Role != "editor" || inv.Status.State != v1alpha1.InvitationRevoked {
		t.Fatalf("the declined invitation was changed: uid %s (was %s), role %s, state %s", inv.UID, uid, inv.Spec.Role, inv.Status.State)
	}
	if got := h.Sender.Recipients(); len(got) != 1 {
		t.Errorf("emails to %v; a declined user must not be invited again on its own", got)
	}

	if err := env.Client.Delete(context.Background(), h.Invitation(mindy)); err != nil {
		t.Fatal(err)
	}
	h.Eventually("a new invitation for mindy", func() bool {
		inv := &v1alpha1.PartnerInvitation{}
		return h.Exists(inv, mindy) && inv.UID != uid && inv.Spec.Role == "admin"
	})
	h.WaitState(mindy, v1alpha1.InvitationPendingApproval)
}

// TestDuplicateUserIsReported: an entry whose address another invitation
// of the account already invites, or whose invitation name is taken, is not
// invited twice; Ready says so and the other entries go on. Once the other
// invitation goes, the account invites the user itself.
func TestDuplicateUserIsReported(t *testing.T) {
	h := start(t)
	h.invite("mindy-by-hand", "globex", "mindy@globex.example", "editor")
	frank := account.InvitationName("globex", "frank@globex.example")
	h.invite(frank, "initech", "frank@globex.example") // the name globex would use, for another account
	h.account("globex",
		user("Mindy@Globex.example", "editor", "editor"),
		user("frank@globex.example", "viewer"),
		user("hank@globex.example", "admin"))

	a := h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonDuplicateUser)
	msg := readyOf(a).Message
	for _, want := range []string{
		"Mindy@Globex.example is already invited by PartnerInvitation mindy-by-hand",
		"frank@globex.example: the name PartnerInvitation " + frank + " that this account would use is taken",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ready message %q does not say %q", msg, want)
		}
	}
	h.WaitEvent("globex", "Warning DuplicateUser: ")
	hank := account.InvitationName("globex", "hank@globex.example")
	h.Eventually("hank to be invited anyway", func() bool { return h.Exists(&v1alpha1.PartnerInvitation{}, hank) })
	h.Settle()
	if mindy := account.InvitationName("globex", "Mindy@Globex.example"); h.Exists(&v1alpha1.PartnerInvitation{}, mindy) {
		t.Errorf("mindy was invited a second time (%s)", mindy)
	}
	if inv := h.Invitation(frank); inv.Spec.Account != "initech" || len(inv.OwnerReferences) != 0 {
		t.Errorf("the invitation in the way was changed: %+v %+v", inv.Spec, inv.OwnerReferences)
	}

	// The name is freed: its deletion alone (an invitation of another
	// account) brings globex back.
	if err := env.Client.Delete(context.Background(), h.Invitation(frank)); err != nil {
		t.Fatal(err)
	}
	h.Eventually("globex to invite frank itself", func() bool {
		inv := &v1alpha1.PartnerInvitation{}
		return h.Exists(inv, frank) && inv.Spec.Account == "globex"
	})
	if err := env.Client.Delete(context.Background(), h.Invitation("mindy-by-hand")); err != nil {
		t.Fatal(err)
	}
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	if len(h.Invitations()) != 3 {
		t.Errorf("invitations %v, want one per user", keys(h.Invitations()))
	}
}

// TestInvalidInvitationsAreNamed: Ready names the invalid invitations and
// why, as InvalidInvitations while another invitation can still work and as
// InvitationsFailed (state ActionRequired) once none can; fixing the entry
// recovers.
func TestInvalidInvitationsAreNamed(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "wizard", "editor"), user("hank@globex.example", "editor", "editor"))
	mindy := account.InvitationName("globex", "mindy@globex.example")
	a := h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonInvalidInvitations)
	msg := readyOf(a).Message
	if !strings.Contains(msg, "PartnerInvitation "+mindy+" for mindy@globex.example (UnknownRole: role \"wizard\"") {
		t.Errorf("Ready does not name the invitation and its reason: %q", msg)
	}
	if a.Status.Invitations.Invalid != 1 {
		t.Errorf("counts %+v, want 1 invalid", a.Status.Invitations)
	}
	// Without hank, mindy's is the only invitation and it cannot work:
	// the account needs action.
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = a.Spec.Users[:1] })
	a = h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonInvitationsFailed)
	if a.Status.State != v1alpha1.AccountActionRequired {
		t.Errorf("state %q, want ActionRequired", a.Status.State)
	}
	if msg := readyOf(a).Message; !strings.Contains(msg, "mindy@globex.example (PartnerInvitation "+mindy+", Invalid, UnknownRole") {
		t.Errorf("Ready does not name the invalid invitation and its cause: %q", msg)
	}
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Role = "editor" })
	h.WaitState(mindy, v1alpha1.InvitationPendingApproval)
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
}

// TestRefusedCreatesAreNamed: an admission policy refuses the invitations
// of the namespace (as a quota or a webhook could); Ready says so
// (InvitationsRefused, Stalled: someone must act), with the API server's
// words, instead of "creating" forever; once the policy is gone the
// invitation is created.
func TestRefusedCreatesAreNamed(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "no-invitations-" + h.NS},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": h.NS}},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{v1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
						Resources: []string{"partnerinvitations"}}}}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "the namespace's invitation budget is spent"}},
		}}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}}}
	for _, o := range []client.Object{policy, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	h.Eventually("the policy to refuse a dry-run invitation", func() bool {
		probe := &v1alpha1.PartnerInvitation{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "probe"},
			Spec: v1alpha1.PartnerInvitationSpec{Email: "probe@globex.example", Role: "editor"}}
		return env.Client.Create(ctx, probe, client.DryRunAll) != nil
	})
	h.account("globex", user("mindy@globex.example", "editor", "editor"))
	a := h.WaitAccount("globex", "Ready to name the refusal", func(a *v1alpha1.PartnerAccount) bool {
		c := readyOf(a)
		return c != nil && c.Reason == v1alpha1.ReasonInvitationsRefused && strings.Contains(c.Message, "The API server refused 1 write")
	})
	if msg := readyOf(a).Message; !strings.Contains(msg, "the namespace's invitation budget is spent") {
		t.Errorf("Ready does not give the API server's words: %q", msg)
	}
	for _, o := range []client.Object{binding, policy} {
		if err := env.Client.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	h.EventuallyStepping("the invitation to be created once the policy is gone", 2*time.Second, func() bool {
		return h.Exists(&v1alpha1.PartnerInvitation{}, account.InvitationName("globex", "mindy@globex.example"))
	})
}

// TestFinalizerFollowsAcceptance: the grants finalizer comes when a user
// accepts (the invitation controller waits for it to apply grants) and goes
// once no invitation is accepted or holds grants.
func TestFinalizerFollowsAcceptance(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "editor", "editor"), user("hank@globex.example", "admin"))
	mindy := account.InvitationName("globex", "mindy@globex.example")
	a := h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	if hasFinalizer(a) {
		t.Fatalf("finalizer %s on an account nobody accepted", v1alpha1.GrantsFinalizer)
	}
	h.accept(mindy)
	h.WaitAccount("globex", "the grants finalizer", func(a *v1alpha1.PartnerAccount) bool { return hasFinalizer(a) })
	// The invitation controller applies grants only under that finalizer.
	h.waitGrants(mindy)

	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = a.Spec.Users[1:] })
	h.WaitGone(&v1alpha1.PartnerInvitation{}, mindy)
	h.WaitAccount("globex", "no finalizer once nobody holds grants", func(a *v1alpha1.PartnerAccount) bool { return !hasFinalizer(a) })
}

// waitGrants waits until the invitation controller applied an invitation's
// grants (status.appliedGrants and its own finalizer).
func (h *harness) waitGrants(name string) {
	h.T.Helper()
	h.Eventually(name+"'s grants to be applied", func() bool {
		inv := h.Invitation(name)
		return inv.Status.AppliedGrants != nil && hasFinalizer(inv)
	})
}

// TestDeletingAnAccountWithNothingToRevoke: an account goes at once when
// nobody accepted; with members but no grants held, it deletes its own
// invitations and goes, leaving standalone ones.
func TestDeletingAnAccountWithNothingToRevoke(t *testing.T) {
	t.Run("nobody accepted", func(t *testing.T) {
		h := start(t)
		h.account("globex", user("mindy@globex.example", "editor", "editor"))
		a := h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
		if err := env.Client.Delete(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		h.WaitGone(&v1alpha1.PartnerAccount{}, "globex")
	})
	t.Run("members without grants", func(t *testing.T) {
		h := start(t)
		// Without systems, accepted users are members with no grant.
		h.account("globex", user("mindy@globex.example", "editor"))
		h.invite("carlos", "globex", "carlos@globex.example")
		mindy := account.InvitationName("globex", "mindy@globex.example")
		h.accept(mindy)
		h.accept("carlos")
		a := h.WaitAccount("globex", "the grants finalizer", func(a *v1alpha1.PartnerAccount) bool { return hasFinalizer(a) })
		if err := env.Client.Delete(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		h.WaitGone(&v1alpha1.PartnerAccount{}, "globex")
		h.WaitGone(&v1alpha1.PartnerInvitation{}, mindy)
		if !h.Exists(&v1alpha1.PartnerInvitation{}, "carlos") {
			t.Errorf("the account deleted a standalone invitation it does not own")
		}
	})
}

// TestDeletingAnAccountWaitsForGrants: while the invitations naming a
// deleted account still hold grants, the account stays, and Ready says how
// many users' grants are being revoked and, while the identity backend is
// down, that it is unreachable; once they are revoked the account deletes
// its invitations and goes.
func TestDeletingAnAccountWaitsForGrants(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "editor", "editor"))
	h.invite("carlos", "globex", "carlos@globex.example", "insights")
	mindy := account.InvitationName("globex", "mindy@globex.example")
	h.accept(mindy)
	h.accept("carlos")
	h.waitGrants(mindy)
	h.waitGrants("carlos")

	h.Backend.SetDown(errDown)
	if err := env.Client.Delete(context.Background(), h.GetAccount("globex")); err != nil {
		t.Fatal(err)
	}
	a := h.WaitAccount("globex", "Ready to say the backend is unreachable", func(a *v1alpha1.PartnerAccount) bool {
		c := readyOf(a)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonDeleting && strings.Contains(c.Message, "unreachable")
	})
	msg := readyOf(a).Message
	for _, want := range []string{
		"The account is being deleted: revoking the identity backend grants of 2 users (carlos@globex.example, mindy@globex.example)",
		"The identity backend is unreachable (PartnerInvitation ",
		"connection refused",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ready message %q does not say %q", msg, want)
		}
	}
	h.Settle()
	if !h.Exists(&v1alpha1.PartnerAccount{}, "globex") || !h.Exists(&v1alpha1.PartnerInvitation{}, mindy) {
		t.Fatal("the account or its invitation went while grants were still held")
	}

	// The backend is back: the invitation controller's retries (on the
	// fake clock) revoke the grants, and then the account goes.
	h.Backend.SetDown(nil)
	h.Eventually("the account to go once the grants are revoked", func() bool {
		h.Clock.Step(time.Minute)
		return !h.Exists(&v1alpha1.PartnerAccount{}, "globex")
	})
	h.WaitGone(&v1alpha1.PartnerInvitation{}, mindy)
	carlos := h.Invitation("carlos")
	if carlos.Status.AppliedGrants != nil || hasFinalizer(carlos) {
		t.Errorf("carlos still holds grants after the account went: %+v", carlos.Status.AppliedGrants)
	}
	for _, g := range h.Backend.GroupNames() {
		if m := h.Backend.Members(g); len(m) > 0 {
			t.Errorf("group %s still has members %v after the account went", g, m)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
