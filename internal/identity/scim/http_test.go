package scim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/identity"
)

const testToken = "tok-5ecr3t-d0-not-leak"

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// newTestClient runs handler as the service provider and returns a client of
// it with the token testToken and a fixed clock.
func newTestClient(t *testing.T, handler http.HandlerFunc, mod ...func(*Config)) *Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	cfg := Config{
		BaseURL: srv.URL + "/scim/v2/",
		Token:   func(context.Context) (string, error) { return testToken, nil },
		Timeout: 5 * time.Second,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return testNow }
	return c
}

func writeSCIM(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func scimError(w http.ResponseWriter, status int, scimType, detail string) {
	writeSCIM(w, status, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":   fmt.Sprint(status),
		"scimType": scimType,
		"detail":   detail,
	})
}

// scimErrorOf is a handler answering with scimError.
func scimErrorOf(status int, scimType, detail string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) { scimError(w, status, scimType, detail) }
}

func listOf(resources ...any) map[string]any {
	if resources == nil {
		resources = []any{}
	}
	return map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": len(resources),
		"startIndex":   1,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}
}

// checkNoToken fails the test when err's text holds the token.
func checkNoToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testToken) {
		t.Errorf("the error holds the token: %v", err)
	}
}

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		scimType    string
		detail      string
		want        []error
		notWant     []error
		retryAfter  time.Duration // 0: none
		wantInError []string
	}{
		{name: "401", status: 401, detail: "Invalid bearer token", want: []error{identity.ErrUnauthorized}, wantInError: []string{"HTTP 401", "Invalid bearer token"}},
		{name: "403", status: 403, detail: "not allowed", want: []error{identity.ErrUnauthorized}},
		{name: "400 with SCIM detail", status: 400, scimType: "invalidFilter", detail: "Unexpected token in filter",
			want: []error{identity.ErrRejected}, notWant: []error{identity.ErrUnavailable},
			wantInError: []string{"HTTP 400", "scimType invalidFilter", "Unexpected token in filter"}},
		// A query answers with a list: its 404 is a missing endpoint, never
		// "no such user", which would let a removal forget what stays.
		{name: "404 to a query", status: 404, want: []error{identity.ErrUnavailable}, notWant: []error{identity.ErrNotFound},
			wantInError: []string{"HTTP 404", "answers a query with a list", "identityBackend.scim.baseURL"}},
		{name: "409", status: 409, scimType: "uniqueness", want: []error{identity.ErrConflict}, wantInError: []string{"uniqueness"}},
		{name: "412", status: 412, want: []error{identity.ErrConflict}},
		{name: "429 Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"}, want: []error{identity.ErrUnavailable}, retryAfter: 7 * time.Second},
		{name: "503 Retry-After HTTP date", status: 503, header: map[string]string{"Retry-After": testNow.Add(90 * time.Second).Format(http.TimeFormat)},
			want: []error{identity.ErrUnavailable}, retryAfter: 90 * time.Second},
		{name: "429 Retry-After huge is capped", status: 429, header: map[string]string{"Retry-After": "999999999"}, want: []error{identity.ErrUnavailable}, retryAfter: MaxRetryAfter},
		{name: "429 without Retry-After", status: 429, want: []error{identity.ErrUnavailable}},
		{name: "503 with a bad Retry-After", status: 503, header: map[string]string{"Retry-After": "soon"}, want: []error{identity.ErrUnavailable}},
		{name: "500", status: 500, want: []error{identity.ErrUnavailable}, notWant: []error{identity.ErrRejected}},
		{name: "502", status: 502, want: []error{identity.ErrUnavailable}},
		{name: "504", status: 504, want: []error{identity.ErrUnavailable}},
		{name: "501 is not worth retrying", status: 501, want: []error{identity.ErrRejected}, notWant: []error{identity.ErrUnavailable}},
		{name: "415", status: 415, want: []error{identity.ErrRejected}},
		{name: "redirect is not followed", status: 302, header: map[string]string{"Location": "https://elsewhere.test/scim"},
			want: []error{identity.ErrRejected}, wantInError: []string{"HTTP 302", "redirected to https://elsewhere.test/scim", "set baseURL to the final URL"}},
		{name: "relative redirect names the absolute URL", status: 308, header: map[string]string{"Location": "/v2/scim/Users"},
			want: []error{identity.ErrRejected}, wantInError: []string{"HTTP 308", "redirected to http://127.0.0.1:", "/v2/scim/Users;", "set baseURL to the final URL"}},
		{name: "redirect without Location", status: 307,
			want: []error{identity.ErrRejected}, wantInError: []string{"HTTP 307", "redirected without a Location"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				// A careless server that echoes the request's credentials.
				scimError(w, tc.status, tc.scimType, strings.TrimSpace(tc.detail+" "+r.Header.Get("Authorization")))
			})
			_, err := c.FindUser(t.Context(), "zoe@example.test")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q is not %v", err, w)
				}
			}
			for _, w := range tc.notWant {
				if errors.Is(err, w) {
					t.Errorf("error %q is %v", err, w)
				}
			}
			d, ok := identity.RetryAfter(err)
			if tc.retryAfter != 0 && (!ok || d != tc.retryAfter) {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tc.retryAfter)
			}
			if tc.retryAfter == 0 && ok {
				t.Errorf("RetryAfter = %v, want none", d)
			}
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != tc.status {
				t.Errorf("HTTPError = %+v, want status %d", he, tc.status)
			}
			for _, s := range tc.wantInError {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			checkNoToken(t, err)
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := New(Config{BaseURL: "http://" + addr + "/scim/v2", Token: func(context.Context) (string, error) { return testToken, nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FindUser(t.Context(), "zoe@example.test")
	if !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %q does not say the connection was refused", err)
	}
	checkNoToken(t, err)
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		select { // answer only once the client gave up
		case <-r.Context().Done():
		case <-release:
		}
	}, func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond })
	start := time.Now()
	_, err := c.FindUser(t.Context(), "zoe@example.test")
	if !errors.Is(err, identity.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("took %v with a 100ms timeout", el)
	}
	checkNoToken(t, err)
}

func TestCanceledContext(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { t.Error("a request was sent") })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.FindUser(ctx, "zoe@example.test"); !errors.Is(err, context.Canceled) || !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("error = %v", err)
	}
}

func TestRequestHeadersAndTokenRotation(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		if !strings.Contains(r.Header.Get("Accept"), "application/scim+json") {
			t.Errorf("Accept = %q", r.Header.Get("Accept"))
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/scim/v2/Users":
			writeSCIM(w, 200, listOf())
		case r.Method == http.MethodPost && r.URL.Path == "/scim/v2/Users":
			if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
				t.Errorf("POST Content-Type = %q", ct)
			}
			writeSCIM(w, 201, map[string]any{"id": "u1", "userName": "zoe@example.test", "externalId": "partnerops:user:zoe@example.test"})
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			http.NotFound(w, r)
		}
	})
	// The token is read at each request: a rotated Secret is used at once.
	var n int
	c.token = func(context.Context) (string, error) { n++; return fmt.Sprintf("token-%d", n), nil }
	if _, err := c.EnsureUser(t.Context(), identity.NewUser{Email: "zoe@example.test"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Bearer token-1", "Bearer token-2"}; strings.Join(auths, ",") != strings.Join(want, ",") {
		t.Errorf("Authorization headers = %q, want %q", auths, want)
	}
}

func TestTokenErrors(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { t.Error("a request was sent") })
	secretMissing := errors.New(`secret "scim-token" not found`)
	c.token = func(context.Context) (string, error) { return "", secretMissing }
	_, err := c.FindUser(t.Context(), "zoe@example.test")
	if !errors.Is(err, identity.ErrUnauthorized) || !errors.Is(err, secretMissing) {
		t.Errorf("token error: %v", err)
	}
	c.token = func(context.Context) (string, error) { return " ", nil }
	if _, err := c.FindUser(t.Context(), "zoe@example.test"); !errors.Is(err, identity.ErrUnauthorized) {
		t.Errorf("empty token: %v", err)
	}
}

func TestResponseBodyIsBounded(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = io.WriteString(w, `{"Resources":[{"id":"`)
		_, _ = io.WriteString(w, strings.Repeat("x", MaxResponseBytes))
		_, _ = io.WriteString(w, `"}]}`)
	})
	_, err := c.FindUser(t.Context(), "zoe@example.test")
	if !errors.Is(err, identity.ErrRejected) || !errors.Is(err, errTooLarge) {
		t.Fatalf("error = %v, want ErrRejected (too large)", err)
	}
}

func TestNotSCIMJSON(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>Sign in</html>")
	})
	if _, err := c.FindUser(t.Context(), "zoe@example.test"); !errors.Is(err, identity.ErrRejected) {
		t.Fatalf("error = %v, want ErrRejected", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 3 ", 3 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"later", 0, false},
		{testNow.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second, true},
		{testNow.Add(-time.Hour).Format(http.TimeFormat), 0, true},                  // in the past: now
		{testNow.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true}, // obsolete form, still HTTP
		{testNow.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{"99999999999999999999", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseRetryAfter(tc.in, testNow)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNew(t *testing.T) {
	tok := func(context.Context) (string, error) { return "t", nil }
	bad := []Config{
		{BaseURL: "https://idp.example.test/scim/v2"},                                 // no token
		{BaseURL: "", Token: tok},                                                     // no URL
		{BaseURL: "idp.example.test/scim", Token: tok},                                // not absolute
		{BaseURL: "ftp://idp.example.test/scim", Token: tok},                          // scheme
		{BaseURL: "https://user:pw@idp.example.test/scim", Token: tok},                // credentials
		{BaseURL: "https://idp.example.test/scim?tenant=1", Token: tok},               // query
		{BaseURL: "https://idp.example.test/scim", Token: tok, Timeout: -time.Second}, // negative
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("New error shows the password: %v", err)
		}
	}
	c, err := New(Config{BaseURL: " https://idp.example.test/scim/v2/ ", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if c.base.String() != "https://idp.example.test/scim/v2" || c.timeout != DefaultTimeout || c.pageSize != DefaultPageSize {
		t.Errorf("defaults: base %s timeout %v page size %d", c.base, c.timeout, c.pageSize)
	}
}

// leak returns the part of secret that text holds (the whole of it, or a
// prefix or suffix of 8 characters or more), or "".
func leak(text, secret string) string {
	for n := len(secret); n >= 8; n-- {
		if p := secret[:n]; strings.Contains(text, p) {
			return p
		}
		if p := secret[len(secret)-n:]; strings.Contains(text, p) {
			return p
		}
	}
	return ""
}

// A service provider that echoes credentials in its error, wherever the
// cut of the error text falls: secrets are redacted before the text is cut,
// so no piece of them is left.
func TestErrorTextIsRedactedBeforeItIsCut(t *testing.T) {
	const rotated = "0ld-r0tated-t0ken-abcdef123" // an older token, echoed as a Bearer credential
	type reply struct {
		status   int
		header   map[string]string
		body     string
		textBody bool
	}
	detail := func(s string) reply {
		b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": "400", "detail": s})
		return reply{status: 400, body: string(b)}
	}
	cases := map[string]func(k int) reply{
		// The detail is cut at 512 characters.
		"token in the SCIM detail": func(k int) reply { return detail(strings.Repeat("x", k) + testToken + " was refused") },
		"bearer credential in the SCIM detail": func(k int) reply {
			return detail(strings.Repeat("x", k-22) + "Authorization: Bearer " + rotated + " was refused")
		},
		"token after unprintable characters": func(k int) reply {
			return detail(strings.Repeat("x", k) + testToken[:5] + "\u0000\u200b" + testToken[5:])
		},
		// A text/plain body is cut at 200 characters.
		"token in a text body": func(k int) reply {
			return reply{status: 400, body: strings.Repeat("y", k-312) + testToken + " refused", textBody: true}
		},
		// The Location of a redirect is cut at 200 characters.
		"token in the Location of a redirect": func(k int) reply {
			loc := "https://elsewhere.test/" + strings.Repeat("z", k-349) + "?access_token=" + testToken
			return reply{status: 302, header: map[string]string{"Location": loc}}
		},
		"bearer credential in the Location of a redirect": func(k int) reply {
			loc := "https://elsewhere.test/" + strings.Repeat("z", k-349) + "?auth=Bearer%20" + rotated
			return reply{status: 302, header: map[string]string{"Location": loc}}
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			// k from well before the cut (the secret whole inside the text)
			// to past it, one character at a time: every cut through it.
			for k := 470; k <= 520; k++ {
				r := mk(k)
				c := newTestClient(t, func(w http.ResponseWriter, _ *http.Request) {
					for h, v := range r.header {
						w.Header().Set(h, v)
					}
					if r.textBody {
						w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					} else {
						w.Header().Set("Content-Type", "application/scim+json")
					}
					w.WriteHeader(r.status)
					_, _ = io.WriteString(w, r.body)
				})
				_, err := c.FindUser(t.Context(), "zoe@example.test")
				if err == nil {
					t.Fatal("no error")
				}
				for _, secret := range []string{testToken, rotated} {
					if p := leak(err.Error(), secret); p != "" {
						t.Fatalf("k=%d: the error holds %q of a secret: %v", k, p, err)
					}
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", r.status)) {
					t.Errorf("k=%d: error %q does not say HTTP %d", k, err, r.status)
				}
			}
		})
	}
}

// Words after "bearer" are not credentials.
func TestRedactKeepsProse(t *testing.T) {
	for in, want := range map[string]string{
		"Invalid bearer token.":                 "Invalid bearer token.",
		"Bearer authentication is required":     "Bearer authentication is required",
		"Authorization: Bearer eyJhbGciOi.x.y":  "Authorization: Bearer [REDACTED]",
		"bearer 0123456789abcdef":               "bearer [REDACTED]",
		"Bearer abcdefghijklmnopqrstuvwxyzABCD": "Bearer [REDACTED]",
		"the token " + testToken + " is wrong":  "the token [REDACTED] is wrong",
	} {
		if got := redact(in, testToken); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// A redirect is never followed, whatever HTTP client the Config gives: the
// write fails, says where it was sent, and nothing reaches the Location.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	var mu sync.Mutex
	var reached []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent) // what a PATCH that worked answers
	}))
	t.Cleanup(elsewhere.Close)

	following := &http.Client{} // Go's default: follows up to 10 redirects
	allowing := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	ownTransport := &http.Client{Transport: &http.Transport{Proxy: nil}}
	clients := map[string]*http.Client{"none": nil, "one that follows": following, "one that allows every redirect": allowing, "one with its own transport": ownTransport}
	for name, hc := range clients {
		for _, code := range []int{301, 302, 303, 307, 308} {
			t.Run(fmt.Sprintf("%s/%d", name, code), func(t *testing.T) {
				rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
					"GET /Groups": func(w http.ResponseWriter, r *http.Request) {
						writeSCIM(w, 200, listOf(map[string]any{"id": "g1", "displayName": "crm-admins", "externalId": "hr:7"}))
					},
					"PATCH /Groups/g1": func(w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, elsewhere.URL+"/scim/v2/Groups/g1", code)
					},
				}}
				c := newTestClient(t, rec.ServeHTTP, func(cfg *Config) { cfg.HTTPClient = hc })
				err := c.RemoveMember(t.Context(), "crm-admins", identity.User{ID: "u1", Email: "zoe@example.test"})
				if !errors.Is(err, identity.ErrRejected) {
					t.Fatalf("RemoveMember: %v, want ErrRejected", err)
				}
				for _, s := range []string{fmt.Sprintf("HTTP %d", code), "redirected to " + elsewhere.URL + "/scim/v2/Groups/g1", "set baseURL to the final URL"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				checkNoToken(t, err)
			})
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reached) != 0 {
		t.Errorf("the Location was reached %d times: %q", len(reached), reached)
	}
	// The caller's clients are theirs: New changed a copy.
	if following.CheckRedirect != nil || allowing.CheckRedirect == nil || ownTransport.CheckRedirect != nil {
		t.Error("New changed the redirect policy of the client it was given")
	}
}

func TestNewRootCAs(t *testing.T) {
	tok := func(context.Context) (string, error) { return "t", nil }
	pool := x509.NewCertPool()
	_, err := New(Config{BaseURL: "https://idp.example.test/scim/v2", Token: tok, RootCAs: pool,
		HTTPClient: &http.Client{Transport: &http.Transport{}}})
	if err == nil || !strings.Contains(err.Error(), "RootCAs needs an HTTPClient without its own Transport") {
		t.Errorf("New with RootCAs and a Transport: %v", err)
	}
	c, err := New(Config{BaseURL: "https://idp.example.test/scim/v2", Token: tok, RootCAs: pool, HTTPClient: &http.Client{Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs != pool || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || c.http.Timeout != time.Minute {
		t.Errorf("client built with RootCAs: %+v", c.http)
	}
}

// FuzzErrorText: whatever a service provider writes in an error, the text
// partnerops keeps of it holds no token, whole, URL-escaped or cut.
func FuzzErrorText(f *testing.F) {
	f.Add(strings.Repeat("x", 500)+testToken, testToken, 512)
	f.Add("Authorization: Bearer "+testToken, testToken, 40)
	f.Add("tok-5\x00ecr3t\u200b-d0-not-leak", testToken, 200)
	f.Add("https://elsewhere.test/?t="+url.QueryEscape("a+b/c=d"+testToken), "a+b/c=d"+testToken, 60)
	f.Fuzz(func(t *testing.T, s, token string, n int) {
		// Tokens are RFC 6750 b64token: letters, digits, -._~+/ and
		// trailing '='; shorter ones are not worth the name.
		if len(token) < 8 || strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") != "" || n < 1 || n > 4096 {
			t.Skip()
		}
		out := clean(s, n, token)
		for _, form := range []string{token, url.QueryEscape(token), url.PathEscape(token)} {
			if strings.Contains(out, form) {
				t.Fatalf("clean(%q, %d) = %q holds the token %q", s, n, out, form)
			}
		}
		if r := []rune(out); len(r) > n+1 {
			t.Fatalf("clean(%q, %d) kept %d runes", s, n, len(r))
		}
	})
}
