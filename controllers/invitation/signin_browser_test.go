package invitation_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/acceptance"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/browser"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	"github.com/partnerops/partnerops/internal/testpeers/oidc"
)

// The provider's users: one whose address is invited below, one whose is
// not.
var (
	opMindy   = oidc.User{Subject: "sub-mindy-0001", Email: "Mindy@Globex.example", Password: "mindy-password"}
	opMallory = oidc.User{Subject: "sub-mallory-0002", Email: "mallory@initech.example", Password: "mallory-password"}
)

// withOIDC runs a real OpenID Provider (hack/oidc-provider) with mindy and
// mallory, registers the page's callback as a confidential client whose
// secret is in a Secret, and turns acceptance.signIn on. It must come
// after managertest.WithPage; *op is the provider once the option ran.
func withOIDC(op **oidc.Server) managertest.Option {
	return func(m *managertest.Manager) {
		const clientID = "partnerops"
		secret := "client-secret-" + strings.ToLower(strings.ReplaceAll(m.T.Name(), "/", "-"))
		*op = oidc.Start(m.T, oidc.Options{
			Clients: []oidc.Client{{ID: clientID, Secret: secret, RedirectURIs: []string{m.Config.Acceptance.PublicURL + acceptance.SignedInPath}}},
			Users:   []oidc.User{opMindy, opMallory},
		})
		name := m.CreateSecret("oidc", map[string]string{"clientSecret": secret})
		m.Config.Acceptance.SignIn = opconfig.SignIn{Type: opconfig.SignInOIDC, OIDC: &opconfig.OIDCSignIn{
			IssuerURL: (*op).Issuer, ClientID: clientID, ClientSecret: &opconfig.SecretRef{Name: name},
			Scopes: opconfig.DefaultSignInScopes, AddressClaim: opconfig.DefaultAddressClaim,
		}}
	}
}

// signInAs fills the provider's login form.
func signInAs(u oidc.User) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS(oidc.FieldEmail)),
		chromedp.SendKeys(chromedp.CSS(oidc.FieldEmail), u.Email),
		chromedp.SendKeys(chromedp.CSS(oidc.FieldPassword), u.Password),
		chromedp.Click(chromedp.CSS(oidc.SubmitButton)),
	}
}

// click presses the page's accept button, then does more.
func click(sel string, more ...chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
	return append([]chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS(sel))}, more...)
}

// mainText is the text of the page's <main>.
func mainText(t *testing.T, ctx context.Context) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// signInKind is the kind of the sign-in page the browser shows.
func signInKind(t *testing.T, ctx context.Context) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`main[data-page="signin"] h1`))); err != nil {
		t.Fatalf("waiting for the sign-in page: %v", err)
	}
	kind, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main h1").dataset.kind`))
	if err != nil {
		t.Fatal(err)
	}
	return kind
}

// TestSignInInABrowser is the journey with acceptance.signIn: oidc, in
// headless Chromium against a real OpenID Provider: email, page, the
// provider's login form, the callback, the Partner Hub; the invitation
// Accepted with who signed in, its grants applied (the controller checks
// the proof, which covers the sign-in). Signing in as someone else, or
// replaying the callback, accepts nothing; a provider that is down gives a
// page that says so.
func TestSignInInABrowser(t *testing.T) {
	mp := mailpit.Start(t)
	hub := startPartnerHub(t)
	var op *oidc.Server
	h := start(t, managertest.WithDisplayName("Acme Corporation"), withMailpit(mp), managertest.WithPage(hub.URL+"/hub"), withOIDC(&op))
	h.Account("globex")

	t.Run("accept", func(t *testing.T) {
		inv := h.Invite("mindy", "mindy@globex.example")
		link := linkFromEmail(t, mp, "mindy@globex.example")
		h.WaitState(inv.Name, v1alpha1.InvitationPendingApproval)
		ctx := browser.New(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
			t.Fatal(err)
		}
		if text := mainText(t, ctx); !strings.Contains(text, "sign in with your organisation") {
			t.Errorf("the invitation page does not say a sign-in comes:\n%s", text)
		}
		// Accept and continue: the provider's login form, then back.
		if err := chromedp.Do(ctx, click(`form[action="accept"] button`, signInAs(opMindy)...)...); err != nil {
			t.Fatalf("signing in: %v", err)
		}
		if kind := signInKind(t, ctx); kind != "signedIn" {
			t.Fatalf("after signing in: the %q page, want signedIn", kind)
		}
		callbackURL, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if text := mainText(t, ctx); !strings.Contains(text, opMindy.Email) {
			t.Errorf("the confirmation does not say who signed in:\n%s", text)
		}
		saveScreenshot(t, ctx, "acceptance-signed-in-en")
		pending := h.Invitation(inv.Name)
		if pending.Status.State != v1alpha1.InvitationPendingApproval {
			t.Fatalf("the callback (a GET) changed the invitation to %s", pending.Status.State)
		}

		if err := chromedp.Do(ctx, click(`form[action="accept"] button`, chromedp.WaitVisible(chromedp.ID("hub")))...); err != nil {
			t.Fatalf("accepting: %v", err)
		}
		if q := <-hub.landed; q.Get("account") != "globex" {
			t.Errorf("landed on the Hub with %v", q)
		}
		got := h.WaitCondition(inv.Name, v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
		if s := got.Status.SignedInAs; s == nil || s.Issuer != op.Issuer || s.Subject != opMindy.Subject {
			t.Errorf("status.signedInAs = %+v, want %s %s", s, op.Issuer, opMindy.Subject)
		}
		if u := h.Backend.SignIn(string(inv.Spec.Email)); u.Issuer != op.Issuer || u.Subject != opMindy.Subject {
			t.Errorf("the backend user holds the sign-in %+v, want %s %s", u, op.Issuer, opMindy.Subject)
		}

		// The callback again: refused, nothing written.
		if err := chromedp.Do(ctx, chromedp.Navigate(callbackURL)); err != nil {
			t.Fatal(err)
		}
		if kind := signInKind(t, ctx); kind != "signInFailed" {
			t.Errorf("the callback replayed: the %q page, want signInFailed", kind)
		}
		if again := h.Invitation(inv.Name); again.ResourceVersion != got.ResourceVersion {
			t.Errorf("the replayed callback wrote the invitation")
		}
	})

	t.Run("another address", func(t *testing.T) {
		inv := h.Invite("joe", "joe@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Locale = v1alpha1.LocaleFrench })
		link := linkFromEmail(t, mp, "joe@globex.example")
		before := h.WaitState(inv.Name, v1alpha1.InvitationPendingApproval)
		ctx := browser.New(t)
		if err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(link)}, click(`form[action="accept"] button`, signInAs(opMallory)...)...)...); err != nil {
			t.Fatalf("signing in: %v", err)
		}
		if kind := signInKind(t, ctx); kind != "wrongAddress" {
			t.Fatalf("signed in as mallory: the %q page, want wrongAddress", kind)
		}
		if text := mainText(t, ctx); !strings.Contains(text, "Cette invitation a été envoyée à une autre adresse") || !strings.Contains(text, opMallory.Email) {
			t.Errorf("the page is not the French wrong-address page naming %s:\n%s", opMallory.Email, mainText(t, ctx))
		}
		saveScreenshot(t, ctx, "acceptance-wrong-address-fr")
		if got := h.Invitation(inv.Name); got.ResourceVersion != before.ResourceVersion {
			t.Errorf("signing in with another address wrote the invitation (state %s)", got.Status.State)
		}
	})

	t.Run("provider down", func(t *testing.T) {
		inv := h.Invite("kim", "kim@globex.example")
		link := linkFromEmail(t, mp, "kim@globex.example")
		before := h.WaitState(inv.Name, v1alpha1.InvitationPendingApproval)
		op.Stop()
		ctx := browser.New(t)
		if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
			t.Fatal(err)
		}
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="accept"] button`)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusServiceUnavailable {
			t.Errorf("accepting with the provider down answered %d, want 503", resp.Status)
		}
		if kind := signInKind(t, ctx); kind != "signInUnavailable" {
			t.Errorf("with the provider down: the %q page, want signInUnavailable", kind)
		}
		if got := h.Invitation(inv.Name); got.ResourceVersion != before.ResourceVersion {
			t.Errorf("accepting with the provider down wrote the invitation")
		}
	})
}
