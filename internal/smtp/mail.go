// Package smtp delivers invitation emails over SMTP. It builds the MIME
// message (multipart text and HTML, UTF-8, quoted-printable, the caller's
// Message-ID), refuses any field that could inject a header, and sorts every
// failure into the three cases the invitation controller branches on: try
// again later (ErrTemporary), give up on this address (ErrRecipientRejected),
// or fix the message (ErrInvalidMessage).
package smtp

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Message is one email ready to send.
type Message struct {
	// From is the sender, "Acme Partners <partners@acme.example>" or a bare
	// address (from the configuration, already validated there).
	From string
	// To is the one recipient, as a bare address: "jane@example.com".
	To string
	// Subject is the subject line, one line of UTF-8 text.
	Subject string
	// Text is the text/plain body. Required.
	Text string
	// HTML is the text/html body. When empty the email is text only.
	HTML string
	// MessageID is the Message-ID header, "<id@domain>", sent exactly as
	// given. The caller derives it from the invitation's UID and resend
	// generation so that a send repeated after a crash is the same message.
	MessageID string
	// Locale is the language of the bodies ("en", "fr", "es"), sent as the
	// Content-Language header. Empty sends no such header.
	Locale string
}

// Sender delivers messages. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers m, or returns an error that wraps exactly one of
	// ErrTemporary, ErrRecipientRejected and ErrInvalidMessage. When the
	// mail server's reply is known, errors.As gives it as a *ReplyError.
	Send(ctx context.Context, m *Message) error
}

var (
	// ErrTemporary means the email could not be handed to the mail server
	// this time: connection, TLS or timeout failures, 4xx replies, and 5xx
	// replies that are not about the recipient's address (the sender
	// refused at MAIL FROM, authentication failed, the content refused at
	// DATA, ...). The caller retries with backoff.
	ErrTemporary = errors.New("mail server temporarily unavailable")
	// ErrRecipientRejected means the server refused the recipient with a
	// 5xx reply to RCPT TO: permanent for this address, the caller does not
	// retry.
	ErrRecipientRejected = errors.New("recipient rejected")
	// ErrInvalidMessage means the Message itself cannot be sent: a header
	// field holds a line break or another control character, the recipient
	// is not one bare address, a required field is empty, and so on.
	// Nothing reached the server; sending the same Message again fails the
	// same way.
	ErrInvalidMessage = errors.New("invalid message")
)

// Stage is the step of the SMTP exchange a reply answered.
type Stage string

// Stages of an SMTP exchange, as named in ReplyError.
const (
	// StageConnect covers the greeting, EHLO and STARTTLS.
	StageConnect Stage = "connect"
	// StageAuth is SMTP AUTH.
	StageAuth Stage = "AUTH"
	// StageMailFrom is the MAIL FROM command (the envelope sender).
	StageMailFrom Stage = "MAIL FROM"
	// StageRcptTo is the RCPT TO command (the recipient).
	StageRcptTo Stage = "RCPT TO"
	// StageData is the DATA command, the message content and the reply
	// that follows it.
	StageData Stage = "DATA"
)

// ReplyError is the mail server's reply to a failed step, for condition
// messages and events. It never holds credentials: a server that echoes
// the password, or the AUTH PLAIN or LOGIN payload that carried it, has it
// redacted from Message (and from every error text Send returns) before the
// text is cut to size. Send wraps it together
// with ErrTemporary or ErrRecipientRejected, so both errors.Is and errors.As
// work on the error Send returns.
type ReplyError struct {
	// Stage is the step the server refused.
	Stage Stage
	// Code is the reply code, such as 550.
	Code int
	// EnhancedCode is the RFC 3463 status code, such as "5.1.1", when the
	// server sent one; else empty.
	EnhancedCode string
	// Message is the server's text, on one line, with the SMTP password in
	// any form it was sent replaced by "[REDACTED]", at most 300
	// characters.
	Message string

	err error
}

// Error returns the reply as "RCPT TO: 550 5.1.1 No such user".
func (e *ReplyError) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Stage))
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.EnhancedCode != "" {
		b.WriteString(" ")
		b.WriteString(e.EnhancedCode)
	}
	if e.Message != "" {
		b.WriteString(" ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the client library's error the reply was read from, behind
// a wrapper that errors.Is and errors.As see through and whose text is the
// reply's, redacted.
func (e *ReplyError) Unwrap() error { return e.err }

// Credentials gives the SMTP username and password. The caller reads them
// from a Secret at each send, so rotating them needs no restart. A nil
// Credentials means no authentication.
type Credentials func(ctx context.Context) (username, password string, err error)

// Limits on the header fields, well inside RFC 5321 and RFC 5322.
const (
	maxAddressLength   = 254
	maxSubjectLength   = 998
	maxMessageIDLength = 250
)

var (
	// messageID is RFC 5322's msg-id with dot-atom-text on both sides.
	messageID = regexp.MustCompile("^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*>$")
	// languageTag is the shape of a BCP 47 tag such as "fr" or "es-419".
	languageTag = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)
)

// validate refuses anything that could add or split a header, and anything
// the server would have to guess about. Errors wrap ErrInvalidMessage and
// never quote the offending value (it may hold line breaks).
func (m *Message) validate() error {
	if m == nil {
		return fmt.Errorf("%w: no message", ErrInvalidMessage)
	}
	for _, f := range []struct{ name, v string }{
		{"From", m.From}, {"To", m.To}, {"Subject", m.Subject}, {"MessageID", m.MessageID}, {"Locale", m.Locale},
	} {
		if err := headerSafe(f.v); err != nil {
			return fmt.Errorf("%w: %s %w", ErrInvalidMessage, f.name, err)
		}
	}
	if from, err := mail.ParseAddress(m.From); err != nil || from.Address == "" {
		return fmt.Errorf("%w: From is not an address such as \"Acme Partners <partners@acme.example>\"", ErrInvalidMessage)
	}
	if to, err := mail.ParseAddress(m.To); err != nil || to.Name != "" || to.Address != m.To || len(m.To) > maxAddressLength {
		return fmt.Errorf("%w: To is not one bare address such as jane@example.com", ErrInvalidMessage)
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		return fmt.Errorf("%w: Subject is empty", ErrInvalidMessage)
	case len(m.Subject) > maxSubjectLength:
		return fmt.Errorf("%w: Subject is longer than %d bytes", ErrInvalidMessage, maxSubjectLength)
	case len(m.MessageID) > maxMessageIDLength || !messageID.MatchString(m.MessageID):
		return fmt.Errorf("%w: MessageID is not of the form <id@domain>", ErrInvalidMessage)
	case m.Locale != "" && !languageTag.MatchString(m.Locale):
		return fmt.Errorf("%w: Locale is not a language tag such as en or fr", ErrInvalidMessage)
	case strings.TrimSpace(m.Text) == "":
		return fmt.Errorf("%w: Text is empty", ErrInvalidMessage)
	case !utf8.ValidString(m.Text):
		return fmt.Errorf("%w: Text is not valid UTF-8", ErrInvalidMessage)
	case !utf8.ValidString(m.HTML):
		return fmt.Errorf("%w: HTML is not valid UTF-8", ErrInvalidMessage)
	}
	return nil
}

// headerSafe accepts valid UTF-8 with no control characters (CR, LF, NUL,
// DEL, C1, ...) and no Unicode line or paragraph separators.
func headerSafe(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if i := strings.IndexFunc(s, isLineOrControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("holds a control character (%U)", r)
	}
	return nil
}

func isLineOrControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}
