package account_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
)

// TestKstatus: what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status,
// which Flux's health checks use) computes for live accounts the manager
// wrote: an account waiting for its partners is Current (a GitOps health
// check must not wait days for them); ActionRequired, an Invalid
// invitation or a user invited twice is Failed (Stalled=True); an account
// being deleted while its grants go is Terminating, with Reconciling=True.
func TestKstatus(t *testing.T) {
	cases := []struct {
		name   string
		run    func(h *harness) // brings the account "globex" to the case's state
		want   status.Status
		reason string // of the True one of Reconciling and Stalled; "" for neither
	}{
		{
			name: "PendingApproval, waiting for its partners", want: status.CurrentStatus,
			run: func(h *harness) {
				h.account("globex", user("mindy@globex.example", "editor", "editor"), user("carlos@globex.example", "viewer", "insights"))
				h.WaitAccount("globex", "PendingApproval with two live links", func(a *v1alpha1.PartnerAccount) bool {
					return a.Status.State == v1alpha1.AccountPendingApproval && a.Status.Invitations.Pending == 2
				})
			},
		},
		{
			name: "Active", want: status.CurrentStatus,
			run: func(h *harness) {
				h.account("globex", user("mindy@globex.example", "editor", "editor"))
				h.accept(account.InvitationName("globex", "mindy@globex.example"))
				h.WaitAccount("globex", "Active", func(a *v1alpha1.PartnerAccount) bool { return a.Status.State == v1alpha1.AccountActive })
			},
		},
		{
			name: "ActionRequired: every link expired", want: status.FailedStatus, reason: v1alpha1.ReasonInvitationsExpired,
			run: func(h *harness) {
				h.Account("globex", func(a *v1alpha1.PartnerAccount) {
					a.Spec.InvitationTTL = "2h"
					a.Spec.Users = []v1alpha1.PartnerUser{user("mindy@globex.example", "editor", "editor")}
				})
				inv := h.WaitState(account.InvitationName("globex", "mindy@globex.example"), v1alpha1.InvitationPendingApproval)
				h.StepTo(inv.Status.ExpiresAt.Time)
				h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonInvitationsExpired)
			},
		},
		{
			name: "the only entry has an unknown role", want: status.FailedStatus, reason: v1alpha1.ReasonInvitationsFailed,
			run: func(h *harness) {
				h.account("globex", user("mindy@globex.example", "owner", "editor"))
				h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonInvitationsFailed)
			},
		},
		{
			name: "an entry with an unknown role beside a waiting one", want: status.FailedStatus, reason: v1alpha1.ReasonInvalidInvitations,
			run: func(h *harness) {
				h.account("globex", user("mindy@globex.example", "owner", "editor"), user("hank@globex.example", "editor", "editor"))
				h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonInvalidInvitations)
			},
		},
		{
			// Git takes a system away from an accepted member, but the
			// edit cannot land: the account is not Current (a GitOps tool
			// would otherwise show it healthy while the member keeps access).
			name: "a member's edit not applied: an unknown system", want: status.FailedStatus, reason: v1alpha1.ReasonGrantsNotSynced,
			run: func(h *harness) {
				h.account("globex", user("mindy@globex.example", "editor", "editor", "insights"))
				mindy := account.InvitationName("globex", "mindy@globex.example")
				h.accept(mindy)
				h.waitGrants(mindy)
				h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) {
					a.Spec.Users[0].Systems = []v1alpha1.CatalogueKey{"editor", "billing"}
				})
				a := h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonGrantsNotSynced)
				if c := readyOf(a); !strings.Contains(c.Message, "mindy@globex.example") || !strings.Contains(c.Message, v1alpha1.ReasonUnknownSystem) {
					h.T.Errorf("Ready does not name the member and why: %s", c.Message)
				}
			},
		},
		{
			name: "a removal waiting for the identity backend", want: status.InProgressStatus, reason: v1alpha1.ReasonGrantsPending,
			run: func(h *harness) {
				h.account("globex", user("mindy@globex.example", "editor", "editor"), user("hank@globex.example", "editor", "editor"))
				mindy := account.InvitationName("globex", "mindy@globex.example")
				h.accept(mindy)
				h.waitGrants(mindy)
				h.Backend.SetDown(errDown)
				h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = a.Spec.Users[1:] })
				h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonGrantsPending)
			},
		},
		{
			name: "deleting while the identity backend is down", want: status.TerminatingStatus, reason: v1alpha1.ReasonDeleting,
			run: func(h *harness) {
				h.account("globex", user("mindy@globex.example", "editor", "editor"))
				mindy := account.InvitationName("globex", "mindy@globex.example")
				h.accept(mindy)
				h.waitGrants(mindy)
				h.Backend.SetDown(errDown)
				if err := env.Client.Delete(context.Background(), h.GetAccount("globex")); err != nil {
					h.T.Fatal(err)
				}
				h.waitReady("globex", metav1.ConditionFalse, v1alpha1.ReasonDeleting)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t)
			tc.run(h)
			h.ExpectKstatus(&v1alpha1.PartnerAccount{}, "globex", tc.want, tc.reason)
			if tc.name == "deleting while the identity backend is down" || tc.name == "a removal waiting for the identity backend" {
				h.Backend.SetDown(nil) // let the account go before the namespace does
			}
		})
	}
}
