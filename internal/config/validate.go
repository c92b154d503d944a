package config

import (
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity/ldap"
	"github.com/partnerops/partnerops/internal/identity/scim"
)

// This file holds the validation of a defaulted Config: Validate and one
// validator per section (catalogue, acceptance, smtp, identityBackend and
// its ldap section, rateLimits), with the checks they share (URLs, bind
// addresses, Secret references, CA file paths).

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
		errs = append(errs, validateLocalizedText(ip.Child("displayName"), e.DisplayName)...)
	}
	return errs
}

// validateLocalizedText wants an English text, and texts only in the API's
// locales, each at most 128 characters without control characters.
func validateLocalizedText(p *field.Path, t LocalizedText) field.ErrorList {
	var errs field.ErrorList
	if strings.TrimSpace(t[string(v1alpha1.LocaleEnglish)]) == "" {
		errs = append(errs, field.Required(p.Child(string(v1alpha1.LocaleEnglish)), "every entry needs an English name for people"))
	}
	known := make([]string, len(v1alpha1.Locales))
	for i, l := range v1alpha1.Locales {
		known[i] = string(l)
	}
	// The API's order first (en, fr, es), then any other key, sorted: errors
	// come out in a stable order.
	langs := slices.DeleteFunc(slices.Clone(known), func(l string) bool { _, ok := t[l]; return !ok })
	langs = append(langs, sets.List(sets.KeySet(t).Delete(known...))...)
	for _, lang := range langs {
		s := t[lang]
		switch {
		case !slices.Contains(known, lang):
			errs = append(errs, field.NotSupported(p.Child(lang), lang, known))
		case len(s) > 128:
			errs = append(errs, field.TooLong(p.Child(lang), s, 128))
		case strings.ContainsFunc(s, isControl):
			errs = append(errs, field.Invalid(p.Child(lang), s, "must not contain control characters"))
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
	errs = append(errs, a.SignIn.validate(p.Child("signIn"))...)
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
	if s.MaxConnections < 1 || s.MaxConnections > 100 {
		errs = append(errs, field.Invalid(p.Child("maxConnections"), s.MaxConnections, "must be from 1 to 100"))
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
			errs = append(errs, validateSignInAttributes(p.Child("scim"), b.SCIM.SubjectAttribute, b.SCIM.IssuerAttribute, func(s string) error {
				_, err := scim.ParseAttributePath(s)
				return err
			})...)
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
	errs = append(errs, validateSignInAttributes(p, l.SubjectAttribute, l.IssuerAttribute, ldap.CheckAttribute)...)
	return errs
}

// validateSignInAttributes checks a backend's subjectAttribute and
// issuerAttribute with the driver's own check: the issuer goes only with a
// subject, to another attribute.
func validateSignInAttributes(p *field.Path, subject, issuer string, check func(string) error) field.ErrorList {
	var errs field.ErrorList
	for _, a := range []struct{ key, v string }{{"subjectAttribute", subject}, {"issuerAttribute", issuer}} {
		if a.v == "" {
			continue
		}
		if err := check(a.v); err != nil {
			errs = append(errs, field.Invalid(p.Child(a.key), a.v, err.Error()))
		}
	}
	switch {
	case issuer != "" && subject == "":
		errs = append(errs, field.Required(p.Child("subjectAttribute"), "issuerAttribute is only written with the subject: set subjectAttribute too"))
	case issuer != "" && strings.EqualFold(issuer, subject):
		errs = append(errs, field.Invalid(p.Child("issuerAttribute"), issuer, "must differ from subjectAttribute"))
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
