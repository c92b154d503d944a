package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/partnerops/partnerops/internal/identity"
)

const testBase = "ou=people,dc=example,dc=com"

// hostile are emails (and group names) built to break out of a DN or a
// filter: RDN separators, multi-valued RDN '+', escapes, wildcards and
// parentheses, leading '#' and spaces, control characters, NUL, non-ASCII.
var hostile = []string{
	"plain@example.com",
	"first.last+tag@example.com",
	"a,ou=admins@example.com",
	"a+cn=root@example.com",
	`back\slash@example.com`,
	`\2c@example.com`,
	`"quoted"@example.com`,
	"<angle>;semi@example.com",
	"*@example.com",
	"*",
	"*)(uid=*",
	"x)(|(mail=*)",
	"a*b*c@example.com",
	"#hash@example.com",
	" leading@example.com",
	"trailing@example.com ",
	" ",
	"eq=uals@example.com",
	"tab\there@example.com",
	"new\nline@example.com",
	"nul\x00byte@example.com",
	"del\x7f@example.com",
	"zoë@exämple.com",
	"ユーザー@例え.jp",
}

func TestUserDNEscaping(t *testing.T) {
	base, err := goldap.ParseDN(testBase)
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range hostile {
		t.Run(fmt.Sprintf("%q", email), func(t *testing.T) {
			checkDN(t, userDN(email, testBase), "uid", email, base)
			checkDN(t, groupDN(email, testBase), "cn", email, base)
		})
	}
}

// checkDN parses dn and checks it is exactly one RDN attr=value above base.
func checkDN(t *testing.T, dn, attr, value string, base *goldap.DN) {
	t.Helper()
	for i := 0; i < len(dn); i++ {
		if c := dn[i]; c < 0x20 || c == 0x7f {
			t.Errorf("DN %q holds the raw control character %#x", dn, c)
		}
	}
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		t.Fatalf("DN %q does not parse: %v", dn, err)
	}
	if len(parsed.RDNs) != len(base.RDNs)+1 {
		t.Fatalf("DN %q has %d RDNs, want %d", dn, len(parsed.RDNs), len(base.RDNs)+1)
	}
	rdn := parsed.RDNs[0]
	if len(rdn.Attributes) != 1 || rdn.Attributes[0].Type != attr || rdn.Attributes[0].Value != value {
		t.Errorf("DN %q: first RDN = %+v, want %s=%q", dn, rdn.Attributes, attr, value)
	}
	rest := &goldap.DN{RDNs: parsed.RDNs[1:]}
	if !rest.Equal(base) {
		t.Errorf("DN %q is not directly under %s", dn, testBase)
	}
}

func TestMailFilterEscaping(t *testing.T) {
	for _, email := range hostile {
		t.Run(fmt.Sprintf("%q", email), func(t *testing.T) { checkFilter(t, email) })
	}
}

// checkFilter compiles the filter as go-ldap sends it and checks it is one
// equality match of mail with exactly email: no substring (wildcard), no
// extra clause.
func checkFilter(t *testing.T, email string) {
	t.Helper()
	f := mailFilter(email)
	p, err := goldap.CompileFilter(f)
	if err != nil {
		t.Fatalf("filter %q does not compile: %v", f, err)
	}
	if p.Tag != goldap.FilterEqualityMatch || len(p.Children) != 2 {
		t.Fatalf("filter %q is %s with %d children, want one equality match", f, goldap.FilterMap[uint64(p.Tag)], len(p.Children))
	}
	if attr := p.Children[0].Data.String(); attr != "mail" {
		t.Errorf("filter %q matches attribute %q", f, attr)
	}
	if v := p.Children[1].Data.String(); v != email {
		t.Errorf("filter %q matches %q, want %q", f, v, email)
	}
}

func FuzzEscaping(f *testing.F) {
	for _, h := range hostile {
		f.Add(h)
	}
	base, err := goldap.ParseDN(testBase)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || !utf8.ValidString(s) {
			t.Skip()
		}
		checkDN(t, userDN(s, testBase), "uid", s, base)
		checkFilter(t, s)
		// The group written for a name is read back as that name.
		if got, ok := groupName(groupDN(s, testBase), base); !ok || got != s {
			t.Errorf("groupName(groupDN(%q)) = %q, %v", s, got, ok)
		}
	})
}

// groupName reads a name only from cn=<name>,<base>: what Groups reports
// must be a group AddMember and RemoveMember write.
func TestGroupName(t *testing.T) {
	base, err := goldap.ParseDN(testBase)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range hostile {
		if got, ok := groupName(groupDN(name, testBase), base); !ok || got != name {
			t.Errorf("groupName(groupDN(%q)) = %q, %v", name, got, ok)
		}
	}
	for dn, want := range map[string]string{
		"cn=g," + testBase:                             "g",
		"CN=g,OU=People, DC=Example,DC=com":            "g",
		`cn=a\2c b,` + testBase:                        "a, b",
		`cn=a\, ou=x,` + testBase:                      "a, ou=x",
		"cn=g,ou=legacy," + testBase:                   "",
		"cn=g,ou=groups,dc=example,dc=com":             "",
		"cn=g,dc=example,dc=com":                       "",
		"ou=g," + testBase:                             "",
		"cn=g+ou=x," + testBase:                        "",
		"uid=g," + testBase:                            "",
		testBase:                                       "",
		"not a dn":                                     "",
		"cn=," + testBase:                              "",
		"cn=g,ou=people,dc=example,dc=com,dc=extra":    "",
		"cn=g,ou=people,dc=example,dc=com,o=elsewhere": "",
	} {
		got, ok := groupName(dn, base)
		if got != want || ok != (want != "") {
			t.Errorf("groupName(%q) = %q, %v; want %q", dn, got, ok, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		code uint16
		want error
	}{
		{goldap.ErrorNetwork, identity.ErrUnavailable},
		{goldap.LDAPResultBusy, identity.ErrUnavailable},
		{goldap.LDAPResultUnavailable, identity.ErrUnavailable},
		{goldap.LDAPResultTimeLimitExceeded, identity.ErrUnavailable},
		{goldap.LDAPResultOther, identity.ErrUnavailable},
		{goldap.LDAPResultInvalidCredentials, identity.ErrUnauthorized},
		{goldap.LDAPResultInsufficientAccessRights, identity.ErrUnauthorized},
		{goldap.LDAPResultStrongAuthRequired, identity.ErrUnauthorized},
		{goldap.ErrorEmptyPassword, identity.ErrUnauthorized},
		{goldap.LDAPResultUnwillingToPerform, identity.ErrRejected},
		{goldap.LDAPResultObjectClassViolation, identity.ErrRejected},
		{goldap.LDAPResultInvalidAttributeSyntax, identity.ErrRejected},
		{goldap.LDAPResultNamingViolation, identity.ErrRejected},
		{goldap.LDAPResultEntryAlreadyExists, identity.ErrConflict},
	} {
		err := mapError("modifying", "cn=g,ou=groups,dc=example,dc=com", goldap.NewError(tc.code, errors.New("server says why")))
		if !errors.Is(err, tc.want) {
			t.Errorf("code %d: %v, want %v", tc.code, err, tc.want)
		}
		var le *goldap.Error
		if !errors.As(err, &le) || le.ResultCode != tc.code {
			t.Errorf("code %d: the go-ldap error is not kept beneath: %v", tc.code, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "cn=g,ou=groups,dc=example,dc=com") || !strings.Contains(msg, "server says why") {
			t.Errorf("code %d: message %q lacks the DN or the server's words", tc.code, msg)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := Config{
		URL:         "ldap://127.0.0.1:3890",
		BindDN:      "cn=admin,dc=example,dc=com",
		Password:    func(context.Context) (string, error) { return "x", nil },
		UserBaseDN:  "ou=people,dc=example,dc=com",
		GroupBaseDN: "ou=groups,dc=example,dc=com",
	}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"bad scheme":                 func(c *Config) { c.URL = "http://127.0.0.1" },
		"no host":                    func(c *Config) { c.URL = "ldap://" },
		"a DN in the URL":            func(c *Config) { c.URL = "ldap://127.0.0.1/dc=example,dc=com" },
		"ldaps with StartTLS":        func(c *Config) { c.URL, c.StartTLS = "ldaps://127.0.0.1", true },
		"plaintext to a remote host": func(c *Config) { c.URL = "ldap://ldap.example.com" },
		"no bind DN":                 func(c *Config) { c.BindDN = "" },
		"no password":                func(c *Config) { c.Password = nil },
		"bad user base":              func(c *Config) { c.UserBaseDN = "not a dn" },
		"no group base":              func(c *Config) { c.GroupBaseDN = "" },
		"bad placeholder":            func(c *Config) { c.PlaceholderMember = "nope" },
	} {
		c := ok
		mutate(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
	for name, mutate := range map[string]func(*Config){
		"StartTLS to a remote host":    func(c *Config) { c.URL, c.StartTLS = "ldap://ldap.example.com", true },
		"ldaps to a remote host":       func(c *Config) { c.URL = "ldaps://ldap.example.com" },
		"plaintext explicitly allowed": func(c *Config) { c.URL, c.AllowPlaintext = "ldap://ldap.example.com:389", true },
	} {
		c := ok
		mutate(&c)
		if _, err := New(c); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestWithMail: a search's entries count only with a mail value that is the
// address without ASCII case; a directory that folds Unicode case returns
// look-alikes (the Kelvin sign for K, the long s for s), other mailboxes.
func TestWithMail(t *testing.T) {
	entry := func(dn string, mails ...string) *goldap.Entry {
		return goldap.NewEntry(dn, map[string][]string{"mail": mails})
	}
	got := withMail([]*goldap.Entry{
		entry("uid=kelvin", "\u212Aim.ross@example.test"),
		entry("uid=longs", "kim.ro\u017Fs@example.test"),
		entry("uid=kim", "other@example.test", "Kim.Ross@Example.TEST"),
		entry("uid=nomail"),
	}, "kim.ross@example.test")
	if len(got) != 1 || got[0].DN != "uid=kim" {
		var dns []string
		for _, e := range got {
			dns = append(dns, e.DN)
		}
		t.Errorf("withMail kept %v, want [uid=kim]", dns)
	}
}
