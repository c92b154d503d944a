package account_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
	"github.com/partnerops/partnerops/internal/smtp"
)

// The account tells the truth about invitations that need the admin:
// expired or failed ones are neither pending nor silently fine.

func attentionOf(a *v1alpha1.PartnerAccount) *metav1.Condition {
	return meta.FindStatusCondition(a.Status.Conditions, v1alpha1.ConditionInvitationsNeedAttention)
}

// TestExpiredInvitationNeedsAction: an account whose only invitation
// expired is ActionRequired, Ready False/InvitationsExpired naming the
// address and saying to resend, pending 0; a resend brings it back to
// PendingApproval.
func TestExpiredInvitationNeedsAction(t *testing.T) {
	h := start(t)
	h.Account("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.InvitationTTL = "2h"
		a.Spec.Users = []v1alpha1.PartnerUser{user("mindy@globex.example", "editor", "editor")}
	})
	mindy := account.InvitationName("globex", "mindy@globex.example")
	inv := h.WaitState(mindy, v1alpha1.InvitationPendingApproval)
	h.WaitAccount("globex", "PendingApproval with one live link", func(a *v1alpha1.PartnerAccount) bool {
		return a.Status.State == v1alpha1.AccountPendingApproval && a.Status.Invitations.Pending == 1
	})

	h.StepTo(inv.Status.ExpiresAt.Time)
	h.WaitState(mindy, v1alpha1.InvitationExpired)
	a := h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonInvitationsExpired)
	if a.Status.State != v1alpha1.AccountActionRequired {
		t.Errorf("state %s, want ActionRequired", a.Status.State)
	}
	msg := readyOf(a).Message
	for _, s := range []string{"mindy@globex.example", "expired", "raise the entry's resend in spec.users"} {
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(s)) {
			t.Errorf("Ready message %q does not say %q", msg, s)
		}
	}
	if c := a.Status.Invitations; c.Pending != 0 || c.Expired != 1 || c.NeedAttention != 1 {
		t.Errorf("counts %+v, want 0 pending, 1 expired, 1 needing attention", c)
	}
	if c := attentionOf(a); c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonInvitationsExpired {
		t.Errorf("InvitationsNeedAttention = %+v, want True/InvitationsExpired", c)
	}
	h.WaitEvent("globex", "Warning InvitationsExpired: ")
	h.WaitEvent("globex", "Normal ActionRequired: ")

	// Raising the entry's resend in Git, as the message says, sends a fresh
	// link: the account is waiting again.
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Resend = 1 })
	h.WaitState(mindy, v1alpha1.InvitationPendingApproval)
	a = h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	a = h.WaitAccount("globex", "PendingApproval after the resend", func(a *v1alpha1.PartnerAccount) bool {
		return a.Status.State == v1alpha1.AccountPendingApproval && a.Status.Invitations.Pending == 1
	})
	if c := attentionOf(a); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonNoneNeedAttention {
		t.Errorf("InvitationsNeedAttention = %+v, want False/NoneNeedAttention", c)
	}
}

// TestActiveAccountWithExpiredInvitation: with an Active member, an expired
// invitation does not make the account fail: Active, Ready True, and
// InvitationsNeedAttention True naming the address; MEMBERS follows
// status.members.
func TestActiveAccountWithExpiredInvitation(t *testing.T) {
	h := start(t)
	h.Account("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.InvitationTTL = "2h"
		a.Spec.Users = []v1alpha1.PartnerUser{user("hank@globex.example", "admin", "insights"), user("mindy@globex.example", "editor", "editor")}
	})
	hank, mindy := account.InvitationName("globex", "hank@globex.example"), account.InvitationName("globex", "mindy@globex.example")
	inv := h.WaitState(mindy, v1alpha1.InvitationPendingApproval)
	h.accept(hank)
	h.StepTo(inv.Status.ExpiresAt.Time)
	h.WaitState(mindy, v1alpha1.InvitationExpired)
	a := h.WaitAccount("globex", "InvitationsNeedAttention True", func(a *v1alpha1.PartnerAccount) bool {
		c := attentionOf(a)
		return c != nil && c.Status == metav1.ConditionTrue && len(a.Status.Members) == 1
	})
	if a.Status.State != v1alpha1.AccountActive {
		t.Errorf("state %s, want Active", a.Status.State)
	}
	if r := readyOf(a); r == nil || r.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v, want True", r)
	}
	if c := attentionOf(a); c.Reason != v1alpha1.ReasonInvitationsExpired || !strings.Contains(c.Message, "mindy@globex.example") {
		t.Errorf("InvitationsNeedAttention = %+v, want InvitationsExpired naming mindy", c)
	}
	if c := a.Status.Invitations; c.Pending != 0 || c.Accepted != 1 || c.Expired != 1 || c.NeedAttention != 1 {
		t.Errorf("counts %+v", c)
	}
	if int(a.Status.MemberCount) != len(a.Status.Members) {
		t.Errorf("memberCount %d, members %d", a.Status.MemberCount, len(a.Status.Members))
	}
}

// TestActiveAccountWithInvalidInvitation: an entry the operator cannot
// honour (an unknown role in Git) beside an active member keeps the account
// Active but not Ready (InvalidInvitations): unlike an expired link or a
// refused address, it is an error in the account's own spec, which GitOps
// health checks must show; InvitationsNeedAttention names it too.
func TestActiveAccountWithInvalidInvitation(t *testing.T) {
	h := start(t)
	h.account("globex", user("hank@globex.example", "admin", "insights"))
	hank := account.InvitationName("globex", "hank@globex.example")
	h.WaitState(hank, v1alpha1.InvitationPendingApproval)
	h.accept(hank)
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users = append(a.Spec.Users, user("mindy@globex.example", "wizard", "editor"))
	})
	a := h.WaitAccount("globex", "InvitationsNeedAttention True", func(a *v1alpha1.PartnerAccount) bool {
		c := attentionOf(a)
		return c != nil && c.Status == metav1.ConditionTrue && len(a.Status.Members) == 1
	})
	if a.Status.State != v1alpha1.AccountActive {
		t.Errorf("state %s, want Active", a.Status.State)
	}
	if r := readyOf(a); r == nil || r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ReasonInvalidInvitations || !strings.Contains(r.Message, "mindy@globex.example") {
		t.Errorf("Ready = %+v, want False/InvalidInvitations naming mindy", r)
	}
	if c := attentionOf(a); c.Reason != v1alpha1.ReasonInvitationsFailed || !strings.Contains(c.Message, "UnknownRole") {
		t.Errorf("InvitationsNeedAttention = %+v, want InvitationsFailed naming the unknown role", c)
	}
}

// TestRefusedInvitationIsFailed: an invitation whose email the mail server
// refused is failed, not pending: the account is ActionRequired with
// Ready False/InvitationsFailed naming the address and saying to fix it.
func TestRefusedInvitationIsFailed(t *testing.T) {
	h := start(t)
	h.Sender.FailWith(func(int, *smtp.Message) error {
		return fmt.Errorf("%w: 550 5.1.1 no such user", smtp.ErrRecipientRejected)
	})
	h.account("globex", user("nobody@globex.example", "editor", "editor"))
	name := account.InvitationName("globex", "nobody@globex.example")
	h.WaitCondition(name, v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonRecipientRejected)
	a := h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonInvitationsFailed)
	if a.Status.State != v1alpha1.AccountActionRequired {
		t.Errorf("state %s, want ActionRequired", a.Status.State)
	}
	if c := a.Status.Invitations; c.Pending != 0 || c.Rejected != 1 || c.NeedAttention != 1 {
		t.Errorf("counts %+v, want 0 pending, 1 rejected", c)
	}
	msg := readyOf(a).Message
	for _, s := range []string{"nobody@globex.example", "refused by the mail server", "Fix the address"} {
		if !strings.Contains(msg, s) {
			t.Errorf("Ready message %q does not say %q", msg, s)
		}
	}
	if c := attentionOf(a); c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonInvitationsFailed {
		t.Errorf("InvitationsNeedAttention = %+v, want True/InvitationsFailed", c)
	}

	// Fixed (the mail server takes it now) and resent: waiting again.
	h.Sender.FailWith(nil)
	h.EditInvitation(name, func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 1 })
	h.WaitCondition(name, v1alpha1.ConditionEmailSent, metav1.ConditionTrue, v1alpha1.ReasonSent)
	h.WaitAccount("globex", "PendingApproval once sent", func(a *v1alpha1.PartnerAccount) bool {
		return a.Status.State == v1alpha1.AccountPendingApproval && a.Status.Invitations.Pending == 1 && a.Status.Invitations.Rejected == 0
	})
}
