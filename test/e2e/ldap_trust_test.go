package e2e

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

// trustingLDAP is slapd with identityBackend.ldap.trustMailAttribute set.
type trustingLDAP struct{ *ldapBackend }

func (l trustingLDAP) configure(m *managertest.Manager) {
	l.ldapBackend.configure(m)
	m.Config.IdentityBackend.LDAP.TrustMailAttribute = true
}

// Grants land on the partner who accepted, in the group partnerops writes,
// with the default configuration: a directory user who wrote the partner's
// address into their own mail gets nothing, and a same-named group in a
// legacy sub-OU that already holds the partner's DN is neither taken for
// the grant nor changed; withdrawing the partner removes exactly what was
// granted.
func TestGrantsLDAPNotToWhoeverHasTheMail(t *testing.T) {
	const email = "ana@globex.example"
	srv := slapd.Start(t)
	mallory := srv.AddUser(t, "mallory", email)
	mp := mailpit.Start(t)
	h := start(t, mp, &ldapBackend{srv: srv})

	anaDN := "uid=" + email + "," + slapd.PeopleDN
	name := h.Group("insights", "viewer")
	groupDN := "cn=" + name + "," + slapd.GroupsDN
	decoyDN := "cn=" + name + ",ou=legacy," + slapd.GroupsDN
	srv.Add(t,
		slapd.LDIFEntry("ou=legacy,"+slapd.GroupsDN, "objectClass", "organizationalUnit", "ou", "legacy"),
		slapd.LDIFEntry(decoyDN, "objectClass", "groupOfNames", "cn", name, "member", anaDN))
	decoy, _ := srv.Entry(t, decoyDN)
	malloryBefore, _ := srv.Entry(t, mallory)

	inv := h.grantViewer(t, mp, email)

	if g := inv.Status.AppliedGrants; g == nil || !strings.EqualFold(g.UserID, anaDN) || !slices.Equal(g.Groups, []string{name}) {
		t.Errorf("appliedGrants = %+v, want user %s in [%s]", g, anaDN, name)
	}
	g, ok := srv.Entry(t, groupDN)
	if !ok || !slices.Equal(g.Get("member"), []string{anaDN}) {
		t.Errorf("%s: %+v, want it created with the member %s", groupDN, g, anaDN)
	}
	if in := srv.Search(t, slapd.Suffix, "(member="+mallory+")"); len(in) != 0 {
		t.Errorf("%s, who only wrote the partner's mail, is in %v", mallory, in)
	}
	sameEntry(t, srv, mallory, malloryBefore)
	sameEntry(t, srv, decoyDN, decoy)

	// Withdrawn: the real membership goes (and the group and user
	// partnerops created with it); the decoy and mallory stay as they were.
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = nil })
	h.Eventually("ana's grant revoked", func() bool {
		_, group := srv.Entry(t, groupDN)
		_, user := srv.Entry(t, anaDN)
		return !h.Exists(&v1alpha1.PartnerInvitation{}, inv.Name) && !group && !user
	})
	sameEntry(t, srv, mallory, malloryBefore)
	sameEntry(t, srv, decoyDN, decoy)
}

// With trustMailAttribute, the user that was in the directory before
// partnerops, found by mail, gets the grant (and keeps its entry when the
// partner is withdrawn); no uid=<email> entry is made beside it.
func TestGrantsLDAPTrustMailAttribute(t *testing.T) {
	const email = "ana@globex.example"
	srv := slapd.Start(t)
	existing := srv.AddUser(t, "ana", email)
	mp := mailpit.Start(t)
	h := start(t, mp, trustingLDAP{&ldapBackend{srv: srv}})
	name := h.Group("insights", "viewer")
	groupDN := "cn=" + name + "," + slapd.GroupsDN

	inv := h.grantViewer(t, mp, email)
	if g := inv.Status.AppliedGrants; g == nil || !strings.EqualFold(g.UserID, existing) || g.UserCreated {
		t.Errorf("appliedGrants = %+v, want the existing user %s, not created", g, existing)
	}
	if g, ok := srv.Entry(t, groupDN); !ok || !slices.Equal(g.Get("member"), []string{existing}) {
		t.Errorf("%s: %+v, want the member %s", groupDN, g, existing)
	}
	if _, ok := srv.Entry(t, "uid="+email+","+slapd.PeopleDN); ok {
		t.Errorf("a second user was created for %s", email)
	}

	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = nil })
	h.Eventually("ana's grant revoked", func() bool {
		_, group := srv.Entry(t, groupDN)
		return !h.Exists(&v1alpha1.PartnerInvitation{}, inv.Name) && !group
	})
	if _, ok := srv.Entry(t, existing); !ok {
		t.Errorf("%s, which partnerops did not create, was deleted", existing)
	}
}

// grantViewer creates the account globex with email as a viewer of
// insights, accepts the invitation as the partner would, and returns it
// once its grants are applied.
func (h *harness) grantViewer(t *testing.T, mp *mailpit.Server, email string) *v1alpha1.PartnerInvitation {
	t.Helper()
	h.Account("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users = []v1alpha1.PartnerUser{{Email: v1alpha1.EmailAddress(email), Role: "viewer", Systems: []v1alpha1.CatalogueKey{"insights"}}}
	})
	h.accept(t, h.link(t, mp, email))
	return h.waitGrantsSynced(h.invitationOf(email).Name, v1alpha1.ReasonGrantsApplied)
}

// sameEntry fails the test when dn is gone or differs from was.
func sameEntry(t *testing.T, srv *slapd.Server, dn string, was slapd.Entry) {
	t.Helper()
	got, ok := srv.Entry(t, dn)
	if !ok || !reflect.DeepEqual(got.Attrs, was.Attrs) {
		t.Errorf("%s changed: %+v, was %+v", dn, got.Attrs, was.Attrs)
	}
}
