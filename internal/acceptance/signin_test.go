package acceptance

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/signin"
	"github.com/partnerops/partnerops/internal/signin/signintest"
	"github.com/partnerops/partnerops/internal/token"
)

// These tests run the sign-in before acceptance (signin.go) against a fake
// OpenID Provider in the test process, which can be made to sign what no
// real provider would; controllers/invitation's browser tests walk the
// same journey in Chromium against the real one (internal/testpeers/oidc).

// withSignIn makes the env's page ask for a sign-in with p (after any
// withConfig).
func withSignIn(p *signintest.Provider) envOption {
	return func(s *envSetup) {
		s.cfg.Acceptance.SignIn = config.SignIn{Type: config.SignInOIDC, OIDC: &config.OIDCSignIn{
			IssuerURL: p.Issuer, ClientID: p.ClientID, ClientSecret: &config.SecretRef{Name: "oidc"},
			Scopes: config.DefaultSignInScopes, AddressClaim: config.DefaultAddressClaim,
		}}
		s.signIn = func(e *env, cfg *config.Config) SignInProvider {
			pr, err := signin.New(signin.Options{
				Config: cfg.Acceptance.SignIn.OIDC, RedirectURL: cfg.Acceptance.PublicURL + SignedInPath, Clock: e.clock,
				ClientSecret: func(context.Context) (string, error) { return p.ClientSecret, nil },
			})
			if err != nil {
				e.t.Fatal(err)
			}
			return pr
		}
	}
}

// signInEnv is an env over jane's pending invitation whose page asks for a
// sign-in with a fake provider.
func signInEnv(t *testing.T, mods ...func(*v1alpha1.PartnerInvitation)) (*env, *signintest.Provider, string) {
	t.Helper()
	p := signintest.Start(t)
	e := newEnv(t, objects(invitation("jane", mods...)), withSignIn(p))
	return e, p, e.tokenFor(invitation("jane", mods...))
}

// start presses Accept and continue: it must lead to the provider, with
// the sign-in cookie, and write nothing.
func start(t *testing.T, e *env, p *signintest.Provider, tok string) (authURL string, cookie *http.Cookie) {
	t.Helper()
	resp := e.post(pathAccept, tok)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, p.Issuer+"/authorize?") {
		t.Fatalf("accept with sign-in: %d to %q, want 303 to %s/authorize", resp.StatusCode, loc, p.Issuer)
	}
	for _, c := range resp.Cookies() {
		if c.Name == signInCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/invitations/" || cookie.MaxAge != 600 {
		t.Fatalf("sign-in cookie %+v, want HttpOnly, SameSite=Lax, Path /invitations/, Max-Age 600", cookie)
	}
	if n := e.writes.Load(); n != 0 {
		t.Fatalf("starting the sign-in wrote the status %d times", n)
	}
	return loc, cookie
}

// callback opens the page's callback URL with cookie (nil: none).
func callback(e *env, cb string, cookie *http.Cookie) *http.Response {
	u, _ := url.Parse(cb)
	req := httptest.NewRequest(http.MethodGet, u.RequestURI(), nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return e.request(req)
}

var ticketField = regexp.MustCompile(`name="ticket" value="([^"]+)"`)

// ticketIn is the ticket of a sign-in page's form, "" when it has none.
func ticketIn(b string) string {
	m := ticketField.FindStringSubmatch(b)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

var kindAttr = regexp.MustCompile(`<h1 data-kind="([A-Za-z]+)">`)

// kindOf is the sign-in page's kind, else the page's name.
func kindOf(b string) string {
	if m := kindAttr.FindStringSubmatch(b); m != nil {
		return m[1]
	}
	return pageOf(b)
}

// TestSignInThenAccept: accepting goes through the provider; the callback
// shows who signed in and writes nothing; the last form accepts, once, with
// the identity in status and under the proof.
func TestSignInThenAccept(t *testing.T) {
	e, p, tok := signInEnv(t)

	// The invitation page says a sign-in comes, and its form may lead to
	// the provider; no other page's may.
	resp := e.get(tok)
	b := body(t, resp)
	if !strings.Contains(b, "sign in with your organisation") {
		t.Errorf("the invitation page does not say a sign-in comes")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://hub.example.com "+p.Issuer) {
		t.Errorf("invitation page CSP %q does not allow the form to lead to %s", csp, p.Issuer)
	}

	authURL, cookie := start(t, e, p, tok)
	cb, _ := p.Authorize(t, authURL, "sub-jane", "Jane@Globex.Example", e.clock.Now())
	resp = callback(e, cb, cookie)
	b = body(t, resp)
	if resp.StatusCode != http.StatusOK || kindOf(b) != "signedIn" || !strings.Contains(b, "Jane@Globex.Example") {
		t.Fatalf("callback: %d, page %q, want 200 and the confirmation naming the address signed in with", resp.StatusCode, kindOf(b))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, p.Issuer) {
		t.Errorf("the confirmation page's CSP %q allows the provider", csp)
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].Name != signInCookie || c[0].MaxAge >= 0 {
		t.Errorf("the callback left the sign-in cookie: %v", c)
	}
	if n := e.writes.Load(); n != 0 {
		t.Fatalf("the callback (a GET) wrote the status %d times", n)
	}

	ticket := ticketIn(b)
	e.clock.Step(time.Minute)
	resp = e.postBody(pathAccept, "ticket="+url.QueryEscape(ticket))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != hubForJane {
		t.Fatalf("accept with the ticket: %d to %q, want 303 to the Hub", resp.StatusCode, resp.Header.Get("Location"))
	}
	inv := e.invitationNow("jane")
	st := inv.Status
	if st.State != v1alpha1.InvitationAccepted || st.SignedInAs == nil || *st.SignedInAs != (v1alpha1.SignedInIdentity{Issuer: p.Issuer, Subject: "sub-jane"}) {
		t.Fatalf("status after accepting: state %q, signedInAs %+v, want Accepted by %s sub-jane", st.State, st.SignedInAs, p.Issuer)
	}
	a := token.Acceptance{UID: string(inv.UID), Resend: st.ObservedResend, Email: string(inv.Spec.Email), AcceptedAt: st.AcceptedAt.Time,
		Issuer: p.Issuer, Subject: "sub-jane"}
	proof := token.Proof{KeyID: st.AcceptanceProof.KeyID, MAC: st.AcceptanceProof.MAC}
	if err := e.signer.VerifyAcceptance(context.Background(), a, proof); err != nil {
		t.Errorf("the proof does not verify with who signed in: %v", err)
	}
	for name, other := range map[string][2]string{"without the sign-in": {"", ""}, "another subject": {p.Issuer, "sub-mallory"}, "another issuer": {"https://evil.example", "sub-jane"}} {
		b := a
		b.Issuer, b.Subject = other[0], other[1]
		if err := e.signer.VerifyAcceptance(context.Background(), b, proof); !errors.Is(err, token.ErrProofInvalid) {
			t.Errorf("the proof verifies %s: %v", name, err)
		}
	}
	if got := e.recordedEvents(); len(got) != 1 || !strings.Contains(got[0], "signed in and accepted") {
		t.Errorf("events %q, want one saying the partner signed in and accepted", got)
	}

	// The same ticket again: the Hub, no second write.
	resp = e.postBody(pathAccept, "ticket="+url.QueryEscape(ticket))
	if resp.StatusCode != http.StatusSeeOther || e.writes.Load() != 1 {
		t.Errorf("the ticket again: %d after %d writes, want 303 and still 1 write", resp.StatusCode, e.writes.Load())
	}
}

// TestDeclineNeedsNoSignIn: with sign-in on, declining is one POST.
func TestDeclineNeedsNoSignIn(t *testing.T) {
	e, p, tok := signInEnv(t)
	resp := e.post(pathDecline, tok)
	if b := body(t, resp); resp.StatusCode != http.StatusOK || pageOf(b) != "declined" {
		t.Fatalf("decline: %d, page %q, want 200 declined", resp.StatusCode, pageOf(b))
	}
	if e.writes.Load() != 1 || p.Exchanges() != 0 {
		t.Errorf("decline: %d writes, %d code exchanges, want 1 and 0", e.writes.Load(), p.Exchanges())
	}
}

// TestSignInRefusals: whatever is wrong with the callback or the ID token,
// the partner gets a page saying so and nothing is written.
func TestSignInRefusals(t *testing.T) {
	tests := map[string]struct {
		sub, email string
		invited    string // "": jane@globex.example
		change     func(t *testing.T, p *signintest.Provider, e *env, cb string, claims signintest.Claims) string
		want       string
		status     int
		log        string // in the page's log: why
	}{
		"another address": {email: "mallory@globex.example", log: "another address than the invited one", want: "wrongAddress", status: http.StatusForbidden},
		// Unicode lower-cases the Kelvin sign (U+212A) to k: an address the
		// provider verified with it is another mailbox than kim@.
		"an address equal only under Unicode case folding": {invited: "kim@globex.example", email: "\u212aim@globex.example",
			log: "another address than the invited one", want: "wrongAddress", status: http.StatusForbidden},
		"an unverified address": {change: func(_ *testing.T, _ *signintest.Provider, _ *env, cb string, c signintest.Claims) string {
			c["email_verified"] = false
			return cb
		}, log: "email is not verified", want: "signInFailed", status: http.StatusForbidden},
		"no address": {change: func(_ *testing.T, _ *signintest.Provider, _ *env, cb string, c signintest.Claims) string {
			delete(c, "email")
			return cb
		}, log: "has no email claim", want: "signInFailed", status: http.StatusForbidden},
		"a wrong nonce": {change: func(_ *testing.T, _ *signintest.Provider, _ *env, cb string, c signintest.Claims) string {
			c["nonce"] = "another-sign-in"
			return cb
		}, log: "nonce is not this sign-in", want: "signInFailed", status: http.StatusForbidden},
		"an expired ID token": {change: func(_ *testing.T, _ *signintest.Provider, e *env, cb string, c signintest.Claims) string {
			c["exp"] = e.clock.Now().Add(-time.Second).Unix()
			return cb
		}, log: "token is expired", want: "signInFailed", status: http.StatusForbidden},
		"an unknown issuer": {change: func(_ *testing.T, _ *signintest.Provider, _ *env, cb string, c signintest.Claims) string {
			c["iss"] = "https://evil.example"
			return cb
		}, log: "evil.example", want: "signInFailed", status: http.StatusForbidden},
		"another audience": {change: func(_ *testing.T, _ *signintest.Provider, _ *env, cb string, c signintest.Claims) string {
			c["aud"] = "another-client"
			return cb
		}, log: "expected audience", want: "signInFailed", status: http.StatusForbidden},
		"a token signed by another key": {change: func(t *testing.T, p *signintest.Provider, _ *env, cb string, _ signintest.Claims) string {
			p.SignWithOtherKey(t, cb)
			return cb
		}, log: "failed to verify signature", want: "signInFailed", status: http.StatusForbidden},
		"a code the provider does not know": {change: func(_ *testing.T, _ *signintest.Provider, _ *env, cb string, _ signintest.Claims) string {
			return strings.Replace(cb, "code=", "code=x", 1)
		}, log: "refused the code: invalid_grant", want: "signInFailed", status: http.StatusForbidden},
		"a tampered state": {change: func(_ *testing.T, _ *signintest.Provider, _ *env, cb string, _ signintest.Claims) string {
			return strings.Replace(cb, "state=", "state=x", 1)
		}, log: "state not valid", want: "signInFailed", status: http.StatusForbidden},
		"the provider's error": {change: func(_ *testing.T, _ *signintest.Provider, _ *env, cb string, _ signintest.Claims) string {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			u.RawQuery = q.Encode()
			return u.String()
		}, log: "no code", want: "signInFailed", status: http.StatusForbidden},
		"a state past its ten minutes": {change: func(_ *testing.T, _ *signintest.Provider, e *env, cb string, _ signintest.Claims) string {
			e.clock.Step(signInTTL)
			return cb
		}, log: "state not valid or too old", want: "signInFailed", status: http.StatusForbidden},
		"the provider down at the exchange": {change: func(_ *testing.T, p *signintest.Provider, _ *env, cb string, _ signintest.Claims) string {
			p.SetDown(true)
			return cb
		}, log: "exchanging the code", want: "signInUnavailable", status: http.StatusServiceUnavailable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			invited := tc.invited
			if invited == "" {
				invited = "jane@globex.example"
			}
			e, p, tok := signInEnv(t, withLocale(v1alpha1.LocaleFrench), func(i *v1alpha1.PartnerInvitation) { i.Spec.Email = v1alpha1.EmailAddress(invited) })
			authURL, cookie := start(t, e, p, tok)
			email := tc.email
			if email == "" {
				email = invited
			}
			cb, claims := p.Authorize(t, authURL, "sub-jane", email, e.clock.Now())
			if tc.change != nil {
				cb = tc.change(t, p, e, cb, claims)
			}
			resp := callback(e, cb, cookie)
			b := body(t, resp)
			if resp.StatusCode != tc.status || kindOf(b) != tc.want || ticketIn(b) != "" {
				t.Errorf("callback: %d, page %q (ticket %t), want %d %q without a ticket", resp.StatusCode, kindOf(b), ticketIn(b) != "", tc.status, tc.want)
			}
			if !strings.Contains(e.logs.String(), tc.log) {
				t.Errorf("the log does not say %q:\n%s", tc.log, e.logs.String())
			}
			if tc.want == "wrongAddress" && (!strings.Contains(b, `lang="fr"`) || !strings.Contains(b, email) || strings.Contains(b, invited)) {
				t.Errorf("the wrong-address page is not in the invitation's French, or does not name the address signed in with, or names the invited one:\n%s", b)
			}
			if n := e.writes.Load(); n != 0 {
				t.Errorf("%d status writes, want none", n)
			}
		})
	}
}

// TestSignInCallbackReplayedOrSwapped: a callback works once, in the
// browser that started the sign-in, for the invitation it started from.
func TestSignInCallbackReplayedOrSwapped(t *testing.T) {
	p := signintest.Start(t)
	e := newEnv(t, objects(invitation("jane"), invitation("joe")), withSignIn(p))
	janeURL, janeCookie := start(t, e, p, e.tokenFor(invitation("jane")))
	joeURL, joeCookie := start(t, e, p, e.tokenFor(invitation("joe")))
	janeCB, _ := p.Authorize(t, janeURL, "sub-jane", "jane@globex.example", e.clock.Now())
	joeCB, _ := p.Authorize(t, joeURL, "sub-joe", "joe@globex.example", e.clock.Now())

	refused := func(what string, resp *http.Response) {
		t.Helper()
		if b := body(t, resp); resp.StatusCode != http.StatusForbidden || kindOf(b) != "signInFailed" || ticketIn(b) != "" {
			t.Errorf("%s: %d, page %q, want 403 signInFailed without a ticket", what, resp.StatusCode, kindOf(b))
		}
	}
	// Stolen: opened in a browser without the sign-in's cookie.
	refused("jane's callback without a cookie", callback(e, janeCB, nil))
	// Swapped: jane's state with joe's cookie, and the other way round.
	refused("jane's callback with joe's cookie", callback(e, janeCB, joeCookie))
	u, _ := url.Parse(joeCB)
	q := u.Query()
	q.Set("state", mustQuery(t, janeCB, "state"))
	u.RawQuery = q.Encode()
	refused("joe's code with jane's state and joe's cookie", callback(e, u.String(), joeCookie))

	// jane's own callback works; replayed, even with the cookie, it does not.
	resp := callback(e, janeCB, janeCookie)
	b := body(t, resp)
	if resp.StatusCode != http.StatusOK || kindOf(b) != "signedIn" {
		t.Fatalf("jane's callback: %d %q, want 200 signedIn", resp.StatusCode, kindOf(b))
	}
	refused("jane's callback replayed with her cookie", callback(e, janeCB, janeCookie))

	// A ticket names its invitation: tampered, it is nothing.
	ticket := ticketIn(b)
	resp = e.postBody(pathAccept, "ticket="+url.QueryEscape(ticket[:len(ticket)-2]+"xx"))
	refused("a tampered ticket", resp)
	// A link's token is not a ticket, nor a ticket a link.
	refused("a link's token as a ticket", e.postBody(pathAccept, "ticket="+url.QueryEscape(e.tokenFor(invitation("joe")))))
	if resp := e.post(pathAccept, ticket); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a ticket as a link's token: %d, want 404", resp.StatusCode)
	}
	if n := e.writes.Load(); n != 0 {
		t.Errorf("%d status writes, want none", n)
	}
	if st := e.invitationNow("joe").Status.State; st != v1alpha1.InvitationPendingApproval {
		t.Errorf("joe's invitation is %s", st)
	}
}

func mustQuery(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(key)
}

// TestSignInProviderDown: a provider that cannot be reached gives a page
// saying so, in the invitation's language, and nothing is written.
func TestSignInProviderDown(t *testing.T) {
	e, p, tok := signInEnv(t, withLocale(v1alpha1.LocaleSpanish))
	p.SetDown(true)
	resp := e.post(pathAccept, tok)
	b := body(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, `lang="es"`) || !strings.Contains(b, "No se puede acceder al servicio de inicio de sesión") {
		t.Errorf("accept with the provider down: %d, want 503 and the Spanish page saying the sign-in service cannot be reached:\n%s", resp.StatusCode, b)
	}
	if len(resp.Cookies()) != 0 || e.writes.Load() != 0 {
		t.Errorf("with the provider down: cookies %v, %d writes, want none", resp.Cookies(), e.writes.Load())
	}
	// Back up: the sign-in starts.
	p.SetDown(false)
	start(t, e, p, tok)
}

// TestSignInOnlyWhenConfigured: without sign-in, the callback route does
// not exist and a ticket field changes nothing.
func TestSignInOnlyWhenConfigured(t *testing.T) {
	e := newEnv(t, objects(invitation("jane")))
	if resp := callback(e, "http://127.0.0.1:8082"+pathSignedIn+"?code=c&state=s", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("callback without sign-in: %d, want 404", resp.StatusCode)
	}
	resp := e.postBody(pathAccept, "ticket=x&token="+url.QueryEscape(e.tokenFor(invitation("jane"))))
	if resp.StatusCode != http.StatusSeeOther || e.invitationNow("jane").Status.SignedInAs != nil {
		t.Errorf("accept without sign-in: %d, signedInAs %+v, want 303 and none", resp.StatusCode, e.invitationNow("jane").Status.SignedInAs)
	}
}

// TestCookieScope: the sign-in cookie goes to the page's routes as the
// browser sees them, below publicURL's path (a proxy may serve the page
// under a prefix it strips: a cookie for /invitations/ alone never came back
// and every sign-in failed), and Secure for https whatever its case.
func TestCookieScope(t *testing.T) {
	for publicURL, want := range map[string]struct {
		path   string
		secure bool
	}{
		"https://partners.example.com":           {"/invitations/", true},
		"https://example.com/partners":           {"/partners/invitations/", true},
		"https://example.com/partners/":          {"/partners/invitations/", true},
		"HTTPS://partners.example.com/a/b":       {"/a/b/invitations/", true},
		"http://127.0.0.1:8082":                  {"/invitations/", false},
		"http://partners.example.com/a-prefix/x": {"/a-prefix/x/invitations/", false},
		"https://example.com/our%20partners":     {"/our%20partners/invitations/", true},
	} {
		if path, secure := cookieScope(publicURL); path != want.path || secure != want.secure {
			t.Errorf("cookieScope(%q) = %q, secure %v; want %q, secure %v", publicURL, path, secure, want.path, want.secure)
		}
	}
}
