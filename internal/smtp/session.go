package smtp

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// This file keeps SMTP sessions open for further messages: after a message
// is delivered its session waits, idle, for the next Send, which clears it
// with RSET (that also proves it alive) and sends on it. A session is
// closed after maxMessagesPerSession messages, after idleTimeout without
// one, after any failure, and when the credentials it logged in with are
// no longer the ones the Secret gives (Send reads them at each call, so a
// rotation takes effect at the next message, on a new session).

// Defaults of the session pool.
const (
	// maxMessagesPerSession: relays cap the messages of one connection
	// (Exchange at 20 by default, others at 100): past it a new session
	// is dialled rather than being refused.
	maxMessagesPerSession = 20
	// idleTimeout closes a session nobody used for that long, well inside
	// the 5 minutes RFC 5321 lets a server wait before dropping it.
	idleTimeout = 30 * time.Second
)

// session is one open SMTP connection, logged in as login.
type session struct {
	mail   *gomail.Client
	smtp   *gosmtp.Client
	conns  *connTracker
	login  [sha256.Size]byte // of the credentials it logged in with
	sent   int
	reused bool
	timer  *time.Timer // closes it once idle for idleTimeout
}

// loginKey identifies a login without keeping the password.
func loginKey(auth *plainOrLogin) [sha256.Size]byte {
	if auth == nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256([]byte(auth.user + "\x00" + auth.pass))
}

// dial opens a new session (connect, TLS, AUTH). ctx bounds it; the
// session outlives it. The error is go-mail's, for sessionError.
// The caller holds a token of s.open for it, which the session gives back
// when it closes.
func (s *Client) dial(ctx context.Context, auth *plainOrLogin) (*session, error) {
	conns := &connTracker{release: func() { <-s.open }}
	stop := context.AfterFunc(ctx, conns.close)
	defer stop()
	client, err := gomail.NewClient(s.host, s.clientOptions(conns, auth)...)
	if err != nil {
		conns.close()
		return nil, fmt.Errorf("configuring the SMTP client: %w", err)
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		conns.close()
		return nil, err
	}
	return &session{mail: client, smtp: sc, conns: conns, login: loginKey(auth)}, nil
}

// reset clears a session kept from an earlier message for a new one: RSET,
// under the configured timeout and ctx. An error means the session is
// unusable (the server closed it meanwhile, say); nothing was sent on it.
func (s *Client) reset(ctx context.Context, ss *session) error {
	stop := context.AfterFunc(ctx, ss.conns.close)
	defer stop()
	if err := ss.smtp.UpdateDeadline(s.timeout); err != nil {
		return err
	}
	return ss.smtp.Reset()
}

// deliver sends msg in the session and keeps the session for the next
// message when it went through. retry says that a session kept from an
// earlier message failed before the server could have taken anything
// (RSET or MAIL FROM went unanswered, or answered 421): the message may be
// sent again at once on a new session without risk of a second copy.
func (s *Client) deliver(ctx context.Context, ss *session, msg *gomail.Msg, m *Message, sec *secrets) (retry bool, err error) {
	if m.StillWanted != nil {
		if err := m.StillWanted(); err != nil {
			s.keep(ss) // nothing was sent on it: good for the next message
			return false, fmt.Errorf("%w: %w", ErrNotWanted, err)
		}
	}
	// Once begun, the transaction is not cut short when ctx ends (the
	// manager stopping for a rollout): a server that took the final "."
	// but whose 250 was not read yet would deliver a message recorded as
	// not sent, and the next manager would send it again. go-mail bounds
	// it by smtp.timeout (the connection's deadline), within the manager's
	// graceful stop at the default.
	sendErr := ss.mail.SendWithSMTPClient(ss.smtp, msg)
	if msg.IsDelivered() {
		// The server took the message (250 after DATA): whatever happens
		// next must not make the caller send it again.
		ss.sent++
		s.keep(ss)
		return false, nil
	}
	// A session that failed is in a state nobody knows: closed, not kept.
	ss.conns.close()
	if sendErr == nil {
		return false, fmt.Errorf("%w: the server did not confirm the message", ErrTemporary)
	}
	return ss.reused && failedBeforeTransaction(sendErr), s.sendError(ctx, sendErr, m, sec)
}

// failedBeforeTransaction: the session broke before the server accepted a
// sender, so nothing of the message reached it.
func failedBeforeTransaction(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrConnCheck:
		return true
	case gomail.ErrSMTPMailFrom:
		code := se.ErrorCode()
		return code == 0 || code == 421
	}
	return false
}

// take returns an idle session logged in as login, closing the idle ones
// logged in otherwise (rotated credentials); nil when there is none.
func (s *Client) take(login [sha256.Size]byte) *session {
	var stale []*session
	defer func() {
		for _, ss := range stale {
			s.quit(ss)
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.idle) > 0 {
		ss := s.idle[len(s.idle)-1] // the most recently used: the least likely to be stale
		s.idle = s.idle[:len(s.idle)-1]
		ss.timer.Stop()
		if ss.login != login {
			stale = append(stale, ss)
			continue
		}
		ss.reused = true
		return ss
	}
	return nil
}

// keep puts a session that just delivered a message back for the next
// one, or closes it when it has sent its share or the pool is full.
func (s *Client) keep(ss *session) {
	s.mu.Lock()
	if ss.sent >= maxMessagesPerSession || len(s.idle) >= cap(s.open) || s.closed {
		s.mu.Unlock()
		s.quit(ss)
		return
	}
	ss.timer = time.AfterFunc(idleTimeout, func() {
		if s.remove(ss) {
			s.quit(ss)
		}
	})
	s.idle = append(s.idle, ss)
	if s.kept != nil {
		close(s.kept) // wakes the Sends waiting for a connection
		s.kept = nil
	}
	s.mu.Unlock()
}

// keptSignal is closed when a session is next kept for another message.
func (s *Client) keptSignal() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept == nil {
		s.kept = make(chan struct{})
	}
	return s.kept
}

// remove takes ss out of the idle sessions; false when it was not there
// (a Send took it first).
func (s *Client) remove(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.idle {
		if o == ss {
			s.idle = append(s.idle[:i], s.idle[i+1:]...)
			return true
		}
	}
	return false
}

// quit ends a healthy session politely: QUIT, then close.
func (s *Client) quit(ss *session) {
	if ss.smtp.UpdateDeadline(min(s.timeout, 5*time.Second)) == nil {
		_ = ss.mail.CloseWithSMTPClient(ss.smtp)
	}
	ss.conns.close()
}

// Close ends the idle sessions and keeps no more; a Send after it still
// works, on a session of its own. The manager calls it when it stops.
func (s *Client) Close() {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, ss := range idle {
		ss.timer.Stop()
		s.quit(ss)
	}
}
