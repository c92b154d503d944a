// Package token signs and verifies the links of invitation emails: a JWT
// (HS256, with the key id in the `kid` header) that names one send of one
// PartnerInvitation (namespace, name, UID, resend generation) and when it
// stops working. Keys live in a Secret (SecretKeys, EnsureSecret); several
// keys may verify at once so they can be rotated without killing links.
//
// A token is a bearer credential: callers must never log it, store it in
// status or put it in an event.
package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"k8s.io/utils/clock"
)

// Fixed values of every invitation token.
const (
	// Issuer is the token's `iss` claim.
	Issuer = "partnerops"
	// Audience is the token's `aud` claim: what the token is for.
	Audience = "partnerops.dev/invitation-accept"
	// MaxTokenLength is the longest token Verify parses, in bytes; longer
	// input is refused before any decoding. Sign never makes a longer one.
	MaxTokenLength = 4096
)

// Bounds on the claims, checked by Sign and by Verify. They are the
// Kubernetes limits for a namespace and an object name, and generous for a
// UID, and keep every token far below MaxTokenLength.
const (
	maxNamespaceLength = 63
	maxNameLength      = 253
	maxUIDLength       = 128
)

// signingMethod is the only algorithm signed and accepted.
var signingMethod = jwt.SigningMethodHS256

// Claims identify one send of one invitation.
type Claims struct {
	// Namespace is the PartnerInvitation's namespace.
	Namespace string
	// Name is the PartnerInvitation's name.
	Name string
	// UID is the PartnerInvitation's metadata.uid, so a link does not
	// survive the deletion and re-creation of an object with the same name.
	UID string
	// Resend is the spec.resend generation the link was sent for; a link of
	// an older generation is dead.
	Resend int32
	// ExpiresAt is when the link stops working, at second precision (Sign
	// truncates it; Verify returns it in UTC). The link works strictly
	// before this instant.
	ExpiresAt time.Time
}

// Errors of Verify. Callers branch on them with errors.Is.
var (
	// ErrInvalid means the token is not one this operator issued, or was
	// altered: forged, tampered, truncated, malformed, signed with another
	// key or algorithm, for another audience or issuer, with an unknown key
	// id. Callers must not tell these cases apart to the user; the wrapped
	// detail, made of fixed words only, may go to logs.
	ErrInvalid = errors.New("invalid invitation token")
	// ErrExpired means the token is correctly signed and well formed but
	// its ExpiresAt has passed; Verify returns its Claims alongside.
	ErrExpired = errors.New("invitation token expired")
)

// jwtClaims is the token's payload.
type jwtClaims struct {
	jwt.RegisteredClaims
	UID       string `json:"uid"`
	Namespace string `json:"ns"`
	Name      string `json:"name"`
	Resend    int32  `json:"gen"`
}

// Signer signs and verifies invitation tokens with the keys of a KeySource
// and the time of a clock. It is safe for concurrent use.
type Signer struct {
	src    KeySource
	clk    clock.PassiveClock
	parser *jwt.Parser
}

// NewSigner returns a Signer that takes its keys from src on every call
// (so rotated keys are picked up) and its time from clk.
func NewSigner(src KeySource, clk clock.PassiveClock) *Signer {
	return &Signer{
		src: src,
		clk: clk,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{signingMethod.Alg()}),
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(clk.Now),
			jwt.WithLeeway(0),
			jwt.WithStrictDecoding(),
		),
	}
}

// Sign returns a token for c, signed with the current key. c must name an
// object (Namespace, Name and UID set, no '/' in Namespace or Name, within
// Kubernetes' lengths), have Resend >= 0 and an ExpiresAt (truncated to the
// second) after the clock's now.
func (s *Signer) Sign(ctx context.Context, c Claims) (string, error) {
	c.ExpiresAt = c.ExpiresAt.Truncate(time.Second)
	if err := checkClaims(c); err != nil {
		return "", fmt.Errorf("signing invitation token: %w", err)
	}
	now := s.clk.Now()
	if !now.Before(c.ExpiresAt) {
		return "", fmt.Errorf("signing invitation token for %s/%s: expiry %s is not after now (%s)",
			c.Namespace, c.Name, c.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	keys, err := s.src.Keys(ctx)
	if err != nil {
		return "", fmt.Errorf("signing invitation token: loading keys: %w", err)
	}
	kid, key, ok := keys.current()
	if !ok {
		return "", errors.New("signing invitation token: the key set is empty")
	}

	t := jwt.NewWithClaims(signingMethod, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.Namespace + "/" + c.Name,
			Audience:  jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			IssuedAt:  jwt.NewNumericDate(now),
		},
		UID:       c.UID,
		Namespace: c.Namespace,
		Name:      c.Name,
		Resend:    c.Resend,
	})
	t.Header["kid"] = kid
	raw, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing invitation token: %w", err)
	}
	if len(raw) > MaxTokenLength {
		// Unreachable with the claim bounds above; kept so Sign can never
		// produce a token that Verify refuses.
		return "", fmt.Errorf("signing invitation token: %d bytes, more than %d", len(raw), MaxTokenLength)
	}
	return raw, nil
}

// Verify checks raw and returns its claims. It returns an error wrapping
// ErrInvalid for anything but a well-formed token signed (HS256) by one of
// the source's keys for this issuer and audience, and ErrExpired, with the
// claims, for such a token whose expiry has passed on the clock (no
// leeway). Any other error means the keys could not be loaded, not that
// the token is bad. Claims are zero unless the error is nil or ErrExpired.
func (s *Signer) Verify(ctx context.Context, raw string) (Claims, error) {
	// Cheap checks first, before any decoding or key loading.
	if err := precheck(raw); err != nil {
		return Claims{}, err
	}
	keys, err := s.src.Keys(ctx)
	if err != nil {
		return Claims{}, fmt.Errorf("verifying invitation token: loading keys: %w", err)
	}

	var jc jwtClaims
	_, err = s.parser.ParseWithClaims(raw, &jc, keys.keyFunc)
	switch {
	case err == nil:
		c, err := toClaims(&jc)
		if err != nil {
			return Claims{}, invalid("%s", err)
		}
		return c, nil
	case onlyExpired(err):
		// jwt checks the signature before the claims, and onlyExpired holds
		// only when the claims check failed on exp alone: the token is ours.
		c, cerr := toClaims(&jc)
		if cerr != nil {
			return Claims{}, invalid("%s", cerr)
		}
		return c, ErrExpired
	default:
		return Claims{}, invalid("%s", describe(err))
	}
}

// precheck refuses, with ErrInvalid, what can be no token of ours: too
// long, or with characters outside base64url segments and their dots.
func precheck(raw string) error {
	if len(raw) > MaxTokenLength {
		return invalid("longer than %d bytes", MaxTokenLength)
	}
	if !urlSafe(raw) {
		return invalid("characters outside the base64url alphabet")
	}
	return nil
}

// keyFunc gives the jwt parser the key a token's kid header names.
func (k *Keys) keyFunc(t *jwt.Token) (any, error) {
	kid, ok := t.Header["kid"].(string)
	if !ok {
		return nil, errors.New("no kid header")
	}
	key, ok := k.lookup(kid)
	if !ok {
		return nil, errors.New("unknown kid")
	}
	return key, nil
}

// invalid returns ErrInvalid with a detail for logs. Details are built from
// fixed words only: never the token, a header value or key material.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// urlSafe reports whether s holds only the characters of base64url segments
// and their dots (no padding, no percent-encoding, no whitespace).
func urlSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// onlyExpired reports whether err is jwt's claims-validation error with the
// expiry as its only cause. It walks the error tree and answers false for
// any shape it does not know, so a change in the jwt library makes expired
// tokens invalid rather than invalid tokens expired.
func onlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenInvalidClaims) || !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	var leavesOK func(error) bool
	leavesOK = func(e error) bool {
		// Identity, not errors.Is: each leaf must be one of these two.
		if e == jwt.ErrTokenExpired || e == jwt.ErrTokenInvalidClaims {
			return true
		}
		multi, ok := e.(interface{ Unwrap() []error })
		if !ok {
			return false
		}
		children := multi.Unwrap()
		if len(children) == 0 {
			return false
		}
		for _, c := range children {
			if !leavesOK(c) {
				return false
			}
		}
		return true
	}
	return leavesOK(err)
}

// describe names the jwt sentinels err matches, in fixed words.
func describe(err error) string {
	var parts []string
	for _, s := range []error{
		jwt.ErrTokenMalformed,
		jwt.ErrTokenUnverifiable,
		jwt.ErrTokenSignatureInvalid,
		jwt.ErrTokenInvalidClaims,
		jwt.ErrTokenRequiredClaimMissing,
		jwt.ErrTokenInvalidAudience,
		jwt.ErrTokenInvalidIssuer,
		jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenNotValidYet,
		jwt.ErrTokenExpired,
		jwt.ErrInvalidType,
	} {
		if errors.Is(err, s) {
			parts = append(parts, s.Error())
		}
	}
	if len(parts) == 0 {
		return "rejected"
	}
	return strings.Join(parts, ", ")
}

// toClaims checks what the jwt parser does not (the payload's own fields
// and their agreement with sub) and converts.
func toClaims(jc *jwtClaims) (Claims, error) {
	if len(jc.Audience) != 1 {
		return Claims{}, errors.New("more than one audience")
	}
	if jc.ExpiresAt == nil || jc.IssuedAt == nil {
		return Claims{}, errors.New("missing exp or iat")
	}
	c := Claims{
		Namespace: jc.Namespace,
		Name:      jc.Name,
		UID:       jc.UID,
		Resend:    jc.Resend,
		ExpiresAt: jc.ExpiresAt.UTC(),
	}
	if err := checkClaims(c); err != nil {
		return Claims{}, err
	}
	if jc.Subject != c.Namespace+"/"+c.Name {
		return Claims{}, errors.New("sub does not match ns and name")
	}
	return c, nil
}

// checkClaims checks the fields both Sign and Verify require. Its messages
// name the field, not its value.
func checkClaims(c Claims) error {
	switch {
	case c.Namespace == "" || len(c.Namespace) > maxNamespaceLength || strings.Contains(c.Namespace, "/"):
		return fmt.Errorf("namespace must be 1 to %d characters without '/'", maxNamespaceLength)
	case c.Name == "" || len(c.Name) > maxNameLength || strings.Contains(c.Name, "/"):
		return fmt.Errorf("name must be 1 to %d characters without '/'", maxNameLength)
	case c.UID == "" || len(c.UID) > maxUIDLength:
		return fmt.Errorf("uid must be 1 to %d characters", maxUIDLength)
	case c.Resend < 0:
		return errors.New("resend must not be negative")
	case c.ExpiresAt.IsZero():
		return errors.New("expiry must be set")
	}
	return nil
}
