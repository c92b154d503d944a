package acceptance

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/metrics"
)

// TestOutcomesAreCounted: each request to the page counts once in
// partnerops_acceptance_requests_total, under the outcome it came to;
// health checks do not count.
func TestOutcomesAreCounted(t *testing.T) {
	tests := []struct {
		name string
		want string // "" counts nothing
		do   func(t *testing.T) *http.Response
	}{
		{"the invitation page", metrics.OutcomeShown, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane")))
			return e.get(e.tokenFor(invitation("jane")))
		}},
		{"accepting", metrics.OutcomeAccepted, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane")))
			return e.post(pathAccept, e.tokenFor(invitation("jane")))
		}},
		{"accepting again", metrics.OutcomeAccepted, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane", acceptedAt(t0))))
			return e.post(pathAccept, e.tokenFor(invitation("jane")))
		}},
		{"declining", metrics.OutcomeDeclined, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane")))
			return e.post(pathDecline, e.tokenFor(invitation("jane")))
		}},
		{"an accepted invitation's link", metrics.OutcomeAlreadyAccepted, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane", acceptedAt(t0))))
			return e.get(e.tokenFor(invitation("jane")))
		}},
		{"a declined invitation's link", metrics.OutcomeAlreadyDeclined, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane", declinedState)))
			return e.get(e.tokenFor(invitation("jane")))
		}},
		{"accepting a declined invitation", metrics.OutcomeAlreadyDeclined, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane", declinedState)))
			return e.post(pathAccept, e.tokenFor(invitation("jane")))
		}},
		{"an expired link", metrics.OutcomeExpired, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane", expiredState)))
			return e.get(e.tokenFor(invitation("jane")))
		}},
		{"a withdrawn invitation's link", metrics.OutcomeInvalidLink, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(invitation("jane", withdrawn)))
			return e.get(e.tokenFor(invitation("jane")))
		}},
		{"a forged link", metrics.OutcomeInvalidLink, func(t *testing.T) *http.Response {
			return newEnv(t, objects()).get("not-a-token")
		}},
		{"an unknown path", metrics.OutcomeBadRequest, func(t *testing.T) *http.Response {
			return newEnv(t, objects()).request(httptest.NewRequest(http.MethodGet, "/invitations/nope", nil))
		}},
		{"a wrong method", metrics.OutcomeBadRequest, func(t *testing.T) *http.Response {
			return newEnv(t, objects()).request(httptest.NewRequest(http.MethodGet, pathDecline, nil))
		}},
		{"the keys cannot be read", metrics.OutcomeUnavailable, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(), withVerifier(failingVerifier{}), withoutLogs())
			return e.get("any")
		}},
		{"a panic", metrics.OutcomeError, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(), withVerifier(panicVerifier{}), withoutLogs())
			return e.get("any")
		}},
		{"over the rate limit", metrics.OutcomeRateLimited, func(t *testing.T) *http.Response {
			e := newEnv(t, objects(), withConfig(func(c *config.Config) { c.RateLimits.AcceptRequestsPerMinute = 1 }))
			// The client's budget of one request is spent before the
			// count starts.
			host, _, _ := net.SplitHostPort(testClient)
			if _, ok := e.h.limiter.allow(clientKey(host), t0); !ok {
				t.Fatal("the first request was refused")
			}
			return e.get("any")
		}},
		{"a health check", "", func(t *testing.T) *http.Response {
			return newEnv(t, objects()).request(httptest.NewRequest(http.MethodGet, pathHealthz, nil))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			delta := countDelta(func() { resp = tc.do(t) })
			resp.Body.Close()
			for _, o := range metrics.AcceptanceOutcomes {
				want := 0.0
				if o == tc.want {
					want = 1
				}
				if delta[o] != want {
					t.Errorf("%s rose by %v, want %v (status %d)", o, delta[o], want, resp.StatusCode)
				}
			}
		})
	}
}

// countDelta is how much each outcome rose while f ran.
func countDelta(f func()) map[string]float64 {
	read := func() map[string]float64 {
		m := map[string]float64{}
		for _, o := range metrics.AcceptanceOutcomes {
			var c dto.Metric
			_ = metrics.AcceptanceRequests.WithLabelValues(o).Write(&c)
			m[o] = c.GetCounter().GetValue()
		}
		return m
	}
	before := read()
	f()
	after := read()
	for o := range after {
		after[o] -= before[o]
	}
	return after
}

// TestRedirectOutcome: a 303 is an acceptance when it goes to the Partner
// Hub, a sign-in when it goes anywhere else (the identity provider).
func TestRedirectOutcome(t *testing.T) {
	hub, _ := url.Parse("https://hub.example.com/start?from=email")
	post := httptest.NewRequest(http.MethodPost, pathAccept, nil)
	for loc, want := range map[string]string{
		hubForJane: metrics.OutcomeAccepted,
		"https://idp.example.com/authorize?client_id=partnerops": metrics.OutcomeSignIn,
		"https://hub.example.com/elsewhere":                      metrics.OutcomeSignIn,
	} {
		if got := requestOutcome(post, http.StatusSeeOther, "", loc, hub); got != want {
			t.Errorf("303 to %s: %s, want %s", loc, got, want)
		}
	}
}
