package invitation

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file sets kstatus's Reconciling and Stalled conditions
// (sigs.k8s.io/cli-utils/pkg/kstatus, read by Flux's health checks and
// `kubectl wait`), from the status decide has just made: Reconciling=True
// while the controller still works towards what the spec asks, Stalled=True
// while nothing moves until someone acts; neither when the invitation is
// settled, which includes a sent invitation waiting for its partner (it
// may wait for days, and a GitOps health check must not wait with it) and
// a Revoked one (a finished, intended outcome). Both are always present,
// False with NotReconciling / NotStalled when they do not hold, so that
// `kubectl wait --for=condition=Stalled=False` works; kstatus reads an
// absent and a False condition alike.

// cause is a condition's reason and message.
type cause struct{ reason, message string }

// progress says whether inv, as decide left it, is still being worked on
// (reconciling) or waits for someone (stalled); at most one is set.
func progress(inv *v1alpha1.PartnerInvitation, d *decision) (reconciling, stalled *cause) {
	st := &inv.Status
	if c := failingGrants(inv); c != nil {
		if c.Reason == v1alpha1.ReasonBackendUnavailable {
			return &cause{c.Reason, c.Message}, nil // retried with backoff
		}
		return nil, &cause{c.Reason, c.Message} // refused for good, or nothing may be granted
	}
	if !inv.DeletionTimestamp.IsZero() {
		return &cause{v1alpha1.ReasonDeleting, "Revoking the grants partnerops made before the invitation goes"}, nil
	}
	if grantsPending(inv, d.plan) {
		msg := "Applying the grants of " + string(inv.Spec.Email) + " in the identity backend"
		if !d.plan.member {
			msg = "Revoking the grants of " + string(inv.Spec.Email) + " in the identity backend"
		}
		return &cause{v1alpha1.ReasonGrantsPending, msg}, nil
	}
	switch st.State {
	case v1alpha1.InvitationInvalid:
		if d.problem != nil { // always, for an invitation decide leaves Invalid
			return nil, &cause{d.problem.Reason, d.problem.Message}
		}
	case v1alpha1.InvitationAccepted, v1alpha1.InvitationRevoked:
		return nil, nil
	}
	// New, PendingApproval or Expired: the email.
	if c := sendingCause(inv); c != nil {
		return c, nil
	}
	email := findCondition(st, v1alpha1.ConditionEmailSent)
	switch {
	case email != nil && email.Status == metav1.ConditionFalse && email.Reason == v1alpha1.ReasonRecipientRejected:
		return nil, &cause{email.Reason, email.Message}
	case st.State == v1alpha1.InvitationExpired:
		msg := "The link expired before the partner accepted; raise spec.resend to send a fresh one"
		if c := findCondition(st, v1alpha1.ConditionExpired); c != nil && c.Status == metav1.ConditionTrue {
			msg = c.Message
		}
		return nil, &cause{v1alpha1.ReasonExpired, msg}
	}
	return nil, nil
}

// sendingCause is why an email is still on its way: never attempted, a
// resend asked and not sent yet, or a send failing for a reason that is
// retried (the mail server unavailable, the namespace's cap, an email that
// cannot be built yet); nil when no email is due.
func sendingCause(inv *v1alpha1.PartnerInvitation) *cause {
	st := &inv.Status
	email := findCondition(st, v1alpha1.ConditionEmailSent)
	if email != nil && email.Status == metav1.ConditionFalse {
		switch email.Reason {
		case v1alpha1.ReasonSMTPUnavailable, v1alpha1.ReasonRateLimited, v1alpha1.ReasonSendFailed:
			return &cause{email.Reason, email.Message}
		}
	}
	switch {
	case inv.Spec.Resend > st.ObservedResend:
		return &cause{v1alpha1.ReasonSending, fmt.Sprintf("Sending the email that spec.resend=%d asks for", inv.Spec.Resend)}
	case email == nil:
		return &cause{v1alpha1.ReasonSending, "The invitation email is being sent"}
	}
	return nil
}

// failingGrants is GrantsSynced when the grants step failed for the
// current generation (a foreign group left alone is no failure of the
// invitation's own grants).
func failingGrants(inv *v1alpha1.PartnerInvitation) *metav1.Condition {
	c := findCondition(&inv.Status, v1alpha1.ConditionGrantsSynced)
	if c == nil || c.Status == metav1.ConditionTrue || c.ObservedGeneration != inv.Generation || c.Reason == v1alpha1.ReasonGroupNotManaged {
		return nil
	}
	return c
}

// grantsPending: the backend does not hold what plan asks yet (a member's
// groups to apply, or a removed user's to revoke).
func grantsPending(inv *v1alpha1.PartnerInvitation, plan *grantsPlan) bool {
	rec := inv.Status.AppliedGrants
	switch {
	case plan == nil || plan.retain:
		return false
	case !plan.member:
		return rec != nil
	case len(plan.desired) == 0 && rec == nil:
		return false // a member with no system: nothing to apply
	}
	return !inSync(rec, inv, plan.desired)
}

// setProgress sets Reconciling and Stalled from progress.
func setProgress(inv *v1alpha1.PartnerInvitation, d *decision, now time.Time) {
	reconciling, stalled := progress(inv, d)
	switch {
	case reconciling != nil:
		set(inv, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reconciling.reason, reconciling.message, now)
		set(inv, v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonNotStalled,
			"Not stalled: the controller is working on it (see Reconciling)", now)
	case stalled != nil:
		set(inv, v1alpha1.ConditionReconciling, metav1.ConditionFalse, v1alpha1.ReasonNotReconciling,
			"Nothing moves until someone acts (see Stalled)", now)
		set(inv, v1alpha1.ConditionStalled, metav1.ConditionTrue, stalled.reason, stalled.message, now)
	default:
		msg := "Nothing left to do"
		if ready := findCondition(&inv.Status, v1alpha1.ConditionReady); ready != nil {
			msg += ": " + ready.Message
		}
		set(inv, v1alpha1.ConditionReconciling, metav1.ConditionFalse, v1alpha1.ReasonNotReconciling, msg, now)
		set(inv, v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonNotStalled, "Nothing needs someone to act", now)
	}
}
