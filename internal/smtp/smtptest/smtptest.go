// Package smtptest provides a fake smtp.Sender for tests of code that sends
// email. Tests of the SMTP delivery itself use a real SMTP server instead.
package smtptest

import (
	"context"
	"fmt"
	"sync"

	"github.com/partnerops/partnerops/internal/smtp"
)

// Sender is an smtp.Sender that records messages instead of sending them.
// The zero value accepts every message. It is safe for concurrent use.
type Sender struct {
	mu       sync.Mutex
	fail     func(n int, m *smtp.Message) error
	sent     []smtp.Message
	attempts int
}

var _ smtp.Sender = (*Sender)(nil)

// FailWith makes f decide each later Send's result: n counts the attempts
// from 1 (failed ones included), and a message is recorded as sent only
// when f returns nil. Tests make it return errors wrapping
// smtp.ErrTemporary or smtp.ErrRecipientRejected; nil accepts every
// message again.
func (s *Sender) FailWith(f func(n int, m *smtp.Message) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// Send records a copy of m, or returns the error of FailWith's function.
// As the real client does once a session is ready, it asks m.StillWanted
// (after FailWith's function, which stands for the wait for a connection)
// and sends nothing when it refuses.
func (s *Sender) Send(_ context.Context, m *smtp.Message) error {
	s.mu.Lock()
	s.attempts++
	n, fail := s.attempts, s.fail
	s.mu.Unlock()
	if fail != nil {
		if err := fail(n, m); err != nil {
			return err
		}
	}
	if m.StillWanted != nil {
		if err := m.StillWanted(); err != nil {
			return fmt.Errorf("%w: %w", smtp.ErrNotWanted, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, *m)
	return nil
}

// Sent returns copies of the messages sent so far, in order.
func (s *Sender) Sent() []smtp.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtp.Message(nil), s.sent...)
}

// Recipients lists the To of the messages sent so far, in order.
func (s *Sender) Recipients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.sent {
		out = append(out, m.To)
	}
	return out
}

// Attempts returns how many times Send was called, failed calls included.
func (s *Sender) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}
