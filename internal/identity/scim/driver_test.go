package scim

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/partnerops/partnerops/internal/identity"
)

func TestFilterValue(t *testing.T) {
	tests := map[string]string{
		"zoe@example.test":       `"zoe@example.test"`,
		`a"b@example.test`:       `"a\"b@example.test"`,
		`a\b@example.test`:       `"a\\b@example.test"`,
		"tab\there":              `"tab\there"`,
		"nul\x00":                `"nul\u0000"`,
		"<admins> & co":          `"<admins> & co"`, // no HTML escaping: servers compare the text
		"Zoë":                    `"Zoë"`,
		`") or (userName pr) or`: `"\") or (userName pr) or"`,
	}
	for in, want := range tests {
		if got := filterValue(in); got != want {
			t.Errorf("filterValue(%q) = %s, want %s", in, got, want)
		}
		// It is a JSON string that decodes to the input.
		var back string
		if err := json.Unmarshal([]byte(filterValue(in)), &back); err != nil || back != in {
			t.Errorf("filterValue(%q) decodes to %q, %v", in, back, err)
		}
	}
}

// The filter reaches the server as written, whatever the email holds: the
// value quoted and escaped (RFC 7644 §3.4.2.2), the query URL-encoded.
func TestFindUserFilterOnTheWire(t *testing.T) {
	tests := map[string]string{
		"zoe@example.test":                `userName eq "zoe@example.test"`,
		"o'brien+tag&x=1%25@example.test": `userName eq "o'brien+tag&x=1%25@example.test"`,
		`quo"te\back@example.test`:        `userName eq "quo\"te\\back@example.test"`,
	}
	for email, want := range tests {
		t.Run(email, func(t *testing.T) {
			var got, raw string
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				got, raw = r.URL.Query().Get("filter"), r.URL.RawQuery
				writeSCIM(w, 200, listOf())
			})
			if _, err := c.FindUser(t.Context(), email); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("FindUser: %v, want ErrNotFound", err)
			}
			if got != want {
				t.Errorf("filter = %s, want %s", got, want)
			}
			if strings.Contains(raw, "+") || strings.Contains(raw, " ") {
				t.Errorf("raw query %q: spaces must be %%20 and '+' %%2B", raw)
			}
		})
	}
}

func TestFindUser(t *testing.T) {
	user := func(id, name, ext string) map[string]any {
		return map[string]any{"id": id, "userName": name, "externalId": ext}
	}
	tests := []struct {
		name    string
		query   string // the address asked for; zoe@example.test when empty
		found   []any
		want    identity.User
		wantErr error
	}{
		{name: "ours", found: []any{user("u1", "Zoe@Example.test", "partnerops:user:zoe@example.test")},
			want: identity.User{ID: "u1", Email: "Zoe@Example.test", Managed: true}},
		{name: "someone else's", found: []any{user("u1", "zoe@example.test", "hr:42")},
			want: identity.User{ID: "u1", Email: "zoe@example.test"}},
		{name: "no externalId", found: []any{user("u1", "zoe@example.test", "")},
			want: identity.User{ID: "u1", Email: "zoe@example.test"}},
		{name: "none", wantErr: identity.ErrNotFound},
		{name: "a sloppy server's other matches are ignored", found: []any{user("u2", "zoe@example.test.evil", ""), user("u1", "zoe@example.test", "")},
			want: identity.User{ID: "u1", Email: "zoe@example.test"}},
		{name: "two", found: []any{user("u1", "zoe@example.test", ""), user("u2", "ZOE@example.test", "")}, wantErr: identity.ErrConflict},
		// A server that folds Unicode case answers with another mailbox: the
		// Kelvin sign (U+212A) folds to k, the long s (U+017F) to s.
		{name: "a Unicode look-alike is another mailbox", query: "kim.ross@example.test",
			found: []any{user("u9", "\u212Aim.ro\u017Fs@example.test", "")}, wantErr: identity.ErrNotFound},
		{name: "a look-alike beside the user", query: "kim.ross@example.test",
			found: []any{user("u9", "\u212Aim.ross@example.test", ""), user("u1", "Kim.Ross@example.test", "")},
			want:  identity.User{ID: "u1", Email: "Kim.Ross@example.test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				writeSCIM(w, 200, listOf(tc.found...))
			})
			query := cmp.Or(tc.query, "zoe@example.test")
			got, err := c.FindUser(t.Context(), query)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("FindUser: %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("FindUser = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// fakeGroups serves /Groups?filter=members.value eq "u1" from n groups,
// at most maxPage per page, like a service provider that paginates (with
// mute, one that leaves totalResults and startIndex out of its answers).
func fakeGroups(t *testing.T, n, maxPage int, ignoreStartIndex, mute bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/scim/v2/Users/u1":
			writeSCIM(w, 200, map[string]any{"id": "u1"}) // no groups attribute
		case "/scim/v2/Groups":
			if f := r.URL.Query().Get("filter"); f != `members.value eq "u1"` {
				t.Errorf("filter = %s", f)
			}
			start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
			count, _ := strconv.Atoi(r.URL.Query().Get("count"))
			if ignoreStartIndex {
				start = 1
			}
			count = min(count, maxPage)
			var page []any
			for i := start; i < start+count && i <= n; i++ {
				page = append(page, map[string]any{"id": fmt.Sprintf("g%03d", i), "displayName": fmt.Sprintf("group-%03d", i)})
			}
			if mute {
				writeSCIM(w, 200, map[string]any{"Resources": page})
				return
			}
			writeSCIM(w, 200, map[string]any{"totalResults": n, "startIndex": start, "itemsPerPage": len(page), "Resources": page})
		default:
			http.NotFound(w, r)
		}
	}
}

// TestGroupsPaginates reads every page; without totalResults (required,
// yet left out by some), until an empty page: a page shorter than asked
// is not the last one when the service provider caps its pages.
func TestGroupsPaginates(t *testing.T) {
	for _, tc := range []struct {
		n, maxPage int
		mute       bool
	}{{0, 10, false}, {5, 10, false}, {10, 10, false}, {250, 100, false}, {23, 7, false}, {23, 7, true}, {0, 7, true}} {
		t.Run(fmt.Sprintf("%d groups, pages of %d, totalResults left out %t", tc.n, tc.maxPage, tc.mute), func(t *testing.T) {
			var requests int
			h := fakeGroups(t, tc.n, tc.maxPage, false, tc.mute)
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { requests++; h(w, r) })
			got, err := c.Groups(t.Context(), identity.User{ID: "u1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.n {
				t.Fatalf("Groups = %d names, want %d", len(got), tc.n)
			}
			for i, name := range got {
				if want := fmt.Sprintf("group-%03d", i+1); name != want {
					t.Fatalf("Groups[%d] = %s, want %s", i, name, want)
				}
			}
			pages := max(1, (tc.n+tc.maxPage-1)/tc.maxPage)
			if tc.mute && tc.n > 0 {
				pages++ // the empty page that ends it
			}
			if requests != 1+pages {
				t.Errorf("%d requests, want 1 + %d pages", requests, pages)
			}
		})
	}
}

func TestGroupsStopsWhenPaginationIsIgnored(t *testing.T) {
	for _, mute := range []bool{false, true} {
		t.Run(fmt.Sprintf("totalResults and startIndex left out %t", mute), func(t *testing.T) {
			c := newTestClient(t, fakeGroups(t, 30, 10, true, mute))
			if got, err := c.Groups(t.Context(), identity.User{ID: "u1"}); !errors.Is(err, identity.ErrRejected) {
				t.Fatalf("Groups = %d names, %v; want ErrRejected, never the first page for all", len(got), err)
			}
		})
	}
}

func TestGroupsFromUserAttribute(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/scim/v2/Users/u1":
			if a := r.URL.Query().Get("attributes"); a != "groups" {
				t.Errorf("attributes = %q", a)
			}
			writeSCIM(w, 200, map[string]any{"id": "u1", "groups": []any{
				map[string]any{"value": "g1", "display": "crm-admins", "type": "direct"},
				map[string]any{"value": "g2"}, // no display: read the group
				map[string]any{"value": "g3", "display": "all-staff", "type": "indirect"},
				map[string]any{"value": "g1", "display": "crm-admins"},
			}})
		case "/scim/v2/Groups/g2":
			writeSCIM(w, 200, map[string]any{"id": "g2", "displayName": "billing-viewers"})
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			http.NotFound(w, r)
		}
	})
	got, err := c.Groups(t.Context(), identity.User{ID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "billing-viewers,crm-admins"; strings.Join(got, ",") != want {
		t.Errorf("Groups = %q, want %s (direct only, sorted, once each)", got, want)
	}
}

func TestGroupsOfMissingUser(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { scimError(w, 404, "", "Resource u1 not found") })
	if _, err := c.Groups(t.Context(), identity.User{ID: "u1"}); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("Groups: %v, want ErrNotFound", err)
	}
}

// recorder is a fake service provider built from per-route handlers that
// records the requests it got ("METHOD path").
type recorder struct {
	mu       sync.Mutex
	requests []string
	bodies   map[string]map[string]any
	routes   map[string]func(w http.ResponseWriter, r *http.Request)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/scim/v2")
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	rec.mu.Lock()
	rec.requests = append(rec.requests, key)
	if rec.bodies == nil {
		rec.bodies = map[string]map[string]any{}
	}
	rec.bodies[key] = body
	h := rec.routes[key]
	rec.mu.Unlock()
	if h == nil {
		scimError(w, 404, "", "no route "+key)
		return
	}
	h(w, r)
}

func (rec *recorder) sent() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return strings.Join(rec.requests, "; ")
}

// checkBody checks the JSON body of the request key ("PATCH /Groups/g1"),
// if one was sent.
func (rec *recorder) checkBody(t *testing.T, key, want string) {
	t.Helper()
	if q := rec.bodies[key]; q != nil {
		b, _ := json.Marshal(q)
		if string(b) != want {
			t.Errorf("%s body %s, want %s", key, b, want)
		}
	}
}

// recordedCase is a call of a driver method against a server answering
// with routes: the driver configured with createGroups (CreateGroups) and
// keep (KeepEmptyGroups), the error it should fail with (none when nil)
// and the requests it should send.
type recordedCase struct {
	name         string
	createGroups bool
	keep         bool
	routes       map[string]func(http.ResponseWriter, *http.Request)
	wantErr      error
	wantSent     string
}

// run runs call, the method what, as tc says and checks its error and
// requests.
func (tc recordedCase) run(t *testing.T, what string, call func(*Client) error) *recorder {
	t.Helper()
	rec := &recorder{routes: tc.routes}
	c := newTestClient(t, rec.ServeHTTP, func(cfg *Config) { cfg.CreateGroups, cfg.KeepEmptyGroups = tc.createGroups, tc.keep })
	if err := call(c); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
		t.Fatalf("%s: %v, want %v", what, err, tc.wantErr)
	}
	if rec.sent() != tc.wantSent {
		t.Errorf("requests %s, want %s", rec.sent(), tc.wantSent)
	}
	return rec
}

func TestEnsureUserCreates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		enterprise bool
	}{{"with the enterprise extension", true}, {"without it", false}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Users": func(w http.ResponseWriter, r *http.Request) { writeSCIM(w, 200, listOf()) },
				"POST /Users": func(w http.ResponseWriter, r *http.Request) {
					writeSCIM(w, 201, map[string]any{"id": "new-id", "userName": "zoe@example.test", "externalId": "partnerops:user:zoe@example.test"})
				},
			}}
			if tc.enterprise {
				rec.routes["GET /ResourceTypes/User"] = func(w http.ResponseWriter, r *http.Request) {
					writeSCIM(w, 200, map[string]any{"id": "User", "schemaExtensions": []any{map[string]any{"schema": schemaEnterprise, "required": false}}})
				}
			}
			c := newTestClient(t, rec.ServeHTTP)
			u, err := c.EnsureUser(t.Context(), identity.NewUser{Email: " zoe@example.test ", Account: "Acme Partners"})
			if err != nil {
				t.Fatal(err)
			}
			if want := (identity.User{ID: "new-id", Email: "zoe@example.test", Managed: true}); u != want {
				t.Errorf("EnsureUser = %+v, want %+v", u, want)
			}
			body := rec.bodies["POST /Users"]
			b, _ := json.Marshal(body)
			for _, want := range []string{
				`"userName":"zoe@example.test"`,
				`"externalId":"partnerops:user:zoe@example.test"`,
				`"displayName":"zoe@example.test"`,
				`"active":true`,
				`"emails":[{"primary":true,"type":"work","value":"zoe@example.test"}]`,
			} {
				if !strings.Contains(string(b), want) {
					t.Errorf("POST body %s lacks %s", b, want)
				}
			}
			org := fmt.Sprint(body[schemaEnterprise])
			if tc.enterprise != strings.Contains(org, "Acme Partners") || tc.enterprise != strings.Contains(fmt.Sprint(body["schemas"]), schemaEnterprise) {
				t.Errorf("enterprise extension %v: body %s", tc.enterprise, b)
			}
			// The ResourceTypes answer is kept.
			if _, err := c.EnsureUser(t.Context(), identity.NewUser{Email: "amy@example.test", Account: "Acme"}); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(rec.sent(), "GET /ResourceTypes/User"); n != 1 {
				t.Errorf("GET /ResourceTypes/User sent %d times: %s", n, rec.sent())
			}
		})
	}
}

// A 409 on create means someone else created the user since the search:
// EnsureUser returns theirs.
func TestEnsureUserRace(t *testing.T) {
	var searches int
	rec := &recorder{routes: map[string]func(http.ResponseWriter, *http.Request){
		"GET /Users": func(w http.ResponseWriter, r *http.Request) {
			if searches++; searches == 1 {
				writeSCIM(w, 200, listOf())
				return
			}
			writeSCIM(w, 200, listOf(map[string]any{"id": "theirs", "userName": "zoe@example.test"}))
		},
		"POST /Users": scimErrorOf(409, "uniqueness", "userName is already taken"),
	}}
	c := newTestClient(t, rec.ServeHTTP)
	u, err := c.EnsureUser(t.Context(), identity.NewUser{Email: "zoe@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "theirs" || u.Managed {
		t.Errorf("EnsureUser = %+v", u)
	}
	if want := "GET /Users; POST /Users; GET /Users"; rec.sent() != want {
		t.Errorf("requests %s, want %s", rec.sent(), want)
	}
}

func TestAddMember(t *testing.T) {
	group := map[string]any{"id": "g1", "displayName": "crm-admins"}
	patchOK := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }
	tests := []recordedCase{
		{
			name: "existing group",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      func(w http.ResponseWriter, r *http.Request) { writeSCIM(w, 200, listOf(group)) },
				"PATCH /Groups/g1": patchOK,
			},
			wantSent: "GET /Groups; PATCH /Groups/g1",
		},
		{
			name: "missing group, createGroups off",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": func(w http.ResponseWriter, r *http.Request) { writeSCIM(w, 200, listOf()) },
			},
			wantErr:  identity.ErrGroupNotFound,
			wantSent: "GET /Groups",
		},
		{
			name:         "missing group, createGroups on",
			createGroups: true,
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":  func(w http.ResponseWriter, r *http.Request) { writeSCIM(w, 200, listOf()) },
				"POST /Groups": func(w http.ResponseWriter, r *http.Request) { writeSCIM(w, 201, group) },
			},
			wantSent: "GET /Groups; POST /Groups",
		},
		{
			name: "two groups with the name",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": func(w http.ResponseWriter, r *http.Request) {
					writeSCIM(w, 200, listOf(group, map[string]any{"id": "g2", "displayName": "CRM-admins"}))
				},
			},
			wantErr:  identity.ErrConflict,
			wantSent: "GET /Groups",
		},
		{
			name: "unknown member",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      func(w http.ResponseWriter, r *http.Request) { writeSCIM(w, 200, listOf(group)) },
				"PATCH /Groups/g1": scimErrorOf(400, "invalidValue", "member u1 is not a User"),
			},
			wantErr:  identity.ErrRejected,
			wantSent: "GET /Groups; PATCH /Groups/g1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.run(t, "AddMember", func(c *Client) error {
				return c.AddMember(t.Context(), "crm-admins", identity.User{ID: "u1", Email: "zoe@example.test"})
			})
			rec.checkBody(t, "PATCH /Groups/g1", `{"Operations":[{"op":"add","path":"members","value":[{"value":"u1"}]}],"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`)
			rec.checkBody(t, "POST /Groups", `{"displayName":"crm-admins","externalId":"partnerops:group:crm-admins","members":[{"value":"u1"}],"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]}`)
		})
	}
}

func TestRemoveMember(t *testing.T) {
	ours := map[string]any{"id": "g1", "displayName": "crm-admins", "externalId": "partnerops:group:crm-admins"}
	theirs := map[string]any{"id": "g1", "displayName": "crm-admins", "externalId": "hr:7"}
	list := func(g ...any) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) { writeSCIM(w, 200, listOf(g...)) }
	}
	status := func(code int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
	read := func(g map[string]any, members ...string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			out := map[string]any{}
			for k, v := range g {
				out[k] = v
			}
			if len(members) > 0 {
				var ms []any
				for _, m := range members {
					ms = append(ms, map[string]any{"value": m})
				}
				out["members"] = ms
			}
			writeSCIM(w, 200, out)
		}
	}
	raw := func(body string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/scim+json")
			_, _ = io.WriteString(w, body)
		}
	}
	// The searches of GET /Groups, told apart by their filter: an unknown
	// filter is a 400 invalidFilter, as on a provider that does not support
	// it.
	const (
		findByName     = `displayName eq "crm-admins"`
		withMembers    = `id eq "g1" and members pr`
		withoutMembers = `id eq "g1" and not (members pr)`
	)
	byFilter := func(m map[string]func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			f := r.URL.Query().Get("filter")
			if h := m[f]; h != nil {
				h(w, r)
				return
			}
			scimError(w, 400, "invalidFilter", "unsupported filter "+f)
		}
	}
	idOnly := map[string]any{"id": "g1"}
	tests := []recordedCase{
		{
			name:     "missing group",
			routes:   map[string]func(http.ResponseWriter, *http.Request){"GET /Groups": list()},
			wantSent: "GET /Groups",
		},
		{
			name: "not a member: 400 noTarget",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      list(theirs),
				"PATCH /Groups/g1": scimErrorOf(400, "noTarget", "Filter does not match any values"),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1",
		},
		{
			name: "other 400",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      list(theirs),
				"PATCH /Groups/g1": scimErrorOf(400, "invalidPath", "bad path"),
			},
			wantErr:  identity.ErrRejected,
			wantSent: "GET /Groups; PATCH /Groups/g1",
		},
		{
			name: "group gone meanwhile",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(theirs), "PATCH /Groups/g1": status(404), "GET /Groups/g1": status(404),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1",
		},
		{
			// A 404 from something in front of the service, not from it:
			// the membership is still there.
			name: "a 404 to the PATCH while the group is there",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(theirs), "PATCH /Groups/g1": status(404), "GET /Groups/g1": read(theirs, "u1"),
			},
			wantErr:  identity.ErrUnavailable,
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1",
		},
		{
			name:     "someone else's group is never deleted",
			routes:   map[string]func(http.ResponseWriter, *http.Request){"GET /Groups": list(theirs), "PATCH /Groups/g1": status(204)},
			wantSent: "GET /Groups; PATCH /Groups/g1",
		},
		{
			name: "our group, members left",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(ours), "PATCH /Groups/g1": status(204), "GET /Groups/g1": read(ours, "u2"),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1",
		},
		{
			// A reply without members says nothing: this provider returns
			// the group to "members pr" (it ignores filters), so it is kept.
			name: "our group, the reply leaves members out: kept",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(ours), "PATCH /Groups/g1": status(204), "GET /Groups/g1": read(ours), "DELETE /Groups/g1": status(204),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1; GET /Groups",
		},
		{
			name: "our group, members null: kept",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(ours), "PATCH /Groups/g1": status(204), "DELETE /Groups/g1": status(204),
				"GET /Groups/g1": raw(`{"id":"g1","displayName":"crm-admins","externalId":"partnerops:group:crm-admins","members":null}`),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1; GET /Groups",
		},
		{
			name: "our group, an explicit empty list: deleted",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(ours), "PATCH /Groups/g1": status(204), "DELETE /Groups/g1": status(204),
				"GET /Groups/g1": raw(`{"id":"g1","displayName":"crm-admins","externalId":"partnerops:group:crm-admins","members":[]}`),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1; DELETE /Groups/g1",
		},
		{
			name: "an explicit empty list, but the group lost partnerops's mark: kept",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(ours), "PATCH /Groups/g1": status(204), "DELETE /Groups/g1": status(204),
				"GET /Groups/g1": raw(`{"id":"g1","displayName":"crm-admins","externalId":"hr:7","members":[]}`),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1",
		},
		{
			name: "our group, members left out, both filters say empty: deleted",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      byFilter(map[string]func(http.ResponseWriter, *http.Request){findByName: list(ours), withMembers: list(), withoutMembers: list(idOnly)}),
				"PATCH /Groups/g1": status(204), "GET /Groups/g1": read(ours), "DELETE /Groups/g1": status(204),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1; GET /Groups; GET /Groups; DELETE /Groups/g1",
		},
		{
			name: "our group, members left out, the filter finds members: kept",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      byFilter(map[string]func(http.ResponseWriter, *http.Request){findByName: list(ours), withMembers: list(idOnly), withoutMembers: list(idOnly)}),
				"PATCH /Groups/g1": status(204), "GET /Groups/g1": read(ours), "DELETE /Groups/g1": status(204),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1; GET /Groups",
		},
		{
			// A provider that answers nothing to filters it cannot evaluate.
			name: "our group, members left out, no filter matches anything: kept",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      byFilter(map[string]func(http.ResponseWriter, *http.Request){findByName: list(ours), withMembers: list(), withoutMembers: list()}),
				"PATCH /Groups/g1": status(204), "GET /Groups/g1": read(ours), "DELETE /Groups/g1": status(204),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1; GET /Groups; GET /Groups",
		},
		{
			name: "our group, members left out, the filter is refused: kept, and the removal is done",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      byFilter(map[string]func(http.ResponseWriter, *http.Request){findByName: list(ours)}),
				"PATCH /Groups/g1": status(204), "GET /Groups/g1": read(ours), "DELETE /Groups/g1": status(204),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1; GET /Groups",
		},
		{
			name: "our group, members left out, an outage during the check: retried",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups":      byFilter(map[string]func(http.ResponseWriter, *http.Request){findByName: list(ours), withMembers: status(503)}),
				"PATCH /Groups/g1": status(204), "GET /Groups/g1": read(ours), "DELETE /Groups/g1": status(204),
			},
			wantErr:  identity.ErrUnavailable,
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1; GET /Groups",
		},
		{
			name: "our group, now empty, KeepEmptyGroups",
			keep: true,
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(ours), "PATCH /Groups/g1": status(204),
			},
			wantSent: "GET /Groups; PATCH /Groups/g1",
		},
		{
			name: "our group, too large to read: kept",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Groups": list(ours), "PATCH /Groups/g1": status(204),
				"GET /Groups/g1": func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/scim+json")
					_, _ = w.Write([]byte(`{"id":"g1","members":[` + strings.Repeat(`{"value":"someone-else"},`, MaxResponseBytes/20) + `{"value":"x"}]}`))
				},
			},
			wantSent: "GET /Groups; PATCH /Groups/g1; GET /Groups/g1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.run(t, "RemoveMember", func(c *Client) error {
				return c.RemoveMember(t.Context(), "crm-admins", identity.User{ID: "u1", Email: "zoe@example.test"})
			})
			rec.checkBody(t, "PATCH /Groups/g1", `{"Operations":[{"op":"remove","path":"members[value eq \"u1\"]"}],"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}`)
		})
	}
}

func TestDeleteUser(t *testing.T) {
	tests := []recordedCase{
		{
			name: "ours",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Users/u1": func(w http.ResponseWriter, r *http.Request) {
					writeSCIM(w, 200, map[string]any{"id": "u1", "userName": "zoe@example.test", "externalId": "partnerops:user:zoe@example.test"})
				},
				"DELETE /Users/u1": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			},
			wantSent: "GET /Users/u1; DELETE /Users/u1",
		},
		{
			name: "already gone",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Users/u1": func(w http.ResponseWriter, r *http.Request) { scimError(w, 404, "", "Resource u1 not found") },
			},
			wantSent: "GET /Users/u1",
		},
		{
			name: "gone between the read and the delete",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Users/u1": func(w http.ResponseWriter, r *http.Request) {
					writeSCIM(w, 200, map[string]any{"id": "u1", "externalId": "partnerops:user:zoe@example.test"})
				},
				"DELETE /Users/u1": func(w http.ResponseWriter, r *http.Request) { scimError(w, 404, "", "gone") },
			},
			wantSent: "GET /Users/u1; DELETE /Users/u1",
		},
		{
			name: "not ours: refused, whatever the caller says",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"GET /Users/u1": func(w http.ResponseWriter, r *http.Request) {
					writeSCIM(w, 200, map[string]any{"id": "u1", "userName": "zoe@example.test", "externalId": "hr:42"})
				},
			},
			wantErr:  identity.ErrRejected,
			wantSent: "GET /Users/u1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, "DeleteUser", func(c *Client) error {
				return c.DeleteUser(t.Context(), identity.User{ID: "u1", Email: "zoe@example.test", Managed: true})
			})
		})
	}
}

// Ids go into paths escaped.
func TestPathEscaping(t *testing.T) {
	var got []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		scimError(w, 404, "", "not found")
	})
	if err := c.DeleteUser(t.Context(), identity.User{ID: "a/b c?d", Managed: true}); err != nil {
		t.Fatal(err)
	}
	if want := "/scim/v2/Users/a%2Fb%20c%3Fd"; len(got) != 1 || got[0] != want {
		t.Errorf("paths %q, want [%s]", got, want)
	}
}

// TestGroupNameOutsideASCIICase: a group the service returns whose name
// differs from the one asked for only in the case of a letter outside ASCII
// (a groupTemplate with "éditeur", a group "ÉDITEUR") is neither taken for
// the group nor for "no such group": a removal would count as done while the
// partner stays in it.
func TestGroupNameOutsideASCIICase(t *testing.T) {
	var patches int
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			patches++
		}
		writeSCIM(w, 200, listOf(map[string]any{"id": "g1", "displayName": "partnerops.acme.insights.\u00c9DITEUR"}))
	})
	err := c.RemoveMember(t.Context(), "partnerops.acme.insights.\u00e9diteur", identity.User{ID: "u1", Email: "zoe@example.test"})
	if !errors.Is(err, identity.ErrConflict) || patches != 0 {
		t.Errorf("RemoveMember = %v with %d PATCHes, want ErrConflict and none", err, patches)
	}
}
