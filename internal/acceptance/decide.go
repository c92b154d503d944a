package acceptance

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/token"
)

// This file holds the page's decisions as pure functions of the verified
// link, the invitation, its account and the time: table-tested without a
// client.

// verdict is what a link shows.
type verdict int

const (
	// verdictDead: the link can never work (unknown, withdrawn, replaced by
	// a resend, invalid, ...). The partner gets the generic page, the same
	// whatever the cause.
	verdictDead verdict = iota
	// verdictPending: the invitation waits for the partner's answer.
	verdictPending
	// verdictAccepted: the partner accepted already.
	verdictAccepted
	// verdictExpired: the link ran out before the partner answered.
	verdictExpired
	// verdictDeclined: the partner declined already.
	verdictDeclined
	// verdictSending: the link is of the email the spec asks for, and that
	// email has gone out, but the status that records its send has not
	// reached the page yet (a partner quicker than the controller's write):
	// the page waits for it, and asks the partner to try again in a moment
	// if it does not come.
	verdictSending
)

func (v verdict) String() string {
	switch v {
	case verdictPending:
		return "pending"
	case verdictAccepted:
		return "accepted"
	case verdictExpired:
		return "expired"
	case verdictDeclined:
		return "declined"
	case verdictSending:
		return "sending"
	}
	return "dead"
}

// Why a link is dead, for logs only: the partner is never told.
const (
	whyBadToken  = "token not valid"
	whyNotFound  = "invitation not found"
	whyUID       = "invitation recreated (UID differs)"
	whyDeleting  = "invitation being deleted"
	whyResend    = "link of another resend generation"
	whyWithdrawn = "invitation withdrawn"
	whyInvalid   = "invitation invalid"
	whyNoAccount = "partner account missing, being deleted or created again (UID differs)"
	whyDomain    = "address outside the partner account's allowedDomains"
)

// link is a verified token's view of the world.
type link struct {
	// raw is the token itself: it goes in the page's forms, never in a log.
	raw    string
	claims token.Claims
	// expired is true when the verifier found the token expired (its claims
	// are still genuine).
	expired bool
}

// assess decides what the link shows: inv is the invitation the claims
// name and account its PartnerAccount (spec.account, else the
// status.account chosen by domain), each nil when absent. why says, for
// logs, why a link is dead.
//
// Order matters: a link that is not the invitation's current one (UID,
// resend generation) is dead whatever the state; a declined invitation
// stays declined; a withdrawn, invalid or orphaned one is dead (its
// account gone, or another account of the same name than the one
// status.accountUID recorded: a new account never adopts it), and so is
// one whose address its account no longer allows (allowedDomains as it is
// now, not as it was when the email went out: the controller may not have
// caught up, and an accepted user whose domain was removed must not be
// sent to the Hub either); an accepted one stays accepted even after its
// link's expiry, so the partner can still find the Hub; then expiry, by
// the clock even if the controller is late.
func assess(l link, inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount, now time.Time) (v verdict, why string) {
	switch {
	case inv == nil:
		return verdictDead, whyNotFound
	case string(inv.UID) != l.claims.UID:
		return verdictDead, whyUID
	case inv.DeletionTimestamp != nil:
		return verdictDead, whyDeleting
	case sending(l, inv):
		return verdictSending, ""
	case l.claims.Resend != inv.Spec.Resend || l.claims.Resend != inv.Status.ObservedResend:
		return verdictDead, whyResend
	case declined(inv):
		return verdictDeclined, ""
	case inv.Spec.Revoked || inv.Status.State == v1alpha1.InvitationRevoked:
		return verdictDead, whyWithdrawn
	case inv.Status.State == v1alpha1.InvitationInvalid:
		return verdictDead, whyInvalid
	case account == nil || account.DeletionTimestamp != nil || (inv.Status.AccountUID != "" && string(account.UID) != inv.Status.AccountUID):
		return verdictDead, whyNoAccount
	case !v1alpha1.DomainAllowed(string(inv.Spec.Email), account.Spec.AllowedDomains):
		return verdictDead, whyDomain
	case accepted(inv):
		return verdictAccepted, ""
	case l.expired || expired(inv, l.claims, now):
		return verdictExpired, ""
	}
	return verdictPending, ""
}

// sending reports whether l's email went out and its send is not recorded
// yet: l is of the resend generation the spec asks for (only the
// controller's send mints a link, just before the email goes out), and
// the status is still of an earlier generation, or, for an invitation that
// joins its account by its domain, records neither a send nor an account
// yet (both come with the first send's status).
func sending(l link, inv *v1alpha1.PartnerInvitation) bool {
	if inv.Spec.Revoked || l.claims.Resend != inv.Spec.Resend {
		return false
	}
	return inv.Status.ObservedResend < l.claims.Resend || (inv.AccountName() == "" && inv.Status.SentAt == nil)
}

// declined reports whether the partner declined: the state is Revoked with
// the reason the page records (the controller keeps it).
func declined(inv *v1alpha1.PartnerInvitation) bool {
	if inv.Status.State != v1alpha1.InvitationRevoked {
		return false
	}
	if inv.Status.RevokedReason != "" {
		return inv.Status.RevokedReason == v1alpha1.RevokedDeclined
	}
	// Recorded before status.revokedReason existed: the Ready reason.
	c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Reason == v1alpha1.ReasonDeclined
}

// accepted reports whether the partner accepted (the page writes acceptedAt
// and the state together; either is enough).
func accepted(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Status.AcceptedAt != nil || inv.Status.State == v1alpha1.InvitationAccepted
}

// expired reports whether the link ran out at now: the controller says so,
// or the token's expiry or the status' has passed (the link works strictly
// before its expiry).
func expired(inv *v1alpha1.PartnerInvitation, c token.Claims, now time.Time) bool {
	if inv.Status.State == v1alpha1.InvitationExpired || !now.Before(c.ExpiresAt) {
		return true
	}
	return inv.Status.ExpiresAt != nil && !now.Before(inv.Status.ExpiresAt.Time)
}
