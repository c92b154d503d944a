package invitation_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity/identitytest"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

// The grants step changes the backend, then the status write records what
// it changed. When that write is lost (it conflicted, or the manager died
// before it), the membership must still be found and removed when the
// partner goes: these tests lose every status write of the invitation
// made while the backend holds a grant, withdraw the partner, and then let
// writes through again.

// loseStatusWrites answers each of the manager's status writes of
// invitation name with 409 Conflict while lose(m) holds.
func loseStatusWrites(name string, lose func(m *managertest.Manager) bool) managertest.Option {
	return func(m *managertest.Manager) {
		m.Inject = func(req *http.Request) *http.Response {
			if req.Method == http.MethodPatch && strings.HasSuffix(req.URL.Path, "/partnerinvitations/"+name+"/status") && lose(m) {
				return conflictResponse(req)
			}
			return nil
		}
	}
}

// touch writes an annotation on invitation name: an event, so the
// controller looks at it again once writes go through.
func touch(t *testing.T, h *harness, name string) {
	t.Helper()
	inv := h.Invitation(name)
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/touched":"`+inv.ResourceVersion+`"}}}`))
	if err := env.Client.Patch(context.Background(), inv, patch); err != nil {
		t.Fatal(err)
	}
}

// groupsOf are the backend groups email is a member of.
func groupsOf(b *identitytest.Fake, email string) []string {
	var out []string
	for _, g := range b.GroupNames() {
		if slices.Contains(b.Members(g), email) {
			out = append(out, g)
		}
	}
	return out
}

// withdrawWhileLost withdraws name while its status writes are lost, then
// lets them through, and waits until the controller has revoked.
func withdrawWhileLost(t *testing.T, h *harness, losing *atomic.Bool, name string) *v1alpha1.PartnerInvitation {
	t.Helper()
	h.EditInvitation(name, func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.Settle()
	losing.Store(false)
	touch(t, h, name)
	h.Eventually("the finalizer to go", func() bool {
		return !slices.Contains(h.Invitation(name).Finalizers, v1alpha1.GrantsFinalizer)
	})
	return h.Invitation(name)
}

// TestLostRecordOfACreatedUser: the first grants of a user partnerops
// created are never recorded; withdrawing still removes every membership
// and the user, because the user carries partnerops's mark.
func TestLostRecordOfACreatedUser(t *testing.T) {
	var losing atomic.Bool
	losing.Store(true)
	h := start(t, loseStatusWrites("mindy", func(m *managertest.Manager) bool {
		return losing.Load() && len(groupsOf(m.Backend, mindy)) > 0
	}))
	h.Account("globex")
	h.Invite("mindy", mindy)
	h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	h.Accept("mindy")
	h.Eventually("the grants to land in the backend", func() bool { return len(groupsOf(h.Backend, mindy)) == 2 })
	h.Settle()
	if ag := h.Invitation("mindy").Status.AppliedGrants; ag != nil {
		t.Fatalf("the grants were recorded (%+v): the test did not lose the write", ag)
	}

	inv := withdrawWhileLost(t, h, &losing, "mindy")
	if g := groupsOf(h.Backend, mindy); len(g) != 0 {
		t.Errorf("after withdrawing, %s is still a member of %v", mindy, g)
	}
	if h.Backend.HasUser(mindy) {
		t.Error("the user partnerops created is still in the backend")
	}
	if c := condition(inv, v1alpha1.ConditionGrantsSynced); c == nil || c.Reason != v1alpha1.ReasonGrantsRevoked ||
		!strings.Contains(c.Message, "from the 2 group(s)") {
		t.Errorf("GrantsSynced %+v", c)
	}
}

// TestLostRecordOfAnEdit: an edit's new membership is never recorded (the
// record still lists the old groups); withdrawing removes it too.
func TestLostRecordOfAnEdit(t *testing.T) {
	var losing atomic.Bool
	h := start(t, loseStatusWrites("mindy", func(*managertest.Manager) bool { return losing.Load() }))
	h.Account("globex")
	h.grant("mindy", mindy)
	losing.Store(true)
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "viewer" })
	h.Eventually("the viewer grants to land in the backend", func() bool {
		return slices.Equal(h.Backend.Members(h.Group("insights", "viewer")), []string{mindy})
	})

	withdrawWhileLost(t, h, &losing, "mindy")
	if g := groupsOf(h.Backend, mindy); len(g) != 0 {
		t.Errorf("after withdrawing, %s is still a member of %v", mindy, g)
	}
	if h.Backend.HasUser(mindy) {
		t.Error("the user partnerops created is still in the backend")
	}
}

// TestLostRecordOfAnExistingUser: for a user partnerops did not create,
// the groups are recorded before they are added, so a lost write after
// the add still leaves them recorded: withdrawing removes the membership
// partnerops added, and keeps the user and the membership it had before.
func TestLostRecordOfAnExistingUser(t *testing.T) {
	var losing atomic.Bool
	losing.Store(true)
	h := start(t, loseStatusWrites("mindy", func(m *managertest.Manager) bool {
		return losing.Load() && slices.Contains(m.Backend.Members(m.Group("insights", "editor")), mindy)
	}))
	h.Backend.SeedUser(mindy)
	h.Backend.SeedGroup(h.Group("editor", "editor"), mindy)
	h.Account("globex")
	h.Invite("mindy", mindy)
	h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	h.Accept("mindy")
	h.Eventually("the grant to land in the backend", func() bool {
		return slices.Contains(h.Backend.Members(h.Group("insights", "editor")), mindy)
	})
	h.Settle()
	ag := h.Invitation("mindy").Status.AppliedGrants
	if ag == nil || !slices.Equal(ag.Groups, []string{h.Group("insights", "editor")}) || ag.SyncedAt != nil {
		t.Fatalf("appliedGrants %+v: want the group recorded before it was added, and no sync recorded", ag)
	}

	withdrawWhileLost(t, h, &losing, "mindy")
	if g := groupsOf(h.Backend, mindy); !slices.Equal(g, []string{h.Group("editor", "editor")}) {
		t.Errorf("after withdrawing, %s is a member of %v, want only the group it had before", mindy, g)
	}
	if !h.Backend.HasUser(mindy) {
		t.Error("a user partnerops did not create was deleted")
	}
}

// TestSharedGroupsAreNotAdoptedFromAnotherMember: with a groupTemplate
// without the namespace, one address's members in two namespaces share
// groups. The user partnerops created is in the other member's group too;
// that membership is the other member's, never taken into this record:
// a resync writes nothing, and withdrawing this member leaves it.
func TestSharedGroupsAreNotAdoptedFromAnotherMember(t *testing.T) {
	h := start(t, managertest.WithNamespaces(1), managertest.WithConfig(func(c *opconfig.Config) {
		c.IdentityBackend.GroupTemplate = "partnerops.{{ .Account }}.{{ .System }}.{{ .Role }}"
	}))
	o := h.in(h.Others[0])
	h.Account("globex")
	o.Account("globex")
	h.grant("mindy", mindy)
	o.Invite("mindy", mindy, func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "viewer" })
	o.Accept("mindy")
	o.waitGranted("mindy")
	viewer := "partnerops.globex.insights.viewer"
	if ag := h.Invitation("mindy").Status.AppliedGrants; slices.Contains(ag.Groups, viewer) {
		t.Fatalf("%s's record took the other member's %s: %v", h.NS, viewer, ag.Groups)
	}

	h.Settle()
	writes, calls := h.Requests.StatusWrites("partnerinvitations"), h.Backend.Calls()
	h.Clock.Step(h.Config.IdentityBackend.ResyncInterval.Duration + time.Second)
	h.EventuallyStepping("a resync of both members", 2*time.Second, func() bool { return h.Backend.Calls() >= calls+6 })
	h.Settle()
	if n := h.Requests.StatusWrites("partnerinvitations") - writes; n != 0 {
		t.Errorf("a resync with nothing changed wrote %d invitation statuses", n)
	}

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if got := groupsOf(h.Backend, mindy); !slices.Equal(got, []string{"partnerops.globex.editor.viewer", viewer}) {
		t.Errorf("after withdrawing in %s, %s is a member of %v, want only the other member's viewer groups", h.NS, mindy, got)
	}
}

// TestRenamedUserKeepsItsRecord: the partner is withdrawn after an
// administrator renamed its user in the backend. The address finds no user,
// yet the recorded one still holds the grants: the record and the finalizer
// stay, GrantsSynced says why, and once the user has its address back the
// memberships go.
func TestRenamedUserKeepsItsRecord(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.grant("mindy", mindy)
	renamed := "mindy.renamed@globex.example"
	h.Backend.RenameUser(mindy, renamed)

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	inv := h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendRejected)
	if c := condition(inv, v1alpha1.ConditionGrantsSynced); !strings.Contains(c.Message, "renamed in the backend") {
		t.Errorf("GrantsSynced message %q does not say why", c.Message)
	}
	h.Settle()
	inv = h.Invitation("mindy")
	if inv.Status.AppliedGrants == nil || len(inv.Status.AppliedGrants.Groups) != 2 {
		t.Errorf("the record was dropped while the renamed user holds the grants: %+v", inv.Status.AppliedGrants)
	}
	if !slices.Contains(inv.Finalizers, v1alpha1.GrantsFinalizer) {
		t.Error("the finalizer went while the renamed user holds the grants")
	}
	if g := groupsOf(h.Backend, renamed); len(g) != 2 {
		t.Fatalf("the renamed user holds %v", g)
	}

	h.Backend.RenameUser(renamed, mindy)
	touch(t, h, "mindy")
	h.EventuallyStepping("the finalizer to go once the backoff of the failed attempts has passed", 2*time.Second, func() bool {
		return !slices.Contains(h.Invitation("mindy").Finalizers, v1alpha1.GrantsFinalizer)
	})
	if g := groupsOf(h.Backend, mindy); len(g) != 0 {
		t.Errorf("after withdrawing, %s is still a member of %v", mindy, g)
	}
}
