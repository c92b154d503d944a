package smtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
)

// This file sorts failures into the sentinel errors callers branch on and
// keeps the server's reply, redacted (redact.go) and cut to size.

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
	// ErrNotWanted means Message.StillWanted refused the message once a
	// session was ready for it (it may have waited for a connection):
	// nothing was sent.
	ErrNotWanted = errors.New("message no longer wanted")
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

// RefusedInTransaction says whether err is the server refusing a
// recipient or a message (at RCPT TO or DATA), not the connection, the
// login or the sender: what the message holds, or where it goes, is what
// the server refused.
func RefusedInTransaction(err error) bool {
	var re *ReplyError
	return errors.As(err, &re) && (re.Stage == StageRcptTo || re.Stage == StageData)
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
