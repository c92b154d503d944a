package smtp

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
)

// This file holds the message: what a caller hands to Send, the checks that
// refuse anything that could inject a header, and the MIME message built
// from it.

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
	// StillWanted, when set, is asked right before the message is sent,
	// once a session is ready for it (a Send may first wait for one of
	// smtp.maxConnections): an error ends the Send with nothing sent
	// (ErrNotWanted wrapping it), the session kept for the next message.
	StillWanted func() error
}

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
