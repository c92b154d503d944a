package account_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
)

// TestSettlingAnAccountTakesFewStatusWrites: inviting 20 users takes a
// couple of account status writes (creating, then reconciled), not one per
// invitation event: the invitations count as pending from their creation,
// so their being sent changes nothing in the account's status.
func TestSettlingAnAccountTakesFewStatusWrites(t *testing.T) {
	h := start(t)
	const n = 20
	var users []v1alpha1.PartnerUser
	for i := range n {
		users = append(users, user(fmt.Sprintf("user.%d@globex.example", i), "editor", "editor"))
	}
	h.account("globex", users...)
	h.WaitAccount("globex", "20 pending and Ready", func(a *v1alpha1.PartnerAccount) bool {
		c := readyOf(a)
		return a.Status.Invitations == v1alpha1.InvitationCounts{Pending: n} && c != nil && c.Reason == v1alpha1.ReasonReconciled
	})
	h.Eventually("every invitation to be sent", func() bool { return len(h.Sender.Recipients()) == n })
	h.Settle()
	writes := 0
	for k, c := range h.Requests.Writes() {
		if strings.HasSuffix(k, "/partneraccounts/globex/status") {
			writes += c
		}
	}
	// Two are needed; a write on a stale copy that the API server refuses
	// (a conflict) may add one or two.
	if writes > 4 {
		t.Errorf("%d status writes to settle an account of %d users: %v", writes, n, h.Requests.Writes())
	}
}

// TestRestartOverSettledAccountsIsFree: a manager restarting over settled
// accounts (owned and standalone invitations, pending and accepted, the
// grants finalizer in place) makes no API write and sends no email.
func TestRestartOverSettledAccountsIsFree(t *testing.T) {
	h := start(t)
	const n = 10
	for i := range n {
		name := fmt.Sprintf("partner-%d", i)
		h.account(name,
			user(fmt.Sprintf("mindy.%d@globex.example", i), "editor", "editor"),
			user(fmt.Sprintf("hank.%d@globex.example", i), "admin", "admin-center", "insights"),
			user(fmt.Sprintf("frank.%d@globex.example", i), "viewer"))
		h.invite(fmt.Sprintf("standalone-%d", i), name, fmt.Sprintf("carlos.%d@globex.example", i), "insights")
	}
	for i := range n {
		h.accept(account.InvitationName(fmt.Sprintf("partner-%d", i), fmt.Sprintf("mindy.%d@globex.example", i)))
	}
	for i := range n {
		h.waitGrants(account.InvitationName(fmt.Sprintf("partner-%d", i), fmt.Sprintf("mindy.%d@globex.example", i)))
	}
	for i := range n {
		h.WaitAccount(fmt.Sprintf("partner-%d", i), "settled: Active, 1 member, 3 pending, finalizer, Ready",
			func(a *v1alpha1.PartnerAccount) bool {
				c := readyOf(a)
				return a.Status.State == v1alpha1.AccountActive && len(a.Status.Members) == 1 &&
					a.Status.Invitations == v1alpha1.InvitationCounts{Accepted: 1, Pending: 3} && hasFinalizer(a) &&
					c != nil && c.Status == metav1.ConditionTrue && c.Reason == v1alpha1.ReasonReconciled
			})
	}
	h.RestartIsFree("partneraccount", n, 2*time.Minute)
}
