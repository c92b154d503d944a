package i18n

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode"
)

// This file composes the invitation email: a one-line subject, a plain text
// body and an HTML body in the invitation's language, from the built-in
// templates (templates/email/, with the locale's catalog) that an operator
// may replace one by one from a ConfigMap (configmap.go).
//
// Each locale has three templates, named by ConfigMap data keys
// "<locale>.<file>":
//
//   - subject.txt: the subject, a text/template. Line breaks and other
//     control characters are folded into spaces after rendering.
//   - body.txt: the text/plain body, a text/template.
//   - body.html: the text/html body, an html/template: every value is
//     escaped for where it appears.
//
// Templates see a TemplateData and one function, lines, which splits a text
// into its lines: {{range $i, $l := lines .PersonalMessage}}{{if $i}}<br>{{end}}{{$l}}{{end}}
// puts the personal note in HTML with its line breaks, escaped. They may
// also call the locale's catalog messages, as the built-in ones do: an
// override written as a whole template in one language needs none of them.
//
// An override must parse, render for a sample invitation with and without
// systems and a personal note, and both bodies must show .AcceptURL.

// Invitation is everything an invitation email shows.
type Invitation struct {
	// Locale is the language, one of Locales.
	Locale string
	// Recipient is the invited address.
	Recipient string
	// CustomerName is who invites: the namespace's partnerops.dev/display-name
	// annotation, else the namespace's name.
	CustomerName string
	// AccountName is the partner account's displayName.
	AccountName string
	// RoleName is the role's human name in Locale.
	RoleName string
	// SystemNames are the systems' human names in Locale; may be empty.
	SystemNames []string
	// PersonalMessage is the inviter's note, plain text that may hold line
	// breaks; may be empty. It is shown escaped, attributed to CustomerName.
	PersonalMessage string
	// ExpiresAt is when the link stops working, shown in UTC as the
	// locale writes dates.
	ExpiresAt time.Time
	// AcceptURL is the signed link, https://…/invitations/accept?token=….
	AcceptURL string
}

// Rendered is a composed email.
type Rendered struct {
	// Subject is one line, without control characters.
	Subject string
	// Text is the text/plain body.
	Text string
	// HTML is the text/html body.
	HTML string
}

// TemplateData is what the templates see: the Invitation's fields, cleaned
// (names on one line, the personal note with \n line breaks, no control
// characters, ExpiresAt in UTC, SystemNames never nil), the rendered
// subject and the expiry written for people.
type TemplateData struct {
	Invitation
	// Subject is the rendered subject (empty in subject.txt itself).
	Subject string
	// Expires is ExpiresAt as the locale writes it: "30 November 2026,
	// 18:00 UTC", "30 novembre 2026 à 18:00 UTC", "30 de noviembre de
	// 2026, 18:00 UTC".
	Expires string
}

// The templates of one locale, by file name.
const (
	fileSubject = "subject.txt"
	fileText    = "body.txt"
	fileHTML    = "body.html"
)

var files = []string{fileSubject, fileText, fileHTML}

//go:embed templates
var templatesFS embed.FS

// Templates are the email templates of every locale. A Templates is never
// changed once built, and is safe for concurrent use.
type Templates struct {
	locales map[string]*localeTemplates
}

type localeTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

var builtin = sync.OnceValue(func() *Templates {
	t := &Templates{locales: map[string]*localeTemplates{}}
	for _, locale := range Locales {
		t.locales[locale] = &localeTemplates{}
		for _, file := range files {
			src, err := fs.ReadFile(templatesFS, "templates/email/"+file)
			if err == nil {
				err = t.set(locale+"."+file, string(src))
			}
			if err != nil {
				panic(fmt.Sprintf("built-in email template %s.%s: %v", locale, file, err))
			}
		}
	}
	return t
})

// Builtin returns the built-in email templates, embedded in the binary:
// templates/email/ with each locale's catalog.
func Builtin() *Templates { return builtin() }

// WithOverrides returns templates where each key of data replaces the
// template of that name; t is unchanged. Keys are "<locale>.<file>", such
// as "fr.body.html" (the data keys of a ConfigMap); keys starting with
// PagePrefix belong to the acceptance page and are skipped. An unknown key, a
// template that does not parse, that fails to render for a sample
// invitation or whose body does not show .AcceptURL is an error naming its
// key; all such errors are returned together.
func (t *Templates) WithOverrides(data map[string]string) (*Templates, error) {
	out := &Templates{locales: make(map[string]*localeTemplates, len(t.locales))}
	for locale, lt := range t.locales {
		c := *lt
		out.locales[locale] = &c
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range data {
			if strings.HasPrefix(k, PagePrefix) {
				continue // the acceptance page's templates share the ConfigMap
			}
			if !yield(k) {
				return
			}
		}
	})
	var errs OverrideErrors
	for _, key := range keys {
		if err := out.set(key, data[key]); err != nil {
			errs = append(errs, fmt.Errorf("template %q: %w", key, err))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for _, key := range keys {
		if err := out.check(key); err != nil {
			errs = append(errs, fmt.Errorf("template %q: %w", key, err))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// OverrideErrors are the problems WithOverrides found, one per key, each
// naming its key.
type OverrideErrors []error

// Error lists the problems on one line, separated by semicolons, so that
// they fit a condition message.
func (e OverrideErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = strings.ReplaceAll(err.Error(), "\n", " ")
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives the problems to errors.Is and errors.As.
func (e OverrideErrors) Unwrap() []error { return e }

// set parses src as the template named key.
func (t *Templates) set(key, src string) error {
	locale, file, _ := strings.Cut(key, ".")
	lt, ok := t.locales[locale]
	if !ok || !slices.Contains(files, file) {
		return fmt.Errorf("unknown template: keys are <locale>.<file> with locale one of %s and file one of %s",
			strings.Join(Locales, ", "), strings.Join(files, ", "))
	}
	var err error
	switch file {
	case fileSubject:
		lt.subject, err = newTextTemplate(key, src, messages(locale))
	case fileText:
		lt.text, err = newTextTemplate(key, src, messages(locale))
	case fileHTML:
		lt.html, err = newHTMLTemplate(key, src, messages(locale))
	}
	return err
}

// newTextTemplate parses src as the text/template named name, with the locale's
// messages for it to call.
func newTextTemplate(name, src string, messages map[string]string) (*texttemplate.Template, error) {
	t := texttemplate.New(name).Funcs(textFuncs)
	if err := addMessages(t, messages); err != nil {
		return nil, err
	}
	return t.Parse(src)
}

// newHTMLTemplate is newTextTemplate for an html/template.
func newHTMLTemplate(name, src string, messages map[string]string) (*htmltemplate.Template, error) {
	t := htmltemplate.New(name).Funcs(htmlFuncs)
	if err := addMessages(t, messages); err != nil {
		return nil, err
	}
	return t.Parse(src)
}

// Values of the sample invitations an override must render.
const (
	sampleToken = "SAMPLE-TOKEN-8c55"
	sampleURL   = "https://partners.example.com/invitations/accept?token=" + sampleToken
)

// check renders the template named key for a full and a minimal sample.
func (t *Templates) check(key string) error {
	locale, file, _ := strings.Cut(key, ".")
	full := Invitation{
		Locale: locale, Recipient: "jane.doe@partner.example", CustomerName: "Example Retail",
		AccountName: "Partner Consulting", RoleName: "Editor", SystemNames: []string{"Online store", "Analytics"},
		PersonalMessage: "Hello Jane,\nwelcome aboard.", ExpiresAt: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC),
		AcceptURL: sampleURL,
	}
	minimal := full
	minimal.SystemNames, minimal.PersonalMessage = nil, ""
	for _, inv := range []Invitation{full, minimal} {
		data, err := newTemplateData(inv)
		if err != nil {
			return err
		}
		lt := t.locales[locale]
		var out string
		switch file {
		case fileSubject:
			if out, err = lt.renderSubject(data); err != nil {
				return err
			}
		case fileText:
			data.Subject = "Sample subject"
			out, err = execute(lt.text, data)
		case fileHTML:
			data.Subject = "Sample subject"
			out, err = execute(lt.html, data)
		}
		if err != nil {
			return err
		}
		if file != fileSubject && !strings.Contains(out, sampleToken) {
			return errors.New("the body must show the accept link, {{.AcceptURL}}")
		}
	}
	return nil
}

// Render composes the invitation email in inv.Locale. It fails for an
// unknown locale, a missing name or link, or a template that fails.
func (t *Templates) Render(inv Invitation) (Rendered, error) {
	lt, ok := t.locales[inv.Locale]
	if !ok {
		return Rendered{}, fmt.Errorf("no email templates for locale %q (known: %s)", inv.Locale, strings.Join(Locales, ", "))
	}
	data, err := newTemplateData(inv)
	if err != nil {
		return Rendered{}, err
	}
	var r Rendered
	if r.Subject, err = lt.renderSubject(data); err != nil {
		return Rendered{}, fmt.Errorf("rendering %s.%s: %w", inv.Locale, fileSubject, err)
	}
	data.Subject = r.Subject
	if r.Text, err = execute(lt.text, data); err != nil {
		return Rendered{}, fmt.Errorf("rendering %s.%s: %w", inv.Locale, fileText, err)
	}
	r.Text = tidyText(r.Text)
	if r.HTML, err = execute(lt.html, data); err != nil {
		return Rendered{}, fmt.Errorf("rendering %s.%s: %w", inv.Locale, fileHTML, err)
	}
	return r, nil
}

func (lt *localeTemplates) renderSubject(data TemplateData) (string, error) {
	s, err := execute(lt.subject, data)
	if err != nil {
		return "", err
	}
	// An RFC 2047 encoded word ("=?UTF-8?Q?…?=") in a name would be decoded
	// by mail clients into what OneLine removes (line breaks, bidi
	// overrides): its opening is broken up, so it shows as written.
	s = strings.ReplaceAll(OneLine(s), "=?", "= ?")
	if s == "" {
		return "", errors.New("the subject is empty")
	}
	return s, nil
}

// execute runs a text or HTML template.
func execute(tmpl interface {
	Execute(io.Writer, any) error
}, data TemplateData) (string, error) {
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// The functions templates may call.
var (
	textFuncs = texttemplate.FuncMap{"lines": lines}
	htmlFuncs = htmltemplate.FuncMap{"lines": lines}
)

// newTemplateData checks and cleans inv for the templates.
func newTemplateData(inv Invitation) (TemplateData, error) {
	d := TemplateData{Invitation: Invitation{
		Locale:          inv.Locale,
		Recipient:       OneLine(inv.Recipient),
		CustomerName:    OneLine(inv.CustomerName),
		AccountName:     OneLine(inv.AccountName),
		RoleName:        OneLine(inv.RoleName),
		SystemNames:     []string{},
		PersonalMessage: cleanMessage(inv.PersonalMessage),
		ExpiresAt:       inv.ExpiresAt.UTC(),
		AcceptURL:       inv.AcceptURL,
	}}
	for _, f := range []struct{ name, v string }{
		{"Recipient", d.Recipient}, {"CustomerName", d.CustomerName}, {"AccountName", d.AccountName}, {"RoleName", d.RoleName},
	} {
		if f.v == "" {
			return TemplateData{}, fmt.Errorf("the invitation has no %s", f.name)
		}
	}
	for _, s := range inv.SystemNames {
		if s = OneLine(s); s != "" {
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
