package acceptance

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestClientLimiter(t *testing.T) {
	l := newClientLimiter(3)
	now := t0
	for i := range 3 {
		if _, ok := l.allow("a", now); !ok {
			t.Fatalf("request %d of 3 refused", i+1)
		}
	}
	wait, ok := l.allow("a", now)
	if ok || wait != 20*time.Second {
		t.Errorf("4th request: allowed %v, wait %v; want refused, 20s", ok, wait)
	}
	if _, ok := l.allow("b", now); !ok {
		t.Error("another client was refused")
	}
	if _, ok := l.allow("a", now.Add(20*time.Second)); !ok {
		t.Error("refused after the bucket refilled one request")
	}

	// A minute later every idle client is forgotten on the next request.
	if _, ok := l.allow("c", now.Add(81*time.Second)); !ok {
		t.Error("new client refused")
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d clients tracked after a minute idle, want 1", n)
	}
}

func TestClientLimiterBoundsMemory(t *testing.T) {
	l := newClientLimiter(1)
	for i := range maxClients {
		l.allow(fmt.Sprint(i), t0)
	}
	// The table is full: newcomers share one bucket, and are still limited.
	if _, ok := l.allow("new-1", t0); !ok {
		t.Error("first newcomer refused")
	}
	if _, ok := l.allow("new-2", t0); ok {
		t.Error("second newcomer allowed from the shared, empty bucket")
	}
	if n := l.size(); n != maxClients+1 {
		t.Errorf("%d clients tracked, want %d", n, maxClients+1)
	}
}

func TestClientKey(t *testing.T) {
	for ip, want := range map[string]string{
		"127.0.0.1":            "127.0.0.1",
		"::ffff:127.0.0.1":     "127.0.0.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not-an-ip":            "not-an-ip",
	} {
		if got := clientKey(ip); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", ip, got, want)
		}
	}
}

func TestClientIPBelievesOnlyTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct client, no header", "203.0.113.9:5555", nil, "203.0.113.9"},
		{"direct client lying in the header", "203.0.113.9:5555", []string{"198.51.100.1"}, "203.0.113.9"},
		{"through the ingress", "10.2.3.4:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client prepends a lie", "10.2.3.4:443", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "10.2.3.4:443", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", "10.2.3.4:443", []string{"1.2.3.4", "198.51.100.1"}, "198.51.100.1"},
		{"ipv6 proxy", "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"garbage hop", "10.2.3.4:443", []string{"198.51.100.1, nonsense"}, "10.2.3.4"},
		{"only trusted hops", "10.2.3.4:443", []string{"10.1.1.1"}, "10.1.1.1"},
		{"trusted peer, no header", "10.2.3.4:443", nil, "10.2.3.4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/invitations/accept", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, trusted); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
			if got := clientIP(r, nil); got != strings.Trim(strings.Split(tc.peer, "]:")[0], "[") && !strings.HasPrefix(tc.peer, got) {
				t.Errorf("without trusted proxies clientIP = %q, want the peer %q", got, tc.peer)
			}
		})
	}
}
