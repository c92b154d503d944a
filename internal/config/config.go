// Package config loads and validates the manager's configuration file (the
// --config flag): the catalogue of roles and systems, the acceptance page's
// URLs, SMTP, the identity backend, rate limits and where secrets live.
// docs/configuration.md documents every field; keep the two in step.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
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

// Defaults, spelled out in docs/configuration.md.
const (
	DefaultSecretNamespace           = "partnerops-system"
	DefaultAcceptanceBindAddress     = ":8082"
	DefaultTokenKeysSecret           = "partnerops-token-keys"
	DefaultEmailsPerSecond           = 5
	DefaultEmailsPerNamespacePerHour = 500
	DefaultAcceptRequestsPerMinute   = 30
	DefaultGroupTemplate             = "partnerops.{{ .Namespace }}.{{ .System }}.{{ .Role }}"
	DefaultResyncInterval            = 10 * time.Minute
	DefaultSMTPTimeout               = 30 * time.Second
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

// LocalizedText is a text in English (required) and optionally French and
// Spanish; a missing translation falls back to English.
type LocalizedText struct {
	EN string `json:"en"`
	FR string `json:"fr,omitempty"`
	ES string `json:"es,omitempty"`
}

// For returns the text in locale, falling back to English.
func (t LocalizedText) For(locale string) string {
	switch {
	case locale == "fr" && t.FR != "":
		return t.FR
	case locale == "es" && t.ES != "":
		return t.ES
	}
	return t.EN
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

// Default fills every optional field left empty with its documented default.
func (c *Config) Default() {
	if c.SecretNamespace == "" {
		c.SecretNamespace = DefaultSecretNamespace
	}
	if c.Acceptance.BindAddress == "" {
		c.Acceptance.BindAddress = DefaultAcceptanceBindAddress
	}
	if c.SMTP.Security == "" {
		c.SMTP.Security = SMTPSecuritySTARTTLS
	}
	if c.SMTP.Port == 0 {
		switch c.SMTP.Security {
		case SMTPSecurityTLS:
			c.SMTP.Port = 465
		case SMTPSecurityNone:
			c.SMTP.Port = 25
		default:
			c.SMTP.Port = 587
		}
	}
	if c.SMTP.Timeout.Duration == 0 {
		c.SMTP.Timeout.Duration = DefaultSMTPTimeout
	}
	if c.IdentityBackend.GroupTemplate == "" {
		c.IdentityBackend.GroupTemplate = DefaultGroupTemplate
	}
	if c.IdentityBackend.ResyncInterval.Duration == 0 {
		c.IdentityBackend.ResyncInterval.Duration = DefaultResyncInterval
	}
	if c.RateLimits.EmailsPerSecond == 0 {
		c.RateLimits.EmailsPerSecond = DefaultEmailsPerSecond
	}
	if c.RateLimits.EmailsPerNamespacePerHour == 0 {
		c.RateLimits.EmailsPerNamespacePerHour = DefaultEmailsPerNamespacePerHour
	}
	if c.RateLimits.AcceptRequestsPerMinute == 0 {
		c.RateLimits.AcceptRequestsPerMinute = DefaultAcceptRequestsPerMinute
	}
	if c.Tokens.KeysSecret.Name == "" {
		c.Tokens.KeysSecret.Name = DefaultTokenKeysSecret
	}
}

// catalogueKey is the same rule as the API's CatalogueKey type.
var catalogueKey = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$`)

// Validate checks a defaulted Config and returns every problem with its path.
func (c *Config) Validate() field.ErrorList {
	var errs field.ErrorList
	if c.APIVersion != APIVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), c.APIVersion, "must be "+APIVersion))
	}
	if c.Kind != Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), c.Kind, "must be "+Kind))
	}
	for _, msg := range validation.IsDNS1123Label(c.SecretNamespace) {
		errs = append(errs, field.Invalid(field.NewPath("secretNamespace"), c.SecretNamespace, msg))
	}
	errs = append(errs, validateCatalogue(field.NewPath("catalogue", "roles"), c.Catalogue.Roles)...)
	errs = append(errs, validateCatalogue(field.NewPath("catalogue", "systems"), c.Catalogue.Systems)...)
	errs = append(errs, c.Acceptance.validate(field.NewPath("acceptance"))...)
	errs = append(errs, c.SMTP.validate(field.NewPath("smtp"))...)
	errs = append(errs, c.IdentityBackend.validate(field.NewPath("identityBackend"))...)
	errs = append(errs, c.RateLimits.validate(field.NewPath("rateLimits"))...)
	errs = append(errs, validateSecretRef(field.NewPath("tokens", "keysSecret"), &c.Tokens.KeysSecret)...)
	if c.Templates != nil {
		p := field.NewPath("templates", "configMap")
		if c.Templates.ConfigMap == "" {
			errs = append(errs, field.Required(p, "name the ConfigMap that holds the templates, or leave templates out"))
		}
		for _, msg := range validation.IsDNS1123Subdomain(c.Templates.ConfigMap) {
			errs = append(errs, field.Invalid(p, c.Templates.ConfigMap, msg))
		}
	}
	return errs
}

func validateCatalogue(p *field.Path, entries []CatalogueEntry) field.ErrorList {
	var errs field.ErrorList
	if len(entries) == 0 {
		errs = append(errs, field.Required(p, "list at least one entry with a key and an English displayName"))
	}
	seen := sets.New[string]()
	for i, e := range entries {
		ip := p.Index(i)
		switch {
		case e.Key == "":
			errs = append(errs, field.Required(ip.Child("key"), ""))
		case len(e.Key) > 63 || !catalogueKey.MatchString(e.Key):
			errs = append(errs, field.Invalid(ip.Child("key"), e.Key, "must be 1 to 63 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit"))
		case seen.Has(e.Key):
			errs = append(errs, field.Duplicate(ip.Child("key"), e.Key))
		}
		seen.Insert(e.Key)
		dp := ip.Child("displayName")
		if strings.TrimSpace(e.DisplayName.EN) == "" {
			errs = append(errs, field.Required(dp.Child("en"), "every entry needs an English name for people"))
		}
		for _, t := range []struct{ lang, s string }{{"en", e.DisplayName.EN}, {"fr", e.DisplayName.FR}, {"es", e.DisplayName.ES}} {
			if len(t.s) > 128 {
				errs = append(errs, field.TooLong(dp.Child(t.lang), t.s, 128))
			}
			if strings.ContainsFunc(t.s, isControl) {
				errs = append(errs, field.Invalid(dp.Child(t.lang), t.s, "must not contain control characters"))
			}
		}
	}
	return errs
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (a *Acceptance) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateBindAddress(p.Child("bindAddress"), a.BindAddress)...)
	errs = append(errs, validateHTTPURL(p.Child("publicURL"), a.PublicURL)...)
	errs = append(errs, validateHTTPURL(p.Child("partnerHubURL"), a.PartnerHubURL)...)
	if a.TLS != nil {
		if a.TLS.CertFile == "" {
			errs = append(errs, field.Required(p.Child("tls", "certFile"), "a PEM certificate file is needed when tls is set"))
		}
		if a.TLS.KeyFile == "" {
			errs = append(errs, field.Required(p.Child("tls", "keyFile"), "a PEM key file is needed when tls is set"))
		}
	}
	if len(a.TrustedProxies) > 64 {
		errs = append(errs, field.TooMany(p.Child("trustedProxies"), len(a.TrustedProxies), 64))
	}
	for i, c := range a.TrustedProxies {
		if _, err := netip.ParsePrefix(c); err != nil {
			errs = append(errs, field.Invalid(p.Child("trustedProxies").Index(i), c,
				"must be a CIDR such as 10.0.0.0/8 or fd00::/8 (a single address is 10.1.2.3/32)"))
		}
	}
	return errs
}

func validateBindAddress(p *field.Path, addr string) field.ErrorList {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return field.ErrorList{field.Invalid(p, addr, "must be host:port or :port, such as \":8082\"")}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return field.ErrorList{field.Invalid(p, addr, "the port must be a number from 1 to 65535")}
	}
	return nil
}

// validateHTTPURL wants an absolute https URL; http is allowed only for
// loopback hosts (local development).
func validateHTTPURL(p *field.Path, raw string) field.ErrorList {
	if raw == "" {
		return field.ErrorList{field.Required(p, "an absolute https:// URL is needed")}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return field.ErrorList{field.Invalid(p, raw, "must be an absolute https:// URL")}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return field.ErrorList{field.Invalid(p, raw, "must use https (plain http is allowed only for localhost, for development)")}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return field.ErrorList{field.Invalid(p, raw, "must not carry credentials, a query or a fragment")}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *SMTP) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Host == "" {
		errs = append(errs, field.Required(p.Child("host"), "the mail server's host name"))
	} else if strings.ContainsAny(s.Host, " /:@") {
		errs = append(errs, field.Invalid(p.Child("host"), s.Host, "must be a host name or IP address, without scheme or port"))
	}
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, field.Invalid(p.Child("port"), s.Port, "must be from 1 to 65535"))
	}
	switch s.Security {
	case SMTPSecuritySTARTTLS, SMTPSecurityTLS:
	case SMTPSecurityNone:
		if !isLoopback(s.Host) && s.CredentialsSecret != nil {
			errs = append(errs, field.Invalid(p.Child("security"), s.Security, "credentials are never sent without TLS: use starttls or tls"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("security"), s.Security, []string{SMTPSecuritySTARTTLS, SMTPSecurityTLS, SMTPSecurityNone}))
	}
	if s.From == "" {
		errs = append(errs, field.Required(p.Child("from"), "the sender, such as \"Acme Partners <partners@acme.example>\""))
	} else if a, err := mail.ParseAddress(s.From); err != nil || strings.ContainsAny(s.From, "\r\n") {
		errs = append(errs, field.Invalid(p.Child("from"), s.From, "must be an address such as partners@acme.example or \"Acme Partners <partners@acme.example>\""))
	} else if a.Address == "" {
		errs = append(errs, field.Invalid(p.Child("from"), s.From, "has no address"))
	}
	if s.CredentialsSecret != nil {
		errs = append(errs, validateSecretRef(p.Child("credentialsSecret"), s.CredentialsSecret)...)
	}
	if s.Timeout.Duration < time.Second || s.Timeout.Duration > 5*time.Minute {
		errs = append(errs, field.Invalid(p.Child("timeout"), s.Timeout.String(), "must be from 1s to 5m"))
	}
	return errs
}

func validateSecretRef(p *field.Path, r *SecretRef) field.ErrorList {
	if r == nil || r.Name == "" {
		return field.ErrorList{field.Required(p.Child("name"), "the name of a Secret in secretNamespace")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(r.Name) {
		errs = append(errs, field.Invalid(p.Child("name"), r.Name, msg))
	}
	return errs
}

func (b *IdentityBackend) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch b.Type {
	case BackendSCIM:
		if b.SCIM == nil {
			errs = append(errs, field.Required(p.Child("scim"), "type scim needs a scim section"))
		} else {
			errs = append(errs, validateHTTPURL(p.Child("scim", "baseURL"), b.SCIM.BaseURL)...)
			errs = append(errs, validateSecretRef(p.Child("scim", "tokenSecret"), b.SCIM.TokenSecret)...)
			errs = append(errs, validateCAFile(p.Child("scim", "caFile"), b.SCIM.CAFile)...)
		}
	case BackendLDAP:
		if b.LDAP == nil {
			errs = append(errs, field.Required(p.Child("ldap"), "type ldap needs an ldap section"))
		} else {
			errs = append(errs, b.LDAP.validate(p.Child("ldap"))...)
		}
	case "":
		errs = append(errs, field.Required(p.Child("type"), "one of scim or ldap"))
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), b.Type, []string{BackendSCIM, BackendLDAP}))
	}
	if b.Type != BackendSCIM && b.SCIM != nil {
		errs = append(errs, field.Forbidden(p.Child("scim"), "only used when type is scim"))
	}
	if b.Type != BackendLDAP && b.LDAP != nil {
		errs = append(errs, field.Forbidden(p.Child("ldap"), "only used when type is ldap"))
	}
	if err := CheckGroupTemplate(b.GroupTemplate); err != nil {
		errs = append(errs, field.Invalid(p.Child("groupTemplate"), b.GroupTemplate, err.Error()))
	}
	if b.ResyncInterval.Duration < time.Minute || b.ResyncInterval.Duration > 24*time.Hour {
		errs = append(errs, field.Invalid(p.Child("resyncInterval"), b.ResyncInterval.String(), "must be from 1m to 24h"))
	}
	return errs
}

func (l *LDAPConfig) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	u, err := url.Parse(l.URL)
	switch {
	case l.URL == "":
		errs = append(errs, field.Required(p.Child("url"), "such as ldaps://ldap.example.com:636"))
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "":
		errs = append(errs, field.Invalid(p.Child("url"), l.URL, "must be ldap://host[:port] or ldaps://host[:port]"))
	case u.Scheme == "ldap" && !l.StartTLS && !isLoopback(u.Hostname()):
		errs = append(errs, field.Invalid(p.Child("url"), l.URL, "the bind password is never sent in clear: use ldaps:// or set startTLS"))
	case u.Scheme == "ldaps" && l.StartTLS:
		errs = append(errs, field.Invalid(p.Child("startTLS"), true, "startTLS is for ldap:// URLs; ldaps:// is already encrypted"))
	}
	for _, dn := range []struct{ name, v string }{{"bindDN", l.BindDN}, {"userBaseDN", l.UserBaseDN}, {"groupBaseDN", l.GroupBaseDN}} {
		if strings.TrimSpace(dn.v) == "" {
			errs = append(errs, field.Required(p.Child(dn.name), "a distinguished name such as ou=people,dc=example,dc=com"))
		} else if !strings.Contains(dn.v, "=") {
			errs = append(errs, field.Invalid(p.Child(dn.name), dn.v, "must be a distinguished name such as ou=people,dc=example,dc=com"))
		}
	}
	errs = append(errs, validateSecretRef(p.Child("bindPasswordSecret"), l.BindPasswordSecret)...)
	errs = append(errs, validateCAFile(p.Child("caFile"), l.CAFile)...)
	if l.PlaceholderMember != "" && !strings.Contains(l.PlaceholderMember, "=") {
		errs = append(errs, field.Invalid(p.Child("placeholderMember"), l.PlaceholderMember, "must be a distinguished name such as cn=nobody,dc=example,dc=com"))
	}
	return errs
}

// validateCAFile checks the form of a CA bundle path; the file itself is
// read when the manager starts.
func validateCAFile(p *field.Path, path string) field.ErrorList {
	if path == "" {
		return nil
	}
	if !filepath.IsAbs(path) {
		return field.ErrorList{field.Invalid(p, path, "must be an absolute path in the manager's container, such as /etc/partnerops/ca/ca.crt")}
	}
	return nil
}

func (r *RateLimits) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.EmailsPerSecond < 0.01 || r.EmailsPerSecond > 1000 {
		errs = append(errs, field.Invalid(p.Child("emailsPerSecond"), r.EmailsPerSecond, "must be from 0.01 to 1000"))
	}
	if r.EmailsPerNamespacePerHour < 1 || r.EmailsPerNamespacePerHour > 1_000_000 {
		errs = append(errs, field.Invalid(p.Child("emailsPerNamespacePerHour"), r.EmailsPerNamespacePerHour, "must be from 1 to 1000000"))
	}
	if r.AcceptRequestsPerMinute < 1 || r.AcceptRequestsPerMinute > 100_000 {
		errs = append(errs, field.Invalid(p.Child("acceptRequestsPerMinute"), r.AcceptRequestsPerMinute, "must be from 1 to 100000"))
	}
	return errs
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
