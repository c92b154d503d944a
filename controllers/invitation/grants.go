package invitation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/metrics"
)

// This file keeps the identity backend in step with an invitation: an
// accepted invitation's user is a member of one group per system (for its
// role); any other state, a deletion, or the account's deletion, takes the
// memberships partnerops made away again. status.appliedGrants records what
// was applied, so an edit is a diff and a restart costs nothing.

// grantsPlan is what the backend should hold for an invitation.
type grantsPlan struct {
	// desired are the groups the user must be a member of; empty means
	// none (revoke what partnerops made).
	desired []string
	// member: the user is (still) an accepted partner user. Even with no
	// group left (no system), the backend user partnerops created is kept:
	// systems given back later reuse it.
	member bool
	// retain: the account is being deleted with deletionPolicy Retain;
	// leave the backend as it is and stop managing these grants.
	retain bool
	// removeOnly: take away the recorded groups outside desired, and add
	// nothing (neither a user nor a membership): the pass before retain,
	// which is planned without the acceptance proof, so it must never
	// grant.
	removeOnly bool
}

// syncGrants calls the backend when the plan asks for it: the record
// differs from the plan, or the periodic resync of a settled member is
// due. It returns the backend's answer (nil when it was not called), when
// to look again, and an error to retry with backoff.
func (r *Reconciler) syncGrants(ctx context.Context, inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount,
	plan *grantsPlan, now time.Time) (*grantsResult, time.Duration, error) {
	if r.Backend == nil || plan == nil {
		return nil, 0, nil
	}
	rec := inv.Status.AppliedGrants
	if plan.retain || (len(plan.desired) == 0 && rec == nil && !controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer)) {
		// Without the finalizer no grant was ever made: it is added, in
		// its own write, before the first one. With it and no record, a
		// grant may have landed whose record was lost (a status write
		// that conflicted, a crash before it): the backend is asked.
		r.resync.forget(inv.UID)
		return nil, 0, nil
	}
	every := r.Config.IdentityBackend.ResyncInterval.Duration
	if plan.member && inSync(rec, inv, plan.desired) && grantsSettled(inv) && controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer) {
		if due, wait := r.resync.due(inv.UID, now, every); !due {
			return nil, wait, nil
		}
	}
	if len(plan.desired) > 0 && !grantsMayLand(inv, account) {
		return nil, 0, nil // ensureFinalizer comes first; the account's finalizer is its controller's
	}
	version := plan.version()
	if wait := r.grantRetries.due(inv, version, now); wait > 0 {
		// The last call failed: the next waits its backoff, whatever
		// brought this reconcile (the watch event of our own status
		// write, whose message changes with each reply of the backend).
		return nil, wait, nil
	}
	res := r.applyGrants(ctx, inv, account, plan, now)
	switch {
	case errors.Is(res.err, errStale):
		// The record of the groups about to be added could not be written
		// on this version of the invitation: nothing was added, and the
		// newer version is an event that brings the invitation back.
		return nil, 0, nil
	case errors.Is(res.err, errNotRecorded):
		return nil, 0, res.err // nothing was added; retried with backoff
	}
	countSync(plan, res)
	if res.err == nil {
		r.grantRetries.forget(keyOf(inv))
	}
	switch err := res.err; {
	case err != nil:
		d, asked := identity.RetryAfter(err)
		r.grantRetries.failed(inv, version, now, d)
		if asked {
			return res, d, nil
		}
		return res, 0, fmt.Errorf("syncing grants: %w", err)
	case plan.member:
		r.resync.checked(inv.UID, now, every)
		return res, every, nil
	}
	r.resync.forget(inv.UID)
	return res, 0, nil
}

// countSync counts one call of the grants step to the backend in
// partnerops_grant_syncs_total, with the GrantsSynced reason decide gives
// it: revoke when the user is no longer a member, apply otherwise.
func countSync(plan *grantsPlan, res *grantsResult) {
	op, result, reason := metrics.GrantApply, metrics.ResultSuccess, v1alpha1.ReasonGrantsApplied
	if !plan.member {
		op, reason = metrics.GrantRevoke, v1alpha1.ReasonGrantsRevoked
	}
	switch {
	case res.err != nil:
		result, reason = metrics.ResultFailure, backendErrorReason(res.err)
	case len(res.refused) > 0:
		result, reason = metrics.ResultFailure, v1alpha1.ReasonGroupNotManaged
	}
	metrics.GrantSyncs.WithLabelValues(op, result, reason).Inc()
}

// grantsMayLand: grants go only to a user whose invitation and account
// both hold them back on deletion (their finalizers), so that deleting
// either always revokes. The account controller adds the account's once a
// member accepted, and that update brings the invitation back here.
func grantsMayLand(inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount) bool {
	return account != nil && controllerutil.ContainsFinalizer(account, v1alpha1.GrantsFinalizer) &&
		controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer)
}

// ensureFinalizer adds the grants finalizer to inv, in its own write and
// before any grant, once grants are due (a member with systems, whose
// account holds its own finalizer): from then on a deletion revokes. It
// reports whether it wrote; the update is an event that brings the
// invitation back.
func (r *Reconciler) ensureFinalizer(ctx context.Context, inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount, plan *grantsPlan) (bool, error) {
	if r.Backend == nil || plan == nil || !plan.member || len(plan.desired) == 0 || controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer) ||
		account == nil || !controllerutil.ContainsFinalizer(account, v1alpha1.GrantsFinalizer) {
		return false, nil
	}
	obj := &v1alpha1.PartnerInvitation{ObjectMeta: *inv.ObjectMeta.DeepCopy()}
	orig := obj.DeepCopy()
	controllerutil.AddFinalizer(obj, v1alpha1.GrantsFinalizer)
	if err := r.Client.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return true, nil // a newer invitation is on its way as an event
		}
		return false, fmt.Errorf("adding the %s finalizer: %w", v1alpha1.GrantsFinalizer, err)
	}
	return true, nil
}

// removeFinalizer drops the grants finalizer once nothing is left to revoke.
func (r *Reconciler) removeFinalizer(ctx context.Context, inv *v1alpha1.PartnerInvitation) error {
	if !controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer) {
		return nil
	}
	obj := &v1alpha1.PartnerInvitation{ObjectMeta: *inv.ObjectMeta.DeepCopy()}
	orig := obj.DeepCopy()
	controllerutil.RemoveFinalizer(obj, v1alpha1.GrantsFinalizer)
	if err := r.Client.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	inv.Finalizers, inv.ResourceVersion = obj.Finalizers, obj.ResourceVersion
	return nil
}

// applyGrants makes the backend hold plan.desired for the invitation's
// user, and returns the new record (nil once nothing partnerops made is
// left), the recorded groups it refused to touch and how many groups it
// took away. On error the record says what was done before the error, so
// nothing applied is ever forgotten.
//
// Ownership: a membership is partnerops's when partnerops added it, when
// the user itself is partnerops's (a user partnerops created has no
// membership it did not make), or when another invitation of the same
// address records it. A membership the user had before is never recorded,
// so never removed; a user partnerops did not create is never deleted.
//
// Nothing added is ever unrecorded, so a removal always finds it, even
// when the status write after this call is lost (it conflicted, or the
// manager died before it): a user partnerops created carries partnerops's
// mark in the backend, and each of its memberships in a group the
// template yields for this namespace is taken as partnerops's whether the
// record lists it or not (unless another live member of the address wants
// it: then it is that member's); for a user partnerops did not create, the groups
// about to be added are written to status.appliedGrants first (one status
// write, only when such a user gains a group), and added after.
//
// Trust: the record is status, which a tenant may be able to write. A
// recorded group is removed only when the groupTemplate yields it for this
// invitation's namespace and the catalogue (refused otherwise), and only
// when no other live member of the same address still wants it; the user
// is looked up by the invitation's address, never by the recorded id, and
// deleted only when no invitation in any namespace holds grants for it.
func (r *Reconciler) applyGrants(ctx context.Context, inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount,
	plan *grantsPlan, now time.Time) *grantsResult {
	desired := plan.desired
	old := inv.Status.AppliedGrants
	rec := old.DeepCopy()
	if rec == nil {
		rec = &v1alpha1.AppliedGrants{Backend: r.Config.IdentityBackend.Type}
	}
	res := &grantsResult{}
	done := func(err error) *grantsResult {
		res.record, res.err = rec, err
		if len(rec.Groups) == 0 && len(desired) == 0 && !rec.UserCreated {
			res.record = nil
		}
		return res
	}
	addr := string(inv.Spec.Email)
	var (
		user identity.User
		err  error
	)
	if len(desired) > 0 && !plan.removeOnly {
		nu := identity.NewUser{Email: addr, DisplayName: addr, SignedInAs: provenSignIn(inv, plan)}
		if account != nil {
			nu.Account = account.Spec.DisplayName
		}
		user, err = r.Backend.EnsureUser(ctx, nu)
	} else {
		user, err = r.Backend.FindUser(ctx, addr)
		if errors.Is(err, identity.ErrNotFound) {
			if err = r.recordedUserGone(ctx, old, addr); err == nil {
				return res // the user is gone, and its memberships with it
			}
		}
	}
	if err != nil {
		res.record, res.err = old, err
		return res
	}
	rec.UserID, rec.UserCreated = user.ID, user.Managed
	others, err := r.sameAddress(ctx, inv, "")
	if err != nil {
		res.record, res.err = old, err
		return res
	}
	current, err := r.Backend.Groups(ctx, user)
	if err != nil {
		return done(err)
	}
	has := sets.New(current...)
	mine := sets.New(rec.Groups...)
	record := func() { rec.Groups = sets.List(mine) }
	ours := templateGroups(r.Config, inv, rec)
	for _, g := range sets.List(mine) {
		if !ours.Has(g) {
			res.refused = append(res.refused, g)
			mine.Delete(g)
		}
	}
	changed := len(res.refused) > 0
	if user.Managed {
		for _, g := range sets.List(has.Intersection(ours).Difference(mine)) {
			if !slices.Contains(desired, g) {
				// Another live member of the address may hold it (a
				// groupTemplate without the namespace): theirs, then.
				wanted, err := r.wantedByOther(ctx, others, g)
				if err != nil {
					return done(err)
				}
				if wanted {
					continue
				}
			}
			mine.Insert(g)
			changed = true
		}
	} else if adding := sets.New(desired...).Difference(has).Difference(mine); adding.Len() > 0 && !plan.removeOnly {
		mine.Insert(adding.UnsortedList()...)
		record()
		if err := r.recordBeforeAdding(ctx, inv, rec); err != nil {
			return &grantsResult{record: old, err: err}
		}
		changed = true
	}
	for _, g := range desired {
		switch {
		case !has.Has(g) && plan.removeOnly:
			// Not added back: the record says only what the user holds.
			if mine.Has(g) {
				mine.Delete(g)
				changed = true
			}
		case !has.Has(g):
			if err := r.Backend.AddMember(ctx, g, user); err != nil {
				record()
				return done(fmt.Errorf("adding %s to group %q: %w", addr, g, err))
			}
			mine.Insert(g)
			changed = true
		case !mine.Has(g) && recordedBySibling(inv, others, g):
			mine.Insert(g)
			changed = true
		}
	}
	want := sets.New(desired...)
	for _, g := range sets.List(mine.Difference(want)) {
		wanted, err := r.wantedByOther(ctx, others, g)
		if err != nil {
			record()
			return done(err)
		}
		if !wanted {
			if err := r.Backend.RemoveMember(ctx, g, user); err != nil {
				record()
				return done(fmt.Errorf("removing %s from group %q: %w", addr, g, err))
			}
		}
		// Wanted by another member: it stays, and is that member's to
		// remove (it records it too).
		mine.Delete(g)
		res.removed++
		changed = true
	}
	record()
	if !plan.member {
		if user.Managed {
			if err := r.deleteUserIfUnheld(ctx, user, others); err != nil {
				return done(fmt.Errorf("deleting the user %s partnerops had created: %w", addr, err))
			}
		}
		res.record = nil
		return res
	}
	rec.Role, rec.Systems = string(inv.Spec.Role), systemKeys(inv)
	if changed || rec.SyncedAt == nil || old == nil || old.UserID != rec.UserID || old.Role != rec.Role || !sameSet(old.Systems, rec.Systems) {
		t := metav1.NewTime(now.UTC().Truncate(time.Second))
		rec.SyncedAt = &t
	}
	return done(nil)
}

var (
	// errStale: the invitation changed since it was read.
	errStale = errors.New("the invitation changed since it was read")
	// errNotRecorded: the groups about to be added could not be recorded,
	// so none was added.
	errNotRecorded = errors.New("recording in status the groups about to be added")
)

// recordedUserGone confirms, once the invitation's address finds no user
// in the backend, that the user the record names holds none of the
// recorded groups any more (deleted, or left them). A user renamed in the
// backend (its userName or mail changed) keeps its memberships: forgetting
// the record then would leave them for good. partnerops removes only the
// memberships of the user the address finds (the record is status, never
// trusted to say whose to remove), so it keeps the record and says why,
// and looks again at each retry.
func (r *Reconciler) recordedUserGone(ctx context.Context, old *v1alpha1.AppliedGrants, addr string) error {
	if old == nil || old.UserID == "" || len(old.Groups) == 0 {
		return nil
	}
	held, err := r.Backend.Groups(ctx, identity.User{ID: old.UserID, Email: addr})
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	still := sets.New(held...).Intersection(sets.New(old.Groups...))
	if still.Len() == 0 {
		return nil
	}
	return fmt.Errorf("%w: the backend has no user %s, yet the user %s recorded for this invitation is still a member of %s: "+
		"was it renamed in the backend? partnerops removes the memberships of the user the invitation's address finds, so give the user back its address, or remove these memberships by hand",
		identity.ErrConflict, addr, old.UserID, strings.Join(sets.List(still), ", "))
}

// recordBeforeAdding writes rec, which lists the groups about to be added,
// to inv's status before they are added (see applyGrants), on the version
// of inv that was read: errStale when it has changed since.
func (r *Reconciler) recordBeforeAdding(ctx context.Context, inv *v1alpha1.PartnerInvitation, rec *v1alpha1.AppliedGrants) error {
	obj := inv.DeepCopy()
	obj.Status.AppliedGrants = rec.DeepCopy()
	err := r.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(inv, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		return errStale
	case err != nil:
		return fmt.Errorf("%w to %s: %w", errNotRecorded, inv.Spec.Email, err)
	}
	inv.ResourceVersion, inv.Status.AppliedGrants = obj.ResourceVersion, obj.Status.AppliedGrants
	return nil
}

// provenSignIn is who the partner signed in as, for the backend user: only
// for a member, which planGrants makes of an acceptance whose proof
// verified, and the proof covers status.signedInAs; a signedInAs someone
// else wrote unverifies the proof, and nothing is granted nor recorded.
func provenSignIn(inv *v1alpha1.PartnerInvitation, plan *grantsPlan) *identity.SignIn {
	si := inv.Status.SignedInAs
	if !plan.member || si == nil {
		return nil
	}
	return &identity.SignIn{Issuer: si.Issuer, Subject: si.Subject}
}

// deleteUserIfUnheld deletes a user partnerops created once it is a
// member of no group and no other invitation of its address, in any
// namespace, holds grants for it (nor is a member about to).
func (r *Reconciler) deleteUserIfUnheld(ctx context.Context, user identity.User, others []v1alpha1.PartnerInvitation) error {
	held, err := r.userHeldElsewhere(ctx, others)
	if err != nil || held {
		return err
	}
	left, err := r.Backend.Groups(ctx, user)
	if err != nil || len(left) > 0 {
		return err
	}
	return r.Backend.DeleteUser(ctx, user)
}

// recordGrantsTransition records an Event when GrantsSynced moves.
func (r *Reconciler) recordGrantsTransition(before, after *v1alpha1.PartnerInvitation) {
	if r.Recorder == nil {
		return
	}
	b := findCondition(&before.Status, v1alpha1.ConditionGrantsSynced)
	a := findCondition(&after.Status, v1alpha1.ConditionGrantsSynced)
	if a == nil || (b != nil && b.Status == a.Status && b.Reason == a.Reason && b.Message == a.Message) {
		return
	}
	typ := corev1.EventTypeNormal
	if a.Status != metav1.ConditionTrue {
		typ = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(after, nil, typ, a.Reason, "SyncGrants", "%s", a.Message)
}
