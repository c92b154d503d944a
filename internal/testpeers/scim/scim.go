// Package scim runs a real SCIM 2.0 service provider for tests and for
// `make dev`: the server of hack/scim-server, SCIMMY's Express routers over
// an in-memory store of Users and Groups, run with node. It is not a Go
// dependency and shares no code with the driver (internal/identity/scim):
// this package talks to it over HTTP with its own few lines, to seed users
// and memberships that exist before partnerops and to check what the driver
// did.
//
// hack/install-peers.sh installs it (`npm ci`, exact versions from its
// package-lock.json) into bin/tools/scim-server/<hash>/ and prints
// SCIM_SERVER=<that dir>/server.js, which `make test` exports. Run starts
// one with a context and returns an error; Start and StartWith are Run for
// a test, each on its own free 127.0.0.1 port with a random bearer token,
// stopped when the test ends.
package scim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

// EnvVar names the variable that holds server.js's path.
const EnvVar = "SCIM_SERVER"

// readyPrefix starts the line server.js prints once it accepts requests,
// followed by its base URL.
const readyPrefix = "SCIM server ready at "

// Options change how the server behaves and runs; the zero value is a
// server like most service providers, on a free loopback port with a random
// token.
type Options struct {
	// NoUserGroups makes Users come without their read-only groups
	// attribute, as on service providers that do not return it.
	NoUserGroups bool
	// MaxPageSize caps the resources of one list response (default 20,
	// SCIMMY's default count).
	MaxPageSize int

	// Port is its port on 127.0.0.1 (0: a free one).
	Port int
	// Token is the bearer token it accepts ("": a random one).
	Token string
	// Script is server.js ("": Script()); Node is node ("": node on PATH),
	// run with NodeArgs before the script.
	Script, Node string
	NodeArgs     []string
	// Log receives its output too (one line per request).
	Log io.Writer
	// ReadyTimeout bounds the wait for it to answer (default 30s).
	ReadyTimeout time.Duration
}

// Server is a running SCIM server.
type Server struct {
	// URL is its SCIM base URL (http://127.0.0.1:PORT/scim/v2), without a
	// trailing slash.
	URL string
	// Token is the bearer token it accepts (any other is a 401).
	Token string

	client *http.Client
	log    *peer.Buffer
	proc   *peer.Process
}

// Start runs a SCIM server with the default Options for the test; see
// StartWith.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs a SCIM server for the test on a free loopback port, waits
// until it answers, and stops it in t.Cleanup. Its log (one line per
// request) is printed when the test fails. It fails the test, saying what
// to run, when node or the server is not installed.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	return peer.ForTest(t, "the SCIM server", func(ctx context.Context) (*Server, error) { return Run(ctx, opts) })
}

// Run starts a SCIM server as o says and waits until it answers (ctx
// bounds that wait, not the server's life). Stop it with Stop or
// Shutdown.
func Run(ctx context.Context, o Options) (*Server, error) {
	if err := peer.NodeDefaults(&o.Script, &o.Node, Script, "the SCIM test server"); err != nil {
		return nil, err
	}
	if o.Token == "" {
		tok := make([]byte, 24)
		_, _ = rand.Read(tok)
		o.Token = hex.EncodeToString(tok)
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	s := &Server{
		Token: o.Token,
		client: &http.Client{
			Transport: &http.Transport{Proxy: nil}, // loopback only, whatever the environment says
			Timeout:   30 * time.Second,
		},
		log: &peer.Buffer{},
	}
	argv := o.Argv()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Dir(o.Script)
	// The token goes by environment, not argv (ps shows argv), and the
	// flags are its whole configuration.
	cmd.Env = peer.Environ([]string{"NODE_OPTIONS=", "SCIM_SERVER_TOKEN="}, "SCIM_SERVER_TOKEN="+s.Token)
	p, u, err := peer.StartNode(ctx, cmd, "the SCIM server", s.log, o.Log, readyPrefix, o.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	s.proc, s.URL = p, u
	if err := s.waitAnswer(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Argv is the server's command line: node, NodeArgs, the script and its
// flags. The token is not on it: it goes by environment (ps shows argv).
func (o Options) Argv() []string {
	argv := append(append([]string{o.Node}, o.NodeArgs...), o.Script, "--port", strconv.Itoa(o.Port))
	if o.NoUserGroups {
		argv = append(argv, "--no-user-groups")
	}
	if o.MaxPageSize > 0 {
		argv = append(argv, "--max-page-size", strconv.Itoa(o.MaxPageSize))
	}
	return argv
}

// waitAnswer waits for an answer with the token.
func (s *Server) waitAnswer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil); err != nil {
		return fmt.Errorf("the SCIM server does not answer: %w", err)
	}
	return nil
}

// Script returns server.js's path: $SCIM_SERVER when set (make test sets
// it), else the one hack/install-peers.sh installs for the current
// hack/scim-server under bin/tools/scim-server/ (install_scim's <hash>:
// sha256 of package.json, package-lock.json and server.js).
func Script() (string, error) {
	return peer.NodeScript(EnvVar, "scim-server", "package.json", "package-lock.json", "server.js")
}

// Stop stops the server now (Start's cleanup does it otherwise, and
// calling it again does nothing), for tests of a service provider that
// went away.
func (s *Server) Stop() {
	_ = s.proc.StopWithin(5 * time.Second)
	s.client.CloseIdleConnections()
}

// Shutdown stops the server (SIGTERM) and waits for it to exit, killing it
// when ctx ends first (then killed is true).
func (s *Server) Shutdown(ctx context.Context) (killed bool, err error) {
	killed, err = s.proc.Shutdown(ctx)
	s.client.CloseIdleConnections()
	return killed, err
}

// Done is closed once the server has exited; Status says how.
func (s *Server) Done() <-chan struct{} { return s.proc.Done() }

// Status describes how the server exited; call it once Done is closed.
func (s *Server) Status() string { return s.proc.Status() }

// Pid is the server's process ID (node's).
func (s *Server) Pid() int { return s.proc.Pid() }

// Log is what the server printed so far: the ready line, then one line per
// request ("PATCH /scim/v2/Groups/<id> 204").
func (s *Server) Log() string { return s.log.String() }
