package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

// One partner user, two customer accounts (namespaces), against each real
// backend: a removal in one namespace never breaks the other's access, and
// a member whose systems are emptied and given back keeps the same backend
// user. Shared things (the backend user) are counted across namespaces.
func TestSharedUserSCIM(t *testing.T) { runSharedUser(t, &scimBackend{srv: scimpeer.Start(t)}) }

func TestSharedUserLDAP(t *testing.T) { runSharedUser(t, &ldapBackend{srv: slapd.Start(t)}) }

// userID is the backend's handle of email's user: its SCIM id.
func (s *scimBackend) userID(t *testing.T, email string) (string, bool) {
	u, ok := s.srv.User(t, email)
	return u.ID, ok
}

// userID is the backend's handle of email's user: its DN.
func (l *ldapBackend) userID(t *testing.T, email string) (string, bool) { return l.userDN(t, email) }

func runSharedUser(t *testing.T, b interface {
	backendPeer
	userID(t *testing.T, email string) (string, bool)
}) {
	const addr = "mindy@globex.example"
	mp := mailpit.Start(t)
	h := start(t, mp, b, managertest.WithNamespaces(1))
	ns1, ns2 := h.NS, h.Others[0]
	ctx := context.Background()
	group := func(ns, system string) string { return h.in(ns).Group(system, "editor") }

	for _, ns := range []string{ns1, ns2} {
		h.in(ns).Account("globex", func(a *v1alpha1.PartnerAccount) {
			a.Spec.Users = []v1alpha1.PartnerUser{{Email: addr, Role: "editor", Systems: []v1alpha1.CatalogueKey{"insights"}}}
		})
	}
	// The partner accepts both invitations through the real page.
	for _, m := range mp.WaitFor(t, addr, 2, 30*time.Second) {
		msg, err := mp.Message(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		h.accept(t, linkRE.FindString(msg.Text))
	}
	name := account.InvitationName("globex", addr)
	for _, ns := range []string{ns1, ns2} {
		h.in(ns).waitGrantsSynced(name, v1alpha1.ReasonGrantsApplied)
	}
	both := []string{group(ns1, "insights"), group(ns2, "insights")}
	slices.Sort(both)
	if got := b.groupsOf(t, addr); !slices.Equal(got, both) {
		t.Fatalf("after both acceptances the user is in %v, want %v", got, both)
	}
	id, _ := b.userID(t, addr)

	// ns2's member holds no system for a while: its membership goes, the
	// user stays.
	h.in(ns2).EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Systems = nil })
	h.Eventually(ns2+"'s membership removed", func() bool {
		return slices.Equal(b.groupsOf(t, addr), []string{group(ns1, "insights")})
	})

	// ns1 removes the user: its grants go, the user ns2 still holds stays.
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = nil })
	h.Eventually(ns1+"'s grants revoked", func() bool { return slices.Equal(b.groupsOf(t, addr), []string{}) })
	if got, ok := b.userID(t, addr); !ok || got != id {
		t.Fatalf("removing the user from %s deleted or replaced the backend user %s that %s holds (now %q, %v)", ns1, id, ns2, got, ok)
	}

	// ns2 gives the system back: the same backend user.
	h.in(ns2).EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Systems = []v1alpha1.CatalogueKey{"insights"} })
	h.Eventually(ns2+"'s membership back", func() bool {
		return slices.Equal(b.groupsOf(t, addr), []string{group(ns2, "insights")})
	})
	if got, _ := b.userID(t, addr); got != id {
		t.Errorf("systems given back: backend user %q, want the same %q", got, id)
	}

	// ns2 removes the user too: nothing of partnerops's is left.
	h.in(ns2).EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users = nil })
	h.Eventually("the backend user deleted once nobody holds it", func() bool {
		_, ok := b.userID(t, addr)
		return !ok && len(b.ours(t)) == 0
	})
}
