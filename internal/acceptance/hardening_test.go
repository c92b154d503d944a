package acceptance

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/token"
)

func TestRequestShapes(t *testing.T) {
	e := newEnv(t, objects(invitation("jane")))
	tok := e.tokenFor(invitation("jane"))
	form := func(ct, body string) func() *http.Request {
		return func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, pathAccept, strings.NewReader(body))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			return req
		}
	}
	plain := func(method, target string) func() *http.Request {
		return func() *http.Request { return httptest.NewRequest(method, target, nil) }
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		allow  string
		page   string
	}{
		{"body over 8 KiB", form("application/x-www-form-urlencoded", "token="+tok+"&pad="+strings.Repeat("x", 8<<10)), http.StatusRequestEntityTooLarge, "", "error"},
		{"body of exactly 8 KiB", form("application/x-www-form-urlencoded", "token="+tok+"&pad="+strings.Repeat("x", 8<<10-len("token="+tok+"&pad="))), http.StatusSeeOther, "", ""},
		{"JSON", form("application/json", `{"token":"`+tok+`"}`), http.StatusUnsupportedMediaType, "", "error"},
		{"multipart", form("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n"+tok+"\r\n--x--\r\n"), http.StatusUnsupportedMediaType, "", "error"},
		{"no content type", form("", "token="+tok), http.StatusUnsupportedMediaType, "", "error"},
		{"charset parameter is fine", form("application/x-www-form-urlencoded; charset=UTF-8", "token="+tok), http.StatusSeeOther, "", ""},
		{"bad percent-encoding", form("application/x-www-form-urlencoded", "token=%zz"), http.StatusBadRequest, "", "error"},
		{"token in the query of a POST only", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, pathAccept+"?token="+url.QueryEscape(tok), strings.NewReader(""))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}, http.StatusNotFound, "", "invalid"},
		{"two tokens", form("application/x-www-form-urlencoded", "token="+tok+"&token="+tok), http.StatusNotFound, "", "invalid"},
		{"GET with two tokens", plain(http.MethodGet, pathAccept+"?token="+tok+"&token="+tok), http.StatusNotFound, "", "invalid"},
		{"PUT accept", plain(http.MethodPut, pathAccept), http.StatusMethodNotAllowed, "GET, HEAD, POST", "error"},
		{"DELETE accept", plain(http.MethodDelete, pathAccept), http.StatusMethodNotAllowed, "GET, HEAD, POST", "error"},
		{"GET decline", plain(http.MethodGet, pathDecline+"?token="+tok), http.StatusMethodNotAllowed, "POST", "error"},
		{"POST healthz", plain(http.MethodPost, pathHealthz), http.StatusMethodNotAllowed, "GET, HEAD", "error"},
		{"unknown path", plain(http.MethodGet, "/admin"), http.StatusNotFound, "", "error"},
		{"trailing slash", plain(http.MethodGet, pathAccept+"/?token="+tok), http.StatusNotFound, "", "error"},
		{"root", plain(http.MethodGet, "/"), http.StatusNotFound, "", "error"},
		{"healthz", plain(http.MethodGet, pathHealthz), http.StatusOK, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.writes.Store(0)
			resp := e.request(tc.req())
			b := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if got := pageOf(b); got != tc.page {
				t.Errorf("page %q, want %q", got, tc.page)
			}
			if tc.status != http.StatusSeeOther && e.writes.Load() != 0 {
				t.Errorf("%d status writes", e.writes.Load())
			}
			if tc.page == "error" && strings.Contains(b, tok) {
				t.Error("the error page shows the token")
			}
		})
		// Let the next case start from a pending invitation again.
		if tc.status == http.StatusSeeOther {
			e = newEnv(t, objects(invitation("jane")))
		}
	}
}

func TestRateLimitPerClient(t *testing.T) {
	e := newEnv(t, objects(invitation("jane")), withConfig(func(c *config.Config) { c.RateLimits.AcceptRequestsPerMinute = 3 }))
	tok := e.tokenFor(invitation("jane"))
	from := func(addr string, req *http.Request) *http.Response {
		req.RemoteAddr = addr
		return e.request(req)
	}
	get := func() *http.Request {
		return httptest.NewRequest(http.MethodGet, pathAccept+"?token="+url.QueryEscape(tok), nil)
	}

	for i := range 3 {
		if resp := from("127.0.0.1:1000", get()); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := from("127.0.0.1:1001", get()) // another port, the same client
	if b := body(t, resp); resp.StatusCode != http.StatusTooManyRequests || pageOf(b) != "error" {
		t.Errorf("4th request: %d %q, want 429 and the error page", resp.StatusCode, pageOf(b))
	}
	if ra := resp.Header.Get("Retry-After"); ra != "20" {
		t.Errorf("Retry-After %q, want 20 (3 a minute)", ra)
	}
	post := httptest.NewRequest(http.MethodPost, pathAccept, strings.NewReader("token="+url.QueryEscape(tok)))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp := from("127.0.0.1:1002", post); resp.StatusCode != http.StatusTooManyRequests || e.patches.Load() != 0 {
		t.Errorf("POST over the limit: %d with %d writes, want 429 and none", resp.StatusCode, e.patches.Load())
	}
	if resp := from("127.0.0.2:1000", get()); resp.StatusCode != http.StatusOK {
		t.Errorf("another client: %d, want 200", resp.StatusCode)
	}
	if resp := from("127.0.0.1:1000", httptest.NewRequest(http.MethodGet, pathHealthz, nil)); resp.StatusCode != http.StatusOK {
		t.Errorf("health check of a limited client: %d, want 200", resp.StatusCode)
	}
	e.clock.Step(20 * time.Second)
	if resp := from("127.0.0.1:1000", get()); resp.StatusCode != http.StatusOK {
		t.Errorf("20s later: %d, want 200", resp.StatusCode)
	}
}

// panicVerifier panics with the token it is given.
type panicVerifier struct{}

func (panicVerifier) Verify(_ context.Context, raw string) (token.Claims, error) {
	panic("verifying " + raw)
}

// failingVerifier cannot load its keys; its error quotes nothing of the token.
type failingVerifier struct{}

func (failingVerifier) Verify(context.Context, string) (token.Claims, error) {
	return token.Claims{}, errors.New("loading keys: secret partnerops-token-keys not found")
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t, objects(invitation("jane"), invitation("old", expiredState)), withConfig(func(c *config.Config) { c.RateLimits.AcceptRequestsPerMinute = 12 }))
	tok := e.tokenFor(invitation("jane"))
	panicky := newEnv(t, objects(), withVerifier(panicVerifier{}))
	failing := newEnv(t, objects(), withVerifier(failingVerifier{}))
	requests := []struct {
		name string
		env  *env
		do   func(e *env) *http.Response
	}{
		{"200 invitation", e, func(e *env) *http.Response { return e.get(tok) }},
		{"200 healthz", e, func(e *env) *http.Response {
			return e.request(httptest.NewRequest(http.MethodGet, pathHealthz, nil))
		}},
		{"404 generic", e, func(e *env) *http.Response { return e.get("forged") }},
		{"404 path", e, func(e *env) *http.Response { return e.request(httptest.NewRequest(http.MethodGet, "/x", nil)) }},
		{"405", e, func(e *env) *http.Response { return e.request(httptest.NewRequest(http.MethodPut, pathAccept, nil)) }},
		{"410", e, func(e *env) *http.Response { return e.get(e.tokenFor(invitation("old", expiredState))) }},
		{"413", e, func(e *env) *http.Response { return e.postBody(pathAccept, strings.Repeat("x", 9<<10)) }},
		{"415", e, func(e *env) *http.Response {
			return e.request(httptest.NewRequest(http.MethodPost, pathAccept, strings.NewReader("{}")))
		}},
		{"303", e, func(e *env) *http.Response { return e.post(pathAccept, tok) }},
		{"500 panic", panicky, func(e *env) *http.Response { return e.get("abc") }},
		{"503", failing, func(e *env) *http.Response { return e.get("abc") }},
		{"429", e, func(e *env) *http.Response {
			for range 20 {
				e.get("forged")
			}
			return e.get("forged")
		}},
	}
	want := map[string]string{
		"Content-Security-Policy":   "default-src 'none'; style-src " + styleHash() + "; form-action 'self' https://hub.example.com; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "no-referrer",
		"X-Frame-Options":           "DENY",
		"Cache-Control":             "no-store",
		"Strict-Transport-Security": "", // plain HTTP: see TestServerTLS
	}
	seen := map[int]bool{}
	for _, r := range requests {
		t.Run(r.name, func(t *testing.T) {
			resp := r.do(r.env)
			seen[resp.StatusCode] = true
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusSeeOther && !strings.HasSuffix(ct, "; charset=utf-8") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	for _, s := range []int{200, 303, 404, 405, 410, 413, 415, 429, 500, 503} {
		if !seen[s] {
			t.Errorf("no response had status %d", s)
		}
	}
}

func TestTokenNeverLogged(t *testing.T) {
	jane := invitation("jane")
	e := newEnv(t, objects(jane, invitation("old", expiredState), invitation("gone", withdrawn)))
	panicky := newEnv(t, objects(), withVerifier(panicVerifier{}))
	failing := newEnv(t, objects(), withVerifier(failingVerifier{}))
	tok := e.tokenFor(jane)
	expired := e.tokenFor(invitation("old", expiredState))
	withdrawnTok := e.tokenFor(invitation("gone", withdrawn))
	tokens := []string{tok, expired, withdrawnTok, tok[:len(tok)-5]}

	// Everything a partner or a prober could send, with the tokens.
	e.get(tok)
	e.get(expired)
	e.get(withdrawnTok)
	e.get(tok[:len(tok)-5])
	e.request(httptest.NewRequest(http.MethodGet, pathAccept+"/"+tok, nil)) // token in the path
	e.request(httptest.NewRequest(http.MethodGet, "/"+tok, nil))
	e.request(httptest.NewRequest(http.MethodPut, pathAccept+"?token="+tok, nil))
	e.request(httptest.NewRequest(http.MethodGet, pathDecline+"?token="+tok, nil))
	e.postBody(pathAccept+"?token="+tok, "token="+tok+"&pad="+strings.Repeat("x", 9<<10))
	e.postBody(pathAccept, "token="+tok+"&x=%zz")
	e.post(pathDecline, withdrawnTok)
	e.post(pathAccept, expired)
	e.post(pathAccept, tok)
	e.post(pathAccept, tok)
	e.post(pathDecline, tok)
	panicky.get(tok)
	failing.get(tok)
	failing.post(pathAccept, tok)

	logs := e.logs.String() + panicky.logs.String() + failing.logs.String()
	for _, want := range []string{`"path"="/invitations/accept"`, `"status"=303`, `"client"="127.0.0.1"`, "Invitation accepted", "Invitation link refused", "panicType", "secret partnerops-token-keys not found"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %q:\n%s", want, logs)
		}
	}
	events := strings.Join(e.recordedEvents(), "\n")
	status, err := json.Marshal(e.invitationNow("jane"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tokens {
		for _, part := range strings.Split(tk, ".") {
			if len(part) < 16 {
				continue
			}
			if strings.Contains(logs, part) {
				t.Errorf("a token's part %.12s… is in the logs:\n%s", part, logs)
			}
			if strings.Contains(events, part) {
				t.Errorf("a token's part is in an event: %s", events)
			}
			if strings.Contains(string(status), part) {
				t.Errorf("a token's part is in the invitation: %s", status)
			}
		}
	}
}

func TestNewHandlerRefusesIncompleteOptions(t *testing.T) {
	e := newEnv(t, objects())
	good := Options{Config: testConfig(), Client: e.client, Verifier: failingVerifier{}, Prover: e.signer}
	tests := map[string]func(o *Options){
		"no config":   func(o *Options) { o.Config = nil },
		"no client":   func(o *Options) { o.Client = nil },
		"no verifier": func(o *Options) { o.Verifier = nil },
		"no prover":   func(o *Options) { o.Prover = nil },
		"no rate": func(o *Options) {
			o.Config = testConfig(func(c *config.Config) { c.RateLimits.AcceptRequestsPerMinute = 0 })
		},
		"relative hub": func(o *Options) {
			o.Config = testConfig(func(c *config.Config) { c.Acceptance.PartnerHubURL = "/hub" })
		},
	}
	if _, err := NewHandler(good); err != nil {
		t.Fatalf("complete options: %v", err)
	}
	for name, mod := range tests {
		o := good
		mod(&o)
		if _, err := NewHandler(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
