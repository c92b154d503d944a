package smtp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtpd "github.com/emersion/go-smtp"
)

// This file is the test SMTP server: github.com/emersion/go-smtp on
// 127.0.0.1, with STARTTLS or implicit TLS under a certificate made here,
// AUTH PLAIN or LOGIN, and replies that tests choose for MAIL, RCPT and DATA.

// testCA is a self-signed certificate for 127.0.0.1 and localhost, and a
// pool that trusts it.
type testCA struct {
	cert tls.Certificate
	pool *x509.CertPool
}

var testCertificate = sync.OnceValues(func() (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "partnerops test SMTP server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool: pool}, nil
})

func mustCA(t testing.TB) *testCA {
	t.Helper()
	ca, err := testCertificate()
	if err != nil {
		t.Fatalf("making the test certificate: %v", err)
	}
	return ca
}

// received is one message as the server got it.
type received struct {
	From     string
	To       []string
	Data     []byte
	AuthUser string
	TLS      bool
}

// serverOptions shape a test server.
type serverOptions struct {
	// startTLS advertises STARTTLS.
	startTLS bool
	// implicitTLS speaks TLS from the first byte.
	implicitTLS bool
	// user and pass, when user is set, are the only login accepted, and
	// MAIL FROM is refused until the client logged in.
	user, pass string
	// mechanisms advertised for AUTH; default PLAIN.
	mechanisms []string
	// insecureAuth offers AUTH without TLS.
	insecureAuth bool
	// failMail, failRcpt and failData are replies to give instead of
	// accepting the command (failData: after the message content).
	failMail, failRcpt, failData *smtpd.SMTPError
	// failAuth is the reply to AUTH, once the client sent its whole
	// answer, instead of checking the login.
	failAuth *smtpd.SMTPError
	// loginChallenge, for AUTH LOGIN, is a third challenge sent after the
	// client gave the password, where a server should have answered.
	loginChallenge string
	// maxPerConn, when set, answers MAIL FROM with 421 once a connection
	// has delivered that many messages, as relays that cap them do.
	maxPerConn int
	// dataRead, when set, is closed once a message's content has been
	// read (the client sent the final "."), and the server then waits
	// dataDelay before it takes the message and answers 250 (a server that
	// scans or queues first).
	dataRead  chan struct{}
	dataDelay time.Duration
}

// testServer is a running SMTP server and what it received.
type testServer struct {
	opts    serverOptions
	port    int
	accepts atomic.Int32

	// rsets counts the RSET commands clients sent (plain connections
	// only: a TLS connection's commands are not readable here).
	rsets atomic.Int32

	mu       sync.Mutex
	messages []received
	logins   []string
	conns    []net.Conn
}

// dropConnections closes every connection the server accepted, as a
// server that restarts or times idle clients out does.
func (s *testServer) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

func (s *testServer) Received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.messages...)
}

func (s *testServer) Logins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.logins...)
}

// startServer starts a test SMTP server on a free port of 127.0.0.1 and
// stops it when the test ends.
func startServer(t testing.TB, opts serverOptions) *testServer {
	t.Helper()
	ts := &testServer{opts: opts}
	srv := smtpd.NewServer(smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &testSession{srv: ts, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = opts.insecureAuth
	srv.ErrorLog = log.New(io.Discard, "", 0)
	var tlsConfig *tls.Config
	if opts.startTLS || opts.implicitTLS {
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{mustCA(t).cert}}
	}
	if opts.startTLS {
		srv.TLSConfig = tlsConfig
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.port = l.Addr().(*net.TCPAddr).Port
	var ln net.Listener = &countingListener{Listener: l, srv: ts}
	if opts.implicitTLS {
		ln = tls.NewListener(ln, tlsConfig)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // in case Serve had not registered it yet
		<-done
	})
	return ts
}

// countingListener counts the connections, keeps them for
// dropConnections, and counts the RSET commands read from them.
type countingListener struct {
	net.Listener
	srv *testServer
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.srv.accepts.Add(1)
	l.srv.mu.Lock()
	l.srv.conns = append(l.srv.conns, c)
	l.srv.mu.Unlock()
	return &commandConn{Conn: c, srv: l.srv}, nil
}

// commandConn reads the client's lines as they pass, to count RSETs.
type commandConn struct {
	net.Conn
	srv  *testServer
	line []byte
}

func (c *commandConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for _, b := range p[:n] {
		if b != '\n' {
			if len(c.line) < 16 {
				c.line = append(c.line, b)
			}
			continue
		}
		if strings.EqualFold(strings.TrimSpace(string(c.line)), "RSET") {
			c.srv.rsets.Add(1)
		}
		c.line = c.line[:0]
	}
	return n, err
}

type testSession struct {
	srv       *testServer
	conn      *smtpd.Conn
	user      string
	from      string
	to        []string
	delivered int
}

var _ smtpd.AuthSession = (*testSession)(nil)

func (s *testSession) AuthMechanisms() []string {
	if s.srv.opts.mechanisms != nil {
		return s.srv.opts.mechanisms
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return s.login(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: s.login, extra: s.srv.opts.loginChallenge}, nil
	}
	return nil, smtpd.ErrAuthUnknownMechanism
}

func (s *testSession) login(user, pass string) error {
	s.srv.mu.Lock()
	s.srv.logins = append(s.srv.logins, user)
	s.srv.mu.Unlock()
	if f := s.srv.opts.failAuth; f != nil {
		return f
	}
	if s.srv.opts.user == "" || user != s.srv.opts.user || pass != s.srv.opts.pass {
		return smtpd.ErrAuthFailed
	}
	s.user = user
	return nil
}

func (s *testSession) Mail(from string, _ *smtpd.MailOptions) error {
	if s.srv.opts.user != "" && s.user == "" {
		return &smtpd.SMTPError{Code: 530, EnhancedCode: smtpd.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	if f := s.srv.opts.failMail; f != nil {
		return f
	}
	if m := s.srv.opts.maxPerConn; m > 0 && s.delivered >= m {
		return &smtpd.SMTPError{Code: 421, EnhancedCode: smtpd.EnhancedCode{4, 7, 0}, Message: "Too many messages for this session"}
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtpd.RcptOptions) error {
	if f := s.srv.opts.failRcpt; f != nil {
		return f
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if f := s.srv.opts.failData; f != nil {
		return f
	}
	if c := s.srv.opts.dataRead; c != nil {
		close(c)
		time.Sleep(s.srv.opts.dataDelay)
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.messages = append(s.srv.messages, received{From: s.from, To: s.to, Data: data, AuthUser: s.user, TLS: isTLS})
	s.delivered++
	return nil
}

func (s *testSession) Reset() { s.from, s.to = "", nil }

func (s *testSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks. With
// extra set, it challenges once more after the password instead of
// answering.
type loginServer struct {
	check      func(user, pass string) error
	extra      string
	step       int
	user, pass string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(response) > 0 { // initial response: the username
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	case 3:
		l.pass = string(response)
		if l.extra != "" {
			return []byte(l.extra), false, nil
		}
		return nil, true, l.check(l.user, l.pass)
	}
	return nil, false, errors.New("unexpected LOGIN step")
}

// freePort returns a port of 127.0.0.1 where nothing listens.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}
