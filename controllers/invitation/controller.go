// Package invitation is the PartnerInvitation controller: it watches
// PartnerInvitations (and the PartnerAccounts they name) and changes their
// status: it validates them against the catalogue and the account, sends the
// invitation email with a signed link, expires the link on time, honours
// resend and withdraw. Acceptance is recorded by the acceptance page, grants
// by the grants controller.
package invitation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/email"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/index"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/token"
)

// Signer signs invitation links and verifies the acceptance proofs the
// acceptance page writes (internal/token.Signer).
type Signer interface {
	Sign(ctx context.Context, c token.Claims) (string, error)
	VerifyAcceptance(ctx context.Context, a token.Acceptance, p token.Proof) error
	ProveAcceptance(ctx context.Context, a token.Acceptance) (token.Proof, error)
}

// TemplateSource gives the email templates to use now (the built-in ones,
// possibly overridden from a ConfigMap).
type TemplateSource interface {
	Templates(ctx context.Context) (*email.Templates, error)
}

// Limiter paces sends (internal/ratelimit.Limiter).
type Limiter interface {
	Wait(ctx context.Context, namespace string) (time.Duration, error)
}

// Reconciler reconciles PartnerInvitations.
type Reconciler struct {
	Client    client.Client
	Config    *config.Config
	Clock     clock.WithTicker
	Sender    smtp.Sender
	Signer    Signer
	Templates TemplateSource
	Limiter   Limiter
	Recorder  events.EventRecorder
	// Backend is the identity backend accepted users' grants land in.
	Backend identity.Backend
	// Workers is how many invitations are reconciled at once (default 4).
	Workers int

	resync resyncSchedule
	sent   sentRecords
}

// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partnerinvitations,verbs=get;list;watch
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partnerinvitations/status,verbs=patch
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partnerinvitations,verbs=patch
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partneraccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	workers := r.Workers
	if workers == 0 {
		workers = 4
	}
	opts := controller.Options{
		MaxConcurrentReconciles: workers,
		// Failed sends and backend errors retry from 1s, doubling, up to 5m.
		RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 5*time.Minute),
	}
	if _, real := r.Clock.(clock.RealClock); !real {
		// Tests run the queue on their fake clock, so expiry requeues fire
		// when the test moves time, not after real hours.
		opts.NewQueue = func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
			return workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{
				Name: name, Clock: r.Clock,
			})
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("partnerinvitation").
		For(&v1alpha1.PartnerInvitation{}).
		Watches(&v1alpha1.PartnerAccount{}, handler.EnqueueRequestsFromMapFunc(r.invitationsOfAccount), builder.WithPredicates(accountChanged)).
		Watches(&v1alpha1.PartnerInvitation{}, handler.EnqueueRequestsFromMapFunc(r.invitationsOfSameAddress), builder.WithPredicates(liveChanged)).
		WithOptions(opts).
		Complete(r)
}

// accountChanged passes the account events invitations depend on: create,
// delete, a spec change (generation), the finalizer and the deletion mark;
// not the account controller's status writes, which would otherwise
// reconcile every invitation of the account at once (and retry a failing
// send before its backoff).
var accountChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			!slices.Equal(e.ObjectOld.GetFinalizers(), e.ObjectNew.GetFinalizers()) ||
			!e.ObjectOld.GetDeletionTimestamp().Equal(e.ObjectNew.GetDeletionTimestamp())
	},
}

// invitationsOfAccount maps an account event to its invitations, so that a
// created account or a changed allowedDomains or invitationTTL is seen.
func (r *Reconciler) invitationsOfAccount(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.PartnerInvitationList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index.InvitationAccount: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the invitations of an account", "account", klog.KObj(o))
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}}
	}
	return reqs
}

// liveChanged passes the invitation events that can change which invitation
// of an address is live in its namespace: creation, deletion, a state
// change, a withdrawal, and the deletion mark.
var liveChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.PartnerInvitation)
		n, ok2 := e.ObjectNew.(*v1alpha1.PartnerInvitation)
		return !ok1 || !ok2 || o.Status.State != n.Status.State || o.Spec.Revoked != n.Spec.Revoked ||
			!o.DeletionTimestamp.Equal(n.DeletionTimestamp)
	},
}

// invitationsOfSameAddress maps an invitation event to the other
// invitations of its address in its namespace: a duplicate waiting for the
// live one to end proceeds when it does.
func (r *Reconciler) invitationsOfSameAddress(ctx context.Context, o client.Object) []reconcile.Request {
	inv, ok := o.(*v1alpha1.PartnerInvitation)
	if !ok {
		return nil
	}
	others, err := r.sameAddress(ctx, inv, inv.Namespace)
	if err != nil {
		log.FromContext(ctx).Error(err, "Listing the invitations of an address", "invitation", klog.KObj(o))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(others))
	for i := range others {
		if others[i].Namespace == inv.Namespace {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: others[i].Namespace, Name: others[i].Name}})
		}
	}
	return reqs
}

// scope is one reconcile's working set.
type scope struct {
	inv     *v1alpha1.PartnerInvitation
	account *v1alpha1.PartnerAccount // nil when it does not exist
	problem *problem                 // why the spec cannot be honoured
	now     time.Time
	result  ctrl.Result
	// accountDeleting: the account exists and is being deleted.
	accountDeleting bool
	// releaseFinalizer: nothing is left to revoke once the status is saved.
	releaseFinalizer bool
	// sending: the send step ran; a failed or delayed resend must not keep
	// the current link from expiring on time.
	sending bool
	// sent is the outcome of an email handed to the mail server in this
	// reconcile, remembered until its status write lands.
	sent *sendOutcome
}

// requeueAfter keeps the shortest requeue asked by a step.
func (s *scope) requeueAfter(d time.Duration) {
	if d > 0 && (s.result.RequeueAfter == 0 || d < s.result.RequeueAfter) {
		s.result.RequeueAfter = d
	}
}

// Reconcile moves one invitation one step towards what its spec asks and
// writes its status at most once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	inv := &v1alpha1.PartnerInvitation{}
	if err := r.Client.Get(ctx, req.NamespacedName, inv); err != nil {
		if apierrors.IsNotFound(err) {
			r.sent.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	deleting := !inv.DeletionTimestamp.IsZero()
	if deleting && !controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer) {
		return ctrl.Result{}, nil // nothing to clean up: no grants were made
	}
	before := inv.DeepCopy()
	s := &scope{inv: inv, now: r.Clock.Now()}

	var stepErr error
	steps := []func(context.Context, *scope) (bool, error){
		r.loadAccount, r.accountGone, r.validate, r.revoked, r.acceptedOrRefuseResend, r.send, r.expire,
	}
	if deleting {
		// Going away: only the grants matter (revoked, or retained when
		// the account is deleted with deletionPolicy Retain).
		steps = steps[:1]
	}
	for _, step := range steps {
		done, err := step(ctx, s)
		if err != nil {
			stepErr = err
			break
		}
		if done {
			break
		}
	}
	if s.sending {
		// The steps stop at a failed or rate-limited send; the link sent
		// before still expires at its time (a no-op when the send worked:
		// expire already ran).
		_, _ = r.expire(ctx, s)
	}
	if stepErr == nil && r.Backend != nil {
		stepErr = r.syncGrants(ctx, s, before)
	}
	setAccepted(inv, s.now)
	setExpired(inv, s.now)
	setReady(inv, s.problem, s.now)
	inv.Status.ObservedGeneration = inv.Generation

	if s.sent != nil {
		// Remembered before the write: if the write fails, the next
		// reconcile writes this outcome again instead of sending a second
		// email with a second live link for the same resend generation.
		r.sent.sent(keyOf(inv), *s.sent)
	}
	if !equality.Semantic.DeepEqual(before.Status, inv.Status) {
		if err := r.Client.Status().Patch(ctx, inv, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				// Someone else wrote first (the acceptance page, say): their
				// write is a watch event that brings us back with fresh data.
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, errors.Join(stepErr, fmt.Errorf("writing status: %w", err))
		}
		r.recordTransition(before, inv)
		r.recordGrantsTransition(before, inv)
		if s.sent != nil {
			r.sent.written(keyOf(inv), s.sent.resend)
		}
	}
	if s.releaseFinalizer && inv.Status.AppliedGrants == nil {
		if err := r.removeFinalizer(ctx, inv); err != nil {
			return ctrl.Result{}, errors.Join(stepErr, fmt.Errorf("removing the %s finalizer: %w", v1alpha1.GrantsFinalizer, err))
		}
	}
	return s.result, stepErr
}

// loadAccount reads the account the invitation names (nil if absent).
func (r *Reconciler) loadAccount(ctx context.Context, s *scope) (bool, error) {
	acct := &v1alpha1.PartnerAccount{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.inv.Namespace, Name: s.inv.Spec.Account}, acct)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading PartnerAccount %s: %w", s.inv.Spec.Account, err)
	}
	s.account = acct
	s.accountDeleting = !acct.DeletionTimestamp.IsZero()
	return false, nil
}

// accountGone ends an invitation whose account is being deleted, or was
// deleted after the invitation had been valid with it (DESIGN rule 6:
// deleting an account is irreversible; its users must be invited again):
// state Revoked, reason AccountDeleted. Its grants go (or stay, with
// deletionPolicy Retain) in syncGrants. An invitation that never found its
// account stays Invalid with AccountNotFound.
func (r *Reconciler) accountGone(_ context.Context, s *scope) (bool, error) {
	st := &s.inv.Status
	if terminal(st) {
		return false, nil
	}
	wasValid := st.State == v1alpha1.InvitationPendingApproval || st.State == v1alpha1.InvitationAccepted || st.State == v1alpha1.InvitationExpired
	if !s.accountDeleting && (s.account != nil || !wasValid) {
		return false, nil
	}
	st.State = v1alpha1.InvitationRevoked
	// The reason setReady keeps for a Revoked invitation.
	set(s.inv, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAccountDeleted, revokedMessageFor(v1alpha1.ReasonAccountDeleted), s.now)
	return true, nil
}

// validate refuses a spec the catalogue or the account cannot honour, and
// a second live invitation of an address in the namespace. A withdrawn or
// accepted invitation is not sent anything, so it is not held to this (an
// accepted user's grants are syncGrants's), except that an accepted member
// whose domain the account no longer allows is removed (memberLeftDomains).
func (r *Reconciler) validate(ctx context.Context, s *scope) (bool, error) {
	st := &s.inv.Status
	if s.inv.Spec.Revoked || terminal(st) {
		return false, nil
	}
	if accepted(st) {
		return r.memberLeftDomains(s), nil
	}
	s.problem = checkSpec(s.inv, s.account, r.Config)
	if s.problem != nil && s.problem.Reason == v1alpha1.ReasonDomainNotAllowed && formerMember(s.inv) {
		s.problem = domainLeftProblem(s.inv, s.account)
	}
	if s.problem == nil && competes(s.inv) {
		others, err := r.sameAddress(ctx, s.inv, s.inv.Namespace)
		if err != nil {
			return false, err
		}
		if live := liveWinner(s.inv, others); live != nil {
			s.problem = duplicateProblem(s.inv, live)
		}
	}
	if s.problem == nil {
		if st.State == v1alpha1.InvitationInvalid {
			st.State = "" // recovered: the next steps set the state
		}
		return false, nil
	}
	st.State = v1alpha1.InvitationInvalid
	return true, nil
}

// memberLeftDomains ends the membership of an accepted user whose address
// the account's allowedDomains no longer covers: the acceptance and its
// proof go (syncGrants then revokes the grants), the link is ended, and
// the state is Invalid with DomainNotAllowed. Putting the domain back
// restores nothing by itself: the invitation then shows Expired, and the
// admin raises spec.resend so that the partner accepts again.
func (r *Reconciler) memberLeftDomains(s *scope) bool {
	inv, st := s.inv, &s.inv.Status
	if s.account == nil || s.accountDeleting || v1alpha1.DomainAllowed(string(inv.Spec.Email), s.account.Spec.AllowedDomains) {
		return false
	}
	st.AcceptedAt, st.AcceptanceProof = nil, nil
	if st.ExpiresAt == nil || s.now.Before(st.ExpiresAt.Time) {
		st.ExpiresAt = &metav1.Time{Time: s.now.Truncate(time.Second)}
	}
	st.State = v1alpha1.InvitationInvalid
	s.problem = domainLeftProblem(inv, s.account)
	set(inv, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonDomainNotAllowed, s.problem.Message, s.now)
	return true
}

// revoked ends a withdrawn invitation: its link stops working (the
// acceptance page refuses Revoked invitations).
func (r *Reconciler) revoked(_ context.Context, s *scope) (bool, error) {
	st := &s.inv.Status
	if terminal(st) {
		r.refuseResend(s, "it is revoked")
		return true, nil
	}
	if !s.inv.Spec.Revoked {
		return false, nil
	}
	// An accepted user's grants are revoked by the grants controller before
	// the state moves; without grants the state moves now.
	st.State = v1alpha1.InvitationRevoked
	return true, nil
}

// acceptedOrRefuseResend keeps an accepted invitation Accepted; a resend
// asked of it is refused with a condition.
func (r *Reconciler) acceptedOrRefuseResend(_ context.Context, s *scope) (bool, error) {
	if !accepted(&s.inv.Status) {
		return false, nil
	}
	s.inv.Status.State = v1alpha1.InvitationAccepted
	r.refuseResend(s, "it is already accepted")
	return true, nil
}

func (r *Reconciler) refuseResend(s *scope, why string) {
	if s.inv.Spec.Resend > s.inv.Status.ObservedResend {
		setEmailSent(s.inv, false, v1alpha1.ReasonResendNotAllowed,
			fmt.Sprintf("spec.resend=%d was not sent: %s; invite the address again with a new PartnerInvitation if needed", s.inv.Spec.Resend, why), s.now)
	}
}

// expire moves a pending invitation to Expired when its link runs out, and
// otherwise asks to be woken up at that moment.
func (r *Reconciler) expire(_ context.Context, s *scope) (bool, error) {
	st := &s.inv.Status
	if st.ExpiresAt == nil {
		return false, nil
	}
	if expired(st, s.now) {
		st.State = v1alpha1.InvitationExpired
		return true, nil
	}
	if st.SentAt != nil {
		st.State = v1alpha1.InvitationPendingApproval
	}
	s.requeueAfter(st.ExpiresAt.Sub(s.now))
	return false, nil
}

// recordTransition records an Event when the state moves (sends record
// their own Events).
func (r *Reconciler) recordTransition(before, after *v1alpha1.PartnerInvitation) {
	b, a := before.Status.State, after.Status.State
	if r.Recorder == nil || a == b {
		return
	}
	typ, reason, note := corev1.EventTypeNormal, string(a), ""
	switch a {
	case v1alpha1.InvitationExpired:
		typ, note = corev1.EventTypeWarning, "The link expired before the partner accepted; raise spec.resend to send a fresh one"
	case v1alpha1.InvitationRevoked:
		reason, note = revokedReason(after), revokedMessage(after)
	case v1alpha1.InvitationInvalid:
		if c := findCondition(&after.Status, v1alpha1.ConditionReady); c != nil {
			typ, reason, note = corev1.EventTypeWarning, c.Reason, c.Message
		}
	case v1alpha1.InvitationPendingApproval:
		if b == v1alpha1.InvitationInvalid {
			reason, note = "Valid", "The invitation is valid again"
		}
	}
	if note != "" {
		r.Recorder.Eventf(after, nil, typ, reason, "Reconcile", "%s", note)
	}
}
