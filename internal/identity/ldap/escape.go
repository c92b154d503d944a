package ldap

import (
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// userDN is the DN partnerops gives the user it creates for email:
// uid=<email>,<base>.
func userDN(email, base string) string { return "uid=" + escapeDNValue(email) + "," + base }

// groupDN is the DN of group: cn=<group>,<base>.
func groupDN(group, base string) string { return "cn=" + escapeDNValue(group) + "," + base }

// escapeDNValue escapes an attribute value for a DN string (RFC 4514
// section 2.4): go-ldap's EscapeDN (`"+,;<>\`, a leading '#' or space, a
// trailing space, NUL), plus every other ASCII control character as \hh,
// so that no value can add an RDN or end the DN.
func escapeDNValue(v string) string {
	e := goldap.EscapeDN(v)
	var b strings.Builder
	const hexDigits = "0123456789abcdef"
	for i := 0; i < len(e); i++ {
		c := e[i]
		if (c < 0x20 && c != 0) || c == 0x7f {
			b.WriteByte('\\')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// mailFilter matches the entries whose mail is email (RFC 4515 escaping:
// `*()\`, NUL and non-ASCII bytes as \hh).
func mailFilter(email string) string { return "(mail=" + goldap.EscapeFilter(email) + ")" }
