// Package i18n holds everything partners read, in their language: the
// invitation email (subject, text and HTML bodies; composed here, delivered
// by internal/smtp) and the acceptance page's HTML (served by
// internal/acceptance).
//
// Each document's structure is written once, as Go templates under
// templates/email/ and templates/page/. The words of each language are one
// message catalog, catalog/<locale>.toml, in the format of go-i18n
// (github.com/nicksnyder/go-i18n/v2): catalog/en.toml describes every
// message. A message is a template fragment that a document calls by its
// ID with the document's data, {{template "EmailHeading" .}}: html/template
// escapes the values a message shows exactly where they appear, as if the
// words were written in the document, and the message's own markup
// (<strong>, &nbsp;) is kept as the catalog writes it.
//
// The languages are the API's locales (v1alpha1.Locales), English first and
// the default. Adding one is a catalog file and an enum value (DEVELOPERS.md,
// "Adding a language"); TestCatalogs fails until both exist and the
// catalog has every message the English one has.
//
// The text cleaners (text.go) are the one place where names and notes from
// the API and the configuration are made fit to show: on one line, or with
// their line breaks, and without control or bidi characters.
package i18n

import (
	"cmp"
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// Locales are the languages partners read, as the API names them
// (v1alpha1.Locales), the default first.
var Locales = func() []string {
	out := make([]string, len(v1alpha1.Locales))
	for i, l := range v1alpha1.Locales {
		out[i] = string(l)
	}
	return out
}()

// DefaultLocale is the language of a document whose locale is unknown.
var DefaultLocale = Locales[0]

//go:embed catalog/*.toml
var catalogFS embed.FS

// catalog is the messages of every locale.
type catalog struct {
	bundle *goi18n.Bundle
	// sources are each locale's message templates by ID. A message a
	// catalog lacks is the default locale's (TestCatalogs keeps that
	// from shipping).
	sources map[string]map[string]string
}

// loadCatalog reads catalog/<locale>.toml from fsys for each of locales,
// the first being the default.
func loadCatalog(fsys fs.FS, locales []string) (*catalog, error) {
	bundle := goi18n.NewBundle(language.Make(locales[0]))
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &catalog{bundle: bundle, sources: map[string]map[string]string{}}
	for _, locale := range locales {
		f, err := bundle.LoadMessageFileFS(fsys, "catalog/"+locale+".toml")
		if err != nil {
			return nil, fmt.Errorf("loading the %s catalog: %w", locale, err)
		}
		src := maps.Clone(c.sources[locales[0]])
		if src == nil {
			src = map[string]string{}
		}
		for _, m := range f.Messages {
			src[m.ID] = m.Other
		}
		c.sources[locale] = src
	}
	return c, nil
}

var builtinCatalog = sync.OnceValue(func() *catalog {
	c, err := loadCatalog(catalogFS, Locales)
	if err != nil {
		panic(fmt.Sprintf("built-in message catalog: %v", err))
	}
	return c
})

// messages returns locale's message templates by ID (the default locale's
// for an unknown locale).
func messages(locale string) map[string]string {
	c := builtinCatalog()
	if src, ok := c.sources[locale]; ok {
		return src
	}
	return c.sources[DefaultLocale]
}

// templateSet is a text/template or html/template set.
type templateSet[T any] interface {
	New(name string) T
	Parse(src string) (T, error)
}

// addMessages parses each message into t's set as a template named by its
// ID, for the set's templates to call. The set's functions must be given
// before.
func addMessages[T templateSet[T]](t T, messages map[string]string) error {
	for _, id := range slices.Sorted(maps.Keys(messages)) {
		if _, err := t.New(id).Parse(messages[id]); err != nil {
			return fmt.Errorf("message %s: %w", id, err)
		}
	}
	return nil
}

// monthMessages are the IDs of the months, January first.
var monthMessages = [12]string{
	"MonthJanuary", "MonthFebruary", "MonthMarch", "MonthApril", "MonthMay", "MonthJune",
	"MonthJuly", "MonthAugust", "MonthSeptember", "MonthOctober", "MonthNovember", "MonthDecember",
}

// FormatExpiry writes t, in UTC and to the minute, as the locale writes a
// date and time (the catalog's ExpiryDate; the email and the acceptance page
// show the same words): "30 November 2026, 18:00 UTC", "1er décembre 2026 à
// 18:00 UTC", "30 de noviembre de 2026, 18:00 UTC". Unknown locales get
// the default locale.
func FormatExpiry(locale string, t time.Time) string {
	t = t.UTC()
	if !slices.Contains(Locales, locale) {
		locale = DefaultLocale
	}
	l := goi18n.NewLocalizer(builtinCatalog().bundle, locale)
	month, err := l.Localize(&goi18n.LocalizeConfig{MessageID: monthMessages[t.Month()-1]})
	if err != nil {
		return t.Format("2006-01-02 15:04") + " UTC"
	}
	s, err := l.Localize(&goi18n.LocalizeConfig{
		MessageID:    "ExpiryDate",
		TemplateData: map[string]any{"Day": t.Day(), "Month": month, "Year": t.Year(), "Time": t.Format("15:04")},
	})
	if err != nil {
		return t.Format("2006-01-02 15:04") + " UTC"
	}
	return s
}

// maxAcceptLanguage bounds how much of an Accept-Language header is read.
const maxAcceptLanguage = 1024

var (
	matcher = sync.OnceValue(func() language.Matcher {
		tags := make([]language.Tag, len(Locales))
		for i, l := range Locales {
			tags[i] = language.Make(l)
		}
		return language.NewMatcher(tags)
	})
	// anyLanguage is what x/text makes of "*".
	anyLanguage = language.Make("mul")
)

// Negotiate picks the language of a page that names no invitation from the
// request's Accept-Language header (RFC 9110 §12.5.4), with x/text's
// language matcher over Locales: the supported language with the highest
// weight, the first listed on a tie, the default when none fits. "*" stands
// for the default. Only entries in a supported language count (fr-CA is
// fr), not those the matcher would take for a related one (Galician for
// Spanish, say); an entry that does not parse, or whose weight is not in
// (0, 1], counts for nothing.
func Negotiate(header string) string {
	if len(header) > maxAcceptLanguage {
		header = header[:maxAcceptLanguage]
	}
	type wanted struct {
		tag    language.Tag
		weight float32
	}
	var entries []wanted
	for entry := range strings.SplitSeq(header, ",") {
		tags, weights, err := language.ParseAcceptLanguage(entry)
		if err != nil || len(tags) != 1 || !(weights[0] > 0 && weights[0] <= 1) {
			continue
		}
		tag := tags[0]
		if tag == anyLanguage {
			tag = language.Make(DefaultLocale)
		}
		if base, _ := tag.Base(); !slices.ContainsFunc(Locales, func(l string) bool {
			b, _ := language.Make(l).Base()
			return b == base
		}) {
			continue
		}
		entries = append(entries, wanted{tag, weights[0]})
	}
	slices.SortStableFunc(entries, func(a, b wanted) int { return cmp.Compare(b.weight, a.weight) })
	desired := make([]language.Tag, len(entries))
	for i, e := range entries {
		desired[i] = e.tag
	}
	_, i, _ := matcher().Match(desired...)
	return Locales[i]
}
