package acceptance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"k8s.io/klog/v2"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/signin"
	"github.com/partnerops/partnerops/internal/token"
)

// This file holds the sign-in before acceptance (acceptance.signIn: oidc):
//
//  1. POST /invitations/accept with the link's token, for a pending
//     invitation, writes nothing: it keeps a PKCE verifier and a nonce in a
//     short-lived cookie bound to the invitation (UID, resend generation)
//     and answers 303 to the provider's authorization endpoint, with a
//     state (token.AudienceSignInState) that names the link and the
//     SHA-256 of that nonce;
//  2. the provider sends the partner back to GET /invitations/signed-in
//     with a code and the state. That GET writes nothing either: it checks
//     the state against the cookie (a callback opened in another browser,
//     or with another sign-in's state, does not match), clears the cookie,
//     exchanges the code (with the verifier) and verifies the ID token
//     (internal/signin: signature, issuer, audience, expiry, nonce). When
//     the address it proves is the invited one (without case), it shows a
//     last "Accept and continue" form with a ticket
//     (token.AudienceSignInTicket: the link's claims and who signed in);
//     otherwise a page, in the invitation's language, saying that the
//     invitation was sent to another address;
//  3. POST /invitations/accept with that ticket records the acceptance, with
//     status.signedInAs (issuer, subject) covered by the proof, and answers
//     303 to the Partner Hub.
//
// The page keeps no session: the state and the ticket are signed with the
// links' keys, the cookie holds the rest. Declining needs no sign-in.

// SignInProvider is the OpenID Provider (internal/signin.Provider).
type SignInProvider interface {
	// AuthURL is where to send the partner to sign in.
	AuthURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Finish exchanges the code and verifies the ID token; its errors wrap
	// signin.ErrUnavailable or signin.ErrRefused.
	Finish(ctx context.Context, code, verifier, nonce string, issuers []string) (token.Identity, error)
	// Origins are where the accept form may lead (CSP form-action).
	Origins() []string
}

// SignInSigner signs and checks the sign-in's state and ticket
// (internal/token.Signer).
type SignInSigner interface {
	SignSignIn(ctx context.Context, audience string, v token.SignIn) (string, error)
	VerifySignIn(ctx context.Context, audience, raw string) (token.SignIn, error)
}

// SignedInPath is the page's redirect URI below acceptance.publicURL, as
// the provider must have it registered for the client.
const SignedInPath = pathSignedIn

// signInTTL bounds a sign-in: the state, the cookie and the ticket.
const signInTTL = 10 * time.Minute

// signInCookie names the cookie of a sign-in in progress.
const signInCookie = "partnerops-signin"

// flow is what the cookie keeps of a sign-in in progress: the invitation
// it is for, and the secrets the provider's answer must match.
type flow struct {
	UID      string `json:"u"`
	Resend   int32  `json:"g"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

// binding ties a state to the cookie holding nonce.
func binding(nonce string) string {
	sum := sha256.Sum256([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// startSignIn sends the partner of a pending invitation to the provider.
// It writes nothing but the cookie.
func (h *handler) startSignIn(ctx context.Context, w http.ResponseWriter, r *http.Request, res resolution) {
	nonce := rand.Text()
	f := flow{UID: res.link.claims.UID, Resend: res.link.claims.Resend, Nonce: nonce, Verifier: oauth2.GenerateVerifier()}
	state, err := h.signIns.SignSignIn(ctx, token.AudienceSignInState, token.SignIn{
		Link: res.link.claims, Binding: binding(nonce), ExpiresAt: h.clock.Now().Add(signInTTL),
	})
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	to, err := h.signIn.AuthURL(ctx, state, nonce, f.Verifier)
	if err != nil {
		h.signInProblem(w, r, err, &res)
		return
	}
	v, _ := json.Marshal(f)
	h.setCookie(w, base64.RawURLEncoding.EncodeToString(v), int(signInTTL/time.Second))
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
}

// setCookie sets (maxAge > 0) or clears (maxAge < 0) the sign-in cookie:
// HttpOnly, SameSite=Lax (the provider's redirect back is a top-level GET
// from another site), only for the page's routes (cookieScope), Secure when
// the page's public URL is https.
func (h *handler) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: signInCookie, Value: value, Path: h.cookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: h.secureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// readFlow reads the sign-in cookie.
func readFlow(r *http.Request) (flow, bool) {
	c, err := r.Cookie(signInCookie)
	if err != nil {
		return flow{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return flow{}, false
	}
	var f flow
	if json.Unmarshal(b, &f) != nil || f.UID == "" || f.Nonce == "" || f.Verifier == "" {
		return flow{}, false
	}
	return f, true
}

// signedIn answers GET /invitations/signed-in, where the provider sends
// the partner back. It never writes.
func (h *handler) signedIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	h.setCookie(w, "", -1) // one callback per sign-in
	q := r.URL.Query()
	if len(q["state"]) != 1 {
		h.signInFailed(w, r, "no state", nil)
		return
	}
	st, ok := h.verifySignIn(ctx, w, r, token.AudienceSignInState, "state", q.Get("state"))
	if !ok {
		return
	}
	f, ok := readFlow(r)
	if !ok || f.UID != st.Link.UID || f.Resend != st.Link.Resend || binding(f.Nonce) != st.Binding {
		h.signInFailed(w, r, "state not this browser's sign-in", &st.Link)
		return
	}
	res, err := h.load(ctx, link{claims: st.Link, expired: !h.clock.Now().Before(st.Link.ExpiresAt)})
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if res.verdict != verdictPending {
		h.showResolution(w, r, res)
		return
	}
	if q.Has("error") || len(q["code"]) != 1 || q.Get("code") == "" {
		h.signInFailed(w, r, "the provider returned no code", &st.Link, res)
		return
	}
	email := string(res.inv.Spec.Email)
	id, err := h.signIn.Finish(ctx, q.Get("code"), f.Verifier, f.Nonce, h.config.Acceptance.SignIn.OIDC.IssuersFor(email))
	if err != nil {
		h.signInProblem(w, r, err, &res)
		return
	}
	if v1alpha1.NormalizeEmail(id.Email) != v1alpha1.NormalizeEmail(email) {
		h.wrongAddress(w, r, res, id)
		return
	}
	ticket, err := h.signIns.SignSignIn(ctx, token.AudienceSignInTicket, token.SignIn{
		Link: st.Link, Identity: id, ExpiresAt: h.clock.Now().Add(signInTTL),
	})
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.signInPage(w, r, http.StatusOK, i18n.KindSignedIn, &res, func(d *pageData) {
		d.Ticket, d.SignedInEmail = ticket, id.Email
	})
}

// acceptSignedIn answers POST /invitations/accept with the ticket of a
// finished sign-in: the acceptance is recorded with who signed in.
func (h *handler) acceptSignedIn(ctx context.Context, w http.ResponseWriter, r *http.Request, values []string) {
	if len(values) != 1 {
		h.signInFailed(w, r, "not one ticket", nil)
		return
	}
	tk, ok := h.verifySignIn(ctx, w, r, token.AudienceSignInTicket, "ticket", values[0])
	if !ok {
		return
	}
	res, err := h.load(ctx, link{claims: tk.Link, expired: !h.clock.Now().Before(tk.Link.ExpiresAt)})
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if res.verdict == verdictPending && v1alpha1.NormalizeEmail(tk.Identity.Email) != v1alpha1.NormalizeEmail(string(res.inv.Spec.Email)) {
		h.wrongAddress(w, r, res, tk.Identity)
		return
	}
	h.conclude(ctx, w, r, res, accept, &tk.Identity)
}

// verifySignIn verifies raw, a sign-in state or ticket (what, of
// audience). When it is not one, it answers, the sign-in failed page for
// one not valid or too old and 503 when it cannot tell, and ok is false.
func (h *handler) verifySignIn(ctx context.Context, w http.ResponseWriter, r *http.Request, audience, what, raw string) (v token.SignIn, ok bool) {
	v, err := h.signIns.VerifySignIn(ctx, audience, raw)
	switch {
	case errors.Is(err, token.ErrInvalid), errors.Is(err, token.ErrExpired):
		h.signInFailed(w, r, what+" not valid or too old", nil)
		return token.SignIn{}, false
	case err != nil:
		h.unavailable(w, r, err)
		return token.SignIn{}, false
	}
	return v, true
}

// signInProblem answers a failed step with the provider: 503 when it
// cannot be reached, else the sign-in failed page. res is the invitation.
func (h *handler) signInProblem(w http.ResponseWriter, r *http.Request, err error, res *resolution) {
	if errors.Is(err, signin.ErrUnavailable) {
		h.log.Error(err, "Sign-in unavailable", "invitation", klog.KRef(res.link.claims.Namespace, res.link.claims.Name))
		w.Header().Set("Retry-After", "60")
		h.signInPage(w, r, http.StatusServiceUnavailable, i18n.KindSignInUnavailable, res, nil)
		return
	}
	h.signInFailed(w, r, err.Error(), &res.link.claims, *res)
}

// signInFailed answers 403 with the page saying the sign-in proves
// nothing, in the invitation's language when one is known (res).
func (h *handler) signInFailed(w http.ResponseWriter, r *http.Request, why string, c *token.Claims, res ...resolution) {
	kv := []any{"reason", why}
	if c != nil {
		kv = append(kv, "invitation", klog.KRef(c.Namespace, c.Name))
	}
	h.log.Info("Sign-in refused", kv...)
	var rp *resolution
	if len(res) > 0 {
		rp = &res[0]
	}
	h.signInPage(w, r, http.StatusForbidden, i18n.KindSignInFailed, rp, nil)
}

// wrongAddress answers 403: the partner signed in as someone the
// invitation was not sent to. Nothing is written.
func (h *handler) wrongAddress(w http.ResponseWriter, r *http.Request, res resolution, id token.Identity) {
	h.log.Info("Sign-in refused", "reason", "signed in with another address than the invited one",
		"invitation", klog.KObj(res.inv), "issuer", id.Issuer)
	h.signInPage(w, r, http.StatusForbidden, i18n.KindWrongAddress, &res, func(d *pageData) { d.SignedInEmail = id.Email })
}

// signInPage renders the sign-in page of kind: about the invitation of res
// in its language, or in the request's language when res is nil.
func (h *handler) signInPage(w http.ResponseWriter, r *http.Request, status int, kind string, res *resolution, set func(*pageData)) {
	d := pageData{Locale: negotiateLocale(r.Header.Get("Accept-Language"))}
	if res != nil && res.inv != nil {
		var err error
		if d, err = h.pageData(r.Context(), *res); err != nil {
			h.unavailable(w, r, err)
			return
		}
	} else {
		w.Header().Set("Vary", "Accept-Language")
	}
	d.Kind = kind
	if set != nil {
		set(&d)
	}
	h.write(w, r, status, i18n.PageSignIn, d)
}

// cookieScope is where the browser sends the sign-in cookie: the page's
// routes as the browser sees them, below acceptance.publicURL's path (a
// proxy in front may serve the page under a prefix it strips), and only
// over TLS when publicURL is https (its scheme in any case).
func cookieScope(publicURL string) (path string, secure bool) {
	u, err := url.Parse(publicURL)
	if err != nil { // config.Validate refuses such a URL
		return "/invitations/", true
	}
	return strings.TrimSuffix(u.EscapedPath(), "/") + "/invitations/", u.Scheme == "https"
}
