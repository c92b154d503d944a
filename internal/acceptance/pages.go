package acceptance

import "github.com/partnerops/partnerops/internal/i18n"

// This file names what the handler renders with. The pages' templates
// (i18n.Page*, the error page's kinds i18n.Kind*), their words in each
// language, the text cleaners and the choice of a language for a request
// are internal/i18n's, shared with the email.

// pageData is what the page templates see.
type pageData = i18n.PageData

// pageSet holds every page of every locale, ready to execute.
type pageSet struct {
	pages *i18n.Pages
}

// builtinPages returns the built-in pages.
func builtinPages() (*pageSet, error) {
	p, err := i18n.BuiltinPages()
	if err != nil {
		return nil, err
	}
	return &pageSet{pages: p}, nil
}

// render executes a page in d.Locale (the default locale when unknown).
func (s *pageSet) render(file string, d pageData) ([]byte, error) {
	return s.pages.Render(file, d)
}

// styleHash is the Content Security Policy source for the pages' <style>.
func styleHash() string { return i18n.StyleHash() }

// oneLine puts a name on one line (i18n.OneLine).
func oneLine(s string) string { return i18n.OneLine(s) }

// noteText is the inviter's note as the page shows it (i18n.NoteText).
func noteText(s string) string { return i18n.NoteText(s) }

// negotiateLocale picks the language of a page that names no invitation
// from its Accept-Language header (i18n.Negotiate).
func negotiateLocale(header string) string { return i18n.Negotiate(header) }
