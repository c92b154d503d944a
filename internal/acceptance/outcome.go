package acceptance

import (
	"net/http"
	"net/url"

	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/metrics"
)

// This file counts what each request to the page came to
// (partnerops_acceptance_requests_total): the page it was answered with
// (write records it), else its status and where it was sent.

// seePage records which page answers the request, when w is the access
// log's recorder.
func seePage(w http.ResponseWriter, file string) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.page = file
	}
}

// countOutcome counts a request, health checks aside.
func (h *handler) countOutcome(r *http.Request, rec *statusRecorder) {
	if r.URL.Path == pathHealthz {
		return
	}
	metrics.AcceptanceRequests.WithLabelValues(requestOutcome(r, rec.status, rec.page, rec.Header().Get("Location"), h.hub)).Inc()
}

// requestOutcome is what a request came to (metrics.AcceptanceOutcomes).
func requestOutcome(r *http.Request, status int, page, location string, hub *url.URL) string {
	switch page {
	case i18n.PageInvitation:
		return metrics.OutcomeShown
	case i18n.PageAccepted:
		return metrics.OutcomeAlreadyAccepted
	case i18n.PageDeclined:
		if r.Method == http.MethodPost && r.URL.Path == pathDecline && status == http.StatusOK {
			return metrics.OutcomeDeclined
		}
		return metrics.OutcomeAlreadyDeclined
	case i18n.PageExpired:
		return metrics.OutcomeExpired
	case i18n.PageDead:
		return metrics.OutcomeInvalidLink
	}
	switch {
	case status == http.StatusSeeOther:
		if to, err := url.Parse(location); err == nil && to.Scheme == hub.Scheme && to.Host == hub.Host && to.Path == hub.Path {
			return metrics.OutcomeAccepted
		}
		return metrics.OutcomeSignIn
	case status == http.StatusTooManyRequests:
		return metrics.OutcomeRateLimited
	case status == http.StatusServiceUnavailable:
		return metrics.OutcomeUnavailable
	case status >= 500:
		return metrics.OutcomeError
	case status >= 400:
		return metrics.OutcomeBadRequest
	}
	return metrics.OutcomeShown
}
