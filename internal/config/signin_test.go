package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/config"
)

// oidcDoc is validDoc with sign-in by an OpenID Provider, its optional
// keys left out.
func oidcDoc() doc {
	return validDoc().set("acceptance.signIn", map[string]any{
		"type": "oidc",
		"oidc": map[string]any{"issuerURL": "https://login.acme.example/realms/partners", "clientID": "partnerops"},
	})
}

func TestParseSignInDefaults(t *testing.T) {
	if s := mustParse(t, validDoc()).Acceptance.SignIn; s.Type != config.SignInNone || s.Enabled() {
		t.Errorf("signIn left out = %+v, want type none, not enabled", s)
	}
	s := mustParse(t, oidcDoc()).Acceptance.SignIn
	if !s.Enabled() || !slices.Equal(s.OIDC.Scopes, []string{"openid", "email"}) || s.OIDC.AddressClaim != "email" || s.OIDC.ClientSecret != nil {
		t.Errorf("oidc defaults = %+v, want scopes [openid email], addressClaim email, a public client", s.OIDC)
	}
}

func TestParseSignInRefusals(t *testing.T) {
	tests := map[string]struct {
		d    doc
		want string
	}{
		"unknown type":                {validDoc().set("acceptance.signIn.type", "saml"), `acceptance.signIn.type: Unsupported value: "saml"`},
		"oidc without its section":    {validDoc().set("acceptance.signIn.type", "oidc"), "acceptance.signIn.oidc: Required value"},
		"a section with type none":    {oidcDoc().set("acceptance.signIn.type", "none"), "acceptance.signIn.oidc: Forbidden: only used when type is oidc"},
		"no issuer":                   {oidcDoc().without("acceptance.signIn.oidc.issuerURL"), "acceptance.signIn.oidc.issuerURL: Required value"},
		"plain http issuer":           {oidcDoc().set("acceptance.signIn.oidc.issuerURL", "http://login.acme.example"), "must use https"},
		"no client":                   {oidcDoc().without("acceptance.signIn.oidc.clientID"), "acceptance.signIn.oidc.clientID: Required value"},
		"secret without a name":       {oidcDoc().set("acceptance.signIn.oidc.clientSecret", map[string]any{}), "acceptance.signIn.oidc.clientSecret.name: Required value"},
		"scopes without openid":       {oidcDoc().set("acceptance.signIn.oidc.scopes", []any{"email"}), "acceptance.signIn.oidc.scopes: Invalid value"},
		"a scope with a space":        {oidcDoc().set("acceptance.signIn.oidc.scopes", []any{"openid", "a b"}), "acceptance.signIn.oidc.scopes[1]: Invalid value"},
		"issuers without a domain":    {oidcDoc().set("acceptance.signIn.oidc.allowedIssuers", []any{map[string]any{"issuers": []any{"https://a.example"}}}), "allowedIssuers[0].domain: Required value"},
		"a domain with @":             {oidcDoc().set("acceptance.signIn.oidc.allowedIssuers", []any{map[string]any{"domain": "@a.example", "issuers": []any{"https://a.example"}}}), "allowedIssuers[0].domain: Invalid value"},
		"a domain without issuers":    {oidcDoc().set("acceptance.signIn.oidc.allowedIssuers", []any{map[string]any{"domain": "a.example"}}), "allowedIssuers[0].issuers: Required value"},
		"a domain twice":              {oidcDoc().set("acceptance.signIn.oidc.allowedIssuers", []any{map[string]any{"domain": "a.example", "issuers": []any{"https://a.example"}}, map[string]any{"domain": "A.example", "issuers": []any{"https://b.example"}}}), "allowedIssuers[1].domain: Duplicate value"},
		"an issuer that is not a URL": {oidcDoc().set("acceptance.signIn.oidc.allowedIssuers", []any{map[string]any{"domain": "a.example", "issuers": []any{"a.example"}}}), "allowedIssuers[0].issuers[0]: Invalid value"},
		"a misspelt key":              {oidcDoc().set("acceptance.signIn.oidc.issuerUrl", "https://x.example"), `unknown field "acceptance.signIn.oidc.issuerUrl"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse(tc.d.yaml(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestIssuersFor(t *testing.T) {
	o := mustParse(t, oidcDoc().set("acceptance.signIn.oidc.allowedIssuers", []any{
		map[string]any{"domain": "globex.example", "issuers": []any{"https://login.globex.example"}},
		map[string]any{"domain": "eu.globex.example", "issuers": []any{"https://eu.globex.example", "https://login.acme.example/realms/partners"}},
	})).Acceptance.SignIn.OIDC
	tests := map[string][]string{
		"jane@initech.example":      {"https://login.acme.example/realms/partners"},
		"jane@globex.example":       {"https://login.globex.example"},
		"Jane@Sales.Globex.Example": {"https://login.globex.example"},
		"jane@eu.globex.example":    {"https://eu.globex.example", "https://login.acme.example/realms/partners"},
		"jane@notglobex.example":    {"https://login.acme.example/realms/partners"},
	}
	for addr, want := range tests {
		if got := o.IssuersFor(addr); !slices.Equal(got, want) {
			t.Errorf("IssuersFor(%q) = %v, want %v", addr, got, want)
		}
	}
}
