package acceptance

import (
	"fmt"
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
