// Package smtp delivers invitation emails over SMTP. It builds the MIME
// message (multipart text and HTML, UTF-8, quoted-printable, the caller's
// Message-ID), refuses any field that could inject a header, and sorts every
// failure into the three cases the invitation controller branches on: try
// again later (ErrTemporary), give up on this address (ErrRecipientRejected),
// or fix the message (ErrInvalidMessage).
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
	"k8s.io/utils/clock"

	"github.com/partnerops/partnerops/internal/config"
)

// This file holds the session: the Client, its configuration, and one
// SMTP session per Send (dial, TLS, AUTH, the transaction). The message is
// checked and built in message.go; failures are sorted in errors.go and
// their texts redacted in redact.go.

// Sender delivers messages. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers m, or returns an error that wraps exactly one of
	// ErrTemporary, ErrRecipientRejected and ErrInvalidMessage. When the
	// mail server's reply is known, errors.As gives it as a *ReplyError.
	Send(ctx context.Context, m *Message) error
}

// Credentials gives the SMTP username and password. The caller reads them
// from a Secret at each send, so rotating them needs no restart. A nil
// Credentials means no authentication.
type Credentials func(ctx context.Context) (username, password string, err error)

// Client sends messages through one SMTP server with github.com/wneessen/go-mail.
// It is safe for concurrent use: each Send reads the credentials afresh and
// sends its message on a session kept open from an earlier message with
// the same credentials (RSET first), else on a new one (session.go), so a
// burst of invitations costs one connection, TLS handshake and login per
// many messages instead of per message.
type Client struct {
	host     string
	port     int
	security string
	timeout  time.Duration
	creds    Credentials
	tls      *tls.Config
	clock    clock.PassiveClock

	// open holds one token per open session (smtp.maxConnections): a
	// Send takes one to dial, the session gives it back when it closes.
	open chan struct{}

	mu     sync.Mutex
	idle   []*session // kept open for the next message (session.go)
	kept   chan struct{}
	closed bool
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
	conns := cfg.MaxConnections
	if conns <= 0 {
		conns = config.DefaultSMTPMaxConnections
	}
	s.open = make(chan struct{}, conns)
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

// Send delivers m on a session kept open from an earlier message (RSET
// first), else on a new one. ctx bounds this Send: when it ends, the
// connection in use is closed at once. Each step also has the configured
// timeout: one for connecting, TLS and AUTH together, one for the mail
// transaction. A kept session that breaks before the server accepted a
// sender is replaced by a new one for the same message; once the server
// took the message, Send never sends it again.
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

	for {
		kept := s.keptSignal()
		// A session kept open from an earlier message first: RSET clears
		// it and proves it alive; one that fails there lost nothing and
		// is dropped for the next, or for a new session.
		for ss := s.take(loginKey(auth)); ss != nil; ss = s.take(loginKey(auth)) {
			if err := s.reset(ctx, ss); err != nil {
				ss.conns.close()
				continue
			}
			retry, err := s.deliver(ctx, ss, msg, m, sec)
			if !retry {
				return err
			}
			break // the kept session broke before the server took anything: a new one
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrTemporary, context.Cause(ctx))
		}
		// A new session, once fewer than smtp.maxConnections are open
		// (relays refuse connections past their limit); meanwhile a
		// session another Send keeps will do.
		select {
		case s.open <- struct{}{}:
		case <-kept:
			continue
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for one of the %d SMTP connections: %w", ErrTemporary, cap(s.open), context.Cause(ctx))
		}
		break
	}
	ss, err := s.dial(ctx, auth)
	if err != nil {
		stage := StageConnect
		if auth != nil && auth.started {
			stage = StageAuth
		}
		return s.sessionError(ctx, stage, err, sec)
	}
	_, err = s.deliver(ctx, ss, msg, m, sec)
	return err
}

func (s *Client) clientOptions(conns *connTracker, auth *plainOrLogin) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(s.dialer(conns)),
		gomail.WithoutNoop(), // a kept session is checked with RSET before its next message
		gomail.WithoutRset(), // RSET comes before the next message, not after each
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

// connTracker remembers the raw connection of one session so that it can
// be closed from another goroutine when the context ends, and gives the
// session's place among smtp.maxConnections back when it closes.
type connTracker struct {
	mu      sync.Mutex
	conn    net.Conn
	closed  bool
	release func()
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
	if t.closed {
		return
	}
	t.closed = true
	if t.conn != nil {
		_ = t.conn.Close()
	}
	if t.release != nil {
		t.release()
	}
}
