package account

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
)

// The tests of this file run one step of Reconcile (loadInvitations,
// finalize, ensureFinalizer, syncInvitations) over controller-runtime's
// fake client, so that a failure points at that step; the controller as a
// whole is tested against the API server (harness_test.go).

// stepsOver is a Reconciler over a fake client holding objs, with requests
// failing as funcs says.
func stepsOver(funcs interceptor.Funcs, objs ...client.Object) *Reconciler {
	return &Reconciler{
		Client: testenv.FakeClient(objs...).WithInterceptorFuncs(funcs).Build(),
		Clock:  clocktesting.NewFakePassiveClock(metav1.Now().Time),
	}
}

// stored is a as the API server holds it: with a UID and, when it holds
// grants, the grants finalizer.
func stored(a *v1alpha1.PartnerAccount, opts ...func(*v1alpha1.PartnerAccount)) *v1alpha1.PartnerAccount {
	for _, o := range opts {
		o(a)
	}
	return a
}

func held(a *v1alpha1.PartnerAccount) { a.Finalizers = []string{v1alpha1.GrantsFinalizer} }

func gone(a *v1alpha1.PartnerAccount) { now := metav1.Now(); a.DeletionTimestamp = &now }

func objects(a *v1alpha1.PartnerAccount, invs ...v1alpha1.PartnerInvitation) []client.Object {
	out := []client.Object{a}
	for i := range invs {
		out = append(out, &invs[i])
	}
	return out
}

func names(invs []v1alpha1.PartnerInvitation) []string {
	var out []string
	for _, i := range invs {
		out = append(out, i.Name)
	}
	return out
}

// listed is what the fake client holds of the account's namespace.
func listed(t *testing.T, r *Reconciler) []string {
	t.Helper()
	var list v1alpha1.PartnerInvitationList
	if err := r.Client.List(context.Background(), &list, client.InNamespace("acme")); err != nil {
		t.Fatal(err)
	}
	out := names(list.Items)
	slices.Sort(out)
	return out
}

func failDelete(name string) interceptor.Funcs {
	return interceptor.Funcs{Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
		if obj.GetName() == name {
			return apierrors.NewServiceUnavailable("etcd is down")
		}
		return c.Delete(ctx, obj, opts...)
	}}
}

// loadInvitations lists every invitation naming the account in its
// namespace (owned or not), sorted by name, and nothing else.
func TestLoadInvitationsListsTheAccounts(t *testing.T) {
	other := inv("c-initech", "c@initech.example", "")
	other.Spec.Account = "initech"
	elsewhere := inv("d-elsewhere", "d@globex.example", "")
	elsewhere.Namespace = "other"
	a := acct()
	r := stepsOver(interceptor.Funcs{}, objects(a, inv("b-ben", "ben@globex.example", ""), other, elsewhere, inv("a-ana", "ana@globex.example", ""))...)
	s := &scope{acct: a}
	if done, err := r.loadInvitations(context.Background(), s); done || err != nil {
		t.Fatalf("loadInvitations = %v, %v", done, err)
	}
	if got := names(s.invs); !slices.Equal(got, []string{"a-ana", "b-ben"}) {
		t.Errorf("loaded %v; want a-ana and b-ben", got)
	}

	r = stepsOver(interceptor.Funcs{List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
		return apierrors.NewServiceUnavailable("etcd is down")
	}}, a)
	if _, err := r.loadInvitations(context.Background(), &scope{acct: a}); err == nil || !strings.Contains(err.Error(), "listing the invitations") {
		t.Errorf("loadInvitations on a failing cache = %v; want the listing error", err)
	}
}

// finalize waits while grants are held, then deletes the invitations the
// account owns (not the others) and lets the account go; a failed delete
// keeps the finalizer.
func TestFinalizeRevokesBeforeLettingGo(t *testing.T) {
	mindy, hank := entry("mindy@globex.example", "editor", "insights"), entry("hank@globex.example", "admin")
	a := func() *v1alpha1.PartnerAccount {
		a := acct(mindy, hank)
		a.UID = "globex-uid"
		return a
	}
	withOwned := func(a *v1alpha1.PartnerAccount, opts ...func(*v1alpha1.PartnerInvitation)) []v1alpha1.PartnerInvitation {
		return []v1alpha1.PartnerInvitation{
			child(a, mindy, v1alpha1.InvitationAccepted, opts...),
			child(a, hank, v1alpha1.InvitationPendingApproval),
			inv("carlos", "carlos@globex.example", v1alpha1.InvitationAccepted),
		}
	}
	t.Run("not deleted", func(t *testing.T) {
		acc := stored(a(), held)
		r := stepsOver(interceptor.Funcs{}, objects(acc, withOwned(acc)...)...)
		s := &scope{acct: acc, invs: withOwned(acc)}
		if done, err := r.finalize(context.Background(), s); done || err != nil || s.gone {
			t.Errorf("finalize = %v, %v, gone %v; want the next step", done, err, s.gone)
		}
	})
	t.Run("grants still held", func(t *testing.T) {
		acc := stored(a(), held, gone)
		invs := withOwned(acc, finalizer, applied)
		r := stepsOver(interceptor.Funcs{}, objects(acc, invs...)...)
		s := &scope{acct: acc, invs: invs}
		if done, err := r.finalize(context.Background(), s); !done || err != nil || s.gone || len(s.holders) != 1 {
			t.Fatalf("finalize = %v, %v, gone %v, holders %d; want to wait for the one holder", done, err, s.gone, len(s.holders))
		}
		if got := listed(t, r); len(got) != 3 {
			t.Errorf("invitations deleted while grants are held: %v left", got)
		}
	})
	t.Run("nothing held", func(t *testing.T) {
		acc := stored(a(), held, gone)
		invs := withOwned(acc)
		r := stepsOver(interceptor.Funcs{}, objects(acc, invs...)...)
		s := &scope{acct: acc, invs: invs}
		if done, err := r.finalize(context.Background(), s); !done || err != nil || !s.gone {
			t.Fatalf("finalize = %v, %v, gone %v; want the account let go", done, err, s.gone)
		}
		if got := listed(t, r); !slices.Equal(got, []string{"carlos"}) {
			t.Errorf("left %v; want only the standalone invitation", got)
		}
		if slices.Contains(acc.Finalizers, v1alpha1.GrantsFinalizer) {
			t.Errorf("the finalizer stayed: %v", acc.Finalizers)
		}
	})
	t.Run("a delete fails", func(t *testing.T) {
		acc := stored(a(), held, gone)
		invs := withOwned(acc)
		r := stepsOver(failDelete(invs[0].Name), objects(acc, invs...)...)
		s := &scope{acct: acc, invs: invs}
		if done, err := r.finalize(context.Background(), s); !done || err == nil || s.gone {
			t.Fatalf("finalize = %v, %v, gone %v; want the error and the account kept", done, err, s.gone)
		}
		got := &v1alpha1.PartnerAccount{}
		if err := r.Client.Get(context.Background(), types.NamespacedName{Namespace: "acme", Name: "globex"}, got); err != nil || !slices.Contains(got.Finalizers, v1alpha1.GrantsFinalizer) {
			t.Errorf("after a failed delete the account has finalizers %v (%v); want the grants finalizer", got.Finalizers, err)
		}
	})
}

// ensureFinalizer follows acceptance: on while an invitation is Accepted,
// off once none is; a conflict is a newer account on its way, not an error.
func TestEnsureFinalizerFollowsAcceptance(t *testing.T) {
	cases := map[string]struct {
		acct      *v1alpha1.PartnerAccount
		invs      []v1alpha1.PartnerInvitation
		conflicts bool
		want      bool // the finalizer after the step
		stale     bool
	}{
		"an accepted member": {acct: acct(), invs: []v1alpha1.PartnerInvitation{inv("a", "a@globex.example", v1alpha1.InvitationAccepted)}, want: true},
		"nobody accepted":    {acct: stored(acct(), held), invs: []v1alpha1.PartnerInvitation{inv("a", "a@globex.example", v1alpha1.InvitationPendingApproval)}},
		"a conflict": {acct: acct(), invs: []v1alpha1.PartnerInvitation{inv("a", "a@globex.example", v1alpha1.InvitationAccepted)},
			conflicts: true, stale: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var funcs interceptor.Funcs
			if tc.conflicts {
				funcs.Patch = func(_ context.Context, _ client.WithWatch, obj client.Object, _ client.Patch, _ ...client.PatchOption) error {
					return apierrors.NewConflict(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "partneraccounts"}, obj.GetName(), errors.New("modified"))
				}
			}
			r := stepsOver(funcs, objects(tc.acct, tc.invs...)...)
			s := &scope{acct: tc.acct, invs: tc.invs}
			done, err := r.ensureFinalizer(context.Background(), s)
			if err != nil || done != tc.stale || s.stale != tc.stale {
				t.Fatalf("ensureFinalizer = %v, %v (stale %v); want done and stale %v", done, err, s.stale, tc.stale)
			}
			got := &v1alpha1.PartnerAccount{}
			if err := r.Client.Get(context.Background(), types.NamespacedName{Namespace: "acme", Name: "globex"}, got); err != nil {
				t.Fatal(err)
			}
			if has := slices.Contains(got.Finalizers, v1alpha1.GrantsFinalizer); has != tc.want {
				t.Errorf("finalizers %v; want the grants finalizer %v", got.Finalizers, tc.want)
			}
		})
	}
}

// syncInvitations gives every entry its turn: one entry whose create
// fails does not stop the others, and the error is returned; an entry whose
// name another account's invitation holds is not created.
func TestSyncInvitationsGivesEveryEntryItsTurn(t *testing.T) {
	a := acct(entry("ana@globex.example", "editor"), entry("ben@globex.example", "editor"), entry("cho@globex.example", "editor"))
	ana, ben, cho := InvitationName("globex", "ana@globex.example"), InvitationName("globex", "ben@globex.example"), InvitationName("globex", "cho@globex.example")
	taken := inv(cho, "cho@globex.example", "")
	taken.Spec.Account = "initech"
	r := stepsOver(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if obj.GetName() == ana {
			return apierrors.NewServiceUnavailable("etcd is down")
		}
		return c.Create(ctx, obj, opts...)
	}}, a, &taken)
	s := &scope{acct: a}
	if _, err := r.syncInvitations(context.Background(), s); err == nil || !strings.Contains(err.Error(), ana) {
		t.Errorf("syncInvitations = %v; want the failed create of %s", err, ana)
	}
	if got := listed(t, r); !slices.Equal(got, sorted(ben, cho)) {
		t.Errorf("invitations %v; want %s created and %s left to initech", got, ben, cho)
	}
	if !s.planned || len(s.created) != 1 || s.created[0].Name != ben {
		t.Errorf("planned %v, created %v; want the plan and %s counted", s.planned, names(s.created), ben)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }
