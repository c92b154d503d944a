package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	smtpd "github.com/emersion/go-smtp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

const (
	testUser = "partnerops"
	testPass = "s3cret-Pa55"
)

// testMessage is a realistic invitation; mods change it.
func testMessage(mods ...func(*Message)) *Message {
	m := &Message{
		From:      "Acme Partners <partners@acme.example>",
		To:        "jane@globex.example",
		Subject:   "Invitación de Acme — Éditeur",
		Text:      "Hola:\n\nAcme le invita a colaborar con su equipo.\nUna línea muy larga para que el codificador quoted-printable tenga que partirla en varias líneas: = ñ € ✓ " + strings.Repeat("é", 60) + "\n",
		HTML:      "<!DOCTYPE html>\n<html lang=\"es\"><body><p>Hola:</p><p>Acme le invita a colaborar — <a href=\"https://partners.acme.example/invitations/accept?token=abc&amp;x=1\">Aceptar y continuar</a></p></body></html>\n",
		MessageID: "<invitation.0f3c2a6e-9d1b-4b7a-8c55-3f0e2a1b9c7d.2@acme.example>",
		Locale:    "es",
	}
	for _, mod := range mods {
		mod(m)
	}
	return m
}

// newSender returns a Client for a test server on 127.0.0.1 that trusts the
// test certificate.
func newSender(t testing.TB, port int, security string, creds Credentials, opts ...Option) *Client {
	t.Helper()
	cfg := config.SMTP{
		Host:     "127.0.0.1",
		Port:     port,
		Security: security,
		From:     "Acme Partners <partners@acme.example>",
		Timeout:  config.Duration{Duration: 5 * time.Second},
	}
	opts = append([]Option{WithTLSConfig(&tls.Config{RootCAs: mustCA(t).pool})}, opts...)
	s, err := New(cfg, creds, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func staticCreds(user, pass string) Credentials {
	return func(context.Context) (string, string, error) { return user, pass, nil }
}

func withTimeout(d time.Duration) Option { return func(s *Client) { s.timeout = d } }

// parsed is a received message taken apart the way a mail client would.
type parsed struct {
	header     mail.Header
	textHeader map[string]string
	text       string
	htmlHeader map[string]string
	html       string
	parts      int
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading the message: %v\n%s", err, data)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	p := parsed{header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		p.parts++
		h := map[string]string{
			"Content-Type":              part.Header.Get("Content-Type"),
			"Content-Transfer-Encoding": part.Header.Get("Content-Transfer-Encoding"),
		}
		var body []byte
		if strings.EqualFold(h["Content-Transfer-Encoding"], "quoted-printable") {
			body, err = io.ReadAll(quotedprintable.NewReader(part))
		} else {
			body, err = io.ReadAll(part)
		}
		if err != nil {
			t.Fatalf("decoding a part: %v", err)
		}
		content := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch p.parts {
		case 1:
			p.textHeader, p.text = h, content
		case 2:
			p.htmlHeader, p.html = h, content
		}
	}
	return p
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("decoding header %q: %v", v, err)
	}
	return s
}

func TestSendDeliversTheMessageAsComposed(t *testing.T) {
	srv := startServer(t, serverOptions{startTLS: true, user: testUser, pass: testPass})
	now := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	s := newSender(t, srv.port, config.SMTPSecuritySTARTTLS, staticCreds(testUser, testPass), WithClock(clocktesting.NewFakePassiveClock(now)))
	m := testMessage()

	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("the server received %d messages, want 1", len(got))
	}
	r := got[0]
	if r.From != "partners@acme.example" || len(r.To) != 1 || r.To[0] != "jane@globex.example" {
		t.Errorf("envelope = MAIL FROM %q, RCPT TO %q; want partners@acme.example, [jane@globex.example]", r.From, r.To)
	}
	if !r.TLS {
		t.Error("the message travelled without TLS")
	}
	if r.AuthUser != testUser {
		t.Errorf("authenticated as %q, want %q", r.AuthUser, testUser)
	}

	p := parse(t, r.Data)
	if ids := p.header["Message-Id"]; len(ids) != 1 || ids[0] != m.MessageID {
		t.Errorf("Message-ID = %q, want exactly [%q]", ids, m.MessageID)
	}
	if subj := decodeHeader(t, p.header.Get("Subject")); subj != m.Subject {
		t.Errorf("Subject = %q, want %q", subj, m.Subject)
	}
	if raw := p.header.Get("Subject"); !strings.HasPrefix(strings.ToLower(raw), "=?utf-8?") {
		t.Errorf("raw Subject %q is not an RFC 2047 UTF-8 encoded word", raw)
	}
	from, err := mail.ParseAddress(p.header.Get("From"))
	if err != nil || from.Name != "Acme Partners" || from.Address != "partners@acme.example" {
		t.Errorf("From = %q (%v), want Acme Partners <partners@acme.example>", p.header.Get("From"), err)
	}
	to, err := p.header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != m.To {
		t.Errorf("To = %q (%v), want %s", p.header.Get("To"), err, m.To)
	}
	if cc := p.header.Get("Cc") + p.header.Get("Bcc"); cc != "" {
		t.Errorf("unexpected Cc/Bcc %q", cc)
	}
	if lang := p.header.Get("Content-Language"); lang != "es" {
		t.Errorf("Content-Language = %q, want es", lang)
	}
	if date, err := p.header.Date(); err != nil || !date.Equal(now) {
		t.Errorf("Date = %q (%v), want %s", p.header.Get("Date"), err, now)
	}
	if p.parts != 2 {
		t.Fatalf("multipart/alternative has %d parts, want 2", p.parts)
	}
	for _, part := range []struct {
		name, wantType string
		header         map[string]string
		got, want      string
	}{
		{"first", "text/plain", p.textHeader, p.text, m.Text},
		{"second", "text/html", p.htmlHeader, p.html, m.HTML},
	} {
		mediaType, params, _ := mime.ParseMediaType(part.header["Content-Type"])
		if mediaType != part.wantType || !strings.EqualFold(params["charset"], "utf-8") {
			t.Errorf("%s part Content-Type = %q, want %s; charset=UTF-8", part.name, part.header["Content-Type"], part.wantType)
		}
		if !strings.EqualFold(part.header["Content-Transfer-Encoding"], "quoted-printable") {
			t.Errorf("%s part Content-Transfer-Encoding = %q, want quoted-printable", part.name, part.header["Content-Transfer-Encoding"])
		}
		if strings.TrimRight(part.got, "\n") != strings.TrimRight(part.want, "\n") {
			t.Errorf("%s part decodes to\n%q\nwant\n%q", part.name, part.got, part.want)
		}
	}
	for i, line := range bytes.Split(r.Data, []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line %d of the message is %d bytes long, over RFC 5322's 998", i+1, len(line))
		}
	}
}

func TestSendTextOnly(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	if err := s.Send(t.Context(), testMessage(func(m *Message) { m.HTML = "" })); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(srv.Received()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if mt, _, _ := mime.ParseMediaType(msg.Header.Get("Content-Type")); mt != "text/plain" {
		t.Errorf("Content-Type = %q, want text/plain for a message without HTML", msg.Header.Get("Content-Type"))
	}
}

// sendCase is a send of testMessage to a test server run with server, by a
// client with security and creds (untrusted: one that does not trust the
// test certificate), and what should come of it.
type sendCase struct {
	server    serverOptions
	security  string
	creds     Credentials
	untrusted bool
	wantTLS   bool
	wantErr   error
	wantStage Stage
	wantCode  int
}

// send starts the server and sends the message as tc says.
func (tc sendCase) send(t *testing.T) (*testServer, error) {
	t.Helper()
	srv := startServer(t, tc.server)
	var opts []Option
	if tc.untrusted {
		opts = append(opts, WithTLSConfig(&tls.Config{}))
	}
	return srv, newSender(t, srv.port, tc.security, tc.creds, opts...).Send(t.Context(), testMessage())
}

func TestSendSecurityModes(t *testing.T) {
	tests := map[string]sendCase{
		"starttls with a server that offers it": {
			server: serverOptions{startTLS: true}, security: config.SMTPSecuritySTARTTLS, wantTLS: true,
		},
		"starttls is mandatory: a server without it is refused": {
			server: serverOptions{}, security: config.SMTPSecuritySTARTTLS, wantErr: ErrTemporary,
		},
		"starttls with an untrusted certificate is refused": {
			server: serverOptions{startTLS: true}, security: config.SMTPSecuritySTARTTLS, untrusted: true, wantErr: ErrTemporary,
		},
		"implicit tls": {
			server: serverOptions{implicitTLS: true}, security: config.SMTPSecurityTLS, wantTLS: true,
		},
		"implicit tls with an untrusted certificate is refused": {
			server: serverOptions{implicitTLS: true}, security: config.SMTPSecurityTLS, untrusted: true, wantErr: ErrTemporary,
		},
		"implicit tls against a plain server fails": {
			server: serverOptions{}, security: config.SMTPSecurityTLS, wantErr: ErrTemporary,
		},
		"none sends in clear": {
			server: serverOptions{}, security: config.SMTPSecurityNone,
		},
		"none never upgrades, even when the server offers STARTTLS": {
			server: serverOptions{startTLS: true}, security: config.SMTPSecurityNone,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, err := tc.send(t)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Send = %v, want %v", err, tc.wantErr)
			}
			got := srv.Received()
			if tc.wantErr != nil {
				if len(got) != 0 {
					t.Errorf("the server received %d messages after a failed send", len(got))
				}
				return
			}
			if len(got) != 1 || got[0].TLS != tc.wantTLS {
				t.Errorf("received %d messages, TLS=%v; want 1, TLS=%v", len(got), len(got) == 1 && got[0].TLS, tc.wantTLS)
			}
		})
	}
}

func TestSendAuthentication(t *testing.T) {
	tests := map[string]sendCase{
		"PLAIN over STARTTLS": {
			server:   serverOptions{startTLS: true, user: testUser, pass: testPass},
			security: config.SMTPSecuritySTARTTLS, creds: staticCreds(testUser, testPass),
		},
		"PLAIN over implicit TLS": {
			server:   serverOptions{implicitTLS: true, user: testUser, pass: testPass},
			security: config.SMTPSecurityTLS, creds: staticCreds(testUser, testPass),
		},
		"LOGIN when the server offers only LOGIN": {
			server:   serverOptions{startTLS: true, user: testUser, pass: testPass, mechanisms: []string{"LOGIN"}},
			security: config.SMTPSecuritySTARTTLS, creds: staticCreds(testUser, testPass),
		},
		"PLAIN in clear to localhost": {
			server:   serverOptions{insecureAuth: true, user: testUser, pass: testPass},
			security: config.SMTPSecurityNone, creds: staticCreds(testUser, testPass),
		},
		"a wrong password is temporary, with the server's reply": {
			server:   serverOptions{startTLS: true, user: testUser, pass: testPass},
			security: config.SMTPSecuritySTARTTLS, creds: staticCreds(testUser, "wrong-password"),
			wantErr: ErrTemporary, wantStage: StageAuth, wantCode: 535,
		},
		"no credentials for a server that requires them": {
			server:   serverOptions{startTLS: true, user: testUser, pass: testPass},
			security: config.SMTPSecuritySTARTTLS,
			wantErr:  ErrTemporary, wantStage: StageMailFrom, wantCode: 530,
		},
		"credentials for a server that offers no AUTH": {
			server:   serverOptions{startTLS: true, mechanisms: []string{}},
			security: config.SMTPSecuritySTARTTLS, creds: staticCreds(testUser, testPass),
			wantErr: ErrTemporary,
		},
		"credentials that cannot be read": {
			server:   serverOptions{startTLS: true, user: testUser, pass: testPass},
			security: config.SMTPSecuritySTARTTLS,
			creds: func(context.Context) (string, string, error) {
				return "", "", errors.New("secret partnerops-system/smtp not found")
			},
			wantErr: ErrTemporary,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv, err := tc.send(t)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if got := srv.Received(); len(got) != 1 || got[0].AuthUser != testUser {
					t.Fatalf("received %+v, want one message from an authenticated %q", got, testUser)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Send = %v, want %v", err, tc.wantErr)
			}
			if errors.Is(err, ErrRecipientRejected) || errors.Is(err, ErrInvalidMessage) {
				t.Errorf("Send = %v wraps more than one sentinel", err)
			}
			if strings.Contains(err.Error(), testPass) || strings.Contains(err.Error(), "wrong-password") {
				t.Errorf("the error %q shows the password", err)
			}
			if tc.wantCode != 0 {
				var se *ReplyError
				if !errors.As(err, &se) || se.Code != tc.wantCode || se.Stage != tc.wantStage {
					t.Errorf("Send = %v, want a ReplyError %d at %s", err, tc.wantCode, tc.wantStage)
				}
			}
			if got := srv.Received(); len(got) != 0 {
				t.Errorf("the server received %d messages after a failed login", len(got))
			}
		})
	}
}

func TestSendReadsCredentialsAtEachSend(t *testing.T) {
	srv := startServer(t, serverOptions{startTLS: true, user: testUser, pass: testPass})
	var mu sync.Mutex
	pass := "old-password"
	s := newSender(t, srv.port, config.SMTPSecuritySTARTTLS, func(context.Context) (string, string, error) {
		mu.Lock()
		defer mu.Unlock()
		return testUser, pass, nil
	})
	if err := s.Send(t.Context(), testMessage()); !errors.Is(err, ErrTemporary) {
		t.Fatalf("Send with the old password = %v, want ErrTemporary", err)
	}
	mu.Lock()
	pass = testPass // the Secret was rotated
	mu.Unlock()
	if err := s.Send(t.Context(), testMessage()); err != nil {
		t.Fatalf("Send after rotation: %v", err)
	}
}

func TestSendClassifiesReplies(t *testing.T) {
	type reply = smtpd.SMTPError
	code := func(c int, enh smtpd.EnhancedCode, msg string) *reply {
		return &reply{Code: c, EnhancedCode: enh, Message: msg}
	}
	tests := map[string]struct {
		server       serverOptions
		want         error
		wantStage    Stage
		wantCode     int
		wantEnhanced string
		wantText     string
	}{
		"421 at MAIL": {
			server: serverOptions{failMail: code(421, smtpd.EnhancedCode{4, 3, 2}, "Service shutting down")},
			want:   ErrTemporary, wantStage: StageMailFrom, wantCode: 421, wantEnhanced: "4.3.2", wantText: "Service shutting down",
		},
		"450 at MAIL": {
			server: serverOptions{failMail: code(450, smtpd.EnhancedCode{4, 7, 1}, "Sender greylisted, try later")},
			want:   ErrTemporary, wantStage: StageMailFrom, wantCode: 450, wantEnhanced: "4.7.1", wantText: "Sender greylisted, try later",
		},
		"451 at MAIL": {
			server: serverOptions{failMail: code(451, smtpd.EnhancedCode{4, 3, 0}, "Local error in processing")},
			want:   ErrTemporary, wantStage: StageMailFrom, wantCode: 451, wantEnhanced: "4.3.0", wantText: "Local error in processing",
		},
		"452 at MAIL": {
			server: serverOptions{failMail: code(452, smtpd.EnhancedCode{4, 3, 1}, "Insufficient system storage")},
			want:   ErrTemporary, wantStage: StageMailFrom, wantCode: 452, wantEnhanced: "4.3.1", wantText: "Insufficient system storage",
		},
		"550 at MAIL: the sender is refused, not the recipient": {
			server: serverOptions{failMail: code(550, smtpd.EnhancedCode{5, 7, 1}, "Sender address rejected: not owned by user")},
			want:   ErrTemporary, wantStage: StageMailFrom, wantCode: 550, wantEnhanced: "5.7.1", wantText: "Sender address rejected: not owned by user",
		},
		"421 at RCPT": {
			server: serverOptions{failRcpt: code(421, smtpd.EnhancedCode{4, 4, 2}, "Too many connections")},
			want:   ErrTemporary, wantStage: StageRcptTo, wantCode: 421, wantEnhanced: "4.4.2", wantText: "Too many connections",
		},
		"450 at RCPT": {
			server: serverOptions{failRcpt: code(450, smtpd.EnhancedCode{4, 2, 1}, "Mailbox busy")},
			want:   ErrTemporary, wantStage: StageRcptTo, wantCode: 450, wantEnhanced: "4.2.1", wantText: "Mailbox busy",
		},
		"451 at RCPT": {
			server: serverOptions{failRcpt: code(451, smtpd.EnhancedCode{4, 4, 3}, "Recipient domain lookup failed")},
			want:   ErrTemporary, wantStage: StageRcptTo, wantCode: 451, wantEnhanced: "4.4.3", wantText: "Recipient domain lookup failed",
		},
		"452 at RCPT": {
			server: serverOptions{failRcpt: code(452, smtpd.EnhancedCode{4, 2, 2}, "Mailbox full")},
			want:   ErrTemporary, wantStage: StageRcptTo, wantCode: 452, wantEnhanced: "4.2.2", wantText: "Mailbox full",
		},
		"550 at RCPT": {
			server: serverOptions{failRcpt: code(550, smtpd.EnhancedCode{5, 1, 1}, "No such user here")},
			want:   ErrRecipientRejected, wantStage: StageRcptTo, wantCode: 550, wantEnhanced: "5.1.1", wantText: "No such user here",
		},
		"553 at RCPT": {
			server: serverOptions{failRcpt: code(553, smtpd.EnhancedCode{5, 1, 3}, "Bad destination mailbox address syntax")},
			want:   ErrRecipientRejected, wantStage: StageRcptTo, wantCode: 553, wantEnhanced: "5.1.3", wantText: "Bad destination mailbox address syntax",
		},
		"550 at RCPT without a specific enhanced code": {
			server: serverOptions{failRcpt: code(550, smtpd.EnhancedCodeNotSet, "Mailbox unavailable")},
			want:   ErrRecipientRejected, wantStage: StageRcptTo, wantCode: 550, wantEnhanced: "5.0.0", wantText: "Mailbox unavailable",
		},
		"530 at RCPT: authentication required is ours to fix": {
			server: serverOptions{failRcpt: code(530, smtpd.EnhancedCode{5, 7, 0}, "Authentication required")},
			want:   ErrTemporary, wantStage: StageRcptTo, wantCode: 530, wantEnhanced: "5.7.0", wantText: "Authentication required",
		},
		"504 5.5.2 at RCPT: our HELO name refused (Postfix delays it to RCPT)": {
			server: serverOptions{failRcpt: code(504, smtpd.EnhancedCode{5, 5, 2}, "Helo command rejected: need fully-qualified hostname")},
			want:   ErrTemporary, wantStage: StageRcptTo, wantCode: 504, wantEnhanced: "5.5.2", wantText: "Helo command rejected: need fully-qualified hostname",
		},
		"553 5.1.8 at RCPT: our sender's domain refused": {
			server: serverOptions{failRcpt: code(553, smtpd.EnhancedCode{5, 1, 8}, "Sender address rejected: Domain not found")},
			want:   ErrTemporary, wantStage: StageRcptTo, wantCode: 553, wantEnhanced: "5.1.8", wantText: "Sender address rejected: Domain not found",
		},
		"421 at DATA": {
			server: serverOptions{failData: code(421, smtpd.EnhancedCode{4, 3, 2}, "Shutting down")},
			want:   ErrTemporary, wantStage: StageData, wantCode: 421, wantEnhanced: "4.3.2", wantText: "Shutting down",
		},
		"450 at DATA": {
			server: serverOptions{failData: code(450, smtpd.EnhancedCode{4, 7, 1}, "Try again later")},
			want:   ErrTemporary, wantStage: StageData, wantCode: 450, wantEnhanced: "4.7.1", wantText: "Try again later",
		},
		"451 at DATA": {
			server: serverOptions{failData: code(451, smtpd.EnhancedCode{4, 3, 0}, "Queue file write error")},
			want:   ErrTemporary, wantStage: StageData, wantCode: 451, wantEnhanced: "4.3.0", wantText: "Queue file write error",
		},
		"452 at DATA": {
			server: serverOptions{failData: code(452, smtpd.EnhancedCode{4, 3, 1}, "Insufficient system storage")},
			want:   ErrTemporary, wantStage: StageData, wantCode: 452, wantEnhanced: "4.3.1", wantText: "Insufficient system storage",
		},
		"554 at DATA: the content is refused, not the recipient": {
			server: serverOptions{failData: code(554, smtpd.EnhancedCode{5, 7, 1}, "Message rejected as spam")},
			want:   ErrTemporary, wantStage: StageData, wantCode: 554, wantEnhanced: "5.7.1", wantText: "Message rejected as spam",
		},
		"a multi-line reply is kept on one line": {
			server: serverOptions{failRcpt: code(550, smtpd.EnhancedCode{5, 1, 1}, "The email account that you tried to reach does not exist.\nPlease try double-checking the recipient's email address.")},
			want:   ErrRecipientRejected, wantStage: StageRcptTo, wantCode: 550, wantEnhanced: "5.1.1",
			wantText: "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address.",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, tc.server)
			s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
			err := s.Send(t.Context(), testMessage())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Send = %v, want %v", err, tc.want)
			}
			sentinels := 0
			for _, s := range []error{ErrTemporary, ErrRecipientRejected, ErrInvalidMessage} {
				if errors.Is(err, s) {
					sentinels++
				}
			}
			if sentinels != 1 {
				t.Errorf("Send = %v wraps %d sentinels, want 1", err, sentinels)
			}
			var se *ReplyError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v, want a *ReplyError inside", err)
			}
			want := ReplyError{Stage: tc.wantStage, Code: tc.wantCode, EnhancedCode: tc.wantEnhanced, Message: tc.wantText}
			got := ReplyError{Stage: se.Stage, Code: se.Code, EnhancedCode: se.EnhancedCode, Message: se.Message}
			if got != want {
				t.Errorf("ReplyError = %+v, want %+v", got, want)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("the error %q spans several lines", err)
			}
			if n := len(srv.Received()); n != 0 {
				t.Errorf("the server delivered %d messages", n)
			}
		})
	}
}

func TestSendConnectionFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		s := newSender(t, freePort(t), config.SMTPSecuritySTARTTLS, nil)
		err := s.Send(t.Context(), testMessage())
		if !errors.Is(err, ErrTemporary) {
			t.Fatalf("Send = %v, want ErrTemporary", err)
		}
		var se *ReplyError
		if errors.As(err, &se) {
			t.Errorf("Send = %v holds a ReplyError, but no server replied", err)
		}
	})

	t.Run("a server that never answers times out", func(t *testing.T) {
		port := peer.RawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }).Port
		s := newSender(t, port, config.SMTPSecuritySTARTTLS, nil, withTimeout(300*time.Millisecond))
		start := time.Now()
		err := s.Send(t.Context(), testMessage())
		if !errors.Is(err, ErrTemporary) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Send = %v, want ErrTemporary after a timeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Send took %s with a 300ms timeout", d)
		}
	})

	t.Run("cancelling the context stops a stuck send at once", func(t *testing.T) {
		port := peer.RawServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }).Port
		s := newSender(t, port, config.SMTPSecuritySTARTTLS, nil, withTimeout(time.Minute))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := s.Send(ctx, testMessage())
		if !errors.Is(err, ErrTemporary) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Send = %v, want ErrTemporary wrapping context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Send took %s after the context was cancelled at 100ms", d)
		}
	})

	t.Run("a 421 greeting", func(t *testing.T) {
		port := greetingServer(t, "421 4.3.2 mx.example.com Service not available, closing channel")
		s := newSender(t, port, config.SMTPSecuritySTARTTLS, nil)
		err := s.Send(t.Context(), testMessage())
		var se *ReplyError
		if !errors.Is(err, ErrTemporary) || !errors.As(err, &se) {
			t.Fatalf("Send = %v, want ErrTemporary with the reply", err)
		}
		if se.Stage != StageConnect || se.Code != 421 || se.EnhancedCode != "4.3.2" || se.Message != "mx.example.com Service not available, closing channel" {
			t.Errorf("ReplyError = %+v", *se)
		}
	})

	t.Run("a 554 greeting is not the recipient's fault", func(t *testing.T) {
		port := greetingServer(t, "554 No SMTP service here")
		s := newSender(t, port, config.SMTPSecurityNone, nil)
		if err := s.Send(t.Context(), testMessage()); !errors.Is(err, ErrTemporary) {
			t.Fatalf("Send = %v, want ErrTemporary", err)
		}
	})
}

// greetingServer is a server that greets with greeting and hangs up; it
// returns its port.
func greetingServer(t *testing.T, greeting string) int {
	return peer.RawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, greeting+"\r\n")
		_ = c.Close()
	}).Port
}

func TestSendRefusesHeaderInjection(t *testing.T) {
	tests := map[string]func(*Message){
		"LF in Subject":                   func(m *Message) { m.Subject = "Hello\nBcc: victim@example.com" },
		"CRLF in Subject":                 func(m *Message) { m.Subject = "Hello\r\nBcc: victim@example.com" },
		"CR in Subject":                   func(m *Message) { m.Subject = "Hello\rBcc: victim@example.com" },
		"NUL in Subject":                  func(m *Message) { m.Subject = "Hello\x00" },
		"tab in Subject":                  func(m *Message) { m.Subject = "Hello\tworld" },
		"NEL in Subject":                  func(m *Message) { m.Subject = "Hello\u0085Bcc: victim@example.com" },
		"line separator in Subject":       func(m *Message) { m.Subject = "Hello\u2028Bcc: victim@example.com" },
		"invalid UTF-8 in Subject":        func(m *Message) { m.Subject = "Hello \xff" },
		"empty Subject":                   func(m *Message) { m.Subject = "  " },
		"LF in To":                        func(m *Message) { m.To = "jane@globex.example\nBcc: victim@example.com" },
		"CRLF in To":                      func(m *Message) { m.To = "jane@globex.example\r\nBcc: victim@example.com" },
		"two addresses in To":             func(m *Message) { m.To = "jane@globex.example, victim@example.com" },
		"a display name in To":            func(m *Message) { m.To = "Jane <jane@globex.example>" },
		"angle brackets in To":            func(m *Message) { m.To = "<jane@globex.example>" },
		"not an address in To":            func(m *Message) { m.To = "jane" },
		"LF in From":                      func(m *Message) { m.From = "Acme <partners@acme.example>\nBcc: victim@example.com" },
		"CRLF in From's display name":     func(m *Message) { m.From = "\"Acme\r\nBcc: victim@example.com\" <partners@acme.example>" },
		"not an address in From":          func(m *Message) { m.From = "Acme Partners" },
		"LF in MessageID":                 func(m *Message) { m.MessageID = "<a@acme.example>\nBcc: victim@example.com" },
		"CRLF in MessageID":               func(m *Message) { m.MessageID = "<a@acme.example>\r\nBcc: victim@example.com" },
		"MessageID without brackets":      func(m *Message) { m.MessageID = "a@acme.example" },
		"MessageID with a space":          func(m *Message) { m.MessageID = "<a b@acme.example>" },
		"MessageID with two ids":          func(m *Message) { m.MessageID = "<a@acme.example> <b@acme.example>" },
		"empty MessageID":                 func(m *Message) { m.MessageID = "" },
		"LF in Locale":                    func(m *Message) { m.Locale = "en\nBcc: victim@example.com" },
		"not a language tag in Locale":    func(m *Message) { m.Locale = "en; x=1" },
		"empty Text":                      func(m *Message) { m.Text = "" },
		"invalid UTF-8 in the HTML body":  func(m *Message) { m.HTML = "<p>\xff</p>" },
		"invalid UTF-8 in the text body":  func(m *Message) { m.Text = "\xfe" },
		"a Subject longer than 998 bytes": func(m *Message) { m.Subject = strings.Repeat("a", 999) },
	}
	srv := startServer(t, serverOptions{})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			err := s.Send(t.Context(), testMessage(mod))
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("Send = %v, want ErrInvalidMessage", err)
			}
			if errors.Is(err, ErrTemporary) || errors.Is(err, ErrRecipientRejected) {
				t.Errorf("Send = %v wraps another sentinel too", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") || strings.Contains(err.Error(), "victim") {
				t.Errorf("the error %q echoes the hostile value", err)
			}
		})
	}
	if n := srv.accepts.Load(); n != 0 {
		t.Errorf("invalid messages opened %d connections to the server, want none", n)
	}
	if err := s.Send(t.Context(), nil); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send(nil) = %v, want ErrInvalidMessage", err)
	}
}

func TestSendIsSafeForConcurrentUse(t *testing.T) {
	srv := startServer(t, serverOptions{startTLS: true, user: testUser, pass: testPass})
	s := newSender(t, srv.port, config.SMTPSecuritySTARTTLS, staticCreds(testUser, testPass))
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs <- s.Send(t.Context(), testMessage(func(m *Message) {
				m.MessageID = fmt.Sprintf("<invitation.%d@acme.example>", i)
			}))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	ids := map[string]bool{}
	for _, r := range srv.Received() {
		msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		ids[msg.Header.Get("Message-Id")] = true
	}
	if len(ids) != n {
		t.Errorf("the server received %d distinct messages, want %d", len(ids), n)
	}
}

func TestNewSMTPDefaultsAndRefusals(t *testing.T) {
	tests := map[string]struct {
		cfg      config.SMTP
		wantPort int
		wantErr  bool
	}{
		"starttls defaults to 587":   {cfg: config.SMTP{Host: "smtp.example.com"}, wantPort: 587},
		"tls defaults to 465":        {cfg: config.SMTP{Host: "smtp.example.com", Security: "tls"}, wantPort: 465},
		"none defaults to 25":        {cfg: config.SMTP{Host: "localhost", Security: "none"}, wantPort: 25},
		"an explicit port is kept":   {cfg: config.SMTP{Host: "smtp.example.com", Port: 2525}, wantPort: 2525},
		"an unknown security mode":   {cfg: config.SMTP{Host: "smtp.example.com", Security: "ssl"}, wantErr: true},
		"no host":                    {cfg: config.SMTP{}, wantErr: true},
		"a host with a port":         {cfg: config.SMTP{Host: "smtp.example.com:587"}, wantErr: true},
		"a port out of range":        {cfg: config.SMTP{Host: "smtp.example.com", Port: 70000}, wantErr: true},
		"a host with a URL scheme":   {cfg: config.SMTP{Host: "smtp://smtp.example.com"}, wantErr: true},
		"a negative port is refused": {cfg: config.SMTP{Host: "smtp.example.com", Port: -1}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := New(tc.cfg, nil)
			if tc.wantErr {
				if err == nil {
					t.Fatal("New accepted a bad configuration")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.port != tc.wantPort || s.timeout != config.DefaultSMTPTimeout {
				t.Errorf("port %d, timeout %s; want %d, %s", s.port, s.timeout, tc.wantPort, config.DefaultSMTPTimeout)
			}
			if s.tls.MinVersion < tls.VersionTLS12 || s.tls.ServerName != tc.cfg.Host {
				t.Errorf("TLS config: MinVersion %x, ServerName %q", s.tls.MinVersion, s.tls.ServerName)
			}
		})
	}
}
