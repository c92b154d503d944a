package v1alpha1

import (
	"fmt"
	"strings"
	"time"
)

// Condition messages written by more than one writer of an invitation's
// status (the acceptance page and the controller): one source, so that
// the controller's next reconcile finds the page's write word for word and
// costs no second write.
const (
	// MessagePartnerAccepted is Ready's message once the partner accepted.
	MessagePartnerAccepted = "The partner accepted"
	// MessagePartnerDeclined is the Ready and Accepted message once the
	// partner declined.
	MessagePartnerDeclined = "The partner declined the invitation"
	// MessageWithdrawn is Ready's message for a withdrawn invitation.
	MessageWithdrawn = "The invitation was withdrawn; its link no longer works"
	// MessageAccountDeleted is Ready's message for an invitation whose
	// account was deleted.
	MessageAccountDeleted = "The partner account was deleted"
)

// AcceptedAtMessage is the Accepted condition's message for an acceptance
// recorded at t.
func AcceptedAtMessage(t time.Time) string {
	return "Accepted at " + t.UTC().Format(time.RFC3339)
}

// RevokedMessage is Ready's message for a Revoked invitation, by reason.
func RevokedMessage(r RevokedReason) string {
	switch r {
	case RevokedDeclined:
		return MessagePartnerDeclined
	case RevokedAccountDeleted:
		return MessageAccountDeleted
	}
	return MessageWithdrawn
}

// MaxListed bounds how many items a condition message names.
const MaxListed = 5

// FirstFew joins at most MaxListed items and says how many more there
// are: "a, b, c, d, e and 2 more".
func FirstFew(items []string) string {
	if len(items) <= MaxListed {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:MaxListed], ", "), len(items)-MaxListed)
}
