package acceptance

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/token"
)

// recordingVerifier remembers the tokens its verifier accepted.
type recordingVerifier struct {
	v        Verifier
	mu       sync.Mutex
	accepted []string
}

func (r *recordingVerifier) Verify(ctx context.Context, raw string) (token.Claims, error) {
	c, err := r.v.Verify(ctx, raw)
	if err == nil {
		r.mu.Lock()
		r.accepted = append(r.accepted, raw)
		r.mu.Unlock()
	}
	return c, err
}

// FuzzAcceptForm sends arbitrary POST bodies to both POST routes and
// arbitrary query strings to the GET route. Whatever the input, the page
// never panics and never answers 5xx; GET never writes; a POST writes only
// after the verifier accepted a token, at most once, and only the
// invitation that token names.
func FuzzAcceptForm(f *testing.F) {
	seed := newEnv(f, objects(invitation("jane")))
	good := seed.tokenFor(invitation("jane"))
	f.Add("token="+good, "token="+good)
	f.Add("token="+good+"&token="+good, "token="+good+"&x=1")
	f.Add("x=1&token="+url.QueryEscape(good), "token="+url.QueryEscape(good[:20]))
	f.Add("token="+good[:len(good)-3], "token=")
	f.Add("token=%zz", "token=%zz")
	f.Add("token="+strings.Repeat("a", 9000), "token="+strings.Repeat("a.", 3000))
	f.Add("token=a.b.c", ";;token=a&&")
	f.Add("", "")
	for name, bad := range badLinks(seed) {
		f.Add("token="+url.QueryEscape(bad), "token="+url.QueryEscape(bad)+"&"+url.QueryEscape(name))
	}

	// One env for the whole run (building a fake client costs more than
	// the requests); an iteration that wrote puts the invitation back.
	rv := &recordingVerifier{}
	e := newEnv(f, objects(invitation("jane"), invitation("john")),
		withConfig(func(c *config.Config) { c.RateLimits.AcceptRequestsPerMinute = math.MaxInt32 }),
		func(s *envSetup) { rv.v, s.verifier = s.verifier, rv })
	pending := invitation("jane").Status

	f.Fuzz(func(t *testing.T, body, query string) {
		e.t = t
		rv.accepted = nil
		e.writes.Store(0)
		e.patches.Store(0)
		defer func() {
			if e.writes.Load() == 0 {
				return
			}
			inv := e.invitationNow("jane")
			inv.Status = *pending.DeepCopy()
			if err := e.client.Status().Update(context.Background(), inv); err != nil {
				t.Fatalf("putting the invitation back: %v", err)
			}
			e.recordedEvents()
		}()

		get := httptest.NewRequest(http.MethodGet, pathAccept, nil)
		get.URL.RawQuery = query
		if resp := e.request(get); resp.StatusCode >= 500 {
			t.Fatalf("GET ?%q: %d", query, resp.StatusCode)
		}
		if n := e.patches.Load(); n != 0 {
			t.Fatalf("GET ?%q wrote the status %d times", query, n)
		}
		for _, path := range []string{pathAccept, pathDecline} {
			resp := e.postBody(path, body)
			if resp.StatusCode >= 500 {
				t.Fatalf("POST %s %q: %d", path, body, resp.StatusCode)
			}
		}
		writes := e.writes.Load()
		if writes > 1 {
			t.Fatalf("body %q: %d status writes, want at most 1", body, writes)
		}
		if writes == 1 {
			form, err := url.ParseQuery(body)
			if err != nil || len(form["token"]) != 1 || !slices.Contains(rv.accepted, form["token"][0]) {
				t.Fatalf("body %q wrote the status without a token the verifier accepted", body)
			}
			if st := e.invitationNow("john").Status.State; st != "PendingApproval" {
				t.Fatalf("body %q changed john's invitation to %s", body, st)
			}
		}
	})
}
