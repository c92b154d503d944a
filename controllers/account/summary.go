package account

import (
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file summarises the invitations naming an account, as pure
// functions: which wait on a live link, which expired or failed, the
// account's state, its counts and its members.

// live reports whether an invitation counts towards the account's state:
// any state but Revoked.
func live(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Status.State != v1alpha1.InvitationRevoked
}

// resendAsked reports whether spec.resend asks for an email the
// invitation controller has not sent yet: the invitation is about to get a
// fresh link.
func resendAsked(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Spec.Resend > inv.Status.ObservedResend
}

// rejected reports whether the mail server refused the invitation's email
// for good (PendingApproval, EmailSent=False/RecipientRejected): no link
// is out, and none will be until the admin acts.
func rejected(inv *v1alpha1.PartnerInvitation) bool {
	if inv.Status.State != v1alpha1.InvitationPendingApproval || resendAsked(inv) {
		return false
	}
	c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionEmailSent)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonRecipientRejected
}

// waiting reports whether an invitation waits on a live link: not
// processed yet (no state: about to be sent), or PendingApproval whose link
// has not expired (or is being sent or retried), or Expired with a resend
// asked for. An email the mail server refused is not waiting.
func waiting(inv *v1alpha1.PartnerInvitation, now time.Time) bool {
	switch inv.Status.State {
	case "":
		return true
	case v1alpha1.InvitationExpired:
		return resendAsked(inv)
	case v1alpha1.InvitationPendingApproval:
		if resendAsked(inv) {
			return true
		}
		return !rejected(inv) && !pastExpiry(inv, now)
	}
	return false
}

// pastExpiry reports whether the invitation's link has run out.
func pastExpiry(inv *v1alpha1.PartnerInvitation, now time.Time) bool {
	return inv.Status.ExpiresAt != nil && !now.Before(inv.Status.ExpiresAt.Time)
}

// expired reports whether an invitation expired unaccepted and no resend
// is asked for: state Expired, or a PendingApproval link past its expiry
// (the invitation controller is about to say Expired).
func expired(inv *v1alpha1.PartnerInvitation, now time.Time) bool {
	switch inv.Status.State {
	case v1alpha1.InvitationExpired:
		return !resendAsked(inv)
	case v1alpha1.InvitationPendingApproval:
		return !resendAsked(inv) && !rejected(inv) && pastExpiry(inv, now)
	}
	return false
}

// failed reports whether an invitation failed: Invalid, or its email
// refused by the mail server.
func failed(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Status.State == v1alpha1.InvitationInvalid || rejected(inv)
}

// accountState is the account's summary state (accepted users make it
// Active; no users, or no systems, is a state of its own, not a fault).
// The first that applies wins: Active when an accepted user holds a
// system; PendingApproval when an invitation with a system is waiting on a
// live link; ActionRequired when no invitation at all is waiting and some
// expired or failed (with or without systems: the admin must resend or fix
// it either way); else NoUsersOrSystems.
func accountState(invs []v1alpha1.PartnerInvitation, now time.Time) v1alpha1.AccountState {
	anyWaiting, waitingSystems, attention := false, false, false
	for i := range invs {
		inv := &invs[i]
		if !live(inv) {
			continue
		}
		sys := len(inv.Spec.Systems) > 0
		switch {
		case inv.Status.State == v1alpha1.InvitationAccepted:
			if sys {
				return v1alpha1.AccountActive
			}
		case waiting(inv, now):
			anyWaiting = true
			waitingSystems = waitingSystems || sys
		case expired(inv, now) || failed(inv):
			attention = true
		}
	}
	switch {
	case waitingSystems:
		return v1alpha1.AccountPendingApproval
	case attention && !anyWaiting:
		return v1alpha1.AccountActionRequired
	}
	return v1alpha1.AccountNoUsersOrSystems
}

// countInvitations counts invitations by state, each once: pending counts
// only those waiting on a live link (or about to be sent), an expired link
// counts as expired, an email refused by the mail server as rejected.
func countInvitations(invs []v1alpha1.PartnerInvitation, now time.Time) v1alpha1.InvitationCounts {
	var c v1alpha1.InvitationCounts
	for i := range invs {
		inv := &invs[i]
		switch s := inv.Status.State; {
		case waiting(inv, now):
			c.Pending++
		case s == v1alpha1.InvitationAccepted:
			c.Accepted++
		case expired(inv, now):
			c.Expired++
		case s == v1alpha1.InvitationRevoked:
			c.Revoked++
		case s == v1alpha1.InvitationInvalid:
			c.Invalid++
		case rejected(inv):
			c.Rejected++
		}
	}
	c.NeedAttention = c.Expired + c.Invalid + c.Rejected
	return c
}

// needAttention are the invitations the admin must resend (expired) or fix
// (failed: Invalid, or refused by the mail server).
func needAttention(invs []v1alpha1.PartnerInvitation, now time.Time) (exp, fail []*v1alpha1.PartnerInvitation) {
	for i := range invs {
		inv := &invs[i]
		switch {
		case failed(inv):
			fail = append(fail, inv)
		case expired(inv, now):
			exp = append(exp, inv)
		}
	}
	return exp, fail
}

// members lists the accepted invitations as members, sorted by email. An
// address accepted twice (two invitations) is listed once, from the
// earliest acceptance.
func members(invs []v1alpha1.PartnerInvitation) []v1alpha1.Member {
	byEmail := map[string]v1alpha1.Member{}
	for i := range invs {
		inv := &invs[i]
		if inv.Status.State != v1alpha1.InvitationAccepted {
			continue
		}
		m := v1alpha1.Member{
			Email:      string(inv.Spec.Email),
			Role:       string(inv.Spec.Role),
			AcceptedAt: acceptedAt(inv),
			Invitation: inv.Name,
		}
		for _, s := range inv.Spec.Systems {
			m.Systems = append(m.Systems, string(s))
		}
		key := v1alpha1.NormalizeEmail(m.Email)
		if prev, ok := byEmail[key]; ok && !earlier(m, prev) {
			continue
		}
		byEmail[key] = m
	}
	if len(byEmail) == 0 {
		return nil
	}
	out := make([]v1alpha1.Member, 0, len(byEmail))
	for _, m := range byEmail {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := v1alpha1.NormalizeEmail(out[i].Email), v1alpha1.NormalizeEmail(out[j].Email)
		if a != b {
			return a < b
		}
		return out[i].Email < out[j].Email
	})
	if len(out) > maxMembers {
		out = out[:maxMembers]
	}
	return out
}

func earlier(a, b v1alpha1.Member) bool {
	if !a.AcceptedAt.Equal(&b.AcceptedAt) {
		return a.AcceptedAt.Before(&b.AcceptedAt)
	}
	return a.Invitation < b.Invitation
}

// acceptedAt is when the partner accepted: status.acceptedAt, else when the
// Accepted condition turned True, else when the invitation was created.
func acceptedAt(inv *v1alpha1.PartnerInvitation) metav1.Time {
	if inv.Status.AcceptedAt != nil {
		return *inv.Status.AcceptedAt
	}
	if c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionAccepted); c != nil && c.Status == metav1.ConditionTrue {
		return c.LastTransitionTime
	}
	return inv.CreationTimestamp
}

// holdsGrants reports whether the identity backend may hold grants for the
// invitation: they are recorded in status.appliedGrants, or the invitation
// still carries its grants finalizer.
func holdsGrants(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Status.AppliedGrants != nil || controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer)
}

// needsFinalizer reports whether the account must carry the grants
// finalizer: an invitation naming it is Accepted (its grants are about to
// be applied, and the invitation controller waits for this finalizer to
// apply them) or holds grants.
func needsFinalizer(invs []v1alpha1.PartnerInvitation) bool {
	for i := range invs {
		if invs[i].Status.State == v1alpha1.InvitationAccepted || holdsGrants(&invs[i]) {
			return true
		}
	}
	return false
}

// grantHolders are the invitations whose grants must be revoked (or
// released) before a deleted account may go.
func grantHolders(invs []v1alpha1.PartnerInvitation) []*v1alpha1.PartnerInvitation {
	var out []*v1alpha1.PartnerInvitation
	for i := range invs {
		if holdsGrants(&invs[i]) {
			out = append(out, &invs[i])
		}
	}
	return out
}

// unsynced are the invitations whose GrantsSynced is False: the backend
// does not hold what they ask (an edit or a removal not applied). A
// GroupNotManaged is left out: a group named in status that partnerops
// leaves alone, which changes nothing the spec asks.
func unsynced(invs []v1alpha1.PartnerInvitation) []*v1alpha1.PartnerInvitation {
	var out []*v1alpha1.PartnerInvitation
	for i := range invs {
		c := meta.FindStatusCondition(invs[i].Status.Conditions, v1alpha1.ConditionGrantsSynced)
		if c != nil && c.Status == metav1.ConditionFalse && c.Reason != v1alpha1.ReasonGroupNotManaged {
			out = append(out, &invs[i])
		}
	}
	return out
}

// invalid are the invitations in state Invalid.
func invalid(invs []v1alpha1.PartnerInvitation) []*v1alpha1.PartnerInvitation {
	var out []*v1alpha1.PartnerInvitation
	for i := range invs {
		if invs[i].Status.State == v1alpha1.InvitationInvalid {
			out = append(out, &invs[i])
		}
	}
	return out
}
