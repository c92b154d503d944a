// Package smtptest provides a fake smtp.Sender for tests of code that sends
// email. Tests of the SMTP delivery itself use a real SMTP server instead.
package smtptest

import (
	"context"
	"sync"

	"github.com/partnerops/partnerops/internal/smtp"
)

// Sender is an smtp.Sender that records messages instead of sending them.
// The zero value accepts every message. It is safe for concurrent use.
type Sender struct {
	// SendFunc, when set, decides each Send's result; a message is
	// recorded as sent only when it returns nil. Tests make it return
	// errors wrapping smtp.ErrTemporary or smtp.ErrRecipientRejected.
	SendFunc func(ctx context.Context, m *smtp.Message) error

	mu       sync.Mutex
	sent     []smtp.Message
	attempts int
}

var _ smtp.Sender = (*Sender)(nil)

// Send records a copy of m, or returns SendFunc's error.
func (s *Sender) Send(ctx context.Context, m *smtp.Message) error {
	s.mu.Lock()
	s.attempts++
	s.mu.Unlock()
	if s.SendFunc != nil {
		if err := s.SendFunc(ctx, m); err != nil {
			return err
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

// Attempts returns how many times Send was called, failed calls included.
func (s *Sender) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}
