package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/config"
)

func TestPartnerHubAddr(t *testing.T) {
	tests := map[string]struct {
		hubURL   string
		wantAddr string // "" means no stand-in
	}{
		"the dev config":  {"http://127.0.0.1:8090/hub", "127.0.0.1:8090"},
		"localhost":       {"http://localhost:8090/hub", "127.0.0.1:8090"},
		"IPv6 loopback":   {"http://[::1]:8090/", "[::1]:8090"},
		"no port":         {"http://127.0.0.1/hub", "127.0.0.1:80"},
		"https":           {"https://127.0.0.1:8090/hub", ""},
		"a real Hub":      {"https://hub.example.com", ""},
		"a remote http":   {"http://hub.example.com:8090/hub", ""},
		"another machine": {"http://192.0.2.10:8090/hub", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			addr, u, ok := partnerHubAddr(&config.Config{Acceptance: config.Acceptance{PartnerHubURL: tc.hubURL}})
			if addr != tc.wantAddr || ok != (tc.wantAddr != "") || (ok && u.String() != tc.hubURL) {
				t.Errorf("partnerHubAddr(%s) = %q, %v, %v; want %q", tc.hubURL, addr, u, ok, tc.wantAddr)
			}
		})
	}
}

func TestPartnerHubPage(t *testing.T) {
	var out strings.Builder
	con := newConsole(&out, io.Discard)
	srv := httptest.NewServer(hubHandler("/hub", con))
	defer srv.Close()

	tests := map[string]struct {
		method, target string
		wantStatus     int
		wantBody       []string
		// wantPrinted is the line dev prints, "" for none.
		wantPrinted string
	}{
		"a partner lands": {
			http.MethodGet, "/hub?" + url.Values{"account": {"globex"}, "namespace": {"acme"}}.Encode(), http.StatusOK,
			[]string{"You landed in the Partner Hub for account <strong>globex</strong> of namespace <strong>acme</strong>."},
			`hub     | a partner landed in the Partner Hub for account "globex" of namespace "acme"`,
		},
		"the query is escaped": {
			http.MethodGet, "/hub?" + url.Values{"account": {`<img src=x onerror="alert(1)">`}, "namespace": {"a&b"}}.Encode(), http.StatusOK,
			[]string{"account <strong>&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</strong> of namespace <strong>a&amp;b</strong>"},
			`hub     | a partner landed in the Partner Hub for account "<img src=x onerror=\"alert(1)\">" of namespace "a&b"`,
		},
		"no account": {
			http.MethodGet, "/hub", http.StatusOK, []string{"This address names no account"}, "",
		},
		"another path": {
			http.MethodGet, "/other?account=globex", http.StatusNotFound, []string{"serves /hub only"}, "",
		},
		"a POST": {
			http.MethodPost, "/hub?account=globex", http.StatusMethodNotAllowed, nil, "",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out.Reset()
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			body := string(b)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("%s %s: %s, want %d", tc.method, tc.target, resp.Status, tc.wantStatus)
			}
			for _, want := range tc.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("%s %s: the page has no %q:\n%s", tc.method, tc.target, want, body)
				}
			}
			if strings.Contains(body, "<img") {
				t.Errorf("%s %s: the page holds markup from the query:\n%s", tc.method, tc.target, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy is %q, want default-src 'none'", csp)
			}
			if got := strings.TrimSuffix(out.String(), "\n"); got != tc.wantPrinted {
				t.Errorf("dev printed %q, want %q", got, tc.wantPrinted)
			}
		})
	}
}
