package scim_test

// The driver against a real, independent SCIM 2.0 service provider: SCIMMY
// and its Express routers (hack/scim-server, run by internal/testpeers/scim).
// These tests need node and the installed server: `make test` (or
// hack/install-peers.sh) installs them; without them they fail saying so.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/scim"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
)

// env is one SCIM server with an unrelated user and membership that exist
// before partnerops, and a driver of it.
type env struct {
	srv *scimpeer.Server
	// hrUser and hrGroup were created by another provisioning client; hrUser
	// is hrGroup's member.
	hrUser  scimpeer.User
	hrGroup scimpeer.Group
}

func newEnv(t *testing.T, opts scimpeer.Options) *env {
	t.Helper()
	srv := scimpeer.StartWith(t, opts)
	e := &env{srv: srv}
	e.hrUser = srv.CreateUser(t, "Ann.Employee@Customer.test", "hr:1001")
	e.hrGroup = srv.CreateGroup(t, "customer.staff", "hr:group:staff", e.hrUser.ID)
	t.Cleanup(func() {
		if !t.Failed() {
			e.checkUntouched(t)
		}
	})
	return e
}

func (e *env) client(t *testing.T, createGroups bool) *scim.Client {
	t.Helper()
	return e.clientAt(t, e.srv.URL, createGroups)
}

// clientAt is a driver of e's server, with its token, reached at baseURL
// (e's server's URL, or a proxy in front of it).
func (e *env) clientAt(t *testing.T, baseURL string, createGroups bool) *scim.Client {
	t.Helper()
	return e.clientWith(t, scim.Config{BaseURL: baseURL, CreateGroups: createGroups})
}

// clientWith is a driver of e's server configured as cfg, with e's
// server's token, a 10s timeout, and e's server's URL unless cfg names one.
func (e *env) clientWith(t *testing.T, cfg scim.Config) *scim.Client {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = e.srv.URL
	}
	cfg.Token = func(context.Context) (string, error) { return e.srv.Token, nil }
	cfg.Timeout = 10 * time.Second
	c, err := scim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkUntouched fails when the pre-existing user or membership changed.
func (e *env) checkUntouched(t *testing.T) {
	t.Helper()
	u, ok := e.srv.User(t, e.hrUser.UserName)
	if !ok || u.ID != e.hrUser.ID || u.ExternalID != "hr:1001" {
		t.Errorf("the pre-existing user changed: %+v (found %v)", u, ok)
	}
	g, ok := e.srv.Group(t, e.hrGroup.DisplayName)
	if !ok || g.ID != e.hrGroup.ID || g.ExternalID != "hr:group:staff" || !slices.Contains(g.MemberIDs(), e.hrUser.ID) {
		t.Errorf("the pre-existing group changed: %+v (found %v)", g, ok)
	}
}

// mustJoin ensures the user email and adds it to group.
func mustJoin(t *testing.T, c *scim.Client, group, email string) identity.User {
	t.Helper()
	u := mustEnsure(t, c, email)
	if err := c.AddMember(t.Context(), group, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// joinAndLeave ensures the user email, adds it to group and removes it
// again.
func joinAndLeave(t *testing.T, c *scim.Client, group, email string) identity.User {
	t.Helper()
	u := mustJoin(t, c, group, email)
	if err := c.RemoveMember(t.Context(), group, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func mustEnsure(t *testing.T, c *scim.Client, email string) identity.User {
	t.Helper()
	u, err := c.EnsureUser(t.Context(), identity.NewUser{Email: email, DisplayName: "Partner " + email, Account: "Acme Partners"})
	if err != nil {
		t.Fatalf("EnsureUser(%s): %v", email, err)
	}
	return u
}

func TestSCIMMYEnsureUser(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	c := e.client(t, false)
	ctx := t.Context()

	if _, err := c.FindUser(ctx, "zoe@partner.test"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("FindUser before: %v, want ErrNotFound", err)
	}
	zoe := mustEnsure(t, c, "zoe@partner.test")
	if zoe.ID == "" || zoe.Email != "zoe@partner.test" || !zoe.Managed {
		t.Fatalf("EnsureUser = %+v, want a managed user", zoe)
	}
	// What the server holds.
	got, ok := e.srv.User(t, "zoe@partner.test")
	if !ok {
		t.Fatal("the server has no zoe@partner.test")
	}
	if got.ID != zoe.ID || !strings.HasPrefix(got.ExternalID, scim.MarkPrefix) || got.DisplayName != "Partner zoe@partner.test" ||
		got.Active == nil || !*got.Active || len(got.Emails) != 1 || got.Emails[0] != (scimpeer.Value{Value: "zoe@partner.test", Type: "work", Primary: true}) ||
		got.Enterprise == nil || got.Enterprise.Organization != "Acme Partners" {
		t.Errorf("the server holds %+v", got)
	}

	// Again, and in another case: the same user, no second one.
	for _, email := range []string{"zoe@partner.test", "ZOE@Partner.Test"} {
		again := mustEnsure(t, c, email)
		if again != zoe {
			t.Errorf("EnsureUser(%s) = %+v, want %+v", email, again, zoe)
		}
		if found, err := c.FindUser(ctx, email); err != nil || found != zoe {
			t.Errorf("FindUser(%s) = %+v, %v", email, found, err)
		}
	}
	if n := len(e.srv.Users(t)); n != 2 {
		t.Errorf("the server has %d users, want 2 (the pre-existing one and zoe)", n)
	}

	// A user created by someone else is found, and is not partnerops's.
	ann := mustEnsure(t, c, "ann.employee@customer.test")
	if ann.ID != e.hrUser.ID || ann.Managed || ann.Email != e.hrUser.UserName {
		t.Errorf("EnsureUser(pre-existing) = %+v, want id %s, not managed", ann, e.hrUser.ID)
	}

	// Characters that mean something in a URL reach the filter intact.
	odd := "o'brien+tag&x=1%25@partner.test"
	u := mustEnsure(t, c, odd)
	if found, err := c.FindUser(ctx, odd); err != nil || found.ID != u.ID {
		t.Errorf("FindUser(%s) = %+v, %v; want %s", odd, found, err, u.ID)
	}
	if _, err := c.FindUser(ctx, "o'brien+tag@partner.test"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("FindUser(a prefix of %s): %v, want ErrNotFound", odd, err)
	}
}

// Two operators racing to create the same user end with one user.
func TestSCIMMYEnsureUserConcurrent(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	var wg sync.WaitGroup
	ids := make([]string, 6)
	for i := range ids {
		c := e.client(t, false) // separate clients: no shared lock
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := c.EnsureUser(t.Context(), identity.NewUser{Email: "race@partner.test"})
			if err != nil {
				t.Errorf("EnsureUser: %v", err)
			}
			ids[i] = u.ID
		}()
	}
	wg.Wait()
	distinct := slices.Clone(ids)
	slices.Sort(distinct)
	if distinct = slices.Compact(distinct); len(distinct) != 1 || distinct[0] == "" {
		t.Errorf("ids %q, want one", ids)
	}
	n := 0
	for _, u := range e.srv.Users(t) {
		if u.UserName == "race@partner.test" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d users race@partner.test on the server", n)
	}
}

func TestSCIMMYMembership(t *testing.T) {
	for _, opts := range []scimpeer.Options{
		{},                                   // User.groups returned
		{NoUserGroups: true, MaxPageSize: 2}, // Groups found by members.value, in pages of 2
	} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			e := newEnv(t, opts)
			c := e.client(t, true)
			ctx := t.Context()
			zoe := mustEnsure(t, c, "zoe@partner.test")
			mia := mustEnsure(t, c, "mia@partner.test")

			const crm = "ns1.admin.crm"
			// Created with zoe in it, marked as partnerops's; twice is once.
			for range 2 {
				if err := c.AddMember(ctx, crm, zoe); err != nil {
					t.Fatalf("AddMember(%s, zoe): %v", crm, err)
				}
			}
			g, ok := e.srv.Group(t, crm)
			if !ok || !strings.HasPrefix(g.ExternalID, scim.MarkPrefix) || !slices.Equal(g.MemberIDs(), []string{zoe.ID}) {
				t.Fatalf("group %s = %+v (found %v), want partnerops's with zoe only", crm, g, ok)
			}
			if err := c.AddMember(ctx, strings.ToUpper(crm), mia); err != nil { // names compare without case
				t.Fatal(err)
			}
			// A group partnerops did not create takes partnerops's users too.
			if err := c.AddMember(ctx, e.hrGroup.DisplayName, zoe); err != nil {
				t.Fatal(err)
			}
			// Enough groups to need several pages.
			var many []string
			for i := range 5 {
				name := fmt.Sprintf("ns1.viewer.sys%d", i)
				many = append(many, name)
				if err := c.AddMember(ctx, name, zoe); err != nil {
					t.Fatal(err)
				}
			}

			want := append([]string{crm, e.hrGroup.DisplayName}, many...)
			slices.Sort(want)
			if got, err := c.Groups(ctx, zoe); err != nil || !slices.Equal(got, want) {
				t.Errorf("Groups(zoe) = %q, %v; want %q", got, err, want)
			}
			if got, err := c.Groups(ctx, mia); err != nil || !slices.Equal(got, []string{crm}) {
				t.Errorf("Groups(mia) = %q, %v; want [%s]", got, err, crm)
			}
			if got, err := c.Groups(ctx, identity.User{ID: e.hrUser.ID}); err != nil || !slices.Equal(got, []string{e.hrGroup.DisplayName}) {
				t.Errorf("Groups(pre-existing user) = %q, %v", got, err)
			}

			// Remove: twice is once; the group stays while mia is in it.
			for range 2 {
				if err := c.RemoveMember(ctx, crm, zoe); err != nil {
					t.Fatalf("RemoveMember(%s, zoe): %v", crm, err)
				}
			}
			if g, ok := e.srv.Group(t, crm); !ok || !slices.Equal(g.MemberIDs(), []string{mia.ID}) {
				t.Errorf("after removing zoe, group %s = %+v (found %v), want mia only", crm, g, ok)
			}
			// The last member out: partnerops's group goes.
			if err := c.RemoveMember(ctx, crm, mia); err != nil {
				t.Fatal(err)
			}
			if g, ok := e.srv.Group(t, crm); ok {
				t.Errorf("group %s is still there, empty: %+v", crm, g)
			}
			// Removing from a missing group is success.
			if err := c.RemoveMember(ctx, crm, mia); err != nil {
				t.Errorf("RemoveMember from a missing group: %v", err)
			}
			// Someone else's group keeps its members, and is never deleted.
			if err := c.RemoveMember(ctx, e.hrGroup.DisplayName, zoe); err != nil {
				t.Fatal(err)
			}
			if g, ok := e.srv.Group(t, e.hrGroup.DisplayName); !ok || !slices.Equal(g.MemberIDs(), []string{e.hrUser.ID}) {
				t.Errorf("pre-existing group after removing zoe = %+v (found %v)", g, ok)
			}
			want = slices.Clone(many)
			if got, err := c.Groups(ctx, zoe); err != nil || !slices.Equal(got, want) {
				t.Errorf("Groups(zoe) = %q, %v; want %q", got, err, want)
			}
			if got, err := c.Groups(ctx, mia); err != nil || len(got) != 0 {
				t.Errorf("Groups(mia) = %q, %v; want none", got, err)
			}
		})
	}
}

// Without createGroups, a missing group is an error for an administrator,
// and nothing is created.
func TestSCIMMYAddMemberWithoutCreateGroups(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	c := e.client(t, false)
	zoe := mustEnsure(t, c, "zoe@partner.test")
	err := c.AddMember(t.Context(), "ns1.admin.crm", zoe)
	if !errors.Is(err, identity.ErrGroupNotFound) {
		t.Fatalf("AddMember: %v, want ErrGroupNotFound", err)
	}
	if !strings.Contains(err.Error(), "ns1.admin.crm") {
		t.Errorf("error %q does not name the group", err)
	}
	if _, ok := e.srv.Group(t, "ns1.admin.crm"); ok {
		t.Error("the group was created")
	}
	// An existing group is fine.
	if err := c.AddMember(t.Context(), e.hrGroup.DisplayName, zoe); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveMember(t.Context(), e.hrGroup.DisplayName, zoe); err != nil {
		t.Fatal(err)
	}
}

// Concurrent grants of one new group make one group with every member.
func TestSCIMMYAddMemberConcurrent(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	c := e.client(t, true)
	var users []identity.User
	for i := range 5 {
		users = append(users, mustEnsure(t, c, fmt.Sprintf("p%d@partner.test", i)))
	}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.AddMember(t.Context(), "ns1.editor.cms", u); err != nil {
				t.Errorf("AddMember: %v", err)
			}
		}()
	}
	wg.Wait()
	n := 0
	for _, g := range e.srv.Groups(t) {
		if g.DisplayName == "ns1.editor.cms" {
			n++
			if len(g.Members) != len(users) {
				t.Errorf("members %v, want %d", g.MemberIDs(), len(users))
			}
		}
	}
	if n != 1 {
		t.Errorf("%d groups ns1.editor.cms", n)
	}
}

func TestSCIMMYDeleteUser(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	c := e.client(t, true)
	ctx := t.Context()
	zoe := joinAndLeave(t, c, "ns1.admin.crm", "zoe@partner.test")
	for range 2 { // a missing user is success
		if err := c.DeleteUser(ctx, zoe); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
	}
	if _, ok := e.srv.User(t, "zoe@partner.test"); ok {
		t.Error("zoe is still there")
	}
	if _, err := c.FindUser(ctx, "zoe@partner.test"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("FindUser after delete: %v", err)
	}
	if _, err := c.Groups(ctx, zoe); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("Groups of a deleted user: %v, want ErrNotFound", err)
	}
	// A user partnerops did not create is never deleted, even if the caller
	// believes it is managed.
	err := c.DeleteUser(ctx, identity.User{ID: e.hrUser.ID, Email: e.hrUser.UserName, Managed: true})
	if !errors.Is(err, identity.ErrRejected) {
		t.Errorf("DeleteUser(pre-existing): %v, want ErrRejected", err)
	}
}

func TestSCIMMYBadToken(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	const wrong = "not-the-token-at-all"
	c, err := scim.New(scim.Config{
		BaseURL:      e.srv.URL,
		Token:        func(context.Context) (string, error) { return wrong, nil },
		CreateGroups: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	someone := identity.User{ID: e.hrUser.ID, Email: e.hrUser.UserName}
	calls := map[string]func() error{
		"FindUser":     func() error { _, err := c.FindUser(ctx, "zoe@partner.test"); return err },
		"EnsureUser":   func() error { _, err := c.EnsureUser(ctx, identity.NewUser{Email: "zoe@partner.test"}); return err },
		"AddMember":    func() error { return c.AddMember(ctx, "ns1.admin.crm", someone) },
		"RemoveMember": func() error { return c.RemoveMember(ctx, e.hrGroup.DisplayName, someone) },
		"Groups":       func() error { _, err := c.Groups(ctx, someone); return err },
		"DeleteUser":   func() error { return c.DeleteUser(ctx, someone) },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, identity.ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", name, err)
		}
		if err != nil && (strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), e.srv.Token)) {
			t.Errorf("%s: the error holds a token: %v", name, err)
		}
	}
	if n := len(e.srv.Users(t)); n != 1 {
		t.Errorf("%d users on the server, want only the pre-existing one", n)
	}
}

// The server being gone is ErrUnavailable, to retry.
func TestSCIMMYServerDown(t *testing.T) {
	srv := scimpeer.Start(t)
	c, err := scim.New(scim.Config{BaseURL: srv.URL, Token: func(context.Context) (string, error) { return srv.Token, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindUser(t.Context(), "zoe@partner.test"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("FindUser while up: %v", err)
	}
	srv.Stop()
	if _, err := c.FindUser(t.Context(), "zoe@partner.test"); !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("FindUser while down: %v, want ErrUnavailable", err)
	}
}

// With KeepEmptyGroups, a group partnerops created stays when its last
// member goes, still marked as partnerops's.
func TestSCIMMYKeepEmptyGroups(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	c := e.clientWith(t, scim.Config{CreateGroups: true, KeepEmptyGroups: true})
	ctx := t.Context()
	zoe := joinAndLeave(t, c, "ns1.admin.crm", "zoe@partner.test")
	g, ok := e.srv.Group(t, "ns1.admin.crm")
	if !ok || len(g.Members) != 0 || !strings.HasPrefix(g.ExternalID, scim.MarkPrefix) {
		t.Errorf("group after its last member left = %+v (found %v), want it kept, empty and partnerops's", g, ok)
	}
	// It is reused, not created again.
	if err := c.AddMember(ctx, "ns1.admin.crm", zoe); err != nil {
		t.Fatal(err)
	}
	if again, ok := e.srv.Group(t, "ns1.admin.crm"); !ok || again.ID != g.ID || !slices.Equal(again.MemberIDs(), []string{zoe.ID}) {
		t.Errorf("group after adding zoe again = %+v (found %v), want %s with zoe", again, ok, g.ID)
	}
}

// rewriter is a reverse proxy in front of the SCIM server that changes how
// Groups come back, to play service providers that differ from SCIMMY:
// hide drops members from every Group (a provider that never returns
// them); emptyAsList writes an empty group's members as [] (SCIMMY leaves
// the attribute out). It records the requests it forwards.
type rewriter struct {
	hide, emptyAsList bool

	mu       sync.Mutex
	requests []string
}

// clientThrough is a driver (creating groups) of e's server reached
// through rw.
func (e *env) clientThrough(t *testing.T, rw *rewriter) *scim.Client {
	t.Helper()
	return e.clientAt(t, rw.start(t, e.srv.URL), true)
}

func (rw *rewriter) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	proxy.Transport = &http.Transport{Proxy: nil} // loopback only, whatever the environment says
	proxy.ModifyResponse = rw.modify
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw.mu.Lock()
		line := r.Method + " " + strings.TrimPrefix(r.URL.Path, u.Path)
		if f := r.URL.Query().Get("filter"); f != "" {
			line += " filter=" + f
		}
		rw.requests = append(rw.requests, line)
		rw.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

func (rw *rewriter) sent() []string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return slices.Clone(rw.requests)
}

func (rw *rewriter) modify(res *http.Response) error {
	path := res.Request.URL.Path
	if res.StatusCode != http.StatusOK || !strings.Contains(path, "/Groups") {
		return nil
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	fix := func(g map[string]any) {
		if rw.hide {
			delete(g, "members")
		} else if _, ok := g["members"]; !ok && rw.emptyAsList && !strings.HasSuffix(path, "/Groups") {
			g["members"] = []any{}
		}
	}
	if rs, ok := doc["Resources"].([]any); ok {
		for _, r := range rs {
			if g, ok := r.(map[string]any); ok {
				fix(g)
			}
		}
	} else {
		fix(doc)
	}
	if body, err = json.Marshal(doc); err != nil {
		return err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// A provider that never returns a group's members is not saying the group
// is empty: partnerops's group keeps its remaining member. Once it is
// really empty, the provider's filters say so and it goes.
func TestSCIMMYGroupWhoseMembersAreNeverReturned(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	c := e.clientThrough(t, &rewriter{hide: true})
	ctx := t.Context()
	zoe := mustJoin(t, c, "ns1.admin.crm", "zoe@partner.test")
	mia := mustJoin(t, c, "ns1.admin.crm", "mia@partner.test")
	if err := c.RemoveMember(ctx, "ns1.admin.crm", zoe); err != nil {
		t.Fatalf("RemoveMember(zoe): %v", err)
	}
	g, ok := e.srv.Group(t, "ns1.admin.crm")
	if !ok || !slices.Equal(g.MemberIDs(), []string{mia.ID}) {
		t.Fatalf("after removing zoe, group = %+v (found %v), want it kept with mia", g, ok)
	}
	if err := c.RemoveMember(ctx, "ns1.admin.crm", mia); err != nil {
		t.Fatalf("RemoveMember(mia): %v", err)
	}
	if g, ok := e.srv.Group(t, "ns1.admin.crm"); ok {
		t.Errorf("group %+v is still there, empty", g)
	}
}

// A provider that writes an empty group's members as [] is taken at its
// word: the group goes with no further question.
func TestSCIMMYGroupWithAnExplicitEmptyList(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	rw := &rewriter{emptyAsList: true}
	c := e.clientThrough(t, rw)
	ctx := t.Context()
	zoe := mustJoin(t, c, "ns1.admin.crm", "zoe@partner.test")
	g, _ := e.srv.Group(t, "ns1.admin.crm")
	before := len(rw.sent())
	if err := c.RemoveMember(ctx, "ns1.admin.crm", zoe); err != nil {
		t.Fatal(err)
	}
	if g, ok := e.srv.Group(t, "ns1.admin.crm"); ok {
		t.Errorf("group %+v is still there, empty", g)
	}
	want := []string{
		`GET /Groups filter=displayName eq "ns1.admin.crm"`,
		"PATCH /Groups/" + g.ID,
		"GET /Groups/" + g.ID,
		"DELETE /Groups/" + g.ID,
	}
	if got := rw.sent()[before:]; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}
