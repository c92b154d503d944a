package email

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
)

// The functions templates may call.
var (
	textFuncs = texttemplate.FuncMap{"lines": lines}
	htmlFuncs = htmltemplate.FuncMap{"lines": lines}
)

// lines splits a text into its lines; an empty text has none.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// newTemplateData checks and cleans inv for the templates.
func newTemplateData(inv Invitation) (TemplateData, error) {
	d := TemplateData{
		Locale:          inv.Locale,
		Recipient:       cleanName(inv.Recipient),
		CustomerName:    cleanName(inv.CustomerName),
		AccountName:     cleanName(inv.AccountName),
		RoleName:        cleanName(inv.RoleName),
		SystemNames:     []string{},
		PersonalMessage: cleanMessage(inv.PersonalMessage),
		ExpiresAt:       inv.ExpiresAt.UTC(),
		AcceptURL:       inv.AcceptURL,
	}
	for _, f := range []struct{ name, v string }{
		{"Recipient", d.Recipient}, {"CustomerName", d.CustomerName}, {"AccountName", d.AccountName}, {"RoleName", d.RoleName},
	} {
		if f.v == "" {
			return TemplateData{}, fmt.Errorf("the invitation has no %s", f.name)
		}
	}
	for _, s := range inv.SystemNames {
		if s = cleanName(s); s != "" {
			d.SystemNames = append(d.SystemNames, s)
		}
	}
	if inv.ExpiresAt.IsZero() {
		return TemplateData{}, errors.New("the invitation has no ExpiresAt")
	}
	d.Expires = FormatExpiry(inv.Locale, d.ExpiresAt)
	if err := checkURL(inv.AcceptURL); err != nil {
		return TemplateData{}, err
	}
	return d, nil
}

// checkURL wants an absolute http(s) URL with nothing to hide in it.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return errors.New("the invitation's AcceptURL is not an absolute https:// URL")
	}
	return nil
}

// isBidiControl reports the invisible marks that reorder text on screen,
// which could make a name or a note read as something else.
func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

func isBreak(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// cleanName puts a name on one line: control characters and line breaks
// become spaces, runs of spaces one space, bidi controls go.
func cleanName(s string) string {
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

// singleLine is cleanName for a rendered subject.
func singleLine(s string) string { return cleanName(s) }

// cleanMessage keeps the note's line breaks (as \n) and drops every other
// control character, trailing spaces, and blank lines around and in excess.
func cleanMessage(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n").Replace(s)
	s = strings.Map(func(r rune) rune {
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
	return tidyLines(s)
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

// monthNames are the months as each locale writes them in a date.
var monthNames = map[string][12]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"fr": {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
	"es": {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
}

// FormatExpiry writes t, in UTC and to the minute, as the locale writes a
// date and time (the email and the acceptance page show the same words): "30 November 2026, 18:00 UTC", "1er décembre 2026 à
// 18:00 UTC", "30 de noviembre de 2026, 18:00 UTC". Unknown locales get
// English.
func FormatExpiry(locale string, t time.Time) string {
	t = t.UTC()
	clock := t.Format("15:04") + " UTC"
	day, year := strconv.Itoa(t.Day()), strconv.Itoa(t.Year())
	switch locale {
	case "fr":
		if t.Day() == 1 {
			day = "1er"
		}
		return day + " " + monthNames["fr"][t.Month()-1] + " " + year + " à " + clock
	case "es":
		return day + " de " + monthNames["es"][t.Month()-1] + " de " + year + ", " + clock
	default:
		return day + " " + monthNames["en"][t.Month()-1] + " " + year + ", " + clock
	}
}
