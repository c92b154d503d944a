package acceptance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/testpeers/tlstest"
)

// startServer runs a Server for e's objects on 127.0.0.1 until the test
// ends, with the given timeouts (defaults when zero) and options changed by
// mods, and returns its address.
func startServer(t *testing.T, e *env, cfg *config.Config, tm timeouts, mods ...func(*Options)) (*Server, string) {
	t.Helper()
	o := Options{Config: cfg, Client: e.h.client, Verifier: e.h.verifier, Prover: e.h.prover, Clock: e.clock, Log: captureLog(e.logs)}
	for _, m := range mods {
		m(&o)
	}
	s, err := NewServer(o)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if tm != (timeouts{}) {
		s.timeouts = tm
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start returned %v after the context ended", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Start did not return 5s after the context ended")
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	addr, err := s.addrWhenReady(wctx)
	if err != nil {
		select {
		case err := <-done:
			t.Fatalf("Start: %v", err)
		default:
		}
		t.Fatalf("the server did not listen: %v", err)
	}
	return s, addr.String()
}

func TestServerIsARunnableOfEveryReplica(t *testing.T) {
	e := newEnv(t, objects())
	s, _ := startServer(t, e, testConfig(), timeouts{})
	if s.NeedLeaderElection() {
		t.Error("NeedLeaderElection is true: only the leader would serve the page")
	}
	if s.timeouts != defaultTimeouts || defaultTimeouts.readHeader != 5*time.Second || defaultTimeouts.read != 10*time.Second ||
		defaultTimeouts.write != 10*time.Second || defaultTimeouts.idle != 60*time.Second {
		t.Errorf("timeouts %+v", s.timeouts)
	}
}

func TestServerClosesSlowHeaders(t *testing.T) {
	e := newEnv(t, objects())
	tm := defaultTimeouts
	tm.readHeader, tm.read = 300*time.Millisecond, time.Second
	_, addr := startServer(t, e, testConfig(), tm)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	// A slowloris: a request line and one header, then nothing.
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn) // whatever the server says, it must then close
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was still open after %v", elapsed)
	}
	if elapsed < 250*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("closed after %v, want about 300ms (ReadHeaderTimeout)", elapsed)
	}
}

func TestServerRefusesHugeHeaders(t *testing.T) {
	e := newEnv(t, objects())
	_, addr := startServer(t, e, testConfig(), timeouts{})
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+pathHealthz, nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

func TestServerServesTheRoutes(t *testing.T) {
	jane := invitation("jane")
	e := newEnv(t, objects(jane))
	_, addr := startServer(t, e, testConfig(), timeouts{})
	tok := e.tokenFor(jane)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := c.Head("http://" + addr + pathAccept + "?token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, resp); resp.StatusCode != http.StatusOK || b != "" || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("HEAD: %d with %d bytes, want 200, headers and no body", resp.StatusCode, len(b))
	}
	resp, err = c.PostForm("http://"+addr+pathAccept, map[string][]string{"token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != hubForJane {
		t.Errorf("POST: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := e.invitationNow("jane").Status.State; got != "Accepted" {
		t.Errorf("state %q after accepting through the server", got)
	}
}

func TestServerTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.ServerFiles(t)
	pool := ca.Pool()
	cfg := testConfig(func(c *config.Config) { c.Acceptance.TLS = &config.TLSFiles{CertFile: certFile, KeyFile: keyFile} })
	e := newEnv(t, objects())
	_, addr := startServer(t, e, cfg, timeouts{})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + addr + pathHealthz)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security %q over TLS", got)
	}
	// Plain HTTP to a TLS port gets nothing useful.
	if resp, err := http.Get("http://" + addr + pathHealthz); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the TLS port answered plain HTTP")
		}
	}
	_, err = NewServer(Options{Config: testConfig(func(c *config.Config) {
		c.Acceptance.TLS = &config.TLSFiles{CertFile: filepath.Join(t.TempDir(), "missing.crt"), KeyFile: keyFile}
	}), Client: e.client, Verifier: failingVerifier{}, Prover: e.signer})
	if err == nil || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("a missing certificate: %v, want an error naming the file", err)
	}
}

// TestServerTLSRenewed: a certificate renewed on disk (cert-manager
// rewrites the Secret's files every couple of months) is served without a
// restart.
func TestServerTLSRenewed(t *testing.T) {
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.ServerFiles(t)
	cfg := testConfig(func(c *config.Config) { c.Acceptance.TLS = &config.TLSFiles{CertFile: certFile, KeyFile: keyFile} })
	e := newEnv(t, objects())
	_, addr := startServer(t, e, cfg, timeouts{})
	served := func() string {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := served()
	if _, _, _, err := ca.WriteFiles(filepath.Dir(certFile)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for served() == before {
		if time.Now().After(deadline) {
			t.Fatal("the page still serves the old certificate 20s after the files were renewed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestServerStartFailsOnABusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := newEnv(t, objects())
	s, err := NewServer(Options{Config: testConfig(func(c *config.Config) { c.Acceptance.BindAddress = ln.Addr().String() }), Client: e.client, Verifier: failingVerifier{}, Prover: e.signer})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("Start on a busy port: %v, want an error naming the address", err)
	}
}

func TestServerShutdownLetsRequestsFinish(t *testing.T) {
	e := newEnv(t, objects())
	s, err := NewServer(Options{Config: testConfig(), Client: e.client, Verifier: failingVerifier{}, Prover: e.signer})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	inner := s.handler
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
			if r.Context().Err() != nil {
				t.Error("the request's context was cancelled by the shutdown")
			}
		}
		inner.ServeHTTP(w, r)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	addr, err := s.addrWhenReady(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String() + "/slow")
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond) // the request is in flight
	cancel()
	time.Sleep(100 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Error("still accepting connections while shutting down")
	}
	close(release)
	if code := <-got; code != http.StatusNotFound {
		t.Errorf("the request in flight got %d, want its answer (404)", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Start: %v", err)
	}
}

// TestServerHTTP2FollowsTheFlag: over TLS, a client offering h2 and
// http/1.1 gets http/1.1 unless Options.EnableHTTP2 (--enable-http2), then
// h2; on the plain port, HTTP/2 with prior knowledge (h2c) is refused
// unless the flag is on. internal/httpserver says why.
func TestServerHTTP2FollowsTheFlag(t *testing.T) {
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.ServerFiles(t)
	client := &tls.Config{RootCAs: ca.Pool()}
	withTLS := testConfig(func(c *config.Config) { c.Acceptance.TLS = &config.TLSFiles{CertFile: certFile, KeyFile: keyFile} })
	for _, enable := range []bool{false, true} {
		t.Run(fmt.Sprintf("enableHTTP2=%v", enable), func(t *testing.T) {
			e := newEnv(t, objects())
			_, addr := startServer(t, e, withTLS, timeouts{}, func(o *Options) { o.EnableHTTP2 = enable })
			// A real client that prefers HTTP/2.
			if code := tlstest.CheckHTTP2(t, addr, client, enable, pathHealthz); code != http.StatusOK {
				t.Errorf("GET /healthz over TLS: %d, want 200", code)
			}

			// h2c with prior knowledge on a plain port.
			plain := newEnv(t, objects())
			_, plainAddr := startServer(t, plain, testConfig(), timeouts{}, func(o *Options) { o.EnableHTTP2 = enable })
			var h2c http.Protocols
			h2c.SetUnencryptedHTTP2(true)
			pc := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
			defer pc.CloseIdleConnections()
			resp, err := pc.Get("http://" + plainAddr + pathHealthz)
			switch {
			case enable && err != nil:
				t.Errorf("h2c with the flag on: %v", err)
			case enable && (resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2):
				t.Errorf("h2c with the flag on: %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
			case !enable && err == nil && resp.ProtoMajor == 2:
				t.Errorf("h2c answered over %s with HTTP/2 off", resp.Proto)
			}
			if resp != nil {
				resp.Body.Close()
			}
			// HTTP/1.1 is always served.
			resp, err = http.Get("http://" + plainAddr + pathHealthz)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
				t.Errorf("plain HTTP/1.1: %d over %s", resp.StatusCode, resp.Proto)
			}
		})
	}
}
