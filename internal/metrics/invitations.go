package metrics

import (
	"context"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// invitationStates are the gauges partnerops_invitations{namespace,state}
// and partnerops_invitations_awaiting_revocation{namespace}, counted from
// the manager's cache at scrape time: always exact, no API request, and
// nothing to keep in step at each reconcile. A scrape lists the cache once
// without deep-copying the objects (it only reads them): at 10,000
// invitations, one pass over 10,000 shallow copies per scrape interval.
type invitationStates struct {
	reader  atomic.Pointer[client.Reader]
	states  *prometheus.Desc
	revokes *prometheus.Desc
}

var states = &invitationStates{
	states: prometheus.NewDesc("partnerops_invitations",
		"PartnerInvitations by namespace and state (an invitation not yet reconciled counts as PendingApproval). Every replica reports it: aggregate with max by (namespace, state) first.",
		[]string{"namespace", "state"}, nil),
	revokes: prometheus.NewDesc("partnerops_invitations_awaiting_revocation",
		"PartnerInvitations whose grants partnerops made are still recorded as applied in the identity backend although they should be gone: of someone who is no longer a member (withdrawn, declined, expired, removed, deleted, account deleted), or of a member who lost a system or changed role. The revocation has not landed yet.",
		[]string{"namespace"}, nil),
}

func (c *invitationStates) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.states
	ch <- c.revokes
}

// invitationStateNames are the states reported for each namespace with
// invitations, at zero when none is in that state.
var invitationStateNames = []v1alpha1.InvitationState{
	v1alpha1.InvitationPendingApproval, v1alpha1.InvitationAccepted, v1alpha1.InvitationExpired,
	v1alpha1.InvitationRevoked, v1alpha1.InvitationInvalid,
}

type namespaceCounts struct {
	states   map[v1alpha1.InvitationState]float64
	revoking float64
}

func (c *invitationStates) Collect(ch chan<- prometheus.Metric) {
	reader := c.reader.Load()
	if reader == nil {
		return
	}
	var list v1alpha1.PartnerInvitationList
	if err := (*reader).List(context.Background(), &list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(c.states, err)
		return
	}
	byNamespace := map[string]*namespaceCounts{}
	for i := range list.Items {
		inv := &list.Items[i]
		n := byNamespace[inv.Namespace]
		if n == nil {
			n = &namespaceCounts{states: map[v1alpha1.InvitationState]float64{}}
			byNamespace[inv.Namespace] = n
		}
		s := inv.Status.State
		if s == "" {
			s = v1alpha1.InvitationPendingApproval
		}
		n.states[s]++
		if awaitingRevocation(inv) {
			n.revoking++
		}
	}
	for ns, n := range byNamespace {
		for _, s := range invitationStateNames {
			ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, n.states[s], ns, string(s))
		}
		ch <- prometheus.MustNewConstMetric(c.revokes, prometheus.GaugeValue, n.revoking, ns)
	}
}

// awaitingRevocation: status.appliedGrants records access inv should no
// longer give: groups or a user partnerops made for someone who is no
// longer a member (not Accepted, or being deleted), or the groups of a
// system taken away from a member, or of the role they had. The
// controller updates the record once the backend confirmed the removal (or,
// for an account deleted with deletionPolicy Retain, once it let go).
func awaitingRevocation(inv *v1alpha1.PartnerInvitation) bool {
	ag := inv.Status.AppliedGrants
	switch {
	case ag == nil:
		return false
	case inv.Status.State != v1alpha1.InvitationAccepted || !inv.DeletionTimestamp.IsZero():
		return true
	case len(ag.Groups) == 0:
		return false
	case ag.Role != "" && ag.Role != string(inv.Spec.Role):
		return true
	}
	for _, s := range ag.Systems {
		if !slices.Contains(inv.Spec.Systems, v1alpha1.CatalogueKey(s)) {
			return true
		}
	}
	return false
}
