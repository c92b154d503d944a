package acceptance

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/events"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// The benchmarks drive the whole handler (middleware included) through a
// real loopback server with keep-alive connections, one request at a time,
// and report the latency percentiles and the throughput. The client is
// controller-runtime's fake, which costs more per read than the manager's
// cache (it copies through JSON), so these numbers are an upper bound.

// benchServer serves e's handler on 127.0.0.1.
func benchServer(b *testing.B, e *env) (*httptest.Server, *http.Client) {
	b.Helper()
	srv := httptest.NewServer(e.handler)
	b.Cleanup(srv.Close)
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return srv, c
}

// latencies collects per-request durations and reports p50, p99 and
// requests per second.
type latencies struct {
	d     []time.Duration
	start time.Time
}

func (l *latencies) time(f func()) {
	t := time.Now()
	f()
	l.d = append(l.d, time.Since(t))
}

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	elapsed := time.Since(l.start)
	slices.Sort(l.d)
	pct := func(p float64) float64 {
		return float64(l.d[min(len(l.d)-1, int(p*float64(len(l.d))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), "req/s")
}

// do sends req and checks its status.
func do(b *testing.B, c *http.Client, req *http.Request, want int) {
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
}

func BenchmarkAcceptGET(b *testing.B) {
	inv := invitation("jane", withMessage("Hello Jane,\nwelcome aboard."))
	e := newEnv(b, objects(inv))
	srv, c := benchServer(b, e)
	target := srv.URL + pathAccept + "?token=" + url.QueryEscape(e.tokenFor(inv))
	l := &latencies{start: time.Now()}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		l.time(func() { do(b, c, req, http.StatusOK) })
	}
	b.StopTimer()
	l.report(b)
}

func BenchmarkAcceptPOST(b *testing.B) {
	post := func(srv *httptest.Server, tok string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+pathAccept, strings.NewReader("token="+url.QueryEscape(tok)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}

	b.Run("already-accepted", func(b *testing.B) {
		inv := invitation("jane", acceptedAt(t0))
		e := newEnv(b, objects(inv))
		srv, c := benchServer(b, e)
		tok := e.tokenFor(inv)
		l := &latencies{start: time.Now()}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			req := post(srv, tok)
			l.time(func() { do(b, c, req, http.StatusSeeOther) })
		}
		b.StopTimer()
		l.report(b)
		if n := e.patches.Load(); n != 0 {
			b.Fatalf("%d status writes on the idempotent path", n)
		}
	})

	b.Run("first-accept", func(b *testing.B) {
		invs := make([]*v1alpha1.PartnerInvitation, b.N)
		objs := objects()
		for i := range invs {
			invs[i] = invitation(fmt.Sprintf("user-%d", i))
			objs = append(objs, invs[i])
		}
		e := newEnv(b, objs)
		e.h.recorder = &events.FakeRecorder{} // records, discards: the test one holds 100 events
		srv, c := benchServer(b, e)
		toks := make([]string, b.N)
		for i, inv := range invs {
			toks[i] = e.tokenFor(inv)
		}
		l := &latencies{start: time.Now()}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			req := post(srv, toks[i])
			l.time(func() { do(b, c, req, http.StatusSeeOther) })
		}
		b.StopTimer()
		l.report(b)
		if n := e.writes.Load(); n != int32(b.N) {
			b.Fatalf("%d status writes for %d first accepts", n, b.N)
		}
	})
}
