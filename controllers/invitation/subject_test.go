package invitation_test

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

// Who signed in lands on the backend user (issue 15): through the whole
// manager, with the in-memory backend recording the sign-in as a driver
// configured with a subjectAttribute does (the drivers' own tests hold it
// against the SCIM server and slapd).

const idpIssuer = "https://idp.globex.example"

func signedInAs(sub string) *v1alpha1.SignedInIdentity {
	return &v1alpha1.SignedInIdentity{Issuer: idpIssuer, Subject: sub}
}

// TestSignedInSubjectOnTheBackendUser: a signed-in acceptance puts its
// issuer and subject on the user partnerops creates; an acceptance without
// sign-in writes none; a user partnerops did not create is granted but not
// changed.
func TestSignedInSubjectOnTheBackendUser(t *testing.T) {
	h := start(t)
	h.Backend.SeedUser("ann@globex.example")
	h.Account("globex")
	for name, who := range map[string]*v1alpha1.SignedInIdentity{"mindy": signedInAs("sub-mindy"), "noah": nil, "ann": signedInAs("sub-ann")} {
		h.Invite(name, name+"@globex.example")
		h.AcceptSignedIn(name, who)
	}
	for name, want := range map[string]identity.SignIn{
		"mindy": {Issuer: idpIssuer, Subject: "sub-mindy"},
		"noah":  {}, // no sign-in: nothing written
		"ann":   {}, // not partnerops's user: never changed
	} {
		inv := h.waitGranted(name)
		if got := h.Backend.SignIn(name + "@globex.example"); got != want {
			t.Errorf("%s: the backend user holds the sign-in %+v, want %+v", name, got, want)
		}
		if ag := inv.Status.AppliedGrants; ag == nil || ag.UserCreated != (name != "ann") {
			t.Errorf("%s: appliedGrants %+v", name, ag)
		}
	}
}

// TestSignedInSubjectConflict: a user that holds another person's subject
// is neither changed nor granted: GrantsSynced and Ready say why.
func TestSignedInSubjectConflict(t *testing.T) {
	h := start(t)
	h.Backend.SeedUser("bob@globex.example")
	h.Backend.SetSignIn("bob@globex.example", identity.SignIn{Issuer: idpIssuer, Subject: "sub-bob"})
	h.Account("globex")
	h.Invite("bob", "bob@globex.example")
	h.AcceptSignedIn("bob", signedInAs("sub-mallory"))
	inv := h.WaitCondition("bob", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendRejected)
	if c := condition(inv, v1alpha1.ConditionGrantsSynced); !strings.Contains(c.Message, "sub-mallory") || !strings.Contains(c.Message, "sub-bob") {
		t.Errorf("GrantsSynced says %q, want both subjects named", c.Message)
	}
	if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v, want False", c)
	}
	if got := h.Backend.SignIn("bob@globex.example"); got.Subject != "sub-bob" {
		t.Errorf("the user's sign-in became %+v", got)
	}
	for _, g := range h.Backend.GroupNames() {
		if slices.Contains(h.Backend.Members(g), "bob@globex.example") {
			t.Errorf("bob was granted %s on another person's user", g)
		}
	}
}

// TestSignedInAsRewrittenGrantsNothing: a signedInAs someone rewrote in
// status unverifies the acceptance: the backend user keeps the subject the
// acceptance page recorded, and nothing is called.
func TestSignedInAsRewrittenGrantsNothing(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Invite("mindy", "mindy@globex.example")
	h.AcceptSignedIn("mindy", signedInAs("sub-mindy"))
	h.waitGranted("mindy")
	if got := h.Backend.SignIn("mindy@globex.example"); got.Subject != "sub-mindy" {
		t.Fatalf("the signed-in acceptance recorded %+v", got)
	}
	calls := h.Backend.Calls()
	h.WriteStatus("mindy", func(inv *v1alpha1.PartnerInvitation) { inv.Status.SignedInAs = signedInAs("sub-mallory") })
	h.WaitCondition("mindy", v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonAcceptanceUnverified)
	if got := h.Backend.SignIn("mindy@globex.example"); got.Subject != "sub-mindy" {
		t.Errorf("a rewritten signedInAs reached the backend user: %+v", got)
	}
	if got := h.Backend.Calls(); got != calls {
		t.Errorf("a rewritten signedInAs cost %d backend calls, want none", got-calls)
	}
}

// TestSignedInSubjectOnAUserCreatedEarlier: the user partnerops created for
// an acceptance without sign-in (in one namespace) gets the subject when
// the same partner accepts signed in (in another): the same user.
func TestSignedInSubjectOnAUserCreatedEarlier(t *testing.T) {
	h := start(t, managertest.WithNamespaces(1))
	h.Account("globex")
	first := h.grant("mindy", "mindy@globex.example")
	if got := h.Backend.SignIn("mindy@globex.example"); got != (identity.SignIn{}) {
		t.Fatalf("an acceptance without sign-in recorded %+v", got)
	}
	o := h.in(h.Others[0])
	o.Account("globex")
	o.Invite("mindy", "mindy@globex.example")
	o.AcceptSignedIn("mindy", signedInAs("sub-mindy"))
	second := o.waitGranted("mindy")
	if got := h.Backend.SignIn("mindy@globex.example"); got != (identity.SignIn{Issuer: idpIssuer, Subject: "sub-mindy"}) {
		t.Errorf("the user partnerops created earlier holds %+v after a signed-in acceptance", got)
	}
	if second.Status.AppliedGrants.UserID != first.Status.AppliedGrants.UserID {
		t.Errorf("another user: %s, then %s", first.Status.AppliedGrants.UserID, second.Status.AppliedGrants.UserID)
	}
}
