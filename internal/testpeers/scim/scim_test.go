package scim_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/testpeers/scim"
)

func TestServer(t *testing.T) {
	s := scim.Start(t)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || !strings.HasSuffix(s.URL, "/scim/v2") || len(s.Token) < 32 {
		t.Fatalf("URL %q, token of %d characters", s.URL, len(s.Token))
	}

	zoe := s.CreateUser(t, "Zoe@Example.test", "hr:42")
	bob := s.CreateUser(t, "bob@example.test", "")
	g := s.CreateGroup(t, "crm-admins", "", zoe.ID)
	s.AddMember(t, g.ID, bob.ID)
	s.AddMember(t, g.ID, bob.ID) // twice: still one membership

	if zoe.ID == "" || zoe.ExternalID != "hr:42" || zoe.UserName != "Zoe@Example.test" {
		t.Errorf("CreateUser = %+v", zoe)
	}
	got, ok := s.Group(t, "CRM-ADMINS")
	if !ok {
		t.Fatal("Group(CRM-ADMINS) not found")
	}
	ids := got.MemberIDs()
	slices.Sort(ids)
	want := []string{zoe.ID, bob.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("members = %v, want %v", ids, want)
	}
	// The server derives the User's groups attribute from the Groups.
	u, ok := s.User(t, "zoe@example.test")
	if !ok || len(u.Groups) != 1 || u.Groups[0].Value != g.ID || u.Groups[0].Display != "crm-admins" {
		t.Errorf("User(zoe).Groups = %+v (found %v)", u.Groups, ok)
	}
	if len(u.Emails) != 1 || !u.Emails[0].Primary || u.Emails[0].Value != "Zoe@Example.test" {
		t.Errorf("User(zoe).Emails = %+v", u.Emails)
	}
	if _, ok := s.User(t, "nobody@example.test"); ok {
		t.Error("User(nobody) found")
	}

	// userName is unique without regard to case.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/Users", strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ZOE@example.test"}`))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusConflict {
		t.Errorf("a second ZOE@example.test: %v %v, want 409", res.Status, err)
	}

	// Any other token is refused.
	for _, auth := range []string{"", "Bearer wrong", "Basic " + s.Token} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/Users", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %s, want 401", auth, res.Status)
		}
	}
	if !strings.Contains(s.Log(), "PATCH /scim/v2/Groups/"+g.ID+" ") {
		t.Errorf("the log has no PATCH line:\n%s", s.Log())
	}
	if strings.Contains(s.Log(), s.Token) {
		t.Error("the log holds the token")
	}
}

func TestServerOptions(t *testing.T) {
	t.Parallel()
	s := scim.StartWith(t, scim.Options{NoUserGroups: true, MaxPageSize: 3})
	var ids []string
	for i := range 7 {
		ids = append(ids, s.CreateUser(t, fmt.Sprintf("user%d@example.test", i), "").ID)
	}
	s.CreateGroup(t, "g", "", ids...)
	// Users and Groups read every page of 3.
	if users := s.Users(t); len(users) != 7 {
		t.Errorf("Users = %d, want 7", len(users))
	}
	g, ok := s.Group(t, "g")
	if !ok || len(g.Members) != 7 {
		t.Errorf("Group(g) = %+v", g)
	}
	if u, _ := s.User(t, "user0@example.test"); u.Groups != nil {
		t.Errorf("NoUserGroups: User.Groups = %+v", u.Groups)
	}
}

// Two servers are two separate stores, with their own tokens.
func TestServerIsolated(t *testing.T) {
	t.Parallel()
	a, b := scim.Start(t), scim.Start(t)
	if a.URL == b.URL || a.Token == b.Token {
		t.Fatalf("same URL or token: %s %s", a.URL, b.URL)
	}
	a.CreateUser(t, "only-in-a@example.test", "")
	if users := b.Users(t); len(users) != 0 {
		t.Errorf("b has %d users", len(users))
	}
}
