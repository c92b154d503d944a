// Package mailpit runs a real SMTP server, Mailpit, for tests, and reads what
// it received through Mailpit's REST API (/api/v1, Mailpit v1.27.11).
//
// The binary is the one hack/install-peers.sh builds from the Go module proxy
// into bin/tools/mailpit/<version>/mailpit; `make test` builds it first and
// passes its path in $MAILPIT. Mailpit is not a Go dependency of the operator:
// it runs as a separate process, bound to 127.0.0.1 only, with a database in
// the test's temporary directory, and accepts any SMTP AUTH username and
// password, PLAIN and LOGIN included, over plain (non-TLS) loopback.
package mailpit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvVar names the variable that holds the Mailpit binary's path.
const EnvVar = "MAILPIT"

// ErrNotFound is returned (wrapped) when Mailpit has no message with that ID.
var ErrNotFound = errors.New("mailpit: message not found")

// Server is a running Mailpit.
type Server struct {
	// SMTPHost and SMTPPort are where it accepts mail: 127.0.0.1 and a free port.
	SMTPHost string
	SMTPPort int
	// APIURL is the base URL of its web server, without a trailing slash: the
	// REST API is under APIURL + "/api/v1/".
	APIURL string

	client *http.Client
}

// Summary is one message of the mailbox listing (MessageSummary in Mailpit).
type Summary struct {
	// ID is Mailpit's database ID, for Message, Raw, ...
	ID string
	// MessageID is the Message-ID header without the angle brackets.
	MessageID string
	From      mail.Address
	// To, Cc and Bcc are the recipients of the headers; Mailpit adds the
	// envelope recipients missing from them to Bcc.
	To, Cc, Bcc []mail.Address
	ReplyTo     []mail.Address
	// Subject is decoded (RFC 2047 encoded words become UTF-8).
	Subject string
	// Created is when Mailpit received it.
	Created time.Time
	// Username is the SMTP AUTH LOGIN username the sender used. Mailpit
	// v1.27.11 records none for AUTH PLAIN (its PLAIN handler drops it).
	Username string
	// Snippet is the start of the text (at most 250 characters).
	Snippet string
	// Attachments counts the attachments.
	Attachments int
	Size        uint64
}

// Recipients are To, Cc and Bcc: every address the message was sent to.
func (s Summary) Recipients() []mail.Address {
	all := make([]mail.Address, 0, len(s.To)+len(s.Cc)+len(s.Bcc))
	all = append(all, s.To...)
	all = append(all, s.Cc...)
	return append(all, s.Bcc...)
}

// SentTo tells whether addr (compared case-insensitively) is a recipient.
func (s Summary) SentTo(addr string) bool {
	addr = strings.TrimSpace(addr)
	for _, r := range s.Recipients() {
		if strings.EqualFold(r.Address, addr) {
			return true
		}
	}
	return false
}

// Message is one full message (Message in Mailpit, plus its headers).
type Message struct {
	ID        string
	MessageID string
	From      mail.Address
	To, Cc    []mail.Address
	Bcc       []mail.Address
	ReplyTo   []mail.Address
	// ReturnPath is the envelope sender.
	ReturnPath string
	// Subject is decoded (RFC 2047 encoded words become UTF-8).
	Subject string
	// Date is the Date header, else when Mailpit received it.
	Date     time.Time
	Username string
	// Text and HTML are the decoded text/plain and text/html bodies ("" when
	// absent). Mailpit derives Text from HTML when the message has no text part.
	Text string
	HTML string
	Size uint64
	// Inline and Attachments are the parts with a file name or a Content-ID.
	Inline      []Attachment
	Attachments []Attachment
	// Headers are the top-level headers as sent: keys in Go's canonical form
	// ("Message-Id", "Content-Type"), values not decoded. Use Header to look
	// one up by any spelling.
	Headers map[string][]string `json:"-"`
}

// Header returns the first value of the header name (any case), or "".
func (m *Message) Header(name string) string {
	if v := m.HeaderValues(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// HeaderValues returns every value of the header name (any case).
func (m *Message) HeaderValues(name string) []string {
	for k, v := range m.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// Attachment describes one attachment or inline part.
type Attachment struct {
	PartID      string
	FileName    string
	ContentType string
	ContentID   string
	Size        uint64
}

// Start runs a Mailpit on free loopback ports for the test, waits until both
// its API and its SMTP server answer, and stops it in t.Cleanup. Its log is
// printed when the test fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // before the stop cleanup is registered, so removed after it
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		s, p, err := start(t, bin, dir, attempt)
		if err == nil {
			t.Cleanup(func() {
				p.stop()
				s.client.CloseIdleConnections()
				if t.Failed() {
					t.Logf("mailpit log:\n%s", p.log.String())
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("mailpit did not start: %v", lastErr)
	return nil
}

// Binary returns the Mailpit binary's path: $MAILPIT when set (make test sets
// it), else the newest version built under bin/tools/mailpit/.
func Binary() (string, error) {
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

type process struct {
	cmd  *exec.Cmd
	log  *peer.Buffer
	done chan struct{}
}

// stop asks Mailpit to stop (SIGTERM), and kills it if it is still running
// after 5s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func start(t testing.TB, bin, dir string, attempt int) (*Server, *process, error) {
	smtpPort, err := peer.FreePort()
	if err != nil {
		return nil, nil, err
	}
	httpPort, err := peer.FreePort()
	if err != nil {
		return nil, nil, err
	}
	smtpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort))
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	args := []string{
		"--disable-version-check",
		"--smtp", smtpAddr,
		"--listen", httpAddr,
		"--database", filepath.Join(dir, fmt.Sprintf("mailpit-%d.db", attempt)),
		"--smtp-auth-accept-any",
		"--smtp-auth-allow-insecure",
		// No reverse DNS lookup of the client: nothing but loopback is reached.
		"--smtp-disable-rdns",
		// Keep every message (the default prunes past 500).
		"--max", "0",
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = peer.Environ([]string{"MP_"})
	cmd.SysProcAttr = sysProcAttr()
	log := &peer.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(p.done) }()

	s := &Server{
		SMTPHost: "127.0.0.1",
		SMTPPort: smtpPort,
		APIURL:   "http://" + httpAddr,
		client: &http.Client{
			// No proxy, whatever the environment says: loopback only.
			Transport: &http.Transport{Proxy: nil},
			Timeout:   30 * time.Second,
		},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, nil, fmt.Errorf("mailpit exited (%v) before it was ready (SMTP %s, HTTP %s); its log:\n%s", waitErr, smtpAddr, httpAddr, log.String())
		default:
		}
		if s.ready() {
			return s, p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, nil, fmt.Errorf("mailpit not ready after 30s (SMTP %s, HTTP %s); its log:\n%s", smtpAddr, httpAddr, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready tells whether the API answers and the SMTP server greets (Mailpit
// starts the web server first, then the SMTP server).
func (s *Server) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
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
	return true
}

// SMTPAddr is SMTPHost:SMTPPort, for net/smtp.
func (s *Server) SMTPAddr() string {
	return net.JoinHostPort(s.SMTPHost, strconv.Itoa(s.SMTPPort))
}

// Messages lists every message, oldest first (the API lists newest first).
func (s *Server) Messages(ctx context.Context) ([]Summary, error) {
	// limit=0: no limit (GET /api/v1/messages applies a limit only when > 0).
	var res struct {
		Messages []Summary `json:"messages"`
	}
	if err := s.getJSON(ctx, "/api/v1/messages?limit=0", &res); err != nil {
		return nil, err
	}
	out := make([]Summary, len(res.Messages))
	for i, m := range res.Messages {
		out[len(out)-1-i] = m
	}
	return out, nil
}

// Message returns one full message with its headers. Mailpit marks it read.
func (s *Server) Message(ctx context.Context, id string) (*Message, error) {
	var m Message
	if err := s.getJSON(ctx, "/api/v1/message/"+url.PathEscape(id), &m); err != nil {
		return nil, err
	}
	if err := s.getJSON(ctx, "/api/v1/message/"+url.PathEscape(id)+"/headers", &m.Headers); err != nil {
		return nil, err
	}
	return &m, nil
}

// Raw returns the message's source (RFC 5322) as Mailpit stored it; Mailpit
// adds Bcc for envelope recipients missing from To, Cc and Bcc.
func (s *Server) Raw(ctx context.Context, id string) ([]byte, error) {
	return s.do(ctx, http.MethodGet, "/api/v1/message/"+url.PathEscape(id)+"/raw", nil)
}

// DeleteAll empties the mailbox.
func (s *Server) DeleteAll(ctx context.Context) error {
	// DELETE /api/v1/messages without IDs deletes every message.
	_, err := s.do(ctx, http.MethodDelete, "/api/v1/messages", []byte(`{"IDs":[]}`))
	return err
}

// WaitFor polls every 50ms until n messages sent to the address to (To, Cc or
// Bcc; case-insensitive) are there, and returns them oldest first. It fails
// the test when timeout passes first (or the test's deadline, whichever is
// sooner), and when more than n are there: a duplicate send is a bug.
func (s *Server) WaitFor(t testing.TB, to string, n int, timeout time.Duration) []Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			var c2 context.CancelFunc
			ctx, c2 = context.WithDeadline(ctx, dl.Add(-time.Second))
			defer c2()
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var all []Summary
	var lastErr error
	for {
		var err error
		all, err = s.Messages(ctx)
		if err == nil {
			var got []Summary
			for _, m := range all {
				if m.SentTo(to) {
					got = append(got, m)
				}
			}
			switch {
			case len(got) == n:
				return got
			case len(got) > n:
				t.Fatalf("mailpit: want %d message(s) to %s, got %d:\n%s", n, to, len(got), describe(got))
				return nil
			}
		} else if ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				t.Fatalf("mailpit: %d message(s) to %s not there after %v (last API error: %v); the mailbox:\n%s", n, to, timeout, lastErr, describe(all))
			}
			t.Fatalf("mailpit: %d message(s) to %s not there after %v; the mailbox:\n%s", n, to, timeout, describe(all))
			return nil
		case <-tick.C:
		}
	}
}

func describe(ms []Summary) string {
	if len(ms) == 0 {
		return "  (empty)"
	}
	var b strings.Builder
	for _, m := range ms {
		var to []string
		for _, r := range m.Recipients() {
			to = append(to, r.Address)
		}
		fmt.Fprintf(&b, "  %s %s -> %s: %q\n", m.Created.Format(time.RFC3339Nano), m.From.Address, strings.Join(to, ", "), m.Subject)
	}
	return b.String()
}

func (s *Server) getJSON(ctx context.Context, path string, v any) error {
	body, err := s.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("mailpit: GET %s: %w", path, err)
	}
	return nil
}

func (s *Server) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mailpit: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("mailpit: %s %s: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s %s", ErrNotFound, method, path)
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("mailpit: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	return data, nil
}
