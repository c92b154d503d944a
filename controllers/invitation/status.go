package invitation

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity"
)

// This file sets the invitation's conditions: one function per condition,
// each only moving lastTransitionTime when the condition's status moves.

func findCondition(st *v1alpha1.PartnerInvitationStatus, t string) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, t)
}

func set(inv *v1alpha1.PartnerInvitation, t string, status metav1.ConditionStatus, reason, msg string, now time.Time) {
	meta.SetStatusCondition(&inv.Status.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: inv.Generation, LastTransitionTime: metav1.NewTime(now),
	})
}

// condition is a condition of inv's current generation, set at now.
func condition(inv *v1alpha1.PartnerInvitation, t string, ok bool, reason, msg string, now time.Time) metav1.Condition {
	return metav1.Condition{Type: t, Status: boolStatus(ok), Reason: reason, Message: msg,
		ObservedGeneration: inv.Generation, LastTransitionTime: metav1.NewTime(now)}
}

// setGrants sets GrantsSynced.
func setGrants(inv *v1alpha1.PartnerInvitation, ok bool, reason, msg string, now time.Time) {
	set(inv, v1alpha1.ConditionGrantsSynced, boolStatus(ok), reason, msg, now)
}

func setEmailSent(inv *v1alpha1.PartnerInvitation, ok bool, reason, msg string, now time.Time) {
	set(inv, v1alpha1.ConditionEmailSent, boolStatus(ok), reason, msg, now)
}

// setAccepted says whether the partner is a member now: True once they
// accepted, and False again once they are gone (withdrawn, removed, their
// account deleted), so that `kubectl wait --for=condition=Accepted` never
// returns for someone who is no longer a member.
func setAccepted(inv *v1alpha1.PartnerInvitation, now time.Time) {
	st := &inv.Status
	if accepted(st) {
		switch {
		case !inv.DeletionTimestamp.IsZero():
			set(inv, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonRemoved,
				"The partner had accepted; the invitation is being deleted (removed from the account), and their access with it", now)
		case st.State == v1alpha1.InvitationRevoked:
			reason := revokedReason(inv)
			set(inv, v1alpha1.ConditionAccepted, metav1.ConditionFalse, reason,
				"The partner had accepted; "+lowerFirst(revokedMessage(inv))+", and their access is revoked", now)
		default:
			set(inv, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted,
				v1alpha1.AcceptedAtMessage(st.AcceptedAt.Time), now)
		}
		return
	}
	if inv.Status.State == v1alpha1.InvitationRevoked && revokedReason(inv) == v1alpha1.ReasonDeclined {
		// The acceptance page wrote Accepted=False reason Declined; keep it
		// (same words as internal/acceptance), so no second write follows.
		set(inv, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonDeclined,
			revokedMessage(inv), now)
		return
	}
	if formerMember(inv) && (inv.Status.State == v1alpha1.InvitationInvalid || inv.Status.State == v1alpha1.InvitationExpired) {
		// Removed when the account stopped allowing the domain: keep saying
		// so until a resend invites the partner again.
		return
	}
	set(inv, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonAwaitingAcceptance,
		"The partner has not accepted yet", now)
}

func setExpired(inv *v1alpha1.PartnerInvitation, now time.Time) {
	st := &inv.Status
	switch {
	case st.State == v1alpha1.InvitationExpired:
		at := ""
		if st.ExpiresAt != nil { // always set by the controller; a status written by hand may lack it
			at = " at " + st.ExpiresAt.UTC().Format(time.RFC3339)
		}
		set(inv, v1alpha1.ConditionExpired, metav1.ConditionTrue, v1alpha1.ReasonExpired,
			fmt.Sprintf("The link expired%s; raise spec.resend to send a fresh one", at), now)
	case st.ExpiresAt != nil:
		set(inv, v1alpha1.ConditionExpired, metav1.ConditionFalse, v1alpha1.ReasonNotExpired,
			"The link is valid until "+st.ExpiresAt.UTC().Format(time.RFC3339), now)
	}
}

// setReady summarises: True when the invitation is settled as asked, False
// with the reason that needs attention.
func setReady(inv *v1alpha1.PartnerInvitation, prob *problem, now time.Time) {
	st := &inv.Status
	if prob != nil {
		set(inv, v1alpha1.ConditionReady, metav1.ConditionFalse, prob.Reason, prob.Message, now)
		return
	}
	var (
		ok     bool
		reason string
		msg    string
	)
	emailSent := findCondition(st, v1alpha1.ConditionEmailSent)
	grants := findCondition(st, v1alpha1.ConditionGrantsSynced)
	// A refused foreign group (GroupNotManaged) is reported on GrantsSynced
	// only: the invitation's own grants are as asked.
	grantsFailing := grants != nil && grants.Status != metav1.ConditionTrue && grants.ObservedGeneration == inv.Generation &&
		grants.Reason != v1alpha1.ReasonGroupNotManaged
	switch st.State {
	case v1alpha1.InvitationRevoked:
		ok, reason, msg = true, revokedReason(inv), revokedMessage(inv)
		if grantsFailing {
			// The reason stays why it is revoked; the grants are not gone yet.
			ok, msg = false, msg+"; "+grants.Message
		}
	case v1alpha1.InvitationAccepted:
		ok, reason, msg = true, v1alpha1.ReasonAccepted, v1alpha1.MessagePartnerAccepted
		if grantsFailing {
			ok, reason, msg = false, grants.Reason, grants.Message
		}
	case v1alpha1.InvitationExpired:
		ok, reason, msg = false, v1alpha1.ReasonExpired, "The link expired before the partner accepted; raise spec.resend to send a fresh one"
	default: // PendingApproval
		switch {
		case emailSent != nil && emailSent.Status == metav1.ConditionTrue:
			ok, reason, msg = true, v1alpha1.ReasonAwaitingAcceptance, "Sent to "+string(inv.Spec.Email)+"; waiting for the partner to accept"
		case emailSent != nil && emailSent.Status == metav1.ConditionFalse && emailSent.Reason != v1alpha1.ReasonResendNotAllowed:
			ok, reason, msg = false, emailSent.Reason, emailSent.Message
			if st.SentAt != nil && emailSent.Reason != v1alpha1.ReasonRecipientRejected {
				// A resend is failing while the previous link still works.
				ok, reason = true, v1alpha1.ReasonAwaitingAcceptance
				msg = "Waiting for the partner; the requested resend is not sent yet: " + emailSent.Message
			}
		default:
			ok, reason, msg = false, v1alpha1.ReasonSending, "The invitation email is being sent"
		}
	}
	set(inv, v1alpha1.ConditionReady, boolStatus(ok), reason, msg, now)
}

// revokedReason is why a Revoked invitation is: status.revokedReason, else
// (recorded before that field existed) the Ready reason it was written
// with, else Withdrawn.
func revokedReason(inv *v1alpha1.PartnerInvitation) string {
	if r := inv.Status.RevokedReason; r != "" {
		return string(r)
	}
	if c := findCondition(&inv.Status, v1alpha1.ConditionReady); c != nil && inv.Status.State == v1alpha1.InvitationRevoked {
		switch c.Reason {
		case v1alpha1.ReasonDeclined, v1alpha1.ReasonAccountDeleted:
			return c.Reason
		}
	}
	return v1alpha1.ReasonWithdrawn
}

func revokedMessage(inv *v1alpha1.PartnerInvitation) string {
	return v1alpha1.RevokedMessage(v1alpha1.RevokedReason(revokedReason(inv)))
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func boolStatus(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

// backendErrorReason is the GrantsSynced reason of a backend error.
func backendErrorReason(err error) string {
	if errors.Is(err, identity.ErrUnavailable) {
		return v1alpha1.ReasonBackendUnavailable
	}
	return v1alpha1.ReasonBackendRejected
}
