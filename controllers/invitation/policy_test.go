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
			p := checkSpec(tc.inv, tc.account, catalogue())
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
