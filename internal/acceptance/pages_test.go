package acceptance

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/i18n"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestInvitationPageShowsEverythingInTheInvitationsLanguage(t *testing.T) {
	note := "Hello Jane,\nwelcome aboard. <script>alert(1)</script> & co"
	tests := map[v1alpha1.Locale][]string{
		v1alpha1.LocaleEnglish: {
			`<html lang="en"`, "<title>Invitation from Acme Retail</title>", "Acme Retail invites you to work with them",
			"<dt>Partner company</dt>\n<dd>Globex Corporation</dd>", "<dd>Editor</dd>", "<li>Online store</li>", "<li>Insights</li>",
			`<time datetime="2026-11-30T10:00:00Z">30 November 2026, 10:00 UTC</time>`, "Message from Acme Retail",
			">Accept and continue</button>", ">Decline the invitation</button>",
		},
		v1alpha1.LocaleFrench: {
			`<html lang="fr"`, "<title>Invitation à collaborer avec Acme Retail</title>", "Acme Retail vous invite à collaborer",
			"<dt>Société partenaire</dt>\n<dd>Globex Corporation</dd>", "<dd>Éditeur</dd>", "<li>Boutique en ligne</li>", "<li>Analyses</li>",
			"30 novembre 2026 à 10:00 UTC", "Acme Retail a joint ce message",
			">Accepter et continuer</button>", ">Refuser l’invitation</button>",
		},
		v1alpha1.LocaleSpanish: {
			`<html lang="es"`, "<title>Invitación de Acme Retail</title>", "Acme Retail le invita a colaborar",
			"<dt>Empresa colaboradora</dt>\n<dd>Globex Corporation</dd>", "<dd>Editor</dd>", "<li>Tienda en línea</li>", "<li>Análisis</li>",
			"30 de noviembre de 2026, 10:00 UTC", "Mensaje de Acme Retail",
			">Aceptar y continuar</button>", ">Rechazar la invitación</button>",
		},
	}
	for locale, want := range tests {
		t.Run(string(locale), func(t *testing.T) {
			inv := invitation("jane", withLocale(locale), withMessage(note))
			e := newEnv(t, objects(inv))
			tok := e.tokenFor(inv)
			resp := e.get(tok, "Accept-Language", "de") // the invitation's language wins
			b := body(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for _, s := range want {
				if !strings.Contains(b, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			if !strings.Contains(b, "<blockquote>Hello Jane,\nwelcome aboard. &lt;script&gt;alert(1)&lt;/script&gt; &amp; co</blockquote>") {
				t.Errorf("the note is not shown escaped with its line break:\n%s", b)
			}
			if strings.Contains(b, "<script") {
				t.Error("the page holds a <script>")
			}
			doc := checkHTML(t, b, string(locale), resp.Header)
			forms := map[string]bool{}
			for _, f := range doc.forms {
				if f.token != tok {
					t.Errorf("form to %s carries token %q, want the link's", f.action, f.token)
				}
				forms[f.action] = true
			}
			if !forms[pathAccept] || !forms[pathDecline] || len(forms) != 2 {
				t.Errorf("forms post to %v, want %s and %s", forms, pathAccept, pathDecline)
			}
		})
	}
}

func TestInvitationPageNames(t *testing.T) {
	tests := []struct {
		name string
		ns   string // display-name annotation
		inv  *v1alpha1.PartnerInvitation
		want []string
		not  []string
	}{{
		name: "no display name: the namespace's name",
		inv:  invitation("jane"),
		want: []string{"<h1>acme invites you to work with them</h1>"},
	}, {
		name: "display name with line breaks and bidi controls: one clean line",
		ns:   "Acme\n\u202eRetail\u202c  Europe",
		inv:  invitation("jane"),
		want: []string{"<h1>Acme Retail Europe invites you to work with them</h1>"},
		not:  []string{"\u202e"},
	}, {
		name: "no systems",
		ns:   testCustomer,
		inv:  invitation("jane", withSystems()),
		want: []string{"None yet (Acme Retail can add some at any time)"},
		not:  []string{"<ul>"},
	}, {
		name: "a role and a system the catalogue lost: their keys",
		ns:   testCustomer,
		inv: invitation("jane", withSystems("store", "legacy-crm"), func(inv *v1alpha1.PartnerInvitation) {
			inv.Spec.Role = "auditor"
		}),
		want: []string{"<dd>auditor</dd>", "<li>Online store</li>", "<li>legacy-crm</li>"},
	}, {
		name: "no note",
		ns:   testCustomer,
		inv:  invitation("jane"),
		not:  []string{"<figure", "Message from"},
	}, {
		name: "a note of blank lines only",
		ns:   testCustomer,
		inv:  invitation("jane", withMessage("\n \n\t\n")),
		not:  []string{"<figure"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []client.Object{namespace(tc.ns), account(), tc.inv})
			resp := e.get(e.tokenFor(tc.inv))
			b := body(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for _, s := range tc.want {
				if !strings.Contains(b, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(b, s) {
					t.Errorf("page has %q", s)
				}
			}
		})
	}
}

func TestOtherPagesSayWhatToDo(t *testing.T) {
	tests := []struct {
		locale v1alpha1.Locale
		mod    func(*v1alpha1.PartnerInvitation)
		status int
		want   []string
	}{
		{v1alpha1.LocaleEnglish, expiredState, http.StatusGone, []string{"This invitation has expired", "ask the administrator at Acme Retail to send you a new invitation", "23 November 2026, 09:00 UTC"}},
		{v1alpha1.LocaleFrench, expiredState, http.StatusGone, []string{"Cette invitation a expiré", "demandez à son administrateur de vous envoyer une nouvelle invitation", "23 novembre 2026 à 09:00 UTC"}},
		{v1alpha1.LocaleSpanish, expiredState, http.StatusGone, []string{"Esta invitación ha caducado", "pida al administrador de Acme Retail que le envíe una nueva invitación"}},
		{v1alpha1.LocaleEnglish, acceptedAt(t0), http.StatusOK, []string{"You have already accepted this invitation", ">Go to the Partner Hub</a>"}},
		{v1alpha1.LocaleFrench, acceptedAt(t0), http.StatusOK, []string{"Vous avez déjà accepté cette invitation", ">Accéder au Partner Hub</a>"}},
		{v1alpha1.LocaleSpanish, acceptedAt(t0), http.StatusOK, []string{"Ya ha aceptado esta invitación", ">Ir al Partner Hub</a>"}},
		{v1alpha1.LocaleEnglish, declinedState, http.StatusGone, []string{"You declined the invitation", "Acme Retail"}},
		{v1alpha1.LocaleFrench, declinedState, http.StatusGone, []string{"Vous avez refusé l’invitation", "Acme Retail"}},
		{v1alpha1.LocaleSpanish, declinedState, http.StatusGone, []string{"Ha rechazado la invitación", "Acme Retail"}},
	}
	for _, tc := range tests {
		inv := invitation("jane", withLocale(tc.locale), tc.mod)
		e := newEnv(t, objects(inv))
		resp := e.get(e.tokenFor(inv))
		b := body(t, resp)
		t.Run(pageOf(b)+"/"+string(tc.locale), func(t *testing.T) {
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			for _, s := range tc.want {
				if !strings.Contains(b, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			doc := checkHTML(t, b, string(tc.locale), resp.Header)
			if len(doc.forms) != 0 {
				t.Errorf("page has %d forms", len(doc.forms))
			}
		})
	}
}

func TestErrorPagesAreLocalized(t *testing.T) {
	kinds := []string{i18n.KindNotFound, i18n.KindMethodNotAllowed, i18n.KindTooLarge, i18n.KindUnsupportedMedia, i18n.KindBadRequest, i18n.KindTooManyRequests, i18n.KindUnavailable, i18n.KindInternal}
	pages, err := builtinPages()
	if err != nil {
		t.Fatal(err)
	}
	for _, locale := range i18n.Locales {
		titles := map[string]string{}
		for _, kind := range kinds {
			b, err := pages.render(i18n.PageError, pageData{Locale: locale, Kind: kind})
			if err != nil {
				t.Fatalf("%s/%s: %v", locale, kind, err)
			}
			title := regexp.MustCompile(`<title>([^<]+)</title>`).FindStringSubmatch(string(b))
			if title == nil {
				t.Fatalf("%s/%s: no title", locale, kind)
			}
			if other, dup := titles[title[1]]; dup {
				t.Errorf("%s: %s and %s share the title %q", locale, kind, other, title[1])
			}
			titles[title[1]] = kind
			checkHTML(t, string(b), locale, nil)
		}
	}
}

// htmlDoc is what checkHTML found in a page.
type htmlDoc struct {
	forms []htmlForm
}

type htmlForm struct {
	action string // resolved against the page's path
	token  string
}

// voidElements have no end tag.
var voidElements = map[atom.Atom]bool{atom.Meta: true, atom.Input: true, atom.Br: true, atom.Hr: true, atom.Link: true, atom.Img: true}

// checkHTML checks that b is a well-formed, self-contained HTML5 page in
// locale: doctype, lang, charset, viewport, a title, one <h1> in one
// <main>, balanced tags, no script, no inline style attribute or event
// handler, no external resource, and a <style> whose hash is in the
// Content-Security-Policy header (when given).
func checkHTML(t *testing.T, b, locale string, header http.Header) htmlDoc {
	t.Helper()
	var doc htmlDoc
	if !strings.HasPrefix(b, "<!DOCTYPE html>\n<html lang=\""+locale+"\" dir=\"ltr\">\n<head>\n<meta charset=\"utf-8\">\n") {
		t.Errorf("page does not start with the doctype, <html lang=%q> and the charset", locale)
	}
	z := html.NewTokenizer(strings.NewReader(b))
	var (
		stack            []atom.Atom
		counts           = map[atom.Atom]int{}
		styleText, title string
		viewport         bool
		form             *htmlForm
		inStyle, inTitle bool
	)
	base, _ := url.Parse(pathAccept)
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			counts[tok.DataAtom]++
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Key] = a.Val
				if a.Key == "style" || strings.HasPrefix(a.Key, "on") || a.Key == "src" || a.Key == "srcset" {
					t.Errorf("<%s> has the attribute %s", tok.Data, a.Key)
				}
			}
			switch tok.DataAtom {
			case atom.Script, atom.Link, atom.Img, atom.Iframe, atom.Object, atom.Embed, atom.Base:
				t.Errorf("page has a <%s>", tok.Data)
			case atom.Meta:
				if attrs["name"] == "viewport" && strings.Contains(attrs["content"], "width=device-width") {
					viewport = true
				}
			case atom.A:
				if h := attrs["href"]; !strings.HasPrefix(h, "https://hub.example.com/") {
					t.Errorf("link to %q, not to the Partner Hub", h)
				}
			case atom.Form:
				action, err := base.Parse(attrs["action"])
				if err != nil || attrs["method"] != "post" {
					t.Errorf("form %v", attrs)
				}
				doc.forms = append(doc.forms, htmlForm{action: action.String()})
				form = &doc.forms[len(doc.forms)-1]
			case atom.Input:
				if form != nil && attrs["type"] == "hidden" && attrs["name"] == "token" {
					form.token = attrs["value"]
				}
			case atom.Style:
				inStyle = true
			case atom.Title:
				inTitle = true
			}
			if tt == html.StartTagToken && !voidElements[tok.DataAtom] {
				stack = append(stack, tok.DataAtom)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.DataAtom {
				t.Errorf("</%s> closes %v", tok.Data, stack)
				return doc
			}
			stack = stack[:len(stack)-1]
			switch tok.DataAtom {
			case atom.Form:
				form = nil
			case atom.Style:
				inStyle = false
			case atom.Title:
				inTitle = false
			}
		case html.TextToken:
			if inStyle {
				styleText += tok.Data
			}
			if inTitle {
				title += tok.Data
			}
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements %v", stack)
	}
	for _, a := range []atom.Atom{atom.Html, atom.Head, atom.Body, atom.Title, atom.Style, atom.Main, atom.H1} {
		if counts[a] != 1 {
			t.Errorf("%d <%s>, want 1", counts[a], a)
		}
	}
	if strings.TrimSpace(title) == "" {
		t.Error("empty <title>")
	}
	if !viewport {
		t.Error("no viewport meta")
	}
	if header != nil {
		sum := sha256.Sum256([]byte(styleText))
		want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
			t.Errorf("CSP %q does not allow the page's <style> (%s)", csp, want)
		}
	}
	return doc
}
