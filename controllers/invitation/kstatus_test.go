package invitation_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

// TestKstatus: what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status,
// which Flux's health checks use) computes for live invitations the
// manager wrote: an invitation waiting for its partner is Current, so that
// a GitOps health check does not wait days; one that needs someone to act
// is Failed (Stalled=True); one the controller still works on is
// InProgress (Reconciling=True).
func TestKstatus(t *testing.T) {
	cases := []struct {
		name string
		// run brings the invitation "inv" to the case's state and waits
		// for the condition that shows it.
		run    func(h *harness)
		want   status.Status
		reason string // of the True one of Reconciling and Stalled; "" for neither
	}{
		{
			name: "waiting for its partner", want: status.CurrentStatus,
			run: func(h *harness) {
				h.Account("globex")
				h.Invite("inv", mindy)
				h.WaitCondition("inv", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAwaitingAcceptance)
			},
		},
		{
			name: "Invalid: an unknown role", want: status.FailedStatus, reason: v1alpha1.ReasonUnknownRole,
			run: func(h *harness) {
				h.Account("globex")
				h.Invite("inv", mindy, func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "owner" })
				h.WaitState("inv", v1alpha1.InvitationInvalid)
			},
		},
		{
			name: "Invalid: a duplicate", want: status.FailedStatus, reason: v1alpha1.ReasonDuplicateInvitation,
			run: func(h *harness) {
				h.Account("globex")
				h.Invite("first", mindy)
				h.WaitState("first", v1alpha1.InvitationPendingApproval)
				h.Invite("inv", mindy)
				h.WaitState("inv", v1alpha1.InvitationInvalid)
			},
		},
		{
			name: "sending while the mail server is down", want: status.InProgressStatus, reason: v1alpha1.ReasonSMTPUnavailable,
			run: func(h *harness) {
				h.Sender.FailWith(func(int, *smtp.Message) error { return fmt.Errorf("%w: 421 4.3.2 shutting down", smtp.ErrTemporary) })
				h.Account("globex")
				h.Invite("inv", mindy)
				h.WaitCondition("inv", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonSMTPUnavailable)
			},
		},
		{
			name: "refused by the mail server", want: status.FailedStatus, reason: v1alpha1.ReasonRecipientRejected,
			run: func(h *harness) {
				h.Sender.FailWith(func(int, *smtp.Message) error {
					return fmt.Errorf("%w: 550 5.1.1 no such user", smtp.ErrRecipientRejected)
				})
				h.Account("globex")
				h.Invite("inv", mindy)
				h.WaitCondition("inv", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonRecipientRejected)
			},
		},
		{
			name: "expired, no resend asked", want: status.FailedStatus, reason: v1alpha1.ReasonExpired,
			run: func(h *harness) {
				h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.InvitationTTL = "2h" })
				h.Invite("inv", mindy)
				inv := h.WaitState("inv", v1alpha1.InvitationPendingApproval)
				h.StepTo(inv.Status.ExpiresAt.Time)
				h.WaitState("inv", v1alpha1.InvitationExpired)
			},
		},
		{
			name: "accepted, grants synced", want: status.CurrentStatus,
			run: func(h *harness) {
				h.Account("globex")
				h.grant("inv", mindy)
			},
		},
		{
			name: "accepted, the identity backend down", want: status.InProgressStatus, reason: v1alpha1.ReasonBackendUnavailable,
			run: func(h *harness) {
				h.Backend.SetDown(fmt.Errorf("%w: connection refused", identity.ErrUnavailable))
				h.Account("globex")
				h.Invite("inv", mindy)
				h.Accept("inv")
				h.WaitCondition("inv", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendUnavailable)
			},
		},
		{
			name: "withdrawn member, grants revoked", want: status.CurrentStatus,
			run: func(h *harness) {
				h.Account("globex")
				h.grant("inv", mindy)
				h.EditInvitation("inv", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
				h.WaitCondition("inv", v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsRevoked)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t)
			tc.run(h)
			h.ExpectKstatus(&v1alpha1.PartnerInvitation{}, "inv", tc.want, tc.reason)
		})
	}
}

// TestKstatusFollowsAnEdit: after an edit, kstatus says InProgress until
// the controller has observed the new generation, then what the new spec
// makes of it; an edit that fixes an Invalid invitation brings it from
// Failed to Current.
func TestKstatusFollowsAnEdit(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Invite("inv", mindy, func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "owner" })
	h.WaitKstatus(&v1alpha1.PartnerInvitation{}, "inv", status.FailedStatus)

	// The edit as the API server stores it, before the controller sees it.
	inv := h.Invitation("inv")
	stale := inv.DeepCopy()
	stale.Generation++
	stale.Spec.Role = "admin"
	if res := managertest.Kstatus(t, stale); res.Status != status.InProgressStatus {
		t.Errorf("a generation the controller has not observed: kstatus %s (%q), want InProgress", res.Status, res.Message)
	}

	h.EditInvitation("inv", func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "admin" })
	h.WaitKstatus(&v1alpha1.PartnerInvitation{}, "inv", status.CurrentStatus)
	if err := env.Client.Get(context.Background(), h.Key("inv"), inv); err != nil {
		t.Fatal(err)
	}
	if inv.Status.ObservedGeneration != inv.Generation || inv.Status.State != v1alpha1.InvitationPendingApproval {
		t.Errorf("Current at observedGeneration %d of %d, state %s", inv.Status.ObservedGeneration, inv.Generation, inv.Status.State)
	}
}
