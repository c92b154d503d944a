// Package metrics defines partnerops' Prometheus metrics (prefix
// partnerops_), registered with controller-runtime's registry so the
// manager's /metrics endpoint serves them.
package metrics

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

var (
	// EmailsSent counts emails the mail server accepted, by locale.
	EmailsSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnerops_emails_sent_total",
		Help: "Invitation emails the mail server accepted, by locale.",
	}, []string{"locale"})

	// EmailsFailed counts failed sends, by condition reason
	// (SMTPUnavailable, RecipientRejected, ...).
	EmailsFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnerops_emails_failed_total",
		Help: "Invitation emails that could not be sent, by reason.",
	}, []string{"reason"})

	// SendDuration measures one SMTP delivery, successful or not.
	SendDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "partnerops_email_send_duration_seconds",
		Help:    "Time to hand one invitation email to the mail server.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
)

// invitationStates is the gauge partnerops_invitations{state}, counted from
// the manager's cache at scrape time so it is always exact and costs no API
// request.
type invitationStates struct {
	reader atomic.Pointer[client.Reader]
	desc   *prometheus.Desc
}

func (c *invitationStates) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *invitationStates) Collect(ch chan<- prometheus.Metric) {
	reader := c.reader.Load()
	if reader == nil {
		return
	}
	var list v1alpha1.PartnerInvitationList
	if err := (*reader).List(context.Background(), &list); err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	counts := map[v1alpha1.InvitationState]float64{
		v1alpha1.InvitationPendingApproval: 0, v1alpha1.InvitationAccepted: 0,
		v1alpha1.InvitationExpired: 0, v1alpha1.InvitationRevoked: 0, v1alpha1.InvitationInvalid: 0,
	}
	for i := range list.Items {
		s := list.Items[i].Status.State
		if s == "" {
			s = v1alpha1.InvitationPendingApproval
		}
		counts[s]++
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n, string(state))
	}
}

// Register adds every partnerops metric to controller-runtime's registry;
// reader is the manager's cache. Registering again (several managers in one
// test process) is harmless: the gauge then counts from the newest reader.
func Register(reader client.Reader) error {
	states.reader.Store(&reader)
	for _, c := range []prometheus.Collector{EmailsSent, EmailsFailed, SendDuration, states} {
		if err := crmetrics.Registry.Register(c); err != nil {
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
				return err
			}
		}
	}
	return nil
}

var states = &invitationStates{desc: prometheus.NewDesc("partnerops_invitations",
	"PartnerInvitations by state (an invitation not yet reconciled counts as PendingApproval).",
	[]string{"state"}, nil)}
