package config

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds acceptance.signIn: whether the partner proves the
// invited address by signing in with an OpenID Provider before accepting,
// its defaults and its validation. docs/configuration.md#acceptancesignin
// documents every key.

// Sign-in types.
const (
	SignInNone = "none"
	SignInOIDC = "oidc"
)

// Defaults of acceptance.signIn.oidc.
const (
	DefaultAddressClaim = "email"
	// ClaimEmailVerified is the claim that must be true when the address
	// claim is DefaultAddressClaim.
	ClaimEmailVerified = "email_verified"
)

// DefaultSignInScopes are the scopes asked for when scopes is left out.
var DefaultSignInScopes = []string{"openid", "email"}

// SignIn configures the sign-in before acceptance.
type SignIn struct {
	// Type is none (anyone holding the link accepts) or oidc.
	Type string `json:"type,omitempty"`
	// OIDC is the OpenID Provider; required when Type is oidc.
	OIDC *OIDCSignIn `json:"oidc,omitempty"`
}

// Enabled reports whether the partner must sign in before accepting.
func (s *SignIn) Enabled() bool { return s.Type == SignInOIDC && s.OIDC != nil }

// OIDCSignIn is an OpenID Provider and the relying party partnerops is to
// it (Authorization Code flow with PKCE).
type OIDCSignIn struct {
	// IssuerURL is the provider's issuer: its discovery document is at
	// IssuerURL/.well-known/openid-configuration and says the same issuer.
	IssuerURL string `json:"issuerURL"`
	// ClientID is partnerops's client at the provider.
	ClientID string `json:"clientID"`
	// ClientSecret names the Secret holding the client secret under the
	// key clientSecret; left out, partnerops is a public client (PKCE
	// only).
	ClientSecret *SecretRef `json:"clientSecret,omitempty"`
	// Scopes are asked for; openid is required.
	Scopes []string `json:"scopes,omitempty"`
	// AddressClaim is the ID token claim that holds the partner's address.
	AddressClaim string `json:"addressClaim,omitempty"`
	// AllowedIssuers restricts, per address domain, which issuers may
	// vouch for an address.
	AllowedIssuers []AllowedIssuers `json:"allowedIssuers,omitempty"`
}

// AllowedIssuers are the issuers that may vouch for the addresses of one
// domain and its subdomains.
type AllowedIssuers struct {
	Domain  string   `json:"domain"`
	Issuers []string `json:"issuers"`
}

// IssuersFor returns the issuers that may vouch for address: those of the
// most specific allowedIssuers domain covering it, else the provider's
// own issuer alone.
func (o *OIDCSignIn) IssuersFor(address string) []string {
	a := strings.ToLower(strings.TrimSpace(address))
	domain := a[strings.LastIndexByte(a, '@')+1:]
	best := -1
	var out []string
	for _, a := range o.AllowedIssuers {
		d := strings.ToLower(a.Domain)
		if (domain == d || strings.HasSuffix(domain, "."+d)) && len(d) > best {
			best, out = len(d), a.Issuers
		}
	}
	if best < 0 {
		return []string{o.IssuerURL}
	}
	return out
}

func (s *SignIn) defaults() {
	if s.Type == "" {
		s.Type = SignInNone
	}
	if s.OIDC == nil {
		return
	}
	if len(s.OIDC.Scopes) == 0 {
		s.OIDC.Scopes = slices.Clone(DefaultSignInScopes)
	}
	if s.OIDC.AddressClaim == "" {
		s.OIDC.AddressClaim = DefaultAddressClaim
	}
}

func (s *SignIn) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case SignInNone:
		if s.OIDC != nil {
			errs = append(errs, field.Forbidden(p.Child("oidc"), "only used when type is oidc"))
		}
	case SignInOIDC:
		if s.OIDC == nil {
			errs = append(errs, field.Required(p.Child("oidc"), "type oidc needs an oidc section"))
		} else {
			errs = append(errs, s.OIDC.validate(p.Child("oidc"))...)
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), s.Type, []string{SignInNone, SignInOIDC}))
	}
	return errs
}

func (o *OIDCSignIn) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateHTTPURL(p.Child("issuerURL"), o.IssuerURL)...)
	switch {
	case o.ClientID == "":
		errs = append(errs, field.Required(p.Child("clientID"), "the client ID partnerops is registered under at the provider"))
	case len(o.ClientID) > 255 || strings.ContainsFunc(o.ClientID, isControl):
		errs = append(errs, field.Invalid(p.Child("clientID"), o.ClientID, "must be at most 255 characters without control characters"))
	}
	if o.ClientSecret != nil {
		errs = append(errs, validateSecretRef(p.Child("clientSecret"), o.ClientSecret)...)
	}
	if !slices.Contains(o.Scopes, "openid") {
		errs = append(errs, field.Invalid(p.Child("scopes"), o.Scopes, "must include openid"))
	}
	if len(o.Scopes) > 20 {
		errs = append(errs, field.TooMany(p.Child("scopes"), len(o.Scopes), 20))
	}
	for i, sc := range o.Scopes {
		if sc == "" || len(sc) > 128 || strings.ContainsAny(sc, " \"\\") || strings.ContainsFunc(sc, isControl) {
			errs = append(errs, field.Invalid(p.Child("scopes").Index(i), sc, "must be 1 to 128 characters without spaces, quotes, backslashes or control characters"))
		}
	}
	if len(o.AddressClaim) > 128 || strings.ContainsFunc(o.AddressClaim, isControl) {
		errs = append(errs, field.Invalid(p.Child("addressClaim"), o.AddressClaim, "must be a claim name of at most 128 characters"))
	}
	if len(o.AllowedIssuers) > 100 {
		errs = append(errs, field.TooMany(p.Child("allowedIssuers"), len(o.AllowedIssuers), 100))
	}
	domains := sets.New[string]()
	for i, a := range o.AllowedIssuers {
		ip := p.Child("allowedIssuers").Index(i)
		d := strings.ToLower(a.Domain)
		switch {
		case a.Domain == "":
			errs = append(errs, field.Required(ip.Child("domain"), "an address domain such as partner.example"))
		case len(validation.IsDNS1123Subdomain(d)) > 0 || !strings.Contains(d, "."):
			errs = append(errs, field.Invalid(ip.Child("domain"), a.Domain, "must be a domain name such as partner.example, without @"))
		case domains.Has(d):
			errs = append(errs, field.Duplicate(ip.Child("domain"), a.Domain))
		}
		domains.Insert(d)
		if len(a.Issuers) == 0 {
			errs = append(errs, field.Required(ip.Child("issuers"), "at least one issuer URL"))
		}
		for j, iss := range a.Issuers {
			errs = append(errs, validateHTTPURL(ip.Child("issuers").Index(j), iss)...)
		}
	}
	return errs
}
