// Package scim runs a real SCIM 2.0 service provider for tests: the server
// of hack/scim-server, SCIMMY's Express routers over an in-memory store of
// Users and Groups, run with node. It is not a Go dependency and shares no
// code with the driver (internal/identity/scim): this package talks to it
// over HTTP with its own few lines, to seed users and memberships that exist
// before partnerops and to check what the driver did.
//
// hack/install-peers.sh installs it (`npm ci`, exact versions from its
// package-lock.json) into bin/tools/scim-server/<hash>/ and prints
// SCIM_SERVER=<that dir>/server.js, which `make test` exports. Each Start
// runs its own server on a free 127.0.0.1 port with a random bearer token.
package scim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvVar names the variable that holds server.js's path.
const EnvVar = "SCIM_SERVER"

// readyPrefix starts the line server.js prints once it accepts requests,
// followed by its base URL.
const readyPrefix = "SCIM server ready at "

// Options change how the server behaves; the zero value is a server like
// most service providers.
type Options struct {
	// NoUserGroups makes Users come without their read-only groups
	// attribute, as on service providers that do not return it.
	NoUserGroups bool
	// MaxPageSize caps the resources of one list response (default 20,
	// SCIMMY's default count).
	MaxPageSize int
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
	stop   func()
}

// User is a SCIM User as the server holds it.
type User struct {
	ID         string   `json:"id"`
	UserName   string   `json:"userName"`
	ExternalID string   `json:"externalId"`
	Active     *bool    `json:"active"`
	Emails     []Value  `json:"emails"`
	Groups     []Member `json:"groups"`
	// Enterprise is the enterprise extension, when the user has it.
	Enterprise *struct {
		Organization string `json:"organization"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	DisplayName string `json:"displayName"`
}

// Value is one value of a multi-valued attribute (emails).
type Value struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

// Member is a member of a Group, or a group of a User.
type Member struct {
	Value   string `json:"value"`
	Display string `json:"display"`
}

// Group is a SCIM Group as the server holds it.
type Group struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	ExternalID  string   `json:"externalId"`
	Members     []Member `json:"members"`
}

// MemberIDs are the ids of the group's members.
func (g Group) MemberIDs() []string {
	ids := make([]string, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.Value
	}
	return ids
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
	script, err := Script()
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("no node on PATH for the SCIM test server: run hack/install-peers.sh (it installs Debian's nodejs): %v", err)
	}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	s := &Server{
		Token: hex.EncodeToString(tok),
		client: &http.Client{
			Transport: &http.Transport{Proxy: nil}, // loopback only, whatever the environment says
			Timeout:   30 * time.Second,
		},
		log: &peer.Buffer{},
	}
	args := []string{script, "--port", "0"}
	if opts.NoUserGroups {
		args = append(args, "--no-user-groups")
	}
	if opts.MaxPageSize > 0 {
		args = append(args, "--max-page-size", strconv.Itoa(opts.MaxPageSize))
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = filepath.Dir(script)
	// The token goes by environment, not argv (ps shows argv).
	cmd.Env = append(peer.Environ([]string{"NODE_OPTIONS=", "SCIM_SERVER_TOKEN="}), "SCIM_SERVER_TOKEN="+s.Token)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Stderr = s.log
	ready := make(chan string, 1)
	cmd.Stdout = &readyWriter{log: s.log, ready: ready}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the SCIM server: %v", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(func() {
		s.stop()
		s.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("SCIM server log:\n%s", s.log.String())
		}
	})

	select {
	case s.URL = <-ready:
	case <-done:
		t.Fatalf("the SCIM server exited (%v) before it was ready; its log:\n%s", waitErr, s.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the SCIM server was not ready after 30s; its log:\n%s", s.log.String())
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("the SCIM server is not on loopback: %q", s.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil); err != nil {
		t.Fatalf("the SCIM server does not answer: %v", err)
	}
	return s
}

// Script returns server.js's path: $SCIM_SERVER when set (make test sets
// it), else the one hack/install-peers.sh installs for the current
// hack/scim-server under bin/tools/scim-server/.
func Script() (string, error) {
	if p := os.Getenv(EnvVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvVar, p, err)
		}
		return p, nil
	}
	root, err := peer.RepoRoot()
	if err != nil {
		return "", err
	}
	// The same <hash> as install_scim in hack/install-peers.sh: sha256 of
	// package.json, package-lock.json and server.js, first 16 hex digits.
	h := sha256.New()
	for _, f := range []string{"package.json", "package-lock.json", "server.js"} {
		b, err := os.ReadFile(filepath.Join(root, "hack", "scim-server", f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	p := filepath.Join(root, "bin", "tools", "scim-server", hex.EncodeToString(h.Sum(nil))[:16], "server.js")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no SCIM test server at %s: run hack/install-peers.sh (or `make test`) to install it, or set $%s", p, EnvVar)
	}
	return p, nil
}

// readyWriter copies the server's output to the log and sends the base URL
// of the ready line on ready, once.
type readyWriter struct {
	log   *peer.Buffer
	ready chan string
	line  []byte
	sent  bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	_, _ = w.log.Write(p)
	if w.sent {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.line[:i]))
		w.line = w.line[i+1:]
		if u, ok := strings.CutPrefix(line, readyPrefix); ok {
			w.ready <- u
			w.sent, w.line = true, nil
			break
		}
	}
	return len(p), nil
}

// Stop stops the server now (Start's cleanup does it otherwise), for tests
// of a service provider that went away.
func (s *Server) Stop() { s.stop() }

// Log is what the server printed so far: the ready line, then one line per
// request ("PATCH /scim/v2/Groups/<id> 204").
func (s *Server) Log() string { return s.log.String() }

// CreateUser adds a user as another provisioning client would: userName,
// a primary work email, and externalID when not empty.
func (s *Server) CreateUser(t testing.TB, userName, externalID string) User {
	t.Helper()
	body := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"active":   true,
		"emails":   []map[string]any{{"value": userName, "type": "work", "primary": true}},
	}
	if externalID != "" {
		body["externalId"] = externalID
	}
	var u User
	s.must(t, http.MethodPost, "/Users", body, &u)
	return u
}

// CreateGroup adds a group with these member ids, and externalID when not
// empty.
func (s *Server) CreateGroup(t testing.TB, displayName, externalID string, memberIDs ...string) Group {
	t.Helper()
	members := []map[string]string{}
	for _, id := range memberIDs {
		members = append(members, map[string]string{"value": id})
	}
	body := map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": displayName,
		"members":     members,
	}
	if externalID != "" {
		body["externalId"] = externalID
	}
	var g Group
	s.must(t, http.MethodPost, "/Groups", body, &g)
	return g
}

// AddMember adds the user id to the group id with a PATCH.
func (s *Server) AddMember(t testing.TB, groupID, userID string) {
	t.Helper()
	s.must(t, http.MethodPatch, "/Groups/"+url.PathEscape(groupID), map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []map[string]string{{"value": userID}}}},
	}, nil)
}

// RemoveMember removes the user id from the group id with a PATCH, as an
// administrator would by hand.
func (s *Server) RemoveMember(t testing.TB, groupID, userID string) {
	t.Helper()
	s.must(t, http.MethodPatch, "/Groups/"+url.PathEscape(groupID), map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "remove", "path": `members[value eq "` + userID + `"]`}},
	}, nil)
}

// Users lists every user.
func (s *Server) Users(t testing.TB) []User {
	t.Helper()
	var all []User
	s.list(t, "/Users", func(raw json.RawMessage) error {
		var page []User
		err := json.Unmarshal(raw, &page)
		all = append(all, page...)
		return err
	})
	return all
}

// Groups lists every group with its members.
func (s *Server) Groups(t testing.TB) []Group {
	t.Helper()
	var all []Group
	s.list(t, "/Groups", func(raw json.RawMessage) error {
		var page []Group
		err := json.Unmarshal(raw, &page)
		all = append(all, page...)
		return err
	})
	return all
}

// User returns the user whose userName is userName (without case).
func (s *Server) User(t testing.TB, userName string) (User, bool) {
	t.Helper()
	for _, u := range s.Users(t) {
		if strings.EqualFold(u.UserName, userName) {
			return u, true
		}
	}
	return User{}, false
}

// Group returns the group whose displayName is name (without case).
func (s *Server) Group(t testing.TB, name string) (Group, bool) {
	t.Helper()
	for _, g := range s.Groups(t) {
		if strings.EqualFold(g.DisplayName, name) {
			return g, true
		}
	}
	return Group{}, false
}

// list reads every page of path (whatever the server's page size).
func (s *Server) list(t testing.TB, path string, add func(json.RawMessage) error) {
	t.Helper()
	start := 1
	for {
		var lr struct {
			TotalResults int             `json:"totalResults"`
			Resources    json.RawMessage `json:"Resources"`
		}
		s.must(t, http.MethodGet, path+"?startIndex="+strconv.Itoa(start), nil, &lr)
		var n []json.RawMessage
		if err := json.Unmarshal(lr.Resources, &n); err != nil {
			t.Fatalf("SCIM server: GET %s: %v", path, err)
		}
		if err := add(lr.Resources); err != nil {
			t.Fatalf("SCIM server: GET %s: %v", path, err)
		}
		start += len(n)
		if len(n) == 0 || start > lr.TotalResults {
			return
		}
	}
}

func (s *Server) must(t testing.TB, method, path string, body, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	data, err := s.do(ctx, method, path, b)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("SCIM server: %s %s: %v: %s", method, path, err, data)
		}
	}
}

// ErrStatus is wrapped by the errors of requests answered outside 2xx.
var ErrStatus = errors.New("SCIM server: unexpected status")

func (s *Server) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("SCIM server: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("SCIM server: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%w: %s %s: %s: %s", ErrStatus, method, path, resp.Status, bytes.TrimSpace(data))
	}
	return data, nil
}
