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
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testpeers/peer"
	"github.com/partnerops/partnerops/internal/testpeers/tlstest"
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

	bin    string
	dir    string
	args   []string
	pwFile string
	// certFile and keyFile are the server's certificate and key (PEM).
	certFile, keyFile string
	tools             tools
	log               *peer.Buffer
	mu                sync.Mutex
	proc              *peer.Process
	stopped           bool
}

// tools are the ldap-utils commands.
type tools struct{ search, add, modify, whoami string }

// Start runs a slapd for the test on free loopback ports (Run), with its
// files in the test's temporary directory, and stops it in t.Cleanup. Its
// log is printed when the test fails.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir() // before the stop cleanup is registered, so removed after it
	return peer.ForTest(t, "slapd", func(ctx context.Context) (*Server, error) { return Run(ctx, dir) })
}

// Run runs a slapd on free loopback ports with its configuration, data and
// certificates in dir (which must exist; the caller removes it after
// Stop), waits until it answers a bind as RootDN, and creates the base
// entries. ctx bounds the start, not slapd's life: stop it with Stop.
func Run(ctx context.Context, dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	tl, err := findTools()
	if err != nil {
		return nil, err
	}
	for _, s := range schemas {
		if _, err := os.Stat(filepath.Join(SchemaDir, s+".ldif")); err != nil {
			return nil, fmt.Errorf("slapd: schema %s missing (%v): install Debian's slapd package with hack/install-peers.sh", s, err)
		}
	}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	s := &Server{RootPassword: hex.EncodeToString(pw), bin: bin, dir: dir,
		pwFile: filepath.Join(dir, "rootpw"), tools: tl, log: &peer.Buffer{}}
	if err := s.run(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) run(ctx context.Context) error {
	// ldap-utils read the password from a file (-y) so that it is not on a
	// command line; the whole file is the password, so no newline.
	if err := os.WriteFile(s.pwFile, []byte(s.RootPassword), 0o600); err != nil {
		return err
	}
	// A certificate for 127.0.0.1, ::1 and localhost from a CA made for
	// this server, in files slapd reads (olcTLSCACertificateFile,
	// olcTLSCertificateFile, olcTLSCertificateKeyFile).
	ca, err := tlstest.MakeCA()
	if err == nil {
		s.CAFile, s.certFile, s.keyFile, err = ca.WriteFiles(s.dir, "127.0.0.1", "::1", "localhost")
	}
	if err != nil {
		return fmt.Errorf("slapd: TLS material: %w", err)
	}
	s.CAPool = ca.Pool()
	for attempt := 1; attempt <= 3; attempt++ {
		if err = s.configure(attempt); err != nil {
			break
		}
		if err = s.start(ctx); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("slapd did not start: %w", err)
	}
	return s.TryAdd(ctx, ldifEntry(Suffix, "objectClass", "dcObject", "objectClass", "organization", "dc", "example", "o", "Example"),
		ldifEntry(PeopleDN, "objectClass", "organizationalUnit", "ou", "people"),
		ldifEntry(GroupsDN, "objectClass", "organizationalUnit", "ou", "groups"))
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

// start runs slapd with s.args and waits until RootDN can bind.
func (s *Server) start(ctx context.Context) error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = peer.Environ([]string{"LDAP"}, "LDAPNOINIT=1")
	s.mu.Lock()
	if s.proc != nil { // a restart keeps the earlier log
		fmt.Fprintf(s.log, "---- started again ----\n")
	}
	s.mu.Unlock()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	p, err := peer.Start(cmd, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", s.bin, err)
	}
	s.mu.Lock()
	s.proc, s.stopped = p, false
	s.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.Done():
			return fmt.Errorf("slapd exited (%s) before it was ready on %s and %s; its log:\n%s", p.Status(), s.URL, s.LDAPSURL, s.log.String())
		case <-ctx.Done():
			_ = p.StopWithin(5 * time.Second)
			return ctx.Err()
		default:
		}
		if s.ready(ctx) {
			return nil
		}
		if time.Now().After(deadline) {
			_ = p.StopWithin(5 * time.Second)
			return fmt.Errorf("slapd not ready after 30s on %s and %s; its log:\n%s", s.URL, s.LDAPSURL, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready tells whether both listeners accept connections and RootDN can
// bind on the plain one.
func (s *Server) ready(ctx context.Context) bool {
	for _, u := range []string{s.URL, s.LDAPSURL} {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimPrefix(u, "ldaps://"), "ldap://"), time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
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
		_ = p.StopWithin(5 * time.Second)
	}
}

// Restart stops slapd if it runs and starts it again on the same ports
// with the same data, as an administrator restarting the directory would:
// connections open before it are cut.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.RestartContext(t.Context()); err != nil {
		t.Fatalf("slapd did not restart: %v", err)
	}
}

// RestartContext is Restart, ctx bounding the wait for slapd to answer.
func (s *Server) RestartContext(ctx context.Context) error {
	s.Stop()
	return s.start(ctx)
}

// Log returns what slapd has logged so far (-d stats: one line per
// connection, operation and result).
func (s *Server) Log() string { return s.log.String() }
