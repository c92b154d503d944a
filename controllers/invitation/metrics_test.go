package invitation_test

import (
	"fmt"
	"testing"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/smtp"
)

// metricValue sums the samples of a partnerops metric whose labels include
// the given ones.
func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := crmetricsGather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func TestMetrics(t *testing.T) {
	h := start(t)
	h.sender.fail = func(_ int, m *smtp.Message) error {
		if m.To == "down@globex.example" {
			return fmt.Errorf("%w: 421 busy", smtp.ErrTemporary)
		}
		return nil
	}
	sentBefore := metricValue(t, "partnerops_emails_sent_total", map[string]string{"locale": "es"})
	failedBefore := metricValue(t, "partnerops_emails_failed_total", map[string]string{"reason": v1alpha1.ReasonSMTPUnavailable})
	latencyBefore := metricValue(t, "partnerops_email_send_duration_seconds", nil)

	h.account("globex")
	for _, n := range []string{"a", "b"} {
		h.invite(n, n+"@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Locale = "es" })
	}
	h.invite("bad", "bad@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "owner" })
	h.invite("down", "down@globex.example")
	h.waitState("a", v1alpha1.InvitationPendingApproval)
	h.waitState("b", v1alpha1.InvitationPendingApproval)
	h.waitState("bad", v1alpha1.InvitationInvalid)
	h.waitCondition("down", v1alpha1.ConditionEmailSent, "False", v1alpha1.ReasonSMTPUnavailable)

	// partnerops_invitations counts this manager's invitations (its cache
	// covers the test namespace only).
	for state, want := range map[string]float64{"PendingApproval": 3, "Invalid": 1, "Accepted": 0, "Expired": 0, "Revoked": 0} {
		if got := metricValue(t, "partnerops_invitations", map[string]string{"state": state}); got != want {
			t.Errorf("partnerops_invitations{state=%q} = %v, want %v", state, got, want)
		}
	}
	if d := metricValue(t, "partnerops_emails_sent_total", map[string]string{"locale": "es"}) - sentBefore; d != 2 {
		t.Errorf("partnerops_emails_sent_total{locale=es} rose by %v, want 2", d)
	}
	if d := metricValue(t, "partnerops_emails_failed_total", map[string]string{"reason": v1alpha1.ReasonSMTPUnavailable}) - failedBefore; d < 1 {
		t.Errorf("partnerops_emails_failed_total{reason=SMTPUnavailable} rose by %v, want at least 1", d)
	}
	if d := metricValue(t, "partnerops_email_send_duration_seconds", nil) - latencyBefore; d < 3 {
		t.Errorf("the send latency histogram observed %v sends, want at least 3", d)
	}
}
