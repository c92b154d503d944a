package invitation_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/metrics"
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

// TestMetricsAtStart: a started manager exports partnerops_build_info and
// every known label value of its counters (the alerts' rate() and absent()
// need the series before the first event); the binary's own /metrics shows
// them at zero (TestMetricsTheRulesAndDashboardRead in the repository's
// root).
func TestMetricsAtStart(t *testing.T) {
	h := start(t)
	info := managertest.Series(t, "partnerops_build_info", nil)
	if len(info) != 1 || info[0].GetGauge().GetValue() != 1 {
		t.Fatalf("partnerops_build_info: %v, want one series at 1", info)
	}
	labels := map[string]string{}
	for _, l := range info[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != "dev" || labels["goversion"] != runtime.Version() || labels["commit"] == "" {
		t.Errorf("partnerops_build_info labels %v, want version dev, goversion %s and a commit", labels, runtime.Version())
	}

	backend := h.Config.IdentityBackend.Type
	want := map[string][]map[string]string{}
	for _, l := range v1alpha1.Locales {
		want["partnerops_emails_sent_total"] = append(want["partnerops_emails_sent_total"], map[string]string{"locale": string(l)})
	}
	for _, r := range []string{v1alpha1.ReasonSMTPUnavailable, v1alpha1.ReasonRecipientRejected, v1alpha1.ReasonSendFailed} {
		want["partnerops_emails_failed_total"] = append(want["partnerops_emails_failed_total"], map[string]string{"reason": r})
	}
	for _, g := range [][3]string{
		{"apply", "success", v1alpha1.ReasonGrantsApplied}, {"revoke", "success", v1alpha1.ReasonGrantsRevoked},
		{"apply", "failure", v1alpha1.ReasonBackendUnavailable}, {"revoke", "failure", v1alpha1.ReasonBackendUnavailable},
		{"apply", "failure", v1alpha1.ReasonBackendRejected}, {"revoke", "failure", v1alpha1.ReasonBackendRejected},
		{"apply", "failure", v1alpha1.ReasonGroupNotManaged}, {"revoke", "failure", v1alpha1.ReasonGroupNotManaged},
	} {
		want["partnerops_grant_syncs_total"] = append(want["partnerops_grant_syncs_total"], map[string]string{"operation": g[0], "result": g[1], "reason": g[2]})
	}
	for _, op := range identity.Operations {
		want["partnerops_identity_backend_request_duration_seconds"] = append(want["partnerops_identity_backend_request_duration_seconds"],
			map[string]string{"backend": backend, "operation": op})
		for _, code := range identity.Codes {
			want["partnerops_identity_backend_requests_total"] = append(want["partnerops_identity_backend_requests_total"],
				map[string]string{"backend": backend, "operation": op, "code": code})
		}
	}
	for _, o := range metrics.AcceptanceOutcomes {
		want["partnerops_acceptance_requests_total"] = append(want["partnerops_acceptance_requests_total"], map[string]string{"outcome": o})
	}
	for name, series := range want {
		for _, labels := range series {
			if len(managertest.Series(t, name, labels)) != 1 {
				t.Errorf("%s%v is not exported", name, labels)
			}
		}
	}
}

// TestGrantAndBackendMetrics: grant syncs count by operation, result and
// reason, and every backend call by operation and code with its duration;
// while a system taken from a member, then the withdrawn member's grants,
// cannot be removed, the invitation awaits revocation and the revoke
// failure counts, until the backend is back.
func TestGrantAndBackendMetrics(t *testing.T) {
	h := start(t)
	backend := h.Config.IdentityBackend.Type
	syncs := func(op, result, reason string) float64 {
		return managertest.Metric(t, "partnerops_grant_syncs_total", map[string]string{"operation": op, "result": result, "reason": reason})
	}
	calls := func(op, code string) float64 {
		return managertest.Metric(t, "partnerops_identity_backend_requests_total", map[string]string{"backend": backend, "operation": op, "code": code})
	}
	timed := func(op string) float64 {
		return managertest.Metric(t, "partnerops_identity_backend_request_duration_seconds", map[string]string{"backend": backend, "operation": op})
	}
	failures := func() float64 {
		return managertest.Metric(t, "partnerops_grant_syncs_total", map[string]string{"result": "failure"})
	}
	gauge := func(name string, labels map[string]string) float64 {
		labels["namespace"] = h.NS
		return managertest.Metric(t, name, labels)
	}
	rose := func(what string, before, after, atLeast float64) {
		t.Helper()
		if after-before < atLeast {
			t.Errorf("%s rose by %v, want at least %v", what, after-before, atLeast)
		}
	}

	applied, ensured, ensureTimed, added := syncs("apply", "success", v1alpha1.ReasonGrantsApplied), calls(identity.OpEnsureUser, identity.CodeOK), timed(identity.OpEnsureUser), calls(identity.OpAddMember, identity.CodeOK)
	failed := failures()
	h.Account("globex")
	h.grant("mindy", "mindy@globex.example")
	rose("grant syncs apply/success/GrantsApplied", applied, syncs("apply", "success", v1alpha1.ReasonGrantsApplied), 1)
	rose("backend EnsureUser/ok", ensured, calls(identity.OpEnsureUser, identity.CodeOK), 1)
	rose("the EnsureUser duration histogram", ensureTimed, timed(identity.OpEnsureUser), 1)
	rose("backend AddMember/ok (two systems)", added, calls(identity.OpAddMember, identity.CodeOK), 2)
	if f := failures(); f != failed {
		t.Errorf("failed grant syncs rose by %v while the grants landed", f-failed)
	}
	// The gauges count the informer cache at scrape time, which follows the
	// API server a moment later than the reads above.
	h.Eventually("partnerops_invitations{state=Accepted} = 1", func() bool {
		return gauge("partnerops_invitations", map[string]string{"state": "Accepted"}) == 1
	})

	h.Backend.RemoveMemberFunc = func(context.Context, string, identity.User) error {
		return fmt.Errorf("503 Service Unavailable: %w", identity.ErrUnavailable)
	}
	// A system taken away from a member stays granted while the backend
	// fails the removal: that too awaits revocation.
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
	h.Eventually("partnerops_invitations_awaiting_revocation = 1 while a system's removal fails", func() bool {
		return gauge("partnerops_invitations_awaiting_revocation", map[string]string{}) == 1
	})
	failed = failures() // the failed applies of the system's removal
	revokeFailed, removeDown := syncs("revoke", "failure", v1alpha1.ReasonBackendUnavailable), calls(identity.OpRemoveMember, identity.CodeUnavailable)
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
	rose("grant syncs revoke/failure/BackendUnavailable", revokeFailed, syncs("revoke", "failure", v1alpha1.ReasonBackendUnavailable), 1)
	rose("backend RemoveMember/unavailable", removeDown, calls(identity.OpRemoveMember, identity.CodeUnavailable), 1)
	if d := failures() - failed - (syncs("revoke", "failure", v1alpha1.ReasonBackendUnavailable) - revokeFailed); d != 0 {
		t.Errorf("other failed grant syncs rose by %v", d)
	}
	h.Eventually("partnerops_invitations_awaiting_revocation = 1 while the revocation fails", func() bool {
		return gauge("partnerops_invitations_awaiting_revocation", map[string]string{}) == 1
	})

	revoked := syncs("revoke", "success", v1alpha1.ReasonGrantsRevoked)
	h.Backend.RemoveMemberFunc = nil
	h.EventuallyStepping("the revocation to land once the backend is back", 2*time.Second, func() bool {
		c := condition(h.Invitation("mindy"), v1alpha1.ConditionGrantsSynced)
		return c != nil && c.Reason == v1alpha1.ReasonGrantsRevoked
	})
	rose("grant syncs revoke/success/GrantsRevoked", revoked, syncs("revoke", "success", v1alpha1.ReasonGrantsRevoked), 1)
	h.Eventually("partnerops_invitations_awaiting_revocation = 0 once revoked", func() bool {
		return gauge("partnerops_invitations_awaiting_revocation", map[string]string{}) == 0
	})
	h.Eventually("partnerops_invitations{state=Revoked} = 1", func() bool {
		return gauge("partnerops_invitations", map[string]string{"state": "Revoked"}) == 1
	})
}
