package acceptance

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file computes the status the page writes. The messages are the ones
// the invitation controller writes for the same states
// (controllers/invitation/status.go), so that its next reconcile finds
// nothing to change.

// Messages shared with the invitation controller.
const (
	msgReadyAccepted = "The partner accepted"
	msgDeclined      = "The partner declined the invitation"
)

// markAccepted records the acceptance at now: state Accepted, acceptedAt,
// Accepted=True and Ready=True, both with reason Accepted.
func markAccepted(inv *v1alpha1.PartnerInvitation, now time.Time) {
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	inv.Status.State = v1alpha1.InvitationAccepted
	inv.Status.AcceptedAt = &at
	setCondition(inv, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted,
		"Accepted at "+at.UTC().Format(time.RFC3339), now)
	setCondition(inv, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAccepted, msgReadyAccepted, now)
}

// markDeclined records that the partner declined: state Revoked, Ready=True
// with reason Declined (the controller keeps this reason for a Revoked
// invitation), Accepted=False with reason Declined.
func markDeclined(inv *v1alpha1.PartnerInvitation, now time.Time) {
	inv.Status.State = v1alpha1.InvitationRevoked
	setCondition(inv, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonDeclined, msgDeclined, now)
	setCondition(inv, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonDeclined, msgDeclined, now)
}

// setCondition sets one condition for the invitation's current generation;
// lastTransitionTime moves only when the condition's status moves.
func setCondition(inv *v1alpha1.PartnerInvitation, t string, status metav1.ConditionStatus, reason, msg string, now time.Time) {
	meta.SetStatusCondition(&inv.Status.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: inv.Generation, LastTransitionTime: metav1.NewTime(now),
	})
}
