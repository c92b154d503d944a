// Package signin is the acceptance page's OpenID Connect relying party
// (acceptance.signIn: oidc): it sends the partner to the OpenID Provider
// with an Authorization Code request (PKCE S256, a nonce and the page's
// state), then exchanges the code and verifies the ID token with
// github.com/coreos/go-oidc/v3: signature against the provider's JWKS,
// issuer, audience (the client ID), expiry on the page's clock, and the
// nonce. It returns who signed in (issuer, subject) and the address the
// token proves; comparing that address with the invitation's is the
// page's job.
//
// The provider's discovery document is read on first use and kept; until
// it has been read, or whenever the provider cannot be reached, the calls
// fail with an error wrapping ErrUnavailable, so the page can say so and
// write nothing.
package signin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"k8s.io/utils/clock"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/token"
)

// Errors of Provider's methods; callers branch with errors.Is.
var (
	// ErrUnavailable: the provider could not be reached, or answered with
	// a server error. Nothing was decided; trying again later may work.
	ErrUnavailable = errors.New("the identity provider is unavailable")
	// ErrRefused: the sign-in does not prove anything: the provider refused
	// the code (used already, expired, for another client), or the ID
	// token does not verify (signature, issuer, audience, expiry, nonce),
	// or it lacks a verified address.
	ErrRefused = errors.New("the sign-in was refused")
)

// httpTimeout bounds each request to the provider.
const httpTimeout = 10 * time.Second

// Options are what a Provider needs.
type Options struct {
	// Config is acceptance.signIn.oidc, defaulted.
	Config *config.OIDCSignIn
	// RedirectURL is the page's callback, as the provider has it registered.
	RedirectURL string
	// ClientSecret returns the client secret at each code exchange (so a
	// rotated Secret needs no restart); nil for a public client.
	ClientSecret func(context.Context) (string, error)
	// HTTPClient talks to the provider; nil: one with a 10s timeout.
	HTTPClient *http.Client
	// Clock checks the ID token's expiry; nil: the real clock.
	Clock clock.PassiveClock
}

// Provider is one OpenID Provider. It is safe for concurrent use.
type Provider struct {
	o      Options
	client *http.Client
	clock  clock.PassiveClock

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovery succeeded
}

// New returns a Provider; it reads nothing yet.
func New(o Options) (*Provider, error) {
	if o.Config == nil {
		return nil, errors.New("sign-in: no oidc configuration")
	}
	if _, err := url.Parse(o.RedirectURL); err != nil || o.RedirectURL == "" {
		return nil, fmt.Errorf("sign-in: redirect URL %q is not a URL", o.RedirectURL)
	}
	p := &Provider{o: o, client: o.HTTPClient, clock: o.Clock}
	if p.client == nil {
		p.client = &http.Client{Timeout: httpTimeout}
	}
	if p.clock == nil {
		p.clock = clock.RealClock{}
	}
	return p, nil
}

// discover returns the provider's metadata, reading its discovery document
// the first time.
func (p *Provider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	// The provider keeps this context for its JWKS requests: it must not
	// end with the request that discovered it. The client's timeout bounds
	// each request; ctx bounds the discovery itself.
	long := oidc.ClientContext(context.WithoutCancel(ctx), p.client)
	type result struct {
		pr  *oidc.Provider
		err error
	}
	done := make(chan result, 1)
	go func() {
		pr, err := oidc.NewProvider(long, p.o.Config.IssuerURL)
		done <- result{pr, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("%w: reading its discovery document: %w", ErrUnavailable, r.err)
		}
		p.provider = r.pr
		return r.pr, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: reading its discovery document: %w", ErrUnavailable, ctx.Err())
	}
}

// probe reads the discovery document again, to know the provider is up.
func (p *Provider) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.o.Config.IssuerURL, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: its discovery document answered %d", ErrUnavailable, resp.StatusCode)
	}
	return nil
}

// oauth2Config is the client for one request.
func (p *Provider) oauth2Config(pr *oidc.Provider, secret string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.o.Config.ClientID,
		ClientSecret: secret,
		Endpoint:     pr.Endpoint(),
		RedirectURL:  p.o.RedirectURL,
		Scopes:       p.o.Config.Scopes,
	}
}

// AuthURL returns where to send the partner: the provider's authorization
// endpoint with the page's state, the nonce and the PKCE challenge of
// verifier.
//
// The provider must answer its discovery document now, even when it was
// read before: a partner sent to a provider that is down would get the
// browser's error page instead of the acceptance page's explanation.
func (p *Provider) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	pr, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	if err := p.probe(ctx); err != nil {
		return "", err
	}
	return p.oauth2Config(pr, "").AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Origins are the origins of the provider's issuer and, once discovered,
// of its authorization endpoint: where the page's accept form may lead.
func (p *Provider) Origins() []string {
	out := []string{origin(p.o.Config.IssuerURL)}
	p.mu.Lock()
	pr := p.provider
	p.mu.Unlock()
	if pr != nil {
		if o := origin(pr.Endpoint().AuthURL); o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Finish exchanges code (with the PKCE verifier) at the token endpoint and
// verifies the ID token it returns: signed by the provider's keys, for
// this client, not expired, carrying nonce, and issued by one of issuers
// (config.OIDCSignIn.IssuersFor the invited address). It returns who
// signed in and the address the token proves (verified, when the address
// claim is email).
func (p *Provider) Finish(ctx context.Context, code, verifier, nonce string, issuers []string) (token.Identity, error) {
	pr, err := p.discover(ctx)
	if err != nil {
		return token.Identity{}, err
	}
	var secret string
	if p.o.ClientSecret != nil {
		if secret, err = p.o.ClientSecret(ctx); err != nil {
			return token.Identity{}, fmt.Errorf("%w: reading the client secret: %w", ErrUnavailable, err)
		}
	}
	tok, err := p.oauth2Config(pr, secret).Exchange(oidc.ClientContext(ctx, p.client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.Response != nil && re.Response.StatusCode < 500 {
			return token.Identity{}, fmt.Errorf("%w: the token endpoint refused the code: %s", ErrRefused, re.ErrorCode)
		}
		return token.Identity{}, fmt.Errorf("%w: exchanging the code: %w", ErrUnavailable, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return token.Identity{}, fmt.Errorf("%w: the token response has no ID token", ErrRefused)
	}
	return p.Verify(ctx, raw, nonce, issuers)
}

// Verify checks an ID token as Finish does (the token endpoint's answer,
// over TLS from the provider itself, is where it comes from).
func (p *Provider) Verify(ctx context.Context, raw, nonce string, issuers []string) (token.Identity, error) {
	pr, err := p.discover(ctx)
	if err != nil {
		return token.Identity{}, err
	}
	cfg := p.o.Config
	v := pr.Verifier(&oidc.Config{
		ClientID: cfg.ClientID,
		Now:      p.clock.Now,
		// The issuer is checked below against the issuers allowed for the
		// invited address, which may not be the provider's own (a
		// multi-tenant provider signs for each tenant with its keys).
		SkipIssuerCheck: true,
	})
	idt, err := v.Verify(oidc.ClientContext(ctx, p.client), raw)
	if err != nil {
		return token.Identity{}, fmt.Errorf("%w: the ID token does not verify: %w", ErrRefused, err)
	}
	switch {
	case !slices.Contains(issuers, idt.Issuer):
		return token.Identity{}, fmt.Errorf("%w: the ID token's issuer %q may not vouch for this address", ErrRefused, idt.Issuer)
	case idt.Nonce == "" || idt.Nonce != nonce:
		return token.Identity{}, fmt.Errorf("%w: the ID token's nonce is not this sign-in's", ErrRefused)
	case idt.Subject == "":
		return token.Identity{}, fmt.Errorf("%w: the ID token has no subject", ErrRefused)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return token.Identity{}, fmt.Errorf("%w: reading the ID token's claims: %w", ErrRefused, err)
	}
	addr, _ := claims[cfg.AddressClaim].(string)
	if strings.TrimSpace(addr) == "" {
		return token.Identity{}, fmt.Errorf("%w: the ID token has no %s claim", ErrRefused, cfg.AddressClaim)
	}
	if cfg.AddressClaim == config.DefaultAddressClaim && !verified(claims[config.ClaimEmailVerified]) {
		return token.Identity{}, fmt.Errorf("%w: the ID token's email is not verified (%s is not true)", ErrRefused, config.ClaimEmailVerified)
	}
	return token.Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: strings.TrimSpace(addr)}, nil
}

// verified reads email_verified: true, or "true" as some providers write it.
func verified(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true"
	}
	return false
}
