package i18n

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

// This file renders the acceptance page: html/template, each page a file
// under templates/page/ that defines "title" and "content" inside the
// shared templates/page/layout.html, styled by templates/page/page.css, in
// each locale with its catalog. The pages that only tell the partner
// something (declined, expired, invalid) define a heading, a lead and a
// hint and take their markup from the layout's "notice".
//
// The layout and the style sheet are not overridable: the Content Security
// Policy carries the style sheet's hash, computed once. Each locale's pages
// are; ParsePages takes overrides keyed "<locale>.<file>" (the templates
// ConfigMap's "page.<locale>.<file>" keys without PagePrefix), so reading
// them from the ConfigMap only needs a source of that map.

// The pages, by file name.
const (
	PageInvitation = "invitation.html" // the pending invitation, with its forms
	PageAccepted   = "accepted.html"   // already accepted, with a link to the Hub
	PageExpired    = "expired.html"    // 410: ask the customer for a new invitation
	PageDeclined   = "declined.html"   // the partner declined
	PageDead       = "invalid.html"    // 404: the one generic page for a dead link
	PageError      = "error.html"      // other errors, by kind
	PageSignIn     = "signin.html"     // the sign-in's outcome, by kind (acceptance.signIn: oidc)
)

var pageFiles = []string{PageInvitation, PageAccepted, PageExpired, PageDeclined, PageDead, PageError, PageSignIn}

// Kinds of the error page (PageData.Kind).
const (
	KindNotFound         = "notFound"
	KindMethodNotAllowed = "methodNotAllowed"
	KindTooLarge         = "tooLarge"
	KindUnsupportedMedia = "unsupportedMedia"
	KindBadRequest       = "badRequest"
	KindTooManyRequests  = "tooManyRequests"
	KindUnavailable      = "unavailable"
	KindInternal         = "internal"
)

// Kinds of the sign-in page (PageData.Kind).
const (
	// KindSignedIn: the partner signed in with the invited address; the
	// page's form accepts.
	KindSignedIn = "signedIn"
	// KindWrongAddress: the partner signed in with another address.
	KindWrongAddress = "wrongAddress"
	// KindSignInFailed: the sign-in proves nothing (refused, replayed,
	// from another browser, too late); start again from the link.
	KindSignInFailed = "signInFailed"
	// KindSignInUnavailable: the identity provider cannot be reached.
	KindSignInUnavailable = "signInUnavailable"
)

// PagePrefix starts the keys of the acceptance page's templates, which
// share the templates ConfigMap with the emails ("page.fr.accept.html");
// WithOverrides leaves them alone.
const PagePrefix = "page."

// Style is the page's style sheet, put in the layout's <style> element as
// is.
func Style() string { return style() }

var style = sync.OnceValue(func() string {
	b, err := fs.ReadFile(templatesFS, "templates/page/page.css")
	if err != nil {
		panic(fmt.Sprintf("acceptance page style sheet: %v", err))
	}
	return string(b)
})

// StyleHash is the Content Security Policy source for the page's <style>
// element: 'sha256-…'.
func StyleHash() string {
	sum := sha256.Sum256([]byte(Style()))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// PageData is what the page templates see.
type PageData struct {
	// Locale is the page's language, one of Locales.
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
	// Kind is the error page's kind (KindNotFound, ...) or the sign-in
	// page's (KindSignedIn, ...).
	Kind string
	// SignIn is true when accepting starts a sign-in with the identity
	// provider (the invitation page says so).
	SignIn bool
	// SignedInEmail is the address the partner signed in with (sign-in
	// page).
	SignedInEmail string
	// Ticket is the signed sign-in ticket, for the sign-in page's form.
	Ticket string
}

// Pages holds every page of every locale, ready to execute. It is never
// changed once built, and is safe for concurrent use.
type Pages struct {
	pages map[string]*template.Template // "<locale>/<file>"
}

var builtinPages = sync.OnceValues(func() (*Pages, error) { return ParsePages(nil) })

// BuiltinPages returns the built-in pages, embedded in the binary:
// templates/page/ with each locale's catalog.
func BuiltinPages() (*Pages, error) { return builtinPages() }

// ParsePages parses the pages (templates/page/layout.html and
// templates/page/<file>, with each locale's catalog), each replaced by
// overrides["<locale>.<file>"] when present. An unknown override key or a
// page that does not parse is an error naming it.
func ParsePages(overrides map[string]string) (*Pages, error) {
	layoutSrc, err := fs.ReadFile(templatesFS, "templates/page/layout.html")
	if err != nil {
		return nil, fmt.Errorf("reading the page layout: %w", err)
	}
	layout, err := template.New("layout.html").Parse(string(layoutSrc))
	if err != nil {
		return nil, fmt.Errorf("parsing the page layout: %w", err)
	}
	for key := range overrides {
		locale, file, _ := strings.Cut(key, ".")
		if !slices.Contains(Locales, locale) || !slices.Contains(pageFiles, file) {
			return nil, fmt.Errorf("page template %q: unknown; keys are %s<locale>.<file> with locale one of %s and file one of %s",
				PagePrefix+key, PagePrefix, strings.Join(Locales, ", "), strings.Join(pageFiles, ", "))
		}
	}
	set := &Pages{pages: map[string]*template.Template{}}
	for _, locale := range Locales {
		base := template.Must(layout.Clone())
		if err := addMessages(base, messages(locale)); err != nil {
			return nil, fmt.Errorf("the %s catalog: %w", locale, err)
		}
		for _, file := range pageFiles {
			src, ok := overrides[locale+"."+file]
			if !ok {
				b, err := fs.ReadFile(templatesFS, "templates/page/"+file)
				if err != nil {
					return nil, fmt.Errorf("reading page %s: %w", file, err)
				}
				src = string(b)
			}
			t, err := template.Must(base.Clone()).New(file).Parse(src)
			if err != nil {
				return nil, fmt.Errorf("parsing page %s/%s: %w", locale, file, err)
			}
			set.pages[locale+"/"+file] = t
			if err := escapeNow(t); err != nil {
				return nil, fmt.Errorf("page %s/%s: %w", locale, file, err)
			}
		}
	}
	return set, nil
}

// escapeNow makes html/template escape t now, as it otherwise does at its
// first execution: under a lock every request for the page waits on (the
// first partner after a start waited some 200 ms), and with an override
// that cannot be escaped failing a partner's request instead of the
// start. Executing with no data may fail on the data; only an escaping
// error is t's.
func escapeNow(t *template.Template) error {
	err := t.ExecuteTemplate(io.Discard, "layout", PageData{Page: strings.TrimSuffix(t.Name(), ".html"), CSS: template.CSS(Style())})
	var escErr *template.Error
	if errors.As(err, &escErr) {
		return err
	}
	return nil
}

// Render executes a page in d.Locale (the default locale when unknown).
func (s *Pages) Render(file string, d PageData) ([]byte, error) {
	if !slices.Contains(Locales, d.Locale) {
		d.Locale = DefaultLocale
	}
	t, ok := s.pages[d.Locale+"/"+file]
	if !ok {
		return nil, fmt.Errorf("no page %s/%s", d.Locale, file)
	}
	d.Page = strings.TrimSuffix(file, ".html")
	d.CSS = template.CSS(Style())
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", d); err != nil {
		return nil, fmt.Errorf("rendering page %s/%s: %w", d.Locale, file, err)
	}
	return b.Bytes(), nil
}
