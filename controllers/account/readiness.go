package account

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file decides the account's Ready condition (and kstatus's
// Reconciling and Stalled from it), a pure function of what one reconcile
// found, and writes its messages (which name the users and
// invitations in question, a few at most).

// readyInput is what the account's Ready condition is decided from.
type readyInput struct {
	// users is how many entries spec.users lists.
	users int
	// deleting is true while the account waits for its grants to go.
	deleting bool
	policy   v1alpha1.DeletionPolicy
	// holders are the invitations still holding grants (when deleting).
	holders []*v1alpha1.PartnerInvitation
	plan    plan
	// invalid are the account's invitations in state Invalid.
	invalid []*v1alpha1.PartnerInvitation
	// refused are the API server's refusals of the plan's writes.
	refused []string
	// unsynced are the account's invitations whose grants the identity
	// backend does not hold as they ask (GrantsSynced=False).
	unsynced []*v1alpha1.PartnerInvitation
	// state is the account's state.
	state v1alpha1.AccountState
	// expired and failed are the invitations that need the admin: expired
	// unaccepted, or failed (Invalid, or refused by the mail server).
	expired, failed []*v1alpha1.PartnerInvitation
}

// readiness decides the account's Ready condition. The first that applies
// wins: Deleting, DuplicateUser, in state ActionRequired InvitationsFailed
// (some Invalid or refused by the mail server, and nothing else can work),
// InvalidInvitations (some Invalid while others are active or waiting),
// GrantsNotSynced or GrantsPending (the backend does not hold what some
// invitation asks: an edit or a removal not applied), InvitationsRefused
// (the API server refuses their writes), InvitationsPending, then, in
// state ActionRequired, InvitationsExpired;
// else Reconciled.
func readiness(in readyInput) (ok bool, reason, message string) {
	switch {
	case in.deleting:
		return false, v1alpha1.ReasonDeleting, deletingMessage(in.policy, in.holders)
	case len(in.plan.conflicts) > 0:
		return false, v1alpha1.ReasonDuplicateUser, conflictMessage(in.plan.conflicts)
	case in.state == v1alpha1.AccountActionRequired && len(in.failed) > 0:
		return false, v1alpha1.ReasonInvitationsFailed, "No user is active and no invitation is waiting: " + attentionMessage(in.expired, in.failed)
	case len(in.invalid) > 0:
		return false, v1alpha1.ReasonInvalidInvitations, invalidMessage(in.invalid)
	case len(in.unsynced) > 0:
		return false, unsyncedReason(in.unsynced), unsyncedMessage(in.unsynced)
	case in.plan.pending() && len(in.refused) > 0:
		// Someone must act (a quota, a policy): not "in progress" forever,
		// which would hold a GitOps sync waiting for health.
		return false, v1alpha1.ReasonInvitationsRefused, pendingMessage(&in.plan, in.refused)
	case in.plan.pending():
		return false, v1alpha1.ReasonInvitationsPending, pendingMessage(&in.plan, in.refused)
	case in.state == v1alpha1.AccountActionRequired:
		return false, v1alpha1.ReasonInvitationsExpired, "No user is active and no invitation is waiting: " + attentionMessage(in.expired, in.failed)
	}
	msg := "Every user in spec.users has an up-to-date invitation and no invitation of the account is invalid"
	if in.users == 0 {
		msg = "spec.users lists nobody, and no invitation of the account is invalid"
	}
	if d := in.plan.declined; len(d) > 0 {
		var names []string
		for _, inv := range d {
			names = append(names, fmt.Sprintf("%s (PartnerInvitation %s)", inv.Spec.Email, inv.Name))
		}
		msg += fmt.Sprintf("; declined or withdrawn, so not invited again: %s. To invite again, delete that invitation (the account creates a new one) or remove the entry and add it back",
			list(names))
	}
	return true, v1alpha1.ReasonReconciled, msg
}

// progress is how kstatus's Reconciling and Stalled read the Ready
// decision: Reconciling while the account controller itself still works
// (creating, updating or removing the invitations of spec.users, revoking
// grants on deletion), Stalled while someone must act (ActionRequired, an
// Invalid invitation, a user invited twice). Ready=True is neither: an
// account waiting for its partners to accept is settled, so that a GitOps
// health check does not wait days for them. Every Ready=False is one of
// the two.
func progress(ok bool, reason string) (reconciling, stalled bool) {
	switch {
	case ok:
		return false, false
	case reason == v1alpha1.ReasonInvitationsPending || reason == v1alpha1.ReasonDeleting || reason == v1alpha1.ReasonGrantsPending:
		return true, false
	}
	return false, true
}

// attention decides the InvitationsNeedAttention condition: True with
// InvitationsFailed when some invitation failed, else InvitationsExpired
// when some expired, False/NoneNeedAttention otherwise.
func attention(expired, failed []*v1alpha1.PartnerInvitation) (needed bool, reason, message string) {
	switch {
	case len(failed) > 0:
		return true, v1alpha1.ReasonInvitationsFailed, attentionMessage(expired, failed)
	case len(expired) > 0:
		return true, v1alpha1.ReasonInvitationsExpired, attentionMessage(expired, failed)
	}
	return false, v1alpha1.ReasonNoneNeedAttention, "No invitation of the account is expired, invalid or refused by the mail server"
}

// attentionMessage names the failed invitations with their cause, then the
// expired ones, and says what to do about each.
func attentionMessage(expired, failed []*v1alpha1.PartnerInvitation) string {
	var parts []string
	if len(failed) > 0 {
		var names []string
		for _, inv := range failed {
			names = append(names, fmt.Sprintf("%s (PartnerInvitation %s, %s)", inv.Spec.Email, inv.Name, failureCause(inv)))
		}
		parts = append(parts, fmt.Sprintf("%s failed: %s. Fix the address in spec.users (or the cause named on the PartnerInvitation), then raise the entry's resend (spec.resend for a standalone invitation) to send again",
			plural(len(failed), "invitation", "invitations"), list(names)))
	}
	if len(expired) > 0 {
		parts = append(parts, fmt.Sprintf("%s expired unaccepted: %s. Raise the entry's resend in spec.users (spec.resend for a standalone invitation) to send a fresh link",
			plural(len(expired), "invitation", "invitations"), invitationNames(expired)))
	}
	return strings.Join(parts, "; ")
}

// failureCause is why an invitation failed: the mail server's refusal, or
// its Ready reason when Invalid.
func failureCause(inv *v1alpha1.PartnerInvitation) string {
	if rejected(inv) {
		c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionEmailSent)
		return "refused by the mail server: " + c.Message
	}
	if c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionFalse {
		return "Invalid, " + c.Reason + ": " + c.Message
	}
	return "Invalid"
}

func deletingMessage(policy v1alpha1.DeletionPolicy, holders []*v1alpha1.PartnerInvitation) string {
	if len(holders) == 0 {
		return "The account is being deleted; no grants are left to revoke"
	}
	users := plural(len(holders), "user", "users")
	msg := fmt.Sprintf("The account is being deleted: revoking the identity backend grants of %s (%s) before it goes", users, invitationNames(holders))
	if policy == v1alpha1.DeletionPolicyRetain {
		msg = fmt.Sprintf("The account is being deleted: deletionPolicy is Retain, so the identity backend grants of %s (%s) are kept; releasing them before it goes",
			users, invitationNames(holders))
	}
	for _, inv := range holders {
		c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionGrantsSynced)
		if c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonBackendUnavailable {
			msg += fmt.Sprintf(". The identity backend is unreachable (PartnerInvitation %s: %s); partnerops keeps retrying", inv.Name, c.Message)
			break
		}
	}
	return msg
}

func conflictMessage(cs []conflict) string {
	var parts []string
	for _, c := range cs {
		if c.NameTaken {
			parts = append(parts, fmt.Sprintf("%s: the name PartnerInvitation %s that this account would use is taken by an invitation it does not own", c.Email, c.Other))
		} else {
			parts = append(parts, fmt.Sprintf("%s is already invited by PartnerInvitation %s, which this account does not own", c.Email, c.Other))
		}
	}
	return "Not inviting a user twice: " + list(parts) +
		". Remove the entry from spec.users, or delete the other invitation and the account invites the user itself"
}

func invalidMessage(invs []*v1alpha1.PartnerInvitation) string {
	var parts []string
	for _, inv := range invs {
		why := "invalid"
		if c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionFalse {
			why = c.Reason + ": " + c.Message
		}
		parts = append(parts, fmt.Sprintf("PartnerInvitation %s for %s (%s)", inv.Name, inv.Spec.Email, why))
	}
	return fmt.Sprintf("%s cannot be sent: %s", plural(len(invs), "invitation", "invitations"), list(parts))
}

// unsyncedReason is GrantsPending while every unsynced invitation only
// waits for an unreachable backend (retried), else GrantsNotSynced.
func unsyncedReason(invs []*v1alpha1.PartnerInvitation) string {
	for _, inv := range invs {
		if c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionGrantsSynced); c.Reason != v1alpha1.ReasonBackendUnavailable {
			return v1alpha1.ReasonGrantsNotSynced
		}
	}
	return v1alpha1.ReasonGrantsPending
}

func unsyncedMessage(invs []*v1alpha1.PartnerInvitation) string {
	var parts []string
	for _, inv := range invs {
		c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionGrantsSynced)
		parts = append(parts, fmt.Sprintf("%s (PartnerInvitation %s, %s: %s)", inv.Spec.Email, inv.Name, c.Reason, c.Message))
	}
	return fmt.Sprintf("The identity backend does not hold what %s %s: %s", plural(len(invs), "invitation", "invitations"),
		map[bool]string{true: "asks", false: "ask"}[len(invs) == 1], list(parts))
}

func pendingMessage(p *plan, refused []string) string {
	var parts []string
	if n := len(p.create); n > 0 {
		parts = append(parts, "creating "+plural(n, "invitation", "invitations"))
	}
	if n := len(p.update); n > 0 {
		parts = append(parts, "updating the role or systems of "+plural(n, "invitation", "invitations"))
	}
	if n := len(p.remove) + len(p.removing); n > 0 {
		var names []string
		for _, inv := range append(slices.Clone(p.remove), p.removing...) {
			names = append(names, string(inv.Spec.Email))
		}
		parts = append(parts, fmt.Sprintf("removing %s (%s), whose grants are revoked first", plural(n, "user", "users"), list(names)))
	}
	if n := len(p.waiting); n > 0 {
		parts = append(parts, fmt.Sprintf("waiting for the previous invitation of %s to be deleted before inviting again", list(p.waiting)))
	}
	if n := len(p.observing); n > 0 {
		parts = append(parts, fmt.Sprintf("waiting for %s to take the change (%s)", plural(n, "invitation", "invitations"), invitationNames(p.observing)))
	}
	msg := "Applying spec.users: " + strings.Join(parts, "; ")
	if len(refused) > 0 {
		msg += fmt.Sprintf(". The API server refused %s (retried with backoff; a quota or an admission policy needs someone): %s",
			plural(len(refused), "write", "writes"), strings.Join(refused, "; "))
	}
	return msg
}

func invitationNames(invs []*v1alpha1.PartnerInvitation) string {
	names := make([]string, len(invs))
	for i, inv := range invs {
		names[i] = string(inv.Spec.Email)
	}
	return list(names)
}

// list joins at most v1alpha1.MaxListed items and says how many more there
// are.
func list(items []string) string { return v1alpha1.FirstFew(items) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
