// Package slapd runs a real LDAP server, Debian's OpenLDAP slapd, for tests,
// and seeds and reads its entries with the OpenLDAP command-line tools
// (ldapadd, ldapmodify, ldapsearch from ldap-utils), so that what a test
// asserts does not go through the LDAP client library under test.
//
// The binaries come from Debian's slapd and ldap-utils packages, which
// hack/install-peers.sh installs (`make test` runs it and passes slapd's path
// in $SLAPD). Each Start writes a throwaway cn=config into the test's
// temporary directory (slapadd -n0 from an LDIF) and runs its own slapd on
// free 127.0.0.1 ports: nothing of the system's /etc/ldap is used but the
// schema files, and no system daemon is needed.
//
// The directory: the core, cosine and inetorgperson schemas; one mdb
// database for Suffix (dc=example,dc=com) whose root DN is RootDN with a
// random password (Server.RootPassword); the entries Suffix, PeopleDN and
// GroupsDN. Authenticated users may read everything, write nothing (only
// the root DN writes); anonymous users may only bind. The server listens on
// ldap:// (StartTLS offered) and ldaps://, with a certificate for 127.0.0.1
// and localhost issued by a CA the harness makes (Server.CAPool).
package slapd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// EnvVar names the variable that holds slapd's path.
const EnvVar = "SLAPD"

// DefaultPath is where Debian's slapd package puts slapd (and slapadd).
const DefaultPath = "/usr/sbin/slapd"

// The directory tree every Server starts with.
const (
	Suffix   = "dc=example,dc=com"
	RootDN   = "cn=admin," + Suffix
	PeopleDN = "ou=people," + Suffix
	GroupsDN = "ou=groups," + Suffix
)

// schemas are loaded in this order from SchemaDir.
var schemas = []string{"core", "cosine", "inetorgperson"}

// SchemaDir holds Debian's schema LDIFs.
const SchemaDir = "/etc/ldap/schema"

// Server is a running slapd.
type Server struct {
	// URL is its plain listener, ldap://127.0.0.1:<port> (StartTLS offered);
	// LDAPSURL its TLS listener, ldaps://127.0.0.1:<port>.
	URL      string
	LDAPSURL string
	// RootPassword is RootDN's password (random per server).
	RootPassword string
	// CAPool trusts the CA that issued the server's certificate (for
	// 127.0.0.1 and localhost); CAFile is that CA in PEM.
	CAPool *x509.CertPool
	CAFile string

	t       testing.TB
	bin     string
	dir     string
	args    []string
	pwFile  string
	tools   tools
	mu      sync.Mutex
	proc    *process
	stopped bool
}

// tools are the ldap-utils commands.
type tools struct{ search, add, modify, whoami string }

// Start runs a slapd for the test on free loopback ports, waits until it
// answers a bind as RootDN, creates the base entries, and stops it in
// t.Cleanup. Its log is printed when the test fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	tl, err := findTools()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range schemas {
		if _, err := os.Stat(filepath.Join(SchemaDir, s+".ldif")); err != nil {
			t.Fatalf("slapd: schema %s missing (%v): install Debian's slapd package with hack/install-peers.sh", s, err)
		}
	}
	dir := t.TempDir() // before the stop cleanup is registered, so removed after it
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		t.Fatal(err)
	}
	s := &Server{
		RootPassword: hex.EncodeToString(pw),
		t:            t,
		bin:          bin,
		dir:          dir,
		pwFile:       filepath.Join(dir, "rootpw"),
		tools:        tl,
	}
	// ldap-utils read the password from a file (-y) so that it is not on a
	// command line; the whole file is the password, so no newline.
	if err := os.WriteFile(s.pwFile, []byte(s.RootPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.writeTLS(); err != nil {
		t.Fatalf("slapd: TLS material: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("slapd log:\n%s", s.Log())
		}
	})
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		if lastErr = s.configure(attempt); lastErr != nil {
			break
		}
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("slapd did not start: %v", lastErr)
	}
	s.Add(t, ldifEntry(Suffix, "objectClass", "dcObject", "objectClass", "organization", "dc", "example", "o", "Example"),
		ldifEntry(PeopleDN, "objectClass", "organizationalUnit", "ou", "people"),
		ldifEntry(GroupsDN, "objectClass", "organizationalUnit", "ou", "groups"))
	return s
}

// Binary returns slapd's path: $SLAPD when set (make test sets it), else
// /usr/sbin/slapd; an error telling how to install it when it is missing.
func Binary() (string, error) {
	p := os.Getenv(EnvVar)
	if p == "" {
		p = DefaultPath
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no slapd at %s (%v): run hack/install-peers.sh (or `make test`), which installs Debian's slapd and ldap-utils, or set $%s", p, err, EnvVar)
	}
	return p, nil
}

func findTools() (tools, error) {
	var tl tools
	for _, x := range []struct {
		name string
		dst  *string
	}{{"ldapsearch", &tl.search}, {"ldapadd", &tl.add}, {"ldapmodify", &tl.modify}, {"ldapwhoami", &tl.whoami}} {
		p, err := exec.LookPath(x.name)
		if err != nil {
			p = filepath.Join("/usr/bin", x.name)
			if _, err2 := os.Stat(p); err2 != nil {
				return tl, fmt.Errorf("no %s (ldap-utils): run hack/install-peers.sh (or `make test`): %v", x.name, err)
			}
		}
		*x.dst = p
	}
	return tl, nil
}

// configure writes a fresh cn=config (slapd.d) and an empty database for
// two new free ports.
func (s *Server) configure(attempt int) error {
	ldapPort, err := peer.FreePort()
	if err != nil {
		return err
	}
	ldapsPort, err := peer.FreePort()
	if err != nil {
		return err
	}
	s.URL = "ldap://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ldapPort))
	s.LDAPSURL = "ldaps://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ldapsPort))

	run := filepath.Join(s.dir, fmt.Sprintf("run-%d", attempt))
	confDir := filepath.Join(run, "slapd.d")
	dataDir := filepath.Join(run, "data")
	for _, d := range []string{confDir, dataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n")
	fmt.Fprintf(&b, "olcPidFile: %s\nolcArgsFile: %s\n", filepath.Join(run, "slapd.pid"), filepath.Join(run, "slapd.args"))
	fmt.Fprintf(&b, "olcTLSCACertificateFile: %s\n", s.CAFile)
	fmt.Fprintf(&b, "olcTLSCertificateFile: %s\n", filepath.Join(s.dir, "server.crt"))
	fmt.Fprintf(&b, "olcTLSCertificateKeyFile: %s\n", filepath.Join(s.dir, "server.key"))
	b.WriteString("\n")
	b.WriteString("dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n")
	b.WriteString("olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n\n")
	b.WriteString("dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n")
	for _, sc := range schemas {
		fmt.Fprintf(&b, "include: file://%s\n\n", filepath.Join(SchemaDir, sc+".ldif"))
	}
	b.WriteString("dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\nobjectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n\n")
	b.WriteString("dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\nolcDatabase: {0}config\n\n")
	b.WriteString("dn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\nobjectClass: olcMdbConfig\nolcDatabase: {1}mdb\n")
	fmt.Fprintf(&b, "olcSuffix: %s\nolcRootDN: %s\n", Suffix, RootDN)
	b.WriteString(ldifLine("olcRootPW", s.RootPassword))
	fmt.Fprintf(&b, "olcDbDirectory: %s\n", dataDir)
	// A small map: the data file is sparse, but keep it modest anyway.
	b.WriteString("olcDbMaxSize: 67108864\n")
	b.WriteString("olcDbIndex: objectClass eq\nolcDbIndex: mail,uid,cn eq\nolcDbIndex: member eq\n")
	b.WriteString("olcAccess: {0}to attrs=userPassword by anonymous auth by self write by * none\n")
	b.WriteString("olcAccess: {1}to * by users read by * none\n")
	conf := filepath.Join(run, "config.ldif")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return err
	}
	// slapadd is slapd itself in tool mode (-T add; Debian's slapadd is a
	// symlink to it).
	out, err := exec.Command(s.bin, "-T", "add", "-n0", "-F", confDir, "-l", conf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("slapadd -n0 of the test's cn=config: %v\n%s", err, out)
	}
	s.args = []string{
		"-F", confDir,
		"-h", s.URL + "/ " + s.LDAPSURL + "/",
		// Stay in the foreground (any -d does), logging every operation and
		// its result to stderr.
		"-d", "stats",
	}
	return nil
}

// start runs slapd with s.args and waits until RootDN can bind.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = peer.Environ([]string{"LDAP"}, "LDAPNOINIT=1")
	cmd.SysProcAttr = sysProcAttr()
	log := &peer.Buffer{}
	if s.proc != nil { // a restart keeps the earlier log
		log = s.proc.log
		fmt.Fprintf(log, "---- started again ----\n")
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	s.mu.Lock()
	s.proc, s.stopped = p, false
	s.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("slapd exited (%v) before it was ready on %s and %s; its log:\n%s", p.err, s.URL, s.LDAPSURL, log.String())
		default:
		}
		if s.ready() {
			return nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("slapd not ready after 30s on %s and %s; its log:\n%s", s.URL, s.LDAPSURL, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready tells whether both listeners accept connections and RootDN can
// bind on the plain one.
func (s *Server) ready() bool {
	for _, u := range []string{s.URL, s.LDAPSURL} {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimPrefix(u, "ldaps://"), "ldap://"), time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.tool(ctx, s.tools.whoami, nil, "-H", s.URL)
	return err == nil
}

// Stop stops slapd (SIGTERM, then SIGKILL after 5s) and waits for it to
// exit. Calling it again does nothing; Restart starts it again.
func (s *Server) Stop() {
	s.mu.Lock()
	p, stopped := s.proc, s.stopped
	s.stopped = true
	s.mu.Unlock()
	if p != nil && !stopped {
		p.stop()
	}
}

// Restart stops slapd if it runs and starts it again on the same ports
// with the same data, as an administrator restarting the directory would:
// connections open before it are cut.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("slapd did not restart: %v", err)
	}
}

// Log returns what slapd has logged so far (-d stats: one line per
// connection, operation and result).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.log.String()
}

type process struct {
	cmd  *exec.Cmd
	log  *peer.Buffer
	done chan struct{}
	err  error
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

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
