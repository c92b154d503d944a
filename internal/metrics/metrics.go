// Package metrics defines partnerops' Prometheus metrics (prefix
// partnerops_), registered with controller-runtime's registry so the
// manager's /metrics endpoint serves them. docs/observability.md documents
// each one, and the alerts and the dashboard that read them.
//
// Every counter is created at start with each of its known label values at
// zero, so that rate() and absent() give an answer right after a restart
// instead of no series at all.
package metrics

import (
	"errors"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity"
)

var (
	// EmailsSent counts emails the mail server accepted, by locale.
	EmailsSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnerops_emails_sent_total",
		Help: "Invitation emails the mail server accepted, by locale.",
	}, []string{"locale"})

	// EmailsFailed counts failed sends, by condition reason
	// (EmailFailureReasons).
	EmailsFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnerops_emails_failed_total",
		Help: "Invitation emails that could not be sent, by reason (SMTPUnavailable, RecipientRejected, SendFailed).",
	}, []string{"reason"})

	// SendDuration measures one SMTP delivery, successful or not.
	SendDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "partnerops_email_send_duration_seconds",
		Help:    "Time to hand one invitation email to the mail server.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})

	// GrantSyncs counts the grants step's calls to the identity backend:
	// operation apply (an accepted member's groups) or revoke (everything
	// partnerops added, for someone who is no longer a member), result
	// success or failure, and the GrantsSynced reason it came to.
	GrantSyncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnerops_grant_syncs_total",
		Help: "Grant syncs with the identity backend, by operation (apply, revoke), result (success, failure) and GrantsSynced reason.",
	}, []string{"operation", "result", "reason"})

	// BackendRequests counts calls to the identity backend by backend
	// (scim, ldap), operation (identity.Operations) and code
	// (identity.Codes).
	BackendRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnerops_identity_backend_requests_total",
		Help: "Calls to the identity backend, by backend, operation and code (ok, not_found, unavailable, unauthorized, rejected, conflict, group_not_found, error).",
	}, []string{"backend", "operation", "code"})

	// BackendDuration measures one call to the identity backend (one
	// Backend method, which may be several HTTP requests or LDAP
	// operations), successful or not.
	BackendDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "partnerops_identity_backend_request_duration_seconds",
		Help:    "Time of one call to the identity backend, by backend and operation.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"backend", "operation"})

	// AcceptanceRequests counts the acceptance page's answers by what they
	// came to (AcceptanceOutcomes); health checks are not counted.
	AcceptanceRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnerops_acceptance_requests_total",
		Help: "Requests to the acceptance page, by outcome.",
	}, []string{"outcome"})

	// BuildInfo is 1, labelled with the running binary's version, commit
	// and Go version.
	BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "partnerops_build_info",
		Help: "Always 1: the running manager's version, commit and Go version.",
	}, []string{"version", "commit", "goversion"})
)

// EmailFailureReasons are the reasons of partnerops_emails_failed_total.
var EmailFailureReasons = []string{v1alpha1.ReasonSMTPUnavailable, v1alpha1.ReasonRecipientRejected, v1alpha1.ReasonSendFailed}

// Label values of partnerops_grant_syncs_total.
const (
	GrantApply    = "apply"
	GrantRevoke   = "revoke"
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// grantSyncs are the label values partnerops_grant_syncs_total can take:
// each operation's success reason, and the reasons either can fail with.
func grantSyncs() [][3]string {
	out := [][3]string{
		{GrantApply, ResultSuccess, v1alpha1.ReasonGrantsApplied},
		{GrantRevoke, ResultSuccess, v1alpha1.ReasonGrantsRevoked},
	}
	for _, op := range []string{GrantApply, GrantRevoke} {
		for _, reason := range []string{v1alpha1.ReasonBackendUnavailable, v1alpha1.ReasonBackendRejected, v1alpha1.ReasonGroupNotManaged} {
			out = append(out, [3]string{op, ResultFailure, reason})
		}
	}
	return out
}

// The outcomes of partnerops_acceptance_requests_total.
const (
	// OutcomeShown: the invitation page of a pending link, with its forms
	// (or, with acceptance.signIn, the confirmation after signing in).
	OutcomeShown = "shown"
	// OutcomeAccepted: an acceptance answered with the redirect to the
	// Partner Hub (accepting twice is harmless, and counted twice).
	OutcomeAccepted = "accepted"
	// OutcomeDeclined: a decline recorded (or repeated).
	OutcomeDeclined = "declined"
	// OutcomeSignIn: a redirect to the identity provider, to sign in
	// before accepting (acceptance.signIn: oidc).
	OutcomeSignIn = "sign_in"
	// OutcomeAlreadyAccepted and OutcomeAlreadyDeclined: a link whose
	// invitation was answered already.
	OutcomeAlreadyAccepted = "already_accepted"
	OutcomeAlreadyDeclined = "already_declined"
	// OutcomeExpired: a link past its expiry.
	OutcomeExpired = "expired"
	// OutcomeInvalidLink: the one page for a link that can never work
	// (forged, superseded by a resend, withdrawn, deleted).
	OutcomeInvalidLink = "invalid_link"
	// OutcomeRateLimited: refused with 429.
	OutcomeRateLimited = "rate_limited"
	// OutcomeBadRequest: any other 4xx (unknown path, method, body).
	OutcomeBadRequest = "bad_request"
	// OutcomeUnavailable: 503, the page could not decide (the API server
	// or the link-signing keys failed).
	OutcomeUnavailable = "unavailable"
	// OutcomeError: 500.
	OutcomeError = "error"
)

// AcceptanceOutcomes are every outcome of partnerops_acceptance_requests_total.
var AcceptanceOutcomes = []string{
	OutcomeShown, OutcomeAccepted, OutcomeDeclined, OutcomeSignIn, OutcomeAlreadyAccepted, OutcomeAlreadyDeclined,
	OutcomeExpired, OutcomeInvalidLink, OutcomeRateLimited, OutcomeBadRequest, OutcomeUnavailable, OutcomeError,
}

// Build says what binary runs, for partnerops_build_info.
type Build struct {
	// Version is main.version (-ldflags "-X main.version=…"); "dev" when
	// empty.
	Version string
	// Commit is main.commit (-ldflags "-X main.commit=…"); when empty, the
	// vcs.revision Go stamped into the binary, else "unknown".
	Commit string
}

func (b Build) labels() (version, commit, goversion string) {
	version, commit = b.Version, b.Commit
	if version == "" {
		version = "dev"
	}
	if commit == "" {
		commit = "unknown"
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" && s.Value != "" {
					commit = s.Value
				}
			}
		}
	}
	return version, commit, runtime.Version()
}

// Options are what Register needs to know about this manager.
type Options struct {
	// Reader is the manager's cache; the invitation gauges count from it.
	Reader client.Reader
	// Backend is the configured identity backend's type (scim, ldap): its
	// request counters are created at zero.
	Backend string
	// Build is the running binary.
	Build Build
}

// Register adds every partnerops metric to controller-runtime's registry
// and creates each counter's known label values at zero. Registering again
// (several managers in one test process) is harmless: the gauges then
// count from the newest reader, and partnerops_build_info says the newest
// build.
func Register(o Options) error {
	states.reader.Store(&o.Reader)
	for _, c := range []prometheus.Collector{
		EmailsSent, EmailsFailed, SendDuration, GrantSyncs, BackendRequests, BackendDuration, AcceptanceRequests, BuildInfo, states,
	} {
		if err := crmetrics.Registry.Register(c); err != nil {
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
				return err
			}
		}
	}
	for _, l := range v1alpha1.Locales {
		EmailsSent.WithLabelValues(string(l))
	}
	for _, r := range EmailFailureReasons {
		EmailsFailed.WithLabelValues(r)
	}
	for _, g := range grantSyncs() {
		GrantSyncs.WithLabelValues(g[0], g[1], g[2])
	}
	if o.Backend != "" {
		for _, op := range identity.Operations {
			BackendDuration.WithLabelValues(o.Backend, op)
			for _, code := range identity.Codes {
				BackendRequests.WithLabelValues(o.Backend, op, code)
			}
		}
	}
	for _, out := range AcceptanceOutcomes {
		AcceptanceRequests.WithLabelValues(out)
	}
	BuildInfo.Reset()
	BuildInfo.WithLabelValues(o.Build.labels()).Set(1)
	return nil
}

// BackendObserver counts and times the calls to a backend of type
// backend: give it to identity.Observed.
func BackendObserver(backend string) identity.Observer {
	return func(op string, err error, took time.Duration) {
		BackendRequests.WithLabelValues(backend, op, identity.Code(err)).Inc()
		BackendDuration.WithLabelValues(backend, op).Observe(took.Seconds())
	}
}
