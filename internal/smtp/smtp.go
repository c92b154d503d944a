package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
	"k8s.io/utils/clock"

	"github.com/partnerops/partnerops/internal/config"
)

// Client sends messages through one SMTP server with github.com/wneessen/go-mail.
// It is safe for concurrent use: each Send opens its own connection, reads
// the credentials afresh, sends one message and quits. Invitations are few
// and rate-limited, so a connection pool would buy nothing but stale
// connections and credentials.
type Client struct {
	host     string
	port     int
	security string
	timeout  time.Duration
	creds    Credentials
	tls      *tls.Config
	clock    clock.PassiveClock
}

var _ Sender = (*Client)(nil)

// Option changes how New builds a Client.
type Option func(*Client)

// WithTLSConfig sets the TLS configuration for STARTTLS and implicit TLS,
// for instance RootCAs that trust a private or test certificate authority.
// The configuration is copied; ServerName defaults to the configured host
// and the minimum version is raised to TLS 1.2.
func WithTLSConfig(c *tls.Config) Option {
	return func(s *Client) {
		if c != nil {
			s.tls = c.Clone()
		}
	}
}

// WithClock sets the clock that dates messages (the Date header).
func WithClock(c clock.PassiveClock) Option {
	return func(s *Client) {
		if c != nil {
			s.clock = c
		}
	}
}

// Default ports for each security mode (see docs/configuration.md).
const (
	defaultPortSTARTTLS = 587
	defaultPortTLS      = 465
	defaultPortNone     = 25
)

// New returns a Sender for the mail server in cfg. creds gives the login
// at each send; nil means no authentication. Unset fields take the defaults
// of docs/configuration.md: security starttls, the port of the security
// mode, a timeout of 30s.
//
// Security "starttls" requires STARTTLS (a server that does not offer it is
// an error, never a fallback to clear text), "tls" speaks TLS from the first
// byte, and "none" never encrypts (for a relay on the same host only).
func New(cfg config.SMTP, creds Credentials, opts ...Option) (*Client, error) {
	s := &Client{
		host:     cfg.Host,
		port:     cfg.Port,
		security: cfg.Security,
		timeout:  cfg.Timeout.Duration,
		creds:    creds,
		clock:    clock.RealClock{},
	}
	if s.host == "" || strings.ContainsAny(s.host, " /:@") {
		return nil, fmt.Errorf("smtp.host %q must be a host name or IP address, without scheme or port", cfg.Host)
	}
	if s.security == "" {
		s.security = config.SMTPSecuritySTARTTLS
	}
	defaultPort := map[string]int{
		config.SMTPSecuritySTARTTLS: defaultPortSTARTTLS,
		config.SMTPSecurityTLS:      defaultPortTLS,
		config.SMTPSecurityNone:     defaultPortNone,
	}[s.security]
	if defaultPort == 0 {
		return nil, fmt.Errorf("smtp.security %q must be one of starttls, tls or none", cfg.Security)
	}
	if s.port == 0 {
		s.port = defaultPort
	}
	if s.port < 1 || s.port > 65535 {
		return nil, fmt.Errorf("smtp.port %d must be from 1 to 65535", cfg.Port)
	}
	if s.timeout <= 0 {
		s.timeout = config.DefaultSMTPTimeout
	}
	for _, o := range opts {
		o(s)
	}
	if s.tls == nil {
		s.tls = &tls.Config{}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = s.host
	}
	s.tls.MinVersion = max(s.tls.MinVersion, tls.VersionTLS12)
	return s, nil
}

// Send delivers m in one SMTP session. ctx bounds the whole session: when it
// ends, the connection is closed at once. Each step also has the configured
// timeout: one for connecting, TLS and AUTH together, one for the mail
// transaction.
//
// A 5xx reply to RCPT TO gives ErrRecipientRejected, unless the reply says
// the fault is ours rather than the address's (see recipientAtFault). Every
// other failure to deliver gives ErrTemporary, a 5xx reply at DATA included:
// it refuses the content or our sending domain (spam or policy filter,
// size, SPF/DKIM), which is not the recipient's fault and is fixed on our
// side, after which the retry goes through. An invalid m gives
// ErrInvalidMessage without connecting.
func (s *Client) Send(ctx context.Context, m *Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	msg, err := s.build(m)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrTemporary, context.Cause(ctx))
	}

	var auth *plainOrLogin
	var sec *secrets // what error texts must never show
	if s.creds != nil {
		user, pass, err := s.creds(ctx)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTemporary, err) // the error says which Secret
		}
		if user == "" {
			return fmt.Errorf("%w: the SMTP credentials have an empty username", ErrTemporary)
		}
		auth = &plainOrLogin{user: user, pass: pass, host: s.host}
		sec = newSecrets(user, pass)
	}

	conns := &connTracker{}
	defer conns.close()
	stop := context.AfterFunc(ctx, conns.close)
	defer stop()

	client, err := gomail.NewClient(s.host, s.clientOptions(conns, auth)...)
	if err != nil {
		return fmt.Errorf("%w: configuring the SMTP client: %w", ErrTemporary, err)
	}
	session, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		stage := StageConnect
		if auth != nil && auth.started {
			stage = StageAuth
		}
		return s.sessionError(ctx, stage, err, sec)
	}
	defer func() { _ = client.CloseWithSMTPClient(session) }()

	err = client.SendWithSMTPClient(session, msg)
	if msg.IsDelivered() {
		// The server took the message (250 after DATA): whatever happens
		// next (QUIT failing, say) must not make the caller send it again.
		return nil
	}
	if err == nil {
		return fmt.Errorf("%w: the server did not confirm the message", ErrTemporary)
	}
	return s.sendError(ctx, err, m, sec)
}

func (s *Client) clientOptions(conns *connTracker, auth *plainOrLogin) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(s.dialer(conns)),
		gomail.WithoutNoop(), // a fresh connection needs no liveness check
		gomail.WithoutRset(), // one message per connection: QUIT follows
	}
	switch s.security {
	case config.SMTPSecurityTLS:
		// The dialer does the TLS handshake; WithSSL tells go-mail the
		// connection is already encrypted, so it does not try STARTTLS.
		opts = append(opts, gomail.WithSSL())
	case config.SMTPSecurityNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if auth != nil {
		opts = append(opts, gomail.WithSMTPAuthCustom(auth))
	}
	return opts
}

// dialer connects, and for implicit TLS does the handshake, so that the
// connection is known to conns and closed as soon as the Send's context ends
// (go-mail itself only watches the context while dialing).
func (s *Client) dialer(conns *connTracker) gomail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if !conns.track(conn) {
			return nil, net.ErrClosed
		}
		if s.security != config.SMTPSecurityTLS {
			return conn, nil
		}
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		return tc, nil
	}
}

// build turns m into a go-mail message: multipart/alternative with the
// text part first (clients show the last part they understand), UTF-8,
// quoted-printable, and exactly m.MessageID.
func (s *Client) build(m *Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent(),
	)
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("From: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("To: %w", err)
	}
	msg.Subject(m.Subject)
	// go-mail adds the angle brackets.
	msg.SetMessageIDWithValue(strings.TrimSuffix(strings.TrimPrefix(m.MessageID, "<"), ">"))
	msg.SetDateWithValue(s.clock.Now())
	if m.Locale != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, m.Locale)
	}
	// RFC 3834: a machine wrote this; auto-responders should stay quiet.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// sessionError classifies a failure before the mail transaction: connecting,
// TLS, the greeting, EHLO, STARTTLS or AUTH. All are temporary: none is
// about the recipient. Every text that comes from the server or the client
// library, a reply or not, is redacted of sec before it is cut (see
// oneLine): a server can echo the AUTH exchange, and go-mail's LOGIN puts
// an unexpected challenge, decoded, in its error.
func (s *Client) sessionError(ctx context.Context, stage Stage, err error, sec *secrets) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s interrupted: %w", ErrTemporary, stage, context.Cause(ctx))
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		enhanced, text := splitReply(tp.Msg, sec)
		return fmt.Errorf("%w: %w", ErrTemporary, newReplyError(stage, tp.Code, enhanced, text, err))
	}
	if stage == StageAuth {
		return fmt.Errorf("%w: %s with %s: %w", ErrTemporary, stage, net.JoinHostPort(s.host, strconv.Itoa(s.port)), redactErr(err, sec))
	}
	return fmt.Errorf("%w: connecting to %s: %w", ErrTemporary, net.JoinHostPort(s.host, strconv.Itoa(s.port)), redactErr(err, sec))
}

// sendError classifies a failure of the mail transaction from go-mail's
// SendError: its Reason is the step, ErrorCode and EnhancedStatusCode the
// reply. Like sessionError, it redacts sec from every text it keeps.
func (s *Client) sendError(ctx context.Context, err error, m *Message, sec *secrets) error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: %w", ErrTemporary, redactErr(err, sec))
	}
	var stage Stage
	switch se.Reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		// validate and build rule these out; if go-mail still refuses,
		// the message is what needs fixing.
		return fmt.Errorf("%w: %w", ErrInvalidMessage, redactErr(err, sec))
	case gomail.ErrSMTPMailFrom:
		stage = StageMailFrom
	case gomail.ErrSMTPRcptTo:
		stage = StageRcptTo
	case gomail.ErrSMTPData, gomail.ErrWriteContent, gomail.ErrSMTPDataClose:
		stage = StageData
	default:
		stage = StageConnect
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s interrupted: %w", ErrTemporary, stage, context.Cause(ctx))
	}
	code := se.ErrorCode()
	if code == 0 {
		// No reply: the connection broke or timed out.
		return fmt.Errorf("%w: %s: %w", ErrTemporary, stage, redactErr(err, sec))
	}
	enhanced, text := splitReply(replyText(se, code, m), sec)
	if e := se.EnhancedStatusCode(); e != "" {
		enhanced = e
	}
	reply := newReplyError(stage, code, enhanced, text, err)
	if stage == StageRcptTo && recipientAtFault(code, enhanced) {
		return fmt.Errorf("%w: %w", ErrRecipientRejected, reply)
	}
	return fmt.Errorf("%w: %w", ErrTemporary, reply)
}

// newReplyError returns the reply, text already redacted, read from err. The
// client library's error stays under it for errors.Is and errors.As, but
// reads as the reply: its own text quotes the server's words unredacted,
// escaped and with the status codes of a multi-line reply between its
// lines, where no redaction can be sure to find a secret.
func newReplyError(stage Stage, code int, enhanced, text string, err error) *ReplyError {
	e := &ReplyError{Stage: stage, Code: code, EnhancedCode: enhanced, Message: text}
	e.err = &redactedError{msg: e.Error(), err: err}
	return e
}

// recipientAtFault tells whether a reply to RCPT TO refuses the address
// itself, for good: a 5xx reply, unless the reply code or the RFC 3463
// status code puts the fault on our side of the session. Those are
// authentication (530, 535, 538 and x.7.8 to x.7.11), commands the server
// did not understand or expect (500, 502, 503, 504), the sender's address
// (x.1.7, x.1.8), the server itself (x.3.x) and protocol errors (x.5.x,
// where Postfix puts a refused HELO name). Retrying those is right: nothing
// is wrong with the recipient. Other 5xx replies, 550, 551, 552, 553 and 554
// among them, are the address's.
func recipientAtFault(code int, enhanced string) bool {
	if code < 500 || code > 599 {
		return false
	}
	switch code {
	case 500, 502, 503, 504, 530, 535, 538:
		return false
	}
	parts := strings.Split(enhanced, ".")
	if len(parts) != 3 {
		return true
	}
	subject, _ := strconv.Atoi(parts[1])
	detail, _ := strconv.Atoi(parts[2])
	switch {
	case subject == 1 && (detail == 7 || detail == 8):
		return false
	case subject == 3, subject == 5:
		return false
	case subject == 7 && detail >= 8 && detail <= 11:
		return false
	}
	return true
}

// replyText digs the server's text out of a SendError, which does not expose
// it. go-mail writes "<reason>: <reply>[, ...]" where <reply> is a
// net/textproto.Error, written as `550 "text"` with the text quoted by
// strconv.Quote; unquoting gives it back exactly, commas and line breaks
// included. Anything else gives no text: the code is still known.
func replyText(se *gomail.SendError, code int, m *Message) string {
	s := strings.TrimSpace(strings.TrimPrefix(se.Error(), se.Reason.String()+":"))
	s, ok := strings.CutPrefix(s, fmt.Sprintf("%03d ", code))
	if !ok {
		return ""
	}
	if q, err := strconv.QuotedPrefix(s); err == nil {
		text, _ := strconv.Unquote(q)
		return text
	}
	// An unquoted reply (older Go): up to go-mail's own suffixes.
	s, _, _ = strings.Cut(s, ", affected recipient(s): ")
	s, _, _ = strings.Cut(s, ", affected message ID: ")
	return s
}

var enhancedPrefix = regexp.MustCompile(`^([245]\.[0-9]{1,3}\.[0-9]{1,3})(\s+|$)`)

// splitReply separates the RFC 3463 status code that starts the lines of a
// reply (servers put it on every line, or on the last only) from the text,
// and joins the lines into one, redacted of sec (see oneLine). The reply is
// redacted once before the codes are taken off too: a secret that starts
// a line with what looks like a status code would otherwise lose that
// start and no longer match, leaving the rest of it.
func splitReply(reply string, sec *secrets) (enhanced, text string) {
	lines := strings.Split(sec.redact(strings.ToValidUTF8(reply, "\uFFFD")), "\n")
	for i, line := range lines {
		if m := enhancedPrefix.FindStringSubmatch(line); m != nil {
			enhanced, lines[i] = m[1], line[len(m[0]):]
		}
	}
	return enhanced, oneLine(strings.Join(lines, "\n"), sec)
}

const maxReplyText = 300

// oneLine makes server text fit a condition message: one line, printable,
// with the secrets in sec redacted, at most maxReplyText characters.
//
// The order matters. The cut comes last: a cut through a secret leaves a
// prefix that no longer matches it, so redacting after the cut would let
// that prefix through. Redaction comes after the cleanup, on the text as it
// will be shown: cleanup turns control characters and line breaks into
// single spaces, so a secret holding spaces or control characters, or split
// by them (over the lines of a multi-line reply, say), is no longer spelled
// as it was sent. Redaction therefore matches a secret's runes with any
// ignorable runes (spaces, control and format characters) between them,
// which is also what makes redacting before the cleanup unnecessary:
// nothing the cleanup changes is a rune redaction looks at.
func oneLine(s string, sec *secrets) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return isLineOrControl(r) || r == ' '
	}), " ")
	s = sec.redact(s)
	if utf8.RuneCountInString(s) > maxReplyText {
		s = string([]rune(s)[:maxReplyText-1]) + "…"
	}
	return s
}

// plainOrLogin authenticates with PLAIN, else LOGIN, whichever the server
// offers. go-mail's SMTPAuthAutoDiscover cannot be used: with our own dialer
// go-mail does not know an implicit-TLS connection is encrypted, and
// discovery then refuses PLAIN and LOGIN. Like go-mail's own PLAIN and
// LOGIN, it sends the password only over TLS or to localhost.
type plainOrLogin struct {
	user, pass, host string
	started          bool // AUTH began: a failure from here on is the login's
	next             gosmtp.Auth
}

// Start picks the mechanism from what the server offers.
func (a *plainOrLogin) Start(server *gosmtp.ServerInfo) (string, []byte, error) {
	a.started = true
	offers := func(mech string) bool {
		return slices.ContainsFunc(server.Auth, func(s string) bool { return strings.EqualFold(s, mech) })
	}
	switch {
	case offers("PLAIN"):
		a.next = gosmtp.PlainAuth("", a.user, a.pass, a.host, false)
	case offers("LOGIN"):
		a.next = gosmtp.LoginAuth(a.user, a.pass, a.host, false)
	case len(server.Auth) == 0:
		return "", nil, errors.New("the server offers no authentication, but credentials are configured")
	default:
		return "", nil, fmt.Errorf("the server offers neither PLAIN nor LOGIN authentication (it offers %s)", strings.Join(server.Auth, " "))
	}
	return a.next.Start(server)
}

// Next answers the server's challenges with the chosen mechanism.
func (a *plainOrLogin) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.next.Next(fromServer, more)
}

// connTracker remembers the raw connection of one Send so that it can be
// closed from another goroutine when the context ends.
type connTracker struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

// track records conn, or closes it and reports false when the tracker is
// already closed.
func (t *connTracker) track(conn net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = conn.Close()
		return false
	}
	t.conn = conn
	return true
}

func (t *connTracker) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.conn != nil {
		_ = t.conn.Close()
	}
}
