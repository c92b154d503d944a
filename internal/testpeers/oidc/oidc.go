// Package oidc runs a real OpenID Provider for tests and for `make dev`:
// the server of hack/oidc-provider, the npm package oidc-provider (OpenID
// Certified) with users and clients held in memory and a minimal login
// form, run with node. It is not a Go dependency and shares no code with
// the relying party (internal/signin).
//
// hack/install-peers.sh installs it (`npm ci`, exact versions from its
// package-lock.json) into bin/tools/oidc-provider/<hash>/ and prints
// OIDC_PROVIDER=<that dir>/server.js, which `make test` exports. Run starts
// one with a context and returns an error; Start is Run for a test, on a
// free 127.0.0.1 port, stopped when the test ends.
package oidc

import (
	"context"
	"encoding/json"
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
const EnvVar = "OIDC_PROVIDER"

// readyPrefix starts the line server.js prints once it accepts requests,
// followed by its issuer.
const readyPrefix = "OIDC provider ready at "

// The login form's fields, by element id, for a browser to fill.
const (
	FieldEmail    = "#email"
	FieldPassword = "#password"
	SubmitButton  = "#submit"
)

// User is an account at the provider.
type User struct {
	// Subject is the ID token's sub.
	Subject string `json:"sub"`
	// Email is the address the ID token carries, and what the login form
	// asks for.
	Email string `json:"email"`
	// Unverified makes email_verified false in the ID token.
	Unverified bool `json:"-"`
	// Password is what the login form asks for.
	Password string `json:"password"`
}

// Client is a relying party registered at the provider.
type Client struct {
	ID string `json:"client_id"`
	// Secret is the client secret; empty for a public client (PKCE only).
	Secret       string   `json:"client_secret,omitempty"`
	RedirectURIs []string `json:"redirect_uris"`
}

// Options say who the provider knows and where it runs.
type Options struct {
	Clients []Client
	Users   []User
	// Port is its port on 127.0.0.1 (0: a free one). Its issuer is
	// http://127.0.0.1:<port>.
	Port int
	// Script is server.js ("": Script()); Node is node ("": node on PATH),
	// run with NodeArgs before the script.
	Script, Node string
	NodeArgs     []string
	// Log receives its output too (one line per request).
	Log io.Writer
	// ReadyTimeout bounds the wait for it to answer (default 30s).
	ReadyTimeout time.Duration
}

// Server is a running provider.
type Server struct {
	// Issuer is its issuer URL, http://127.0.0.1:PORT.
	Issuer string

	log  *peer.Buffer
	proc *peer.Process
}

// Start runs a provider for the test on o.Port (0: a free one), waits
// until its discovery document answers, and stops it in t.Cleanup; its log
// is printed when the test fails. It fails the test, saying what to run,
// when node or the server is not installed.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	return peer.ForTest(t, "the OpenID Provider", func(ctx context.Context) (*Server, error) { return Run(ctx, o) })
}

// Run starts a provider as o says and waits until it answers (ctx bounds
// that wait, not the provider's life). Stop it with Stop or Shutdown.
func Run(ctx context.Context, o Options) (*Server, error) {
	if err := peer.NodeDefaults(&o.Script, &o.Node, Script, "the OpenID Provider"); err != nil {
		return nil, err
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	type user struct {
		User
		Verified bool `json:"email_verified"`
	}
	users := make([]user, len(o.Users))
	for i, u := range o.Users {
		users[i] = user{u, !u.Unverified}
	}
	conf, err := json.Marshal(map[string]any{"clients": o.Clients, "users": users})
	if err != nil {
		return nil, err
	}
	s := &Server{log: &peer.Buffer{}}
	argv := append(append(append([]string{}, o.NodeArgs...), o.Script), "--port", strconv.Itoa(o.Port))
	cmd := exec.Command(o.Node, argv...)
	cmd.Dir = filepath.Dir(o.Script)
	// Passwords and secrets go by environment, not argv (ps shows argv).
	cmd.Env = peer.Environ([]string{"NODE_OPTIONS=", "OIDC_PROVIDER_CONFIG="}, "OIDC_PROVIDER_CONFIG="+string(conf))
	p, issuer, err := peer.StartNode(ctx, cmd, "the OpenID Provider", s.log, o.Log, readyPrefix, o.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	s.proc, s.Issuer = p, issuer
	if err := s.waitDiscovery(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitDiscovery waits for the discovery document.
func (s *Server) waitDiscovery(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	status, _, err := peer.Request(ctx, c, "the OpenID Provider", http.MethodGet, s.Issuer+"/.well-known/openid-configuration", nil, "", nil)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("discovery answered %d", status)
	}
	if err != nil {
		return fmt.Errorf("the OpenID Provider does not answer: %w", err)
	}
	return nil
}

// Script returns server.js's path: $OIDC_PROVIDER when set (make test sets
// it), else the one hack/install-peers.sh installs for the current
// hack/oidc-provider under bin/tools/oidc-provider/ (install_oidc's
// <hash>: sha256 of package.json, package-lock.json and server.js).
func Script() (string, error) {
	return peer.NodeScript(EnvVar, "oidc-provider", "package.json", "package-lock.json", "server.js")
}

// Stop stops the provider now (Start's cleanup does it otherwise, and
// calling it again does nothing), for tests of a provider that went away.
func (s *Server) Stop() { _ = s.proc.StopWithin(5 * time.Second) }

// Shutdown stops the provider (SIGTERM) and waits for it to exit, killing
// it when ctx ends first (then killed is true).
func (s *Server) Shutdown(ctx context.Context) (killed bool, err error) { return s.proc.Shutdown(ctx) }

// Pid is the provider's process ID (node's).
func (s *Server) Pid() int { return s.proc.Pid() }

// Status describes how the provider exited; call it once Done is closed.
func (s *Server) Status() string { return s.proc.Status() }

// Done is closed once the provider has exited.
func (s *Server) Done() <-chan struct{} { return s.proc.Done() }

// Log is what the provider printed so far: the ready line, then one line
// per request ("GET /auth 303").
func (s *Server) Log() string { return s.log.String() }
