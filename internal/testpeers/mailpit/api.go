package mailpit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

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
	status, data, err := peer.Request(ctx, s.client, "mailpit", method, s.APIURL+path, body, "application/json", nil)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s %s", ErrNotFound, method, path)
	case status/100 != 2:
		return nil, fmt.Errorf("mailpit: %s %s: %d %s: %s", method, path, status, http.StatusText(status), data)
	}
	return data, nil
}

// Page lists limit messages from the start-th newest (the API lists the
// newest first), and how many there are in all.
func (s *Server) Page(ctx context.Context, start, limit int) (total int, page []Summary, err error) {
	var res struct {
		Total    int       `json:"total"`
		Messages []Summary `json:"messages"`
	}
	if err := s.getJSON(ctx, fmt.Sprintf("/api/v1/messages?start=%d&limit=%d", start, limit), &res); err != nil {
		return 0, nil, err
	}
	return res.Total, res.Messages, nil
}

// InboxURL is the address of Mailpit's web UI, the inbox a person opens in a
// browser.
func (s *Server) InboxURL() string { return s.APIURL + "/" }

// MessageURL is the address of one message in the web UI: the route
// /view/{id} of Mailpit's UI (server/ui-src/router), whose page the server
// serves for any path under /view/.
func (s *Server) MessageURL(id string) string { return s.APIURL + "/view/" + url.PathEscape(id) }

// webUIScript is the script of the web UI's page, which only a Mailpit built
// with its UI (as hack/install-peers.sh builds it) embeds.
const webUIScript = "/dist/app.js"

// HasWebUI tells whether this Mailpit serves its web UI. One built with `go
// install` serves the UI's page but not the script it loads: a blank page.
func (s *Server) HasWebUI(ctx context.Context) (bool, error) {
	status, _, err := peer.Request(ctx, s.client, "mailpit", http.MethodGet, s.APIURL+webUIScript, nil, "", nil)
	if err != nil {
		return false, err
	}
	return status == http.StatusOK, nil
}
