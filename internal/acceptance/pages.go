package acceptance

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/partnerops/partnerops/internal/email"
)

// This file renders the pages: html/template, one set per locale under
// templates/<locale>/, each page a file that defines "title" and "content"
// inside the shared templates/layout.html, styled by templates/page.css.
//
// The layout and the style sheet are not overridable: the Content Security
// Policy carries the style sheet's hash, computed once. Each locale's pages
// are; parsePages takes overrides keyed "<locale>.<file>" (the templates
// ConfigMap's "page.<locale>.<file>" keys without email.PagePrefix), so
// reading them from the ConfigMap only needs a source of that map.

// The pages, by file name.
const (
	pageInvitation = "invitation.html" // the pending invitation, with its forms
	pageAccepted   = "accepted.html"   // already accepted, with a link to the Hub
	pageExpired    = "expired.html"    // 410: ask the customer for a new invitation
	pageDeclined   = "declined.html"   // the partner declined
	pageDead       = "invalid.html"    // 404: the one generic page for a dead link
	pageError      = "error.html"      // other errors, by kind
)

var pageFiles = []string{pageInvitation, pageAccepted, pageExpired, pageDeclined, pageDead, pageError}

// locales are the page languages, default first.
var locales = []string{"en", "fr", "es"}

// Kinds of the error page.
const (
	errNotFound         = "notFound"
	errMethodNotAllowed = "methodNotAllowed"
	errTooLarge         = "tooLarge"
	errUnsupportedMedia = "unsupportedMedia"
	errBadRequest       = "badRequest"
	errTooManyRequests  = "tooManyRequests"
	errUnavailable      = "unavailable"
	errInternal         = "internal"
)

//go:embed templates
var templatesFS embed.FS

// style is the style sheet, put in the layout's <style> element as is.
var style = sync.OnceValue(func() string {
	b, err := fs.ReadFile(templatesFS, "templates/page.css")
	if err != nil {
		panic(fmt.Sprintf("acceptance page style sheet: %v", err))
	}
	return string(b)
})

// styleHash is the CSP source for the <style> element: 'sha256-…'.
func styleHash() string {
	sum := sha256.Sum256([]byte(style()))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// pageData is what the page templates see.
type pageData struct {
	// Locale is the page's language: en, fr or es.
	Locale string
	// Page is the page's file name without .html, on <main data-page>.
	Page string
	// CSS is the style sheet (layout only).
	CSS template.CSS
	// Customer is who invites: the namespace's display name, else its name.
	Customer string
	// Account is the partner company's displayName.
	Account string
	// Role is the role's name in Locale.
	Role string
	// Systems are the systems' names in Locale; may be empty.
	Systems []string
	// Note is the inviter's personal note, plain text with line breaks.
	Note string
	// Expires is the link's expiry as the locale writes it, in UTC.
	Expires string
	// ExpiresISO is the expiry in RFC 3339, for <time datetime>.
	ExpiresISO string
	// Token is the link's token, for the forms' hidden field.
	Token string
	// HubURL is the Partner Hub, with the account as query parameters.
	HubURL string
	// Kind is the error page's kind (errNotFound, ...).
	Kind string
}

// pageSet holds every page of every locale, ready to execute.
type pageSet struct {
	pages map[string]*template.Template // "<locale>/<file>"
}

var builtinPages = sync.OnceValues(func() (*pageSet, error) { return parsePages(templatesFS, nil) })

// parsePages parses the pages of fsys (templates/layout.html and
// templates/<locale>/<file>), each replaced by overrides["<locale>.<file>"]
// when present. An unknown override key or a page that does not parse is
// an error naming it.
func parsePages(fsys fs.FS, overrides map[string]string) (*pageSet, error) {
	layoutSrc, err := fs.ReadFile(fsys, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("reading the page layout: %w", err)
	}
	layout, err := template.New("layout.html").Parse(string(layoutSrc))
	if err != nil {
		return nil, fmt.Errorf("parsing the page layout: %w", err)
	}
	for key := range overrides {
		locale, file, _ := strings.Cut(key, ".")
		if !slices.Contains(locales, locale) || !slices.Contains(pageFiles, file) {
			return nil, fmt.Errorf("page template %q: unknown; keys are %s<locale>.<file> with locale one of %s and file one of %s",
				email.PagePrefix+key, email.PagePrefix, strings.Join(locales, ", "), strings.Join(pageFiles, ", "))
		}
	}
	set := &pageSet{pages: map[string]*template.Template{}}
	for _, locale := range locales {
		for _, file := range pageFiles {
			src, ok := overrides[locale+"."+file]
			if !ok {
				b, err := fs.ReadFile(fsys, "templates/"+locale+"/"+file)
				if err != nil {
					return nil, fmt.Errorf("reading page %s/%s: %w", locale, file, err)
				}
				src = string(b)
			}
			t, err := template.Must(layout.Clone()).New(file).Parse(src)
			if err != nil {
				return nil, fmt.Errorf("parsing page %s/%s: %w", locale, file, err)
			}
			set.pages[locale+"/"+file] = t
		}
	}
	return set, nil
}

// render executes a page in d.Locale (English when unknown).
func (s *pageSet) render(file string, d pageData) ([]byte, error) {
	if !slices.Contains(locales, d.Locale) {
		d.Locale = locales[0]
	}
	t, ok := s.pages[d.Locale+"/"+file]
	if !ok {
		return nil, fmt.Errorf("no page %s/%s", d.Locale, file)
	}
	d.Page = strings.TrimSuffix(file, ".html")
	d.CSS = template.CSS(style())
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", d); err != nil {
		return nil, fmt.Errorf("rendering page %s/%s: %w", d.Locale, file, err)
	}
	return b.Bytes(), nil
}

// isBidiControl reports the invisible marks that reorder text on screen,
// which could make a name or a note read as something else.
func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// oneLine puts a name on one line: control characters and line breaks
// become spaces, runs of spaces one space, bidi controls go.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case isBidiControl(r):
			return -1
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// noteText keeps a note's line breaks (as \n, shown by CSS white-space:
// pre-line) and drops other control characters and blank lines at both
// ends.
func noteText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\t", " ").Replace(s)
	s = strings.Map(func(r rune) rune {
		if r != '\n' && (isBidiControl(r) || unicode.IsControl(r)) {
			return -1
		}
		return r
	}, s)
	return strings.TrimFunc(s, unicode.IsSpace)
}

// negotiateLocale picks the page language for a request that names no
// invitation, from its Accept-Language header (RFC 9110 §12.5.4): the
// supported language with the highest weight, the first listed on a tie,
// English when none fits. Only the primary subtag counts (fr-CA is fr).
func negotiateLocale(header string) string {
	best, bestQ := locales[0], 0.0
	if len(header) > 1024 {
		header = header[:1024]
	}
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || strings.ToLower(strings.TrimSpace(k)) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || !(f >= 0 && f <= 1) {
				f = 0
			}
			q = f
		}
		primary, _, _ := strings.Cut(tag, "-")
		if primary == "*" {
			primary = locales[0]
		}
		if q > bestQ && slices.Contains(locales, primary) {
			best, bestQ = primary, q
		}
	}
	return best
}
