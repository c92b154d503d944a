package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// TestSpecUsersAddsEntries: --spec-users appends one entry per address to
// the live account's spec.users, with every flag, and leaves the entries
// that were there as they were.
func TestSpecUsersAddsEntries(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users = []v1alpha1.PartnerUser{{Email: "hank@globex.example", Role: "admin", Systems: []v1alpha1.CatalogueKey{"admin-center"},
			Locale: "es", Message: "Hola", TTL: "24h", Resend: 2}}
	}))
	before := getAccount(t, ns, "globex")

	r := mustPartners(t, ns, "invite", "--account", "globex", "--spec-users", "--role", "editor", "--systems", "editor,insights",
		"--locale", "fr", "--message", "Bienvenue !\nÀ bientôt.", "--ttl", "72h", "amelie@globex.example", "carlos@globex.example")

	want := fmt.Sprintf("partneraccount/globex: amelie@globex.example added to spec.users (its invitation: partnerinvitation/%s)\n"+
		"partneraccount/globex: carlos@globex.example added to spec.users (its invitation: partnerinvitation/%s)\n",
		invitationName("globex", "amelie@globex.example"), invitationName("globex", "carlos@globex.example"))
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	got := getAccount(t, ns, "globex").Spec.Users
	added := v1alpha1.PartnerUser{Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor", "insights"}, Locale: "fr", Message: "Bienvenue !\nÀ bientôt.", TTL: "72h"}
	amelie, carlos := added, added
	amelie.Email, carlos.Email = "amelie@globex.example", "carlos@globex.example"
	if !equalJSON(got, []v1alpha1.PartnerUser{before.Spec.Users[0], amelie, carlos}) {
		t.Errorf("spec.users = %+v", got)
	}
	if names := invitationNames(t, ns); len(names) != 0 {
		t.Errorf("invitations %v were created; the account's controller creates them", names)
	}

	// An account without users gets the list; flags left out are left to
	// the account's defaults.
	createAccount(t, newAccount(ns, "initech"))
	r = mustPartners(t, ns, "invite", "--account", "initech", "--spec-users", "--role", "viewer", "-o", "name", "bob@initech.example")
	if r.stdout != "partneraccount.partners.partnerops.dev/initech\n" {
		t.Errorf("-o name printed %q", r.stdout)
	}
	if got := getAccount(t, ns, "initech").Spec.Users; !equalJSON(got, []v1alpha1.PartnerUser{{Email: "bob@initech.example", Role: "viewer"}}) {
		t.Errorf("spec.users = %+v, want bob alone, with no locale, message or ttl of his own", got)
	}
}

// TestSpecUsersRefusesAndWritesNothing: every refusal leaves the account
// as it was.
func TestSpecUsersRefusesAndWritesNothing(t *testing.T) {
	tests := map[string]struct {
		account  *v1alpha1.PartnerAccount
		existing []invitation
		args     []string
		want     string
	}{
		"addresses listed, outside the domains, invited, malformed": {
			account:  newAccount("", "globex", withAllowedDomains("globex.example"), withUser("hank@globex.example", "admin")),
			existing: []invitation{{name: "by-hand", account: "globex", email: "carlos@globex.example", status: status{state: v1alpha1.InvitationExpired, expiresAt: t1}}},
			args:     []string{"HANK@globex.example", "bob@initech.example", "carlos@globex.example", "jane@globex", "amelie@globex.example"},
			want: `4 of 5 addresses cannot be invited, so no user was added to partneraccount "globex":
  HANK@globex.example: already a user of partneraccount "globex" (listed in its spec.users; change the user there)
  bob@initech.example: the domain is not allowed by partneraccount "globex" (allowedDomains: globex.example)
  carlos@globex.example: already invited to account globex by partnerinvitation "by-hand" (Expired); send a fresh link with: kubectl partners resend by-hand
  "jane@globex": the part after @ must be a domain name with a dot, as in example.com`,
		},
		"more users than spec.users holds": {
			account: newAccount("", "globex", func(a *v1alpha1.PartnerAccount) {
				for i := range 149 {
					a.Spec.Users = append(a.Spec.Users, v1alpha1.PartnerUser{Email: v1alpha1.EmailAddress(fmt.Sprintf("u%d@globex.example", i)), Role: "viewer"})
				}
			}),
			args: []string{"a@globex.example", "b@globex.example"},
			want: `partneraccount "globex" would list 151 users, and spec.users holds at most 150: invite the others without -f or --spec-users (standalone invitations)`,
		},
		"no such account": {
			account: newAccount("", "initech"),
			args:    []string{"a@globex.example"},
			want:    `partneraccount "globex" not found in namespace NS: no user was added to partneraccount "globex"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := env.Namespace(t)
			tc.account.Namespace = ns
			createAccount(t, tc.account)
			for _, inv := range tc.existing {
				inv.create(t, ns)
			}
			before := getAccount(t, ns, tc.account.Name)

			r := partners(t, ns, append([]string{"invite", "--account", "globex", "--spec-users", "--role", "editor"}, tc.args...)...)

			if got, want := r.errText(), strings.ReplaceAll(tc.want, "NS", ns); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if after := getAccount(t, ns, tc.account.Name); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("the account was written")
			}
		})
	}
}

// TestSpecUsersSurvivesAConcurrentEdit: someone changes the account
// between the plugin's read and its patch. The patch is refused, the
// plugin decides again on a fresh read, and both edits are in the account.
func TestSpecUsersSurvivesAConcurrentEdit(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex", withUser("hank@globex.example", "admin")))
	edits := 0
	testHookBeforePatch = func(string) {
		edits++
		if edits > 1 {
			return
		}
		// Another admin adds a user and renames the company.
		a := getAccount(t, ns, "globex")
		a.Spec.DisplayName = "Globex Worldwide"
		a.Spec.Users = append(a.Spec.Users, v1alpha1.PartnerUser{Email: "mindy@globex.example", Role: "editor"})
		if err := env.Client.Update(context.Background(), a); err != nil {
			t.Errorf("the concurrent edit: %v", err)
		}
	}
	t.Cleanup(func() { testHookBeforePatch = nil })

	mustPartners(t, ns, "invite", "--account", "globex", "--spec-users", "--role", "viewer", "jane@globex.example")

	if edits != 2 {
		t.Errorf("the plugin read and decided %d times, want 2 (its first patch must be refused)", edits)
	}
	got := getAccount(t, ns, "globex")
	want := []v1alpha1.PartnerUser{{Email: "hank@globex.example", Role: "admin"}, {Email: "mindy@globex.example", Role: "editor"}, {Email: "jane@globex.example", Role: "viewer"}}
	if got.Spec.DisplayName != "Globex Worldwide" || !equalJSON(got.Spec.Users, want) {
		t.Errorf("account: displayName %q, users %+v; want both edits", got.Spec.DisplayName, got.Spec.Users)
	}
}

// TestSpecUsersDecidesAgainAfterAConflict: when the concurrent edit adds
// the very address being invited, the fresh decision refuses it.
func TestSpecUsersDecidesAgainAfterAConflict(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex"))
	testHookBeforePatch = func(string) {
		testHookBeforePatch = nil
		a := getAccount(t, ns, "globex")
		a.Spec.Users = append(a.Spec.Users, v1alpha1.PartnerUser{Email: "Jane@globex.example", Role: "admin"})
		if err := env.Client.Update(context.Background(), a); err != nil {
			t.Errorf("the concurrent edit: %v", err)
		}
	}
	t.Cleanup(func() { testHookBeforePatch = nil })

	r := partners(t, ns, "invite", "--account", "globex", "--spec-users", "--role", "viewer", "jane@globex.example")

	want := `1 of 1 addresses cannot be invited, so no user was added to partneraccount "globex":
  jane@globex.example: already a user of partneraccount "globex" (listed in its spec.users; change the user there)`
	if got := r.errText(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	if got := getAccount(t, ns, "globex").Spec.Users; !equalJSON(got, []v1alpha1.PartnerUser{{Email: "Jane@globex.example", Role: "admin"}}) {
		t.Errorf("spec.users = %+v, want the concurrent entry alone", got)
	}
}

func TestSpecUsersDryRun(t *testing.T) {
	for _, mode := range []string{"client", "server"} {
		t.Run(mode, func(t *testing.T) {
			ns := env.Namespace(t)
			createAccount(t, newAccount(ns, "globex", withUser("hank@globex.example", "admin")))
			before := getAccount(t, ns, "globex")

			r := mustPartners(t, ns, "invite", "--account", "globex", "--spec-users", "--role", "viewer", "--dry-run="+mode, "-o", "yaml", "jane@globex.example")

			var printed v1alpha1.PartnerAccount
			if err := yaml.UnmarshalStrict([]byte(r.stdout), &printed); err != nil {
				t.Fatalf("stdout is not a PartnerAccount: %v\n%s", err, r.stdout)
			}
			want := []v1alpha1.PartnerUser{{Email: "hank@globex.example", Role: "admin"}, {Email: "jane@globex.example", Role: "viewer"}}
			if printed.Kind != "PartnerAccount" || !equalJSON(printed.Spec.Users, want) {
				t.Errorf("printed %s with users %+v, want the account as it would be", printed.Kind, printed.Spec.Users)
			}
			if after := getAccount(t, ns, "globex"); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("a dry run wrote the account")
			}
		})
	}
}
