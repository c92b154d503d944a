package invitation_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/invitation"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	"github.com/partnerops/partnerops/internal/token"
)

// withMailpit makes the manager send through real SMTP to a Mailpit, with
// SMTP AUTH credentials read from a Secret.
func withMailpit(mp *mailpit.Server) managertest.Option {
	return func(h *managertest.Manager) {
		managertest.WithSMTP(mp.SMTPHost, mp.SMTPPort)(h)
		name := h.CreateSecret("smtp", map[string]string{"username": "partnerops", "password": "s3cret"})
		h.Config.SMTP.CredentialsSecret = &opconfig.SecretRef{Name: name}
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/invitations/accept\?token=[A-Za-z0-9._%-]+`)

// TestEmailArrivesInEveryLocale sends a real email per locale through SMTP
// and reads it back from Mailpit: headers, both bodies, and a link that
// verifies for exactly this invitation.
func TestEmailArrivesInEveryLocale(t *testing.T) {
	mp := mailpit.Start(t)
	h := start(t, managertest.WithDisplayName("Acme Corporation"), withMailpit(mp))
	h.Account("globex")

	note := "Hi <b>Mindy</b> & \"team\",\nwelcome!"
	cases := []struct {
		locale  string
		accept  string
		role    string
		systems []string
		date    string
	}{
		{"en", "Accept and continue", "Editor", []string{"Editor", "Insights"}, "30 November 2026"},
		{"fr", "Accepter et continuer", "Éditeur", []string{"Éditeur", "Analyses"}, "30 novembre 2026"},
		{"es", "Aceptar y continuar", "Editor", []string{"Editor", "Análisis"}, "30 de noviembre de 2026"},
	}
	for _, tc := range cases {
		t.Run(tc.locale, func(t *testing.T) {
			addr := "mindy." + tc.locale + "@globex.example"
			inv := h.Invite("mindy-"+tc.locale, addr, func(i *v1alpha1.PartnerInvitation) {
				i.Spec.Locale = v1alpha1.Locale(tc.locale)
				i.Spec.Message = note
			})
			sums := mp.WaitFor(t, addr, 1, 30*time.Second)
			inv = h.WaitState(inv.Name, v1alpha1.InvitationPendingApproval)
			msg, err := mp.Message(context.Background(), sums[0].ID)
			if err != nil {
				t.Fatal(err)
			}

			if want := strings.Trim(invitation.MessageID(inv.UID, 0, h.Config.SMTP.From), "<>"); msg.MessageID != want {
				t.Errorf("Message-ID %q, want %q", msg.MessageID, want)
			}
			if got := msg.Header("Content-Language"); got != tc.locale {
				t.Errorf("Content-Language %q, want %s", got, tc.locale)
			}
			if msg.From.Address != "partners@acme.example" || len(msg.To) != 1 || msg.To[0].Address != addr {
				t.Errorf("From %v To %v", msg.From, msg.To)
			}
			if !strings.Contains(msg.Subject, "Acme Corporation") || strings.ContainsAny(msg.Subject, "\r\n") {
				t.Errorf("subject %q should name the customer on one line", msg.Subject)
			}
			if ct := msg.Header("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
				t.Errorf("Content-Type %q, want multipart/alternative", ct)
			}
			for part, body := range map[string]string{"text": msg.Text, "html": msg.HTML} {
				for _, want := range append([]string{"Acme Corporation", "Globex Corporation", tc.role, tc.accept, tc.date}, tc.systems...) {
					if !strings.Contains(body, want) {
						t.Errorf("the %s body does not show %q", part, want)
					}
				}
			}
			text := strings.ReplaceAll(msg.Text, "\r\n", "\n")
			if quoted := "> " + strings.ReplaceAll(note, "\n", "\n> "); !strings.Contains(text, quoted) {
				t.Errorf("the text body does not quote the personal note as written:\n%s", msg.Text)
			}
			if strings.Contains(msg.HTML, "<b>Mindy</b>") || !strings.Contains(msg.HTML, "&lt;b&gt;Mindy&lt;/b&gt;") {
				t.Errorf("the HTML body does not escape the personal note:\n%s", msg.HTML)
			}
			if !strings.Contains(msg.HTML, `lang="`+tc.locale+`"`) {
				t.Errorf("the HTML body does not declare lang=%q", tc.locale)
			}

			// The link in the email verifies, for this invitation only.
			link := linkRE.FindString(msg.Text)
			if link == "" || !strings.HasPrefix(link, h.Config.Acceptance.PublicURL+"/invitations/accept?token=") {
				t.Fatalf("no accept link on the public URL in the text body:\n%s", msg.Text)
			}
			if !strings.Contains(msg.HTML, strings.ReplaceAll(link, "&", "&amp;")) {
				t.Errorf("the HTML body lacks the same link")
			}
			u, _ := url.Parse(link)
			signer := token.NewSigner(&token.SecretKeys{Reader: env.Client, Namespace: secretNamespace, Name: h.Config.Tokens.KeysSecret.Name}, h.Clock)
			claims, err := signer.Verify(context.Background(), u.Query().Get("token"))
			if err != nil {
				t.Fatalf("the link does not verify: %v", err)
			}
			want := token.Claims{Namespace: h.NS, Name: inv.Name, UID: string(inv.UID), Resend: 0, ExpiresAt: inv.Status.ExpiresAt.UTC()}
			if claims != want {
				t.Errorf("link claims %+v, want %+v", claims, want)
			}
		})
	}
}
