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
//   - gitops_test.go: after the controllers have worked, the objects applied
//     from config/samples/ are still exactly as applied (no spec write, no
//     difference for `kubectl diff`), as Argo CD and Flux rely on.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity/ldap"
	"github.com/partnerops/partnerops/internal/identity/scim"
	"github.com/partnerops/partnerops/internal/manager"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

var env *testenv.Env

const secretNamespace = "partnerops-system"

func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) error {
		return e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secretNamespace}})
	})
}

// backendPeer is a real identity backend seen from the test's side: it
// reads the directory directly, never through partnerops's driver.
type backendPeer interface {
	// configure points the manager's configuration at the backend.
	configure(t *testing.T, cfg *opconfig.Config)
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

	acct := &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "globex"},
		Spec: v1alpha1.PartnerAccountSpec{
			DisplayName: "Globex Corporation",
			Users: []v1alpha1.PartnerUser{
				{Email: "ana@globex.example", Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor", "insights"}},
				{Email: "ben@globex.example", Role: "viewer", Systems: []v1alpha1.CatalogueKey{"insights"}},
				{Email: "cho@globex.example", Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor"}},
			},
		},
	}
	if err := env.Client.Create(ctx, acct); err != nil {
		t.Fatal(err)
	}
	group := func(system, role string) string { return fmt.Sprintf("partnerops.%s.%s.%s", h.ns, system, role) }

	// Three emails; two partners accept through the real endpoint.
	links := map[string]string{}
	for _, who := range []string{"ana", "ben", "cho"} {
		links[who] = h.link(t, mp, who+"@globex.example")
	}
	h.accept(t, links["ana"])
	h.accept(t, links["ben"])

	h.eventually(t, "ana's and ben's grants in the backend", func() bool {
		return slices.Equal(b.groupsOf(t, "ana@globex.example"), []string{group("editor", "editor"), group("insights", "editor")}) &&
			slices.Equal(b.groupsOf(t, "ben@globex.example"), []string{group("insights", "viewer")})
	})
	if g := b.groupsOf(t, "cho@globex.example"); len(g) != 0 {
		t.Errorf("cho has not accepted but is in %v", g)
	}
	h.eventually(t, "the account Active with two members", func() bool {
		a := h.account(t)
		return a.Status.State == v1alpha1.AccountActive && len(a.Status.Members) == 2 && a.Status.Invitations.Pending == 1
	})
	ana := h.invitationOf(t, "ana@globex.example")
	h.waitGrantsSynced(t, ana.Name, v1alpha1.ReasonGrantsApplied)

	// Ana becomes a viewer: exactly that diff.
	h.editAccount(t, func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Role = "viewer" })
	h.eventually(t, "ana's grants moved from editor to viewer", func() bool {
		return slices.Equal(b.groupsOf(t, "ana@globex.example"), []string{group("editor", "viewer"), group("insights", "viewer")})
	})
	if got := b.groupsOf(t, "ben@globex.example"); !slices.Equal(got, []string{group("insights", "viewer")}) {
		t.Errorf("editing ana changed ben's groups: %v", got)
	}
	inv := h.waitGrantsSynced(t, ana.Name, v1alpha1.ReasonGrantsApplied)
	if g := inv.Status.AppliedGrants; g == nil || g.Role != "viewer" || !slices.Equal(g.Groups, []string{group("editor", "viewer"), group("insights", "viewer")}) {
		t.Errorf("ana's appliedGrants: %+v", g)
	}

	// Drift made by hand is repaired at the next resync.
	b.removeByHand(t, "ben@globex.example", group("insights", "viewer"))
	h.clock.Step(h.cfg.IdentityBackend.ResyncInterval.Duration + time.Second)
	h.eventually(t, "ben's membership restored by the resync", func() bool {
		return slices.Equal(b.groupsOf(t, "ben@globex.example"), []string{group("insights", "viewer")})
	})

	// Ben is removed from the account: his invitation goes, and his grants.
	ben := h.invitationOf(t, "ben@globex.example")
	h.editAccount(t, func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users = slices.DeleteFunc(a.Spec.Users, func(u v1alpha1.PartnerUser) bool { return u.Email == "ben@globex.example" })
	})
	h.eventually(t, "ben's invitation deleted and his grants revoked", func() bool {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: h.ns, Name: ben.Name}, &v1alpha1.PartnerInvitation{})
		return apierrors.IsNotFound(err) && b.groupsOf(t, "ben@globex.example") == nil
	})

	// The account is deleted: every grant goes, then the account.
	if err := env.Client.Delete(ctx, h.account(t)); err != nil {
		t.Fatal(err)
	}
	h.eventuallyWithin(t, time.Minute, "the account gone", func() bool {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: h.ns, Name: "globex"}, &v1alpha1.PartnerAccount{})
		return apierrors.IsNotFound(err)
	})
	h.eventually(t, "nothing of partnerops's left in the backend", func() bool { return len(b.ours(t)) == 0 })
	if left := b.ours(t); len(left) != 0 {
		t.Errorf("left in the backend: %v", left)
	}
	if diff := b.unrelatedIntact(t); diff != "" {
		t.Errorf("an unrelated user or membership changed: %s", diff)
	}
}

// harness runs one manager for one test namespace.
type harness struct {
	ns     string
	cfg    *opconfig.Config
	clock  *clocktesting.FakeClock
	client *http.Client
}

func start(t *testing.T, mp *mailpit.Server, b backendPeer) *harness {
	t.Helper()
	return startIn(t, mp, b, env.Namespace(t), true)
}

// startIn runs the manager over ns (and the namespaces more, which its
// cache watches too); annotate sets the namespace's display name (a test
// that applied its own namespace leaves it as applied).
func startIn(t *testing.T, mp *mailpit.Server, b backendPeer, ns string, annotate bool, more ...string) *harness {
	t.Helper()
	cfg, err := opconfig.Load(testenv.RepoRoot() + "/config/dev/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SecretNamespace = secretNamespace
	cfg.RateLimits.EmailsPerSecond = 1000
	cfg.RateLimits.EmailsPerNamespacePerHour = 100000
	cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.Security = mp.SMTPHost, mp.SMTPPort, opconfig.SMTPSecurityNone
	cfg.SMTP.CredentialsSecret = nil
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cfg.Acceptance.BindAddress, cfg.Acceptance.PublicURL = addr, "http://"+addr
	cfg.Acceptance.PartnerHubURL = "http://127.0.0.1:1/hub" // never followed
	b.configure(t, cfg)

	h := &harness{ns: ns, cfg: cfg, clock: clocktesting.NewFakeClock(time.Now()),
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if annotate {
		nsObj := &corev1.Namespace{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Name: h.ns}, nsObj); err != nil {
			t.Fatal(err)
		}
		nsObj.Annotations = map[string]string{v1alpha1.DisplayNameAnnotation: "Acme Corporation"}
		if err := env.Client.Update(context.Background(), nsObj); err != nil {
			t.Fatal(err)
		}
	}
	watched := map[string]cache.Config{h.ns: {}}
	for _, n := range more {
		watched[n] = cache.Config{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, env.Config, manager.Options{
		Config: cfg,
		Scheme: env.Scheme,
		Clock:  h.clock,
		Manager: ctrl.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Cache:                  cache.Options{DefaultNamespaces: watched},
			Controller:             crconfig.Controller{SkipNameValidation: ptr(true)},
		},
	})
	if err != nil {
		cancel()
		t.Fatalf("building the manager: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("the manager stopped with %v", err)
			}
		})
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("the manager's cache did not sync")
	}
	return h
}

func ptr[T any](v T) *T { return &v }

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
	resp, err := h.client.PostForm(h.cfg.Acceptance.PublicURL+"/invitations/accept", url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accepting answered %d, want 303", resp.StatusCode)
	}
}

func (h *harness) account(t *testing.T) *v1alpha1.PartnerAccount {
	t.Helper()
	a := &v1alpha1.PartnerAccount{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: "globex"}, a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (h *harness) editAccount(t *testing.T, f func(*v1alpha1.PartnerAccount)) {
	t.Helper()
	for range 10 {
		a := h.account(t)
		f(a)
		err := env.Client.Update(context.Background(), a)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatal("editing the account: too many conflicts")
}

func (h *harness) invitationOf(t *testing.T, email string) *v1alpha1.PartnerInvitation {
	t.Helper()
	inv := &v1alpha1.PartnerInvitation{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: account.InvitationName("globex", email)}, inv); err != nil {
		t.Fatal(err)
	}
	return inv
}

func (h *harness) waitGrantsSynced(t *testing.T, name, reason string) *v1alpha1.PartnerInvitation {
	t.Helper()
	var inv *v1alpha1.PartnerInvitation
	h.eventually(t, name+" GrantsSynced="+reason, func() bool {
		inv = &v1alpha1.PartnerInvitation{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, inv); err != nil {
			return false
		}
		c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionGrantsSynced)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason && c.ObservedGeneration == inv.Generation
	})
	return inv
}

func (h *harness) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	h.eventuallyWithin(t, 30*time.Second, what, cond)
}

func (h *harness) eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
		// The controllers' queues run on the fake clock: let their
		// retries (backoff after a conflict, say) come due.
		h.clock.Step(time.Second)
	}
}

// scimBackend is the SCIM 2.0 server (SCIMMY), read over HTTP.
type scimBackend struct {
	srv      *scimpeer.Server
	outsider scimpeer.User
}

func (s *scimBackend) configure(t *testing.T, cfg *opconfig.Config) {
	name := "scim-token-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	createSecret(t, name, map[string]string{"token": s.srv.Token})
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

func (l *ldapBackend) configure(t *testing.T, cfg *opconfig.Config) {
	name := "ldap-bind-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	createSecret(t, name, map[string]string{"password": l.srv.RootPassword})
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

func createSecret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretNamespace, Name: name}, StringData: data}
	if err := env.Client.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), sec) })
}
