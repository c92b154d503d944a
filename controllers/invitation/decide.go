package invitation

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
)

// This file is the invitation's lifecycle as one pure function: decide
// reads the invitation, what the load step found (its account, the other
// invitations of its address, whether its acceptance proof verifies), the
// configuration and the time, and what the side-effect steps did (an email
// sent, the backend's answer), and returns the status, with its state and
// every condition, and what the steps should do. Reconcile calls it once
// before the side effects, to learn what to do, and once after, to write
// the status. No client, no clock, no I/O.

// input is everything decide reads.
type input struct {
	// inv is the invitation as read; decide never changes it.
	inv *v1alpha1.PartnerInvitation
	// account is the PartnerAccount inv belongs to, nil when there is
	// none: the one spec.account names, else the one status.account
	// recorded (another account of that name, with another UID than
	// status.accountUID, is read here too: decide tells them apart), else
	// the one chosen by the address's domain.
	account *v1alpha1.PartnerAccount
	// unmatched is why no account could be chosen by domain for an
	// invitation without spec.account (NoAccountForDomain,
	// AmbiguousAccount); nil otherwise.
	unmatched *problem
	// siblings are the other invitations of inv's address in its
	// namespace.
	siblings []v1alpha1.PartnerInvitation
	// proof is the verification of inv's acceptance proof, when inv was
	// accepted: nil when it verifies, an error wrapping
	// token.ErrProofInvalid when it does not.
	proof error
	// unchecked: the proof could not be checked (the keys could not be
	// read); proof is then nil, and only a plan that grants nothing may
	// go on (Reconcile sees to it).
	unchecked error
	// namespaceGone is the deletion timestamp of inv's namespace, read
	// when it matters (inv being deleted, its account kept with Retain).
	namespaceGone *metav1.Time
	cfg           *config.Config
	now           time.Time

	// send is what the send step did; nil before it ran (or when no email
	// was wanted).
	send *sendResult
	// grants is what the grants step did; nil when it did not call the
	// backend.
	grants *grantsResult
	// reproof is inv's verified acceptance proof made anew with the
	// current key (the same when that key made it).
	reproof *v1alpha1.AcceptanceProof
}

// sendResult is the outcome of the send step: one of its fields is set.
type sendResult struct {
	// outcome: the email was handed to the mail server, or the server
	// refused its recipient (sent now, or remembered from a reconcile whose
	// status write did not land).
	outcome *sendOutcome
	// waiting: the email was sent and its status written, but the cache
	// does not show that write yet; nothing changes until it does.
	waiting bool
	// failure: nothing was sent (rate limited, could not compose, the mail
	// server unavailable), with the EmailSent reason and message.
	failure *problem
	// retryIn: when a rate-limited send goes out.
	retryIn time.Duration
	// paced: the email waits for its turn in the global pace of emails
	// (rateLimits.emailsPerSecond), in retryIn; nothing is said of it.
	paced bool
	// backingOff: the last attempt failed and the next one waits its
	// backoff, in retryIn; the failure's EmailSent stands, and the rest of
	// the status is decided as ever (an expiry does not wait for it).
	backingOff bool
}

// grantsResult is the backend's answer to the grants step.
type grantsResult struct {
	// record is what partnerops holds in the backend after the call.
	record *v1alpha1.AppliedGrants
	// refused are recorded groups left alone: not the template's for this
	// namespace.
	refused []string
	// err is the backend's failure, if any (record then says what was done
	// before it).
	err error
	// removed is how many groups partnerops took the user out of (or left
	// to another member of the same address who still wants them).
	removed int
}

// decision is what decide returns.
type decision struct {
	// status is the invitation's new status.
	status v1alpha1.PartnerInvitationStatus
	// wantSend: an email is due (the first, a retry, or a resend).
	wantSend bool
	// plan is what the backend should hold; nil when grants cannot be
	// computed or are not proven (grantsProblem says why).
	plan *grantsPlan
	// releaseFinalizer: nothing is left in the backend to revoke.
	releaseFinalizer bool
	// requeueAfter is when the invitation wants to be looked at again
	// (the link's expiry, a rate-limited send).
	requeueAfter time.Duration

	problem *problem // why the spec cannot be honoured (Ready=False)
	sending bool     // the send section ran
}

func (d *decision) requeue(after time.Duration) {
	if after > 0 && (d.requeueAfter == 0 || after < d.requeueAfter) {
		d.requeueAfter = after
	}
}

// decide computes the invitation's status from in.
func decide(in input) decision {
	inv := in.inv.DeepCopy()
	var d decision
	if inv.DeletionTimestamp.IsZero() {
		d.lifecycle(inv, in)
	}
	d.grants(inv, in)
	setAccepted(inv, in.now)
	setExpired(inv, in.now)
	setReady(inv, d.problem, in.now)
	setProgress(inv, &d, in.now)
	inv.Status.ObservedGeneration = inv.Generation
	d.status = inv.Status
	return d
}

// lifecycle records the account and moves the state: the first rule that
// applies ends it.
func (d *decision) lifecycle(inv *v1alpha1.PartnerInvitation, in input) {
	st := &inv.Status
	gone := accountGone(inv, in.account)
	belongTo(inv, in.account, gone)
	switch {
	case gone:
		// Deleting an account is irreversible: its users must be invited
		// again, also when an account of the same name is created since.
		// An invitation that never found its account stays Invalid.
		st.State, st.RevokedReason = v1alpha1.InvitationRevoked, v1alpha1.RevokedAccountDeleted
		return
	case terminal(st):
		refuseResend(inv, "it is revoked", in.now)
		return
	case inv.Spec.Revoked:
		st.State, st.RevokedReason = v1alpha1.InvitationRevoked, v1alpha1.RevokedWithdrawn
		return
	case accepted(st):
		if d.memberLeftDomains(inv, in) {
			return
		}
		st.State = v1alpha1.InvitationAccepted
		refuseResend(inv, "it is already accepted", in.now)
		return
	}
	if d.problem = specProblem(inv, in); d.problem != nil {
		st.State = v1alpha1.InvitationInvalid
		return
	}
	if st.State == v1alpha1.InvitationInvalid || st.State == v1alpha1.InvitationAccepted {
		// Recovered, or a state of Accepted with no acceptance recorded
		// (a status written by hand): what follows sets the state.
		st.State = ""
	}
	if sendWanted(inv) {
		d.sending = true
		d.send(inv, in)
	}
	// A link sent before expires at its time even while a resend fails.
	d.expire(inv, in.now)
}

// accountGone: the account the invitation found (status.accountUID) is
// being deleted, or was deleted, or is now another account under the same
// name (deleted and created again). An invitation recorded before
// status.accountUID existed counts its account as gone when it is being
// deleted, or missing after the invitation had been valid with it.
func accountGone(inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount) bool {
	st := &inv.Status
	switch {
	case terminal(st):
		return false
	case account != nil && !account.DeletionTimestamp.IsZero():
		return true
	case st.AccountUID != "":
		return account == nil || string(account.UID) != st.AccountUID
	case account != nil:
		return false
	}
	return st.State == v1alpha1.InvitationPendingApproval || st.State == v1alpha1.InvitationAccepted || st.State == v1alpha1.InvitationExpired
}

// belongTo records, once, the account the invitation belongs to:
// status.account is spec.account, else the name of the account chosen by
// domain; status.accountUID is the UID of that account once it is found
// (an invitation may name an account before it exists). A recorded UID is
// never replaced, and none is recorded for an account that is gone (being
// deleted, or not the one recorded) or for a revoked invitation.
func belongTo(inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount, gone bool) {
	st := &inv.Status
	switch {
	case inv.Spec.Account != "":
		st.Account = inv.Spec.Account
	case st.Account == "" && account != nil:
		st.Account = account.Name
	}
	if st.AccountUID == "" && account != nil && account.Name == st.Account && !gone && !terminal(st) {
		st.AccountUID = string(account.UID)
	}
}

// specProblem is why a pending invitation cannot proceed: its spec (the
// catalogue, the account, its domains), or another live invitation of its
// address in the namespace.
func specProblem(inv *v1alpha1.PartnerInvitation, in input) *problem {
	p := checkSpec(inv, in.account, in.unmatched, in.cfg)
	switch {
	case p != nil && p.Reason == v1alpha1.ReasonDomainNotAllowed && formerMember(inv):
		return domainLeftProblem(inv, in.account)
	case p != nil:
		return p
	case competes(inv):
		if live := liveWinner(inv, in.siblings); live != nil {
			return duplicateProblem(inv, live)
		}
	}
	return nil
}

// memberLeftDomains ends the membership of an accepted user whose address
// the account's allowedDomains no longer covers: the acceptance and its
// proof go (the grants are then revoked), the link is ended, and the state
// is Invalid with DomainNotAllowed. Putting the domain back restores
// nothing by itself: the invitation then shows Expired, and the admin
// raises spec.resend so that the partner accepts again.
func (d *decision) memberLeftDomains(inv *v1alpha1.PartnerInvitation, in input) bool {
	st := &inv.Status
	if in.account == nil || !in.account.DeletionTimestamp.IsZero() || v1alpha1.DomainAllowed(string(inv.Spec.Email), in.account.Spec.AllowedDomains) {
		return false
	}
	st.AcceptedAt, st.AcceptanceProof = nil, nil
	if st.ExpiresAt == nil || in.now.Before(st.ExpiresAt.Time) {
		st.ExpiresAt = &metav1.Time{Time: in.now.Truncate(time.Second)}
	}
	st.State = v1alpha1.InvitationInvalid
	d.problem = domainLeftProblem(inv, in.account)
	set(inv, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonDomainNotAllowed, d.problem.Message, in.now)
	return true
}

func refuseResend(inv *v1alpha1.PartnerInvitation, why string, now time.Time) {
	if inv.Spec.Resend > inv.Status.ObservedResend {
		setEmailSent(inv, false, v1alpha1.ReasonResendNotAllowed,
			fmt.Sprintf("spec.resend=%d was not sent: %s; invite the address again with a new PartnerInvitation if needed", inv.Spec.Resend, why), now)
	}
}

// send records what the send step did; before it ran, it asks for it.
func (d *decision) send(inv *v1alpha1.PartnerInvitation, in input) {
	st := &inv.Status
	r := in.send
	switch {
	case r == nil:
		d.wantSend = true
		return
	case r.waiting:
		return
	case r.paced, r.backingOff:
		d.requeue(r.retryIn)
		return
	case r.outcome != nil:
		r.outcome.apply(inv)
		return
	}
	if st.State == "" {
		st.State = v1alpha1.InvitationPendingApproval
	}
	setEmailSent(inv, false, r.failure.Reason, r.failure.Message, in.now)
	d.requeue(r.retryIn)
}

// expire moves a pending invitation to Expired when its link runs out, and
// otherwise asks to be woken up at that moment.
func (d *decision) expire(inv *v1alpha1.PartnerInvitation, now time.Time) {
	st := &inv.Status
	if st.ExpiresAt == nil {
		return
	}
	if expired(st, now) {
		st.State = v1alpha1.InvitationExpired
		return
	}
	if st.SentAt != nil {
		st.State = v1alpha1.InvitationPendingApproval
	}
	d.requeue(st.ExpiresAt.Sub(now))
}

// grants plans what the backend should hold and records the backend's
// answer in GrantsSynced and appliedGrants.
func (d *decision) grants(inv *v1alpha1.PartnerInvitation, in input) {
	plan, prob := planGrants(inv, in)
	if prob != nil {
		setGrants(inv, false, prob.Reason, "Grants not changed: "+prob.Message, in.now)
		if prob.Reason == v1alpha1.ReasonAcceptanceUnverified {
			// A key removed too early may be put back: look again at the
			// resync interval (the keys Secret is not watched).
			d.requeue(in.cfg.IdentityBackend.ResyncInterval.Duration)
		}
		return
	}
	d.plan = plan
	st := &inv.Status
	if plan.member && in.reproof != nil {
		st.AcceptanceProof = in.reproof
	}
	rec := st.AppliedGrants
	switch {
	case plan.retain:
		if rec != nil {
			st.AppliedGrants = nil
			setGrants(inv, true, v1alpha1.ReasonGrantsRetained, fmt.Sprintf(
				"The account was deleted with deletionPolicy Retain: %s stays in %d group(s) of the identity backend, no longer managed by partnerops",
				inv.Spec.Email, len(rec.Groups)), in.now)
		}
		d.releaseFinalizer = true
		return
	case len(plan.desired) == 0 && rec == nil && in.grants == nil:
		// Nothing recorded to revoke. With the finalizer, syncGrants asks
		// the backend before it goes (a grant whose record was lost may
		// have landed), and its answer comes below. Without it nothing
		// will: a GrantsSynced=False left by a problem fixed since (a
		// mistyped role) goes, as no grant applies.
		d.releaseFinalizer = !controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer)
		if c := findCondition(st, v1alpha1.ConditionGrantsSynced); d.releaseFinalizer && c != nil && c.Status == metav1.ConditionFalse {
			meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionGrantsSynced)
		}
		return
	case in.grants == nil:
		return // the backend was not called: nothing new to say
	}
	g := in.grants
	st.AppliedGrants = g.record
	if g.err != nil {
		setGrants(inv, false, backendErrorReason(g.err), grantErrorMessage(!plan.member, g.err), in.now)
		return
	}
	switch {
	case !plan.member:
		d.releaseFinalizer = true
		setGrants(inv, true, v1alpha1.ReasonGrantsRevoked, fmt.Sprintf("Removed %s from the %d group(s) partnerops had added", inv.Spec.Email, g.removed), in.now)
	case g.record == nil:
		d.releaseFinalizer = true // a member with no group, and no user of partnerops's to keep
		fallthrough
	default:
		if !notManagedStands(inv) {
			setGrants(inv, true, v1alpha1.ReasonGrantsApplied, appliedMessage(inv, plan.desired, g.record), in.now)
		}
	}
	if len(g.refused) > 0 {
		setGrants(inv, false, v1alpha1.ReasonGroupNotManaged, fmt.Sprintf(
			"Left alone and dropped from status.appliedGrants: %s: the groupTemplate does not yield %s for namespace %s and the catalogue, so partnerops removes no one from it",
			strings.Join(g.refused, ", "), plural(len(g.refused), "it", "them"), inv.Namespace), in.now)
	}
}

// planGrants decides what the backend should hold for inv (as lifecycle
// left it): its groups when it is accepted (and its account stays),
// nothing otherwise; a problem when the grants cannot be computed (an
// unknown role or system) or the acceptance is not proven: nothing is
// granted on status someone else could have written.
func planGrants(inv *v1alpha1.PartnerInvitation, in input) (*grantsPlan, *problem) {
	if retained(inv, in.account, in.namespaceGone) {
		// What an edit was taking away when the account went is taken
		// away first, then the rest is retained. That pass only removes:
		// it is planned without the acceptance proof, and Retain never
		// grants (a recorded group someone took the user out of stays so).
		if want, p := desiredGroups(inv, in.cfg); p == nil && inv.Status.AppliedGrants != nil {
			if keep := sets.New(want...).Intersection(sets.New(inv.Status.AppliedGrants.Groups...)); keep.Len() < len(inv.Status.AppliedGrants.Groups) {
				return &grantsPlan{desired: sets.List(keep), member: true, removeOnly: true}, nil
			}
		}
		return &grantsPlan{retain: true}, nil
	}
	if inv.Status.State != v1alpha1.InvitationAccepted || !inv.DeletionTimestamp.IsZero() {
		return &grantsPlan{}, nil
	}
	if in.proof != nil {
		return nil, &problem{v1alpha1.ReasonAcceptanceUnverified, fmt.Sprintf(
			"the invitation says Accepted but its acceptance proof does not verify (%v): only the acceptance page records a partner's consent; find who wrote this status", in.proof)}
	}
	desired, prob := desiredGroups(inv, in.cfg)
	if prob != nil {
		return nil, prob
	}
	return &grantsPlan{desired: desired, member: true}, nil
}

// retained says whether the deletion of inv's account under deletionPolicy
// Retain keeps inv's grants: only those of a member when the account went
// (and of those, only what its spec still asks: planGrants takes away the
// rest first).
// A partner withdrawn, or removed or deleted before the account, or whose
// membership had ended (its domain no longer allowed), is revoked as ever,
// also when the revocation had not landed yet: Retain keeps access, it
// never keeps what was being taken away. The namespace's deletion
// (namespaceGone) is the account's too: the namespace controller deletes
// invitations and accounts in no set order.
func retained(inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount, namespaceGone *metav1.Time) bool {
	if account == nil || account.Spec.DeletionPolicy != v1alpha1.DeletionPolicyRetain {
		return false
	}
	gone := account.DeletionTimestamp
	if gone.IsZero() || (namespaceGone != nil && namespaceGone.Before(gone)) {
		gone = namespaceGone
	}
	switch {
	case gone.IsZero():
		return false
	case inv.Spec.Revoked || !accepted(&inv.Status):
		return false
	case !inv.DeletionTimestamp.IsZero() && inv.DeletionTimestamp.Before(gone):
		return false
	}
	return true
}
