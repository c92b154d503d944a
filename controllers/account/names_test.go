package account

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// TestInvitationName: names are readable, valid object names, the same for
// addresses that differ only in case, and different for different
// addresses, whatever the address holds.
func TestInvitationName(t *testing.T) {
	long63 := strings.Repeat("a", 62) + "z"
	cases := []struct {
		account, email, want string
	}{
		{"globex", "jane.doe+partners@globex.example", "globex-jane-doe-partners-0183fed8"},
		{"globex", "Jane.Doe+Partners@Globex.Example", "globex-jane-doe-partners-0183fed8"},
		{"globex", "mindy@globex.example", "globex-mindy-"},
		{"globex", "--mindy--@globex.example", "globex-mindy-"},
		{"globex", "a.b_c--d@globex.example", "globex-a-b-c-d-"},
		{"globex", "!#$%&'*+/=?^_`{|}~-@globex.example", "globex-"},
		{"globex", "...@globex.example", "globex-"},
		{"globex", "ÉLODIE@globex.example", "globex-lodie-"},
		{"globex", "名前@globex.example", "globex-"},
		{"globex", "x\x00y\n\r@globex.example", "globex-x-y-"},
		{"globex", "no-at-sign", "globex-no-at-sign-"},
		{"globex", "", "globex-"},
		{"globex", "a@b@globex.example", "globex-a-b-"},
		{"globex", strings.Repeat("ab.", 30) + "@globex.example", "globex-ab-ab-ab-ab-ab-ab-ab-"},
		{"globex", strings.Repeat("x", 64) + "@globex.example", "globex-xxxxxxxxxxxxxxxxxxxx-"},
		{"globex", "abcdefghijklmnopqrs.t@globex.example", "globex-abcdefghijklmnopqrs-"},
		{long63, strings.Repeat("y", 64) + "@" + strings.Repeat("d", 180) + ".example", long63 + "-yyyyyyyyyyyyyyyyyyyy-"},
		{"a", "1@globex.example", "a-1-"},
	}
	for _, tc := range cases {
		got := InvitationName(tc.account, tc.email)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("InvitationName(%q, %q) = %q, want it to start with %q", tc.account, tc.email, got, tc.want)
		}
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Errorf("InvitationName(%q, %q) = %q is not a valid object name: %v", tc.account, tc.email, got, errs)
		}
		local := strings.TrimPrefix(strings.TrimSuffix(got, got[len(got)-9:]), tc.account)
		if len(local) > 1+maxLocalPart {
			t.Errorf("InvitationName(%q, %q) = %q: readable part %q is longer than %d", tc.account, tc.email, got, local, maxLocalPart)
		}
		if again := InvitationName(tc.account, tc.email); again != got {
			t.Errorf("InvitationName is not deterministic: %q then %q", got, again)
		}
		if a := accountOfName(got, tc.email); a != tc.account {
			t.Errorf("accountOfName(%q, %q) = %q, want %q", got, tc.email, a, tc.account)
		}
	}

	// Addresses that read the same after sanitising still get their own name.
	seen := map[string]string{}
	for _, e := range []string{"a.b@x.example", "a_b@x.example", "a-b@x.example", "a+b@x.example", "a.b@y.example", "A.B@X.example"} {
		n := InvitationName("globex", e)
		if prev, ok := seen[n]; ok && v1alpha1.NormalizeEmail(prev) != v1alpha1.NormalizeEmail(e) {
			t.Errorf("%s and %s share the name %s", prev, e, n)
		}
		seen[n] = e
	}
	if len(seen) != 5 {
		t.Errorf("want 5 distinct names for 5 distinct addresses, have %d: %v", len(seen), seen)
	}

	// A name longer than the schema allows for accounts still fits.
	if got := InvitationName(strings.Repeat("a", 300), "mindy@globex.example"); len(got) > 253 || len(validation.IsDNS1123Subdomain(got)) > 0 {
		t.Errorf("an over-long account name gives %q (%d characters)", got, len(got))
	}
}

// TestAccountOfName: only a name shaped as some account's child name for
// the address maps back to that account.
func TestAccountOfName(t *testing.T) {
	name := InvitationName("globex", "mindy@globex.example")
	cases := []struct{ name, email, want string }{
		{name, "mindy@globex.example", "globex"},
		{name, "MINDY@globex.example", "globex"},
		{name, "hank@globex.example", ""},
		{"mindy", "mindy@globex.example", ""},
		{strings.TrimPrefix(name, "globex"), "mindy@globex.example", ""},
	}
	for _, tc := range cases {
		if got := accountOfName(tc.name, tc.email); got != tc.want {
			t.Errorf("accountOfName(%q, %q) = %q, want %q", tc.name, tc.email, got, tc.want)
		}
	}
}

// FuzzInvitationName: any address gives a valid name that maps back to the
// account, for the shortest and the longest account names.
func FuzzInvitationName(f *testing.F) {
	for _, e := range []string{"jane.doe@globex.example", "", "@", "a@b@c", "ÉLODIE@x.example", "\x00@\xff", strings.Repeat("-", 100)} {
		f.Add(e)
	}
	accounts := []string{"a", "globex", strings.Repeat("a", 62) + "z"}
	f.Fuzz(func(t *testing.T, email string) {
		for _, account := range accounts {
			got := InvitationName(account, email)
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Fatalf("InvitationName(%q, %q) = %q: %v", account, email, got, errs)
			}
			if a := accountOfName(got, email); a != account {
				t.Fatalf("accountOfName(%q, %q) = %q, want %q", got, email, a, account)
			}
		}
	})
}
