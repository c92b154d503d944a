package smtp

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// redacted replaces a secret in error text.
const redacted = "[REDACTED]"

// secrets are the forms in which the SMTP password left this process, for
// redacting them from whatever a server writes back. A mail server, or a
// broken relay, can echo what the client sent: the password itself, the
// AUTH PLAIN payload (base64 of "\x00user\x00password", which go-mail sends
// with an empty authorization identity), the AUTH LOGIN answer (base64 of
// the password; the username's answer is no secret), each with and without
// base64 padding, or the password URL-escaped. The password is also kept
// as %q writes it (escaped, without the quotes): that is how
// net/textproto's errors show a reply inside the client library's errors.
// Each form is kept as its skeleton: its runes without the ignorable ones
// (see ignorable). A nil *secrets redacts nothing.
type secrets struct {
	forms [][]rune
}

// newSecrets returns the forms of pass as sent for user, or nil when there
// is no password.
func newSecrets(user, pass string) *secrets {
	if pass == "" {
		return nil
	}
	plain := []byte("\x00" + user + "\x00" + pass)
	sec := &secrets{}
	for _, form := range []string{
		pass,
		strings.TrimSuffix(strings.TrimPrefix(strconv.Quote(pass), `"`), `"`),
		url.QueryEscape(pass),
		url.PathEscape(pass),
		base64.StdEncoding.EncodeToString(plain),
		base64.RawStdEncoding.EncodeToString(plain),
		base64.StdEncoding.EncodeToString([]byte(pass)),
		base64.RawStdEncoding.EncodeToString([]byte(pass)),
	} {
		sk := skeleton(form)
		if len(sk) > 0 && !slices.ContainsFunc(sec.forms, func(f []rune) bool { return slices.Equal(f, sk) }) {
			sec.forms = append(sec.forms, sk)
		}
	}
	if len(sec.forms) == 0 {
		return nil
	}
	return sec
}

// ignorable runes are those that cleaning up server text may turn into a
// space, collapse or drop (control characters, line breaks, spaces), and
// those a reader does not see (format characters such as U+200B): a secret
// with them inserted, removed or changed is still the secret to whoever
// reads the condition.
func ignorable(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Z)
}

// skeleton is s, valid UTF-8, without its ignorable runes.
func skeleton(s string) []rune {
	var out []rune
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if !ignorable(r) {
			out = append(out, r)
		}
	}
	return out
}

// redact replaces every run of s that spells a secret form, ignorable runes
// between its runes allowed, with one redacted marker per stretch of
// overlapping or adjacent matches. Every start is tried, so matches that
// overlap (of one form or of several) are all covered and no piece of any
// of them is left. s must be valid UTF-8 (oneLine makes it so).
func (sec *secrets) redact(s string) string {
	if sec == nil {
		return s
	}
	text := []rune(s)
	covered := make([]bool, len(text))
	found := false
	for _, form := range sec.forms {
		for i := range text {
			if text[i] != form[0] {
				continue
			}
			if end, ok := matchAt(text, i, form); ok {
				for j := i; j < end; j++ {
					covered[j] = true
				}
				found = true
			}
		}
	}
	if !found {
		return s
	}
	var b strings.Builder
	for i, r := range text {
		switch {
		case !covered[i]:
			b.WriteRune(r)
		case i == 0 || !covered[i-1]:
			b.WriteString(redacted)
		}
	}
	return b.String()
}

// matchAt tells whether text spells form from rune i on, skipping ignorable
// runes after the first, and where the match ends.
func matchAt(text []rune, i int, form []rune) (end int, ok bool) {
	k := 0
	for j := i; j < len(text); j++ {
		switch {
		case text[j] == form[k]:
			k++
			if k == len(form) {
				return j + 1, true
			}
		case !ignorable(text[j]):
			return 0, false
		}
	}
	return 0, false
}

// redactErr returns err, or when its text holds a secret, a line break or
// control characters, or is longer than maxReplyText, an error with the
// text made one line, redacted, then cut (see oneLine), that still unwraps
// to err for errors.Is and errors.As.
func redactErr(err error, sec *secrets) error {
	if err == nil {
		return nil
	}
	msg := oneLine(err.Error(), sec)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// redactedError is an error whose text was redacted.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
