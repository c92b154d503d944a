package i18n

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
)

// TestCatalogs holds the rule for adding a language (DEVELOPERS.md): a
// catalog file and an enum value, nothing more to forget. Every locale of
// the API's Locale enum, as the generated CRDs enforce it, has a catalog;
// every catalog is a locale of the enum; every catalog has exactly the
// messages the English one has; and the configuration's catalogue names
// (config.LocalizedText) can be written in every locale.
func TestCatalogs(t *testing.T) {
	enum := map[string]bool{}
	for _, l := range v1alpha1.Locales {
		enum[string(l)] = true
	}
	if crd := crdLocaleEnums(t); !maps.Equal(crd, enum) {
		t.Errorf("the CRDs' locale enum is %v, v1alpha1.Locales %v: run make manifests", slices.Sorted(maps.Keys(crd)), slices.Sorted(maps.Keys(enum)))
	}
	if Locales[0] != string(v1alpha1.LocaleEnglish) {
		t.Errorf("the default locale is %s, want English (the catalogs are checked against it)", Locales[0])
	}

	files, err := fs.Glob(catalogFS, "catalog/*")
	if err != nil {
		t.Fatal(err)
	}
	catalogs := map[string]map[string]string{}
	for _, f := range files {
		locale, ok := strings.CutSuffix(filepath.Base(f), ".toml")
		if !ok || !enum[locale] {
			t.Errorf("%s is not a catalog of a locale of the API's Locale enum (%v): add the enum value in api/v1alpha1", f, slices.Sorted(maps.Keys(enum)))
			continue
		}
		catalogs[locale] = catalogMessages(t, f)
	}
	for locale := range enum {
		if _, ok := catalogs[locale]; !ok {
			t.Errorf("the locale %s has no catalog: add catalog/%s.toml", locale, locale)
		}
	}

	english := catalogs[DefaultLocale]
	if len(english) < 50 {
		t.Fatalf("the English catalog has %d messages: the parsing is stale", len(english))
	}
	for locale, msgs := range catalogs {
		for id := range english {
			if _, ok := msgs[id]; !ok {
				t.Errorf("catalog/%s.toml lacks the message %s", locale, id)
			} else if strings.TrimSpace(msgs[id]) == "" {
				t.Errorf("catalog/%s.toml has an empty %s", locale, id)
			}
		}
		for id := range msgs {
			if _, ok := english[id]; !ok {
				t.Errorf("catalog/%s.toml has %s, which the English catalog does not have (a typo, or a message no document calls)", locale, id)
			}
		}
	}

	for locale := range enum {
		var text config.LocalizedText
		if err := json.Unmarshal([]byte(`{"en":"in English","`+locale+`":"in `+locale+`"}`), &text); err != nil {
			t.Fatal(err)
		}
		if got := text.For(locale); got != "in "+locale {
			t.Errorf("the configuration's catalogue names cannot be written in %s (LocalizedText.For(%q) = %q): add it to internal/config", locale, locale, got)
		}
	}
}

// catalogMessages reads one catalog file as it is, without the English
// fallback the package fills in.
func catalogMessages(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(catalogFS, path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := goi18n.ParseMessageFileBytes(b, path, map[string]goi18n.UnmarshalFunc{"toml": toml.Unmarshal})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	msgs := map[string]string{}
	for _, m := range f.Messages {
		msgs[m.ID] = m.Other
	}
	return msgs
}

// crdLocaleEnums returns the enum of the locale fields (locale,
// defaultLocale) of the generated CRDs, which must all be the same.
func crdLocaleEnums(t *testing.T) map[string]bool {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CRDs under config/crd/bases (%v)", err)
	}
	var found []map[string]bool
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if prop, ok := c.(map[string]any); ok && (k == "locale" || k == "defaultLocale") {
					if enum, ok := prop["enum"].([]any); ok {
						set := map[string]bool{}
						for _, e := range enum {
							set[e.(string)] = true
						}
						found = append(found, set)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		walk(doc)
	}
	if len(found) == 0 {
		t.Fatal("found no locale enum in the CRDs (PartnerInvitation's spec.locale at least): the walk is stale")
	}
	for _, set := range found[1:] {
		if !maps.Equal(set, found[0]) {
			t.Errorf("the CRDs' locale fields disagree: %v and %v", slices.Sorted(maps.Keys(found[0])), slices.Sorted(maps.Keys(set)))
		}
	}
	return found[0]
}

// TestEveryDocumentRendersInEveryLocale renders each page and the email in
// each locale with everything shown, so that a message whose template
// names data its document does not have fails here.
func TestEveryDocumentRendersInEveryLocale(t *testing.T) {
	pages, err := BuiltinPages()
	if err != nil {
		t.Fatal(err)
	}
	for _, locale := range Locales {
		for _, file := range pageFiles {
			d := PageData{Locale: locale, Customer: "Acme", Account: "Globex", Role: "Editor", Systems: []string{"Store"},
				Note: "Hi", Expires: "soon", ExpiresISO: "2026-11-30T10:00:00Z", Token: "t", HubURL: "https://hub.example.com/", Kind: KindNotFound}
			if _, err := pages.Render(file, d); err != nil {
				t.Errorf("%s/%s: %v", locale, file, err)
			}
		}
		inv := Invitation{Locale: locale, Recipient: "jane@example.com", CustomerName: "Acme", AccountName: "Globex", RoleName: "Editor",
			SystemNames: []string{"Store"}, PersonalMessage: "Hi", ExpiresAt: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), AcceptURL: "https://p.example/a?token=t"}
		if _, err := Builtin().Render(inv); err != nil {
			t.Errorf("the %s email: %v", locale, err)
		}
		if got := FormatExpiry(locale, inv.ExpiresAt); !strings.Contains(got, "2026") || !strings.Contains(got, "09:00") {
			t.Errorf("FormatExpiry(%s) = %q", locale, got)
		}
	}
}
