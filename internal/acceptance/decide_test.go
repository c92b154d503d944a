package acceptance

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

func TestAssess(t *testing.T) {
	deleting := func(inv *v1alpha1.PartnerInvitation) { inv.DeletionTimestamp = &metav1.Time{Time: t0} }
	now := t0.Add(time.Minute)
	// domains sets the account's allowedDomains as they are now.
	domains := func(d ...v1alpha1.DomainName) func(*v1alpha1.PartnerAccount) {
		return func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = d }
	}
	tests := []struct {
		name      string
		inv       *v1alpha1.PartnerInvitation // nil: not found
		link      func(*v1alpha1.PartnerInvitation) link
		noAccount bool
		account   func(*v1alpha1.PartnerAccount) // changes the account as it is now
		want      verdict
		why       string
	}{
		{name: "pending", inv: invitation("jane"), want: verdictPending},
		{name: "never reconciled but its link was sent", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) { inv.Status.State = "" }), want: verdictPending},
		{name: "not found", want: verdictDead, why: whyNotFound},
		{name: "recreated", inv: invitation("jane", withUID("other")), link: linkOf(invitation("jane")), want: verdictDead, why: whyUID},
		{name: "being deleted", inv: invitation("jane", deleting), want: verdictDead, why: whyDeleting},
		{name: "resend raised", inv: invitation("jane", resend(1, 0)), want: verdictDead, why: whyResend},
		{name: "resend sent, old link", inv: invitation("jane", resend(1, 1)), link: linkOf(invitation("jane")), want: verdictDead, why: whyResend},
		{name: "resend sent, its send not recorded yet", inv: invitation("jane", resend(1, 0)), link: linkOf(invitation("jane", resend(1, 1))), want: verdictSending},
		{name: "resend sent and withdrawn, its send not recorded yet", inv: invitation("jane", resend(1, 0), withdrawnSpecOnly), link: linkOf(invitation("jane", resend(1, 1))),
			want: verdictDead, why: whyResend},
		{name: "resend raised again after its send", inv: invitation("jane", resend(2, 0)), link: linkOf(invitation("jane", resend(1, 1))), want: verdictDead, why: whyResend},
		{name: "joins by domain, its first send not recorded yet", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) {
			inv.Spec.Account, inv.Status = "", v1alpha1.PartnerInvitationStatus{}
		}), link: linkOf(nil), want: verdictSending},
		{name: "withdrawn", inv: invitation("jane", withdrawn), want: verdictDead, why: whyWithdrawn},
		{name: "withdrawn, controller late", inv: invitation("jane", withdrawnSpecOnly), want: verdictDead, why: whyWithdrawn},
		{name: "account deleted", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) {
			inv.Status.State = v1alpha1.InvitationRevoked
			setCondition(inv, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAccountDeleted, "", t0)
		}), want: verdictDead, why: whyWithdrawn},
		{name: "declined", inv: invitation("jane", declinedState), want: verdictDeclined},
		{name: "declined, then withdrawn", inv: invitation("jane", declinedState, withdrawnSpecOnly), want: verdictDeclined},
		{name: "invalid", inv: invitation("jane", invalidState), want: verdictDead, why: whyInvalid},
		{name: "no account", inv: invitation("jane"), noAccount: true, want: verdictDead, why: whyNoAccount},
		{name: "joined by domain", inv: invitation("jane", joinedByDomain("uid-globex")), account: func(a *v1alpha1.PartnerAccount) { a.UID = "uid-globex" },
			want: verdictPending},
		{name: "account deleted and created again, controller late", inv: invitation("jane", joinedByDomain("uid-old")),
			account: func(a *v1alpha1.PartnerAccount) { a.UID = "uid-new" }, want: verdictDead, why: whyNoAccount},
		{name: "named account deleted and created again, controller late", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) {
			inv.Status.Account, inv.Status.AccountUID = testAccount, "uid-old"
		}), account: func(a *v1alpha1.PartnerAccount) { a.UID = "uid-new" }, want: verdictDead, why: whyNoAccount},
		{name: "account being deleted, controller late", inv: invitation("jane"), account: func(a *v1alpha1.PartnerAccount) {
			a.DeletionTimestamp = &metav1.Time{Time: t0}
		}, want: verdictDead, why: whyNoAccount},
		{name: "accepted, account being deleted", inv: invitation("jane", acceptedAt(t0)), account: func(a *v1alpha1.PartnerAccount) {
			a.DeletionTimestamp = &metav1.Time{Time: t0}
		}, want: verdictDead, why: whyNoAccount},
		{name: "domain allowed", inv: invitation("jane"), account: domains("initech.example", "globex.example"), want: verdictPending},
		{name: "domain allowed, other case", inv: invitation("jane"), account: domains("GLOBEX.example"), want: verdictPending},
		{name: "subdomain of an allowed domain", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) {
			inv.Spec.Email = "jane@eu.globex.example"
		}), account: domains("globex.example"), want: verdictPending},
		{name: "domain removed, controller late", inv: invitation("jane"), account: domains("initech.example"), want: verdictDead, why: whyDomain},
		{name: "a domain that only ends the same", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) {
			inv.Spec.Email = "jane@notglobex.example"
		}), account: domains("globex.example"), want: verdictDead, why: whyDomain},
		{name: "accepted, domain removed since", inv: invitation("jane", acceptedAt(t0)), account: domains("initech.example"), want: verdictDead, why: whyDomain},
		{name: "accepted, link expired, domain removed since", inv: invitation("jane", acceptedAt(t0), expiredState), account: domains("initech.example"),
			want: verdictDead, why: whyDomain},
		{name: "declined, domain removed since", inv: invitation("jane", declinedState), account: domains("initech.example"), want: verdictDeclined},
		{name: "withdrawn, domain removed since", inv: invitation("jane", withdrawn), account: domains("initech.example"), want: verdictDead, why: whyWithdrawn},
		{name: "accepted", inv: invitation("jane", acceptedAt(t0)), want: verdictAccepted},
		{name: "accepted, state only", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) { inv.Status.State = v1alpha1.InvitationAccepted }), want: verdictAccepted},
		{name: "accepted, link expired since", inv: invitation("jane", acceptedAt(t0), expiredState), want: verdictAccepted},
		{name: "expired state", inv: invitation("jane", expiredState), want: verdictExpired},
		{name: "token expired", inv: invitation("jane"), link: func(inv *v1alpha1.PartnerInvitation) link {
			l := linkOf(inv)(inv)
			l.expired = true
			return l
		}, want: verdictExpired},
		{name: "claims expire now", inv: invitation("jane"), link: func(inv *v1alpha1.PartnerInvitation) link {
			l := linkOf(inv)(inv)
			l.claims.ExpiresAt = now
			return l
		}, want: verdictExpired},
		{name: "status expires now", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) { inv.Status.ExpiresAt = &metav1.Time{Time: now} }),
			link: linkOf(invitation("jane")), want: verdictExpired},
		{name: "one second before expiry", inv: invitation("jane", func(inv *v1alpha1.PartnerInvitation) {
			inv.Status.ExpiresAt = &metav1.Time{Time: now.Add(time.Second)}
		}), want: verdictPending},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mk := tc.link
			if mk == nil {
				mk = linkOf(tc.inv)
			}
			l := mk(tc.inv)
			acct := account()
			if tc.account != nil {
				tc.account(acct)
			}
			if tc.noAccount {
				acct = nil
			}
			got, why := assess(l, tc.inv, acct, now)
			if got != tc.want || why != tc.why {
				t.Errorf("assess = %v (%q), want %v (%q)", got, why, tc.want, tc.why)
			}
		})
	}
}

// joinedByDomain makes inv one without spec.account, which the controller
// associated with the test account (of UID uid) by its domain.
func joinedByDomain(uid string) func(*v1alpha1.PartnerInvitation) {
	return func(inv *v1alpha1.PartnerInvitation) {
		inv.Spec.Account, inv.Status.Account, inv.Status.AccountUID = "", testAccount, uid
	}
}

// linkOf returns the link the controller sent for inv (jane's when inv is
// nil), whatever invitation it is then applied to.
func linkOf(inv *v1alpha1.PartnerInvitation) func(*v1alpha1.PartnerInvitation) link {
	if inv == nil {
		inv = invitation("jane")
	}
	c := claimsOf(inv)
	return func(*v1alpha1.PartnerInvitation) link { return link{raw: "raw", claims: c} }
}

func TestMarkAcceptedMatchesTheController(t *testing.T) {
	// The invitation controller writes these messages for an accepted
	// invitation (controllers/invitation/status.go): writing the same ones
	// spares it a second write.
	inv := invitation("jane")
	markAccepted(inv, t0.Add(30*time.Minute+500*time.Millisecond), proofOf(inv, t0.Add(30*time.Minute)), nil)
	if got := inv.Status.AcceptedAt.Time; !got.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("acceptedAt %v, want whole seconds", got)
	}
	for typ, msg := range map[string]string{
		v1alpha1.ConditionAccepted: "Accepted at 2026-11-23T10:30:00Z",
		v1alpha1.ConditionReady:    "The partner accepted",
	} {
		c := findCondition(inv, typ)
		if c == nil || c.Message != msg {
			t.Errorf("%s message %v, want %q", typ, c, msg)
		}
	}
}
