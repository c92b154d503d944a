package scim_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/scim"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
)

// The sign-in recorded on the user (identity.NewUser.SignedInAs), against
// the SCIM server, which declares the partnerops extension.

const (
	subjectAttr = scim.PartnerOpsUserSchema + ":subject"
	issuerAttr  = scim.PartnerOpsUserSchema + ":issuer"
	issuer      = "https://idp.partner.test"
)

func signIn(sub string) *identity.SignIn { return &identity.SignIn{Issuer: issuer, Subject: sub} }

// signInOf reads what the server holds of email's sign-in (zero when none).
func signInOf(t *testing.T, e *env, email string) scimpeer.SignIn {
	t.Helper()
	u, ok := e.srv.User(t, email)
	if !ok {
		t.Fatalf("no user %s", email)
	}
	if u.SignIn == nil {
		return scimpeer.SignIn{}
	}
	return *u.SignIn
}

// TestSCIMMYSignIn: configured with the partnerops extension, a user
// partnerops creates for a signed-in acceptance holds the issuer and the
// subject (externalId stays partnerops's mark); without a sign-in, or
// without the configuration, nothing is written there; a user partnerops
// created earlier gets the sign-in it lacks; a user partnerops did not
// create is never changed; a user holding another subject is a conflict,
// left as it is.
func TestSCIMMYSignIn(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	ctx := context.Background()
	c := e.clientWith(t, scim.Config{SubjectAttribute: subjectAttr, IssuerAttribute: issuerAttr})
	want := scimpeer.SignIn{Issuer: issuer, Subject: "sub-jane"}

	// Created for a signed-in acceptance.
	u, err := c.EnsureUser(ctx, identity.NewUser{Email: "jane@partner.test", SignedInAs: signIn("sub-jane")})
	if err != nil || !u.Managed {
		t.Fatalf("EnsureUser: %+v, %v", u, err)
	}
	if got := signInOf(t, e, "jane@partner.test"); got != want {
		t.Errorf("the user partnerops created holds %+v, want %+v", got, want)
	}
	if su, _ := e.srv.User(t, "jane@partner.test"); !strings.HasPrefix(su.ExternalID, scim.MarkPrefix) {
		t.Errorf("externalId %q: partnerops's mark is gone", su.ExternalID)
	}
	// Again, the same person: the same user, unchanged.
	if again, err := c.EnsureUser(ctx, identity.NewUser{Email: "jane@partner.test", SignedInAs: signIn("sub-jane")}); err != nil || again.ID != u.ID {
		t.Errorf("EnsureUser again: %+v, %v", again, err)
	}

	// Created without a sign-in, and then without the configuration.
	if _, err := c.EnsureUser(ctx, identity.NewUser{Email: "nosignin@partner.test"}); err != nil {
		t.Fatal(err)
	}
	off := e.clientWith(t, scim.Config{})
	if _, err := off.EnsureUser(ctx, identity.NewUser{Email: "off@partner.test", SignedInAs: signIn("sub-off")}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"nosignin@partner.test", "off@partner.test"} {
		if got := signInOf(t, e, email); got != (scimpeer.SignIn{}) {
			t.Errorf("%s holds the sign-in %+v, want none", email, got)
		}
	}

	// Created earlier by partnerops without one: the acceptance now
	// carries a subject, and the user gets it.
	if _, err := c.EnsureUser(ctx, identity.NewUser{Email: "nosignin@partner.test", SignedInAs: signIn("sub-late")}); err != nil {
		t.Fatal(err)
	}
	if got := signInOf(t, e, "nosignin@partner.test"); got != (scimpeer.SignIn{Issuer: issuer, Subject: "sub-late"}) {
		t.Errorf("a user partnerops created earlier holds %+v after a signed-in acceptance", got)
	}

	// A user partnerops did not create: found, never written (newEnv's
	// cleanup checks it too).
	hr, err := c.EnsureUser(ctx, identity.NewUser{Email: e.hrUser.UserName, SignedInAs: signIn("sub-ann")})
	if err != nil || hr.ID != e.hrUser.ID || hr.Managed {
		t.Fatalf("EnsureUser of a user partnerops did not create: %+v, %v", hr, err)
	}
	if got := signInOf(t, e, e.hrUser.UserName); got != (scimpeer.SignIn{}) {
		t.Errorf("a user partnerops did not create was given the sign-in %+v", got)
	}

	// Another person: a conflict, whoever created the user, and nothing
	// changes.
	other := e.srv.CreateUser(t, "bob@partner.test", "hr:1002")
	e.srv.SetSignIn(t, other.ID, scimpeer.SignIn{Issuer: issuer, Subject: "sub-bob"})
	for email, was := range map[string]scimpeer.SignIn{"jane@partner.test": want, "bob@partner.test": {Issuer: issuer, Subject: "sub-bob"}} {
		_, err := c.EnsureUser(ctx, identity.NewUser{Email: email, SignedInAs: signIn("sub-mallory")})
		if !errors.Is(err, identity.ErrConflict) || !strings.Contains(err.Error(), "sub-mallory") {
			t.Errorf("EnsureUser of %s as another subject: %v, want a conflict naming it", email, err)
		}
		if got := signInOf(t, e, email); got != was {
			t.Errorf("%s holds %+v after the conflict, want %+v", email, got, was)
		}
	}
	// Another issuer, the same subject: a conflict too.
	if _, err := c.EnsureUser(ctx, identity.NewUser{Email: "jane@partner.test", SignedInAs: &identity.SignIn{Issuer: "https://elsewhere.test", Subject: "sub-jane"}}); !errors.Is(err, identity.ErrConflict) {
		t.Errorf("EnsureUser as the same subject of another issuer: %v, want a conflict", err)
	}
}

// TestSCIMMYSignInCoreAttribute: a core attribute may hold the subject.
func TestSCIMMYSignInCoreAttribute(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	c := e.clientWith(t, scim.Config{SubjectAttribute: "nickName"})
	if _, err := c.EnsureUser(context.Background(), identity.NewUser{Email: "jane@partner.test", SignedInAs: signIn("sub-jane")}); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.srv.User(t, "jane@partner.test"); u.NickName != "sub-jane" || u.SignIn != nil {
		t.Errorf("nickName %q, extension %+v: want the subject in nickName only", u.NickName, u.SignIn)
	}
}

// TestSCIMMYSignInUndeclared: an attribute the service provider does not
// keep is refused with words saying so, rather than taken as recorded.
func TestSCIMMYSignInUndeclared(t *testing.T) {
	e := newEnv(t, scimpeer.Options{})
	c := e.clientWith(t, scim.Config{SubjectAttribute: "urn:example:params:scim:schemas:extension:unknown:2.0:User:subject"})
	_, err := c.EnsureUser(context.Background(), identity.NewUser{Email: "jane@partner.test", SignedInAs: signIn("sub-jane")})
	if !errors.Is(err, identity.ErrRejected) {
		t.Errorf("EnsureUser with an undeclared attribute: %v, want it rejected", err)
	}
	if _, ok := e.srv.User(t, "jane@partner.test"); ok {
		t.Error("the user that could not hold the sign-in was left behind")
	}
}

// TestSCIMAttributePath: what SubjectAttribute and IssuerAttribute accept.
func TestSCIMAttributePath(t *testing.T) {
	for s, ok := range map[string]bool{
		subjectAttr: true, "nickName": true, "urn:ietf:params:scim:schemas:core:2.0:User:nickName": true,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": true,
		"": false, "name.givenName": false, "externalId": false, "userName": false, "emails": false,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization": false,
		"urn:ietf:params:scim:schemas:core:2.0:User:externalId":                   false,
		"urn:subject": false, "1st": false,
	} {
		if _, err := scim.ParseAttributePath(s); (err == nil) != ok {
			t.Errorf("ParseAttributePath(%q): %v, want ok %v", s, err, ok)
		}
	}
	tok := func(context.Context) (string, error) { return "t", nil }
	for _, cfg := range []scim.Config{
		{IssuerAttribute: issuerAttr},
		{SubjectAttribute: subjectAttr, IssuerAttribute: subjectAttr},
		{SubjectAttribute: "externalId"},
	} {
		cfg.BaseURL, cfg.Token = "http://127.0.0.1:1/scim", tok
		if _, err := scim.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
