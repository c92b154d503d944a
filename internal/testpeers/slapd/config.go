package slapd

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

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
	fmt.Fprintf(&b, "olcTLSCertificateFile: %s\n", s.certFile)
	fmt.Fprintf(&b, "olcTLSCertificateKeyFile: %s\n", s.keyFile)
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
