package acceptance

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/token"
)

// This file computes the status the page writes. The messages come from
// api/v1alpha1 (messages.go), the same source as the invitation
// controller's, so that its next reconcile finds nothing to change.

// Messages shared with the invitation controller.
const (
	msgReadyAccepted = v1alpha1.MessagePartnerAccepted
	msgDeclined      = v1alpha1.MessagePartnerDeclined
)

// acceptanceTime is the acceptedAt the page writes for an acceptance at
// now: whole seconds, the precision of status.acceptedAt, so the proof is
// made over exactly the value the status keeps.
func acceptanceTime(now time.Time) time.Time { return now.UTC().Truncate(time.Second) }

// markAccepted records the acceptance at now with its proof: state
// Accepted, acceptedAt, acceptanceProof, signedInAs when id is who signed
// in, Accepted=True and Ready=True, both with reason Accepted. proof must
// be made over acceptanceTime(now) and id.
func markAccepted(inv *v1alpha1.PartnerInvitation, now time.Time, proof token.Proof, id *token.Identity) {
	at := metav1.NewTime(acceptanceTime(now))
	inv.Status.State = v1alpha1.InvitationAccepted
	inv.Status.AcceptedAt = &at
	inv.Status.AcceptanceProof = &v1alpha1.AcceptanceProof{KeyID: proof.KeyID, MAC: proof.MAC}
	inv.Status.SignedInAs = nil
	if id != nil {
		inv.Status.SignedInAs = &v1alpha1.SignedInIdentity{Issuer: id.Issuer, Subject: id.Subject}
	}
	setCondition(inv, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted,
		v1alpha1.AcceptedAtMessage(at.Time), now)
	setCondition(inv, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAccepted, msgReadyAccepted, now)
}

// markDeclined records that the partner declined: state Revoked with
// revokedReason Declined, Ready=True and Accepted=False with reason
// Declined.
func markDeclined(inv *v1alpha1.PartnerInvitation, now time.Time) {
	inv.Status.State = v1alpha1.InvitationRevoked
	inv.Status.RevokedReason = v1alpha1.RevokedDeclined
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
