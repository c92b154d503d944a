package manager

import (
	"context"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file holds what sizes the manager for many objects: how many
// invitations are reconciled at once, and what the cache keeps of each
// object. docs/performance.md has the figures (make bench-system).

// DefaultInvitationWorkers is how many invitations are reconciled at once
// unless Options.InvitationWorkers (--invitation-workers) says otherwise.
// A reconcile spends its time waiting on the API server and the mail
// server, not on the CPU: 16 keeps both busy on a small node, so a burst
// of invitations (or of links expiring at once) goes at the API server's
// pace. Emails stay paced by rateLimits.emailsPerSecond whatever the count.
const DefaultInvitationWorkers = 16

// invitationWorkers is n, or the default when n is not positive.
func invitationWorkers(n int) int {
	if n > 0 {
		return n
	}
	return DefaultInvitationWorkers
}

// trimForCache is the cache's transform for every kind: it drops what no
// part of the manager reads, before the object is stored: managedFields
// (often the largest part of an object) and kubectl's
// last-applied-configuration annotation (a copy of the whole applied
// object). The manager writes only with patches computed between two
// copies of the cached object, never with an update of a whole object,
// so what is dropped here is never written back either.
func trimForCache(in any) (any, error) {
	o, ok := in.(metav1.Object)
	if !ok {
		return in, nil
	}
	o.SetManagedFields(nil)
	if a := o.GetAnnotations(); a != nil {
		if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
			kept := make(map[string]string, len(a)-1)
			for k, v := range a {
				if k != corev1.LastAppliedConfigAnnotation {
					kept[k] = v
				}
			}
			o.SetAnnotations(kept)
		}
	}
	if inv, ok := in.(*v1alpha1.PartnerInvitation); ok {
		compactInvitation(inv)
	}
	return in, nil
}

// compactInvitation shares the strings thousands of invitations repeat
// (namespace, account, role, systems, locale, state, the conditions'
// types, statuses and reasons) instead of keeping a copy in each, and
// trims the conditions' slice to its length: about a fifth of what each
// cached invitation costs (make bench-system). Values are unchanged.
func compactInvitation(inv *v1alpha1.PartnerInvitation) {
	inv.Namespace = intern(inv.Namespace)
	inv.APIVersion, inv.Kind = intern(inv.APIVersion), intern(inv.Kind)
	for i, f := range inv.Finalizers {
		inv.Finalizers[i] = intern(f)
	}
	sp := &inv.Spec
	sp.Account = intern(sp.Account)
	sp.Role = internAs(sp.Role)
	sp.Locale = internAs(sp.Locale)
	for i, k := range sp.Systems {
		sp.Systems[i] = internAs(k)
	}
	st := &inv.Status
	st.State = internAs(st.State)
	if st.Conditions != nil {
		conds := make([]metav1.Condition, len(st.Conditions))
		for i, c := range st.Conditions {
			c.Type, c.Status, c.Reason = intern(c.Type), internAs(c.Status), intern(c.Reason)
			conds[i] = c
		}
		st.Conditions = conds
	}
}

func intern(s string) string { return unique.Make(s).Value() }

func internAs[S ~string](s S) S { return S(intern(string(s))) }

// onStop runs f when the manager stops: the SMTP sessions kept open
// between messages are ended with QUIT rather than dropped.
func onStop(f func()) manager.Runnable {
	return manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		f()
		return nil
	})
}
