package i18n

import (
	"errors"
	"flag"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current templates")

const acceptURL = "https://partners.acme.example/invitations/accept?token=v1.eyJ1aWQiOiIwZjNjMmE2ZSIsInIiOjJ9.c2lnbmF0dXJl"

// words are what the sample invitation shows in each locale, and what the
// templates write around it.
var words = map[string]struct {
	role, note, cta, noteHeader, noSystems string
	systems                                []string
}{
	"en": {
		role: "Editor", systems: []string{"Online store", "Analytics"},
		note:       "Hi Jane,\nWelcome aboard! We look forward to working with you on the spring launch.",
		cta:        "Accept and continue",
		noteHeader: "A note from Acme Retail:",
		noSystems:  "none yet",
	},
	"fr": {
		role: "Éditeur", systems: []string{"Boutique en ligne", "Analytique"},
		note:       "Bonjour Jeanne,\nRavis de vous compter parmi nous pour le lancement du printemps.",
		cta:        "Accepter et continuer",
		noteHeader: "Acme Retail a joint ce message\u00a0:",
		noSystems:  "aucun pour le moment",
	},
	"es": {
		role: "Editor", systems: []string{"Tienda en línea", "Analítica"},
		note:       "Hola, Juana:\nNos alegra contar con usted para el lanzamiento de primavera.",
		cta:        "Aceptar y continuar",
		noteHeader: "Mensaje de Acme Retail:",
		noSystems:  "ninguno por ahora",
	},
}

// invitation is the sample invitation in locale; mods change it.
func invitation(locale string, mods ...func(*Invitation)) Invitation {
	w := words[locale]
	inv := Invitation{
		Locale:          locale,
		Recipient:       "jane.doe@globex.example",
		CustomerName:    "Acme Retail",
		AccountName:     "Globex Consulting",
		RoleName:        w.role,
		SystemNames:     w.systems,
		PersonalMessage: w.note,
		ExpiresAt:       time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC),
		AcceptURL:       acceptURL,
	}
	for _, mod := range mods {
		mod(&inv)
	}
	return inv
}

func noExtras(inv *Invitation) { inv.SystemNames, inv.PersonalMessage = nil, "" }

func render(t *testing.T, tmpl *Templates, inv Invitation) Rendered {
	t.Helper()
	r, err := tmpl.Render(inv)
	if err != nil {
		t.Fatalf("Render(%s): %v", inv.Locale, err)
	}
	return r
}

func TestRenderShowsEveryField(t *testing.T) {
	wantExpiry := map[string]string{
		"en": "30 November 2026, 18:00 UTC",
		"fr": "30 novembre 2026 à 18:00 UTC",
		"es": "30 de noviembre de 2026, 18:00 UTC",
	}
	for _, locale := range Locales {
		t.Run(locale, func(t *testing.T) {
			inv := invitation(locale)
			r := render(t, Builtin(), inv)
			if !strings.Contains(r.Subject, "Acme Retail") {
				t.Errorf("subject %q does not say who invites", r.Subject)
			}
			w := words[locale]
			want := append([]string{"Acme Retail", "Globex Consulting", w.role, wantExpiry[locale], acceptURL, "jane.doe@globex.example", w.cta, w.noteHeader, "Partner Hub"}, w.systems...)
			for _, line := range strings.Split(w.note, "\n") {
				want = append(want, "> "+line)
			}
			for _, s := range want {
				if !strings.Contains(r.Text, s) {
					t.Errorf("the text part lacks %q:\n%s", s, r.Text)
				}
			}
			doc := parseHTML(t, r.HTML)
			text := doc.text()
			for _, s := range append([]string{"Acme Retail", "Globex Consulting", w.role, wantExpiry[locale], acceptURL, "jane.doe@globex.example", w.cta, w.noteHeader}, w.systems...) {
				if !strings.Contains(text, s) {
					t.Errorf("the HTML part does not show %q", s)
				}
			}
			for _, line := range strings.Split(w.note, "\n") {
				if !strings.Contains(text, line) {
					t.Errorf("the HTML part does not show the note's line %q", line)
				}
			}
			if doc.lang != locale {
				t.Errorf("<html lang=%q>, want %q", doc.lang, locale)
			}
			if doc.title != r.Subject {
				t.Errorf("<title> %q, want the subject %q", doc.title, r.Subject)
			}
			if doc.buttonLinks(acceptURL) != 2 {
				t.Errorf("the HTML links the accept URL %d times, want 2 (the button and the raw link)", doc.buttonLinks(acceptURL))
			}
			if !slices.Contains(doc.linkTexts[acceptURL], w.cta) || !slices.Contains(doc.linkTexts[acceptURL], acceptURL) {
				t.Errorf("the accept links read %q, want %q and the URL itself", doc.linkTexts[acceptURL], w.cta)
			}
			if doc.listItems != len(w.systems) {
				t.Errorf("the HTML lists %d systems, want %d", doc.listItems, len(w.systems))
			}
		})
	}
}

func TestRenderWritesTheExpiryTheLocaleWay(t *testing.T) {
	tests := []struct {
		locale string
		at     time.Time
		want   string
	}{
		{"en", time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC), "30 November 2026, 18:00 UTC"},
		{"fr", time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC), "30 novembre 2026 à 18:00 UTC"},
		{"es", time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC), "30 de noviembre de 2026, 18:00 UTC"},
		{"en", time.Date(2027, 1, 1, 9, 5, 59, 0, time.UTC), "1 January 2027, 09:05 UTC"},
		{"fr", time.Date(2027, 2, 1, 9, 5, 0, 0, time.UTC), "1er février 2027 à 09:05 UTC"},
		{"fr", time.Date(2027, 8, 15, 0, 0, 0, 0, time.UTC), "15 août 2027 à 00:00 UTC"},
		{"es", time.Date(2027, 9, 1, 23, 59, 0, 0, time.UTC), "1 de septiembre de 2027, 23:59 UTC"},
		// Given in another zone, shown in UTC.
		{"en", time.Date(2026, 12, 1, 1, 30, 0, 0, time.FixedZone("CET", 3600)), "1 December 2026, 00:30 UTC"},
		{"es", time.Date(2026, 12, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "30 de noviembre de 2026, 23:30 UTC"},
	}
	for _, tc := range tests {
		r := render(t, Builtin(), invitation(tc.locale, func(inv *Invitation) { inv.ExpiresAt = tc.at }))
		if !strings.Contains(r.Text, tc.want) || !strings.Contains(r.HTML, tc.want) {
			t.Errorf("%s, %s: the email does not show %q:\n%s", tc.locale, tc.at, tc.want, r.Text)
		}
	}
}

func TestRenderEscapesHostileInput(t *testing.T) {
	hostile := func(inv *Invitation) {
		inv.CustomerName = `Acme <script>alert("customer")</script> & Co`
		inv.AccountName = `Globex" onmouseover="alert(1)`
		inv.RoleName = `<img src=x onerror=alert(1)>`
		inv.SystemNames = []string{`<b>bold</b>`, `Tom & Jerry's "store"`}
		inv.PersonalMessage = "Hi <script>alert('note')</script>\n<a href=\"https://evil.example\">click</a> & \"quoted\"\n\nBye"
	}
	for _, locale := range Locales {
		t.Run(locale, func(t *testing.T) {
			r := render(t, Builtin(), invitation(locale, hostile))
			doc := parseHTML(t, r.HTML)
			if len(doc.forbidden) > 0 {
				t.Errorf("hostile input made elements %q", doc.forbidden)
			}
			for href := range doc.linkTexts {
				if href != acceptURL {
					t.Errorf("hostile input made a link to %q", href)
				}
			}
			for _, attr := range doc.eventAttrs {
				t.Errorf("hostile input made an attribute %q", attr)
			}
			text := doc.text()
			for _, s := range []string{`Acme <script>alert("customer")</script> & Co`, `Globex" onmouseover="alert(1)`, `<img src=x onerror=alert(1)>`, `Tom & Jerry's "store"`, "Hi <script>alert('note')</script>", `<a href="https://evil.example">click</a> & "quoted"`} {
				if !strings.Contains(text, s) {
					t.Errorf("the HTML does not show %q as text", s)
				}
			}
			if !strings.Contains(r.HTML, "&lt;script&gt;") || !strings.Contains(r.HTML, "&amp; Co") {
				t.Error("the HTML does not escape < and &")
			}
			if doc.breaks != 3 {
				t.Errorf("the note's 4 lines are joined by %d <br>, want 3", doc.breaks)
			}
		})
	}
}

var markup = regexp.MustCompile(`<[A-Za-z/!]|&[A-Za-z]+;|&#[0-9]`)

func TestTextPartHasNoMarkup(t *testing.T) {
	for _, locale := range Locales {
		for name, inv := range map[string]Invitation{"full": invitation(locale), "minimal": invitation(locale, noExtras)} {
			r := render(t, Builtin(), inv)
			if m := markup.FindString(r.Text); m != "" {
				t.Errorf("%s, %s: the text part holds markup %q:\n%s", locale, name, m, r.Text)
			}
			if !strings.HasSuffix(r.Text, ".\n") || strings.Contains(r.Text, "\n\n\n") || strings.Contains(r.Text, " \n") {
				t.Errorf("%s, %s: the text part is untidy:\n%q", locale, name, r.Text)
			}
		}
	}
}

func TestSubjectIsOneLine(t *testing.T) {
	for _, locale := range Locales {
		r := render(t, Builtin(), invitation(locale, func(inv *Invitation) {
			inv.CustomerName = "Acme\r\nBcc: victim@example.com\tRetail\u2028\u202eliateR"
			inv.AccountName = "Globex\nConsulting"
			inv.RoleName = "Edi\x00tor\n"
		}))
		if strings.ContainsFunc(r.Subject, func(r rune) bool { return isBreak(r) || isBidiControl(r) }) {
			t.Errorf("%s: subject %q holds a line break or control character", locale, r.Subject)
		}
		if !strings.HasPrefix(r.Subject, "Acme Bcc: victim@example.com Retail liateR ") {
			t.Errorf("%s: subject %q", locale, r.Subject)
		}
	}
	// An encoded word in a name would be decoded by mail clients into a line
	// break and a bidi override: it shows as written instead.
	for _, locale := range Locales {
		r := render(t, Builtin(), invitation(locale, func(inv *Invitation) {
			inv.CustomerName = "=?UTF-8?Q?Globex_=E2=80=AEmoc.xelbolg=E2=80=AC_Security=0D=0ABcc:_x?="
		}))
		decoded, err := new(mime.WordDecoder).DecodeHeader(r.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.Subject, "=?") || strings.ContainsFunc(decoded, func(r rune) bool { return isBreak(r) || isBidiControl(r) }) {
			t.Errorf("%s: subject %q decodes to %q", locale, r.Subject, decoded)
		}
	}
	// An override that spreads the subject over lines still gives one.
	tmpl, err := Builtin().WithOverrides(map[string]string{"en.subject.txt": "\n  Invitation\n\nfrom {{.CustomerName}}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if r := render(t, tmpl, invitation("en")); r.Subject != "Invitation from Acme Retail" {
		t.Errorf("subject %q, want %q", r.Subject, "Invitation from Acme Retail")
	}
}

func TestRenderWithoutSystemsOrNote(t *testing.T) {
	for _, locale := range Locales {
		t.Run(locale, func(t *testing.T) {
			w := words[locale]
			for name, mod := range map[string]func(*Invitation){
				"none":        noExtras,
				"blank names": func(inv *Invitation) { inv.SystemNames, inv.PersonalMessage = []string{"", " \n "}, " \r\n\t " },
			} {
				r := render(t, Builtin(), invitation(locale, mod))
				if !strings.Contains(r.Text, w.noSystems) {
					t.Errorf("%s: the text does not say there are no systems yet:\n%s", name, r.Text)
				}
				for _, absent := range []string{w.noteHeader, "\n>", "\n  - ", "\n  – "} {
					if strings.Contains(r.Text, absent) {
						t.Errorf("%s: the text shows %q with nothing to show:\n%s", name, absent, r.Text)
					}
				}
				doc := parseHTML(t, r.HTML)
				if doc.lists != 0 || doc.listItems != 0 || doc.quotes != 0 || strings.Contains(doc.text(), w.noteHeader) {
					t.Errorf("%s: the HTML has %d lists, %d items, %d quotes with nothing to show", name, doc.lists, doc.listItems, doc.quotes)
				}
				if !strings.Contains(doc.text(), w.noSystems[1:]) {
					t.Errorf("%s: the HTML does not say there are no systems yet", name)
				}
			}
		})
	}
}

func TestRenderRefusesIncompleteInvitations(t *testing.T) {
	tests := map[string]func(*Invitation){
		"unknown locale":           func(inv *Invitation) { inv.Locale = "de" },
		"no locale":                func(inv *Invitation) { inv.Locale = "" },
		"upper-case locale":        func(inv *Invitation) { inv.Locale = "FR" },
		"no customer":              func(inv *Invitation) { inv.CustomerName = " \n" },
		"no account":               func(inv *Invitation) { inv.AccountName = "" },
		"no role":                  func(inv *Invitation) { inv.RoleName = "" },
		"no recipient":             func(inv *Invitation) { inv.Recipient = "" },
		"no expiry":                func(inv *Invitation) { inv.ExpiresAt = time.Time{} },
		"no link":                  func(inv *Invitation) { inv.AcceptURL = "" },
		"a javascript: link":       func(inv *Invitation) { inv.AcceptURL = "javascript:alert(1)" },
		"a relative link":          func(inv *Invitation) { inv.AcceptURL = "/invitations/accept?token=x" },
		"a link with a line break": func(inv *Invitation) { inv.AcceptURL = acceptURL + "\n<script>" },
		"a link with credentials":  func(inv *Invitation) { inv.AcceptURL = "https://user:pass@partners.acme.example/x" },
	}
	for name, mod := range tests {
		if _, err := Builtin().Render(invitation("en", mod)); err == nil {
			t.Errorf("%s: Render succeeded", name)
		}
	}
}

func TestWithOverridesReplacesOnlyItsKeys(t *testing.T) {
	before := map[string]Rendered{}
	for _, locale := range Locales {
		before[locale] = render(t, Builtin(), invitation(locale))
	}
	tmpl, err := Builtin().WithOverrides(map[string]string{
		"fr.subject.txt": "Nouvelle invitation – {{.CustomerName}}",
		"es.body.html":   `<!DOCTYPE html><html lang="es"><body><p>Hola</p><a href="{{.AcceptURL}}">Aceptar</a></body></html>`,
		// The acceptance page's keys share the ConfigMap and are not ours.
		"page.en.accept.html": "{{ not an email template",
	})
	if err != nil {
		t.Fatalf("WithOverrides: %v", err)
	}
	fr := render(t, tmpl, invitation("fr"))
	if fr.Subject != "Nouvelle invitation – Acme Retail" {
		t.Errorf("fr subject %q, want the override", fr.Subject)
	}
	// The HTML's <title> is the subject; nothing else changes.
	wantHTML := strings.Replace(before["fr"].HTML, "<title>"+before["fr"].Subject+"</title>", "<title>"+fr.Subject+"</title>", 1)
	if fr.Text != before["fr"].Text || fr.HTML != wantHTML {
		t.Error("overriding fr.subject.txt changed the fr bodies")
	}
	es := render(t, tmpl, invitation("es"))
	if !strings.HasPrefix(es.HTML, "<!DOCTYPE html><html lang=\"es\"><body><p>Hola</p>") || es.Subject != before["es"].Subject || es.Text != before["es"].Text {
		t.Errorf("es: only the HTML should be the override: %+v", es)
	}
	if en := render(t, tmpl, invitation("en")); en != before["en"] {
		t.Error("overrides of fr and es changed en")
	}
	for _, locale := range Locales {
		if got := render(t, Builtin(), invitation(locale)); got != before[locale] {
			t.Errorf("WithOverrides changed the built-in %s templates", locale)
		}
	}
	if same, err := Builtin().WithOverrides(nil); err != nil || render(t, same, invitation("en")) != before["en"] {
		t.Errorf("WithOverrides(nil) = %v, want the built-in templates", err)
	}
}

// TestWithOverridesMayStartFromTheBuiltInTemplates: a built-in template,
// as docs/configuration.md suggests starting from, calls its words from the
// catalog; copied into an override, it renders as the built-in one does, in
// the override's locale.
func TestWithOverridesMayStartFromTheBuiltInTemplates(t *testing.T) {
	data := map[string]string{}
	for _, file := range files {
		src, err := templatesFS.ReadFile("templates/email/" + file)
		if err != nil {
			t.Fatal(err)
		}
		for _, locale := range Locales {
			data[locale+"."+file] = string(src)
		}
	}
	tmpl, err := Builtin().WithOverrides(data)
	if err != nil {
		t.Fatalf("WithOverrides: %v", err)
	}
	for _, locale := range Locales {
		if got, want := render(t, tmpl, invitation(locale)), render(t, Builtin(), invitation(locale)); got != want {
			t.Errorf("%s: the copied templates render differently", locale)
		}
	}
}

func TestWithOverridesErrorsNameTheKey(t *testing.T) {
	tests := map[string]struct {
		data map[string]string
		want []string // keys the error must name
	}{
		"unknown locale":        {map[string]string{"de.body.txt": "x {{.AcceptURL}}"}, []string{"de.body.txt"}},
		"unknown file":          {map[string]string{"fr.body.htm": "x"}, []string{"fr.body.htm"}},
		"no locale":             {map[string]string{"subject.txt": "x"}, []string{"subject.txt"}},
		"a page template":       {map[string]string{"en.accept.html": "x"}, []string{"en.accept.html"}},
		"does not parse":        {map[string]string{"fr.body.html": "<p>{{.CustomerName</p>"}, []string{"fr.body.html"}},
		"unknown function":      {map[string]string{"en.body.txt": "{{upper .CustomerName}} {{.AcceptURL}}"}, []string{"en.body.txt"}},
		"unknown field":         {map[string]string{"es.subject.txt": "{{.Customer}}"}, []string{"es.subject.txt"}},
		"fails on empty lists":  {map[string]string{"en.body.txt": "{{index .SystemNames 0}} {{.AcceptURL}}"}, []string{"en.body.txt"}},
		"an empty subject":      {map[string]string{"fr.subject.txt": "{{if false}}x{{end}}\n"}, []string{"fr.subject.txt"}},
		"a body without a link": {map[string]string{"en.body.html": "<p>Hello {{.CustomerName}}</p>"}, []string{"en.body.html"}},
		"several bad keys": {map[string]string{
			"en.body.txt": "{{.Nope}}", "fr.body.txt": "ok {{.AcceptURL}}", "es.body.txt": "{{.AcceptURL}} {{.Missing}}",
		}, []string{"en.body.txt", "es.body.txt"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tmpl, err := Builtin().WithOverrides(tc.data)
			if err == nil || tmpl != nil {
				t.Fatalf("WithOverrides = %v, %v; want an error", tmpl, err)
			}
			for _, key := range tc.want {
				if !strings.Contains(err.Error(), `"`+key+`"`) {
					t.Errorf("the error %q does not name %q", err, key)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error %q spans several lines", err)
			}
			var list OverrideErrors
			if !errors.As(err, &list) || len(list) != len(tc.want) {
				t.Errorf("the error lists %d problems, want %d", len(list), len(tc.want))
			}
		})
	}
}

// TestGolden renders each locale's email into testdata/<locale>.golden, for
// reviewers to read. Run with -update after changing a template.
func TestGolden(t *testing.T) {
	for _, locale := range Locales {
		for _, variant := range []struct {
			suffix string
			mods   []func(*Invitation)
		}{{"", nil}, {"-minimal", []func(*Invitation){noExtras}}} {
			name := locale + variant.suffix
			t.Run(name, func(t *testing.T) {
				r := render(t, Builtin(), invitation(locale, variant.mods...))
				got := "Subject: " + r.Subject + "\n\n" +
					"=============================== text/plain ===============================\n" + r.Text +
					"=============================== text/html ================================\n" + r.HTML
				path := filepath.Join("testdata", name+".golden")
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/i18n -run TestGolden -update)", err)
				}
				if got != string(want) {
					t.Errorf("the %s email differs from %s (run with -update if the change is intended):\n%s", name, path, got)
				}
			})
		}
	}
}

// htmlDoc is what the tests check in an HTML body, from a real HTML parse.
type htmlDoc struct {
	lang, title string
	texts       []string
	linkTexts   map[string][]string // href → the links' texts
	forbidden   []string            // elements that load or run something, or markup from the input
	eventAttrs  []string            // on* attributes
	breaks      int                 // <br> inside the note
	lists       int
	listItems   int
	quotes      int
}

func (d *htmlDoc) text() string { return strings.Join(d.texts, "") }

func (d *htmlDoc) buttonLinks(href string) int { return len(d.linkTexts[href]) }

func parseHTML(t *testing.T, s string) *htmlDoc {
	t.Helper()
	root, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("parsing the HTML: %v", err)
	}
	d := &htmlDoc{linkTexts: map[string][]string{}}
	var walk func(n *html.Node, inQuote bool)
	walk = func(n *html.Node, inQuote bool) {
		if n.Type == html.TextNode {
			d.texts = append(d.texts, n.Data)
		}
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					d.eventAttrs = append(d.eventAttrs, a.Key)
				}
				if a.Key == "src" {
					d.forbidden = append(d.forbidden, n.Data+"[src]")
				}
			}
			switch n.Data {
			case "html":
				d.lang = attr(n, "lang")
			case "title":
				d.title = textOf(n)
			case "script", "img", "link", "style", "iframe", "object", "embed", "form", "b":
				d.forbidden = append(d.forbidden, n.Data)
			case "a":
				d.linkTexts[attr(n, "href")] = append(d.linkTexts[attr(n, "href")], strings.TrimSpace(textOf(n)))
			case "br":
				if inQuote {
					d.breaks++
				}
			case "ul":
				d.lists++
			case "li":
				d.listItems++
			case "blockquote":
				d.quotes++
				inQuote = true
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inQuote)
		}
	}
	walk(root, false)
	return d
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// TestCustomerName: the email and the page name who invites the same way:
// the display-name annotation on one line and at most MaxCustomerName
// characters (a longer one made every subject too long to send), else,
// empty or invisible, the namespace's name (the email used to fail on an
// annotation of a lone control character).
func TestCustomerName(t *testing.T) {
	for name, tc := range map[string]struct {
		annotation, want string
	}{
		"set":                   {"Acme Retail", "Acme Retail"},
		"none":                  {"", "acme"},
		"invisible":             {"\u200e\x00 ", "acme"},
		"on several lines":      {"Acme\r\nRetail", "Acme Retail"},
		"longer than the bound": {strings.Repeat("é", 2000), strings.Repeat("é", MaxCustomerName)},
	} {
		t.Run(name, func(t *testing.T) {
			got := CustomerName("acme", map[string]string{v1alpha1.DisplayNameAnnotation: tc.annotation})
			if got != tc.want {
				t.Errorf("CustomerName = %q, want %q", got, tc.want)
			}
		})
	}
}
