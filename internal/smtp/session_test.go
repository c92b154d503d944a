package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	smtpd "github.com/emersion/go-smtp"

	"github.com/partnerops/partnerops/internal/config"
)

// These tests hold the sessions kept open between messages (session.go):
// one connection and login for many messages with RSET between them, a new
// session when a kept one broke or its credentials were rotated, and never
// a second copy of a message the server took.

// sendN sends n messages with distinct Message-IDs and fails the test on
// any error.
func sendN(t *testing.T, s *Client, n int, prefix string) {
	t.Helper()
	for i := range n {
		if err := s.Send(t.Context(), testMessage(func(m *Message) {
			m.MessageID = fmt.Sprintf("<invitation.%s-%d.1@acme.example>", prefix, i)
		})); err != nil {
			t.Fatalf("Send %s-%d: %v", prefix, i, err)
		}
	}
}

// messageIDs are the Message-ID headers of what the server received, in
// order.
func messageIDs(t *testing.T, srv *testServer) []string {
	t.Helper()
	var ids []string
	for _, r := range srv.Received() {
		msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, msg.Header.Get("Message-Id"))
	}
	return ids
}

func wantIDs(t *testing.T, srv *testServer, want ...string) {
	t.Helper()
	got := messageIDs(t, srv)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the server received %v, want each of %v exactly once, in order", got, want)
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("<invitation.%s-%d.1@acme.example>", prefix, i)
	}
	return out
}

func TestSendKeepsOneSessionForManyMessages(t *testing.T) {
	srv := startServer(t, serverOptions{insecureAuth: true, user: testUser, pass: testPass})
	s := newSender(t, srv.port, config.SMTPSecurityNone, staticCreds(testUser, testPass))
	sendN(t, s, 5, "a")
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("5 messages opened %d connections, want 1", n)
	}
	if n := len(srv.Logins()); n != 1 {
		t.Errorf("5 messages logged in %d times, want once", n)
	}
	// RSET before each message on the kept session: the 2nd to the 5th.
	if n := srv.rsets.Load(); n != 4 {
		t.Errorf("the client sent %d RSETs, want 4 (one before each message after the first)", n)
	}
	wantIDs(t, srv, ids("a", 5)...)
}

func TestSendStartsANewSessionAfterItsShare(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	sendN(t, s, maxMessagesPerSession+1, "a")
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("%d messages opened %d connections, want 2 (%d a session)", maxMessagesPerSession+1, n, maxMessagesPerSession)
	}
	wantIDs(t, srv, ids("a", maxMessagesPerSession+1)...)
}

func TestSendRedialsWhenTheKeptSessionWasDropped(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	sendN(t, s, 1, "a")
	srv.dropConnections() // the server restarted, or timed the idle client out
	sendN(t, s, 2, "b")
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("opened %d connections, want 2: the dropped session replaced once", n)
	}
	wantIDs(t, srv, "<invitation.a-0.1@acme.example>", "<invitation.b-0.1@acme.example>", "<invitation.b-1.1@acme.example>")
}

func TestSendRetriesOnANewSessionWhenAKeptOneRefusesTheSender(t *testing.T) {
	// A relay that caps the messages of a connection says 421 at MAIL
	// FROM: nothing was handed over, so the message goes at once on a
	// new session, once.
	srv := startServer(t, serverOptions{maxPerConn: 2})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	sendN(t, s, 3, "a")
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("opened %d connections, want 2", n)
	}
	wantIDs(t, srv, ids("a", 3)...)
}

func TestSendDoesNotRetryAFreshSession(t *testing.T) {
	// On a new session a 421 at MAIL FROM is the server's answer, not a
	// stale connection: ErrTemporary, for the caller's backoff.
	srv := startServer(t, serverOptions{failMail: &smtpd.SMTPError{Code: 421, EnhancedCode: smtpd.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	if err := s.Send(t.Context(), testMessage()); !errors.Is(err, ErrTemporary) {
		t.Fatalf("Send = %v, want ErrTemporary", err)
	}
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("opened %d connections, want 1: no retry on a fresh session", n)
	}
}

func TestSendLogsInAnewWhenTheCredentialsChange(t *testing.T) {
	srv := startServer(t, serverOptions{insecureAuth: true, user: testUser, pass: testPass})
	var mu sync.Mutex
	pass := testPass
	s := newSender(t, srv.port, config.SMTPSecurityNone, func(context.Context) (string, string, error) {
		mu.Lock()
		defer mu.Unlock()
		return testUser, pass, nil
	})
	sendN(t, s, 1, "a")
	mu.Lock()
	pass = "rotated-but-not-yet-on-the-server"
	mu.Unlock()
	// The kept session logged in with the old password: it is not used,
	// and the new password is what the server sees (and refuses here).
	if err := s.Send(t.Context(), testMessage()); !errors.Is(err, ErrTemporary) {
		t.Fatalf("Send with the rotated password = %v, want ErrTemporary (AUTH refused)", err)
	}
	mu.Lock()
	pass = testPass
	mu.Unlock()
	sendN(t, s, 1, "b")
	if n := srv.accepts.Load(); n != 3 {
		t.Errorf("opened %d connections, want 3: one per login", n)
	}
	wantIDs(t, srv, "<invitation.a-0.1@acme.example>", "<invitation.b-0.1@acme.example>")
}

func TestSendAfterClose(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	sendN(t, s, 1, "a")
	s.Close()
	sendN(t, s, 1, "b")
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("opened %d connections, want 2: Close ended the kept session", n)
	}
	wantIDs(t, srv, "<invitation.a-0.1@acme.example>", "<invitation.b-0.1@acme.example>")
}

// withMaxConnections is smtp.maxConnections set to n.
func withMaxConnections(n int) Option { return func(c *Client) { c.open = make(chan struct{}, n) } }

// TestSendOpensNoMoreThanMaxConnections: many Sends at once share
// smtp.maxConnections sessions (relays such as Microsoft 365 refuse a
// fourth connection from one mailbox); the others wait for a session to
// be kept and send on it.
func TestSendOpensNoMoreThanMaxConnections(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil, withMaxConnections(2))
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Send(t.Context(), testMessage(func(m *Message) {
				m.MessageID = fmt.Sprintf("<invitation.c-%d.1@acme.example>", i)
			}))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Received()); got != n {
		t.Errorf("the server received %d messages, want %d", got, n)
	}
	// Fewer than maxMessagesPerSession each: no session had to close, so
	// every connection opened was open at once.
	if a := srv.accepts.Load(); a > 2 {
		t.Errorf("%d Sends at once opened %d connections, want at most 2", n, a)
	}
}

// TestSendWaitingForAConnectionEndsWithItsContext: a Send that waits for
// one of the connections gives up when its context ends, and says why.
func TestSendWaitingForAConnectionEndsWithItsContext(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil, withMaxConnections(1))
	s.open <- struct{}{} // the one connection is in use
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := s.Send(ctx, testMessage())
	if !errors.Is(err, ErrTemporary) || !strings.Contains(err.Error(), "waiting for one of the 1 SMTP connections") {
		t.Errorf("Send = %v, want ErrTemporary while waiting for a connection", err)
	}
	if a := srv.accepts.Load(); a != 0 {
		t.Errorf("%d connections opened", a)
	}
}

// TestSendFinishesATransactionItStarted: a Send whose context ends (the
// manager stopping for a rollout) after the client sent the final "." but
// before the server's 250 still reads the reply and reports the message
// sent; cut short, the server would deliver a message recorded as not sent,
// and the next manager would send it again.
func TestSendFinishesATransactionItStarted(t *testing.T) {
	dataRead := make(chan struct{})
	srv := startServer(t, serverOptions{dataRead: dataRead, dataDelay: 300 * time.Millisecond})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-dataRead
		cancel()
	}()
	if err := s.Send(ctx, testMessage()); err != nil {
		t.Fatalf("Send = %v after the server took the message, want it reported sent", err)
	}
	if n := len(srv.Received()); n != 1 {
		t.Errorf("the server received %d messages, want 1", n)
	}
}

// TestSendAsksStillWantedOnceASessionIsReady: a message whose StillWanted
// refuses (its invitation was withdrawn while the Send waited for a
// connection) sends nothing, not even MAIL FROM, and leaves the session
// for the next message.
func TestSendAsksStillWantedOnceASessionIsReady(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := newSender(t, srv.port, config.SMTPSecurityNone, nil)
	sendN(t, s, 1, "a")
	withdrawn := errors.New("the invitation was withdrawn")
	err := s.Send(t.Context(), testMessage(func(m *Message) {
		m.MessageID = "<invitation.b-0.1@acme.example>"
		m.StillWanted = func() error { return withdrawn }
	}))
	if !errors.Is(err, ErrNotWanted) || !errors.Is(err, withdrawn) {
		t.Fatalf("Send = %v, want ErrNotWanted wrapping the reason", err)
	}
	sendN(t, s, 1, "c")
	wantIDs(t, srv, "<invitation.a-0.1@acme.example>", "<invitation.c-0.1@acme.example>")
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1: the refused message's session serves the next one", n)
	}
}
