// Package e2e runs the whole manager against real peers: a real API server
// and etcd, real SMTP (Mailpit), the real acceptance endpoint, and a real
// identity backend (a SCIM 2.0 server, and slapd).
//
//   - grants_test.go, on each backend in turn: an account with three users
//     gets three emails, two accept, their grants land, one role is edited
//     and exactly that diff is applied, a membership removed by hand comes
//     back at the resync, one user is removed and revoked, the account is
//     deleted, and nothing of partnerops's is left, while a pre-existing
//     unrelated user and membership are untouched.
//   - shared_user_test.go, on each backend: one partner invited by two
//     namespaces; emptied systems keep the user, removing it in one
//     namespace keeps the other's user (same id) and memberships, and the
//     last removal deletes it.
//   - scim_redirect_test.go: a TLS front that redirects every request (to
//     the SCIM server's own plain-HTTP URL) before the SCIM server; an
//     acceptance gets GrantsSynced=False (BackendRejected) and no
//     membership, and a withdrawal is not recorded as GrantsRevoked while
//     the membership stays.
//   - ldap_trust_test.go, the LDAP lookup rules on slapd: with the default,
//     a directory user whose mail is the invited partner's address gets no
//     grant, the grant lands in cn=<group>,<groupBaseDN> although a
//     same-named group in a sub-OU already holds the partner's DN, and the
//     withdrawal leaves both as they were; with trustMailAttribute, the user
//     that existed before partnerops is found by mail, granted, and kept
//     after the withdrawal.
//   - signin_subject_test.go, on each backend configured with subjectAttribute
//     and issuerAttribute: a signed-in acceptance puts the issuer and
//     subject on the user partnerops creates, an acceptance without sign-in
//     puts nothing there, a user that existed before partnerops is granted
//     and not changed.
//   - gitops_test.go: after the controllers have worked, the objects applied
//     from config/samples/ are still exactly as applied (no spec write, no
//     difference for `kubectl diff`), as Argo CD and Flux rely on.
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity/ldap"
	"github.com/partnerops/partnerops/internal/identity/scim"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

var env *testenv.Env

func TestMain(m *testing.M) { managertest.Main(m, &env) }

// backendPeer is a real identity backend seen from the test's side: it
// reads the directory directly, never through partnerops's driver.
type backendPeer interface {
	// configure points the manager's configuration at the backend (and
	// makes the Secrets it names).
	configure(m *managertest.Manager)
	// seedUnrelated creates a user and a group membership partnerops must
	// never touch.
	seedUnrelated(t *testing.T)
	// unrelatedIntact reports what changed about them ("" when nothing).
	unrelatedIntact(t *testing.T) string
	// groupsOf lists the groups email is a member of (nil if no user).
	groupsOf(t *testing.T, email string) []string
	// removeByHand ends email's membership of group, as an admin would.
	removeByHand(t *testing.T, email, group string)
	// ours lists the users and groups carrying partnerops's mark.
	ours(t *testing.T) []string
}

// The grant flow of issue 5 against each backend: an account with three
// users gets three emails; two accept through the real endpoint; their
// grants land; one role is edited and exactly that diff is applied; a
// membership removed by hand comes back at the resync; one user is removed
// and revoked; the account is deleted and nothing of partnerops's is left,
// while an unrelated user and membership stay untouched.
func TestGrantsSCIM(t *testing.T) { runGrantFlow(t, &scimBackend{srv: scimpeer.Start(t)}) }

func TestGrantsLDAP(t *testing.T) { runGrantFlow(t, &ldapBackend{srv: slapd.Start(t)}) }

func runGrantFlow(t *testing.T, b backendPeer) {
	mp := mailpit.Start(t)
	b.seedUnrelated(t)
	h := start(t, mp, b)
	ctx := context.Background()

	h.Account("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users = []v1alpha1.PartnerUser{
			{Email: "ana@globex.example", Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor", "insights"}},
			{Email: "ben@globex.example", Role: "viewer", Systems: []v1alpha1.CatalogueKey{"insights"}},
			{Email: "cho@globex.example", Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor"}},
		}
	})
	group := h.Group

	// Three emails; two partners accept through the real endpoint.
	links := map[string]string{}
	for _, who := range []string{"ana", "ben", "cho"} {
		links[who] = h.link(t, mp, who+"@globex.example")
	}
	h.accept(t, links["ana"])
	h.accept(t, links["ben"])

	h.Eventually("ana's and ben's grants in the backend", func() bool {
		return slices.Equal(b.groupsOf(t, "ana@globex.example"), []string{group("editor", "editor"), group("insights", "editor")}) &&
			slices.Equal(b.groupsOf(t, "ben@globex.example"), []string{group("insights", "viewer")})
	})
	if g := b.groupsOf(t, "cho@globex.example"); len(g) != 0 {
		t.Errorf("cho has not accepted but is in %v", g)
	}
	h.Eventually("the account Active with two members", func() bool {
		a := h.GetAccount("globex")
		return a.Status.State == v1alpha1.AccountActive && len(a.Status.Members) == 2 && a.Status.Invitations.Pending == 1
	})
	ana := h.invitationOf("ana@globex.example")
	h.waitGrantsSynced(ana.Name, v1alpha1.ReasonGrantsApplied)

	// Ana becomes a viewer: exactly that diff.
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Role = "viewer" })
	h.Eventually("ana's grants moved from editor to viewer", func() bool {
		return slices.Equal(b.groupsOf(t, "ana@globex.example"), []string{group("editor", "viewer"), group("insights", "viewer")})
	})
	if got := b.groupsOf(t, "ben@globex.example"); !slices.Equal(got, []string{group("insights", "viewer")}) {
		t.Errorf("editing ana changed ben's groups: %v", got)
	}
	inv := h.waitGrantsSynced(ana.Name, v1alpha1.ReasonGrantsApplied)
	if g := inv.Status.AppliedGrants; g == nil || g.Role != "viewer" || !slices.Equal(g.Groups, []string{group("editor", "viewer"), group("insights", "viewer")}) {
		t.Errorf("ana's appliedGrants: %+v", g)
	}

	// Drift made by hand is repaired at the next resync.
	b.removeByHand(t, "ben@globex.example", group("insights", "viewer"))
	h.Clock.Step(h.Config.IdentityBackend.ResyncInterval.Duration + time.Second)
	h.Eventually("ben's membership restored by the resync", func() bool {
		return slices.Equal(b.groupsOf(t, "ben@globex.example"), []string{group("insights", "viewer")})
	})

	// Ben is removed from the account: his invitation goes, and his grants.
	ben := h.invitationOf("ben@globex.example")
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users = slices.DeleteFunc(a.Spec.Users, func(u v1alpha1.PartnerUser) bool { return u.Email == "ben@globex.example" })
	})
	h.Eventually("ben's invitation deleted and his grants revoked", func() bool {
		return !h.Exists(&v1alpha1.PartnerInvitation{}, ben.Name) && b.groupsOf(t, "ben@globex.example") == nil
	})

	// The account is deleted: every grant goes, then the account.
	if err := env.Client.Delete(ctx, h.GetAccount("globex")); err != nil {
		t.Fatal(err)
	}
	h.EventuallyWithin(time.Minute, "the account gone", func() bool { return !h.Exists(&v1alpha1.PartnerAccount{}, "globex") })
	h.Eventually("nothing of partnerops's left in the backend", func() bool { return len(b.ours(t)) == 0 })
	if left := b.ours(t); len(left) != 0 {
		t.Errorf("left in the backend: %v", left)
	}
	if diff := b.unrelatedIntact(t); diff != "" {
		t.Errorf("an unrelated user or membership changed: %s", diff)
	}
}

// harness is one manager for one test namespace, sending real mail to
// Mailpit and serving the acceptance page, with the real backend b.
type harness struct {
	*managertest.Manager
	client *http.Client
}

// start runs the manager over a new namespace whose display name is Acme
// Corporation (or over the one managertest.InNamespace names, left as it
// is), with a fake clock at the time of day that every wait moves on, so
// that the controllers' retries come due.
func start(t *testing.T, mp *mailpit.Server, b backendPeer, opts ...managertest.Option) *harness {
	t.Helper()
	opts = append([]managertest.Option{
		managertest.WithClockAt(time.Now()),
		managertest.WithDisplayName("Acme Corporation"),
		managertest.WithSMTP(mp.SMTPHost, mp.SMTPPort),
		managertest.WithPage("http://127.0.0.1:1/hub"), // never followed
		func(m *managertest.Manager) { m.Backend, m.Step = nil, time.Second; b.configure(m) },
	}, opts...)
	return &harness{Manager: managertest.Start(t, env, opts...),
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// in is the harness working in namespace ns (one of h.Others).
func (h *harness) in(ns string) *harness { return &harness{Manager: h.In(ns), client: h.client} }

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/invitations/accept\?token=[A-Za-z0-9._%-]+`)

// link waits for the invitation email to addr and returns its link.
func (h *harness) link(t *testing.T, mp *mailpit.Server, addr string) string {
	t.Helper()
	sums := mp.WaitFor(t, addr, 1, 30*time.Second)
	msg, err := mp.Message(context.Background(), sums[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	link := linkRE.FindString(msg.Text)
	if link == "" {
		t.Fatalf("no link in the email to %s", addr)
	}
	return link
}

// accept does what the page's button does: POST the token.
func (h *harness) accept(t *testing.T, link string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.PostForm(h.Config.Acceptance.PublicURL+"/invitations/accept", url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accepting answered %d, want 303", resp.StatusCode)
	}
}

func (h *harness) invitationOf(email string) *v1alpha1.PartnerInvitation {
	h.T.Helper()
	return h.Invitation(account.InvitationName("globex", email))
}

func (h *harness) waitGrantsSynced(name, reason string) *v1alpha1.PartnerInvitation {
	h.T.Helper()
	return h.WaitCondition(name, v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, reason)
}

// scimBackend is the SCIM 2.0 server (SCIMMY), read over HTTP.
type scimBackend struct {
	srv      *scimpeer.Server
	outsider scimpeer.User
}

func (s *scimBackend) configure(m *managertest.Manager) {
	name := m.CreateSecret("scim-token", map[string]string{"token": s.srv.Token})
	cfg := m.Config
	cfg.IdentityBackend.Type = opconfig.BackendSCIM
	cfg.IdentityBackend.LDAP = nil
	cfg.IdentityBackend.SCIM = &opconfig.SCIMConfig{BaseURL: s.srv.URL, TokenSecret: &opconfig.SecretRef{Name: name}, CreateGroups: true}
}

func (s *scimBackend) seedUnrelated(t *testing.T) {
	s.outsider = s.srv.CreateUser(t, "outsider@else.example", "")
	s.srv.CreateGroup(t, "legacy-admins", "", s.outsider.ID)
}

func (s *scimBackend) unrelatedIntact(t *testing.T) string {
	u, ok := s.srv.User(t, "outsider@else.example")
	if !ok || u.ID != s.outsider.ID {
		return "the user outsider@else.example is gone"
	}
	g, ok := s.srv.Group(t, "legacy-admins")
	if !ok || !slices.Equal(g.MemberIDs(), []string{s.outsider.ID}) {
		return fmt.Sprintf("the group legacy-admins is now %+v", g)
	}
	return ""
}

func (s *scimBackend) groupsOf(t *testing.T, email string) []string {
	u, ok := s.srv.User(t, email)
	if !ok {
		return nil
	}
	var out []string
	for _, g := range s.srv.Groups(t) {
		if slices.Contains(g.MemberIDs(), u.ID) {
			out = append(out, g.DisplayName)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func (s *scimBackend) removeByHand(t *testing.T, email, group string) {
	u, _ := s.srv.User(t, email)
	g, ok := s.srv.Group(t, group)
	if !ok {
		t.Fatalf("no group %s", group)
	}
	s.srv.RemoveMember(t, g.ID, u.ID)
}

func (s *scimBackend) ours(t *testing.T) []string {
	var out []string
	for _, u := range s.srv.Users(t) {
		if strings.HasPrefix(u.ExternalID, scim.MarkPrefix) {
			out = append(out, "user "+u.UserName)
		}
	}
	for _, g := range s.srv.Groups(t) {
		if strings.HasPrefix(g.ExternalID, scim.MarkPrefix) || strings.HasPrefix(g.DisplayName, "partnerops.") {
			out = append(out, "group "+g.DisplayName)
		}
	}
	return out
}

// ldapBackend is slapd, read with ldap-utils.
type ldapBackend struct {
	srv         *slapd.Server
	outsiderDN  string
	legacyGroup string
}

func (l *ldapBackend) configure(m *managertest.Manager) {
	name := m.CreateSecret("ldap-bind", map[string]string{"password": l.srv.RootPassword})
	cfg := m.Config
	cfg.IdentityBackend.Type = opconfig.BackendLDAP
	cfg.IdentityBackend.SCIM = nil
	cfg.IdentityBackend.LDAP = &opconfig.LDAPConfig{
		URL: l.srv.URL, BindDN: slapd.RootDN, BindPasswordSecret: &opconfig.SecretRef{Name: name},
		UserBaseDN: slapd.PeopleDN, GroupBaseDN: slapd.GroupsDN, CreateGroups: true,
	}
}

func (l *ldapBackend) seedUnrelated(t *testing.T) {
	l.outsiderDN = l.srv.AddUser(t, "outsider", "outsider@else.example")
	l.legacyGroup = l.srv.AddGroup(t, "legacy-admins", l.outsiderDN)
}

func (l *ldapBackend) unrelatedIntact(t *testing.T) string {
	if _, ok := l.srv.Entry(t, l.outsiderDN); !ok {
		return "the user " + l.outsiderDN + " is gone"
	}
	g, ok := l.srv.Entry(t, l.legacyGroup)
	if !ok || len(g.Get("member")) != 1 || !strings.EqualFold(g.Get("member")[0], l.outsiderDN) {
		return fmt.Sprintf("the group legacy-admins is now %+v", g)
	}
	return ""
}

func (l *ldapBackend) userDN(t *testing.T, email string) (string, bool) {
	es := l.srv.Search(t, slapd.PeopleDN, "(mail="+email+")")
	if len(es) != 1 {
		return "", false
	}
	return es[0].DN, true
}

func (l *ldapBackend) groupsOf(t *testing.T, email string) []string {
	dn, ok := l.userDN(t, email)
	if !ok {
		return nil
	}
	out := []string{}
	for _, e := range l.srv.Search(t, slapd.GroupsDN, "(member="+dn+")") {
		out = append(out, e.Get("cn")...)
	}
	slices.Sort(out)
	return out
}

func (l *ldapBackend) removeByHand(t *testing.T, email, group string) {
	dn, _ := l.userDN(t, email)
	l.srv.Modify(t, fmt.Sprintf("dn: cn=%s,%s\nchangetype: modify\ndelete: member\nmember: %s\n", group, slapd.GroupsDN, dn))
}

func (l *ldapBackend) ours(t *testing.T) []string {
	var out []string
	for _, e := range l.srv.Search(t, slapd.Suffix, "(description="+ldap.Mark+")") {
		out = append(out, e.DN)
	}
	for _, e := range l.srv.Search(t, slapd.GroupsDN, "(cn=partnerops.*)") {
		out = append(out, e.DN)
	}
	return out
}
