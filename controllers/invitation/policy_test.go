package invitation

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
)

func catalogue() *config.Config {
	return &config.Config{Catalogue: config.Catalogue{
		Roles:   []config.CatalogueEntry{{Key: "admin"}, {Key: "editor"}},
		Systems: []config.CatalogueEntry{{Key: "insights"}, {Key: "editor"}},
	}}
}

type invOpt func(*v1alpha1.PartnerInvitation)

func newInv(opts ...invOpt) *v1alpha1.PartnerInvitation {
	inv := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "mindy"},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: "globex", Email: "mindy@globex.example", Role: "editor",
			Systems: []v1alpha1.CatalogueKey{"insights"},
		},
	}
	for _, o := range opts {
		o(inv)
	}
	return inv
}

func newAccount(domains ...v1alpha1.DomainName) *v1alpha1.PartnerAccount {
	return &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "globex"},
		Spec:       v1alpha1.PartnerAccountSpec{DisplayName: "Globex", AllowedDomains: domains},
	}
}

func TestCheckSpec(t *testing.T) {
	cases := map[string]struct {
		inv        *v1alpha1.PartnerInvitation
		account    *v1alpha1.PartnerAccount
		wantReason string
		wantInMsg  []string
	}{
		"valid": {inv: newInv(), account: newAccount()},
		"unknown role": {
			inv:     newInv(func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "owner" }),
			account: newAccount(), wantReason: v1alpha1.ReasonUnknownRole,
			wantInMsg: []string{`role "owner" is not in`, "known roles: admin, editor"},
		},
		"one unknown system": {
			inv:     newInv(func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"insights", "billing"} }),
			account: newAccount(), wantReason: v1alpha1.ReasonUnknownSystem,
			wantInMsg: []string{`system "billing" is not in`, "known systems: insights, editor"},
		},
		"two unknown systems": {
			inv:     newInv(func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"crm", "billing"} }),
			account: newAccount(), wantReason: v1alpha1.ReasonUnknownSystem,
			wantInMsg: []string{`systems "crm", "billing" are not in`},
		},
		"no account": {
			inv: newInv(), account: nil, wantReason: v1alpha1.ReasonAccountNotFound,
			wantInMsg: []string{`PartnerAccount "globex" does not exist in namespace acme`},
		},
		"domain not allowed": {
			inv: newInv(), account: newAccount("initech.example"), wantReason: v1alpha1.ReasonDomainNotAllowed,
			wantInMsg: []string{"mindy@globex.example is outside the domains PartnerAccount globex allows (initech.example)"},
		},
		"role checked before account": {
			inv:     newInv(func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "owner" }),
			account: nil, wantReason: v1alpha1.ReasonUnknownRole,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := checkSpec(tc.inv, tc.account, nil, catalogue())
			if tc.wantReason == "" {
				if p != nil {
					t.Fatalf("want valid, got %+v", p)
				}
				return
			}
			if p == nil || p.Reason != tc.wantReason {
				t.Fatalf("want reason %s, got %+v", tc.wantReason, p)
			}
			for _, w := range tc.wantInMsg {
				if !strings.Contains(p.Message, w) {
					t.Errorf("message %q does not say %q", p.Message, w)
				}
			}
		})
	}
}

func TestTTL(t *testing.T) {
	withTTL := func(s v1alpha1.TTL) invOpt { return func(i *v1alpha1.PartnerInvitation) { i.Spec.TTL = s } }
	acct := newAccount()
	acct.Spec.InvitationTTL = "72h"
	cases := map[string]struct {
		inv     *v1alpha1.PartnerInvitation
		account *v1alpha1.PartnerAccount
		want    time.Duration
	}{
		"default is 7 days":          {newInv(), newAccount(), 168 * time.Hour},
		"account's ttl":              {newInv(), acct, 72 * time.Hour},
		"invitation's ttl wins":      {newInv(withTTL("24h")), acct, 24 * time.Hour},
		"no account yet, invitation": {newInv(withTTL("2h30m")), nil, 150 * time.Minute},
	}
	for name, tc := range cases {
		if got := ttl(tc.inv, tc.account); got != tc.want {
			t.Errorf("%s: ttl = %v, want %v", name, got, tc.want)
		}
	}
}

func TestSendWanted(t *testing.T) {
	sent := &metav1.Time{Time: time.Now()}
	rejected := []metav1.Condition{{Type: v1alpha1.ConditionEmailSent, Status: "False", Reason: v1alpha1.ReasonRecipientRejected}}
	smtpDown := []metav1.Condition{{Type: v1alpha1.ConditionEmailSent, Status: "False", Reason: v1alpha1.ReasonSMTPUnavailable}}
	cases := map[string]struct {
		resend, observed int32
		sentAt           *metav1.Time
		conds            []metav1.Condition
		want             bool
	}{
		"never sent":                   {0, 0, nil, nil, true},
		"sent":                         {0, 0, sent, nil, false},
		"resend raised":                {1, 0, sent, nil, true},
		"resend already sent":          {2, 2, sent, nil, false},
		"retry after a temporary fail": {0, 0, nil, smtpDown, true},
		"recipient rejected":           {0, 0, nil, rejected, false},
		"rejected then resend raised":  {1, 0, nil, rejected, true},
	}
	for name, tc := range cases {
		inv := newInv(func(i *v1alpha1.PartnerInvitation) {
			i.Spec.Resend = tc.resend
			i.Status.ObservedResend, i.Status.SentAt, i.Status.Conditions = tc.observed, tc.sentAt, tc.conds
		})
		if got := sendWanted(inv); got != tc.want {
			t.Errorf("%s: sendWanted = %v, want %v", name, got, tc.want)
		}
	}
}

func TestMessageIDIsStablePerGeneration(t *testing.T) {
	a := MessageID("0f8e-uid", 0, "Acme Partners <partners@acme.example>")
	if a != "<invitation.0f8e-uid.0@acme.example>" {
		t.Fatalf("MessageID = %s", a)
	}
	if b := MessageID("0f8e-uid", 0, "partners@acme.example"); b != a {
		t.Errorf("the same invitation and generation gave %s and %s", a, b)
	}
	if c := MessageID("0f8e-uid", 1, "partners@acme.example"); c == a {
		t.Errorf("a resend must be a new message, got the same Message-ID %s", c)
	}
}

func TestAcceptURL(t *testing.T) {
	got := AcceptURL("https://partners.acme.example/base/", "a.b_c-d+e/f=")
	want := "https://partners.acme.example/base/invitations/accept?token=a.b_c-d%2Be%2Ff%3D"
	if got != want {
		t.Errorf("AcceptURL = %s, want %s", got, want)
	}
}

// TestChooseAccount: an invitation without spec.account joins the one
// account whose allowedDomains covers its address most specifically.
func TestChooseAccount(t *testing.T) {
	acct := func(name string, domains ...v1alpha1.DomainName) v1alpha1.PartnerAccount {
		a := newAccount(domains...)
		a.Name = name
		return *a
	}
	deleting := func(a v1alpha1.PartnerAccount) v1alpha1.PartnerAccount {
		a.DeletionTimestamp = &past
		return a
	}
	many := []v1alpha1.PartnerAccount{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		many = append(many, acct(n, "globex.example"))
	}
	cases := map[string]struct {
		email      v1alpha1.EmailAddress
		accounts   []v1alpha1.PartnerAccount
		want       string
		wantReason string
		wantInMsg  []string
	}{
		"the one covering the domain": {email: "jane@globex.example",
			accounts: []v1alpha1.PartnerAccount{acct("initech", "initech.example"), acct("globex", "globex.example", "globex.example.org")}, want: "globex"},
		"a parent domain covers a subdomain": {email: "jane@de.eu.globex.example",
			accounts: []v1alpha1.PartnerAccount{acct("globex", "globex.example")}, want: "globex"},
		"the most specific domain wins": {email: "jane@eu.globex.example",
			accounts: []v1alpha1.PartnerAccount{acct("globex", "globex.example"), acct("globex-eu", "eu.globex.example")}, want: "globex-eu"},
		"whatever the order": {email: "jane@EU.globex.example",
			accounts: []v1alpha1.PartnerAccount{acct("globex-eu", "eu.globex.example"), acct("globex", "globex.example")}, want: "globex-eu"},
		"the less specific one for the parent domain": {email: "jane@globex.example",
			accounts: []v1alpha1.PartnerAccount{acct("globex-eu", "eu.globex.example"), acct("globex", "globex.example")}, want: "globex"},
		"an account being deleted is no candidate": {email: "jane@eu.globex.example",
			accounts: []v1alpha1.PartnerAccount{deleting(acct("globex-eu", "eu.globex.example")), acct("globex", "globex.example")}, want: "globex"},
		"no account": {email: "jane@globex.example", wantReason: v1alpha1.ReasonNoAccountForDomain,
			wantInMsg: []string{"No PartnerAccount of namespace acme has globex.example, the domain of jane@globex.example, in its allowedDomains", "the namespace has no PartnerAccount", "Add globex.example to an account's allowedDomains"}},
		"none covers it": {email: "jane@globex.example", wantReason: v1alpha1.ReasonNoAccountForDomain,
			accounts:  []v1alpha1.PartnerAccount{acct("umbrella", "umbrella.example"), acct("initech", "initech.example", "eu.globex.example"), acct("open")},
			wantInMsg: []string{"accounts and the domains they allow: initech (initech.example, eu.globex.example), umbrella (umbrella.example)", "accounts without allowedDomains are never chosen by domain: open"}},
		"an account without allowedDomains covers nothing": {email: "jane@globex.example", wantReason: v1alpha1.ReasonNoAccountForDomain,
			accounts: []v1alpha1.PartnerAccount{acct("open")}, wantInMsg: []string{"never chosen by domain: open"}},
		"only an account being deleted": {email: "jane@globex.example", wantReason: v1alpha1.ReasonNoAccountForDomain,
			accounts: []v1alpha1.PartnerAccount{deleting(acct("globex", "globex.example"))}, wantInMsg: []string{"the namespace has no PartnerAccount"}},
		"a tie": {email: "jane@eu.globex.example", wantReason: v1alpha1.ReasonAmbiguousAccount,
			accounts:  []v1alpha1.PartnerAccount{acct("globex", "globex.example"), acct("hooli", "eu.globex.example"), acct("globex-eu", "EU.globex.example")},
			wantInMsg: []string{"jane@eu.globex.example is covered equally by 2 PartnerAccounts of namespace acme, which all allow eu.globex.example: globex-eu, hooli", "spec.account"}},
		"a tie of many is counted": {email: "jane@globex.example", wantReason: v1alpha1.ReasonAmbiguousAccount, accounts: many,
			wantInMsg: []string{"by 7 PartnerAccounts", "a, b, c, d, e and 2 more"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			inv := newInv(func(i *v1alpha1.PartnerInvitation) { i.Spec.Account, i.Spec.Email = "", tc.email })
			got, p := chooseAccount(inv, tc.accounts)
			if tc.wantReason == "" {
				if p != nil || got == nil || got.Name != tc.want {
					t.Fatalf("chose %v (%+v), want %s", got, p, tc.want)
				}
				return
			}
			if got != nil || p == nil || p.Reason != tc.wantReason {
				t.Fatalf("chose %v (%+v), want none with %s", got, p, tc.wantReason)
			}
			for _, w := range tc.wantInMsg {
				if !strings.Contains(p.Message, w) {
					t.Errorf("message %q does not say %q", p.Message, w)
				}
			}
		})
	}
}
