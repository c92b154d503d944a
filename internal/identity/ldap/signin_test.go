package ldap_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/ldap"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

// The sign-in recorded on the user (identity.NewUser.SignedInAs), against
// slapd, in attributes inetOrgPerson allows: employeeNumber (the subject)
// and labeledURI (the issuer).

const issuer = "https://idp.partner.test"

func recordSignIn(c *ldap.Config) {
	c.SubjectAttribute, c.IssuerAttribute = "employeeNumber", "labeledURI"
}

func signedIn(email, sub string) identity.NewUser {
	return identity.NewUser{Email: email, SignedInAs: &identity.SignIn{Issuer: issuer, Subject: sub}}
}

// signInOf is what the entry dn holds: employeeNumber, labeledURI.
func signInOf(t *testing.T, s *slapd.Server, dn string) (sub, iss []string) {
	t.Helper()
	e, ok := s.Entry(t, dn)
	if !ok {
		t.Fatalf("no entry %s", dn)
	}
	return e.Get("employeeNumber"), e.Get("labeledURI")
}

func wantSignIn(t *testing.T, s *slapd.Server, dn string, sub, iss []string) {
	t.Helper()
	gotSub, gotIss := signInOf(t, s, dn)
	if !slices.Equal(gotSub, sub) || !slices.Equal(gotIss, iss) {
		t.Errorf("%s: employeeNumber %q, labeledURI %q; want %q, %q", dn, gotSub, gotIss, sub, iss)
	}
}

// TestSignIn: configured, a user partnerops creates for a signed-in
// acceptance holds the subject and issuer (description keeps the mark);
// without a sign-in, or without the configuration, nothing is written
// there; a user partnerops created earlier gets the sign-in it lacks; a
// user partnerops did not create is never changed; a user holding another
// subject is a conflict, left as it is.
func TestSignIn(t *testing.T) {
	s := slapd.Start(t)
	b := backend(t, s, recordSignIn)
	ctx := t.Context()
	jane := "uid=jane@partner.test," + slapd.PeopleDN

	u, err := b.EnsureUser(ctx, signedIn("jane@partner.test", "sub-jane"))
	if err != nil || u.ID != jane || !u.Managed {
		t.Fatalf("EnsureUser: %+v, %v", u, err)
	}
	wantSignIn(t, s, jane, []string{"sub-jane"}, []string{issuer})
	if e, _ := s.Entry(t, jane); !e.Has("description", ldap.Mark) {
		t.Errorf("%s lost partnerops's mark: %q", jane, e.Get("description"))
	}
	if again, err := b.EnsureUser(ctx, signedIn("jane@partner.test", "sub-jane")); err != nil || again != u {
		t.Errorf("EnsureUser again: %+v, %v", again, err)
	}

	// Without a sign-in, and without the configuration: nothing there.
	if _, err := b.EnsureUser(ctx, identity.NewUser{Email: "late@partner.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := backend(t, s).EnsureUser(ctx, signedIn("off@partner.test", "sub-off")); err != nil {
		t.Fatal(err)
	}
	late, off := "uid=late@partner.test,"+slapd.PeopleDN, "uid=off@partner.test,"+slapd.PeopleDN
	wantSignIn(t, s, late, nil, nil)
	wantSignIn(t, s, off, nil, nil)

	// Created earlier by partnerops: the signed-in acceptance records it.
	if _, err := b.EnsureUser(ctx, signedIn("late@partner.test", "sub-late")); err != nil {
		t.Fatal(err)
	}
	wantSignIn(t, s, late, []string{"sub-late"}, []string{issuer})

	// A user partnerops did not create: found, never written.
	ann := s.AddUser(t, "ann@partner.test", "ann@partner.test", "description", "hired 2019")
	if u, err := b.EnsureUser(ctx, signedIn("ann@partner.test", "sub-ann")); err != nil || u.ID != ann || u.Managed {
		t.Fatalf("EnsureUser of a user partnerops did not create: %+v, %v", u, err)
	}
	wantSignIn(t, s, ann, nil, nil)

	// Another person: a conflict, whoever created the user; nothing changes.
	bob := s.AddUser(t, "bob@partner.test", "bob@partner.test", "employeeNumber", "sub-bob")
	for dn, was := range map[string][]string{jane: {"sub-jane"}, bob: {"sub-bob"}} {
		email := strings.TrimPrefix(strings.Split(dn, ",")[0], "uid=")
		_, err := b.EnsureUser(ctx, signedIn(email, "sub-mallory"))
		if !errors.Is(err, identity.ErrConflict) || !strings.Contains(err.Error(), "sub-mallory") {
			t.Errorf("EnsureUser of %s as another subject: %v, want a conflict naming it", email, err)
		}
		if sub, _ := signInOf(t, s, dn); !slices.Equal(sub, was) {
			t.Errorf("%s: employeeNumber %q after the conflict, want %q", dn, sub, was)
		}
	}
	if _, err := b.EnsureUser(ctx, identity.NewUser{Email: "jane@partner.test", SignedInAs: &identity.SignIn{Issuer: "https://elsewhere.test", Subject: "sub-jane"}}); !errors.Is(err, identity.ErrConflict) {
		t.Errorf("EnsureUser as the same subject of another issuer: %v, want a conflict", err)
	}
}

// TestSignInAttributeRefused: an attribute the entry's classes do not
// allow stops the grant with the directory's words; a bad configuration
// stops New.
func TestSignInAttributeRefused(t *testing.T) {
	s := slapd.Start(t)
	b := backend(t, s, func(c *ldap.Config) { c.SubjectAttribute = "gidNumber" })
	_, err := b.EnsureUser(t.Context(), signedIn("jane@partner.test", "sub-jane"))
	if !errors.Is(err, identity.ErrRejected) {
		t.Errorf("EnsureUser with an attribute inetOrgPerson does not allow: %v, want it rejected", err)
	}
	for _, cfg := range []func(*ldap.Config){
		func(c *ldap.Config) { c.SubjectAttribute = "mail" },
		func(c *ldap.Config) { c.SubjectAttribute = "description" },
		func(c *ldap.Config) { c.SubjectAttribute = "employeeNumber;binary" },
		func(c *ldap.Config) { c.IssuerAttribute = "labeledURI" },
		func(c *ldap.Config) { c.SubjectAttribute, c.IssuerAttribute = "employeeNumber", "EmployeeNumber" },
	} {
		cfgd := ldap.Config{URL: s.URL, BindDN: slapd.RootDN, UserBaseDN: slapd.PeopleDN, GroupBaseDN: slapd.GroupsDN,
			Password: func(context.Context) (string, error) { return s.RootPassword, nil }}
		cfg(&cfgd)
		if _, err := ldap.New(cfgd); err == nil {
			t.Errorf("New accepted SubjectAttribute %q, IssuerAttribute %q", cfgd.SubjectAttribute, cfgd.IssuerAttribute)
		}
	}
}
