// Package mailpit runs a real SMTP server, Mailpit, for tests and for `make
// dev`, and reads what it received through Mailpit's REST API (/api/v1,
// Mailpit v1.27.11); its web UI, the inbox people open in a browser, is at
// InboxURL and MessageURL.
//
// The binary is the one hack/install-peers.sh builds from the module's
// source on the Go module proxy, with its web UI (built with npm), into
// bin/tools/mailpit/<version>/mailpit; `make test` builds it first and
// passes its path in $MAILPIT. Mailpit is not a Go dependency of the operator:
// it runs as a separate process (internal/testpeers/peer), bound to loopback
// by default, and accepts any SMTP AUTH username and password, PLAIN and
// LOGIN included, over plain (non-TLS) connections. Run starts one with a
// context and returns an error; Start is Run for a test, with a database in
// the test's temporary directory, stopped when the test ends.
package mailpit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

// EnvVar names the variable that holds the Mailpit binary's path.
const EnvVar = "MAILPIT"

// ErrNotFound is returned (wrapped) when Mailpit has no message with that ID.
var ErrNotFound = errors.New("mailpit: message not found")

// Options say how to run Mailpit; the zero value runs the binary Binary
// finds on free loopback ports, with a database in a temporary directory.
type Options struct {
	// Binary is Mailpit's path ("": Binary()).
	Binary string
	// SMTPAddr and HTTPAddr are where it listens for SMTP and serves its
	// web server (the web UI and the REST API); "" takes free loopback
	// ports, new ones at each of three attempts should another process take
	// one first.
	SMTPAddr, HTTPAddr string
	// Database is its database file, kept after it stops; "" puts it in a
	// directory of Dir.
	Database string
	// Dir holds the database when Database is "" (a temporary directory,
	// removed once Mailpit stops, when Dir is "" too).
	Dir string
	// Log receives its output; nil keeps it in memory (Server.Log).
	Log io.Writer
	// KeepAll keeps every message (Mailpit's default prunes past 500).
	KeepAll bool
	// ReadyTimeout bounds the wait for its API and SMTP server (default
	// 30s).
	ReadyTimeout time.Duration
}

// Server is a running Mailpit.
type Server struct {
	// SMTPHost and SMTPPort are where it accepts mail.
	SMTPHost string
	SMTPPort int
	// APIURL is the base URL of its web server, without a trailing slash: the
	// REST API is under APIURL + "/api/v1/", the web UI at APIURL + "/".
	APIURL string
	// Version is the version its API reports.
	Version string

	client *http.Client
	proc   *peer.Process
	log    *peer.Buffer
	tmpDir string
}

// Start runs a Mailpit on free loopback ports for the test, keeping every
// message, waits until both its API and its SMTP server answer, and stops
// it in t.Cleanup. Its log is printed when the test fails.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir() // before the stop cleanup is registered, so removed after it
	return peer.ForTest(t, "mailpit", func(ctx context.Context) (*Server, error) { return Run(ctx, Options{Dir: dir, KeepAll: true}) })
}

// Run starts a Mailpit as o says and waits until both its API and its SMTP
// server answer (ctx bounds that wait, not Mailpit's life). Stop it with
// Stop or Shutdown.
func Run(ctx context.Context, o Options) (*Server, error) {
	if o.Binary == "" {
		bin, err := Binary()
		if err != nil {
			return nil, err
		}
		o.Binary = bin
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	var tmp string
	if o.Database == "" && o.Dir == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "mailpit-"); err != nil {
			return nil, err
		}
		o.Dir = tmp
	}
	attempts := 1
	if o.SMTPAddr == "" || o.HTTPAddr == "" {
		attempts = 3 // another process may take a free port first
	}
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		s, err := run(ctx, o, attempt)
		if err == nil {
			s.tmpDir = tmp
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if tmp != "" {
		_ = os.RemoveAll(tmp)
	}
	return nil, lastErr
}

func run(ctx context.Context, o Options, attempt int) (*Server, error) {
	smtpAddr, httpAddr, err := addrs(o)
	if err != nil {
		return nil, err
	}
	db := o.Database
	if db == "" {
		db = filepath.Join(o.Dir, fmt.Sprintf("mailpit-%d.db", attempt))
	}
	args := []string{
		"--smtp=" + smtpAddr,
		"--listen=" + httpAddr,
		"--database=" + db,
		"--disable-version-check",
		// No reverse DNS lookup of the client: nothing but loopback is reached.
		"--smtp-disable-rdns",
		// Whatever credentials the sender has, it can log in.
		"--smtp-auth-accept-any",
		"--smtp-auth-allow-insecure",
	}
	if o.KeepAll {
		args = append(args, "--max=0")
	}
	cmd := exec.Command(o.Binary, args...)
	// The flags are its whole configuration (no relay, no webhook).
	cmd.Env = peer.Environ([]string{"MP_"})
	s := &Server{log: &peer.Buffer{}, client: &http.Client{
		// No proxy, whatever the environment says: loopback only.
		Transport: &http.Transport{Proxy: nil},
		Timeout:   30 * time.Second,
	}}
	var out io.Writer = s.log
	if o.Log != nil {
		out = o.Log
	}
	cmd.Stdout, cmd.Stderr = out, out
	host, port, _ := net.SplitHostPort(smtpAddr)
	s.SMTPHost, s.APIURL = loopbackIfAny(host), "http://"+loopbackAddr(httpAddr)
	if s.SMTPPort, err = strconv.Atoi(port); err != nil {
		return nil, fmt.Errorf("mailpit: SMTP address %q: %w", smtpAddr, err)
	}
	if s.proc, err = peer.Start(cmd, nil); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, o.ReadyTimeout); err != nil {
		_ = s.proc.StopWithin(5 * time.Second)
		return nil, err
	}
	return s, nil
}

// addrs are the SMTP and HTTP addresses o asks for, or free loopback ones.
func addrs(o Options) (smtpAddr, httpAddr string, err error) {
	smtpAddr, httpAddr = o.SMTPAddr, o.HTTPAddr
	for _, a := range []*string{&smtpAddr, &httpAddr} {
		if *a != "" {
			if _, _, err := net.SplitHostPort(*a); err != nil {
				return "", "", fmt.Errorf("mailpit: address %q: %w", *a, err)
			}
			continue
		}
		port, err := peer.FreePort()
		if err != nil {
			return "", "", err
		}
		*a = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	return smtpAddr, httpAddr, nil
}

// waitReady waits until the API answers and the SMTP server greets
// (Mailpit starts its web server first, then its SMTP server).
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.ready(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.proc.Done():
			return fmt.Errorf("mailpit exited before it was ready (%s; SMTP %s, API %s)%s", s.proc.Status(), s.SMTPAddr(), s.APIURL, s.logTail())
		case <-deadline.C:
			return fmt.Errorf("mailpit was not ready after %s (SMTP %s, API %s)%s", timeout, s.SMTPAddr(), s.APIURL, s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) logTail() string {
	if l := s.Log(); l != "" {
		return "; its log:\n" + l
	}
	return ""
}

// ready tells whether the API answers and the SMTP server greets.
func (s *Server) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var info struct{ Version string }
	if err := s.getJSON(ctx, "/api/v1/info", &info); err != nil || info.Version == "" {
		return false
	}
	conn, err := net.DialTimeout("tcp", s.SMTPAddr(), time.Second)
	if err != nil {
		return false
	}
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	c, err := smtp.NewClient(conn, s.SMTPHost) // reads the 220 greeting
	if err != nil {
		_ = conn.Close()
		return false
	}
	_ = c.Quit()
	s.Version = info.Version
	return true
}

// Log is what Mailpit printed so far, unless Options.Log took it.
func (s *Server) Log() string { return s.log.String() }

// Pid is Mailpit's process ID.
func (s *Server) Pid() int { return s.proc.Pid() }

// Done is closed once Mailpit has exited (stopped, or on its own).
func (s *Server) Done() <-chan struct{} { return s.proc.Done() }

// Status describes how Mailpit exited; call it once Done is closed.
func (s *Server) Status() string { return s.proc.Status() }

// Shutdown stops Mailpit (SIGTERM) and waits for it to exit, killing it
// when ctx ends first (then killed is true); it removes the temporary
// directory Run made.
func (s *Server) Shutdown(ctx context.Context) (killed bool, err error) {
	killed, err = s.proc.Shutdown(ctx)
	s.client.CloseIdleConnections()
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
	return killed, err
}

// Stop stops Mailpit now: it has 5s before it is killed.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = s.Shutdown(ctx)
}

// Binary returns the Mailpit binary's path: $MAILPIT when set (make test sets
// it), else the newest version built under bin/tools/mailpit/.
func Binary() (string, error) {
	if p, ok, err := peer.FromEnv(EnvVar); ok {
		return p, err
	}
	root, err := peer.RepoRoot()
	if err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(root, "bin", "tools", "mailpit", "*", "mailpit"))
	if len(matches) == 0 {
		return "", fmt.Errorf("no Mailpit under %s: run `make test` (or hack/install-peers.sh) to build it, or set $%s",
			filepath.Join(root, "bin", "tools", "mailpit", "<version>", "mailpit"), EnvVar)
	}
	best := matches[0]
	for _, m := range matches[1:] {
		if versionLess(filepath.Base(filepath.Dir(best)), filepath.Base(filepath.Dir(m))) {
			best = m
		}
	}
	return best, nil
}

// versionLess compares "v1.2.3" directory names numerically.
func versionLess(a, b string) bool {
	pa := strings.Split(strings.TrimPrefix(a, "v"), ".")
	pb := strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea != nil || eb != nil {
			if pa[i] != pb[i] {
				return pa[i] < pb[i]
			}
			continue
		}
		if na != nb {
			return na < nb
		}
	}
	return len(pa) < len(pb)
}

// loopbackIfAny is host, or 127.0.0.1 when host means every interface
// ("", 0.0.0.0, ::): what a client on this machine dials.
func loopbackIfAny(host string) string {
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "127.0.0.1"
	}
	return host
}

func loopbackAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(loopbackIfAny(host), port)
}
