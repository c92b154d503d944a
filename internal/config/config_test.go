package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/partnerops/partnerops/internal/config"
)

// exampleFile is the commented example shipped with the manifests.
const exampleFile = "../../config/manager/config.yaml"

// referenceDoc is the reference documentation of the file.
const referenceDoc = "../../docs/configuration.md"

// doc is a configuration document as YAML decodes it. Tests start from
// validDoc and change one key, even to a wrong type or a misspelt name.
type doc map[string]any

// validDoc is the smallest valid document: only the required keys, so that
// every default applies.
func validDoc() doc {
	return doc{
		"apiVersion": config.APIVersion,
		"kind":       config.Kind,
		"catalogue": map[string]any{
			"roles":   []any{entry("admin", "Administrator"), entry("viewer", "Viewer")},
			"systems": []any{entry("insights", "Insights"), entry("admin-center", "Admin center")},
		},
		"acceptance": map[string]any{
			"publicURL":     "https://partners.acme.example",
			"partnerHubURL": "https://hub.acme.example",
		},
		"smtp": map[string]any{
			"host": "smtp.acme.example",
			"from": "Acme Partners <partners@acme.example>",
		},
		"identityBackend": map[string]any{
			"type": "scim",
			"scim": map[string]any{
				"baseURL":     "https://idp.acme.example/scim/v2",
				"tokenSecret": map[string]any{"name": "partnerops-scim-token"},
			},
		},
	}
}

// ldapDoc is validDoc with a valid LDAP backend instead of SCIM.
func ldapDoc() doc {
	return validDoc().without("identityBackend.scim").
		set("identityBackend.type", "ldap").
		set("identityBackend.ldap", map[string]any{
			"url":                "ldaps://ldap.acme.example:636",
			"bindDN":             "cn=partnerops,ou=services,dc=acme,dc=example",
			"bindPasswordSecret": map[string]any{"name": "partnerops-ldap-bind"},
			"userBaseDN":         "ou=people,dc=acme,dc=example",
			"groupBaseDN":        "ou=groups,dc=acme,dc=example",
		})
}

func entry(key, en string) map[string]any {
	return map[string]any{"key": key, "displayName": map[string]any{"en": en}}
}

// set replaces the value at path, written as in error messages
// ("catalogue.roles[1].key"); missing maps on the way are created.
func (d doc) set(path string, v any) doc {
	edit(map[string]any(d), parsePath(path), v, false)
	return d
}

// without removes the key or list element at path.
func (d doc) without(path string) doc {
	edit(map[string]any(d), parsePath(path), nil, true)
	return d
}

func (d doc) yaml(t testing.TB) []byte {
	t.Helper()
	b, err := yaml.Marshal(map[string]any(d))
	if err != nil {
		t.Fatalf("rendering the test document: %v", err)
	}
	return b
}

var pathStep = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

func parsePath(path string) []any {
	var steps []any
	for _, m := range pathStep.FindAllStringSubmatch(path, -1) {
		if m[1] != "" {
			steps = append(steps, m[1])
		} else {
			i, _ := strconv.Atoi(m[2])
			steps = append(steps, i)
		}
	}
	return steps
}

func edit(node any, steps []any, v any, remove bool) any {
	if len(steps) == 0 {
		return v
	}
	switch s := steps[0].(type) {
	case string:
		m, ok := node.(map[string]any)
		if !ok {
			m = map[string]any{}
		}
		if len(steps) == 1 && remove {
			delete(m, s)
		} else {
			m[s] = edit(m[s], steps[1:], v, remove)
		}
		return m
	default:
		i := s.(int)
		l := node.([]any)
		if len(steps) == 1 && remove {
			return slices.Delete(l, i, i+1)
		}
		l[i] = edit(l[i], steps[1:], v, remove)
		return l
	}
}

func mustParse(t *testing.T, d doc) *config.Config {
	t.Helper()
	cfg, err := config.Parse(d.yaml(t))
	if err != nil {
		t.Fatalf("Parse() of a valid document: %v\n%s", err, d.yaml(t))
	}
	return cfg
}

func TestParseAppliesDocumentedDefaults(t *testing.T) {
	cfg := mustParse(t, validDoc())
	tests := map[string]struct {
		got, want any
	}{
		"secretNamespace":                      {cfg.SecretNamespace, "partnerops-system"},
		"acceptance.bindAddress":               {cfg.Acceptance.BindAddress, ":8082"},
		"smtp.security":                        {cfg.SMTP.Security, "starttls"},
		"smtp.port":                            {cfg.SMTP.Port, 587},
		"smtp.timeout":                         {cfg.SMTP.Timeout.Duration, 30 * time.Second},
		"smtp.maxConnections":                  {cfg.SMTP.MaxConnections, 3},
		"identityBackend.groupTemplate":        {cfg.IdentityBackend.GroupTemplate, "partnerops.{{ .Namespace }}.{{ .System }}.{{ .Role }}"},
		"identityBackend.resyncInterval":       {cfg.IdentityBackend.ResyncInterval.Duration, 10 * time.Minute},
		"rateLimits.emailsPerSecond":           {cfg.RateLimits.EmailsPerSecond, 5.0},
		"rateLimits.emailsPerNamespacePerHour": {cfg.RateLimits.EmailsPerNamespacePerHour, 500},
		"rateLimits.acceptRequestsPerMinute":   {cfg.RateLimits.AcceptRequestsPerMinute, 30},
		"tokens.keysSecret.name":               {cfg.Tokens.KeysSecret.Name, "partnerops-token-keys"},
		"templates":                            {cfg.Templates == nil, true},
		"acceptance.tls":                       {cfg.Acceptance.TLS == nil, true},
		"smtp.credentialsSecret":               {cfg.SMTP.CredentialsSecret == nil, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("%s defaulted to %v, want %v", name, tc.got, tc.want)
			}
		})
	}
}

func TestParseDefaultsSMTPPortFromSecurity(t *testing.T) {
	tests := map[string]struct {
		doc  doc
		want int
	}{
		"starttls by default": {validDoc(), 587},
		"starttls":            {validDoc().set("smtp.security", "starttls"), 587},
		"tls":                 {validDoc().set("smtp.security", "tls"), 465},
		"none":                {validDoc().set("smtp.security", "none"), 25},
		"explicit port wins":  {validDoc().set("smtp.security", "tls").set("smtp.port", 2465), 2465},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := mustParse(t, tc.doc).SMTP.Port; got != tc.want {
				t.Errorf("smtp.port = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseKeepsValuesGiven(t *testing.T) {
	d := validDoc().
		set("secretNamespace", "identity").
		set("acceptance.bindAddress", "127.0.0.1:9443").
		set("smtp.timeout", "2m").
		set("smtp.maxConnections", 10).
		set("identityBackend.resyncInterval", "1h").
		set("identityBackend.groupTemplate", "pops.{{ .Namespace }}.{{ .Account }}.{{ .System }}.{{ .Role }}").
		set("rateLimits.emailsPerSecond", 0.5).
		set("rateLimits.emailsPerNamespacePerHour", 50).
		set("rateLimits.acceptRequestsPerMinute", 10).
		set("tokens.keysSecret.name", "link-keys").
		set("templates.configMap", "partnerops-templates")
	cfg := mustParse(t, d)
	got := []any{cfg.SecretNamespace, cfg.Acceptance.BindAddress, cfg.SMTP.Timeout.Duration, cfg.SMTP.MaxConnections,
		cfg.IdentityBackend.ResyncInterval.Duration, cfg.IdentityBackend.GroupTemplate,
		cfg.RateLimits.EmailsPerSecond, cfg.RateLimits.EmailsPerNamespacePerHour, cfg.RateLimits.AcceptRequestsPerMinute,
		cfg.Tokens.KeysSecret.Name, cfg.Templates.ConfigMap}
	want := []any{"identity", "127.0.0.1:9443", 2 * time.Minute, 10,
		time.Hour, "pops.{{ .Namespace }}.{{ .Account }}.{{ .System }}.{{ .Role }}",
		0.5, 50, 10,
		"link-keys", "partnerops-templates"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values given in the file were not kept:\n got %v\nwant %v", got, want)
	}
}

// identityBackend.scim.keepEmptyGroups: off unless set, and only a
// boolean.
func TestParseSCIMKeepEmptyGroups(t *testing.T) {
	checkBoolKey(t, validDoc(), "identityBackend.scim.keepEmptyGroups",
		func(c *config.Config) bool { return c.IdentityBackend.SCIM.KeepEmptyGroups }, "yes")
}

// checkBoolKey checks the boolean key path of d: false unless set, kept
// when set, and each of bad (not booleans) refused with an error naming
// path.
func checkBoolKey(t *testing.T, d doc, path string, get func(*config.Config) bool, bad ...any) {
	t.Helper()
	if get(mustParse(t, d)) {
		t.Errorf("%s defaulted to true, want false", path)
	}
	for _, v := range []bool{true, false} {
		if got := get(mustParse(t, d.set(path, v))); got != v {
			t.Errorf("%s: %v read as %v", path, v, got)
		}
	}
	for _, v := range bad {
		_, err := config.Parse(d.set(path, v).yaml(t))
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), path+": expected true or false") {
			t.Errorf("%s: %#v gave %v, want an error naming %s", path, v, err, path)
		}
	}
}

// TestParseAcceptsValidVariants guards against rules that refuse more than
// they should: each of these is a deployment someone will want.
func TestParseAcceptsValidVariants(t *testing.T) {
	tests := map[string]doc{
		"ldap backend over ldaps":                       ldapDoc(),
		"ldap:// with startTLS":                         ldapDoc().set("identityBackend.ldap.url", "ldap://ldap.acme.example").set("identityBackend.ldap.startTLS", true),
		"ldap:// in clear on localhost for development": ldapDoc().set("identityBackend.ldap.url", "ldap://127.0.0.1:389"),
		"scim with a private CA":                        validDoc().set("identityBackend.scim.caFile", "/etc/partnerops/ca/ca.crt"),
		"ldap with a CA and a placeholder member":       ldapDoc().set("identityBackend.ldap.caFile", "/etc/ca.pem").set("identityBackend.ldap.placeholderMember", "cn=nobody,dc=example,dc=com"),
		"scim recording the sign-in in the partnerops extension": validDoc().
			set("identityBackend.scim.subjectAttribute", "urn:ietf:params:scim:schemas:extension:partnerops:2.0:User:subject").
			set("identityBackend.scim.issuerAttribute", "urn:ietf:params:scim:schemas:extension:partnerops:2.0:User:issuer"),
		"scim recording the subject in a core attribute": validDoc().set("identityBackend.scim.subjectAttribute", "nickName"),
		"ldap recording the sign-in": ldapDoc().set("identityBackend.ldap.subjectAttribute", "employeeNumber").
			set("identityBackend.ldap.issuerAttribute", "labeledURI"),
		"http URLs on localhost for development": validDoc().
			set("acceptance.publicURL", "http://localhost:8082").
			set("acceptance.partnerHubURL", "http://[::1]:3000/hub"),
		"acceptance over TLS": validDoc().set("acceptance.tls", map[string]any{
			"certFile": "/etc/partnerops/tls/tls.crt", "keyFile": "/etc/partnerops/tls/tls.key"}),
		"implicit TLS with credentials":             validDoc().set("smtp.security", "tls").set("smtp.credentialsSecret.name", "smtp-login"),
		"plain SMTP to a relay, no login":           validDoc().set("smtp.security", "none"),
		"plain SMTP with login on localhost":        validDoc().set("smtp.security", "none").set("smtp.host", "localhost").set("smtp.credentialsSecret.name", "smtp-login"),
		"bare sender address":                       validDoc().set("smtp.from", "partners@acme.example"),
		"catalogue key with dashes and underscores": validDoc().set("catalogue.roles[0].key", "billing_read-only"),
		"translations":                              validDoc().set("catalogue.roles[0].displayName", map[string]any{"en": "Administrator", "fr": "Administrateur", "es": "Administrador"}),
		"null duration":                             validDoc().set("smtp.timeout", nil),
		"templates: null":                           validDoc().set("templates", nil),
		"trusted proxies":                           validDoc().set("acceptance.trustedProxies", []any{"10.0.0.0/8", "fd00::/8", "192.0.2.7/32"}),
		"group per account":                         validDoc().set("identityBackend.groupTemplate", "{{ .Namespace }}.{{ .Account }}.{{ .System }}.{{ .Role }}"),
	}
	for name, d := range tests {
		t.Run(name, func(t *testing.T) {
			mustParse(t, d)
		})
	}
}

func TestParseRejectsBadDocuments(t *testing.T) {
	insertAfter := func(anchor, line string) func(string) string {
		return func(s string) string { return strings.Replace(s, anchor, anchor+line, 1) }
	}
	tests := []struct {
		name string
		doc  doc
		// raw, when set, edits the rendered YAML (for what a map cannot hold).
		raw      func(string) string
		wantPath string
		wantMsg  string
	}{
		// Decoding.
		{name: "unknown nested key", doc: validDoc().set("smtp.hots", "smtp.acme.example"),
			wantPath: "smtp.hots", wantMsg: "unknown field"},
		{name: "unknown top-level key", doc: validDoc().set("smpt", map[string]any{"host": "x"}),
			wantPath: "smpt", wantMsg: "unknown field"},
		{name: "unknown key in a list element", doc: validDoc().set("catalogue.roles[1].displayname", "Viewer"),
			wantPath: "catalogue.roles[1].displayname", wantMsg: "unknown field"},
		{name: "unsupported locale", doc: validDoc().set("catalogue.systems[0].displayName.de", "Einblicke"),
			wantPath: "catalogue.systems[0].displayName.de", wantMsg: `Unsupported value: "de": supported values: "en", "fr", "es"`},
		{name: "duplicate nested key", doc: validDoc(), raw: insertAfter("smtp:\n", "  host: other.acme.example\n"),
			wantPath: "smtp.host", wantMsg: "key given twice"},
		{name: "duplicate top-level key", doc: validDoc(), raw: insertAfter("kind: OperatorConfig\n", "kind: OperatorConfig\n"),
			wantPath: "kind", wantMsg: "key given twice"},
		{name: "duplicate key in a list element", doc: validDoc(), raw: insertAfter("    key: viewer\n", "    key: admin\n"),
			wantPath: "catalogue.roles[1].key", wantMsg: "key given twice"},
		{name: "a second YAML document", doc: validDoc(), raw: func(s string) string { return s + "---\nsmtp:\n  port: 2525\n" },
			wantPath: "line", wantMsg: "a second YAML document starts here"},
		{name: "smtp.port of the wrong type", doc: validDoc().set("smtp.port", "submission"),
			wantPath: "smtp.port", wantMsg: "expected a whole number, found a string"},
		{name: "smtp.port not a whole number", doc: validDoc().set("smtp.port", 587.5),
			wantPath: "smtp.port", wantMsg: "expected a whole number, found 587.5"},
		{name: "duration that does not parse", doc: validDoc().set("smtp.timeout", "thirty seconds"),
			wantPath: "smtp.timeout", wantMsg: `expected a duration such as "30s" or "10m", found "thirty seconds"`},
		{name: "duration given as a number", doc: validDoc().set("identityBackend.resyncInterval", 600),
			wantPath: "identityBackend.resyncInterval", wantMsg: "expected a duration"},
		{name: "section of the wrong type", doc: validDoc().set("catalogue", []any{"admin"}),
			wantPath: "catalogue", wantMsg: "expected a map of keys, found a list"},

		// Identity of the file.
		{name: "wrong apiVersion", doc: validDoc().set("apiVersion", "v1"),
			wantPath: "apiVersion", wantMsg: "must be config.partnerops.dev/v1alpha1"},
		{name: "wrong kind", doc: validDoc().set("kind", "ConfigMap"),
			wantPath: "kind", wantMsg: "must be OperatorConfig"},
		{name: "secretNamespace not a namespace name", doc: validDoc().set("secretNamespace", "Partner Ops"),
			wantPath: "secretNamespace", wantMsg: "RFC 1123"},

		// Catalogue.
		{name: "no roles", doc: validDoc().set("catalogue.roles", []any{}),
			wantPath: "catalogue.roles", wantMsg: "list at least one entry"},
		{name: "no systems", doc: validDoc().without("catalogue.systems"),
			wantPath: "catalogue.systems", wantMsg: "list at least one entry"},
		{name: "duplicate catalogue key", doc: validDoc().set("catalogue.roles[1].key", "admin"),
			wantPath: "catalogue.roles[1].key", wantMsg: "Duplicate value"},
		{name: "catalogue key with spaces and capitals", doc: validDoc().set("catalogue.systems[0].key", "Admin Center"),
			wantPath: "catalogue.systems[0].key", wantMsg: "lowercase letters, digits"},
		{name: "catalogue key ending in a dash", doc: validDoc().set("catalogue.roles[0].key", "admin-"),
			wantPath: "catalogue.roles[0].key", wantMsg: "starting and ending with a letter or digit"},
		{name: "catalogue key longer than 63", doc: validDoc().set("catalogue.roles[0].key", strings.Repeat("a", 64)),
			wantPath: "catalogue.roles[0].key", wantMsg: "1 to 63"},
		{name: "missing catalogue key", doc: validDoc().without("catalogue.roles[0].key"),
			wantPath: "catalogue.roles[0].key", wantMsg: "Required value"},
		{name: "missing English displayName", doc: validDoc().set("catalogue.systems[1].displayName", map[string]any{"fr": "Centre d'administration"}),
			wantPath: "catalogue.systems[1].displayName.en", wantMsg: "English name"},
		{name: "blank English displayName", doc: validDoc().set("catalogue.roles[0].displayName.en", "   "),
			wantPath: "catalogue.roles[0].displayName.en", wantMsg: "English name"},
		{name: "displayName with a line break", doc: validDoc().set("catalogue.roles[1].displayName.fr", "Lecteur\nBcc: x"),
			wantPath: "catalogue.roles[1].displayName.fr", wantMsg: "control characters"},
		{name: "displayName too long", doc: validDoc().set("catalogue.roles[1].displayName.es", strings.Repeat("x", 129)),
			wantPath: "catalogue.roles[1].displayName.es", wantMsg: "128"},

		// Acceptance.
		{name: "missing publicURL", doc: validDoc().without("acceptance.publicURL"),
			wantPath: "acceptance.publicURL", wantMsg: "Required value"},
		{name: "http publicURL on a public host", doc: validDoc().set("acceptance.publicURL", "http://partners.acme.example"),
			wantPath: "acceptance.publicURL", wantMsg: "must use https"},
		{name: "relative publicURL", doc: validDoc().set("acceptance.publicURL", "/invitations"),
			wantPath: "acceptance.publicURL", wantMsg: "absolute https:// URL"},
		{name: "URL with a query", doc: validDoc().set("acceptance.partnerHubURL", "https://hub.acme.example/?utm_source=mail"),
			wantPath: "acceptance.partnerHubURL", wantMsg: "query"},
		{name: "URL with credentials", doc: validDoc().set("acceptance.partnerHubURL", "https://user:pw@hub.acme.example/"),
			wantPath: "acceptance.partnerHubURL", wantMsg: "credentials"},
		{name: "trusted proxy not a CIDR", doc: validDoc().set("acceptance.trustedProxies", []any{"10.0.0.0/8", "10.1.2.3"}),
			wantPath: "acceptance.trustedProxies[1]", wantMsg: "must be a CIDR"},
		{name: "bindAddress without a colon", doc: validDoc().set("acceptance.bindAddress", "8082"),
			wantPath: "acceptance.bindAddress", wantMsg: "host:port"},
		{name: "bindAddress port out of range", doc: validDoc().set("acceptance.bindAddress", ":99999"),
			wantPath: "acceptance.bindAddress", wantMsg: "from 1 to 65535"},
		{name: "tls without a key file", doc: validDoc().set("acceptance.tls.certFile", "/tls/tls.crt"),
			wantPath: "acceptance.tls.keyFile", wantMsg: "Required value"},

		// SMTP.
		{name: "missing smtp.host", doc: validDoc().without("smtp.host"),
			wantPath: "smtp.host", wantMsg: "Required value"},
		{name: "smtp.host with a scheme", doc: validDoc().set("smtp.host", "smtp://smtp.acme.example"),
			wantPath: "smtp.host", wantMsg: "without scheme or port"},
		{name: "smtp.port out of range", doc: validDoc().set("smtp.port", 70000),
			wantPath: "smtp.port", wantMsg: "from 1 to 65535"},
		{name: "unknown smtp.security", doc: validDoc().set("smtp.security", "ssl"),
			wantPath: "smtp.security", wantMsg: `Unsupported value: "ssl"`},
		{name: "credentials in clear to a remote host", doc: validDoc().set("smtp.security", "none").set("smtp.credentialsSecret.name", "smtp-login"),
			wantPath: "smtp.security", wantMsg: "credentials are never sent without TLS"},
		{name: "credentialsSecret without a name", doc: validDoc().set("smtp.credentialsSecret", map[string]any{}),
			wantPath: "smtp.credentialsSecret.name", wantMsg: "Required value"},
		{name: "from that is not an address", doc: validDoc().set("smtp.from", "Acme Partners"),
			wantPath: "smtp.from", wantMsg: "must be an address"},
		{name: "header injection in from", doc: validDoc().set("smtp.from", "partners@acme.example\r\nBcc: everyone@evil.example"),
			wantPath: "smtp.from", wantMsg: "must be an address"},
		{name: "header injection in from's display name", doc: validDoc().set("smtp.from", "\"Acme\r\nBcc: everyone@evil.example\" <partners@acme.example>"),
			wantPath: "smtp.from", wantMsg: "must be an address"},
		{name: "timeout too short", doc: validDoc().set("smtp.timeout", "500ms"),
			wantPath: "smtp.timeout", wantMsg: "from 1s to 5m"},
		{name: "timeout too long", doc: validDoc().set("smtp.timeout", "10m"),
			wantPath: "smtp.timeout", wantMsg: "from 1s to 5m"},
		{name: "negative timeout", doc: validDoc().set("smtp.timeout", "-30s"),
			wantPath: "smtp.timeout", wantMsg: "from 1s to 5m"},
		{name: "no connection at all", doc: validDoc().set("smtp.maxConnections", -1),
			wantPath: "smtp.maxConnections", wantMsg: "from 1 to 100"},
		{name: "too many connections", doc: validDoc().set("smtp.maxConnections", 101),
			wantPath: "smtp.maxConnections", wantMsg: "from 1 to 100"},

		// Identity backend.
		{name: "missing backend type", doc: validDoc().without("identityBackend.type"),
			wantPath: "identityBackend.type", wantMsg: "Required value"},
		{name: "unknown backend type", doc: validDoc().set("identityBackend.type", "okta"),
			wantPath: "identityBackend.type", wantMsg: `Unsupported value: "okta"`},
		{name: "scim without a scim section", doc: validDoc().without("identityBackend.scim"),
			wantPath: "identityBackend.scim", wantMsg: "type scim needs a scim section"},
		{name: "scim section with type ldap", doc: ldapDoc().set("identityBackend.scim.baseURL", "https://idp.acme.example/scim/v2"),
			wantPath: "identityBackend.scim", wantMsg: "only used when type is scim"},
		{name: "ldap section with type scim", doc: validDoc().set("identityBackend.ldap.url", "ldaps://ldap.acme.example"),
			wantPath: "identityBackend.ldap", wantMsg: "only used when type is ldap"},
		{name: "ldap without an ldap section", doc: ldapDoc().without("identityBackend.ldap"),
			wantPath: "identityBackend.ldap", wantMsg: "type ldap needs an ldap section"},
		{name: "scim baseURL in clear", doc: validDoc().set("identityBackend.scim.baseURL", "http://idp.acme.example/scim/v2"),
			wantPath: "identityBackend.scim.baseURL", wantMsg: "must use https"},
		{name: "scim without a token secret", doc: validDoc().without("identityBackend.scim.tokenSecret"),
			wantPath: "identityBackend.scim.tokenSecret.name", wantMsg: "Required value"},
		{name: "ldap url in clear to a remote host", doc: ldapDoc().set("identityBackend.ldap.url", "ldap://ldap.acme.example:389"),
			wantPath: "identityBackend.ldap.url", wantMsg: "never sent in clear"},
		{name: "ldap url with another scheme", doc: ldapDoc().set("identityBackend.ldap.url", "https://ldap.acme.example"),
			wantPath: "identityBackend.ldap.url", wantMsg: "ldaps://host"},
		{name: "ldaps with startTLS", doc: ldapDoc().set("identityBackend.ldap.startTLS", true),
			wantPath: "identityBackend.ldap.startTLS", wantMsg: "ldaps:// is already encrypted"},
		{name: "bindDN without '='", doc: ldapDoc().set("identityBackend.ldap.bindDN", "partnerops"),
			wantPath: "identityBackend.ldap.bindDN", wantMsg: "must be a distinguished name"},
		{name: "scim subject in partnerops's mark", doc: validDoc().set("identityBackend.scim.subjectAttribute", "externalId"),
			wantPath: "identityBackend.scim.subjectAttribute", wantMsg: "already uses that attribute"},
		{name: "scim subject in a sub-attribute", doc: validDoc().set("identityBackend.scim.subjectAttribute", "name.givenName"),
			wantPath: "identityBackend.scim.subjectAttribute", wantMsg: "sub-attributes"},
		{name: "scim issuer without subject", doc: validDoc().set("identityBackend.scim.issuerAttribute", "nickName"),
			wantPath: "identityBackend.scim.subjectAttribute", wantMsg: "set subjectAttribute too"},
		{name: "ldap subject in the mark's attribute", doc: ldapDoc().set("identityBackend.ldap.subjectAttribute", "description"),
			wantPath: "identityBackend.ldap.subjectAttribute", wantMsg: "already uses that attribute"},
		{name: "ldap issuer and subject in one attribute", doc: ldapDoc().set("identityBackend.ldap.subjectAttribute", "employeeNumber").
			set("identityBackend.ldap.issuerAttribute", "employeenumber"),
			wantPath: "identityBackend.ldap.issuerAttribute", wantMsg: "must differ"},
		{name: "missing groupBaseDN", doc: ldapDoc().without("identityBackend.ldap.groupBaseDN"),
			wantPath: "identityBackend.ldap.groupBaseDN", wantMsg: "Required value"},
		{name: "ldap without a bind password", doc: ldapDoc().without("identityBackend.ldap.bindPasswordSecret"),
			wantPath: "identityBackend.ldap.bindPasswordSecret.name", wantMsg: "Required value"},
		{name: "groupTemplate that does not parse", doc: validDoc().set("identityBackend.groupTemplate", "pops-{{ .System }-{{ .Role }}"),
			wantPath: "identityBackend.groupTemplate", wantMsg: "must be a Go template"},
		{name: "groupTemplate with an unknown field", doc: validDoc().set("identityBackend.groupTemplate", "{{ .Email }}-{{ .System }}-{{ .Role }}"),
			wantPath: "identityBackend.groupTemplate", wantMsg: "Email"},
		{name: "groupTemplate without .Namespace", doc: validDoc().set("identityBackend.groupTemplate", "pops.{{ .System }}.{{ .Role }}"),
			wantPath: "identityBackend.groupTemplate", wantMsg: "must use {{ .Namespace }}"},
		{name: "catalogue key with a dot", doc: validDoc().set("catalogue.systems[0].key", "admin.center"),
			wantPath: "catalogue.systems[0].key", wantMsg: "must be 1 to 63 lowercase letters, digits, '-' or '_'"},
		{name: "groupTemplate without .System", doc: validDoc().set("identityBackend.groupTemplate", "pops-{{ .Namespace }}-{{ .Role }}"),
			wantPath: "identityBackend.groupTemplate", wantMsg: "must use both {{ .System }} and {{ .Role }}"},
		{name: "groupTemplate without .Role", doc: validDoc().set("identityBackend.groupTemplate", "pops-{{ .Namespace }}-{{ .System }}"),
			wantPath: "identityBackend.groupTemplate", wantMsg: "must use both {{ .System }} and {{ .Role }}"},
		{name: "groupTemplate that renders nothing", doc: validDoc().set("identityBackend.groupTemplate", "{{ if false }}{{ .System }}{{ .Role }}{{ end }}"),
			wantPath: "identityBackend.groupTemplate", wantMsg: "empty name"},
		{name: "groupTemplate that fails for other grants", doc: validDoc().set("identityBackend.groupTemplate",
			`{{ if eq .System "sys-a" }}{{ .System }}-{{ .Role }}{{ else }}{{ .Missing }}{{ end }}`),
			wantPath: "identityBackend.groupTemplate", wantMsg: "Missing"},
		{name: "resyncInterval too short", doc: validDoc().set("identityBackend.resyncInterval", "30s"),
			wantPath: "identityBackend.resyncInterval", wantMsg: "from 1m to 24h"},

		// Rate limits, tokens, templates.
		{name: "emailsPerSecond too high", doc: validDoc().set("rateLimits.emailsPerSecond", 5000),
			wantPath: "rateLimits.emailsPerSecond", wantMsg: "from 0.01 to 1000"},
		{name: "negative emailsPerSecond", doc: validDoc().set("rateLimits.emailsPerSecond", -1),
			wantPath: "rateLimits.emailsPerSecond", wantMsg: "from 0.01 to 1000"},
		{name: "negative emailsPerNamespacePerHour", doc: validDoc().set("rateLimits.emailsPerNamespacePerHour", -5),
			wantPath: "rateLimits.emailsPerNamespacePerHour", wantMsg: "from 1 to 1000000"},
		{name: "acceptRequestsPerMinute too high", doc: validDoc().set("rateLimits.acceptRequestsPerMinute", 1_000_000),
			wantPath: "rateLimits.acceptRequestsPerMinute", wantMsg: "from 1 to 100000"},
		{name: "tokens secret not a Secret name", doc: validDoc().set("tokens.keysSecret.name", "Token Keys"),
			wantPath: "tokens.keysSecret.name", wantMsg: "RFC 1123"},
		{name: "templates with an empty configMap", doc: validDoc().set("templates.configMap", ""),
			wantPath: "templates.configMap", wantMsg: "name the ConfigMap"},
		{name: "templates section without configMap", doc: validDoc().set("templates", map[string]any{}),
			wantPath: "templates.configMap", wantMsg: "Required value"},
		{name: "templates configMap not a ConfigMap name", doc: validDoc().set("templates.configMap", "Mail_Templates"),
			wantPath: "templates.configMap", wantMsg: "RFC 1123"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		if seen[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			in := tc.doc.yaml(t)
			if tc.raw != nil {
				edited := tc.raw(string(in))
				if edited == string(in) {
					t.Fatalf("the raw edit changed nothing in:\n%s", in)
				}
				in = []byte(edited)
			}
			cfg, err := config.Parse(in)
			if err == nil {
				t.Fatalf("Parse() accepted a bad document (%s):\n%s\ngot %+v", tc.name, in, cfg)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error %q does not wrap config.ErrInvalid", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.wantPath) || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error does not name %q with %q:\n%s", tc.wantPath, tc.wantMsg, msg)
			}
		})
	}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	d := validDoc().
		set("kind", "Config").
		set("smtp.security", "ssl").
		set("rateLimits.acceptRequestsPerMinute", -1)
	_, err := config.Parse(d.yaml(t))
	if err == nil {
		t.Fatal("Parse() accepted a document with three bad keys")
	}
	for _, path := range []string{"kind", "smtp.security", "rateLimits.acceptRequestsPerMinute"} {
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error does not name %s:\n%s", path, err)
		}
	}
}

// TestParseErrorsAreStable makes sure the same file gives the same message on
// every start, so that it can be compared, grepped and quoted in a ticket.
func TestParseErrorsAreStable(t *testing.T) {
	in := ldapDoc().
		set("identityBackend.ldap.bindDN", "a").
		set("identityBackend.ldap.userBaseDN", "b").
		set("identityBackend.ldap.groupBaseDN", "c").
		set("catalogue.roles[0].displayName", map[string]any{"en": "x\x01", "fr": "y\x01", "es": "z\x01"}).
		yaml(t)
	_, first := config.Parse(in)
	if first == nil {
		t.Fatal("Parse() accepted bad DNs and display names")
	}
	for range 50 {
		if _, err := config.Parse(in); err.Error() != first.Error() {
			t.Fatalf("two parses of one file gave different errors:\n%s\n%s", first, err)
		}
	}
	// In the order of the reference: catalogue before identityBackend, and
	// within each in the order of the fields.
	msg, last := first.Error(), -1
	for _, p := range []string{"displayName.en", "displayName.fr", "displayName.es", "ldap.bindDN", "ldap.userBaseDN", "ldap.groupBaseDN"} {
		i := strings.Index(msg, p)
		if i <= last {
			t.Fatalf("%s is missing or out of order in:\n%s", p, msg)
		}
		last = i
	}
}

// identityBackend.ldap.trustMailAttribute: off unless set (a mail is no
// proof of who an entry is), kept when set, and only a boolean: a quoted
// "true" or "no" would otherwise read as a choice nobody made.
func TestParseLDAPTrustMailAttribute(t *testing.T) {
	checkBoolKey(t, ldapDoc(), "identityBackend.ldap.trustMailAttribute",
		func(c *config.Config) bool { return c.IdentityBackend.LDAP.TrustMailAttribute }, "true", "no", 1)
	_, err := config.Parse(validDoc().set("identityBackend.ldap.trustMailAttribute", true).yaml(t))
	if err == nil || !strings.Contains(err.Error(), "identityBackend.ldap") {
		t.Errorf("an ldap section with type scim was accepted: %v", err)
	}
}

func TestParseAcceptsDocumentMarkers(t *testing.T) {
	body := string(validDoc().yaml(t))
	tests := map[string]string{
		"leading ---":         "---\n" + body,
		"trailing ---":        body + "---\n",
		"trailing ...":        body + "...\n",
		"trailing comment":    body + "---\n# the end\n",
		"comments everywhere": "# partnerops\n" + strings.ReplaceAll(body, "smtp:\n", "# mail\nsmtp: # server\n"),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := config.Parse([]byte(in)); err != nil {
				t.Errorf("Parse() = %v, want the document accepted", err)
			}
		})
	}
}

func TestParseRejectsDocumentsThatAreNotAMap(t *testing.T) {
	tests := map[string]string{
		"empty":         "",
		"list":          "- apiVersion: " + config.APIVersion + "\n",
		"scalar":        "OperatorConfig\n",
		"syntax error":  "apiVersion: [\n",
		"tab indented":  "smtp:\n\thost: x\n",
		"only comments": "# nothing here\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := config.Parse([]byte(in)); !errors.Is(err, config.ErrInvalid) {
				t.Errorf("Parse(%q) = %v, want an error wrapping ErrInvalid", in, err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(dir, "absent.yaml")
		_, err := config.Load(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("Load() of a missing file = %v, want an error naming %s", err, p)
		}
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, config.ErrInvalid) {
			t.Errorf("Load() of a missing file = %v, want fs.ErrNotExist and not ErrInvalid", err)
		}
	})
	t.Run("invalid file", func(t *testing.T) {
		p := write("invalid.yaml", validDoc().set("smtp.security", "ssl").yaml(t))
		_, err := config.Load(p)
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "smtp.security") {
			t.Fatalf("Load() of an invalid file = %v, want ErrInvalid naming %s and smtp.security", err, p)
		}
	})
	t.Run("valid file", func(t *testing.T) {
		cfg, err := config.Load(write("valid.yaml", validDoc().yaml(t)))
		if err != nil {
			t.Fatalf("Load() of a valid file: %v", err)
		}
		if cfg.IdentityBackend.SCIM.TokenSecret.Name != "partnerops-scim-token" {
			t.Errorf("identityBackend.scim.tokenSecret.name = %q, want the file's value", cfg.IdentityBackend.SCIM.TokenSecret.Name)
		}
	})
}

// TestExampleConfigLoads keeps the shipped example deployable.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := config.Load(exampleFile)
	if err != nil {
		t.Fatalf("the example configuration does not load: %v", err)
	}
	if cfg.IdentityBackend.Type != config.BackendSCIM || cfg.SMTP.Security != config.SMTPSecuritySTARTTLS || cfg.SMTP.CredentialsSecret == nil {
		t.Errorf("the example should show a SCIM backend and STARTTLS with credentials, got backend %q, security %q, credentials %v",
			cfg.IdentityBackend.Type, cfg.SMTP.Security, cfg.SMTP.CredentialsSecret)
	}
	for _, c := range []struct {
		kind    string
		entries []config.CatalogueEntry
		want    []string
	}{
		{"role", cfg.Catalogue.Roles, []string{"admin", "editor", "viewer"}},
		{"system", cfg.Catalogue.Systems, []string{"admin-center", "editor", "insights"}},
	} {
		var keys []string
		for _, e := range c.entries {
			keys = append(keys, e.Key)
			if e.DisplayName["fr"] == "" || e.DisplayName["es"] == "" {
				t.Errorf("example %s %q lacks a French or Spanish name: %+v", c.kind, e.Key, e.DisplayName)
			}
		}
		slices.Sort(keys)
		if !slices.Equal(keys, c.want) {
			t.Errorf("example %ss = %v, want %v", c.kind, keys, c.want)
		}
	}
}

// TestReferenceDocumentsEveryKey keeps docs/configuration.md in step with
// the Config type: every YAML path must appear there, in backquotes.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	ref, err := os.ReadFile(referenceDoc)
	if err != nil {
		t.Fatalf("reading the reference: %v", err)
	}
	for _, p := range yamlPaths(reflect.TypeFor[config.Config](), "") {
		if !strings.Contains(string(ref), "`"+p+"`") {
			t.Errorf("%s does not document `%s`", referenceDoc, p)
		}
	}
}

// TestReferenceExamplesLoad parses every YAML example of the reference; the
// first, the complete example, must say what the shipped example file says.
func TestReferenceExamplesLoad(t *testing.T) {
	ref, err := os.ReadFile(referenceDoc)
	if err != nil {
		t.Fatalf("reading the reference: %v", err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(ref, -1)
	if len(blocks) < 2 {
		t.Fatalf("%s has %d YAML examples, want the complete one and the smallest one", referenceDoc, len(blocks))
	}
	shipped, err := config.Load(exampleFile)
	if err != nil {
		t.Fatalf("the example configuration does not load: %v", err)
	}
	for i, b := range blocks {
		cfg, err := config.Parse(b[1])
		if err != nil {
			t.Errorf("YAML example %d of %s does not load: %v", i+1, referenceDoc, err)
			continue
		}
		if i == 0 && !reflect.DeepEqual(cfg, shipped) {
			t.Errorf("the complete example of %s differs from %s:\n%+v\n%+v", referenceDoc, exampleFile, cfg, shipped)
		}
	}
}

// yamlPaths lists the YAML paths of t's fields; list elements are "[]".
func yamlPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := prefix + name
		paths = append(paths, p)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice {
			ft, p = ft.Elem(), p+"[]"
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[config.Duration]() {
			paths = append(paths, yamlPaths(ft, p+".")...)
		}
	}
	return paths
}

func TestLocalizedTextFor(t *testing.T) {
	full := config.LocalizedText{"en": "Viewer", "fr": "Lecteur", "es": "Lector"}
	englishOnly := config.LocalizedText{"en": "Viewer"}
	tests := map[string]struct {
		text   config.LocalizedText
		locale string
		want   string
	}{
		"english":                    {full, "en", "Viewer"},
		"french":                     {full, "fr", "Lecteur"},
		"spanish":                    {full, "es", "Lector"},
		"french missing falls back":  {englishOnly, "fr", "Viewer"},
		"spanish missing falls back": {englishOnly, "es", "Viewer"},
		"unsupported locale":         {full, "de", "Viewer"},
		"no locale":                  {full, "", "Viewer"},
		"locale is case-sensitive":   {full, "FR", "Viewer"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.text.For(tc.locale); got != tc.want {
				t.Errorf("For(%q) = %q, want %q", tc.locale, got, tc.want)
			}
		})
	}
}

func TestRenderGroup(t *testing.T) {
	grant := config.GrantFields{Namespace: "acme", Account: "globex", System: "insights", Role: "viewer"}
	tests := map[string]struct {
		tmpl    string
		want    string
		wantErr string
	}{
		"default template":           {tmpl: config.DefaultGroupTemplate, want: "partnerops.acme.insights.viewer"},
		"account and spaces trimmed": {tmpl: "  {{ .Account }}/{{ .System }}/{{ .Role }}\n", want: "globex/insights/viewer"},
		"does not parse":             {tmpl: "{{ .System", wantErr: "parsing group template"},
		"unknown field":              {tmpl: "{{ .Email }}", wantErr: "Email"},
		"empty result":               {tmpl: "{{ if false }}x{{ end }}  ", wantErr: "empty name"},
		"control characters":         {tmpl: "{{ .System }}\x00{{ .Role }}", wantErr: "control characters"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := config.RenderGroup(tc.tmpl, grant)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("RenderGroup(%q) = %q, %v; want an error containing %q", tc.tmpl, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("RenderGroup(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
			}
		})
	}
}

func TestCatalogueLookups(t *testing.T) {
	cfg := mustParse(t, validDoc().set("catalogue.systems[1].displayName.fr", "Centre d'administration"))
	tests := map[string]struct {
		lookup func(string) (config.CatalogueEntry, bool)
		key    string
		wantOK bool
		wantFR string
	}{
		"known role":              {cfg.Role, "viewer", true, "Viewer"},
		"known system":            {cfg.System, "admin-center", true, "Centre d'administration"},
		"unknown role":            {cfg.Role, "owner", false, ""},
		"a system is not a role":  {cfg.Role, "insights", false, ""},
		"a role is not a system":  {cfg.System, "admin", false, ""},
		"keys are case-sensitive": {cfg.System, "Insights", false, ""},
		"empty key":               {cfg.Role, "", false, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, ok := tc.lookup(tc.key)
			if ok != tc.wantOK {
				t.Fatalf("lookup(%q) found = %v, want %v", tc.key, ok, tc.wantOK)
			}
			if ok && (e.Key != tc.key || e.DisplayName.For("fr") != tc.wantFR) {
				t.Errorf("lookup(%q) = %+v, want key %q with French name %q", tc.key, e, tc.key, tc.wantFR)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(validDoc().yaml(f))
	f.Add(ldapDoc().set("identityBackend.ldap.url", "ldap://ldap.acme.example").set("identityBackend.ldap.startTLS", true).yaml(f))
	f.Add(validDoc().set("smtp.timeout", "90s").set("templates.configMap", "mail").set("rateLimits.emailsPerSecond", 0.25).yaml(f))
	if b, err := os.ReadFile(exampleFile); err == nil {
		f.Add(b)
	}
	f.Add(validDoc().set("smtp.port", "submission").yaml(f))
	f.Add(validDoc().set("identityBackend.groupTemplate", "{{ .System }}{{ .Role }").yaml(f))
	f.Add([]byte("smtp:\n  host: a\n  host: b\n"))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("- [\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data)
		if err != nil {
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse() error %q does not wrap ErrInvalid", err)
			}
			return
		}
		if errs := cfg.Validate(); len(errs) > 0 {
			t.Fatalf("Parse() accepted a config that Validate() refuses: %v", errs)
		}
		if len(cfg.Catalogue.Roles) == 0 || len(cfg.Catalogue.Systems) == 0 {
			t.Fatalf("Parse() accepted an empty catalogue: %+v", cfg.Catalogue)
		}
		// What was accepted can be written back and read again unchanged.
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("writing an accepted config: %v", err)
		}
		again, err := config.Parse(out)
		if err != nil {
			t.Fatalf("an accepted config, written back, no longer parses: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("an accepted config changed when written back:\n%+v\n%+v", cfg, again)
		}
	})
}
