package i18n

import (
	"slices"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := map[string]string{
		"":                                 "en",
		"fr":                               "fr",
		"fr-CA":                            "fr",
		"ES-mx":                            "es",
		"de-DE,de;q=0.9":                   "en",
		"de-DE,de;q=0.9,es;q=0.8,fr;q=0.7": "es",
		"en;q=0.2, fr;q=0.8":               "fr",
		"fr;q=0, es;q=0.1":                 "es",
		"*":                                "en",
		"*, fr;q=0.5":                      "en",
		"es, fr":                           "es",
		"fr-CA, es":                        "fr",
		"fr;q=abc, es;q=0.5":               "es",
		"fr;q=NaN, es;q=0.5":               "es",
		"fr;q=2, es;q=0.5":                 "es",
		";;;,,,==":                         "en",
		// A related language is not the language: Galician is not Spanish.
		"gl":              "en",
		"gl, fr;q=0.5":    "fr",
		"eu, fr;q=0.5":    "fr",
		"br, es-419;q=.5": "es",
	}
	for header, want := range tests {
		if got := Negotiate(header); got != want {
			t.Errorf("Negotiate(%q) = %q, want %q", header, got, want)
		}
	}
}

// FuzzNegotiate: any Accept-Language header gives a supported locale.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "fr-CA,fr;q=0.9", "es;q=0.1,*;q=0.5", "de;q=NaN", strings.Repeat("fr;q=0.1,", 500)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if got := Negotiate(header); !slices.Contains(Locales, got) {
			t.Fatalf("Negotiate(%q) = %q", header, got)
		}
	})
}

func TestParsePagesOverrides(t *testing.T) {
	set, err := ParsePages(map[string]string{
		"fr.invalid.html": `{{define "title"}}Lien mort{{end}}{{define "content"}}<h1>Lien mort</h1>{{end}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	fr, _ := set.Render(PageDead, PageData{Locale: "fr"})
	en, _ := set.Render(PageDead, PageData{Locale: "en"})
	if !strings.Contains(string(fr), "<h1>Lien mort</h1>") || strings.Contains(string(en), "Lien mort") {
		t.Error("the override did not replace exactly fr/invalid.html")
	}
	if !strings.Contains(string(fr), "<style>"+Style()+"</style>") {
		t.Error("an overridden page lost the layout")
	}
	for key, wantErr := range map[string]string{
		"de.invalid.html":  `page template "page.de.invalid.html": unknown`,
		"fr.layout.html":   `page template "page.fr.layout.html": unknown`,
		"fr.accepted.html": "parsing page fr/accepted.html",
	} {
		_, err := ParsePages(map[string]string{key: "{{define \"title\"}}{{end}}{{if}}"})
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("override %s: error %v, want %q", key, err, wantErr)
		}
	}
}

// TestPageOverrideThatCannotBeEscaped: an override html/template cannot
// escape (an attribute left open) is refused when the pages are parsed, at
// the manager's start, not at a partner's first request for it.
func TestPageOverrideThatCannotBeEscaped(t *testing.T) {
	_, err := ParsePages(map[string]string{
		"fr.invalid.html": `{{define "title"}}Lien mort{{end}}{{define "content"}}<a href="{{.HubURL}}>Hub</a>{{end}}`,
	})
	if err == nil || !strings.Contains(err.Error(), "page fr/invalid.html") {
		t.Errorf("ParsePages = %v, want an escaping error naming fr/invalid.html", err)
	}
}

func TestPageOverridesMayCallTheCatalog(t *testing.T) {
	set, err := ParsePages(map[string]string{
		"es.invalid.html": `{{define "title"}}{{template "PageInvalidTitle" .}}{{end}}{{define "content"}}<h1>¡Vaya!</h1>{{end}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	es, err := set.Render(PageDead, PageData{Locale: "es"})
	if err != nil || !strings.Contains(string(es), "<title>Enlace no válido</title>") || !strings.Contains(string(es), "<h1>¡Vaya!</h1>") {
		t.Errorf("Render = %v:\n%s", err, es)
	}
}
