// Package config loads and validates the manager's configuration file (the
// --config flag): the catalogue of roles and systems, the acceptance page's
// URLs, SMTP, the identity backend, rate limits and where secrets live.
// docs/configuration.md documents every field; keep the two in step.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// APIVersion and Kind identify the configuration file's format.
const (
	APIVersion = "config.partnerops.dev/v1alpha1"
	Kind       = "OperatorConfig"
)

// SMTP security modes.
const (
	SMTPSecuritySTARTTLS = "starttls"
	SMTPSecurityTLS      = "tls"
	SMTPSecurityNone     = "none"
)

// Identity backend types.
const (
	BackendSCIM = "scim"
	BackendLDAP = "ldap"
)

// Config is the whole configuration file.
type Config struct {
	// APIVersion must be config.partnerops.dev/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind must be OperatorConfig.
	Kind string `json:"kind"`
	// SecretNamespace is where every Secret named in this file lives.
	SecretNamespace string `json:"secretNamespace,omitempty"`
	// Catalogue lists the roles and systems invitations may name.
	Catalogue Catalogue `json:"catalogue"`
	// Acceptance configures the acceptance page.
	Acceptance Acceptance `json:"acceptance"`
	// SMTP configures the mail server invitations are sent through.
	SMTP SMTP `json:"smtp"`
	// IdentityBackend configures where grants land.
	IdentityBackend IdentityBackend `json:"identityBackend"`
	// RateLimits bounds emails and acceptance requests.
	RateLimits RateLimits `json:"rateLimits,omitempty"`
	// Tokens configures the keys that sign invitation links.
	Tokens Tokens `json:"tokens,omitempty"`
	// Templates overrides the built-in email and page templates.
	Templates *Templates `json:"templates,omitempty"`
}

// Catalogue is what roles and systems exist, with names for people.
type Catalogue struct {
	Roles   []CatalogueEntry `json:"roles"`
	Systems []CatalogueEntry `json:"systems"`
}

// CatalogueEntry is one role or system.
type CatalogueEntry struct {
	// Key is what PartnerInvitations name in spec.role / spec.systems.
	Key string `json:"key"`
	// DisplayName is the name shown to people, per locale.
	DisplayName LocalizedText `json:"displayName"`
}

// LocalizedText is a text per locale, keyed by the API's locale codes
// (v1alpha1.Locales: en, fr, es): English is required, a missing
// translation falls back to English. A new language needs no change here.
type LocalizedText map[string]string

// For returns the text in locale, falling back to English.
func (t LocalizedText) For(locale string) string {
	if s := t[locale]; s != "" {
		return s
	}
	return t[string(v1alpha1.LocaleEnglish)]
}

// Acceptance configures the acceptance page server.
type Acceptance struct {
	BindAddress   string    `json:"bindAddress,omitempty"`
	PublicURL     string    `json:"publicURL"`
	PartnerHubURL string    `json:"partnerHubURL"`
	TLS           *TLSFiles `json:"tls,omitempty"`
	// TrustedProxies are the CIDRs of the proxies (an Ingress controller)
	// whose X-Forwarded-For header the page believes when it rate limits
	// per client.
	TrustedProxies []string `json:"trustedProxies,omitempty"`
	// SignIn says whether the partner must sign in with an identity
	// provider before accepting (see signin.go).
	SignIn SignIn `json:"signIn,omitempty"`
}

// TrustedProxyPrefixes returns TrustedProxies parsed (they are valid once
// Validate passed).
func (a *Acceptance) TrustedProxyPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(a.TrustedProxies))
	for _, c := range a.TrustedProxies {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// TLSFiles names a PEM certificate and key on disk.
type TLSFiles struct {
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
}

// SMTP configures the mail server.
type SMTP struct {
	Host              string     `json:"host"`
	Port              int        `json:"port,omitempty"`
	Security          string     `json:"security,omitempty"`
	From              string     `json:"from"`
	CredentialsSecret *SecretRef `json:"credentialsSecret,omitempty"`
	Timeout           Duration   `json:"timeout,omitempty"`
	// MaxConnections bounds the connections open to the server at once
	// (in use or kept for the next message).
	MaxConnections int `json:"maxConnections,omitempty"`
}

// SecretRef names a Secret in SecretNamespace.
type SecretRef struct {
	Name string `json:"name"`
}

// IdentityBackend configures where grants land.
type IdentityBackend struct {
	Type           string      `json:"type"`
	GroupTemplate  string      `json:"groupTemplate,omitempty"`
	ResyncInterval Duration    `json:"resyncInterval,omitempty"`
	SCIM           *SCIMConfig `json:"scim,omitempty"`
	LDAP           *LDAPConfig `json:"ldap,omitempty"`
}

// SCIMConfig is a SCIM 2.0 service provider.
type SCIMConfig struct {
	BaseURL      string     `json:"baseURL"`
	TokenSecret  *SecretRef `json:"tokenSecret"`
	CreateGroups bool       `json:"createGroups,omitempty"`
	// CAFile is a PEM bundle of the CAs trusted for baseURL's certificate,
	// instead of the system's.
	CAFile string `json:"caFile,omitempty"`
	// KeepEmptyGroups keeps a group partnerops created when partnerops
	// removes its last member; by default such a group is deleted once the
	// service provider proves it empty.
	KeepEmptyGroups bool `json:"keepEmptyGroups,omitempty"`
	// SubjectAttribute and IssuerAttribute are the User attributes (a core
	// attribute, or <extension URN>:<name>) that record who a partner
	// signed in as (acceptance.signIn: oidc); empty: nowhere.
	SubjectAttribute string `json:"subjectAttribute,omitempty"`
	IssuerAttribute  string `json:"issuerAttribute,omitempty"`
}

// LDAPConfig is an LDAP directory.
type LDAPConfig struct {
	URL                string     `json:"url"`
	StartTLS           bool       `json:"startTLS,omitempty"`
	BindDN             string     `json:"bindDN"`
	BindPasswordSecret *SecretRef `json:"bindPasswordSecret"`
	UserBaseDN         string     `json:"userBaseDN"`
	// TrustMailAttribute makes a partner's user the entry under userBaseDN
	// (whole subtree) whose mail is the partner's address. Off (the
	// default), it is exactly uid=<email>,<userBaseDN>: where users may
	// write their own mail, a match on it would hand a partner's grants to
	// whoever wrote the partner's address there.
	TrustMailAttribute bool   `json:"trustMailAttribute,omitempty"`
	GroupBaseDN        string `json:"groupBaseDN"`
	CreateGroups       bool   `json:"createGroups,omitempty"`
	// CAFile is a PEM bundle of the CAs trusted for the directory's
	// certificate, instead of the system's.
	CAFile string `json:"caFile,omitempty"`
	// PlaceholderMember is a DN left in a group partnerops did not create
	// when it removes that group's last member (groupOfNames needs one).
	PlaceholderMember string `json:"placeholderMember,omitempty"`
	// SubjectAttribute and IssuerAttribute are the attributes of a user's
	// entry that record who a partner signed in as (acceptance.signIn:
	// oidc); empty: nowhere.
	SubjectAttribute string `json:"subjectAttribute,omitempty"`
	IssuerAttribute  string `json:"issuerAttribute,omitempty"`
}

// RateLimits bounds the manager's outgoing mail and incoming page requests.
type RateLimits struct {
	EmailsPerSecond           float64 `json:"emailsPerSecond,omitempty"`
	EmailsPerNamespacePerHour int     `json:"emailsPerNamespacePerHour,omitempty"`
	AcceptRequestsPerMinute   int     `json:"acceptRequestsPerMinute,omitempty"`
}

// Tokens configures the link-signing keys.
type Tokens struct {
	KeysSecret SecretRef `json:"keysSecret,omitempty"`
}

// Templates overrides built-in templates from a ConfigMap in SecretNamespace.
type Templates struct {
	ConfigMap string `json:"configMap"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration struct{ time.Duration }

// UnmarshalJSON reads a Go duration string; null leaves d unchanged. Errors
// are *json.UnmarshalTypeError so that the decoder adds the key's path.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[Duration]()}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s), Type: reflect.TypeFor[Duration]()}
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(d.String())), nil
}

// ErrInvalid wraps every error about the file's content.
var ErrInvalid = errors.New("invalid configuration")

// Load reads, decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("configuration file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes, defaults and validates a configuration document. Unknown
// and duplicate keys are errors that name the key with its full path, and so
// are values of the wrong type. The data must hold one YAML document.
func Parse(data []byte) (*Config, error) {
	if err := checkStructure(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	cfg := &Config{}
	strict, err := sigsjson.UnmarshalStrict(j, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, describeDecodeError(err))
	}
	if len(strict) > 0 {
		msgs := make([]string, 0, len(strict))
		for _, e := range strict {
			msgs = append(msgs, strings.TrimPrefix(e.Error(), "json: "))
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(msgs, "; "))
	}
	cfg.Default()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, errs.ToAggregate().Error())
	}
	return cfg, nil
}

// Role returns the catalogue entry for a role key.
func (c *Config) Role(key string) (CatalogueEntry, bool) { return find(c.Catalogue.Roles, key) }

// System returns the catalogue entry for a system key.
func (c *Config) System(key string) (CatalogueEntry, bool) { return find(c.Catalogue.Systems, key) }

func find(entries []CatalogueEntry, key string) (CatalogueEntry, bool) {
	for _, e := range entries {
		if e.Key == key {
			return e, true
		}
	}
	return CatalogueEntry{}, false
}
