// Package mailtest provides a fake mail.Sender for tests of code that sends
// email. Tests of the SMTP delivery itself use a real SMTP server instead.
package mailtest

import (
	"context"
	"sync"

	"github.com/partnerops/partnerops/internal/mail"
)

// Sender is a mail.Sender that records messages instead of sending them.
// The zero value accepts every message. It is safe for concurrent use.
type Sender struct {
	// SendFunc, when set, decides each Send's result; a message is
	// recorded as sent only when it returns nil. Tests make it return
	// errors wrapping mail.ErrTemporary or mail.ErrRecipientRejected.
	SendFunc func(ctx context.Context, m *mail.Message) error

	mu       sync.Mutex
	sent     []mail.Message
	attempts int
}

var _ mail.Sender = (*Sender)(nil)

// Send records a copy of m, or returns SendFunc's error.
func (s *Sender) Send(ctx context.Context, m *mail.Message) error {
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
func (s *Sender) Sent() []mail.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mail.Message(nil), s.sent...)
}

// Attempts returns how many times Send was called, failed calls included.
func (s *Sender) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}
