package invitation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// TestOneStatusWritePerInvitation: reaching PendingApproval takes exactly
// one status write per invitation, and nothing more once settled.
func TestOneStatusWritePerInvitation(t *testing.T) {
	h := start(t)
	h.Account("globex")
	const n = 20
	for i := range n {
		h.Invite(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@globex.example", i))
	}
	h.Eventually("every invitation to be PendingApproval", func() bool { return h.countState(v1alpha1.InvitationPendingApproval) == n })
	h.Settle()
	if got := h.Requests.StatusWrites("partnerinvitations"); got != n {
		t.Fatalf("%d status writes for %d invitations; want exactly one each:\n%v", got, n, h.Requests.Writes())
	}
	if got := len(h.Sender.Sent()); got != n {
		t.Fatalf("%d emails for %d invitations", got, n)
	}
}

// TestRestartOverSettledInvitationsIsFree: a manager restarting over 1,000
// settled invitations sends no email and makes no API write.
func TestRestartOverSettledInvitationsIsFree(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,000 invitations")
	}
	h := start(t)
	h.Account("globex")
	const n = 1000
	for i := range n {
		h.Invite(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@globex.example", i))
	}
	h.EventuallyWithin(5*time.Minute, "1,000 invitations to be PendingApproval", func() bool { return h.countState(v1alpha1.InvitationPendingApproval) == n })
	h.RestartIsFree("partnerinvitation", n, 5*time.Minute)
}

func (h *harness) countState(s v1alpha1.InvitationState) int {
	var list v1alpha1.PartnerInvitationList
	if err := env.Client.List(context.Background(), &list); err != nil {
		h.T.Fatal(err)
	}
	c := 0
	for _, i := range list.Items {
		if i.Namespace == h.NS && i.Status.State == s {
			c++
		}
	}
	return c
}
