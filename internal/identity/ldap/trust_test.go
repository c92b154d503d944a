package ldap_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/ldap"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

// trustMail sets Config.TrustMailAttribute.
func trustMail(c *ldap.Config) { c.TrustMailAttribute = true }

func groupsOf(t *testing.T, b *ldap.Backend, u identity.User) []string {
	t.Helper()
	gs, err := b.Groups(t.Context(), u)
	if err != nil {
		t.Fatalf("Groups(%s): %v", u.ID, err)
	}
	return gs
}

// unchanged fails the test when the entry dn is gone or differs from was.
func unchanged(t *testing.T, s *slapd.Server, dn string, was slapd.Entry, after string) {
	t.Helper()
	got, ok := s.Entry(t, dn)
	if !ok {
		t.Fatalf("after %s: %s is gone", after, dn)
	}
	if !reflect.DeepEqual(got.Attrs, was.Attrs) {
		t.Errorf("after %s: %s changed:\n got %v\nwant %v", after, dn, got.Attrs, was.Attrs)
	}
}

// Groups are looked up where they are written: cn=<group>,<GroupBaseDN>.
// A groupOfNames elsewhere that carries the group's name and holds the user
// is not that group: taken for it, the controller would think the grant
// held and never add it (or skip its removal).
func TestGroupsOnlyDirectlyUnderGroupBase(t *testing.T) {
	const name = "partnerops.acme.insights.viewer"
	groupDN := "cn=" + name + "," + slapd.GroupsDN
	for _, tc := range []struct {
		name  string
		decoy string
		// records seed the decoy (and what it needs) holding member.
		records func(member string) []string
	}{
		{
			name:  "same cn in a sub-OU",
			decoy: "cn=" + name + ",ou=legacy," + slapd.GroupsDN,
			records: func(member string) []string {
				return []string{
					slapd.LDIFEntry("ou=legacy,"+slapd.GroupsDN, "objectClass", "organizationalUnit", "ou", "legacy"),
					slapd.LDIFEntry("cn="+name+",ou=legacy,"+slapd.GroupsDN, "objectClass", "groupOfNames", "cn", name, "member", member),
				}
			},
		},
		{
			name:  "the name in cn under another RDN",
			decoy: "ou=legacy-viewers," + slapd.GroupsDN,
			records: func(member string) []string {
				return []string{slapd.LDIFEntry("ou=legacy-viewers,"+slapd.GroupsDN,
					"objectClass", "groupOfNames", "ou", "legacy-viewers", "cn", name, "member", member)}
			},
		},
		{
			name:  "a multi-valued RDN",
			decoy: "cn=" + name + "+ou=legacy," + slapd.GroupsDN,
			records: func(member string) []string {
				return []string{slapd.LDIFEntry("cn="+name+"+ou=legacy,"+slapd.GroupsDN,
					"objectClass", "groupOfNames", "cn", name, "ou", "legacy", "member", member)}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := slapd.Start(t)
			b := backend(t, s)
			ctx := t.Context()
			zoe := ensure(t, b, "zoe@partner.example")
			s.Add(t, tc.records(zoe.ID)...)
			decoy, ok := s.Entry(t, tc.decoy)
			if !ok {
				t.Fatalf("the decoy %s was not seeded", tc.decoy)
			}

			if gs := groupsOf(t, b, zoe); len(gs) != 0 {
				t.Fatalf("Groups = %q: the decoy %s is taken for the group %s", gs, tc.decoy, groupDN)
			}
			// Without createGroups the group is missing, decoy or not.
			strict := backend(t, s, func(c *ldap.Config) { c.CreateGroups = false })
			wantIs(t, strict.AddMember(ctx, name, zoe), identity.ErrGroupNotFound)
			unchanged(t, s, tc.decoy, decoy, "AddMember without createGroups")
			// Nothing to remove where partnerops writes: success, decoy kept.
			if err := b.RemoveMember(ctx, name, zoe); err != nil {
				t.Fatalf("RemoveMember before AddMember: %v", err)
			}
			unchanged(t, s, tc.decoy, decoy, "RemoveMember of a missing membership")

			// The grant lands in the real group.
			if err := b.AddMember(ctx, name, zoe); err != nil {
				t.Fatal(err)
			}
			if got := members(t, s, name); !slices.Equal(got, []string{zoe.ID}) {
				t.Errorf("%s members = %q, want [%s]", groupDN, got, zoe.ID)
			}
			unchanged(t, s, tc.decoy, decoy, "AddMember")
			if gs := groupsOf(t, b, zoe); !slices.Equal(gs, []string{name}) {
				t.Errorf("Groups after AddMember = %q, want [%s]", gs, name)
			}

			// And leaves it: the real group (partnerops's, now empty) goes,
			// the decoy keeps its member.
			if err := b.RemoveMember(ctx, name, zoe); err != nil {
				t.Fatal(err)
			}
			if _, ok := s.Entry(t, groupDN); ok {
				t.Errorf("%s still there after its last member left", groupDN)
			}
			unchanged(t, s, tc.decoy, decoy, "RemoveMember")
			if gs := groupsOf(t, b, zoe); len(gs) != 0 {
				t.Errorf("Groups after RemoveMember = %q, want none", gs)
			}
		})
	}
}

// The parent check compares DNs, not strings: a group base DN written in
// another case or with spaces still finds the groups under it.
func TestGroupsWithGroupBaseSpeltOtherwise(t *testing.T) {
	s := slapd.Start(t)
	b := backend(t, s, func(c *ldap.Config) { c.GroupBaseDN = "OU=Groups, DC=Example, DC=com" })
	zoe := ensure(t, b, "zoe@partner.example")
	if err := b.AddMember(t.Context(), "partnerops.acme.crm.editor", zoe); err != nil {
		t.Fatal(err)
	}
	if gs := groupsOf(t, b, zoe); !slices.Equal(gs, []string{"partnerops.acme.crm.editor"}) {
		t.Errorf("Groups = %q", gs)
	}
}

// userDecoys are entries under the user base DN, other than
// uid=<partner>,<base>, whose mail is the partner's address: anyone who may
// write their own mail can make one.
var userDecoys = []struct {
	name, dn string
	records  []string
}{
	{
		name:    "another uid",
		dn:      "uid=mallory," + slapd.PeopleDN,
		records: []string{slapd.LDIFEntry("uid=mallory,"+slapd.PeopleDN, "objectClass", "inetOrgPerson", "uid", "mallory", "cn", "m", "sn", "m", "mail", "zoe@partner.example")},
	},
	{
		name: "the partner's uid in a sub-OU",
		dn:   "uid=zoe@partner.example,ou=contractors," + slapd.PeopleDN,
		records: []string{
			slapd.LDIFEntry("ou=contractors,"+slapd.PeopleDN, "objectClass", "organizationalUnit", "ou", "contractors"),
			slapd.LDIFEntry("uid=zoe@partner.example,ou=contractors,"+slapd.PeopleDN, "objectClass", "inetOrgPerson",
				"uid", "zoe@partner.example", "cn", "m", "sn", "m", "mail", "zoe@partner.example"),
		},
	},
	{
		name:    "another RDN, the mail in another case",
		dn:      "cn=Zoe Partner," + slapd.PeopleDN,
		records: []string{slapd.LDIFEntry("cn=Zoe Partner,"+slapd.PeopleDN, "objectClass", "inetOrgPerson", "cn", "Zoe Partner", "sn", "P", "mail", "ZOE@Partner.Example")},
	},
}

// By default a mail is no proof: the partner's user is the entry at
// uid=<email>,<UserBaseDN> and nothing else, whatever mail others carry.
func TestUserIsTheEntryAtItsDNByDefault(t *testing.T) {
	const email = "zoe@partner.example"
	wantDN := "uid=" + email + "," + slapd.PeopleDN
	for _, tc := range userDecoys {
		t.Run(tc.name, func(t *testing.T) {
			s := slapd.Start(t)
			s.Add(t, tc.records...)
			decoy, _ := s.Entry(t, tc.dn)
			b := backend(t, s)
			ctx := t.Context()

			if u, err := b.FindUser(ctx, email); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("FindUser = %+v, %v; want ErrNotFound, not the entry %s that merely has the mail", u, err, tc.dn)
			}
			u := ensure(t, b, email)
			if u.ID != wantDN || !u.Managed {
				t.Fatalf("EnsureUser = %+v, want the new %s, Managed", u, wantDN)
			}
			if found, err := b.FindUser(ctx, email); err != nil || found != u {
				t.Fatalf("FindUser after EnsureUser = %+v, %v; want %+v", found, err, u)
			}
			if err := b.AddMember(ctx, "partnerops.acme.insights.viewer", u); err != nil {
				t.Fatal(err)
			}
			if got := members(t, s, "partnerops.acme.insights.viewer"); !slices.Equal(got, []string{wantDN}) {
				t.Errorf("members = %q, want only %s", got, wantDN)
			}
			if gs := groupsOf(t, b, identity.User{ID: tc.dn}); len(gs) != 0 {
				t.Errorf("the decoy %s is in %q", tc.dn, gs)
			}
			unchanged(t, s, tc.dn, decoy, "the grant")
		})
	}
}

// With trustMailAttribute, the user is found by mail anywhere under the
// user base DN, as for a directory whose ACL makes mail trustworthy.
func TestTrustMailAttribute(t *testing.T) {
	const email = "zoe@partner.example"
	for _, tc := range userDecoys {
		t.Run(tc.name, func(t *testing.T) {
			s := slapd.Start(t)
			s.Add(t, tc.records...)
			b := backend(t, s, trustMail)
			ctx := t.Context()

			found, err := b.FindUser(ctx, email)
			if err != nil || !strings.EqualFold(found.ID, tc.dn) || found.Managed {
				t.Fatalf("FindUser = %+v, %v; want the existing %s, not Managed", found, err, tc.dn)
			}
			if u := ensure(t, b, email); u != found {
				t.Fatalf("EnsureUser = %+v, want %+v", u, found)
			}
			if _, ok := s.Entry(t, "uid="+email+","+slapd.PeopleDN); ok && tc.dn != "uid="+email+","+slapd.PeopleDN {
				t.Error("EnsureUser created an entry although one has the mail")
			}
		})
	}
}

// By default, the entry at uid=<email>,<UserBaseDN> is the partner's user,
// marked or not, provided its mail is the email (without ASCII case); another
// mail, or none, is a conflict an administrator must resolve, never a user
// to grant. Its grants are still removed: FindUser, which finds the user
// to revoke, returns the entry at the DN whatever its mail, so that a
// partner who may write its own mail cannot keep its access by changing it.
func TestUserEntryAtItsDN(t *testing.T) {
	const zoe = "zoe@partner.example"
	for _, tc := range []struct {
		name   string
		email  string
		attrs  []string      // of the entry uid=<email>,<UserBaseDN>
		want   identity.User // ID left out (the entry's DN); zero: ErrConflict
		marked bool          // with want zero: the entry carries partnerops's mark
	}{
		{name: "unmarked, the mail in another case", email: zoe, attrs: []string{"mail", "Zoe@Partner.Example"},
			want: identity.User{Email: "Zoe@Partner.Example"}},
		{name: "marked, several mails", email: zoe, attrs: []string{"mail", "zoe.p@partner.example", "mail", zoe, "description", ldap.Mark},
			want: identity.User{Email: zoe, Managed: true}},
		{name: "another mail", email: zoe, attrs: []string{"mail", "mallory@evil.example"}},
		{name: "marked, its mail changed", email: zoe, attrs: []string{"mail", "zoe.elsewhere@example.org", "description", ldap.Mark}, marked: true},
		{name: "no mail", email: zoe},
		// The Kelvin sign (U+212A) folds to k in Unicode; mail is IA5
		// (ASCII), and kim@ is another mailbox than the one with the sign.
		{name: "a mail equal only under Unicode folding", email: "\u212aim@partner.example", attrs: []string{"mail", "kim@partner.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := slapd.Start(t)
			dn := "uid=" + tc.email + "," + slapd.PeopleDN
			s.Add(t, slapd.LDIFEntry(dn, append([]string{"objectClass", "inetOrgPerson", "uid", tc.email, "cn", "z", "sn", "z"}, tc.attrs...)...))
			b := backend(t, s)
			got, err := b.FindUser(t.Context(), tc.email)
			if tc.want == (identity.User{}) {
				if want := (identity.User{ID: dn, Email: tc.email, Managed: tc.marked}); err != nil || got != want {
					t.Errorf("FindUser = %+v, %v; want the entry at its DN, %+v, to remove its grants", got, err, want)
				}
				_, err = b.EnsureUser(t.Context(), identity.NewUser{Email: tc.email})
				wantIs(t, err, identity.ErrConflict)
				if !strings.Contains(err.Error(), dn) || !strings.Contains(err.Error(), "mail") {
					t.Errorf("the message names neither the DN nor the mail: %v", err)
				}
				t.Log(err)
				return
			}
			tc.want.ID = dn
			if err != nil || got != tc.want {
				t.Fatalf("FindUser = %+v, %v; want %+v", got, err, tc.want)
			}
			if u := ensure(t, b, tc.email); u != tc.want {
				t.Errorf("EnsureUser = %+v, want %+v", u, tc.want)
			}
		})
	}
}

// A missing user base DN is the administrator's error, never "no such
// user": on a revocation, "no such user" lets the controller forget the
// grants it recorded.
func TestUserBaseMissing(t *testing.T) {
	s := slapd.Start(t)
	for name, opt := range map[string]func(*ldap.Config){"default": func(*ldap.Config) {}, "trustMailAttribute": trustMail} {
		t.Run(name, func(t *testing.T) {
			b := backend(t, s, opt, func(c *ldap.Config) { c.UserBaseDN = "ou=nowhere," + slapd.Suffix })
			_, err := b.FindUser(t.Context(), "zoe@partner.example")
			wantIs(t, err, identity.ErrRejected)
			if !strings.Contains(err.Error(), "ou=nowhere,"+slapd.Suffix) {
				t.Errorf("the error does not name the base: %v", err)
			}
			_, err = b.EnsureUser(t.Context(), identity.NewUser{Email: "zoe@partner.example"})
			wantIs(t, err, identity.ErrRejected)
		})
	}
}
