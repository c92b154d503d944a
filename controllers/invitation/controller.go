// Package invitation is the PartnerInvitation controller: it watches
// PartnerInvitations (the PartnerAccounts they belong to or may join, and
// the other invitations of the same address) and changes their status and
// the identity backend: it associates an invitation without spec.account
// with the account its address's domain chooses, validates them against
// the catalogue and the account, keeps one live invitation per address in
// a namespace, sends the invitation email with a signed link, expires the
// link on time, honours resend and withdraw, and keeps an accepted user's
// grants in the backend.
// Acceptance is recorded by the acceptance page (internal/acceptance), with
// a proof the controller checks before granting anything.
//
// Files: decide.go is the lifecycle as one pure function (state and every
// condition); policy.go its pure rules; status.go one setter per
// condition; controller.go the watches and a short Reconcile (load,
// decide, finalizer, send, grants, decide, write); send.go and grants.go
// the two side effects; siblings.go the questions asked of the other
// invitations of an address.
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
	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/index"
	"github.com/partnerops/partnerops/internal/ratelimit"
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
	Templates(ctx context.Context) (*i18n.Templates, error)
}

// Limiter paces sends (internal/ratelimit.Limiter): Take answers when the
// send of an invitation (its key) may go, keeping its turn meanwhile; Drop
// gives a turn back; Refund gives back to a namespace's hourly allowance
// what a send that did not go out took.
type Limiter interface {
	Take(ctx context.Context, key, namespace string) (ratelimit.Turn, error)
	Drop(key string)
	Refund(namespace string)
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

	resync       resyncSchedule
	sent         sentRecords
	retries      retryGate  // of sends, by resend generation
	grantRetries retryGate  // of grants syncs, by grantsPlan.version
	addresses    keyedMutex // one reconcile at a time per address in a namespace
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

// invitationsOfAccount maps an account event to its invitations (named in
// spec.account or joined by domain), so that a created or deleted account
// or a changed allowedDomains or invitationTTL is seen, and to the
// invitations of the namespace that belong to no account yet, which a new
// account, or changed allowedDomains, may take in (or untie).
func (r *Reconciler) invitationsOfAccount(ctx context.Context, o client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, field := range []client.MatchingFields{
		{index.InvitationAccount: o.GetName()},
		{index.InvitationAwaitingAccount: index.AwaitingAccount},
	} {
		var list v1alpha1.PartnerInvitationList
		if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), field); err != nil {
			log.FromContext(ctx).Error(err, "Listing the invitations of an account", "account", klog.KObj(o))
			return nil
		}
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
		}
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

// Reconcile moves one invitation one step towards what its spec asks:
// load what the decision reads, decide, add the finalizer first when
// grants are due, send and sync grants as decided, decide again with their
// outcomes, and write the status at most once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	inv := &v1alpha1.PartnerInvitation{}
	if err := r.Client.Get(ctx, req.NamespacedName, inv); err != nil {
		if apierrors.IsNotFound(err) {
			r.sent.forget(req.NamespacedName)
			r.retries.forget(req.NamespacedName)
			r.grantRetries.forget(req.NamespacedName)
			r.dropTurn(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !inv.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer) {
		return ctrl.Result{}, nil // nothing to clean up: no grants were made
	}
	// One reconcile at a time per address in a namespace: which of its
	// invitations is live is decided on the others' status, and two
	// deciding at once (neither seeing the other's send) would both send.
	defer r.addresses.lock(inv.Namespace + "/" + v1alpha1.NormalizeEmail(string(inv.Spec.Email)))()
	in, err := r.load(ctx, inv)
	if err != nil {
		return ctrl.Result{}, err
	}
	pre := decide(in)
	if in.unchecked != nil && (pre.plan == nil || (pre.plan.member && !pre.plan.removeOnly)) {
		// The proof could not be checked (the keys Secret unreadable):
		// nothing is granted or changed for a member, while what takes
		// access away goes on (it never needs the proof).
		return ctrl.Result{}, in.unchecked
	}
	if !pre.wantSend {
		r.sent.caughtUp(inv)
		r.retries.forget(req.NamespacedName)
		r.dropTurn(req.NamespacedName)
	}
	if added, err := r.ensureFinalizer(ctx, inv, in.account, pre.plan); added || err != nil {
		return ctrl.Result{}, err // the update is an event that brings us back
	}
	var (
		stepErr error
		requeue time.Duration
	)
	if pre.wantSend {
		in.send, stepErr = r.send(ctx, inv, in)
		if in.send != nil && in.send.paced {
			// Its turn in the pace of emails comes later: nothing to write
			// until then, and the worker is free for other invitations.
			return ctrl.Result{RequeueAfter: in.send.retryIn}, nil
		}
	}
	if stepErr == nil {
		in.grants, requeue, stepErr = r.syncGrants(ctx, inv, in.account, pre.plan, in.now)
	}
	d := decide(in)
	res, err := r.writeStatus(ctx, inv, in.send, d)
	if requeue > 0 && (res.RequeueAfter == 0 || requeue < res.RequeueAfter) {
		res.RequeueAfter = requeue
	}
	return res, errors.Join(stepErr, err)
}

// dropTurn gives back the turn in the pace of emails kept for key, if any.
func (r *Reconciler) dropTurn(key types.NamespacedName) {
	if r.Limiter != nil {
		r.Limiter.Drop(key.String())
	}
}

// load reads what decide needs besides the invitation: its account, the
// other invitations of its address in the namespace, and whether its
// acceptance proof verifies (and the proof made anew with the current
// key). An error is one of reading, never a verdict.
func (r *Reconciler) load(ctx context.Context, inv *v1alpha1.PartnerInvitation) (input, error) {
	in := input{inv: inv, cfg: r.Config, now: r.Clock.Now()}
	if err := r.loadAccount(ctx, inv, &in); err != nil {
		return in, err
	}
	if a := in.account; a != nil && !inv.DeletionTimestamp.IsZero() && a.DeletionTimestamp.IsZero() && a.Spec.DeletionPolicy == v1alpha1.DeletionPolicyRetain {
		ns := &corev1.Namespace{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: inv.Namespace}, ns); err != nil {
			return in, fmt.Errorf("reading namespace %s: %w", inv.Namespace, err)
		}
		in.namespaceGone = ns.DeletionTimestamp
	}
	siblings, err := r.sameAddress(ctx, inv, inv.Namespace)
	if err != nil {
		return in, err
	}
	in.siblings = r.sent.overlay(siblings)
	if inv.Status.AcceptedAt != nil {
		proof, failure := verified(r.verifyAcceptance(ctx, inv))
		if failure != nil {
			// Decided on only where no proof is needed (a revocation):
			// Reconcile stops before anything else.
			in.unchecked = fmt.Errorf("verifying the acceptance: %w", failure)
			return in, nil
		}
		in.proof = proof
		if proof == nil {
			if in.reproof, err = r.reprove(ctx, inv); err != nil {
				return in, err
			}
		}
	}
	return in, nil
}

// loadAccount finds the invitation's account: the one spec.account names,
// else the one status.account recorded (decide compares its UID), else,
// for a live invitation that belongs to no account yet, the one its
// address's domain chooses among the namespace's accounts (chooseAccount;
// why none could be chosen goes to in.unmatched).
func (r *Reconciler) loadAccount(ctx context.Context, inv *v1alpha1.PartnerInvitation, in *input) error {
	if name := inv.AccountName(); name != "" {
		acct := &v1alpha1.PartnerAccount{}
		switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: inv.Namespace, Name: name}, acct); {
		case err == nil:
			in.account = acct
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("reading PartnerAccount %s: %w", name, err)
		}
		return nil
	}
	if !inv.DeletionTimestamp.IsZero() || terminal(&inv.Status) {
		return nil
	}
	var list v1alpha1.PartnerAccountList
	if err := r.Client.List(ctx, &list, client.InNamespace(inv.Namespace)); err != nil {
		return fmt.Errorf("listing the PartnerAccounts of namespace %s: %w", inv.Namespace, err)
	}
	in.account, in.unmatched = chooseAccount(inv, list.Items)
	return nil
}

// sentWriteTimeout bounds the status write that records a sent email when
// it outlives the reconcile's context.
const sentWriteTimeout = 10 * time.Second

// writeStatus writes d's status when it differs from inv's (one patch with
// optimistic locking), records the Events of what moved, and drops the
// finalizer once nothing is left to revoke. An email handed to the mail
// server is remembered before the write: if the write fails, the next
// reconcile writes the same outcome again instead of sending a second
// email with a second live link for the same resend generation.
func (r *Reconciler) writeStatus(ctx context.Context, inv *v1alpha1.PartnerInvitation, sent *sendResult, d decision) (ctrl.Result, error) {
	res := ctrl.Result{RequeueAfter: d.requeueAfter}
	before := inv.DeepCopy()
	inv.Status = d.status
	var out *sendOutcome
	if sent != nil && sent.outcome != nil {
		out = sent.outcome
		r.sent.sent(keyOf(inv), *out)
	}
	if !equality.Semantic.DeepEqual(before.Status, inv.Status) {
		wctx := ctx
		if out != nil {
			// An email went out: its record must land even when the
			// manager is stopping (a rollout cancels ctx), or the next
			// manager sends it again.
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), sentWriteTimeout)
			defer cancel()
		}
		err := r.Client.Status().Patch(wctx, inv, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// Someone else wrote first (the acceptance page, say): their
			// write is a watch event that brings us back with fresh data.
			// The caller still returns its step's error, so a failing send
			// or backend keeps its backoff.
			return ctrl.Result{}, nil
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("writing status: %w", err)
		}
		r.recordTransition(before, inv)
		r.recordGrantsTransition(before, inv)
		if out != nil {
			r.sent.written(keyOf(inv), out.resend)
		}
	}
	if d.releaseFinalizer && inv.Status.AppliedGrants == nil {
		if err := r.removeFinalizer(ctx, inv); err != nil {
			return res, fmt.Errorf("removing the %s finalizer: %w", v1alpha1.GrantsFinalizer, err)
		}
	}
	return res, nil
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
