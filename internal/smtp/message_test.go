package smtp

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestRecipientAtFault(t *testing.T) {
	tests := []struct {
		code     int
		enhanced string
		want     bool
	}{
		{550, "5.1.1", true},  // no such user
		{550, "", true},       // no enhanced code
		{550, "5.0.0", true},  // generic
		{551, "5.1.6", true},  // moved
		{552, "5.2.2", true},  // mailbox full
		{553, "5.1.3", true},  // bad address syntax
		{554, "5.7.1", true},  // recipient refused by policy
		{550, "5.4.1", true},  // Exchange Online: recipient not found
		{550, "5.1.10", true}, // null MX
		{450, "4.2.1", false}, // temporary
		{421, "", false},
		{530, "5.7.0", false}, // authentication required
		{535, "5.7.8", false},
		{538, "", false},
		{500, "5.5.1", false},
		{503, "5.5.1", false}, // bad sequence
		{504, "5.5.2", false}, // our HELO
		{550, "5.5.2", false},
		{553, "5.1.7", false}, // our sender's address
		{553, "5.1.8", false}, // our sender's domain
		{550, "5.3.0", false}, // the mail system
		{550, "5.7.9", false}, // auth mechanism too weak
		{550, "5.7.11", false},
		{250, "", false},
	}
	for _, tc := range tests {
		if got := recipientAtFault(tc.code, tc.enhanced); got != tc.want {
			t.Errorf("recipientAtFault(%d, %q) = %v, want %v", tc.code, tc.enhanced, got, tc.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := map[string]string{
		"simple":                  "simple",
		"two\nlines":              "two lines",
		"  spaced\t\tout \r\n x ": "spaced out x",
		"bad \xff byte":           "bad \uFFFD byte",
		"esc\x1b[31m":             "esc [31m",
		strings.Repeat("é", 400):  strings.Repeat("é", 299) + "…",
	}
	for in, want := range tests {
		if got := oneLine(in, nil); got != want {
			t.Errorf("oneLine(%q, nil) = %q, want %q", in, got, want)
		}
	}
}

// FuzzMessageHeaders checks that whatever the fields hold, a Message that
// passes validation yields exactly the expected header fields: no field can
// add a header, a recipient or a line.
func FuzzMessageHeaders(f *testing.F) {
	f.Add("Acme Partners <partners@acme.example>", "jane@globex.example", "Invitación de Acme — Éditeur", "<a.1@acme.example>", "fr")
	f.Add("partners@acme.example", "jane@globex.example\r\nBcc: x@y", "Hi\nBcc: x@y", "<a@b>\r\nX: y", "en\nX: y")
	f.Add("\"Acme\r\n\" <p@a.example>", "\"j\"@globex.example", "=?utf-8?q?Bcc:_x@y?=", "<a@b> <c@d>", "es-419")
	f.Add("=?utf-8?q?A=0D=0ABcc:_x@y?= <p@a.example>", "j@g.example", strings.Repeat("long words ", 120), "<x@y>", "")
	s := &Client{clock: clocktesting.NewFakePassiveClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	f.Fuzz(func(t *testing.T, from, to, subject, id, locale string) {
		m := &Message{From: from, To: to, Subject: subject, MessageID: id, Locale: locale, Text: "body\n", HTML: "<p>body</p>\n"}
		if err := m.validate(); err != nil {
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("validate = %v, want ErrInvalidMessage", err)
			}
			return
		}
		msg, err := s.build(m)
		if err != nil {
			return // refused: fine
		}
		var buf bytes.Buffer
		if _, err := msg.WriteTo(&buf); err != nil {
			t.Fatalf("writing: %v", err)
		}
		parsed, err := mail.ReadMessage(&buf)
		if err != nil {
			t.Fatalf("the message does not parse: %v\n%s", err, buf.Bytes())
		}
		var keys []string
		for k, v := range parsed.Header {
			if len(v) != 1 {
				t.Errorf("header %s appears %d times", k, len(v))
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
		if locale != "" {
			want = append(want, "Content-Language")
			slices.Sort(want)
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("headers %q, want %q\n%s", keys, want, buf.Bytes())
		}
		if got := parsed.Header.Get("Message-Id"); got != id {
			t.Errorf("Message-ID = %q, want %q", got, id)
		}
		if got := parsed.Header.Get("Content-Language"); got != locale {
			t.Errorf("Content-Language = %q, want %q", got, locale)
		}
		rcpts, err := parsed.Header.AddressList("To")
		if err != nil || len(rcpts) != 1 || rcpts[0].Address != to {
			t.Errorf("To = %q (%v), want only %q", parsed.Header.Get("To"), err, to)
		}
		if dec, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject")); err == nil && strings.ContainsAny(dec, "\r\n") && !strings.Contains(subject, "=?") {
			t.Errorf("the subject decodes to several lines: %q", dec)
		}
	})
}
