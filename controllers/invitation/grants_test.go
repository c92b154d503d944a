package invitation_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity"
)

// TestGrantsFollowTheInvitation: accepting grants the role on each system,
// editing applies the diff, and withdrawing takes everything partnerops
// made away (the user it created included), and the finalizer with it.
func TestGrantsFollowTheInvitation(t *testing.T) {
	h := start(t)
	h.Account("globex")
	inv := h.grant("mindy", "mindy@globex.example")
	want := []string{h.Group("editor", "editor"), h.Group("insights", "editor")}
	for _, g := range want {
		if got := h.Backend.Members(g); !slices.Equal(got, []string{"mindy@globex.example"}) {
			t.Errorf("group %s holds %v", g, got)
		}
	}
	ag := inv.Status.AppliedGrants
	if ag == nil || ag.Backend != "scim" || !ag.UserCreated || ag.Role != "editor" || !slices.Equal(ag.Groups, want) || ag.SyncedAt == nil {
		t.Errorf("appliedGrants %+v", ag)
	}
	if !slices.Contains(inv.Finalizers, v1alpha1.GrantsFinalizer) {
		t.Error("an invitation with grants has no finalizer")
	}
	if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready %+v", c)
	}

	// Editing the role and a system: exactly the diff.
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) {
		i.Spec.Role = "viewer"
		i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"}
	})
	h.Eventually("the grants to move to viewer on insights only", func() bool {
		return slices.Equal(h.Backend.Members(h.Group("insights", "viewer")), []string{"mindy@globex.example"}) &&
			h.Backend.Members(h.Group("editor", "editor")) == nil && h.Backend.Members(h.Group("insights", "editor")) == nil
	})

	// Withdrawing the accepted user revokes; the user partnerops created goes.
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	inv = h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if inv.Status.State != v1alpha1.InvitationRevoked || inv.Status.AppliedGrants != nil {
		t.Errorf("after withdrawing: state %s, appliedGrants %+v", inv.Status.State, inv.Status.AppliedGrants)
	}
	if h.Backend.HasUser("mindy@globex.example") {
		t.Error("the user partnerops created is still in the backend")
	}
	h.Eventually("the finalizer to go", func() bool { return !slices.Contains(h.Invitation("mindy").Finalizers, v1alpha1.GrantsFinalizer) })
}

// TestUnknownRoleLeavesGrantsAlone: an accepted user edited to a role the
// catalogue does not know keeps the grants they had, and GrantsSynced says
// why nothing changed.
func TestUnknownRoleLeavesGrantsAlone(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.grant("mindy", "mindy@globex.example")
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "superuser" })
	inv := h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonUnknownRole)
	if c := condition(inv, v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonUnknownRole {
		t.Errorf("Ready = %+v, want False/UnknownRole", c)
	}
	if got := h.Backend.Members(h.Group("editor", "editor")); !slices.Equal(got, []string{"mindy@globex.example"}) {
		t.Errorf("the grants changed for an unknown role: editor.editor holds %v", got)
	}
}

// TestFixedRoleOfAMemberWithNoSystem: a member with no system (no grant,
// no finalizer) whose role was mistyped and then fixed loses the
// GrantsSynced=False the typo left: nothing else would ever clear it, and
// its account stayed Stalled (GrantsNotSynced) for good.
func TestFixedRoleOfAMemberWithNoSystem(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Invite("mindy", "mindy@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = nil })
	h.Accept("mindy")
	h.WaitState("mindy", v1alpha1.InvitationAccepted)
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "superuser" })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonUnknownRole)
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "editor" })
	h.Eventually("the typo's GrantsSynced to go", func() bool { return condition(h.Invitation("mindy"), v1alpha1.ConditionGrantsSynced) == nil })
	h.WaitAccount("globex", "Ready", func(a *v1alpha1.PartnerAccount) bool {
		c := meta.FindStatusCondition(a.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue
	})
}

// TestGrantsNeverTouchWhatPartneropsDidNotMake: a user who existed before,
// already in one of the grant's groups, keeps that membership and the
// account after the revocation; only the membership partnerops added goes.
func TestGrantsNeverTouchWhatPartneropsDidNotMake(t *testing.T) {
	h := start(t)
	h.Backend.SeedUser("mindy@globex.example")
	h.Backend.SeedGroup(h.Group("editor", "editor"), "mindy@globex.example")
	h.Backend.SeedGroup("legacy", "mindy@globex.example")
	h.Account("globex")
	inv := h.grant("mindy", "mindy@globex.example")
	if ag := inv.Status.AppliedGrants; ag.UserCreated || !slices.Equal(ag.Groups, []string{h.Group("insights", "editor")}) {
		t.Errorf("appliedGrants %+v: want only the membership partnerops added, and a user it did not create", ag)
	}
	if err := env.Client.Delete(context.Background(), h.Invitation("mindy")); err != nil {
		t.Fatal(err)
	}
	h.Eventually("the invitation to go", func() bool {
		return apierrors.IsNotFound(env.Client.Get(context.Background(), keyOf(h.NS, "mindy"), &v1alpha1.PartnerInvitation{}))
	})
	if !h.Backend.HasUser("mindy@globex.example") {
		t.Error("a user partnerops did not create was deleted")
	}
	for _, g := range []string{h.Group("editor", "editor"), "legacy"} {
		if !slices.Equal(h.Backend.Members(g), []string{"mindy@globex.example"}) {
			t.Errorf("the membership of %s that predates partnerops was removed", g)
		}
	}
	if m := h.Backend.Members(h.Group("insights", "editor")); len(m) != 0 {
		t.Errorf("the membership partnerops added is still there: %v", m)
	}
}

// TestBackendOutage: while the backend is down, GrantsSynced and Ready say
// so with BackendUnavailable, and the sync retries until it succeeds.
func TestBackendOutage(t *testing.T) {
	h := start(t)
	var down atomic.Bool
	down.Store(true)
	h.Backend.EnsureUserFunc = func(ctx context.Context, u identity.NewUser) (identity.User, error) {
		if down.Load() {
			return identity.User{}, fmt.Errorf("dial tcp 127.0.0.1:8091: connection refused: %w", identity.ErrUnavailable)
		}
		h.Backend.EnsureUserFunc = nil
		return h.Backend.EnsureUser(ctx, u)
	}
	h.Account("globex")
	h.Invite("mindy", "mindy@globex.example")
	h.Accept("mindy")
	inv := h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
	ready := condition(inv, v1alpha1.ConditionReady)
	if ready.Status != metav1.ConditionFalse || ready.Reason != v1alpha1.ReasonBackendUnavailable || !strings.Contains(ready.Message, "connection refused") {
		t.Errorf("Ready while the backend is down: %+v", ready)
	}
	down.Store(false)
	h.EventuallyStepping("the grants to land once the backend is back", 2*time.Second, func() bool {
		c := condition(h.Invitation("mindy"), v1alpha1.ConditionGrantsSynced)
		return c != nil && c.Status == metav1.ConditionTrue
	})
}

// TestDeletingAnAccount: with Revoke (the default) every member's grants go
// and the account goes, waiting while the backend is down and saying so;
// with Retain the grants stay and the account goes at once.
func TestDeletingAnAccount(t *testing.T) {
	t.Run("Revoke waits for the backend", func(t *testing.T) {
		h := start(t)
		h.Account("globex")
		h.Invite("mindy", "mindy@globex.example")
		h.Invite("pending", "pending@globex.example")
		h.Accept("mindy")
		h.waitGranted("mindy")

		h.Backend.RemoveMemberFunc = func(context.Context, string, identity.User) error {
			return fmt.Errorf("503 Service Unavailable: %w", identity.ErrUnavailable)
		}
		h.DeleteAccount("globex")
		h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
		h.WaitAccount("globex", "to say the backend is unreachable", func(acct *v1alpha1.PartnerAccount) bool {
			c := meta.FindStatusCondition(acct.Status.Conditions, v1alpha1.ConditionReady)
			return c != nil && c.Reason == v1alpha1.ReasonDeleting && strings.Contains(c.Message, "503 Service Unavailable")
		})
		if got := h.Invitation("pending"); got.Status.State != v1alpha1.InvitationRevoked || condition(got, v1alpha1.ConditionReady).Reason != v1alpha1.ReasonAccountDeleted {
			t.Errorf("the pending invitation of a deleted account: state %s, Ready %+v", got.Status.State, condition(got, v1alpha1.ConditionReady))
		}

		h.Backend.RemoveMemberFunc = nil
		h.EventuallyStepping("the account to go once the grants are revoked", 2*time.Second, func() bool {
			return apierrors.IsNotFound(env.Client.Get(context.Background(), keyOf(h.NS, "globex"), &v1alpha1.PartnerAccount{}))
		})
		if h.Backend.HasUser("mindy@globex.example") || len(h.Backend.GroupNames()) != 0 {
			t.Errorf("left in the backend: user %v, groups %v", h.Backend.HasUser("mindy@globex.example"), h.Backend.GroupNames())
		}
	})

	t.Run("Retain leaves the grants", func(t *testing.T) {
		h := start(t)
		h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain })
		h.grant("mindy", "mindy@globex.example")
		h.DeleteAccount("globex")
		inv := h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRetained)
		if inv.Status.State != v1alpha1.InvitationRevoked || condition(inv, v1alpha1.ConditionReady).Reason != v1alpha1.ReasonAccountDeleted {
			t.Errorf("state %s, Ready %+v", inv.Status.State, condition(inv, v1alpha1.ConditionReady))
		}
		h.Eventually("the account to go", func() bool {
			return apierrors.IsNotFound(env.Client.Get(context.Background(), keyOf(h.NS, "globex"), &v1alpha1.PartnerAccount{}))
		})
		if !slices.Equal(h.Backend.Members(h.Group("editor", "editor")), []string{"mindy@globex.example"}) {
			t.Error("Retain removed the grants")
		}
	})

	// Retain keeps what the member's spec asks when the account goes: a
	// system Git took away while the backend was down still goes.
	t.Run("Retain still takes away what an edit was taking away", func(t *testing.T) {
		h := start(t)
		h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain })
		h.grant("mindy", "mindy@globex.example")
		h.deleteAccountWhileAnEditWaits()
		if got := groupsOf(h.Backend, "mindy@globex.example"); !slices.Equal(got, []string{h.Group("insights", "editor")}) {
			t.Errorf("after the account went with Retain, mindy is in %v, want only the group of the system her spec still asks", got)
		}
		if c := condition(h.Invitation("mindy"), v1alpha1.ConditionGrantsSynced); c == nil || c.Reason != v1alpha1.ReasonGrantsRetained {
			t.Errorf("GrantsSynced %+v, want GrantsRetained", c)
		}
	})

	// The pass that takes away what an edit was taking away only removes:
	// a group the member's spec still asks, which someone took the user
	// out of by hand before the account went, is not added back (Retain
	// leaves the backend as it is; it never grants).
	t.Run("Retain adds nothing back", func(t *testing.T) {
		h := start(t)
		h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain })
		h.grant("mindy", "mindy@globex.example")
		h.takeOutByHand("mindy@globex.example", h.Group("insights", "editor"))
		h.deleteAccountWhileAnEditWaits()
		if got := groupsOf(h.Backend, "mindy@globex.example"); len(got) != 0 {
			t.Errorf("after the account went with Retain, mindy is in %v: the group she had been taken out of by hand was added back", got)
		}
		inv := h.Invitation("mindy")
		if c := condition(inv, v1alpha1.ConditionGrantsSynced); c == nil || c.Reason != v1alpha1.ReasonGrantsRetained {
			t.Errorf("GrantsSynced %+v, want GrantsRetained", c)
		}
		if rec := inv.Status.AppliedGrants; rec != nil && len(rec.Groups) != 0 {
			t.Errorf("status.appliedGrants records %v, which the user is not in", rec.Groups)
		}
	})

	// Deleting the namespace deletes its invitations and accounts in no
	// set order: an invitation deleted before its account (by the
	// namespace controller, after the namespace) is the account going, and
	// Retain keeps its grants.
	t.Run("Retain holds when the namespace goes, whatever goes first", func(t *testing.T) {
		h := start(t)
		h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain })
		h.grant("mindy", "mindy@globex.example")
		ns := &corev1.Namespace{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: h.NS}, ns); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Delete(context.Background(), ns); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // deletion timestamps are in seconds: the invitation's is later
		if err := env.Client.Delete(context.Background(), h.Invitation("mindy")); err != nil {
			t.Fatal(err)
		}
		h.WaitGone(&v1alpha1.PartnerInvitation{}, "mindy")
		if g := groupsOf(h.Backend, "mindy@globex.example"); len(g) != 2 {
			t.Errorf("the namespace went with a Retain account, and mindy is in %v: want her 2 groups kept", g)
		}
	})

	// Retain keeps the access of the members when the account goes, never
	// of a partner already on the way out: withdrawn, or removed (deleted)
	// while the backend was down, the revocation still pending.
	t.Run("Retain still revokes who was leaving", func(t *testing.T) {
		h := start(t)
		h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain })
		h.grant("mindy", "mindy@globex.example")
		h.grant("rex", "rex@globex.example")
		h.grant("zoe", "zoe@globex.example")
		h.Backend.SetDown(fmt.Errorf("%w: connection refused", identity.ErrUnavailable))
		h.EditInvitation("rex", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
		if err := env.Client.Delete(context.Background(), h.Invitation("zoe")); err != nil {
			t.Fatal(err)
		}
		h.WaitCondition("rex", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
		h.WaitCondition("zoe", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
		time.Sleep(1100 * time.Millisecond) // deletion timestamps are in seconds
		h.DeleteAccount("globex")
		h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRetained)
		h.Backend.SetDown(nil)
		h.EventuallyStepping("the account to go once the leavers' grants are revoked", 2*time.Second, func() bool {
			return apierrors.IsNotFound(env.Client.Get(context.Background(), keyOf(h.NS, "globex"), &v1alpha1.PartnerAccount{}))
		})
		for _, gone := range []string{"rex@globex.example", "zoe@globex.example"} {
			if g := groupsOf(h.Backend, gone); len(g) != 0 || h.Backend.HasUser(gone) {
				t.Errorf("%s left before the account went, yet keeps %v (user kept: %v)", gone, g, h.Backend.HasUser(gone))
			}
		}
		if g := groupsOf(h.Backend, "mindy@globex.example"); len(g) != 2 {
			t.Errorf("Retain removed the grants of the member: %v", g)
		}
	})
}

// deleteAccountWhileAnEditWaits takes the system editor away from mindy
// (a member of editor and insights) while the backend is down, deletes the
// account, brings the backend back and waits until the account is gone.
func (h *harness) deleteAccountWhileAnEditWaits() {
	h.T.Helper()
	h.Backend.SetDown(fmt.Errorf("%w: connection refused", identity.ErrUnavailable))
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
	h.DeleteAccount("globex")
	h.Backend.SetDown(nil)
	h.EventuallyStepping("the account to go", 2*time.Second, func() bool {
		return apierrors.IsNotFound(env.Client.Get(context.Background(), keyOf(h.NS, "globex"), &v1alpha1.PartnerAccount{}))
	})
}

// takeOutByHand removes email's user from group in the backend, as an
// administrator would, behind partnerops's back.
func (h *harness) takeOutByHand(email, group string) {
	h.T.Helper()
	user, err := h.Backend.FindUser(context.Background(), email)
	if err != nil {
		h.T.Fatal(err)
	}
	if err := h.Backend.RemoveMember(context.Background(), group, user); err != nil {
		h.T.Fatal(err)
	}
}

// TestBackendFailureBacksOff: a backend whose error differs from one call
// to the next (a request id, a local port) makes each failure's status
// write a new watch event; still the next call waits its backoff, and a
// changed plan (the partner withdrawn) goes at once.
func TestBackendFailureBacksOff(t *testing.T) {
	h := start(t)
	h.Account("globex")
	var calls atomic.Int32
	h.Backend.EnsureUserFunc = func(context.Context, identity.NewUser) (identity.User, error) {
		return identity.User{}, fmt.Errorf("%w: 503 Service Unavailable, request %d", identity.ErrUnavailable, calls.Add(1))
	}
	h.Invite("mindy", "mindy@globex.example")
	h.Accept("mindy")
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		h.Settle()
		if n := calls.Load(); n != int32(i+1) {
			t.Fatalf("%d calls before the backoff of %s ran out, want %d", n, wait, i+1)
		}
		h.Clock.Step(wait)
		h.Eventually(fmt.Sprintf("call %d after %s", i+2, wait), func() bool { return calls.Load() == int32(i+2) })
	}

	// Another plan is not held by the last one's backoff.
	h.Settle()
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
}

// TestResyncRepairsDrift: a membership removed by hand in the backend comes
// back at the next periodic resync.
func TestResyncRepairsDrift(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.grant("mindy", "mindy@globex.example")
	h.takeOutByHand("mindy@globex.example", h.Group("insights", "editor"))
	h.Clock.Step(h.Config.IdentityBackend.ResyncInterval.Duration + time.Second)
	h.EventuallyStepping("the membership to come back", 2*time.Second, func() bool {
		return slices.Equal(h.Backend.Members(h.Group("insights", "editor")), []string{"mindy@globex.example"})
	})
}

// TestRestartOverAcceptedInvitationsIsFree: a restart over accepted
// invitations whose grants are applied makes no API write and no backend
// call until their resync comes due.
func TestRestartOverAcceptedInvitationsIsFree(t *testing.T) {
	h := start(t)
	h.Account("globex")
	for i := range 20 {
		name := fmt.Sprintf("u%d", i)
		h.Invite(name, name+"@globex.example")
		h.Accept(name)
	}
	for i := range 20 {
		h.WaitCondition(fmt.Sprintf("u%d", i), v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
	}
	h.RestartIsFree("partnerinvitation", 20, 30*time.Second)
}
