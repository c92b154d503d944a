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
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/token"
)

// The tests of this file hold the grants' trust boundaries (issue 10):
// nothing is granted on status someone else wrote, a removal never breaks
// another partner user's access, one address has one live invitation per
// namespace, a member whose domain is no longer allowed loses access, and a
// failed status write never sends a second link.

// in returns the harness working in namespace ns (one of h.others): the
// same manager, clock, sender and backend.
func (h *harness) in(ns string) *harness {
	c := *h
	c.ns = ns
	return &c
}

const mindy = "mindy@globex.example"

// TestForgedAcceptanceGrantsNothing: an invitation whose status says
// Accepted without a proof the acceptance page made (written by hand, a
// proof copied from another invitation, or one made for another moment)
// gets no grant and costs no backend call; GrantsSynced says why.
func TestForgedAcceptanceGrantsNothing(t *testing.T) {
	h := start(t)
	h.account("globex")
	h.invite("carlos", "carlos@globex.example")
	for _, n := range []string{"nobody", "copied", "moved"} {
		h.invite(n, n+"@globex.example")
		h.waitState(n, v1alpha1.InvitationPendingApproval)
	}
	h.acceptAs("carlos")
	carlos := h.waitCondition("carlos", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
	calls := h.backend.Calls()

	forge := func(proof *v1alpha1.AcceptanceProof, at time.Time) func(*v1alpha1.PartnerInvitation) {
		return func(inv *v1alpha1.PartnerInvitation) {
			if err := testenv.MarkAccepted(context.Background(), env.Client, secretNamespace, inv, at); err != nil {
				t.Fatal(err)
			}
			inv.Status.AcceptanceProof = proof
		}
	}
	now := h.clock.Now()
	h.writeStatus("nobody", forge(nil, now))
	h.writeStatus("copied", forge(carlos.Status.AcceptanceProof, carlos.Status.AcceptedAt.Time))
	moved, err := testenv.AcceptanceProof(context.Background(), env.Client, secretNamespace, h.get("moved"), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h.writeStatus("moved", forge(moved, now))

	for _, n := range []string{"nobody", "copied", "moved"} {
		inv := h.waitCondition(n, v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonAcceptanceUnverified)
		if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonAcceptanceUnverified {
			t.Errorf("%s: Ready = %+v, want False/AcceptanceUnverified", n, c)
		}
		if inv.Status.AppliedGrants != nil || h.backend.HasUser(n+"@globex.example") {
			t.Errorf("%s: granted on a forged acceptance: appliedGrants %+v", n, inv.Status.AppliedGrants)
		}
	}
	if got := h.backend.Calls(); got != calls {
		t.Errorf("forged acceptances cost %d backend calls, want none", got-calls)
	}
}

// TestForeignGroupsInStatusAreLeftAlone: groups written into
// status.appliedGrants that the groupTemplate does not yield for the
// invitation's namespace (another namespace's, or one partnerops never
// made) are never touched, on edit or on withdrawal; GrantsSynced and a
// Warning Event say so.
func TestForeignGroupsInStatusAreLeftAlone(t *testing.T) {
	h := start(t, withNamespaces(1))
	h.account("globex")
	h.invite("mindy", mindy)
	h.acceptAs("mindy")
	h.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)

	foreign := []string{fmt.Sprintf("partnerops.%s.editor.editor", h.others[0]), "admins"}
	for _, g := range foreign {
		h.backend.SeedGroup(g, mindy)
	}
	h.writeStatus("mindy", func(inv *v1alpha1.PartnerInvitation) {
		inv.Status.AppliedGrants.Groups = append(inv.Status.AppliedGrants.Groups, foreign...)
	})
	inv := h.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonGroupNotManaged)
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
	h.eventually("a Warning GroupNotManaged event", func() bool {
		return slices.ContainsFunc(h.events("mindy"), func(e string) bool { return strings.HasPrefix(e, "Warning GroupNotManaged") })
	})

	h.writeStatus("mindy", func(inv *v1alpha1.PartnerInvitation) {
		inv.Status.AppliedGrants.Groups = append(inv.Status.AppliedGrants.Groups, foreign...)
	})
	h.edit("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.waitState("mindy", v1alpha1.InvitationRevoked)
	h.eventually("mindy's own groups to be revoked", func() bool {
		return h.backend.Members(h.group("editor", "editor")) == nil && h.backend.Members(h.group("insights", "editor")) == nil
	})
	for _, g := range foreign {
		if got := h.backend.Members(g); !slices.Equal(got, []string{mindy}) {
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
			h.invite(name, email, func(i *v1alpha1.PartnerInvitation) { i.Spec.Account = account })
			return name
		}
	}
	owned := func(account string) source {
		return func(h *harness, email string) string {
			h.editAccount(account, func(a *v1alpha1.PartnerAccount) {
				a.Spec.Users = append(a.Spec.Users, v1alpha1.PartnerUser{Email: v1alpha1.EmailAddress(email), Role: "viewer", Systems: []v1alpha1.CatalogueKey{"insights"}})
			})
			return v1alpha1.InvitationName(account, email)
		}
	}
	ends := map[string]func(h *harness, name, account string){
		"withdrawn": func(h *harness, name, _ string) {
			h.edit(name, func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
		},
		"expired": func(h *harness, name, _ string) {
			h.stepTo(h.get(name).Status.ExpiresAt.Time)
			h.waitState(name, v1alpha1.InvitationExpired)
		},
		"declined": func(h *harness, name, _ string) {
			h.writeStatus(name, func(inv *v1alpha1.PartnerInvitation) {
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
			h.editAccount(account, func(a *v1alpha1.PartnerAccount) { a.Spec.Users = nil })
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
			h.account("globex")
			h.account("initech", func(a *v1alpha1.PartnerAccount) { a.Spec.DisplayName = "Initech" })
			first := tc.first(h, mindy)
			h.waitExists(first)
			h.waitState(first, v1alpha1.InvitationPendingApproval)
			second := tc.second(h, "MINDY@Globex.example")
			h.waitExists(second)
			inv := h.waitCondition(second, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDuplicateInvitation)
			if inv.Status.State != v1alpha1.InvitationInvalid || !strings.Contains(condition(inv, v1alpha1.ConditionReady).Message, first) {
				t.Errorf("second: state %s, Ready %q: want Invalid naming %s", inv.Status.State, condition(inv, v1alpha1.ConditionReady).Message, first)
			}
			if got := h.recipients(); !slices.Equal(got, []string{mindy}) {
				t.Fatalf("emails went to %v, want only the first invitation's", got)
			}

			ends[tc.end](h, first, tc.firstAccount)
			inv = h.waitCondition(second, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAwaitingAcceptance)
			if inv.Status.State != v1alpha1.InvitationPendingApproval {
				t.Errorf("second after the first ended: %s", inv.Status.State)
			}
			if got := h.recipients(); len(got) != 2 {
				t.Errorf("emails went to %v, want the first's and then the second's", got)
			}
		})
	}
}

// waitExists waits for an invitation (an account's, made by its
// controller) to exist.
func (h *harness) waitExists(name string) {
	h.t.Helper()
	h.eventually("invitation "+name+" to exist", func() bool {
		return env.Client.Get(context.Background(), keyOf(h.ns, name), &v1alpha1.PartnerInvitation{}) == nil
	})
}

func (h *harness) recipients() []string {
	var out []string
	for _, m := range h.sender.messages() {
		out = append(out, m.To)
	}
	return out
}

// editAccount changes an account's spec as a user would.
func (h *harness) editAccount(name string, f func(*v1alpha1.PartnerAccount)) {
	h.t.Helper()
	update(h.t, keyOf(h.ns, name), &v1alpha1.PartnerAccount{}, f)
}

// TestMembershipWantedByAnotherStays: two accepted invitations of one
// address in a namespace (from before the one-live-invitation rule, or
// accepted from two links) share their memberships; withdrawing one keeps
// what the other still wants, and the user; withdrawing the other removes
// both.
func TestMembershipWantedByAnotherStays(t *testing.T) {
	h := start(t)
	h.account("globex")
	h.invite("first", mindy)
	h.acceptAs("first")
	h.waitCondition("first", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
	h.invite("second", mindy, func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.waitCondition("second", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDuplicateInvitation)
	h.writeStatus("second", func(inv *v1alpha1.PartnerInvitation) {
		if err := testenv.MarkAccepted(context.Background(), env.Client, secretNamespace, inv, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
	})
	h.waitCondition("second", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
	id, _ := h.backend.UserID(mindy)

	h.edit("first", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.waitCondition("first", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if got := h.backend.Members(h.group("insights", "editor")); !slices.Equal(got, []string{mindy}) {
		t.Errorf("the membership the second invitation wants holds %v after withdrawing the first", got)
	}
	if got := h.backend.Members(h.group("editor", "editor")); got != nil {
		t.Errorf("the membership only the first wanted holds %v", got)
	}
	if got, _ := h.backend.UserID(mindy); got != id {
		t.Errorf("the user changed from %q to %q", id, got)
	}

	h.edit("second", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.waitCondition("second", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if got := h.backend.Members(h.group("insights", "editor")); got != nil {
		t.Errorf("after withdrawing both, the group holds %v", got)
	}
	if h.backend.HasUser(mindy) {
		t.Error("after withdrawing both, the user partnerops created is still there")
	}
}

// TestUserSharedAcrossNamespaces: two customer accounts (namespaces) invite
// the same address; one member holds no system for a while. Withdrawing one
// invitation keeps the other's backend user (same ID) and memberships;
// systems emptied and given back reuse the same user; the last withdrawal
// deletes it.
func TestUserSharedAcrossNamespaces(t *testing.T) {
	h := start(t, withNamespaces(1))
	o := h.in(h.others[0])
	for _, x := range []*harness{h, o} {
		x.account("globex")
		x.invite("mindy", mindy)
		x.acceptAs("mindy")
		x.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
	}
	id, _ := h.backend.UserID(mindy)

	o.edit("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = nil })
	inv := o.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
	if g := o.backend.Members(o.group("insights", "editor")); g != nil {
		t.Errorf("with no system left, %s still holds %v", o.group("insights", "editor"), g)
	}
	if ag := inv.Status.AppliedGrants; ag == nil || ag.UserID != id || len(ag.Groups) != 0 {
		t.Errorf("a member with no system: appliedGrants %+v, want the user %s and no group", ag, id)
	}

	h.edit("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if got, ok := h.backend.UserID(mindy); !ok || got != id {
		t.Fatalf("withdrawing in %s deleted or replaced the user %s that %s's member holds (now %q)", h.ns, id, o.ns, got)
	}

	o.edit("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	o.eventually("the system given back", func() bool {
		return slices.Equal(o.backend.Members(o.group("insights", "editor")), []string{mindy})
	})
	if got, _ := o.backend.UserID(mindy); got != id {
		t.Errorf("systems given back: user %q, want the same %q", got, id)
	}
	if got := h.backend.Members(h.group("insights", "editor")); got != nil {
		t.Errorf("%s's group holds %v after its withdrawal", h.ns, got)
	}

	o.edit("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	o.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if h.backend.HasUser(mindy) {
		t.Error("after the last withdrawal the user partnerops created is still there")
	}
}

// TestDomainRemovedEndsMembership: when the account's allowedDomains stops
// covering an accepted member, the member's grants are revoked and the
// invitation says why; putting the domain back restores nothing until the
// admin resends and the partner accepts again.
func TestDomainRemovedEndsMembership(t *testing.T) {
	h := start(t)
	h.account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"globex.example"} })
	h.invite("mindy", mindy)
	h.acceptAs("mindy")
	h.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)

	h.editAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"} })
	inv := h.waitCondition("mindy", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDomainNotAllowed)
	h.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
	if inv.Status.State != v1alpha1.InvitationInvalid || inv.Status.AcceptedAt != nil || inv.Status.AcceptanceProof != nil {
		t.Errorf("after the domain left: state %s, acceptedAt %v, proof %v", inv.Status.State, inv.Status.AcceptedAt, inv.Status.AcceptanceProof)
	}
	if c := condition(inv, v1alpha1.ConditionAccepted); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonDomainNotAllowed {
		t.Errorf("Accepted = %+v, want False/DomainNotAllowed", c)
	}
	if h.backend.Members(h.group("insights", "editor")) != nil || h.backend.HasUser(mindy) {
		t.Error("the former member still holds grants or the user partnerops created")
	}

	h.editAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"globex.example"} })
	inv = h.waitState("mindy", v1alpha1.InvitationExpired)
	if c := condition(inv, v1alpha1.ConditionAccepted); c == nil || c.Reason != v1alpha1.ReasonDomainNotAllowed {
		t.Errorf("Accepted = %+v after the domain came back, want it to still say why", c)
	}
	if h.backend.HasUser(mindy) || len(h.sender.messages()) != 1 {
		t.Errorf("the domain coming back restored access (user %v) or sent mail (%d)", h.backend.HasUser(mindy), len(h.sender.messages()))
	}

	h.edit("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 1 })
	inv = h.waitState("mindy", v1alpha1.InvitationPendingApproval)
	if n := len(h.sender.messages()); n != 2 {
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
	h := start(t, func(h *harness) {
		h.inject = func(req *http.Request) *http.Response {
			if req.Method != http.MethodPatch || !strings.HasSuffix(req.URL.Path, "/partnerinvitations/mindy/status") || fired.Swap(true) {
				return nil
			}
			// Another writer gets there first: its write is a watch event.
			inv := &v1alpha1.PartnerInvitation{}
			if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: "mindy"}, inv); err == nil {
				patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/touched":"yes"}}}`))
				_ = env.Client.Patch(context.Background(), inv, patch)
			}
			return conflictResponse(req)
		}
	})
	h.account("globex")
	h.invite("mindy", mindy)
	inv := h.waitState("mindy", v1alpha1.InvitationPendingApproval)
	if !fired.Load() {
		t.Fatal("the conflict was not injected")
	}
	// PendingApproval is written by the reconcile after the conflict: by
	// then a second send would have happened.
	if n := h.sender.attempts(); n != 1 {
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
	h.account("globex")
	h.invite("mindy", mindy)
	h.acceptAs("mindy")
	old := h.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied).Status.AcceptanceProof

	kid, key, err := token.GenerateKeyData()
	if err != nil {
		t.Fatal(err)
	}
	keys := types.NamespacedName{Namespace: secretNamespace, Name: opconfig.DefaultTokenKeysSecret}
	update(t, keys, &corev1.Secret{}, func(s *corev1.Secret) { s.Data[kid] = key })
	h.eventuallyStepping("the proof made anew with the new key", func() bool {
		p := h.get("mindy").Status.AcceptanceProof
		return p != nil && p.KeyID == kid
	})
	update(t, keys, &corev1.Secret{}, func(s *corev1.Secret) { delete(s.Data, old.KeyID) })
	h.clock.Step(h.cfg.IdentityBackend.ResyncInterval.Duration + time.Second)
	h.edit("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.waitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
	if got := h.backend.Members(h.group("editor", "editor")); got != nil {
		t.Errorf("after the old key went, an edit was not applied: %v", got)
	}
}
