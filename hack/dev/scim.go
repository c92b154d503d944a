package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/partnerops/partnerops/internal/config"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
)

const (
	// scimReadyTimeout bounds the wait for the SCIM server to answer.
	scimReadyTimeout = time.Minute
	// scimStopGrace is how long the SCIM server has to stop after SIGTERM.
	scimStopGrace = 10 * time.Second
	// scimTokenKey is the key of the token in the Secret the manager reads
	// (identityBackend.scim.tokenSecret; see docs/configuration.md).
	scimTokenKey = "token"
	// scimBasePath is where server.js serves SCIM.
	scimBasePath = "/scim/v2"
)

// scimServer is the dev identity backend: the SCIM 2.0 server of
// hack/scim-server (the one the SCIM driver's tests run) run by
// internal/testpeers/scim with node, its output in a log file. It keeps its
// users and groups in memory only.
type scimServer struct {
	*scimpeer.Server
	// baseURL is its SCIM base URL, such as http://127.0.0.1:8091/scim/v2.
	baseURL string
	log     *os.File
}

// defaultSCIMServer is the server.js dev runs unless --scim-server says
// otherwise: $SCIM_SERVER (the Makefile passes hack/install-peers.sh's
// SCIM_SERVER line as --scim-server), else the copy installed for the
// current hack/scim-server under bin/tools/scim-server/, else "". The
// search is the test harness's, so dev and the tests run the same server.
func defaultSCIMServer() string { return orEmpty(scimpeer.Script()) }

// newSCIMToken makes a random bearer token.
func newSCIMToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the SCIM server's token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// startSCIMServer starts the SCIM server on --scim-address with its
// output in logs/scim-server.log, and waits until it answers a request with
// the token. The token goes by environment, never on the command line (ps
// shows it), and NODE_OPTIONS is dropped: the flags are its whole
// configuration. node's --diagnostic-dir puts any diagnostic report in the
// state directory, and so makes node's command line name it, as every
// process dev starts does (for the leftover check). It gives up when ctx
// ends, when the server exits or after timeout.
func startSCIMServer(ctx context.Context, o *options, s *stateDir, node, token string, con *console) (*scimServer, error) {
	srv, f, err := startPeer(ctx, con, "the SCIM server", s.scimLog, func(log io.Writer) (*scimpeer.Server, error) {
		so := scimOptions(o, s, node, token)
		so.Log, so.ReadyTimeout = log, scimReadyTimeout
		return scimpeer.Run(ctx, so)
	})
	if err != nil {
		return nil, err
	}
	return &scimServer{Server: srv, baseURL: scimBaseURL(o.scimAddr), log: f}, nil
}

// scimOptions run server.js on the port of --scim-address (it binds
// 127.0.0.1), with node's --diagnostic-dir in the state directory.
func scimOptions(o *options, s *stateDir, node, token string) scimpeer.Options {
	_, port, _ := net.SplitHostPort(o.scimAddr)
	n, _ := strconv.Atoi(port) // checkSCIMConfig checked it
	return scimpeer.Options{Port: n, Token: token, Script: o.scimServer, Node: node, NodeArgs: []string{"--diagnostic-dir=" + s.scimDir}}
}

// scimBaseURL is the base URL of a SCIM server listening on addr.
func scimBaseURL(addr string) string {
	return strings.TrimSuffix(httpURL(addr, scimBasePath), "/")
}

// stop stops the SCIM server and closes its log.
func (m *scimServer) stop(con *console, hurry <-chan struct{}) error {
	defer func() { _ = m.log.Close() }()
	return stopChild(con, "the SCIM server", m.Server, scimStopGrace, hurry)
}

// checkSCIMConfig checks that the manager's configuration sends grants to
// the SCIM server dev runs: else they would go nowhere, or somewhere real.
func checkSCIMConfig(o *options, cfg *config.Config) error {
	host, port, err := net.SplitHostPort(o.scimAddr)
	if err != nil {
		return fmt.Errorf("--scim-address %q: %w", o.scimAddr, err)
	}
	if host != loopback {
		return fmt.Errorf("--scim-address %q: the SCIM server listens on %s only: use %s", o.scimAddr, loopback, net.JoinHostPort(loopback, port))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("--scim-address %q: the port must be a number from 1 to 65535", o.scimAddr)
	}
	want := scimBaseURL(o.scimAddr)
	b := cfg.IdentityBackend
	if b.Type != config.BackendSCIM || b.SCIM == nil {
		return fmt.Errorf("identityBackend.type in %s is %q, but the identity backend of dev is the SCIM server it runs: set type %s with scim.baseURL %s",
			o.config, b.Type, config.BackendSCIM, want)
	}
	u, err := url.Parse(b.SCIM.BaseURL)
	if err != nil || u.Scheme != "http" || u.User != nil || u.RawQuery != "" ||
		(u.Hostname() != loopback && !strings.EqualFold(u.Hostname(), "localhost")) ||
		urlPort(u) != port || strings.TrimSuffix(u.Path, "/") != scimBasePath {
		return fmt.Errorf("identityBackend.scim.baseURL in %s is %s, but the SCIM server of dev is at %s (--scim-address): make them the same",
			o.config, b.SCIM.BaseURL, want)
	}
	return nil
}

// urlPort is u's port, or its scheme's default.
func urlPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// curlLines are the commands that list the SCIM server's groups and users.
func (m *scimServer) curlLines() []string {
	return []string{
		fmt.Sprintf(`curl -s -H "Authorization: Bearer %s" %s/Groups`, m.Token, m.baseURL),
		fmt.Sprintf(`curl -s -H "Authorization: Bearer %s" %s/Users`, m.Token, m.baseURL),
	}
}
