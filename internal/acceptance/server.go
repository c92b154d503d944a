package acceptance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/partnerops/partnerops/internal/httpserver"
)

// maxHeaderBytes bounds a request's headers and request line.
const maxHeaderBytes = 16 << 10

// timeouts bound each phase of a connection.
type timeouts struct {
	readHeader, read, write, idle, shutdown time.Duration
}

// defaultTimeouts: a client gets 5s to send its headers and 10s for the
// whole request; an answer gets 10s; an idle keep-alive connection lasts a
// minute; shutdown waits 10s for requests in flight (the manager waits 45s
// for all its parts).
var defaultTimeouts = timeouts{
	readHeader: 5 * time.Second,
	read:       10 * time.Second,
	write:      10 * time.Second,
	idle:       60 * time.Second,
	shutdown:   10 * time.Second,
}

// Server serves the acceptance page on its own port. It is a manager
// Runnable that every replica runs (no leader election): the page only
// reads from the cache and writes status with optimistic locking.
type Server struct {
	handler  http.Handler
	addr     string
	tls      *tls.Config
	certs    *certwatcher.CertWatcher // with tls: the certificate, read again when its files change
	log      logr.Logger
	timeouts timeouts
	http2    bool // Options.EnableHTTP2: see internal/httpserver

	mu      sync.Mutex
	started bool
	bound   net.Addr      // the listening address, once listening
	ready   chan struct{} // closed once listening
}

// NewServer builds the server from o; with Acceptance.TLS set it loads the
// certificate and key now, so a bad file stops the manager at start.
func NewServer(o Options) (*Server, error) {
	h, err := NewHandler(o)
	if err != nil {
		return nil, err
	}
	s := &Server{
		handler:  h,
		addr:     o.Config.Acceptance.BindAddress,
		log:      o.Log,
		timeouts: defaultTimeouts,
		http2:    o.EnableHTTP2,
		ready:    make(chan struct{}),
	}
	if f := o.Config.Acceptance.TLS; f != nil {
		// Read now (a bad file stops the manager at start), and again when
		// the files change (a renewed certificate, cert-manager's every
		// couple of months), without a restart.
		w, err := certwatcher.New(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("acceptance page: loading the TLS certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
		}
		s.certs = w
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: w.GetCertificate}
	}
	return s, nil
}

// NeedLeaderElection is false: every replica serves the page.
func (s *Server) NeedLeaderElection() bool { return false }

// Start listens on Acceptance.BindAddress and serves until ctx ends, then
// shuts down gracefully: it stops accepting connections and waits for the
// requests in flight. Requests keep running while it waits (their context
// is not cancelled by ctx), so an acceptance being recorded completes.
// A Server starts once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("acceptance page: the server was already started")
	}
	s.started = true
	s.mu.Unlock()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("acceptance page: listening on %s: %w", s.addr, err)
	}
	if s.certs != nil {
		go func() {
			if err := s.certs.Start(ctx); err != nil {
				s.log.Error(err, "Watching the acceptance page's TLS certificate: a renewed one is not picked up until a restart")
			}
		}()
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.timeouts.readHeader,
		ReadTimeout:       s.timeouts.read,
		WriteTimeout:      s.timeouts.write,
		IdleTimeout:       s.timeouts.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         s.tls,
		ErrorLog:          log.New(errorLogWriter{s.log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// HTTP/1.1 only, unless --enable-http2: the manager's one rule for its
	// servers, reasons and all, is internal/httpserver's.
	httpserver.Configure(srv, s.http2)
	s.mu.Lock()
	s.bound = ln.Addr()
	close(s.ready)
	s.mu.Unlock()

	served := make(chan error, 1)
	go func() {
		if s.tls != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	s.log.Info("Serving the acceptance page", "address", ln.Addr().String(), "tls", s.tls != nil, "http2", s.http2)

	select {
	case err := <-served:
		return fmt.Errorf("acceptance page: serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.timeouts.shutdown)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("acceptance page: shutting down: %w", err)
	}
	s.log.Info("Acceptance page stopped")
	return nil
}

// addrWhenReady waits until the server listens and returns its address
// (tests bind port 0).
func (s *Server) addrWhenReady(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.ready:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.bound, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errorLogWriter sends net/http's own messages (TLS handshake errors and
// the like, which name the peer, never a URL) to the logger.
type errorLogWriter struct{ log logr.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.log.V(1).Info("HTTP server", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}

// ReadyCheck is a healthz.Checker for the manager's /readyz: it fails until
// the page listens, so a Service sends partners to a pod only once the page
// can answer them.
func (s *Server) ReadyCheck(*http.Request) error {
	select {
	case <-s.ready:
		return nil
	default:
		return errors.New("the acceptance page is not listening yet")
	}
}
