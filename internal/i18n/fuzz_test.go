package i18n

import (
	"strings"
	"testing"
)

// FuzzRender checks that whatever names and note an invitation carries, the
// email renders, the subject stays one line, the text part keeps the note,
// and the HTML part shows the input as text only: no element, attribute or
// link comes from it.
func FuzzRender(f *testing.F) {
	f.Add("en", "Acme Retail", "Globex Consulting", "Editor", "Online store", "Hi Jane,\nwelcome.")
	f.Add("fr", "<script>alert(1)</script>", "\" onmouseover=\"x", "<img src=x>", "</li><li>", "<br>\r\n&amp;\u202e")
	f.Add("es", "a\r\nBcc: x@y", "{{.AcceptURL}}", "]]><!--", "<a href=javascript:alert(1)>x</a>", "\x00\x1b[31m\u2028end")
	f.Fuzz(func(t *testing.T, locale, customer, account, role, system, note string) {
		if _, ok := words[locale]; !ok {
			locale = "en"
		}
		inv := invitation(locale, func(inv *Invitation) {
			inv.CustomerName, inv.AccountName, inv.RoleName = customer, account, role
			inv.SystemNames, inv.PersonalMessage = []string{system}, note
		})
		r, err := Builtin().Render(inv)
		if err != nil {
			if OneLine(customer) == "" || OneLine(account) == "" || OneLine(role) == "" {
				return
			}
			t.Fatalf("Render: %v", err)
		}
		if strings.ContainsFunc(r.Subject, isBreak) {
			t.Errorf("subject %q spans lines", r.Subject)
		}
		doc := parseHTML(t, r.HTML)
		if len(doc.eventAttrs) > 0 {
			t.Errorf("the input made attributes %q", doc.eventAttrs)
		}
		for href, texts := range doc.linkTexts {
			if href != acceptURL || len(texts) != 2 {
				t.Errorf("links %q: the input made a link", doc.linkTexts)
			}
		}
		if len(doc.forbidden) > 0 {
			t.Errorf("the input made elements %q", doc.forbidden)
		}
		for _, line := range lines(cleanMessage(note)) {
			if !strings.Contains(r.Text, strings.TrimRight("> "+line, " ")) {
				t.Errorf("the text part lost the note's line %q", line)
			}
		}
	})
}
