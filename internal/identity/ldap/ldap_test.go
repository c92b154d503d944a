package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/ldap"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

// startWithBackend starts a slapd for the test and returns it with a
// backend on it (see backend).
func startWithBackend(t *testing.T) (*slapd.Server, *ldap.Backend) {
	t.Helper()
	s := slapd.Start(t)
	return s, backend(t, s)
}

// backend returns a Backend on s bound as the root DN, creating groups,
// with changes applied by the options.
func backend(t *testing.T, s *slapd.Server, opts ...func(*ldap.Config)) *ldap.Backend {
	t.Helper()
	cfg := ldap.Config{
		URL:          s.URL,
		BindDN:       slapd.RootDN,
		Password:     func(context.Context) (string, error) { return s.RootPassword, nil },
		UserBaseDN:   slapd.PeopleDN,
		GroupBaseDN:  slapd.GroupsDN,
		CreateGroups: true,
		// Short, so that a test about an unreachable server ends soon.
		DialTimeout:    5 * time.Second,
		RequestTimeout: 10 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	b, err := ldap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func ensure(t *testing.T, b *ldap.Backend, email string) identity.User {
	t.Helper()
	u, err := b.EnsureUser(t.Context(), identity.NewUser{Email: email, DisplayName: "Zoë Partner", Account: "Acme Partners"})
	if err != nil {
		t.Fatalf("EnsureUser(%q): %v", email, err)
	}
	return u
}

func members(t *testing.T, s *slapd.Server, group string) []string {
	t.Helper()
	e, ok := s.Entry(t, "cn="+group+","+slapd.GroupsDN)
	if !ok {
		return nil
	}
	return e.Get("member")
}

func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func TestEnsureUserCreatesMarkedUser(t *testing.T) {
	s, b := startWithBackend(t)
	ctx := t.Context()

	_, err := b.FindUser(ctx, "zoe@partner.example")
	wantIs(t, err, identity.ErrNotFound)

	u := ensure(t, b, "Zoe@Partner.example")
	wantDN := "uid=Zoe@Partner.example," + slapd.PeopleDN
	if u.ID != wantDN || u.Email != "Zoe@Partner.example" || !u.Managed {
		t.Fatalf("EnsureUser = %+v, want ID %s, Managed", u, wantDN)
	}
	e, ok := s.Entry(t, wantDN)
	if !ok {
		t.Fatalf("%s not in the directory", wantDN)
	}
	for attr, want := range map[string]string{
		"objectClass": "inetOrgPerson", "uid": "Zoe@Partner.example", "mail": "Zoe@Partner.example",
		"cn": "Zoë Partner", "sn": "Zoë Partner", "o": "Acme Partners", "description": ldap.Mark,
	} {
		if !e.Has(attr, want) {
			t.Errorf("%s: %s = %q, want %q among them", wantDN, attr, e.Get(attr), want)
		}
	}

	// Again, in another case: the same user, nothing added.
	again, err := b.EnsureUser(ctx, identity.NewUser{Email: "zoe@partner.EXAMPLE"})
	if err != nil || again != u {
		t.Fatalf("EnsureUser again = %+v, %v; want %+v", again, err, u)
	}
	found, err := b.FindUser(ctx, "ZOE@partner.example")
	if err != nil || found != u {
		t.Fatalf("FindUser = %+v, %v; want %+v", found, err, u)
	}
	if n := len(s.Search(t, slapd.PeopleDN, "(mail=zoe@partner.example)")); n != 1 {
		t.Errorf("%d entries with the mail, want 1", n)
	}

	// No display name: the email stands in for cn and sn.
	u2 := func() identity.User {
		u, err := b.EnsureUser(ctx, identity.NewUser{Email: "nameless@partner.example"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}()
	e2, _ := s.Entry(t, u2.ID)
	if !e2.Has("cn", "nameless@partner.example") || !e2.Has("sn", "nameless@partner.example") || len(e2.Get("o")) != 0 {
		t.Errorf("nameless user: %+v", e2.Attrs)
	}
}

// With trustMailAttribute, a user that was there before partnerops is found
// by mail and used as it is.
func TestEnsureUserFindsPreExistingUser(t *testing.T) {
	s := slapd.Start(t)
	dn := s.AddUser(t, "alice", "Alice@Example.com", "description", "hired 2019")
	b := backend(t, s, trustMail)

	u := ensure(t, b, "alice@example.com")
	if u.ID != dn || u.Managed || u.Email != "Alice@Example.com" {
		t.Fatalf("EnsureUser = %+v, want the existing %s, not Managed, with the stored mail", u, dn)
	}
	if _, ok := s.Entry(t, "uid=alice@example.com,"+slapd.PeopleDN); ok {
		t.Error("a second entry was created")
	}
	e, _ := s.Entry(t, dn)
	if got := e.Get("description"); len(got) != 1 || got[0] != "hired 2019" {
		t.Errorf("the existing user's description changed: %q", got)
	}
	// A pre-existing user is never deleted.
	err := b.DeleteUser(t.Context(), u)
	wantIs(t, err, identity.ErrRejected)
	if _, ok := s.Entry(t, dn); !ok {
		t.Fatal("DeleteUser removed a user partnerops did not create")
	}
}

func TestFindUserConflict(t *testing.T) {
	s := slapd.Start(t)
	a := s.AddUser(t, "bob1", "bob@example.com")
	c := s.AddUser(t, "bob2", "BOB@example.com")
	b := backend(t, s, trustMail)

	_, err := b.FindUser(t.Context(), "bob@example.com")
	wantIs(t, err, identity.ErrConflict)
	if !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), c) {
		t.Errorf("the message names neither DN: %v", err)
	}
	_, err = b.EnsureUser(t.Context(), identity.NewUser{Email: "bob@example.com"})
	wantIs(t, err, identity.ErrConflict)
}

func TestEnsureUserDNTakenByAnotherEntry(t *testing.T) {
	s := slapd.Start(t)
	// uid=carol@example.com exists, with another mail.
	s.Add(t, slapd.LDIFEntry("uid=carol@example.com,"+slapd.PeopleDN, "objectClass", "inetOrgPerson",
		"uid", "carol@example.com", "cn", "c", "sn", "c", "mail", "carol@elsewhere.example"))
	for name, opt := range map[string]func(*ldap.Config){"default": func(*ldap.Config) {}, "trustMailAttribute": trustMail} {
		t.Run(name, func(t *testing.T) {
			b := backend(t, s, opt)
			_, err := b.EnsureUser(t.Context(), identity.NewUser{Email: "carol@example.com"})
			wantIs(t, err, identity.ErrConflict)
			if !strings.Contains(err.Error(), "uid=carol@example.com,"+slapd.PeopleDN) {
				t.Errorf("the message does not name the DN: %v", err)
			}
		})
	}
}

// Several managers (each its own connection) ensuring the same user at
// once end with one entry: an add that finds it already exists finds it
// again.
func TestEnsureUserConcurrently(t *testing.T) {
	s := slapd.Start(t)
	const n = 6
	var wg sync.WaitGroup
	users := make([]identity.User, n)
	errs := make([]error, n)
	for i := range n {
		b := backend(t, s)
		wg.Go(func() {
			users[i], errs[i] = b.EnsureUser(t.Context(), identity.NewUser{Email: "race@example.com"})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || users[i] != users[0] {
			t.Errorf("call %d: %+v, %v; call 0: %+v", i, users[i], errs[i], users[0])
		}
	}
	if got := s.Search(t, slapd.PeopleDN, "(mail=race@example.com)"); len(got) != 1 {
		t.Errorf("%d entries, want 1", len(got))
	}
}

// Several managers adding members to a group that does not exist yet: one
// creates it, the others find it created and add their member to it.
func TestAddMemberConcurrently(t *testing.T) {
	s := slapd.Start(t)
	const n = 6
	users := make([]identity.User, n)
	backends := make([]*ldap.Backend, n)
	for i := range n {
		backends[i] = backend(t, s)
		users[i] = ensure(t, backends[i], fmt.Sprintf("user%d@partner.example", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = backends[i].AddMember(t.Context(), "crowded", users[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("AddMember %d: %v", i, err)
		}
	}
	if got := members(t, s, "crowded"); len(got) != n {
		t.Errorf("%d members, want %d: %q", len(got), n, got)
	}
}

func TestNonASCIIEmailRejected(t *testing.T) {
	_, b := startWithBackend(t)
	// mail is an IA5String (ASCII) in the standard schema.
	_, err := b.EnsureUser(t.Context(), identity.NewUser{Email: "zoë@exämple.com"})
	wantIs(t, err, identity.ErrRejected)
	t.Log(err)
}

// Emails built to break out of a DN (the default's read by DN) or a filter
// (trustMailAttribute's search by mail) find nobody else and make one entry
// directly under the user base DN.
func TestHostileEmails(t *testing.T) {
	for name, opt := range map[string]func(*ldap.Config){"default": func(*ldap.Config) {}, "trustMailAttribute": trustMail} {
		t.Run(name, func(t *testing.T) { testHostileEmails(t, opt) })
	}
}

func testHostileEmails(t *testing.T, opt func(*ldap.Config)) {
	s := slapd.Start(t)
	s.AddUser(t, "other1", "other1@example.com")
	s.AddUser(t, "other2", "other2@example.com")
	b := backend(t, s, opt)
	ctx := t.Context()

	for _, email := range []string{
		"*", "*)(uid=*", "x)(|(mail=*)", `a,ou=admins+cn=root\5c"<x>;@example.com`, "#lead@example.com", "tab\there@example.com",
	} {
		t.Run(fmt.Sprintf("%q", email), func(t *testing.T) {
			// Before: a wildcard or an injected clause would find the others.
			_, err := b.FindUser(ctx, email)
			wantIs(t, err, identity.ErrNotFound)

			u := ensure(t, b, email)
			e, ok := s.Entry(t, u.ID)
			if !ok {
				t.Fatalf("%q not in the directory", u.ID)
			}
			if !e.Has("uid", email) || !e.Has("mail", email) {
				t.Errorf("entry %q: uid %q, mail %q; want %q", u.ID, e.Get("uid"), e.Get("mail"), email)
			}
			// Directly under ou=people: no injected RDN.
			under := s.Search(t, slapd.PeopleDN, "(objectClass=inetOrgPerson)")
			found := false
			for _, x := range under {
				if x.DN == u.ID {
					found = true
				}
			}
			if !found || !strings.HasSuffix(u.ID, ","+slapd.PeopleDN) {
				t.Errorf("%q is not one of the people", u.ID)
			}
			got, err := b.FindUser(ctx, email)
			if err != nil || got != u {
				t.Errorf("FindUser = %+v, %v; want %+v", got, err, u)
			}

			// Its DN, with its specials, works as a member and in a filter.
			if err := b.AddMember(ctx, "hostile", u); err != nil {
				t.Fatal(err)
			}
			gs, err := b.Groups(ctx, u)
			if err != nil || len(gs) != 1 || gs[0] != "hostile" {
				t.Errorf("Groups = %q, %v", gs, err)
			}
			if err := b.RemoveMember(ctx, "hostile", u); err != nil {
				t.Fatal(err)
			}
			if err := b.DeleteUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := len(s.Search(t, slapd.PeopleDN, "(objectClass=inetOrgPerson)")); n != 2 {
		t.Errorf("%d people left, want the 2 others", n)
	}
}

func TestMembership(t *testing.T) {
	s, b := startWithBackend(t)
	ctx := t.Context()
	zoe := ensure(t, b, "zoe@partner.example")
	max := ensure(t, b, "max@partner.example")
	const group = "ns1.editor.crm"
	gdn := "cn=" + group + "," + slapd.GroupsDN

	// The group is created with zoe, marked as partnerops's.
	for range 2 {
		if err := b.AddMember(ctx, group, zoe); err != nil {
			t.Fatal(err)
		}
	}
	g, ok := s.Entry(t, gdn)
	if !ok {
		t.Fatalf("%s not created", gdn)
	}
	if !g.Has("objectClass", "groupOfNames") || !g.Has("cn", group) || !g.Has("description", ldap.Mark) {
		t.Errorf("group: %+v", g.Attrs)
	}
	if got := g.Get("member"); len(got) != 1 || got[0] != zoe.ID {
		t.Errorf("members = %q, want [%s]", got, zoe.ID)
	}

	if err := b.AddMember(ctx, group, max); err != nil {
		t.Fatal(err)
	}
	if err := b.AddMember(ctx, "ns1.viewer.crm", zoe); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Groups(ctx, zoe); err != nil || strings.Join(got, ",") != "ns1.editor.crm,ns1.viewer.crm" {
		t.Errorf("Groups(zoe) = %q, %v", got, err)
	}
	if got, err := b.Groups(ctx, max); err != nil || strings.Join(got, ",") != group {
		t.Errorf("Groups(max) = %q, %v", got, err)
	}

	// Removing is idempotent; the group stays while it has members.
	for range 2 {
		if err := b.RemoveMember(ctx, group, zoe); err != nil {
			t.Fatal(err)
		}
	}
	if got := members(t, s, group); len(got) != 1 || got[0] != max.ID {
		t.Errorf("members = %q, want [%s]", got, max.ID)
	}
	// The last member leaves a group partnerops created: it is deleted.
	if err := b.RemoveMember(ctx, group, max); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Entry(t, gdn); ok {
		t.Errorf("%s still there after its last member left", gdn)
	}
	// A missing group or membership is success.
	if err := b.RemoveMember(ctx, group, max); err != nil {
		t.Errorf("RemoveMember from a missing group: %v", err)
	}
	if got, err := b.Groups(ctx, max); err != nil || len(got) != 0 {
		t.Errorf("Groups(max) = %q, %v; want none", got, err)
	}

	// DeleteUser, then again.
	for range 2 {
		if err := b.DeleteUser(ctx, max); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.Entry(t, max.ID); ok {
		t.Error("max still there")
	}
}

func TestAddMemberWithoutCreateGroups(t *testing.T) {
	s := slapd.Start(t)
	b := backend(t, s, func(c *ldap.Config) { c.CreateGroups = false })
	u := ensure(t, b, "zoe@partner.example")

	err := b.AddMember(t.Context(), "missing", u)
	wantIs(t, err, identity.ErrGroupNotFound)
	if !strings.Contains(err.Error(), "cn=missing,"+slapd.GroupsDN) {
		t.Errorf("the message does not name the group's DN: %v", err)
	}
	if _, ok := s.Entry(t, "cn=missing,"+slapd.GroupsDN); ok {
		t.Error("the group was created")
	}

	// An existing group is used.
	other := s.AddUser(t, "staff1", "staff1@example.com")
	s.AddGroup(t, "existing", other)
	if err := b.AddMember(t.Context(), "existing", u); err != nil {
		t.Fatal(err)
	}
	if got := members(t, s, "existing"); len(got) != 2 {
		t.Errorf("members = %q", got)
	}
}

func TestAddMemberToNonGroup(t *testing.T) {
	s, b := startWithBackend(t)
	u := ensure(t, b, "zoe@partner.example")
	// cn=taken is an organizationalRole: no member attribute allowed.
	s.Add(t, slapd.LDIFEntry("cn=taken,"+slapd.GroupsDN, "objectClass", "organizationalRole", "cn", "taken"))
	err := b.AddMember(t.Context(), "taken", u)
	wantIs(t, err, identity.ErrConflict)
	t.Log(err)
}

// A group and a user that were there before partnerops keep everything
// that is not partnerops's.
func TestPreExistingEntriesUntouched(t *testing.T) {
	s := slapd.Start(t)
	bob := s.AddUser(t, "bob", "bob@example.com")
	carol := s.AddUser(t, "carol", "carol@example.com")
	staff := s.AddGroup(t, "staff", bob, carol)
	b := backend(t, s)
	ctx := t.Context()
	zoe := ensure(t, b, "zoe@partner.example")

	if err := b.AddMember(ctx, "staff", zoe); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveMember(ctx, "staff", zoe); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteUser(ctx, zoe); err != nil {
		t.Fatal(err)
	}
	g, ok := s.Entry(t, staff)
	if !ok {
		t.Fatal("staff deleted")
	}
	if got := g.Get("member"); len(got) != 2 || got[0] != bob || got[1] != carol {
		t.Errorf("staff members = %q, want bob and carol", got)
	}
	if len(g.Get("description")) != 0 {
		t.Errorf("staff got a description: %q", g.Get("description"))
	}
	for _, dn := range []string{bob, carol} {
		if _, ok := s.Entry(t, dn); !ok {
			t.Errorf("%s gone", dn)
		}
	}
	bobUser, err := backend(t, s, trustMail).FindUser(ctx, "bob@example.com")
	if err != nil || bobUser.Managed {
		t.Fatalf("FindUser(bob) = %+v, %v", bobUser, err)
	}
	if got, err := b.Groups(ctx, bobUser); err != nil || len(got) != 1 || got[0] != "staff" {
		t.Errorf("Groups(bob) = %q, %v", got, err)
	}
}

func TestRemoveLastMemberOfForeignGroup(t *testing.T) {
	s, b := startWithBackend(t)
	ctx := t.Context()
	zoe := ensure(t, b, "zoe@partner.example")
	// An administrator's group whose only member is partnerops's user.
	team := s.AddGroup(t, "team", zoe.ID)

	err := b.RemoveMember(ctx, "team", zoe)
	wantIs(t, err, identity.ErrRejected)
	if !strings.Contains(err.Error(), team) || !strings.Contains(err.Error(), "last member") {
		t.Errorf("unclear message: %v", err)
	}
	if got := members(t, s, "team"); len(got) != 1 || got[0] != zoe.ID {
		t.Errorf("team members = %q, want zoe still", got)
	}

	// With a placeholder configured, it takes the user's place atomically.
	const placeholder = "cn=nobody," + slapd.Suffix
	bp := backend(t, s, func(c *ldap.Config) { c.PlaceholderMember = placeholder })
	if err := bp.RemoveMember(ctx, "team", zoe); err != nil {
		t.Fatal(err)
	}
	if got := members(t, s, "team"); len(got) != 1 || got[0] != placeholder {
		t.Errorf("team members = %q, want the placeholder", got)
	}
	if _, ok := s.Entry(t, team); !ok {
		t.Error("team deleted")
	}
}

func TestWrongPassword(t *testing.T) {
	s := slapd.Start(t)
	const wrong = "not-the-password-7f3a"
	b := backend(t, s, func(c *ldap.Config) {
		c.Password = func(context.Context) (string, error) { return wrong, nil }
	})
	_, err := b.FindUser(t.Context(), "zoe@partner.example")
	wantIs(t, err, identity.ErrUnauthorized)
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), slapd.RootDN) {
		t.Errorf("the error does not name the bind DN: %v", err)
	}
	t.Log(err)

	// The password source's own error comes back wrapped, as unauthorized
	// (like a SCIM token Secret that cannot be read: the alert on
	// unavailable or unauthorized calls sees it).
	boom := errors.New("secret partnerops/ldap-bind not found")
	b2 := backend(t, s, func(c *ldap.Config) {
		c.Password = func(context.Context) (string, error) { return "", boom }
	})
	_, err = b2.FindUser(t.Context(), "zoe@partner.example")
	wantIs(t, err, boom)
	wantIs(t, err, identity.ErrUnauthorized)

	// An empty password is not sent (it would be an unauthenticated bind).
	b3 := backend(t, s, func(c *ldap.Config) {
		c.Password = func(context.Context) (string, error) { return "", nil }
	})
	_, err = b3.FindUser(t.Context(), "zoe@partner.example")
	wantIs(t, err, identity.ErrUnauthorized)
}

func TestInsufficientAccess(t *testing.T) {
	s := slapd.Start(t)
	// A user who may bind and read, not write.
	reader := s.AddUser(t, "reader", "", "userPassword", "reader-pw")
	b := backend(t, s, func(c *ldap.Config) {
		c.BindDN = reader
		c.Password = func(context.Context) (string, error) { return "reader-pw", nil }
	})
	_, err := b.FindUser(t.Context(), "zoe@partner.example")
	wantIs(t, err, identity.ErrNotFound)
	_, err = b.EnsureUser(t.Context(), identity.NewUser{Email: "zoe@partner.example"})
	wantIs(t, err, identity.ErrUnauthorized)
	if !strings.Contains(err.Error(), "uid=zoe@partner.example,"+slapd.PeopleDN) {
		t.Errorf("the error does not name the DN: %v", err)
	}
	t.Log(err)
}

func TestPasswordRotation(t *testing.T) {
	s := slapd.Start(t)
	svc := s.AddUser(t, "svc", "", "userPassword", "old-pw")
	var pw atomic.Value
	pw.Store("old-pw")
	b := backend(t, s, func(c *ldap.Config) {
		c.BindDN = svc
		c.Password = func(context.Context) (string, error) { return pw.Load().(string), nil }
	})
	ctx := t.Context()
	if _, err := b.FindUser(ctx, "x@example.com"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal(err)
	}
	// The Secret and the directory change: the next call binds again with
	// the new password, no restart.
	s.Modify(t, "dn: "+svc+"\nchangetype: modify\nreplace: userPassword\nuserPassword: new-pw\n")
	pw.Store("new-pw")
	if _, err := b.FindUser(ctx, "x@example.com"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("after rotation: %v", err)
	}
	if !strings.Contains(s.Log(), `BIND dn="uid=svc,ou=people,dc=example,dc=com" method=128`) {
		t.Fatal("no bind in slapd's log")
	}
	if n := strings.Count(s.Log(), `BIND dn="uid=svc,ou=people,dc=example,dc=com" method=128`); n != 2 {
		t.Errorf("%d binds, want 2 (one per password)", n)
	}
	// A stale password is refused.
	pw.Store("old-pw")
	_, err := b.FindUser(ctx, "x@example.com")
	wantIs(t, err, identity.ErrUnauthorized)
}

func TestConnectionReused(t *testing.T) {
	s, b := startWithBackend(t)
	ctx := t.Context()
	before := len(s.Log())
	u := ensure(t, b, "zoe@partner.example")
	for range 5 {
		if _, err := b.Groups(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(s.Log()[before:], "ACCEPT from IP=127.0.0.1"); n != 1 {
		t.Errorf("%d connections for 7 calls, want 1 kept by the driver", n)
	}
}

func TestServerStoppedAndRestarted(t *testing.T) {
	s, b := startWithBackend(t)
	ctx := t.Context()
	u := ensure(t, b, "zoe@partner.example")

	// A restart cuts the kept connection: the next call reconnects without
	// the caller seeing it.
	s.Restart(t)
	if got, err := b.FindUser(ctx, "zoe@partner.example"); err != nil || got != u {
		t.Fatalf("after a restart: %+v, %v", got, err)
	}

	s.Stop()
	for _, call := range []func() error{
		func() error { _, err := b.FindUser(ctx, "zoe@partner.example"); return err },
		func() error { return b.AddMember(ctx, "g", u) },
		func() error { return b.RemoveMember(ctx, "g", u) },
		func() error { _, err := b.Groups(ctx, u); return err },
		func() error { return b.DeleteUser(ctx, u) },
	} {
		err := call()
		wantIs(t, err, identity.ErrUnavailable)
		if !strings.Contains(err.Error(), s.URL) {
			t.Errorf("the error does not name the server: %v", err)
		}
	}

	s.Restart(t)
	if err := b.AddMember(ctx, "g", u); err != nil {
		t.Fatalf("after the server came back: %v", err)
	}
}

// A server that accepts connections and never answers: the call's
// deadline ends it, as ErrUnavailable.
func TestDeadline(t *testing.T) {
	addr := peer.RawServer(t, nil) // accepts, never answers
	b, err := ldap.New(ldap.Config{
		URL:         "ldap://" + addr.String(),
		BindDN:      slapd.RootDN,
		Password:    func(context.Context) (string, error) { return "pw", nil },
		UserBaseDN:  slapd.PeopleDN,
		GroupBaseDN: slapd.GroupsDN,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = b.FindUser(ctx, "zoe@partner.example")
	wantIs(t, err, identity.ErrUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to say the deadline passed", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}

	// A cancelled context ends a call waiting for the connection.
	cctx, ccancel := context.WithCancel(t.Context())
	ccancel()
	_, err = b.FindUser(cctx, "zoe@partner.example")
	wantIs(t, err, identity.ErrUnavailable)
	wantIs(t, err, context.Canceled)
}

func TestTLS(t *testing.T) {
	s := slapd.Start(t)
	ctx := t.Context()
	for name, opt := range map[string]func(*ldap.Config){
		"StartTLS": func(c *ldap.Config) { c.StartTLS, c.RootCAs = true, s.CAPool },
		"LDAPS":    func(c *ldap.Config) { c.URL, c.RootCAs = s.LDAPSURL, s.CAPool },
		"LDAPS with localhost": func(c *ldap.Config) {
			c.URL, c.RootCAs = strings.Replace(s.LDAPSURL, "127.0.0.1", "localhost", 1), s.CAPool
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := backend(t, s, opt)
			u, err := b.EnsureUser(ctx, identity.NewUser{Email: strings.ReplaceAll(strings.ToLower(name), " ", "-") + "@partner.example"})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.AddMember(ctx, "tls", u); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The test CA is not among the system's roots: refused.
	for name, opt := range map[string]func(*ldap.Config){
		"StartTLS":         func(c *ldap.Config) { c.StartTLS = true },
		"LDAPS":            func(c *ldap.Config) { c.URL = s.LDAPSURL },
		"LDAPS wrong name": func(c *ldap.Config) { c.URL, c.RootCAs, c.ServerName = s.LDAPSURL, s.CAPool, "ldap.example.com" },
	} {
		t.Run("untrusted "+name, func(t *testing.T) {
			b := backend(t, s, opt)
			_, err := b.FindUser(ctx, "zoe@partner.example")
			wantIs(t, err, identity.ErrUnavailable)
			if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("the error does not say the certificate is the trouble: %v", err)
			}
		})
	}
}

func TestGroupBaseMissing(t *testing.T) {
	s := slapd.Start(t)
	b := backend(t, s, func(c *ldap.Config) { c.GroupBaseDN = "ou=nowhere," + slapd.Suffix })
	u := ensure(t, b, "zoe@partner.example")
	err := b.AddMember(t.Context(), "g", u)
	wantIs(t, err, identity.ErrRejected)
	if !strings.Contains(err.Error(), "ou=nowhere,"+slapd.Suffix) {
		t.Errorf("the error does not name the base: %v", err)
	}
	_, err = b.Groups(t.Context(), u)
	wantIs(t, err, identity.ErrRejected)
	// A removal must not pass for done either: the record would go, and
	// with it what is to be removed once the base is right.
	err = b.RemoveMember(t.Context(), "g", u)
	wantIs(t, err, identity.ErrRejected)
	if !strings.Contains(err.Error(), "ou=nowhere,"+slapd.Suffix) {
		t.Errorf("the error does not name the base: %v", err)
	}
}
