package i18n

import (
	"strings"
	"unicode"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file holds the text cleaners: every name and note a partner reads,
// in the email or on the page, goes through them.

// lines splits a text into its lines; an empty text has none.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// isBidiControl reports the invisible marks that reorder text on screen,
// which could make a name or a note read as something else.
func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

func isBreak(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// MaxCustomerName is how long a customer account's name (the namespace's
// display-name annotation) may be, in characters, in the email and on the
// page; the rest is cut. The annotation itself is not bounded.
const MaxCustomerName = 128

// CustomerName is who invites, as partners read it: the namespace's
// display-name annotation on one line, at most MaxCustomerName
// characters, else (empty or invisible) the namespace's name. The email
// and the page both show this.
func CustomerName(namespace string, annotations map[string]string) string {
	n := []rune(OneLine(annotations[v1alpha1.DisplayNameAnnotation]))
	if len(n) == 0 {
		return namespace
	}
	if len(n) > MaxCustomerName {
		n = n[:MaxCustomerName]
	}
	return strings.TrimSpace(string(n))
}

// OneLine puts a name on one line: control characters and line breaks
// become spaces, runs of spaces one space, bidi controls go. Every name a
// partner reads goes through it (who invites, the account, roles,
// systems, and the email's subject once rendered).
func OneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case isBidiControl(r):
			return -1
		case isBreak(r):
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// noteLines keeps a note's line breaks, as \n, turns tabs into spaces and
// drops every other control character and the bidi controls.
func noteLines(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n").Replace(s)
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case isBidiControl(r), unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}

// NoteText is the inviter's note for the acceptance page: noteLines, with
// the spaces and blank lines at both ends trimmed (the page shows its line
// breaks with CSS white-space: pre-line).
func NoteText(s string) string {
	return strings.TrimFunc(noteLines(s), unicode.IsSpace)
}

// cleanMessage is the inviter's note for the email, whose text body quotes
// it line by line: noteLines, with tidy lines (see tidyLines).
func cleanMessage(s string) string {
	return tidyLines(noteLines(s))
}

// tidyText gives a rendered text body tidy lines and one final line break,
// so that templates need not fight text/template's whitespace.
func tidyText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return tidyLines(s) + "\n"
}

// tidyLines trims trailing spaces, blank lines at both ends, and runs of
// blank lines down to one.
func tidyLines(s string) string {
	var out []string
	blank := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if line == "" {
			blank = len(out) > 0
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
