package e2e

import (
	"testing"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity/scim"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

// Who signed in lands on the backend user (issue 15), on each real backend,
// through the whole manager: the backend configured with subjectAttribute
// and issuerAttribute (SCIM: the partnerops extension the SCIM server
// declares; LDAP: employeeNumber and labeledURI of inetOrgPerson), a
// signed-in acceptance (recorded as the page records it, with the proof
// covering signedInAs) puts the issuer and subject on the user partnerops
// creates; an acceptance without sign-in puts nothing there; a user that
// existed before partnerops is granted and left unchanged.

// signInPeer is a backendPeer that can record the sign-in.
type signInPeer interface {
	backendPeer
	// recordSignIn sets the backend's subjectAttribute and issuerAttribute.
	recordSignIn(m *managertest.Manager)
	// seedUser creates email's user as someone else than partnerops would.
	seedUser(t *testing.T, email string)
	// signInOf reads what email's user holds: subject and issuer.
	signInOf(t *testing.T, email string) (subject, issuer string)
}

const e2eIssuer = "https://idp.globex.example"

func TestSignInSubjectSCIM(t *testing.T) {
	runSignInSubject(t, &scimBackend{srv: scimpeer.Start(t)})
}

func TestSignInSubjectLDAP(t *testing.T) { runSignInSubject(t, &ldapBackend{srv: slapd.Start(t)}) }

func runSignInSubject(t *testing.T, b signInPeer) {
	mp := mailpit.Start(t)
	b.seedUser(t, "ann@globex.example")
	h := start(t, mp, b, b.recordSignIn)
	h.Account("globex")
	who := map[string]*v1alpha1.SignedInIdentity{
		"mindy": {Issuer: e2eIssuer, Subject: "sub-mindy"},
		"noah":  nil,
		"ann":   {Issuer: e2eIssuer, Subject: "sub-ann"},
	}
	for name, si := range who {
		h.Invite(name, name+"@globex.example")
		h.AcceptSignedIn(name, si)
	}
	for name, want := range map[string][2]string{
		"mindy": {"sub-mindy", e2eIssuer},
		"noah":  {}, // no sign-in: nothing written
		"ann":   {}, // not partnerops's user: never changed
	} {
		h.waitGrantsSynced(name, v1alpha1.ReasonGrantsApplied)
		if sub, iss := b.signInOf(t, name+"@globex.example"); sub != want[0] || iss != want[1] {
			t.Errorf("%s: the backend user holds subject %q, issuer %q; want %q, %q", name, sub, iss, want[0], want[1])
		}
	}
}

func (s *scimBackend) recordSignIn(m *managertest.Manager) {
	m.Config.IdentityBackend.SCIM.SubjectAttribute = scim.PartnerOpsUserSchema + ":subject"
	m.Config.IdentityBackend.SCIM.IssuerAttribute = scim.PartnerOpsUserSchema + ":issuer"
}

func (s *scimBackend) seedUser(t *testing.T, email string) { s.srv.CreateUser(t, email, "") }

func (s *scimBackend) signInOf(t *testing.T, email string) (string, string) {
	u, ok := s.srv.User(t, email)
	if !ok {
		t.Fatalf("no SCIM user %s", email)
	}
	if u.SignIn == nil {
		return "", ""
	}
	return u.SignIn.Subject, u.SignIn.Issuer
}

func (l *ldapBackend) recordSignIn(m *managertest.Manager) {
	m.Config.IdentityBackend.LDAP.SubjectAttribute = "employeeNumber"
	m.Config.IdentityBackend.LDAP.IssuerAttribute = "labeledURI"
}

func (l *ldapBackend) seedUser(t *testing.T, email string) { l.srv.AddUser(t, email, email) }

func (l *ldapBackend) signInOf(t *testing.T, email string) (string, string) {
	e, ok := l.srv.Entry(t, "uid="+email+","+slapd.PeopleDN)
	if !ok {
		t.Fatalf("no entry for %s", email)
	}
	first := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	return first(e.Get("employeeNumber")), first(e.Get("labeledURI"))
}
