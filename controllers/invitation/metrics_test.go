package invitation_test

import (
	"fmt"
	"testing"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

func TestMetrics(t *testing.T) {
	h := start(t)
	h.Sender.FailWith(func(_ int, m *smtp.Message) error {
		if m.To == "down@globex.example" {
			return fmt.Errorf("%w: 421 busy", smtp.ErrTemporary)
		}
		return nil
	})
	sentBefore := managertest.Metric(t, "partnerops_emails_sent_total", map[string]string{"locale": "es"})
	failedBefore := managertest.Metric(t, "partnerops_emails_failed_total", map[string]string{"reason": v1alpha1.ReasonSMTPUnavailable})
	latencyBefore := managertest.Metric(t, "partnerops_email_send_duration_seconds", nil)

	h.Account("globex")
	for _, n := range []string{"a", "b"} {
		h.Invite(n, n+"@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Locale = "es" })
	}
	h.Invite("bad", "bad@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "owner" })
	h.Invite("down", "down@globex.example")
	h.WaitState("a", v1alpha1.InvitationPendingApproval)
	h.WaitState("b", v1alpha1.InvitationPendingApproval)
	h.WaitState("bad", v1alpha1.InvitationInvalid)
	h.WaitCondition("down", v1alpha1.ConditionEmailSent, "False", v1alpha1.ReasonSMTPUnavailable)

	// partnerops_invitations counts this manager's invitations (its cache
	// covers the test namespace only).
	for state, want := range map[string]float64{"PendingApproval": 3, "Invalid": 1, "Accepted": 0, "Expired": 0, "Revoked": 0} {
		if got := managertest.Metric(t, "partnerops_invitations", map[string]string{"state": state}); got != want {
			t.Errorf("partnerops_invitations{state=%q} = %v, want %v", state, got, want)
		}
	}
	if d := managertest.Metric(t, "partnerops_emails_sent_total", map[string]string{"locale": "es"}) - sentBefore; d != 2 {
		t.Errorf("partnerops_emails_sent_total{locale=es} rose by %v, want 2", d)
	}
	if d := managertest.Metric(t, "partnerops_emails_failed_total", map[string]string{"reason": v1alpha1.ReasonSMTPUnavailable}) - failedBefore; d < 1 {
		t.Errorf("partnerops_emails_failed_total{reason=SMTPUnavailable} rose by %v, want at least 1", d)
	}
	if d := managertest.Metric(t, "partnerops_email_send_duration_seconds", nil) - latencyBefore; d < 3 {
		t.Errorf("the send latency histogram observed %v sends, want at least 3", d)
	}
}
