package mailpit_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
)

const (
	from    = "noreply@partnerops.test"
	to      = "zoe@example.test"
	cc      = "ops@example.test"
	hidden  = "audit@example.test" // envelope only: Mailpit records it as Bcc
	subject = "Invitation à rejoindre Ünïcorn — accept ✓"
	text    = "Bonjour Zoë,\r\n\r\nAccept and continue: http://127.0.0.1/accept?t=abc\r\n"
	html    = "<p>Bonjour Zoë,</p><p><a href=\"http://127.0.0.1/accept?t=abc\">Accept and continue</a></p>"
)

// message builds a multipart/alternative message: a quoted-printable text
// part and a base64 HTML part, a UTF-8 subject in an RFC 2047 encoded word.
func message(t *testing.T, msgID string) []byte {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)

	pw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		t.Fatal(err)
	}
	qp := quotedprintable.NewWriter(pw)
	if _, err := qp.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := qp.Close(); err != nil {
		t.Fatal(err)
	}

	pw, err = mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/html; charset=utf-8"},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write([]byte(base64.StdEncoding.EncodeToString([]byte(html)))); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}

	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\n", (&mail.Address{Name: "Partner Ops", Address: from}).String())
	fmt.Fprintf(&msg, "To: %s\r\n", (&mail.Address{Name: "Zoë Example", Address: to}).String())
	fmt.Fprintf(&msg, "Cc: %s\r\n", cc)
	fmt.Fprintf(&msg, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&msg, "Message-ID: <%s>\r\n", msgID)
	fmt.Fprintf(&msg, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	msg.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&msg, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", mw.Boundary())
	msg.Write(body.Bytes())
	return msg.Bytes()
}

// send sends msg the way the operator does: SMTP AUTH PLAIN, then the
// message, to To, Cc and an envelope-only recipient.
func send(t *testing.T, s *mailpit.Server, msg []byte) {
	t.Helper()
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("partnerops.test"); err != nil {
		t.Fatal(err)
	}
	if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(" "+mechs+" ", " PLAIN ") {
		t.Fatalf("Mailpit does not offer AUTH PLAIN without TLS (AUTH %q)", mechs)
	}
	// PlainAuth sends credentials without TLS only to localhost/127.0.0.1;
	// Mailpit accepts any (--smtp-auth-accept-any, --smtp-auth-allow-insecure).
	if err := c.Auth(smtp.PlainAuth("", "invite-user", "s3cret", s.SMTPHost)); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{to, cc, hidden} {
		if err := c.Rcpt(rcpt); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestMailpit(t *testing.T) {
	s := mailpit.Start(t)
	if s.SMTPHost != "127.0.0.1" || s.SMTPPort == 0 || !strings.HasPrefix(s.APIURL, "http://127.0.0.1:") {
		t.Fatalf("not on loopback: %+v", s)
	}
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	msgID := fmt.Sprintf("%d.invite@partnerops.test", time.Now().UnixNano())
	send(t, s, message(t, msgID))

	// WaitFor and Messages.
	got := s.WaitFor(t, "ZOE@example.test", 1, 10*time.Second)
	sum := got[0]
	if sum.ID == "" {
		t.Error("Summary.ID is empty")
	}
	if sum.MessageID != msgID {
		t.Errorf("Summary.MessageID = %q, want %q", sum.MessageID, msgID)
	}
	if sum.Subject != subject {
		t.Errorf("Summary.Subject = %q, want %q (decoded)", sum.Subject, subject)
	}
	if sum.From.Address != from || sum.From.Name != "Partner Ops" {
		t.Errorf("Summary.From = %+v", sum.From)
	}
	if len(sum.To) != 1 || sum.To[0].Address != to || sum.To[0].Name != "Zoë Example" {
		t.Errorf("Summary.To = %+v", sum.To)
	}
	if len(sum.Cc) != 1 || sum.Cc[0].Address != cc {
		t.Errorf("Summary.Cc = %+v", sum.Cc)
	}
	if len(sum.Bcc) != 1 || sum.Bcc[0].Address != hidden {
		t.Errorf("Summary.Bcc = %+v, want the envelope-only recipient", sum.Bcc)
	}
	if sum.Created.Before(before) || sum.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("Summary.Created = %v, not about now", sum.Created)
	}
	for _, rcpt := range []string{cc, hidden} {
		if w := s.WaitFor(t, rcpt, 1, 5*time.Second); w[0].ID != sum.ID {
			t.Errorf("WaitFor(%s) = %s, want %s", rcpt, w[0].ID, sum.ID)
		}
	}
	all, err := s.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != sum.ID {
		t.Fatalf("Messages = %+v, want just %s", all, sum.ID)
	}

	// Message.
	m, err := s.Message(ctx, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != sum.ID || m.MessageID != msgID || m.Subject != subject || m.From.Address != from {
		t.Errorf("Message = ID %q MessageID %q Subject %q From %+v", m.ID, m.MessageID, m.Subject, m.From)
	}
	if len(m.To) != 1 || m.To[0].Address != to {
		t.Errorf("Message.To = %+v", m.To)
	}
	if m.ReturnPath != from {
		t.Errorf("Message.ReturnPath = %q, want the envelope sender %q", m.ReturnPath, from)
	}
	if want := strings.ReplaceAll(text, "\r\n", "\n"); strings.TrimSpace(strings.ReplaceAll(m.Text, "\r\n", "\n")) != strings.TrimSpace(want) {
		t.Errorf("Message.Text = %q, want %q", m.Text, want)
	}
	if strings.TrimSpace(m.HTML) != html {
		t.Errorf("Message.HTML = %q, want %q", m.HTML, html)
	}
	if v := m.Headers["Message-Id"]; len(v) != 1 || v[0] != "<"+msgID+">" {
		t.Errorf(`Message.Headers["Message-Id"] = %q, want ["<%s>"]`, v, msgID)
	}
	if v := m.Header("MESSAGE-ID"); v != "<"+msgID+">" {
		t.Errorf("Message.Header(MESSAGE-ID) = %q", v)
	}
	if raw := m.Header("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("Message.Header(Subject) = %q, want the encoded word as sent", raw)
	} else if dec, err := new(mime.WordDecoder).DecodeHeader(raw); err != nil || dec != subject {
		t.Errorf("Subject header decodes to %q, %v", dec, err)
	}
	if ct := m.Header("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
		t.Errorf("Message.Header(Content-Type) = %q", ct)
	}
	if v := m.HeaderValues("cc"); len(v) != 1 || v[0] != cc {
		t.Errorf("Message.HeaderValues(cc) = %q", v)
	}

	// Raw.
	raw, err := s.Raw(ctx, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("Raw is not RFC 5322: %v\n%s", err, raw)
	}
	if v := parsed.Header.Get("Message-ID"); v != "<"+msgID+">" {
		t.Errorf("Raw Message-ID = %q", v)
	}
	if dec, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject")); err != nil || dec != subject {
		t.Errorf("Raw Subject decodes to %q, %v", dec, err)
	}
	_, params, err := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(parsed.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		types = append(types, p.Header.Get("Content-Type"))
	}
	if strings.Join(types, ",") != "text/plain; charset=utf-8,text/html; charset=utf-8" {
		t.Errorf("Raw parts = %q", types)
	}

	// The web UI: the inbox and the message's page are the UI's page, and
	// the script it loads is there (a Mailpit built without its UI serves a
	// blank page).
	if ok, err := s.HasWebUI(ctx); err != nil || !ok {
		t.Errorf("HasWebUI = %v, %v: this Mailpit has no web UI (hack/install-peers.sh builds it with one)", ok, err)
	}
	if want := s.APIURL + "/view/" + sum.ID; s.MessageURL(sum.ID) != want {
		t.Errorf("MessageURL = %q, want %q", s.MessageURL(sum.ID), want)
	}
	for _, u := range []string{s.InboxURL(), s.MessageURL(sum.ID)} {
		if code, page := httpGet(t, u); code != http.StatusOK || !strings.Contains(page, `<script src="/dist/app.js`) {
			t.Errorf("GET %s: %d, want 200 and the web UI's page:\n%s", u, code, page)
		}
	}

	// Unknown IDs.
	if _, err := s.Message(ctx, "no-such-id"); !errors.Is(err, mailpit.ErrNotFound) {
		t.Errorf("Message(no-such-id) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Raw(ctx, "no-such-id"); !errors.Is(err, mailpit.ErrNotFound) {
		t.Errorf("Raw(no-such-id) error = %v, want ErrNotFound", err)
	}

	// A second message to the same recipient: WaitFor(2) sees both, oldest first.
	send(t, s, message(t, "second."+msgID))
	two := s.WaitFor(t, to, 2, 10*time.Second)
	if two[0].ID != sum.ID || two[1].MessageID != "second."+msgID {
		t.Errorf("WaitFor(2) = %s/%s, %s/%s", two[0].ID, two[0].MessageID, two[1].ID, two[1].MessageID)
	}

	// DeleteAll.
	if err := s.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if all, err := s.Messages(ctx); err != nil || len(all) != 0 {
		t.Fatalf("after DeleteAll: %d messages, %v", len(all), err)
	}
}

// Two servers in one test binary are separate mailboxes.
func TestMailpitIsolated(t *testing.T) {
	t.Parallel()
	a, b := mailpit.Start(t), mailpit.Start(t)
	if a.SMTPPort == b.SMTPPort || a.APIURL == b.APIURL {
		t.Fatalf("same ports: %+v %+v", a, b)
	}
	send(t, a, message(t, "isolated@partnerops.test"))
	a.WaitFor(t, to, 1, 10*time.Second)
	if all, err := b.Messages(t.Context()); err != nil || len(all) != 0 {
		t.Fatalf("the other server has %d messages, %v", len(all), err)
	}
}

// httpGet GETs u on loopback, without a proxy, and returns the status code
// and the body.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
