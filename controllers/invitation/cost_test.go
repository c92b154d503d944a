package invitation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// TestOneStatusWritePerInvitation: reaching PendingApproval takes exactly
// one status write per invitation, and nothing more once settled.
func TestOneStatusWritePerInvitation(t *testing.T) {
	h := start(t)
	h.account("globex")
	const n = 20
	for i := range n {
		h.invite(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@globex.example", i))
	}
	h.eventually("every invitation to be PendingApproval", func() bool { return h.countState(v1alpha1.InvitationPendingApproval) == n })
	settle(t, h, n)
	if got := h.requests.statusWrites(); got != n {
		t.Fatalf("%d status writes for %d invitations; want exactly one each:\n%v", got, n, h.requests.writes())
	}
	if got := len(h.sender.messages()); got != n {
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
	h.account("globex")
	const n = 1000
	for i := range n {
		h.invite(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@globex.example", i))
	}
	h.eventuallyWithin(5*time.Minute, "1,000 invitations to be PendingApproval", func() bool { return h.countState(v1alpha1.InvitationPendingApproval) == n })
	emails := len(h.sender.messages())

	before := reconciles(t)
	h.restart()
	// Every invitation is reconciled once at start; wait for all of them.
	h.eventuallyWithin(5*time.Minute, "the new manager to reconcile every invitation", func() bool { return reconciles(t)-before >= n })
	settle(t, h, 0)
	if w := h.requests.writes(); len(w) != 0 {
		t.Errorf("the restart made API writes: %v", w)
	}
	if got := len(h.sender.messages()); got != emails {
		t.Errorf("the restart sent %d emails", got-emails)
	}
}

func (h *harness) countState(s v1alpha1.InvitationState) int {
	var list v1alpha1.PartnerInvitationList
	if err := env.Client.List(context.Background(), &list); err != nil {
		h.t.Fatal(err)
	}
	c := 0
	for _, i := range list.Items {
		if i.Namespace == h.ns && i.Status.State == s {
			c++
		}
	}
	return c
}

// settle waits until the controller's queue is idle: every reconcile that
// the last writes triggered has run.
func settle(t *testing.T, h *harness, _ int) {
	t.Helper()
	last := -1.0
	stable := 0
	h.eventually("the controller to go idle", func() bool {
		r := reconciles(t)
		if r == last && active(t) == 0 {
			stable++
		} else {
			stable = 0
		}
		last = r
		return stable >= 10
	})
}

// reconciles is controller_runtime_reconcile_total for the invitation
// controller, over every manager this test process ran.
func reconciles(t *testing.T) float64 {
	return metricSum(t, "controller_runtime_reconcile_total")
}

func active(t *testing.T) float64 {
	return metricSum(t, "controller_runtime_active_workers") + metricSum(t, "workqueue_depth")
}

func crmetricsGather() ([]*dto.MetricFamily, error) { return crmetrics.Registry.Gather() }

// metricSum sums a controller-runtime metric of the invitation controller
// (labelled controller= or, for workqueue metrics, name=).
func metricSum(t *testing.T, name string) float64 {
	t.Helper()
	return metricValue(t, name, map[string]string{"controller": "partnerinvitation"}) +
		metricValue(t, name, map[string]string{"name": "partnerinvitation"})
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
