package slapd

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

// tool runs an ldap-utils command bound as RootDN, with stdin, and returns
// its standard output; the error carries its standard error and exit code.
func (s *Server) tool(ctx context.Context, bin string, stdin []byte, args ...string) ([]byte, error) {
	full := append([]string{"-x", "-D", RootDN, "-y", s.pwFile}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = peer.Environ([]string{"LDAP"}, "LDAPNOINIT=1")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &ToolError{Tool: filepath.Base(bin), Code: cmd.ProcessState.ExitCode(), Stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return stdout.Bytes(), nil
}

// ToolError is a failed ldap-utils command. Code is its exit status, which
// is the LDAP result code of the failed operation (32 no such object, 65
// object class violation, ...).
type ToolError struct {
	Tool   string
	Code   int
	Stderr string
	err    error
}

func (e *ToolError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.Tool, e.err, e.Stderr)
}

// NoSuchObject is LDAP result 32, what ldapsearch exits with when its base
// DN does not exist.
const NoSuchObject = 32

// Add adds entries given as LDIF records (see Entry to build one) as
// RootDN, failing the test on any error.
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	if err := s.TryAdd(t.Context(), records...); err != nil {
		t.Fatalf("slapd: adding entries: %v\n%s", err, strings.Join(records, "\n"))
	}
}

// TryAdd adds entries given as LDIF records as RootDN.
func (s *Server) TryAdd(ctx context.Context, records ...string) error {
	_, err := s.tool(ctx, s.tools.add, []byte(strings.Join(records, "\n")), "-H", s.URL)
	return err
}

// Modify applies LDIF change records (changetype: modify, delete, ...) as
// RootDN, failing the test on any error.
func (s *Server) Modify(t testing.TB, ldif string) {
	t.Helper()
	if _, err := s.tool(t.Context(), s.tools.modify, []byte(ldif), "-H", s.URL); err != nil {
		t.Fatalf("slapd: modifying entries: %v\n%s", err, ldif)
	}
}

// AddUser adds uid=<uid>,ou=people,dc=example,dc=com, an inetOrgPerson with
// cn, sn and the given mail (none when mail is ""), plus any extra
// attribute/value pairs (e.g. "userPassword", "pw", "description", "x").
// It returns the user's DN. uid must need no DN escaping.
func (s *Server) AddUser(t testing.TB, uid, mail string, extra ...string) string {
	t.Helper()
	dn := "uid=" + uid + "," + PeopleDN
	kv := []string{"objectClass", "inetOrgPerson", "uid", uid, "cn", uid, "sn", uid}
	if mail != "" {
		kv = append(kv, "mail", mail)
	}
	s.Add(t, ldifEntry(dn, append(kv, extra...)...))
	return dn
}

// AddGroup adds cn=<cn>,ou=groups,dc=example,dc=com, a groupOfNames with
// the given member DNs (at least one: the schema requires it), and returns
// its DN. cn must need no DN escaping.
func (s *Server) AddGroup(t testing.TB, cn string, members ...string) string {
	t.Helper()
	dn := "cn=" + cn + "," + GroupsDN
	kv := []string{"objectClass", "groupOfNames", "cn", cn}
	for _, m := range members {
		kv = append(kv, "member", m)
	}
	s.Add(t, ldifEntry(dn, kv...))
	return dn
}

// Entry is an entry as ldapsearch printed it.
type Entry struct {
	DN string
	// Attrs maps lower-cased attribute names to their values.
	Attrs map[string][]string
}

// Get returns the values of attribute name (any case).
func (e Entry) Get(name string) []string { return e.Attrs[strings.ToLower(name)] }

// Has tells whether attribute name has value (compared exactly).
func (e Entry) Has(name, value string) bool {
	for _, v := range e.Get(name) {
		if v == value {
			return true
		}
	}
	return false
}

// Entry reads one entry's user attributes as RootDN; ok is false when it
// does not exist.
func (s *Server) Entry(t testing.TB, dn string) (e Entry, ok bool) {
	t.Helper()
	es, err := s.search(t.Context(), dn, "base", "(objectClass=*)")
	var te *ToolError
	if errors.As(err, &te) && te.Code == NoSuchObject {
		return Entry{}, false
	}
	if err != nil {
		t.Fatalf("slapd: reading %s: %v", dn, err)
	}
	if len(es) != 1 {
		t.Fatalf("slapd: reading %s: %d entries", dn, len(es))
	}
	return es[0], true
}

// Search returns the entries under base (whole subtree) that match filter,
// sorted by DN.
func (s *Server) Search(t testing.TB, base, filter string) []Entry {
	t.Helper()
	es, err := s.search(t.Context(), base, "sub", filter)
	if err != nil {
		t.Fatalf("slapd: searching %s for %s: %v", base, filter, err)
	}
	return es
}

func (s *Server) search(ctx context.Context, base, scope, filter string) ([]Entry, error) {
	out, err := s.tool(ctx, s.tools.search, nil, "-H", s.URL, "-LLL", "-o", "ldif-wrap=no", "-b", base, "-s", scope, filter, "*")
	if err != nil {
		return nil, err
	}
	es, err := parseLDIF(out)
	if err != nil {
		return nil, fmt.Errorf("ldapsearch output: %w", err)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].DN < es[j].DN })
	return es, nil
}

// parseLDIF reads ldapsearch -LLL -o ldif-wrap=no output: records separated
// by blank lines, "name: value" or "name:: base64" lines, no continuation.
func parseLDIF(out []byte) ([]Entry, error) {
	var es []Entry
	var cur *Entry
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			cur = nil
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("unexpected line %q", line)
		}
		if strings.HasPrefix(value, ":") {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value[1:]))
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			value = string(raw)
		} else {
			value = strings.TrimPrefix(value, " ")
		}
		if strings.EqualFold(name, "dn") {
			es = append(es, Entry{DN: value, Attrs: map[string][]string{}})
			cur = &es[len(es)-1]
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("attribute before dn: %q", line)
		}
		k := strings.ToLower(name)
		cur.Attrs[k] = append(cur.Attrs[k], value)
	}
	return es, nil
}

// ldifEntry builds an LDIF record: dn, then attribute/value pairs.
func ldifEntry(dn string, kv ...string) string {
	if len(kv)%2 != 0 {
		panic("slapd: odd attribute/value list")
	}
	var b strings.Builder
	b.WriteString(ldifLine("dn", dn))
	for i := 0; i < len(kv); i += 2 {
		b.WriteString(ldifLine(kv[i], kv[i+1]))
	}
	return b.String()
}

// LDIFEntry builds an LDIF record for Add: dn, then attribute/value pairs.
// Values are base64-encoded when LDIF requires it.
func LDIFEntry(dn string, kv ...string) string { return ldifEntry(dn, kv...) }

// ldifLine writes "name: value", or "name:: base64" when value is not an
// RFC 2849 SAFE-STRING.
func ldifLine(name, value string) string {
	if safe(value) {
		return name + ": " + value + "\n"
	}
	return name + ":: " + base64.StdEncoding.EncodeToString([]byte(value)) + "\n"
}

func safe(v string) bool {
	if v == "" {
		return true
	}
	if !utf8.ValidString(v) {
		return false
	}
	switch v[0] {
	case ' ', ':', '<':
		return false
	}
	if v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == 0 || c == '\n' || c == '\r' || c > 0x7f {
			return false
		}
	}
	return true
}
