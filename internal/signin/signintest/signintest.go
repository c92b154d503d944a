// Package signintest is a fake OpenID Provider in the test process
// (httptest) for what the real one (internal/testpeers/oidc) cannot be made
// to do: ID tokens with a wrong nonce, issuer or audience, expired, with an
// unverified address, signed by another key; a token endpoint that fails.
// It serves discovery, a JWKS with one RSA key, an authorization endpoint
// that records the request, and a token endpoint that checks PKCE and
// answers each code once.
package signintest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Provider is a fake OpenID Provider.
type Provider struct {
	// Issuer is its URL and the iss of its tokens unless a test changes it.
	Issuer string
	// ClientID is the client it knows; ClientSecret its secret.
	ClientID, ClientSecret string

	srv *httptest.Server
	key *rsa.PrivateKey

	mu    sync.Mutex
	codes map[string]*grant
	down  bool
	// Exchanges counts the token endpoint's answers with an ID token.
	exchanges int
}

// grant is one authorization: what the token endpoint will check and sign.
type grant struct {
	challenge string
	claims    jwt.MapClaims
	key       *rsa.PrivateKey
}

// Start runs a Provider for the test.
func Start(t testing.TB) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{ClientID: "partnerops", ClientSecret: "s3cret", key: key, codes: map[string]*grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(p.unlessDown(mux))
	p.Issuer = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// SetDown makes every endpoint answer 503 (down) or work again.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// Exchanges is how many codes the token endpoint exchanged.
func (p *Provider) Exchanges() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exchanges
}

func (p *Provider) unlessDown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                p.srv.URL,
		"authorization_endpoint":                p.srv.URL + "/authorize",
		"token_endpoint":                        p.srv.URL + "/token",
		"jwks_uri":                              p.srv.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// Claims are what an authorization's ID token will say; Authorize fills
// them for the usual case, and a test changes them before the exchange.
type Claims = jwt.MapClaims

// Authorize plays the partner signing in as (sub, email) at authURL (the
// page's redirect to the provider): it records a code for that request and
// returns the page's callback URL with the code and the state, and the
// claims the ID token will carry (iss, aud, sub, email, email_verified,
// nonce from the request, iat now, exp in an hour of now), which the test
// may change. otherKey signs the ID token with a key the JWKS does not
// hold.
func (p *Provider) Authorize(t testing.TB, authURL, sub, email string, now time.Time) (callback string, claims Claims) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorization request %s: want client_id %s, response_type code, code_challenge_method S256", authURL, p.ClientID)
	}
	code := rand.Text()
	claims = Claims{
		"iss": p.Issuer, "aud": p.ClientID, "sub": sub, "email": email, "email_verified": true,
		"nonce": q.Get("nonce"), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	p.mu.Lock()
	p.codes[code] = &grant{challenge: q.Get("code_challenge"), claims: claims, key: p.key}
	p.mu.Unlock()
	cb, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		t.Fatal(err)
	}
	cq := url.Values{"code": {code}, "state": {q.Get("state")}}
	cb.RawQuery = cq.Encode()
	return cb.String(), claims
}

// SignWithOtherKey makes the code's ID token signed by a key the JWKS does
// not hold (same kid).
func (p *Provider) SignWithOtherKey(t testing.TB, callback string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(callback)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes[u.Query().Get("code")].key = key
}

// token answers the token endpoint: a known code, once, for the client
// with its secret and the PKCE verifier of its challenge. (golang.org/x/oauth2
// sends the secret with Basic authentication, and again in the form when
// the first answer is an error.)
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	// client_secret_basic or client_secret_post.
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	g := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code"))
	p.mu.Unlock()
	if g == nil || r.PostForm.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, g.claims)
	tok.Header["kid"] = "k1"
	raw, err := tok.SignedString(g.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	p.exchanges++
	p.mu.Unlock()
	writeJSON(w, map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": raw})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
