package slapd_test

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

func TestStartSeedAndRead(t *testing.T) {
	s := slapd.Start(t)

	for _, dn := range []string{slapd.Suffix, slapd.PeopleDN, slapd.GroupsDN} {
		if _, ok := s.Entry(t, dn); !ok {
			t.Errorf("base entry %s missing", dn)
		}
	}
	if _, ok := s.Entry(t, "uid=nobody,"+slapd.PeopleDN); ok {
		t.Error("Entry found a missing DN")
	}

	// Values LDIF must carry in base64 (non-ASCII, a leading space) go in
	// and come back intact.
	alice := s.AddUser(t, "alice", "Alice@Example.COM", "description", " Zoë, née Ünïcorn", "userPassword", "pw")
	bob := s.AddUser(t, "bob", "")
	group := s.AddGroup(t, "editors", alice, bob)

	e, ok := s.Entry(t, alice)
	if !ok {
		t.Fatalf("%s missing", alice)
	}
	if e.DN != alice || !e.Has("mail", "Alice@Example.COM") || !e.Has("DESCRIPTION", " Zoë, née Ünïcorn") || !e.Has("objectClass", "inetOrgPerson") {
		t.Errorf("alice = %+v", e)
	}
	g, _ := s.Entry(t, group)
	if got := g.Get("member"); len(got) != 2 || got[0] != alice || got[1] != bob {
		t.Errorf("members = %q", got)
	}

	// mail matches without case (caseIgnoreIA5Match in the core schema).
	found := s.Search(t, slapd.PeopleDN, "(mail=alice@example.com)")
	if len(found) != 1 || found[0].DN != alice {
		t.Errorf("search by mail = %+v", found)
	}

	s.Modify(t, "dn: "+group+"\nchangetype: modify\ndelete: member\nmember: "+bob+"\n")
	g, _ = s.Entry(t, group)
	if got := g.Get("member"); len(got) != 1 || got[0] != alice {
		t.Errorf("members after delete = %q", got)
	}

	// The schema holds: groupOfNames needs a member; the tool's exit code is
	// the LDAP result (65 object class violation).
	err := s.TryAdd(t.Context(), slapd.LDIFEntry("cn=empty,"+slapd.GroupsDN, "objectClass", "groupOfNames", "cn", "empty"))
	var te *slapd.ToolError
	if !errors.As(err, &te) || te.Code != 65 {
		t.Errorf("adding an empty groupOfNames: %v, want exit code 65", err)
	}
}

func TestTLSAndRestart(t *testing.T) {
	s := slapd.Start(t)
	alice := s.AddUser(t, "alice", "alice@example.com")

	// ldaps:// presents a certificate for 127.0.0.1 that CAPool trusts.
	addr := strings.TrimPrefix(s.LDAPSURL, "ldaps://")
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: s.CAPool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", s.LDAPSURL, err)
	}
	_ = c.Close()
	if _, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Error("the test CA is trusted without CAPool")
	}

	s.Stop()
	s.Stop() // harmless
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "ldap://"), time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("%s still accepts connections after Stop", s.URL)
	}

	s.Restart(t)
	if _, ok := s.Entry(t, alice); !ok {
		t.Errorf("%s lost across a restart", alice)
	}
}
