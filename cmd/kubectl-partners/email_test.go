package main

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// addresses are the cases both email tests run: the local check must
// agree with the API server on every one.
var addresses = map[string][]string{
	"jane.doe@globex.example":             nil,
	"Jane.Doe+partners@eu.globex.example": nil,
	"o'brien@globex.example":              nil,
	"x@y.co":                              nil,
	"a@b.c":                               {"must be at least 6 characters long"},
	"jane":                                {"must be at least 6 characters long", "must contain exactly one @, as in jane.doe@example.com"},
	"jane.doe.globex.example":             {"must contain exactly one @, as in jane.doe@example.com"},
	"jane@doe@globex.example":             {"must contain exactly one @, as in jane.doe@example.com"},
	"jane@localhost":                      {"the part after @ must be a domain name with a dot, as in example.com"},
	"jane@globex.example.":                {"the part after @ must be a domain name with a dot, as in example.com"},
	"jane@-globex.example":                {"the part after @ must be a domain name with a dot, as in example.com"},
	"jane@globex.123":                     {"the part after @ must be a domain name with a dot, as in example.com"},
	".jane@globex.example":                {"the part before @ may hold only letters, digits, single dots (not first or last) and !#$%&'*+/=?^_`{|}~-"},
	"jane.@globex.example":                {"the part before @ may hold only letters, digits, single dots (not first or last) and !#$%&'*+/=?^_`{|}~-"},
	"jané@globex.example":                 {"the part before @ may hold only letters, digits, single dots (not first or last) and !#$%&'*+/=?^_`{|}~-"},
	"Jane Doe <jane@globex.example>": {
		"must not contain spaces, line breaks or other control characters",
		"the part before @ may hold only letters, digits, single dots (not first or last) and !#$%&'*+/=?^_`{|}~-",
		"the part after @ must be a domain name with a dot, as in example.com",
	},
	"jane@globex.example\r\nBcc: all@globex.example": {
		"must not contain spaces, line breaks or other control characters",
		"must contain exactly one @, as in jane.doe@example.com",
	},
	strings.Repeat("a", 65) + "@globex.example": {"the part before @ must be at most 64 characters"},
	"jane@" + strings.Repeat("a", 250) + ".example": {
		"must be at most 254 characters long",
		"the part after @ must be a domain name with a dot, as in example.com",
	},
}

func TestEmailProblems(t *testing.T) {
	for email, want := range addresses {
		if got := emailProblems(email); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("emailProblems(%q) = %q, want %q", email, got, want)
		}
	}
}

// TestEmailCheckAgreesWithTheAPIServer sends every address to the API
// server (a dry run): the local check refuses exactly what admission
// refuses, so invite never reports a good address as bad, nor lets a bad
// one through to fail half-way.
func TestEmailCheckAgreesWithTheAPIServer(t *testing.T) {
	ns := env.Namespace(t)
	for email := range addresses {
		inv := &v1alpha1.PartnerInvitation{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
			Spec:       v1alpha1.PartnerInvitationSpec{Account: "globex", Email: v1alpha1.EmailAddress(email), Role: "editor"},
		}
		err := env.Client.Create(context.Background(), inv, client.DryRunAll)
		if err != nil && !apierrors.IsInvalid(err) {
			t.Fatalf("%q: %v", email, err)
		}
		if serverOK, localOK := err == nil, len(emailProblems(email)) == 0; serverOK != localOK {
			t.Errorf("%q: API server accepts: %v (%v); local check accepts: %v (%q)", email, serverOK, err, localOK, emailProblems(email))
		}
	}
}

// FuzzEmailProblems: the check never panics, and every address it passes
// gets a valid object name.
func FuzzEmailProblems(f *testing.F) {
	for email := range addresses {
		f.Add(email)
	}
	f.Fuzz(func(t *testing.T, email string) {
		if len(emailProblems(email)) > 0 {
			return
		}
		name := invitationName("globex", email)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("invitationName(globex, %q) = %q: %v", email, name, errs)
		}
		if !v1alpha1.DomainAllowed(email, nil) {
			t.Errorf("v1alpha1.DomainAllowed(%q, none) = false", email)
		}
	})
}
