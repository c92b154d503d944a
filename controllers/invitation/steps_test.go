package invitation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/identitytest"
	"github.com/partnerops/partnerops/internal/ratelimit"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/smtp/smtptest"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/token"
)

// The tests of this file run one step of Reconcile (load, ensureFinalizer,
// send, writeStatus) over controller-runtime's fake client, so that a
// failure points at that step; the controller as a whole is tested against
// the API server (harness_test.go).

// steps is a Reconciler over a fake client holding objs, with requests
// failing as funcs says, the in-memory sender and backend, the fake clock
// at d0 and one link-signing key.
type steps struct {
	*Reconciler
	sender *smtptest.Sender
	// writes counts the Patch and status Patch requests that reached the
	// fake client.
	writes int
}

func newSteps(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) *steps {
	t.Helper()
	keys, err := token.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(d0)
	s := &steps{sender: &smtptest.Sender{}}
	patch, statusPatch := funcs.Patch, funcs.SubResourcePatch
	funcs.Patch = func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
		s.writes++
		if patch != nil {
			return patch(ctx, c, obj, p, opts...)
		}
		return c.Patch(ctx, obj, p, opts...)
	}
	funcs.SubResourcePatch = func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
		s.writes++
		if statusPatch != nil {
			return statusPatch(ctx, c, sub, obj, p, opts...)
		}
		return c.SubResource(sub).Patch(ctx, obj, p, opts...)
	}
	s.Reconciler = &Reconciler{
		Client:    testenv.FakeClient(objs...).WithInterceptorFuncs(funcs).Build(),
		Config:    decideConfig(),
		Clock:     clk,
		Sender:    s.sender,
		Signer:    token.NewSigner(token.StaticKeys{K: keys}, clk),
		Backend:   &identitytest.Fake{CreateGroups: true},
		Limiter:   ratelimit.New(clk, 1000, 1000),
		Templates: i18n.NewConfigMapTemplates(nil, "", ""),
	}
	return s
}

// stored is a pending invitation of account globex as the API server holds
// it (UID, generation, resource version).
func stored(opts ...invOpt) *v1alpha1.PartnerInvitation {
	inv := newInv(opts...)
	inv.UID, inv.Generation, inv.ResourceVersion = "u-1", 1, "7"
	return inv
}

func conflict(obj client.Object) error {
	return apierrors.NewConflict(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "partnerinvitations"}, obj.GetName(), errors.New("the object has been modified"))
}

// A send whose status write conflicts with another writer is not an error
// (the other write is an event that brings the invitation back), and the
// next send step re-applies that outcome instead of sending a second email
// with a second live link; once a write lands, the step waits for the
// cache instead of sending.
func TestSendOutcomeOutlivesAConflictedWrite(t *testing.T) {
	ctx := context.Background()
	inv := stored()
	conflicts := true
	s := newSteps(t, interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
		if conflicts {
			return conflict(obj)
		}
		return c.SubResource(sub).Patch(ctx, obj, p, opts...)
	}}, inv, newAccount())

	in := input{inv: inv.DeepCopy(), account: newAccount(), cfg: s.Config, now: d0}
	out := &sendOutcome{uid: inv.UID, sentAt: &metav1.Time{Time: d0}, expiresAt: &metav1.Time{Time: d0.Add(time.Hour)},
		emailSent: metav1.Condition{Type: v1alpha1.ConditionEmailSent, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSent, LastTransitionTime: metav1.Time{Time: d0}}}
	in.send = &sendResult{outcome: out}
	res, err := s.writeStatus(ctx, in.inv, in.send, decide(in))
	if err != nil || res.RequeueAfter != 0 {
		t.Fatalf("writeStatus after a conflict = %+v, %v; want no error and no requeue (the event brings it back)", res, err)
	}

	again, err := s.send(ctx, inv.DeepCopy(), input{inv: inv, account: newAccount(), cfg: s.Config, now: d0.Add(time.Minute)})
	if err != nil || again == nil || again.outcome == nil || !again.outcome.sentAt.Equal(out.sentAt) {
		t.Fatalf("the send after the conflict = %+v, %v; want the remembered outcome (sent at %v)", again, err, out.sentAt)
	}
	if n := s.sender.Attempts(); n != 0 {
		t.Errorf("the send step sent %d emails; want the remembered outcome written again", n)
	}

	conflicts = false
	if _, err := s.writeStatus(ctx, inv.DeepCopy(), again, decide(input{inv: inv, account: newAccount(), cfg: s.Config, now: d0, send: again})); err != nil {
		t.Fatal(err)
	}
	if r, err := s.send(ctx, inv.DeepCopy(), input{inv: inv, account: newAccount(), cfg: s.Config, now: d0}); err != nil || r == nil || !r.waiting {
		t.Errorf("the send on a cache older than the landed write = %+v, %v; want waiting", r, err)
	}
	if n := s.sender.Attempts(); n != 0 {
		t.Errorf("%d emails sent; want none", n)
	}
}

// Two invitations of one address created in the same second: the one
// whose name sorts last is reconciled first, before the other is in the
// cache, and sends; its status write has not reached the cache (here: it
// conflicts) when the other is reconciled. The other must not win the tie
// by its name and send a second email (killing the first link): the send
// the manager remembers counts as the first one's pending status.
func TestSiblingSentButNotYetCachedIsLive(t *testing.T) {
	ctx := context.Background()
	s, zeta, alpha := sameSecondSiblings(t)
	if _, err := s.Reconcile(ctx, reconcile.Request{NamespacedName: keyOf(zeta)}); err != nil {
		t.Fatal(err)
	}
	if n := s.sender.Attempts(); n != 1 {
		t.Fatalf("zeta: %d emails, want 1", n)
	}
	if err := s.Client.Create(ctx, alpha); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reconcile(ctx, reconcile.Request{NamespacedName: keyOf(alpha)}); err != nil {
		t.Fatal(err)
	}
	if n := s.sender.Attempts(); n != 1 {
		t.Errorf("%d emails to one address: alpha, created in the same second as zeta, won the tie by its name while zeta's email was out", n)
	}
}

// A remembered send of a sibling that has ended since (here its account
// went: Revoked) does not make it live again: a new invitation of the
// address is not held as its duplicate for good.
func TestEndedSiblingsSendIsNotLive(t *testing.T) {
	ctx := context.Background()
	s, zeta, alpha := sameSecondSiblings(t)
	zeta.Spec.Resend = 1
	s.sent.sent(keyOf(zeta), sendOutcome{uid: zeta.UID, resend: 1, sentAt: &metav1.Time{Time: d0}, expiresAt: &metav1.Time{Time: d0.Add(time.Hour)}})
	zeta.Status.State = v1alpha1.InvitationRevoked
	alpha.CreationTimestamp = metav1.NewTime(d0)
	in, err := s.load(ctx, alpha)
	if err != nil {
		t.Fatal(err)
	}
	in.siblings = s.sent.overlay([]v1alpha1.PartnerInvitation{*zeta})
	if d := decide(in); !d.wantSend || d.problem != nil {
		t.Errorf("alpha beside a Revoked zeta with a remembered send: wantSend %v, problem %+v; want it sent", d.wantSend, d.problem)
	}
}

// The same race with both reconciles at once: alpha, created while zeta's
// email is on its way (zeta decided alone), is reconciled before zeta's
// send is remembered. Reconciles of one address wait for each other, so
// alpha decides once zeta's send is known.
func TestSiblingsOfOneAddressDecideInTurn(t *testing.T) {
	ctx := context.Background()
	s, zeta, alpha := sameSecondSiblings(t)
	alphaDone := make(chan error, 1)
	s.sender.FailWith(func(n int, _ *smtp.Message) error {
		if n != 1 {
			return nil
		}
		if err := s.Client.Create(ctx, alpha); err != nil {
			return err
		}
		go func() {
			_, err := s.Reconcile(ctx, reconcile.Request{NamespacedName: keyOf(alpha)})
			alphaDone <- err
		}()
		select { // room for alpha to decide while zeta's email is out
		case err := <-alphaDone:
			alphaDone <- err
		case <-time.After(300 * time.Millisecond):
		}
		return nil
	})
	if _, err := s.Reconcile(ctx, reconcile.Request{NamespacedName: keyOf(zeta)}); err != nil {
		t.Fatal(err)
	}
	if err := <-alphaDone; err != nil {
		t.Fatal(err)
	}
	if n := len(s.sender.Sent()); n != 1 {
		t.Errorf("%d emails to one address: alpha decided while zeta's email was out", n)
	}
}

// ensureFinalizer writes (its own patch) only when grants are due: a
// member with groups to hold whose account holds the grants finalizer, and
// not already there.
func TestEnsureFinalizerWritesOnlyWhenGrantsAreDue(t *testing.T) {
	due := &grantsPlan{member: true, desired: []string{"partnerops.acme.insights.editor"}}
	held := func(a *v1alpha1.PartnerAccount) *v1alpha1.PartnerAccount {
		a.Finalizers = []string{v1alpha1.GrantsFinalizer}
		return a
	}
	cases := map[string]struct {
		inv     *v1alpha1.PartnerInvitation
		account *v1alpha1.PartnerAccount
		plan    *grantsPlan
		noBack  bool
		want    bool
	}{
		"grants due":                        {inv: stored(), account: held(newAccount()), plan: due, want: true},
		"no plan (grants not proven)":       {inv: stored(), account: held(newAccount()), plan: nil},
		"not a member":                      {inv: stored(), account: held(newAccount()), plan: &grantsPlan{desired: due.desired}},
		"a member with no group":            {inv: stored(), account: held(newAccount()), plan: &grantsPlan{member: true}},
		"the account without its finalizer": {inv: stored(), account: newAccount(), plan: due},
		"no account":                        {inv: stored(), plan: due},
		"already there": {inv: stored(func(i *v1alpha1.PartnerInvitation) { i.Finalizers = []string{v1alpha1.GrantsFinalizer} }),
			account: held(newAccount()), plan: due},
		"no identity backend": {inv: stored(), account: held(newAccount()), plan: due, noBack: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newSteps(t, interceptor.Funcs{}, tc.inv)
			if tc.noBack {
				s.Backend = nil
			}
			added, err := s.ensureFinalizer(context.Background(), tc.inv.DeepCopy(), tc.account, tc.plan)
			if err != nil || added != tc.want {
				t.Fatalf("ensureFinalizer = %v, %v; want %v", added, err, tc.want)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.want]; s.writes != want {
				t.Errorf("%d writes; want %d", s.writes, want)
			}
			got := &v1alpha1.PartnerInvitation{}
			if err := s.Client.Get(context.Background(), keyOf(tc.inv), got); err != nil {
				t.Fatal(err)
			}
			if has := len(got.Finalizers) == 1; has != (tc.want || len(tc.inv.Finalizers) == 1) {
				t.Errorf("finalizers after the step: %v", got.Finalizers)
			}
		})
	}
}

// load reports an acceptance proof that does not verify as input for
// decide (in.proof), not as an error; an error is one of reading.
func TestLoadReportsABadProofAsInput(t *testing.T) {
	accepted := func(i *v1alpha1.PartnerInvitation) {
		at := metav1.NewTime(d0.Add(-time.Minute))
		i.Status.State, i.Status.AcceptedAt = v1alpha1.InvitationAccepted, &at
		i.Status.AcceptanceProof = &v1alpha1.AcceptanceProof{KeyID: "k1", MAC: strings.Repeat("A", 43)}
	}
	t.Run("a proof that does not verify", func(t *testing.T) {
		inv := stored(accepted)
		s := newSteps(t, interceptor.Funcs{}, inv, newAccount())
		in, err := s.load(context.Background(), inv)
		if err != nil {
			t.Fatalf("load = %v; want the verdict in its input, not an error", err)
		}
		if !errors.Is(in.proof, token.ErrProofInvalid) || in.account == nil || in.reproof != nil {
			t.Errorf("proof %v, account %v, reproof %v; want ErrProofInvalid with the account and no proof made anew", in.proof, in.account, in.reproof)
		}
	})
	t.Run("a proof that verifies", func(t *testing.T) {
		inv := stored(accepted)
		s := newSteps(t, interceptor.Funcs{}, inv, newAccount())
		p, err := s.Signer.ProveAcceptance(context.Background(), acceptanceOf(inv))
		if err != nil {
			t.Fatal(err)
		}
		inv.Status.AcceptanceProof = &v1alpha1.AcceptanceProof{KeyID: p.KeyID, MAC: p.MAC}
		in, err := s.load(context.Background(), inv)
		if err != nil || in.proof != nil || in.reproof == nil || *in.reproof != *inv.Status.AcceptanceProof {
			t.Errorf("load = proof %v, reproof %+v, %v; want verified, and the same proof from the same key", in.proof, in.reproof, err)
		}
	})
	t.Run("keys that cannot be read", func(t *testing.T) {
		inv := stored(accepted)
		s := newSteps(t, interceptor.Funcs{}, inv, newAccount())
		s.Signer = token.NewSigner(token.StaticKeys{}, s.Clock)
		in, err := s.load(context.Background(), inv)
		if err != nil || in.unchecked == nil || in.proof != nil || in.reproof != nil {
			t.Errorf("load without keys = unchecked %v, proof %v, reproof %v, %v; want the failure as unchecked, never a verdict on the proof, and the rest loaded (a revocation needs no proof)",
				in.unchecked, in.proof, in.reproof, err)
		}
	})
	t.Run("no account", func(t *testing.T) {
		inv := stored()
		s := newSteps(t, interceptor.Funcs{}, inv)
		if in, err := s.load(context.Background(), inv); err != nil || in.account != nil {
			t.Errorf("load = account %v, %v; want none and no error (decide says AccountNotFound)", in.account, err)
		}
	})
	t.Run("no spec.account: the account the domain chooses", func(t *testing.T) {
		inv := stored(func(i *v1alpha1.PartnerInvitation) { i.Spec.Account, i.Spec.Email = "", "mindy@eu.globex.example" })
		eu := newAccount("eu.globex.example")
		eu.Name = "globex-eu"
		s := newSteps(t, interceptor.Funcs{}, inv, newAccount("globex.example"), eu)
		if in, err := s.load(context.Background(), inv); err != nil || in.account == nil || in.account.Name != "globex-eu" || in.unmatched != nil {
			t.Errorf("load = account %v (%+v), %v; want globex-eu, the most specific", in.account, in.unmatched, err)
		}
	})
	t.Run("no spec.account and no account for the domain", func(t *testing.T) {
		inv := stored(func(i *v1alpha1.PartnerInvitation) { i.Spec.Account = "" })
		s := newSteps(t, interceptor.Funcs{}, inv, newAccount("initech.example"))
		if in, err := s.load(context.Background(), inv); err != nil || in.account != nil || in.unmatched == nil || in.unmatched.Reason != v1alpha1.ReasonNoAccountForDomain {
			t.Errorf("load = account %v, %+v, %v; want none, NoAccountForDomain and no error", in.account, in.unmatched, err)
		}
	})
	t.Run("joined by domain before: the recorded account, not a new choice", func(t *testing.T) {
		inv := stored(func(i *v1alpha1.PartnerInvitation) {
			i.Spec.Account, i.Spec.Email, i.Status.Account, i.Status.AccountUID = "", "mindy@eu.globex.example", "globex", "a-1"
		})
		eu := newAccount("eu.globex.example")
		eu.Name = "globex-eu"
		s := newSteps(t, interceptor.Funcs{}, inv, newAccount("globex.example"), eu)
		if in, err := s.load(context.Background(), inv); err != nil || in.account == nil || in.account.Name != "globex" {
			t.Errorf("load = account %v, %v; want globex, the account recorded", in.account, err)
		}
	})
	t.Run("the accounts cannot be listed", func(t *testing.T) {
		inv := stored(func(i *v1alpha1.PartnerInvitation) { i.Spec.Account = "" })
		s := newSteps(t, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*v1alpha1.PartnerAccountList); ok {
				return apierrors.NewServiceUnavailable("etcd is down")
			}
			return c.List(ctx, list, opts...)
		}}, inv, newAccount())
		if _, err := s.load(context.Background(), inv); err == nil {
			t.Error("load succeeded without the accounts; want the read error (never NoAccountForDomain)")
		}
	})
	t.Run("the account cannot be read", func(t *testing.T) {
		inv := stored()
		s := newSteps(t, interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*v1alpha1.PartnerAccount); ok {
				return apierrors.NewServiceUnavailable("etcd is down")
			}
			return c.Get(ctx, key, obj, opts...)
		}}, inv, newAccount())
		if _, err := s.load(context.Background(), inv); err == nil {
			t.Error("load succeeded without its account; want the read error")
		}
	})
}

// TestLeaversDoNotHoldTheUserForEachOther: the address is withdrawn in two
// namespaces at once, and each invitation still sees the other's record
// (the cache lags the other's status write). The one that finds the user
// in no group deletes it: nothing runs either of them again, so a user
// kept here would stay in the backend for good.
func TestLeaversDoNotHoldTheUserForEachOther(t *testing.T) {
	leaving := func(ns, uid string) *v1alpha1.PartnerInvitation {
		inv := stored(func(i *v1alpha1.PartnerInvitation) {
			i.Namespace, i.Spec.Revoked = ns, true
			i.Status.State, i.Status.RevokedReason = v1alpha1.InvitationRevoked, v1alpha1.RevokedWithdrawn
			i.Status.AppliedGrants = &v1alpha1.AppliedGrants{Backend: "scim", UserCreated: true,
				Groups: []string{"partnerops." + ns + ".insights.editor"}}
		})
		inv.UID = types.UID(uid)
		return inv
	}
	a, b := leaving("acme", "u-a"), leaving("initech", "u-b")
	s := newSteps(t, interceptor.Funcs{}, a, b)
	ctx := context.Background()
	user, err := s.Backend.EnsureUser(ctx, identity.NewUser{Email: string(b.Spec.Email)})
	if err != nil {
		t.Fatal(err)
	}
	a.Status.AppliedGrants.UserID, b.Status.AppliedGrants.UserID = user.ID, user.ID
	// a's membership is gone already (its record not yet cleared); b's is
	// still there.
	if err := s.Backend.AddMember(ctx, b.Status.AppliedGrants.Groups[0], user); err != nil {
		t.Fatal(err)
	}

	res := s.applyGrants(ctx, b, nil, &grantsPlan{}, d0)
	if res.err != nil || res.record != nil {
		t.Fatalf("applyGrants = record %+v, err %v", res.record, res.err)
	}
	fake := s.Backend.(*identitytest.Fake)
	if fake.HasUser(string(b.Spec.Email)) {
		t.Error("the user partnerops created was kept for an invitation that is itself leaving")
	}
}

// sameSecondSiblings are two invitations of one address created in the
// same second, zeta (stored) and alpha (to create), and steps that send
// emails and whose status writes all conflict (the cache never shows them).
func sameSecondSiblings(t *testing.T) (s *steps, zeta, alpha *v1alpha1.PartnerInvitation) {
	created := metav1.NewTime(d0.Add(-time.Minute))
	zeta = stored(func(i *v1alpha1.PartnerInvitation) { i.Name, i.CreationTimestamp = "zeta", created })
	alpha = stored(func(i *v1alpha1.PartnerInvitation) { i.Name, i.CreationTimestamp = "alpha", created })
	alpha.UID, alpha.ResourceVersion = "u-2", ""
	s = newSteps(t, interceptor.Funcs{SubResourcePatch: func(_ context.Context, _ client.Client, _ string, obj client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
		return conflict(obj)
	}}, zeta, newAccount(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: zeta.Namespace}})
	s.Config.Catalogue = config.Catalogue{ // with the names an email shows
		Roles:   []config.CatalogueEntry{{Key: "editor", DisplayName: config.LocalizedText{"en": "Editor"}}},
		Systems: []config.CatalogueEntry{{Key: "insights", DisplayName: config.LocalizedText{"en": "Insights"}}},
	}
	s.Config.Acceptance.PublicURL = "https://partners.example.com"
	return s, zeta, alpha
}
