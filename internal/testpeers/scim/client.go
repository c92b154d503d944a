package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

// User is a SCIM User as the server holds it.
type User struct {
	ID         string   `json:"id"`
	UserName   string   `json:"userName"`
	ExternalID string   `json:"externalId"`
	Active     *bool    `json:"active"`
	Emails     []Value  `json:"emails"`
	Groups     []Member `json:"groups"`
	// Enterprise is the enterprise extension, when the user has it.
	Enterprise *struct {
		Organization string `json:"organization"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	// SignIn is the partnerops extension (who signed in), when the user
	// has it.
	SignIn *SignIn `json:"urn:ietf:params:scim:schemas:extension:partnerops:2.0:User"`
	// NickName is the core attribute, which a test may have the sign-in
	// recorded in.
	NickName    string `json:"nickName"`
	DisplayName string `json:"displayName"`
}

// SignIn is the server's partnerops extension of a User.
type SignIn struct {
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// SetSignIn records a sign-in on the user id as an administrator would,
// with a PATCH of the partnerops extension.
func (s *Server) SetSignIn(t testing.TB, userID string, si SignIn) {
	t.Helper()
	s.must(t, http.MethodPatch, "/Users/"+url.PathEscape(userID), map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:partnerops:2.0:User",
			"value": si}},
	}, nil)
}

// Value is one value of a multi-valued attribute (emails).
type Value struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

// Member is a member of a Group, or a group of a User.
type Member struct {
	Value   string `json:"value"`
	Display string `json:"display"`
}

// Group is a SCIM Group as the server holds it.
type Group struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	ExternalID  string   `json:"externalId"`
	Members     []Member `json:"members"`
}

// MemberIDs are the ids of the group's members.
func (g Group) MemberIDs() []string {
	ids := make([]string, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.Value
	}
	return ids
}

// CreateUser adds a user as another provisioning client would: userName,
// a primary work email, and externalID when not empty.
func (s *Server) CreateUser(t testing.TB, userName, externalID string) User {
	t.Helper()
	body := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"active":   true,
		"emails":   []map[string]any{{"value": userName, "type": "work", "primary": true}},
	}
	if externalID != "" {
		body["externalId"] = externalID
	}
	var u User
	s.must(t, http.MethodPost, "/Users", body, &u)
	return u
}

// CreateGroup adds a group with these member ids, and externalID when not
// empty.
func (s *Server) CreateGroup(t testing.TB, displayName, externalID string, memberIDs ...string) Group {
	t.Helper()
	members := []map[string]string{}
	for _, id := range memberIDs {
		members = append(members, map[string]string{"value": id})
	}
	body := map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": displayName,
		"members":     members,
	}
	if externalID != "" {
		body["externalId"] = externalID
	}
	var g Group
	s.must(t, http.MethodPost, "/Groups", body, &g)
	return g
}

// AddMember adds the user id to the group id with a PATCH.
func (s *Server) AddMember(t testing.TB, groupID, userID string) {
	t.Helper()
	s.must(t, http.MethodPatch, "/Groups/"+url.PathEscape(groupID), map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []map[string]string{{"value": userID}}}},
	}, nil)
}

// RemoveMember removes the user id from the group id with a PATCH, as an
// administrator would by hand.
func (s *Server) RemoveMember(t testing.TB, groupID, userID string) {
	t.Helper()
	s.must(t, http.MethodPatch, "/Groups/"+url.PathEscape(groupID), map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "remove", "path": `members[value eq "` + userID + `"]`}},
	}, nil)
}

// Users lists every user.
func (s *Server) Users(t testing.TB) []User {
	t.Helper()
	return list[User](t, s, "/Users")
}

// Groups lists every group with its members.
func (s *Server) Groups(t testing.TB) []Group {
	t.Helper()
	return list[Group](t, s, "/Groups")
}

// User returns the user whose userName is userName (without case).
func (s *Server) User(t testing.TB, userName string) (User, bool) {
	t.Helper()
	return byName(s.Users(t), userName, func(u User) string { return u.UserName })
}

// Group returns the group whose displayName is name (without case).
func (s *Server) Group(t testing.TB, name string) (Group, bool) {
	t.Helper()
	return byName(s.Groups(t), name, func(g Group) string { return g.DisplayName })
}

// byName returns the resource whose name (nameOf) is name, without case.
func byName[T any](all []T, name string, nameOf func(T) string) (T, bool) {
	for _, r := range all {
		if strings.EqualFold(nameOf(r), name) {
			return r, true
		}
	}
	var none T
	return none, false
}

// list reads every resource of path, page by page (whatever the server's
// page size).
func list[T any](t testing.TB, s *Server, path string) []T {
	t.Helper()
	var all []T
	for start := 1; ; {
		var lr struct {
			TotalResults int `json:"totalResults"`
			Resources    []T `json:"Resources"`
		}
		s.must(t, http.MethodGet, path+"?startIndex="+strconv.Itoa(start), nil, &lr)
		all = append(all, lr.Resources...)
		start += len(lr.Resources)
		if len(lr.Resources) == 0 || start > lr.TotalResults {
			return all
		}
	}
}

func (s *Server) must(t testing.TB, method, path string, body, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	data, err := s.do(ctx, method, path, b)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("SCIM server: %s %s: %v: %s", method, path, err, data)
		}
	}
}

// ErrStatus is wrapped by the errors of requests answered outside 2xx.
var ErrStatus = errors.New("SCIM server: unexpected status")

func (s *Server) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	header := http.Header{"Authorization": {"Bearer " + s.Token}, "Accept": {"application/scim+json"}}
	status, data, err := peer.Request(ctx, s.client, "SCIM server", method, s.URL+path, body, "application/scim+json", header)
	switch {
	case err != nil:
		return nil, err
	case status/100 != 2:
		return nil, fmt.Errorf("%w: %s %s: %d %s: %s", ErrStatus, method, path, status, http.StatusText(status), data)
	}
	return data, nil
}
