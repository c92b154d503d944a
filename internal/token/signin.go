package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Sign-in values: when the acceptance page asks the partner to sign in
// with an OpenID Provider first (acceptance.signIn: oidc), it keeps no
// server-side session. Two short-lived values, HS256 JWTs made with the
// links' keys, carry what it needs between requests, each with its own
// audience so that none can be taken for another (or for a link):
//
//   - the state sent to the provider and back on the callback: the link's
//     claims (which invitation, which resend generation) and a binding to
//     the browser that started the sign-in (the SHA-256 of the nonce kept in
//     that browser's cookie). A callback replayed in another browser, or
//     with another sign-in's state, does not match;
//   - the ticket the callback puts in the final "Accept and continue" form:
//     the link's claims and the identity that signed in (issuer, subject,
//     address), proved by the provider's ID token a moment before.
//
// Neither is a bearer credential for anything but finishing the one
// invitation it names; neither is ever logged.

// Audiences of the sign-in values.
const (
	AudienceSignInState  = "partnerops.dev/sign-in-state"
	AudienceSignInTicket = "partnerops.dev/sign-in-ticket"
)

// maxIdentityLength bounds an issuer, a subject and an address in a ticket.
const maxIdentityLength = 1024

// Identity is who signed in: the ID token's issuer and subject, and the
// address it proved.
type Identity struct {
	Issuer  string
	Subject string
	Email   string
}

// SignIn is what a state or a ticket carries.
type SignIn struct {
	// Link is the invitation link's claims the sign-in is for (its
	// ExpiresAt is the link's).
	Link Claims
	// Binding ties a state to the browser that started the sign-in; empty
	// in a ticket.
	Binding string
	// Identity is who signed in; empty in a state.
	Identity Identity
	// ExpiresAt is when the state or ticket stops working.
	ExpiresAt time.Time
}

// signInClaims is a state's or ticket's payload.
type signInClaims struct {
	jwtClaims
	LinkExpiresAt int64  `json:"lexp"`
	Binding       string `json:"bnd,omitempty"`
	IDIssuer      string `json:"idi,omitempty"`
	IDSubject     string `json:"ids,omitempty"`
	IDEmail       string `json:"ide,omitempty"`
}

// SignSignIn returns the state (AudienceSignInState) or ticket
// (AudienceSignInTicket) for v, signed with the current key.
func (s *Signer) SignSignIn(ctx context.Context, audience string, v SignIn) (string, error) {
	if err := checkSignIn(audience, v); err != nil {
		return "", fmt.Errorf("signing a sign-in value: %w", err)
	}
	keys, err := s.src.Keys(ctx)
	if err != nil {
		return "", fmt.Errorf("signing a sign-in value: loading keys: %w", err)
	}
	kid, key, ok := keys.current()
	if !ok {
		return "", errors.New("signing a sign-in value: the key set is empty")
	}
	c := v.Link
	t := jwt.NewWithClaims(signingMethod, signInClaims{
		jwtClaims: jwtClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    Issuer,
				Subject:   c.Namespace + "/" + c.Name,
				Audience:  jwt.ClaimStrings{audience},
				ExpiresAt: jwt.NewNumericDate(v.ExpiresAt.Truncate(time.Second)),
				IssuedAt:  jwt.NewNumericDate(s.clk.Now()),
			},
			UID: c.UID, Namespace: c.Namespace, Name: c.Name, Resend: c.Resend,
		},
		LinkExpiresAt: c.ExpiresAt.Unix(),
		Binding:       v.Binding,
		IDIssuer:      v.Identity.Issuer,
		IDSubject:     v.Identity.Subject,
		IDEmail:       v.Identity.Email,
	})
	t.Header["kid"] = kid
	raw, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing a sign-in value: %w", err)
	}
	return raw, nil
}

// VerifySignIn checks a state or ticket made for audience and returns what
// it carries. It returns an error wrapping ErrInvalid for anything this
// operator did not sign for that audience, ErrExpired (without the value)
// for one past its expiry, and any other error when the keys could not be
// loaded.
func (s *Signer) VerifySignIn(ctx context.Context, audience, raw string) (SignIn, error) {
	if err := precheck(raw); err != nil {
		return SignIn{}, err
	}
	keys, err := s.src.Keys(ctx)
	if err != nil {
		return SignIn{}, fmt.Errorf("verifying a sign-in value: loading keys: %w", err)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{signingMethod.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.clk.Now),
		jwt.WithLeeway(0),
		jwt.WithStrictDecoding(),
	)
	var sc signInClaims
	_, err = parser.ParseWithClaims(raw, &sc, keys.keyFunc)
	switch {
	case onlyExpired(err):
		return SignIn{}, ErrExpired
	case err != nil:
		return SignIn{}, invalid("%s", describe(err))
	}
	link, err := toClaims(&sc.jwtClaims)
	if err != nil {
		return SignIn{}, invalid("%s", err)
	}
	v := SignIn{
		Link:      link,
		Binding:   sc.Binding,
		Identity:  Identity{Issuer: sc.IDIssuer, Subject: sc.IDSubject, Email: sc.IDEmail},
		ExpiresAt: sc.ExpiresAt.UTC(),
	}
	v.Link.ExpiresAt = time.Unix(sc.LinkExpiresAt, 0).UTC()
	if err := checkSignIn(audience, v); err != nil {
		return SignIn{}, invalid("%s", err)
	}
	return v, nil
}

// checkSignIn checks what a state or ticket of audience must hold. Its
// messages name fields, never values.
func checkSignIn(audience string, v SignIn) error {
	if err := checkClaims(v.Link); err != nil {
		return err
	}
	if v.ExpiresAt.IsZero() {
		return errors.New("expiry must be set")
	}
	id := v.Identity
	switch audience {
	case AudienceSignInState:
		if v.Binding == "" || len(v.Binding) > 128 || id != (Identity{}) {
			return errors.New("a state holds a binding of at most 128 characters and no identity")
		}
	case AudienceSignInTicket:
		if v.Binding != "" {
			return errors.New("a ticket holds no binding")
		}
		for _, f := range []string{id.Issuer, id.Subject, id.Email} {
			if strings.TrimSpace(f) == "" || len(f) > maxIdentityLength {
				return fmt.Errorf("a ticket holds an issuer, a subject and an address, each 1 to %d characters", maxIdentityLength)
			}
		}
	default:
		return errors.New("unknown sign-in audience")
	}
	return nil
}
