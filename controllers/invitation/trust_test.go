package invitation_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/token"
)

// The tests of this file hold the grants' trust boundaries (issue 10):
// nothing is granted on status someone else wrote, a removal never breaks
// another partner user's access, one address has one live invitation per
// namespace, a member whose domain is no longer allowed loses access, and a
// failed status write never sends a second link.

const mindy = "mindy@globex.example"

// TestForgedAcceptanceGrantsNothing: an invitation whose status says
// Accepted without a proof the acceptance page made (written by hand, a
// proof copied from another invitation, or one made for another moment)
// gets no grant and costs no backend call; GrantsSynced says why.
func TestForgedAcceptanceGrantsNothing(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Invite("carlos", "carlos@globex.example")
	for _, n := range []string{"nobody", "copied", "moved"} {
		h.Invite(n, n+"@globex.example")
		h.WaitState(n, v1alpha1.InvitationPendingApproval)
	}
	h.Accept("carlos")
	carlos := h.waitGranted("carlos")
	calls := h.Backend.Calls()

	forge := func(proof *v1alpha1.AcceptanceProof, at time.Time) func(*v1alpha1.PartnerInvitation) {
		return func(inv *v1alpha1.PartnerInvitation) {
			if err := testenv.MarkAccepted(context.Background(), env.Client, secretNamespace, inv, at); err != nil {
				t.Fatal(err)
			}
			inv.Status.AcceptanceProof = proof
		}
	}
	now := h.Clock.Now()
	h.WriteStatus("nobody", forge(nil, now))
	h.WriteStatus("copied", forge(carlos.Status.AcceptanceProof, carlos.Status.AcceptedAt.Time))
	moved, err := testenv.AcceptanceProof(context.Background(), env.Client, secretNamespace, h.Invitation("moved"), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h.WriteStatus("moved", forge(moved, now))

	for _, n := range []string{"nobody", "copied", "moved"} {
		inv := h.WaitCondition(n, v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonAcceptanceUnverified)
		if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonAcceptanceUnverified {
			t.Errorf("%s: Ready = %+v, want False/AcceptanceUnverified", n, c)
		}
		if inv.Status.AppliedGrants != nil || h.Backend.HasUser(n+"@globex.example") {
			t.Errorf("%s: granted on a forged acceptance: appliedGrants %+v", n, inv.Status.AppliedGrants)
		}
	}
	if got := h.Backend.Calls(); got != calls {
		t.Errorf("forged acceptances cost %d backend calls, want none", got-calls)
	}
}

// TestForeignGroupsInStatusAreLeftAlone: groups written into
// status.appliedGrants that the groupTemplate does not yield for the
// invitation's namespace (another namespace's, or one partnerops never
// made) are never touched, on edit or on withdrawal; GrantsSynced and a
// Warning Event say so.
func TestForeignGroupsInStatusAreLeftAlone(t *testing.T) {
	h := start(t, managertest.WithNamespaces(1))
	h.Account("globex")
	h.grant("mindy", mindy)

	foreign := []string{h.in(h.Others[0]).Group("editor", "editor"), "admins"}
	for _, g := range foreign {
		h.Backend.SeedGroup(g, mindy)
	}
	h.WriteStatus("mindy", func(inv *v1alpha1.PartnerInvitation) {
		inv.Status.AppliedGrants.Groups = append(inv.Status.AppliedGrants.Groups, foreign...)
	})
	inv := h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonGroupNotManaged)
	for _, g := range foreign {
		if !strings.Contains(condition(inv, v1alpha1.ConditionGrantsSynced).Message, g) {
			t.Errorf("GrantsSynced does not name %s: %s", g, condition(inv, v1alpha1.ConditionGrantsSynced).Message)
		}
		if slices.Contains(inv.Status.AppliedGrants.Groups, g) {
			t.Errorf("%s is still recorded as partnerops's", g)
		}
	}
	if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v: the invitation's own grants are as asked", c)
	}
	h.Eventually("a Warning GroupNotManaged event", func() bool {
		return slices.ContainsFunc(h.Events("mindy"), func(e string) bool { return strings.HasPrefix(e, "Warning GroupNotManaged") })
	})

	h.WriteStatus("mindy", func(inv *v1alpha1.PartnerInvitation) {
		inv.Status.AppliedGrants.Groups = append(inv.Status.AppliedGrants.Groups, foreign...)
	})
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitState("mindy", v1alpha1.InvitationRevoked)
	h.Eventually("mindy's own groups to be revoked", func() bool {
		return h.Backend.Members(h.Group("editor", "editor")) == nil && h.Backend.Members(h.Group("insights", "editor")) == nil
	})
	for _, g := range foreign {
		if got := h.Backend.Members(g); !slices.Equal(got, []string{mindy}) {
			t.Errorf("group %s, not partnerops's to manage, holds %v after the withdrawal", g, got)
		}
	}
}

// TestOneLiveInvitationPerAddress: for every pair of sources (standalone
// invitations, an account's spec.users, two accounts), the second
// invitation of an address in a namespace is Invalid/DuplicateInvitation,
// naming the live one, and gets no email; when the live one ends
// (withdrawn, expired, declined or deleted) it proceeds by itself.
func TestOneLiveInvitationPerAddress(t *testing.T) {
	type source func(h *harness, email string) string // makes an invitation, returns its name
	standalone := func(name, account string) source {
		return func(h *harness, email string) string {
			h.Invite(name, email, func(i *v1alpha1.PartnerInvitation) { i.Spec.Account = account })
			return name
		}
	}
	owned := func(account string) source {
		return func(h *harness, email string) string {
			h.EditAccount(account, func(a *v1alpha1.PartnerAccount) {
				a.Spec.Users = append(a.Spec.Users, v1alpha1.PartnerUser{Email: v1alpha1.EmailAddress(email), Role: "viewer", Systems: []v1alpha1.CatalogueKey{"insights"}})
			})
			return v1alpha1.InvitationName(account, email)
		}
	}
	ends := map[string]func(h *harness, name, account string){
		"withdrawn": func(h *harness, name, _ string) {
			h.EditInvitation(name, func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
		},
		"expired": func(h *harness, name, _ string) {
			h.StepTo(h.Invitation(name).Status.ExpiresAt.Time)
			h.WaitState(name, v1alpha1.InvitationExpired)
		},
		"declined": func(h *harness, name, _ string) {
			h.WriteStatus(name, func(inv *v1alpha1.PartnerInvitation) {
				inv.Status.State = v1alpha1.InvitationRevoked
				for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionReady} {
					st := metav1.ConditionTrue
					if typ == v1alpha1.ConditionAccepted {
						st = metav1.ConditionFalse
					}
					meta.SetStatusCondition(&inv.Status.Conditions, metav1.Condition{Type: typ, Status: st, Reason: v1alpha1.ReasonDeclined,
						Message: "The partner declined the invitation", ObservedGeneration: inv.Generation})
				}
			})
		},
		"deleted": func(h *harness, _, account string) {
			h.EditAccount(account, func(a *v1alpha1.PartnerAccount) { a.Spec.Users = nil })
		},
	}
	for _, tc := range []struct {
		name          string
		first, second source
		firstAccount  string
		end           string
	}{
		{"two standalone invitations", standalone("first", "globex"), standalone("second", "globex"), "globex", "withdrawn"},
		{"an account's user, then a standalone invitation", owned("globex"), standalone("second", "initech"), "globex", "expired"},
		{"a standalone invitation, then an account's user", standalone("first", "globex"), owned("initech"), "globex", "declined"},
		{"the users of two accounts", owned("globex"), owned("initech"), "globex", "deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t)
			h.Account("globex")
			h.Account("initech", func(a *v1alpha1.PartnerAccount) { a.Spec.DisplayName = "Initech" })
			first := tc.first(h, mindy)
			h.WaitExists(&v1alpha1.PartnerInvitation{}, first)
			h.WaitState(first, v1alpha1.InvitationPendingApproval)
			second := tc.second(h, "MINDY@Globex.example")
			h.WaitExists(&v1alpha1.PartnerInvitation{}, second)
			inv := h.WaitCondition(second, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDuplicateInvitation)
			if inv.Status.State != v1alpha1.InvitationInvalid || !strings.Contains(condition(inv, v1alpha1.ConditionReady).Message, first) {
				t.Errorf("second: state %s, Ready %q: want Invalid naming %s", inv.Status.State, condition(inv, v1alpha1.ConditionReady).Message, first)
			}
			if got := h.Sender.Recipients(); !slices.Equal(got, []string{mindy}) {
				t.Fatalf("emails went to %v, want only the first invitation's", got)
			}

			ends[tc.end](h, first, tc.firstAccount)
			inv = h.WaitCondition(second, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAwaitingAcceptance)
			if inv.Status.State != v1alpha1.InvitationPendingApproval {
				t.Errorf("second after the first ended: %s", inv.Status.State)
			}
			if got := h.Sender.Recipients(); len(got) != 2 {
				t.Errorf("emails went to %v, want the first's and then the second's", got)
			}
		})
	}
}

// TestMembershipWantedByAnotherStays: two accepted invitations of one
// address in a namespace (from before the one-live-invitation rule, or
// accepted from two links) share their memberships; withdrawing one keeps
// what the other still wants, and the user; withdrawing the other removes
// both.
func TestMembershipWantedByAnotherStays(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.grant("first", mindy)
	h.Invite("second", mindy, func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.WaitCondition("second", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDuplicateInvitation)
	h.WriteStatus("second", func(inv *v1alpha1.PartnerInvitation) {
		if err := testenv.MarkAccepted(context.Background(), env.Client, secretNamespace, inv, h.Clock.Now()); err != nil {
			t.Fatal(err)
		}
	})
	h.waitGranted("second")
	id, _ := h.Backend.UserID(mindy)

	h.EditInvitation("first", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitCondition("first", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if got := h.Backend.Members(h.Group("insights", "editor")); !slices.Equal(got, []string{mindy}) {
		t.Errorf("the membership the second invitation wants holds %v after withdrawing the first", got)
	}
	if got := h.Backend.Members(h.Group("editor", "editor")); got != nil {
		t.Errorf("the membership only the first wanted holds %v", got)
	}
	if got, _ := h.Backend.UserID(mindy); got != id {
		t.Errorf("the user changed from %q to %q", id, got)
	}

	h.EditInvitation("second", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitCondition("second", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if got := h.Backend.Members(h.Group("insights", "editor")); got != nil {
		t.Errorf("after withdrawing both, the group holds %v", got)
	}
	if h.Backend.HasUser(mindy) {
		t.Error("after withdrawing both, the user partnerops created is still there")
	}
}

// TestUserSharedAcrossNamespaces: two customer accounts (namespaces) invite
// the same address; one member holds no system for a while. Withdrawing one
// invitation keeps the other's backend user (same ID) and memberships;
// systems emptied and given back reuse the same user; the last withdrawal
// deletes it.
func TestUserSharedAcrossNamespaces(t *testing.T) {
	h := start(t, managertest.WithNamespaces(1))
	o := h.in(h.Others[0])
	for _, x := range []*harness{h, o} {
		x.Account("globex")
		x.grant("mindy", mindy)
	}
	id, _ := h.Backend.UserID(mindy)

	o.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = nil })
	inv := o.waitGranted("mindy")
	if g := o.Backend.Members(o.Group("insights", "editor")); g != nil {
		t.Errorf("with no system left, %s still holds %v", o.Group("insights", "editor"), g)
	}
	if ag := inv.Status.AppliedGrants; ag == nil || ag.UserID != id || len(ag.Groups) != 0 {
		t.Errorf("a member with no system: appliedGrants %+v, want the user %s and no group", ag, id)
	}

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if got, ok := h.Backend.UserID(mindy); !ok || got != id {
		t.Fatalf("withdrawing in %s deleted or replaced the user %s that %s's member holds (now %q)", h.NS, id, o.NS, got)
	}

	o.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	o.Eventually("the system given back", func() bool {
		return slices.Equal(o.Backend.Members(o.Group("insights", "editor")), []string{mindy})
	})
	if got, _ := o.Backend.UserID(mindy); got != id {
		t.Errorf("systems given back: user %q, want the same %q", got, id)
	}
	if got := h.Backend.Members(h.Group("insights", "editor")); got != nil {
		t.Errorf("%s's group holds %v after its withdrawal", h.NS, got)
	}

	o.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	o.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if h.Backend.HasUser(mindy) {
		t.Error("after the last withdrawal the user partnerops created is still there")
	}
}

// TestMemberWithNoGrantDoesNotHoldTheUser: a member in another namespace
// who holds no grant (accepted with no system: no finalizer, no record)
// does not keep the user partnerops created alive when the last member
// with grants leaves; it would never ask the backend when it leaves, and
// the user would stay for good.
func TestMemberWithNoGrantDoesNotHoldTheUser(t *testing.T) {
	h := start(t, managertest.WithNamespaces(1))
	o := h.in(h.Others[0])
	h.Account("globex")
	h.grant("mindy", mindy)
	o.Account("globex")
	o.Invite("mindy", mindy, func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = nil })
	o.Accept("mindy")
	o.WaitState("mindy", v1alpha1.InvitationAccepted)

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if h.Backend.HasUser(mindy) {
		t.Errorf("the user partnerops created stays, held by %s's member who holds no grant", o.NS)
	}
}

// TestDomainRemovedEndsMembership: when the account's allowedDomains stops
// covering an accepted member, the member's grants are revoked and the
// invitation says why; putting the domain back restores nothing until the
// admin resends and the partner accepts again.
func TestDomainRemovedEndsMembership(t *testing.T) {
	h := start(t)
	h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"globex.example"} })
	h.grant("mindy", mindy)

	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"} })
	inv := h.WaitCondition("mindy", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDomainNotAllowed)
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if inv.Status.State != v1alpha1.InvitationInvalid || inv.Status.AcceptedAt != nil || inv.Status.AcceptanceProof != nil {
		t.Errorf("after the domain left: state %s, acceptedAt %v, proof %v", inv.Status.State, inv.Status.AcceptedAt, inv.Status.AcceptanceProof)
	}
	if c := condition(inv, v1alpha1.ConditionAccepted); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonDomainNotAllowed {
		t.Errorf("Accepted = %+v, want False/DomainNotAllowed", c)
	}
	if h.Backend.Members(h.Group("insights", "editor")) != nil || h.Backend.HasUser(mindy) {
		t.Error("the former member still holds grants or the user partnerops created")
	}

	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"globex.example"} })
	inv = h.WaitState("mindy", v1alpha1.InvitationExpired)
	if c := condition(inv, v1alpha1.ConditionAccepted); c == nil || c.Reason != v1alpha1.ReasonDomainNotAllowed {
		t.Errorf("Accepted = %+v after the domain came back, want it to still say why", c)
	}
	if h.Backend.HasUser(mindy) || len(h.Sender.Sent()) != 1 {
		t.Errorf("the domain coming back restored access (user %v) or sent mail (%d)", h.Backend.HasUser(mindy), len(h.Sender.Sent()))
	}

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 1 })
	inv = h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	if n := len(h.Sender.Sent()); n != 2 {
		t.Errorf("after the resend: %d emails, want 2", n)
	}
	if c := condition(inv, v1alpha1.ConditionAccepted); c == nil || c.Reason != v1alpha1.ReasonAwaitingAcceptance {
		t.Errorf("Accepted after the resend = %+v, want AwaitingAcceptance", c)
	}
}

// TestConflictAfterSendSendsOnce: the status write that records a sent
// email conflicts with another writer; the next reconcile writes the same
// send again instead of sending a second email with a second live link.
func TestConflictAfterSendSendsOnce(t *testing.T) {
	var fired atomic.Bool
	h := start(t, func(h *managertest.Manager) {
		h.Inject = func(req *http.Request) *http.Response {
			if req.Method != http.MethodPatch || !strings.HasSuffix(req.URL.Path, "/partnerinvitations/mindy/status") || fired.Swap(true) {
				return nil
			}
			// Another writer gets there first: its write is a watch event.
			inv := &v1alpha1.PartnerInvitation{}
			if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: h.NS, Name: "mindy"}, inv); err == nil {
				patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/touched":"yes"}}}`))
				_ = env.Client.Patch(context.Background(), inv, patch)
			}
			return conflictResponse(req)
		}
	})
	h.Account("globex")
	h.Invite("mindy", mindy)
	inv := h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	if !fired.Load() {
		t.Fatal("the conflict was not injected")
	}
	// PendingApproval is written by the reconcile after the conflict: by
	// then a second send would have happened.
	if n := h.Sender.Attempts(); n != 1 {
		t.Fatalf("%d emails sent for one resend generation, want 1", n)
	}
	if inv.Status.SentAt == nil || !inv.Status.ExpiresAt.Time.Equal(t0.Add(v1alpha1.DefaultInvitationTTL)) {
		t.Errorf("status after the rewrite: sentAt %v, expiresAt %v", inv.Status.SentAt, inv.Status.ExpiresAt)
	}
}

func conflictResponse(req *http.Request) *http.Response {
	body := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","code":409}`
	return &http.Response{
		StatusCode: http.StatusConflict, Status: "409 Conflict", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(body)),
		Request: req, ContentLength: int64(len(body)),
	}
}

// TestKeyRotationKeepsMembers: after a key is added to the keys Secret,
// members' acceptance proofs move to it within one resync interval, so the
// old key can then be removed without any member losing their proven
// acceptance.
func TestKeyRotationKeepsMembers(t *testing.T) {
	h := start(t)
	h.Account("globex")
	old := h.grant("mindy", mindy).Status.AcceptanceProof

	kid := addKey(t)
	h.EventuallyStepping("the proof made anew with the new key", 2*time.Second, func() bool {
		p := h.Invitation("mindy").Status.AcceptanceProof
		return p != nil && p.KeyID == kid
	})
	editKeys(t, func(data map[string][]byte) { delete(data, old.KeyID) })
	h.Clock.Step(h.Config.IdentityBackend.ResyncInterval.Duration + time.Second)
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.waitGranted("mindy")
	if got := h.Backend.Members(h.Group("editor", "editor")); got != nil {
		t.Errorf("after the old key went, an edit was not applied: %v", got)
	}
}

// TestKeyPutBackVerifiesAgain: a member whose proof's key was removed
// before the proof moved to the new one is AcceptanceUnverified; once the
// key is put back, the member is looked at again within the resync
// interval (the keys Secret is not watched), and verifies.
func TestKeyPutBackVerifiesAgain(t *testing.T) {
	h := start(t)
	h.Account("globex")
	old := h.grant("mindy", mindy).Status.AcceptanceProof
	addKey(t)
	var oldKey []byte
	editKeys(t, func(data map[string][]byte) {
		oldKey = data[old.KeyID]
		delete(data, old.KeyID)
	})
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Labels = map[string]string{"poke": "1"} })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonAcceptanceUnverified)
	// The resync timer of the last grant fires while the key is still
	// missing: from then on only AcceptanceUnverified's own requeue looks
	// again.
	every := h.Config.IdentityBackend.ResyncInterval.Duration + time.Second
	h.Settle()
	h.Clock.Step(every)
	h.Settle()

	editKeys(t, func(data map[string][]byte) { data[old.KeyID] = oldKey })
	h.Settle()
	h.Clock.Step(every)
	h.waitGranted("mindy")
}

// TestKeysUnreadableHoldNoRevocation: with the keys Secret broken (a key
// too short, added by hand), no acceptance proof can be checked: members
// keep what they have and gain nothing, but partners on their way out
// (withdrawn, removed) lose their grants all the same, since a revocation
// never needs the proof.
func TestKeysUnreadableHoldNoRevocation(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.grant("mindy", mindy)
	h.grant("carlos", "carlos@globex.example")
	h.grant("zoe", "zoe@globex.example")

	editKeys(t, func(data map[string][]byte) { data["short"] = []byte("too short") })
	t.Cleanup(func() { editKeys(t, func(data map[string][]byte) { delete(data, "short") }) })
	// Wait until the manager's cache has the broken Secret: an edit of a
	// member then fails (its proof cannot be checked), and is not applied.
	errs := func() float64 {
		return managertest.Metric(t, "controller_runtime_reconcile_errors_total", map[string]string{"controller": "partnerinvitation"})
	}
	before := errs()
	h.EditInvitation("zoe", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.Eventually("the broken keys to hold a member's edit", func() bool { return errs() > before })

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	if err := env.Client.Delete(context.Background(), h.Invitation("carlos")); err != nil {
		t.Fatal(err)
	}
	h.EventuallyStepping("the withdrawn and the removed partner to lose their grants", 2*time.Second, func() bool {
		return len(groupsOf(h.Backend, mindy)) == 0 && !h.Backend.HasUser(mindy) && !h.Exists(&v1alpha1.PartnerInvitation{}, "carlos")
	})
	if got := groupsOf(h.Backend, "zoe@globex.example"); len(got) != 2 {
		t.Errorf("with the keys unreadable, the member zoe is in %v: want her two groups as they were", got)
	}
}

// TestAcceptedGoesFalseWhenTheMemberGoes: `kubectl wait
// --for=condition=Accepted` must never return for someone who is gone:
// withdrawing an accepted user turns Accepted False (Withdrawn), and so does
// deleting their invitation (Removed) while their grants are revoked.
func TestAcceptedGoesFalseWhenTheMemberGoes(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.grant("mindy", mindy)
	h.grant("carlos", "carlos@globex.example")

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitCondition("mindy", v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonWithdrawn)

	// The backend down holds the deletion while its grants wait to go.
	h.Backend.SetDown(fmt.Errorf("%w: connection refused", identity.ErrUnavailable))
	if err := env.Client.Delete(context.Background(), h.Invitation("carlos")); err != nil {
		t.Fatal(err)
	}
	inv := h.WaitCondition("carlos", v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonRemoved)
	if inv.Status.AcceptedAt == nil {
		t.Error("the record of the acceptance went with the removal")
	}
	h.Backend.SetDown(nil)
	h.EventuallyStepping("carlos's invitation gone once its grants are revoked", 2*time.Second, func() bool {
		return !h.Exists(&v1alpha1.PartnerInvitation{}, "carlos")
	})
}

// editKeys changes the data of the link-signing keys' Secret.
func editKeys(t *testing.T, f func(data map[string][]byte)) {
	t.Helper()
	keys := types.NamespacedName{Namespace: secretNamespace, Name: opconfig.DefaultTokenKeysSecret}
	managertest.Update(t, env.Client, keys, &corev1.Secret{}, func(s *corev1.Secret) { f(s.Data) })
}

// addKey adds a fresh key to the keys Secret (the newest: the one that
// signs) and returns its id.
func addKey(t *testing.T) string {
	t.Helper()
	kid, key, err := token.GenerateKeyData()
	if err != nil {
		t.Fatal(err)
	}
	editKeys(t, func(data map[string][]byte) { data[kid] = key })
	return kid
}
