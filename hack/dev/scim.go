package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
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
// hack/scim-server (the one the SCIM driver's tests run) run with node, its
// output in a log file. It keeps its users and groups in memory only.
type scimServer struct {
	*child
	// baseURL is its SCIM base URL, such as http://127.0.0.1:8091/scim/v2.
	baseURL string
	// token is the bearer token it accepts, made anew at each start.
	token  string
	client *http.Client
	log    *os.File
}

// defaultSCIMServer is the server.js dev runs unless --scim-server says
// otherwise: $SCIM_SERVER (the Makefile passes hack/install-peers.sh's
// SCIM_SERVER line as --scim-server), else the copy installed for the
// current hack/scim-server under bin/tools/scim-server/, else "". The
// search is the test harness's, so dev and the tests run the same server.
func defaultSCIMServer() string {
	p, err := scimpeer.Script()
	if err != nil {
		return ""
	}
	return p
}

// newSCIMToken makes a random bearer token.
func newSCIMToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the SCIM server's token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// scimArgs is node's command line. server.js takes only its port (it binds
// 127.0.0.1); node's --diagnostic-dir puts any diagnostic report in the
// state directory, and so makes node's command line name it, as every
// process dev starts does (for the leftover check).
func scimArgs(o *options, s *stateDir, node string) []string {
	_, port, _ := net.SplitHostPort(o.scimAddr)
	return []string{node, "--diagnostic-dir=" + s.scimDir, o.scimServer, "--port", port}
}

// startSCIMServer starts the SCIM server with its output in
// logs/scim-server.log. The token goes by environment, never on the command
// line (ps shows it), and NODE_OPTIONS is dropped: the flags are its whole
// configuration.
func startSCIMServer(o *options, s *stateDir, node, token string, con *console) (*scimServer, error) {
	f, err := os.OpenFile(s.scimLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the SCIM server's log file: %w", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NODE_OPTIONS=") && !strings.HasPrefix(kv, "SCIM_SERVER_TOKEN=") {
			env = append(env, kv)
		}
	}
	env = append(env, "SCIM_SERVER_TOKEN="+token)
	c, err := startChild(con, "the SCIM server", scimArgs(o, s, node), env, f, nil)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &scimServer{
		child:   c,
		baseURL: scimBaseURL(o.scimAddr),
		token:   token,
		client: &http.Client{
			// No proxy, whatever the environment says: loopback only.
			Transport: &http.Transport{Proxy: nil},
		},
		log: f,
	}, nil
}

// scimBaseURL is the base URL of a SCIM server listening on addr.
func scimBaseURL(addr string) string {
	return strings.TrimSuffix(httpURL(addr, scimBasePath), "/")
}

// waitReady waits until the SCIM server answers a request with the token.
// It gives up when ctx ends, when the server exits or after timeout.
func (m *scimServer) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		status, err := m.get(ctx, "/ServiceProviderConfig")
		if err == nil && status == http.StatusOK {
			return nil
		}
		if err == nil {
			last = "answered " + strconv.Itoa(status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.done:
			return fmt.Errorf("the SCIM server exited before it was ready (%s): see %s", m.status(), m.log.Name())
		case <-deadline.C:
			return fmt.Errorf("the SCIM server was not ready after %s (%s/ServiceProviderConfig: %s): see %s", timeout, m.baseURL, last, m.log.Name())
		case <-tick.C:
		}
	}
}

// get asks GET path with the token and returns the status.
func (m *scimServer) get(ctx context.Context, path string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.baseURL+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// stop stops the SCIM server and closes its log.
func (m *scimServer) stop(con *console, hurry <-chan struct{}) error {
	defer func() { _ = m.log.Close() }()
	err := m.child.stop(con, scimStopGrace, hurry)
	m.client.CloseIdleConnections()
	return err
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
		fmt.Sprintf(`curl -s -H "Authorization: Bearer %s" %s/Groups`, m.token, m.baseURL),
		fmt.Sprintf(`curl -s -H "Authorization: Bearer %s" %s/Users`, m.token, m.baseURL),
	}
}
