package acceptance

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/config"
)

// key is a client of its own, with no site.
func key(k string) clientID { return clientID{key: k} }

func TestClientLimiter(t *testing.T) {
	l := newClientLimiter(3)
	now := t0
	for i := range 3 {
		if _, ok := l.allow(key("a"), now); !ok {
			t.Fatalf("request %d of 3 refused", i+1)
		}
	}
	wait, ok := l.allow(key("a"), now)
	if ok || wait != 20*time.Second {
		t.Errorf("4th request: allowed %v, wait %v; want refused, 20s", ok, wait)
	}
	if _, ok := l.allow(key("b"), now); !ok {
		t.Error("another client was refused")
	}
	if _, ok := l.allow(key("a"), now.Add(20*time.Second)); !ok {
		t.Error("refused after the bucket refilled one request")
	}

	// A minute later every idle client is forgotten on the next request.
	if _, ok := l.allow(key("c"), now.Add(81*time.Second)); !ok {
		t.Error("new client refused")
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d clients tracked after a minute idle, want 1", n)
	}
}

// TestClientLimiterEvictsTheLeastRecentlySeen: with the table full, a
// newcomer gets a full bucket of its own and the client seen longest ago
// is forgotten (and starts again full), so nobody is ever refused for
// someone else's requests.
func TestClientLimiterEvictsTheLeastRecentlySeen(t *testing.T) {
	l := newClientLimiter(1)
	l.maxClients = 100
	for i := range 100 {
		if _, ok := l.allow(key(fmt.Sprint(i)), t0); !ok {
			t.Fatalf("client %d refused its first request", i)
		}
	}
	later := t0.Add(time.Second)
	if _, ok := l.allow(key("0"), later); ok { // seen again: now the most recent
		t.Error("client 0 allowed twice within its budget of one")
	}
	for _, c := range []string{"new-1", "new-2"} {
		if _, ok := l.allow(key(c), later); !ok {
			t.Errorf("newcomer %s refused with the table full", c)
		}
		if _, ok := l.allow(key(c), later); ok {
			t.Errorf("newcomer %s allowed twice: its bucket is not its own", c)
		}
	}
	if n := l.size(); n != 100 {
		t.Errorf("%d clients tracked, want the bound, 100", n)
	}
	// The two seen longest ago (1 and 2) made room: they start again with a
	// full bucket. Client 0, seen since, kept its empty one.
	if _, ok := l.allow(key("1"), later); !ok {
		t.Error("client 1 was not forgotten")
	}
	if _, ok := l.allow(key("0"), later); ok {
		t.Error("client 0 was forgotten though it was seen more recently than others")
	}
}

// TestClientLimiterCapsTheBucketsOfOneSite: one /48 gets at most
// maxPerSite /64 buckets; its further /64s share the /48's bucket, and
// nobody else does.
func TestClientLimiterCapsTheBucketsOfOneSite(t *testing.T) {
	l := newClientLimiter(1)
	sub := func(site string, n int) clientID { return clientKey(fmt.Sprintf("%s:%x::1", site, n)) }
	for n := range maxPerSite {
		if _, ok := l.allow(sub("2001:db8:7", n), t0); !ok {
			t.Fatalf("/64 number %d of the site refused its first request", n)
		}
	}
	if _, ok := l.allow(sub("2001:db8:7", maxPerSite), t0); !ok {
		t.Errorf("the first /64 past the quota refused: the site's shared bucket was not full")
	}
	if wait, ok := l.allow(sub("2001:db8:7", maxPerSite+1), t0); ok || wait != time.Minute {
		t.Errorf("the second /64 past the quota: allowed %v, wait %v; want refused from the shared bucket, 1m", ok, wait)
	}
	if _, ok := l.allow(sub("2001:db8:7", 3), t0); ok {
		t.Error("a /64 with its own bucket was allowed twice within its budget of one")
	}
	if _, ok := l.allow(sub("2001:db8:8", 1), t0); !ok {
		t.Error("a /64 of another /48 was refused")
	}
	if _, ok := l.allow(key("198.51.100.7"), t0); !ok {
		t.Error("an IPv4 client was refused")
	}
	if n, want := l.size(), maxPerSite+3; n != want {
		t.Errorf("%d buckets, want %d (the site's /64s, its shared bucket, the other /64 and the IPv4 client)", n, want)
	}
	if n := largestSite(l); n != maxPerSite {
		t.Errorf("a site holds %d /64 buckets, want the quota, %d", n, maxPerSite)
	}
	// A minute later the site's buckets are full again and forgotten: a
	// /64 gets a bucket of its own again.
	if _, ok := l.allow(sub("2001:db8:7", 500), t0.Add(time.Minute)); !ok {
		t.Error("a /64 refused a minute later")
	}
	if n := largestSite(l); n != 1 {
		t.Errorf("a site holds %d /64 buckets a minute later, want 1", n)
	}
}

// largestSite is the most /64 buckets one /48 holds in l.
func largestSite(l *clientLimiter) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.perSite {
		n = max(n, v)
	}
	return n
}

// TestRateLimitUnderAFloodOfIPv6Prefixes drives the page's handler with an
// attacker holding four IPv6 /48s, which takes a new /64 for every request
// (262,144 /64s in all, cycled through) at 2,000 requests a second, for
// three minutes: more new clients each minute than the table holds, so
// the former design (one shared bucket for newcomers once 100,000 clients
// were tracked) refused every partner who came after 50 seconds. Two real
// partners from other networks arrive once the flood is under way and use
// their whole budget. Every one of their requests is answered; the table
// never grows past its bound; and the attacker gets through, per /48 and
// per minute, at most maxPerSite requests from /64s with a bucket of their
// own (each /64 comes back only after 131s, once its bucket is forgotten)
// plus twice the budget from the /48's shared bucket (a full burst, then
// the minute's refill).
func TestRateLimitUnderAFloodOfIPv6Prefixes(t *testing.T) {
	if testing.Short() {
		t.Skip("360,000 requests")
	}
	const perMinute = 30 // the default of rateLimits.acceptRequestsPerMinute
	jane := invitation("jane")
	e := newEnv(t, objects(jane), withoutLogs(), withConfig(func(c *config.Config) { c.RateLimits.AcceptRequestsPerMinute = perMinute }))
	link := pathAccept + "?token=" + url.QueryEscape(e.tokenFor(jane))

	const (
		step      = 500 * time.Microsecond // 2,000 attacker requests a second
		attack    = 3 * time.Minute
		sites     = 4
		arrive    = 90 * time.Second // the old table (100,000) is full by then
		burstGap  = 20 * time.Second // partners: 10 requests every 20s, their 30 a minute
		burstSize = 10
	)
	partners := []string{"[2001:db8:beef:1::10]:51000", "198.51.100.7:51000"}
	through := map[int]int{} // the attacker's requests answered, by minute
	attempts, maxSize := 0, 0
	partnerRequests := 0
	serve := func(remote, target string) int {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		return rec.Code
	}
	nextBurst := arrive
	for at := time.Duration(0); at < attack; at += step {
		e.clock.SetTime(t0.Add(at))
		if at >= nextBurst {
			for _, p := range partners {
				for i := range burstSize {
					partnerRequests++
					if code := serve(p, link); code != http.StatusOK {
						t.Fatalf("partner %s, request %d of the burst at %v: %d, want 200", p, i+1, at, code)
					}
				}
			}
			nextBurst += burstGap
		}
		// Sites 2001:db8:a0:: to 2001:db8:a3::, each /64 in turn.
		n := attempts / sites
		remote := fmt.Sprintf("[2001:db8:a%d:%x::1]:443", attempts%sites, n%65536)
		attempts++
		if code := serve(remote, pathAccept+"?token=forged"); code != http.StatusTooManyRequests {
			through[int(at/time.Minute)]++
		}
		if s := e.h.limiter.size(); s > maxSize {
			maxSize = s
		}
		if s := largestSite(e.h.limiter); s > maxPerSite {
			t.Fatalf("a /48 holds %d /64 buckets at %v, over the quota of %d", s, at, maxPerSite)
		}
	}
	if maxSize > maxClients {
		t.Errorf("the table held %d buckets, over its bound of %d", maxSize, maxClients)
	}
	bound := sites * (maxPerSite + 2*perMinute)
	for m := range int(attack / time.Minute) {
		if through[m] > bound {
			t.Errorf("minute %d: %d attacker requests answered, want at most %d", m+1, through[m], bound)
		}
	}
	t.Logf("attacker: %d requests from %d /64s, answered per minute %v (bound %d); partners: %d requests, all answered; table at most %d buckets",
		attempts, min(attempts, sites*65536), through, bound, partnerRequests, maxSize)

	// And the partner accepts.
	req := httptest.NewRequest(http.MethodPost, pathAccept, strings.NewReader("token="+url.QueryEscape(e.tokenFor(jane))))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = partners[1]
	if resp := e.request(req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the partner's acceptance after the flood: %d, want 303", resp.StatusCode)
	}
}

// TestRateLimitWithTheTableFull: an attacker with more addresses than the
// table holds (IPv4 addresses and IPv6 /48s) keeps it full; partners who
// arrive meanwhile still get their whole budget, because a newcomer takes
// the place of the client seen longest ago instead of sharing a bucket.
func TestRateLimitWithTheTableFull(t *testing.T) {
	const perMinute = 30
	e := newEnv(t, objects(), withoutLogs(), withConfig(func(c *config.Config) { c.RateLimits.AcceptRequestsPerMinute = perMinute }))
	e.h.limiter.maxClients = 1000
	serve := func(remote string) int {
		req := httptest.NewRequest(http.MethodGet, pathHealthz+"x", nil) // any route: the limit comes first
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		return rec.Code
	}
	partners := []string{"[2001:db8:beef:1::10]:51000", "198.51.100.7:51000"}
	answered := 0
	// 500 requests a second for a minute, each from an address never seen
	// before: the table of 1,000 turns over every two seconds.
	for i := range 30_000 {
		at := time.Duration(i) * 2 * time.Millisecond
		e.clock.SetTime(t0.Add(at))
		// Alternately a new IPv4 address and a new /48.
		remote := fmt.Sprintf("10.%d.%d.%d:443", i>>16&0xff, i>>8&0xff, i&0xff)
		if i%2 == 1 {
			remote = fmt.Sprintf("[2001:db8:%x:1::1]:443", i)
		}
		serve(remote)
		// The partners arrive after 10s, with bursts of 10 every 20s: their
		// 30 a minute.
		if at >= 10*time.Second && (at-10*time.Second)%(20*time.Second) == 0 {
			for _, p := range partners {
				for range 10 {
					if code := serve(p); code == http.StatusTooManyRequests {
						t.Fatalf("partner %s refused at %v of the flood", p, at)
					}
					answered++
				}
			}
		}
		if s := e.h.limiter.size(); s > 1000 {
			t.Fatalf("%d buckets at %v, over the bound of 1000", s, at)
		}
	}
	if answered != 2*30 {
		t.Errorf("the partners sent %d requests, want 60", answered)
	}
}

func TestClientKey(t *testing.T) {
	for ip, want := range map[string]clientID{
		"127.0.0.1":            {key: "127.0.0.1"},
		"::ffff:127.0.0.1":     {key: "127.0.0.1"},
		"2001:db8:1:2:3:4:5:6": {key: "2001:db8:1:2::/64", site: "2001:db8:1::/48"},
		"2001:db8:1:2:ffff::1": {key: "2001:db8:1:2::/64", site: "2001:db8:1::/48"},
		"2001:db8:1:3::1":      {key: "2001:db8:1:3::/64", site: "2001:db8:1::/48"},
		"fe80::1%eth0":         {key: "fe80::/64", site: "fe80::/48"},
		"not-an-ip":            {key: "not-an-ip"},
	} {
		if got := clientKey(ip); got != want {
			t.Errorf("clientKey(%q) = %+v, want %+v", ip, got, want)
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
