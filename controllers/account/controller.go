// Package account is the PartnerAccount controller: it watches
// PartnerAccounts and every PartnerInvitation of one (naming it in
// spec.account, or joined by its address's domain), creates, updates
// and deletes the invitations an account owns for its spec.users, keeps the
// grants finalizer on the account while any of its users may hold grants,
// and writes the account's status (members, counts, state, Ready). It never
// writes an account's spec, nor the spec of an invitation it does not own.
package account

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/index"
)

// Event reasons of the account's invitations (state transitions use the
// state's name, Ready problems their condition reason).
const (
	eventInvitationCreated = "InvitationCreated"
	eventInvitationUpdated = "InvitationUpdated"
	eventInvitationDeleted = "InvitationDeleted"
)

// Reconciler reconciles PartnerAccounts.
type Reconciler struct {
	Client   client.Client
	Clock    clock.PassiveClock
	Recorder events.EventRecorder
	// Workers is how many accounts are reconciled at once (default 2).
	Workers int
}

// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partneraccounts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partneraccounts/status,verbs=patch
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partneraccounts/finalizers,verbs=update
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partnerinvitations,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller. The invitations are listed
// through the index.InvitationAccount field index, which internal/manager
// registers (index.Register) before calling this.
func (r *Reconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	workers := r.Workers
	if workers == 0 {
		workers = 2
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("partneraccount").
		For(&v1alpha1.PartnerAccount{}).
		Watches(&v1alpha1.PartnerInvitation{}, handler.EnqueueRequestsFromMapFunc(accountsOfInvitation)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: workers,
			// API errors retry from 500ms, doubling, up to 5m.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](500*time.Millisecond, 5*time.Minute),
		}).
		Complete(r)
}

// accountsOfInvitation maps an invitation event to the account it belongs
// to (owned, standalone or joined by domain alike: all count in its
// status; none while it belongs to no account yet) and, when its name is
// the one another account's child would take, to that account too (so that
// account invites its user once the name is free again).
func accountsOfInvitation(_ context.Context, o client.Object) []reconcile.Request {
	inv, ok := o.(*v1alpha1.PartnerInvitation)
	if !ok {
		return nil
	}
	var reqs []reconcile.Request
	acct := inv.AccountName()
	if acct != "" {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: inv.Namespace, Name: acct}})
	}
	if a := accountOfName(inv.Name, string(inv.Spec.Email)); a != "" && a != acct {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: inv.Namespace, Name: a}})
	}
	return reqs
}

// scope is one reconcile's working set.
type scope struct {
	acct *v1alpha1.PartnerAccount
	// invs are the invitations of the account (named in spec.account or
	// joined by domain), sorted by name.
	invs []v1alpha1.PartnerInvitation
	// plan is how spec.users and the owned invitations differ.
	plan plan
	// planned is set once plan is computed: the status written after a
	// failed step before that would claim what was not checked.
	planned bool
	// created are the invitations this reconcile created (or found
	// created, unseen by the cache): the cache shows them later, the
	// status counts them now (as not yet sent).
	created []v1alpha1.PartnerInvitation
	// refused are the API server's refusals of this reconcile's writes of
	// invitations (a quota, an admission webhook, a policy): Ready's
	// message says them, where a retry alone will not get through.
	refused []string
	// holders are, while the account is deleted, the invitations whose
	// grants are still to be revoked.
	holders []*v1alpha1.PartnerInvitation
	now     time.Time
	// stale is set when a write met a newer account: its watch event
	// brings a fresh copy, so nothing more is written now.
	stale bool
	// gone is set once the account no longer needs its status written (it
	// is going away).
	gone bool
}

// Reconcile brings one account's invitations in line with spec.users,
// keeps its finalizer and writes its status at most once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	acct := &v1alpha1.PartnerAccount{}
	if err := r.Client.Get(ctx, req.NamespacedName, acct); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &scope{acct: acct, now: r.Clock.Now()}

	var stepErr error
	for _, step := range []func(context.Context, *scope) (bool, error){
		r.loadInvitations, r.finalize, r.ensureFinalizer, r.syncInvitations,
	} {
		done, err := step(ctx, s)
		if err != nil {
			stepErr = err
			break
		}
		if done {
			break
		}
	}
	if s.gone || s.stale || (stepErr != nil && !s.planned) {
		return ctrl.Result{}, stepErr
	}

	// The steps may have patched the account's metadata (the copy holds
	// the server's answer), so the status is compared from here.
	before := acct.DeepCopy()
	setStatus(acct, s)
	if !equality.Semantic.DeepEqual(before.Status, acct.Status) {
		if err := r.Client.Status().Patch(ctx, acct, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				// A newer account is on its way as a watch event.
				return ctrl.Result{}, stepErr
			}
			return ctrl.Result{}, errors.Join(stepErr, fmt.Errorf("writing status: %w", err))
		}
		r.recordTransition(before, acct)
	}
	return ctrl.Result{}, stepErr
}

// loadInvitations lists, from the cache, every invitation of the account:
// those naming it in spec.account and those joined by domain, but not
// those of an earlier account of the same name (another
// status.accountUID): a new account never adopts them.
func (r *Reconciler) loadInvitations(ctx context.Context, s *scope) (bool, error) {
	var list v1alpha1.PartnerInvitationList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.acct.Namespace), client.MatchingFields{index.InvitationAccount: s.acct.Name}); err != nil {
		return false, fmt.Errorf("listing the invitations of the account: %w", err)
	}
	s.invs = slices.DeleteFunc(list.Items, func(inv v1alpha1.PartnerInvitation) bool {
		return inv.Status.AccountUID != "" && inv.Status.AccountUID != string(s.acct.UID)
	})
	slices.SortFunc(s.invs, func(a, b v1alpha1.PartnerInvitation) int { return strings.Compare(a.Name, b.Name) })
	return false, nil
}

// finalize handles a deleted account: while any invitation naming it holds
// grants, it waits (the invitation controller revokes them, or releases
// them under deletionPolicy Retain) and says so in Ready; then it deletes
// the invitations it owns (the garbage collector would too, but not every
// cluster runs one) and removes its finalizer.
func (r *Reconciler) finalize(ctx context.Context, s *scope) (bool, error) {
	acct := s.acct
	if acct.DeletionTimestamp.IsZero() {
		return false, nil
	}
	if !controllerutil.ContainsFinalizer(acct, v1alpha1.GrantsFinalizer) {
		s.gone = true // nothing of ours holds it
		return true, nil
	}
	if s.holders = grantHolders(s.invs); len(s.holders) > 0 {
		return true, nil // each holder's change is a watch event
	}
	var errs []error
	for i := range s.invs {
		if inv := &s.invs[i]; isOwned(inv, acct) && inv.DeletionTimestamp.IsZero() {
			errs = append(errs, r.deleteInvitation(ctx, acct, inv, "the account is deleted"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return true, err
	}
	before := acct.DeepCopy()
	controllerutil.RemoveFinalizer(acct, v1alpha1.GrantsFinalizer)
	if err := r.patchMeta(ctx, before, acct, s); err != nil {
		return true, fmt.Errorf("removing the finalizer: %w", err)
	}
	log.FromContext(ctx).Info("No grants left; the account can go", "account", klog.KObj(acct))
	s.gone = true
	return true, nil
}

// ensureFinalizer puts the grants finalizer on the account while one of its
// invitations is Accepted or holds grants, and takes it off otherwise. The
// invitation controller applies an accepted user's grants only once the
// finalizer is there, so that deleting the account always revokes them.
func (r *Reconciler) ensureFinalizer(ctx context.Context, s *scope) (bool, error) {
	want := needsFinalizer(s.invs)
	if want == controllerutil.ContainsFinalizer(s.acct, v1alpha1.GrantsFinalizer) {
		return false, nil
	}
	before := s.acct.DeepCopy()
	if want {
		controllerutil.AddFinalizer(s.acct, v1alpha1.GrantsFinalizer)
	} else {
		controllerutil.RemoveFinalizer(s.acct, v1alpha1.GrantsFinalizer)
	}
	if err := r.patchMeta(ctx, before, s.acct, s); err != nil {
		return true, fmt.Errorf("updating the finalizer: %w", err)
	}
	return s.stale, nil
}

// patchMeta writes the account's metadata with optimistic locking. A
// conflict or a vanished account is not an error: it sets s.stale and the
// watch event brings the newer account.
func (r *Reconciler) patchMeta(ctx context.Context, before, acct *v1alpha1.PartnerAccount, s *scope) error {
	err := r.Client.Patch(ctx, acct, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		s.stale = true
		return nil
	}
	return err
}

// syncInvitations creates, updates and deletes the owned invitations as
// spec.users asks. An entry in conflict is skipped and the others go on;
// API errors are returned together once every entry had its turn.
func (r *Reconciler) syncInvitations(ctx context.Context, s *scope) (bool, error) {
	acct := s.acct
	taken, err := r.takenNames(ctx, s)
	if err != nil {
		return false, err
	}
	s.plan, s.planned = planChildren(acct, s.invs, taken), true
	var errs []error
	for _, inv := range s.plan.create {
		exists, err := r.createInvitation(ctx, acct, inv)
		if exists {
			s.created = append(s.created, *inv)
		}
		errs = append(errs, err)
	}
	for _, u := range s.plan.update {
		errs = append(errs, r.updateInvitation(ctx, acct, u))
	}
	for _, inv := range s.plan.remove {
		errs = append(errs, r.deleteInvitation(ctx, acct, inv, "its entry was removed from spec.users"))
	}
	for _, err := range errs {
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
			s.refused = append(s.refused, err.Error())
		}
	}
	return false, errors.Join(errs...)
}

// takenNames finds the invitations, naming another account, that sit under
// a name one of spec.users needs (read from the cache: no API request).
func (r *Reconciler) takenNames(ctx context.Context, s *scope) (map[string]*v1alpha1.PartnerInvitation, error) {
	mine := make(map[string]bool, len(s.invs))
	for i := range s.invs {
		mine[s.invs[i].Name] = true
	}
	var taken map[string]*v1alpha1.PartnerInvitation
	for _, u := range s.acct.Spec.Users {
		name := InvitationName(s.acct.Name, string(u.Email))
		if mine[name] {
			continue
		}
		other := &v1alpha1.PartnerInvitation{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.acct.Namespace, Name: name}, other)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading PartnerInvitation %s: %w", name, err)
		}
		if taken == nil {
			taken = map[string]*v1alpha1.PartnerInvitation{}
		}
		taken[name] = other
	}
	return taken, nil
}

// createInvitation creates an owned invitation. exists is true when the
// invitation is there afterwards, created now or by an earlier reconcile
// whose write the cache has not seen yet.
func (r *Reconciler) createInvitation(ctx context.Context, acct *v1alpha1.PartnerAccount, inv *v1alpha1.PartnerInvitation) (exists bool, _ error) {
	err := r.Client.Create(ctx, inv)
	switch {
	case apierrors.IsAlreadyExists(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("creating PartnerInvitation %s for %s: %w", inv.Name, inv.Spec.Email, err)
	}
	log.FromContext(ctx).Info("Created an invitation", "invitation", klog.KObj(inv), "account", klog.KObj(acct))
	r.event(acct, inv, corev1.EventTypeNormal, eventInvitationCreated, "Create",
		fmt.Sprintf("Created PartnerInvitation %s for %s (role %s)", inv.Name, inv.Spec.Email, inv.Spec.Role))
	return true, nil
}

// updateInvitation patches the role, systems, locale, message, ttl, resend
// and label of an owned invitation, and nothing else (the user may have set
// revoked on it). resend only ever goes up: an invitation whose own resend
// is higher than the entry's (raised with kubectl partners resend) keeps it.
func (r *Reconciler) updateInvitation(ctx context.Context, acct *v1alpha1.PartnerAccount, u update) error {
	inv := u.current.DeepCopy()
	inv.Spec.Role = u.desired.Spec.Role
	inv.Spec.Systems = u.desired.Spec.Systems
	inv.Spec.Locale = u.desired.Spec.Locale
	inv.Spec.Message = u.desired.Spec.Message
	inv.Spec.TTL = u.desired.Spec.TTL
	inv.Spec.Resend = max(inv.Spec.Resend, u.desired.Spec.Resend)
	if inv.Labels == nil {
		inv.Labels = map[string]string{}
	}
	inv.Labels[v1alpha1.AccountLabel] = acct.Name
	err := r.Client.Patch(ctx, inv, client.MergeFromWithOptions(u.current, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		return nil // its watch event brings us back with the newer object
	case err != nil:
		return fmt.Errorf("updating PartnerInvitation %s: %w", inv.Name, err)
	}
	log.FromContext(ctx).Info("Updated an invitation", "invitation", klog.KObj(inv), "account", klog.KObj(acct))
	r.event(acct, inv, corev1.EventTypeNormal, eventInvitationUpdated, "Update",
		fmt.Sprintf("Updated PartnerInvitation %s for %s: role %s, systems [%s], locale %s, resend %d", inv.Name, inv.Spec.Email, inv.Spec.Role, joinKeys(inv.Spec.Systems), inv.Spec.Locale, inv.Spec.Resend))
	return nil
}

// deleteInvitation deletes an owned invitation (only that very object: a
// newer one under the same name is left alone). Its own finalizer makes
// the invitation controller revoke its grants first.
func (r *Reconciler) deleteInvitation(ctx context.Context, acct *v1alpha1.PartnerAccount, inv *v1alpha1.PartnerInvitation, why string) error {
	uid := inv.UID
	err := r.Client.Delete(ctx, inv, client.Preconditions{UID: &uid})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("deleting PartnerInvitation %s: %w", inv.Name, err)
	}
	log.FromContext(ctx).Info("Deleted an invitation", "invitation", klog.KObj(inv), "account", klog.KObj(acct))
	r.event(acct, inv, corev1.EventTypeNormal, eventInvitationDeleted, "Delete",
		fmt.Sprintf("Deleted PartnerInvitation %s for %s: %s", inv.Name, inv.Spec.Email, why))
	return nil
}

// recordTransition records an Event when the state moves, and when Ready
// turns to a reason that needs the admin.
func (r *Reconciler) recordTransition(before, after *v1alpha1.PartnerAccount) {
	if b, a := before.Status.State, after.Status.State; a != b {
		r.event(after, nil, corev1.EventTypeNormal, string(a), "Reconcile", stateNote(a))
	}
	a := readyCondition(after)
	if a == nil {
		return
	}
	if b := readyCondition(before); b != nil && b.Reason == a.Reason {
		return
	}
	switch a.Reason {
	case v1alpha1.ReasonDuplicateUser, v1alpha1.ReasonInvalidInvitations, v1alpha1.ReasonInvitationsExpired, v1alpha1.ReasonInvitationsFailed:
		r.event(after, nil, corev1.EventTypeWarning, a.Reason, "Reconcile", a.Message)
	case v1alpha1.ReasonDeleting:
		r.event(after, nil, corev1.EventTypeNormal, a.Reason, "Delete", a.Message)
	}
}

func stateNote(s v1alpha1.AccountState) string {
	switch s {
	case v1alpha1.AccountActive:
		return "A partner user accepted and holds at least one system"
	case v1alpha1.AccountPendingApproval:
		return "Invitations are out; no user with a system has accepted yet"
	case v1alpha1.AccountActionRequired:
		return "No user is active and no link is waiting: some invitations expired or failed; resend or fix them (see the Ready condition)"
	}
	return "The account has no users, or its users have no systems"
}

func (r *Reconciler) event(regarding, related client.Object, typ, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(regarding, related, typ, reason, action, "%s", note)
	}
}

func joinKeys(keys []v1alpha1.CatalogueKey) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
