package account_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
	"github.com/partnerops/partnerops/internal/smtp"
)

// A spec.users entry is a full invitation: its locale, message, ttl and
// resend land in the owned invitation, and the account's defaultLocale and
// defaultMessage apply to the entries that set none.

// sentTo returns the emails sent so far to one address.
func (h *harness) sentTo(email string) []smtp.Message {
	var out []smtp.Message
	for _, m := range h.Sender.Sent() {
		if m.To == email {
			out = append(out, m)
		}
	}
	return out
}

// TestEntryLocaleMessageAndDefaults: an entry with locale fr and a message
// gets a French email holding the message; the entries without their own
// get the account's defaultLocale and defaultMessage; the entry's ttl sets
// the link's expiry, the others the account's invitationTTL.
func TestEntryLocaleMessageAndDefaults(t *testing.T) {
	h := start(t)
	amelie := user("amelie@globex.example", "editor", "editor")
	amelie.Locale, amelie.Message, amelie.TTL = v1alpha1.LocaleFrench, "Bonjour Amélie,\nbienvenue chez Acme.", "72h"
	hank := user("hank@globex.example", "admin", "insights")
	h.Account("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.Users = []v1alpha1.PartnerUser{amelie, hank}
		a.Spec.DefaultLocale = v1alpha1.LocaleSpanish
		a.Spec.DefaultMessage = "Hola, bienvenidos."
		a.Spec.InvitationTTL = "240h"
	})
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	h.Eventually("one email per user", func() bool { return len(h.Sender.Recipients()) == 2 })

	for _, tc := range []struct {
		email   string
		locale  v1alpha1.Locale
		message string
		ttl     v1alpha1.TTL
		expiry  time.Duration
	}{
		{"amelie@globex.example", v1alpha1.LocaleFrench, amelie.Message, "72h", 72 * time.Hour},
		{"hank@globex.example", v1alpha1.LocaleSpanish, "Hola, bienvenidos.", "", 240 * time.Hour},
	} {
		name := account.InvitationName("globex", tc.email)
		inv := h.WaitState(name, v1alpha1.InvitationPendingApproval)
		if s := inv.Spec; s.Locale != tc.locale || s.Message != tc.message || s.TTL != tc.ttl || s.Resend != 0 {
			t.Errorf("%s: locale %q, message %q, ttl %q, resend %d; want %q, %q, %q, 0", name, s.Locale, s.Message, s.TTL, s.Resend, tc.locale, tc.message, tc.ttl)
		}
		if inv.Status.SentAt == nil || inv.Status.ExpiresAt == nil || inv.Status.ExpiresAt.Sub(inv.Status.SentAt.Time) != tc.expiry {
			t.Errorf("%s: sent %v, expires %v; want a link valid %v", name, inv.Status.SentAt, inv.Status.ExpiresAt, tc.expiry)
		}
		msgs := h.sentTo(tc.email)
		if len(msgs) != 1 {
			t.Fatalf("%d emails to %s, want 1", len(msgs), tc.email)
		}
		m := msgs[0]
		if m.Locale != string(tc.locale) {
			t.Errorf("the email to %s is in %q, want %q", tc.email, m.Locale, tc.locale)
		}
		for _, line := range strings.Split(tc.message, "\n") {
			if !strings.Contains(m.Text, line) {
				t.Errorf("the email to %s does not hold the message line %q:\n%s", tc.email, line, m.Text)
			}
		}
	}

	// Changing the account's defaults moves the entries that use them,
	// not the entry with its own.
	amelieGen := h.Invitation(account.InvitationName("globex", "amelie@globex.example")).Generation
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) {
		a.Spec.DefaultLocale, a.Spec.DefaultMessage = v1alpha1.LocaleEnglish, ""
	})
	hankName := account.InvitationName("globex", "hank@globex.example")
	h.Eventually("hank's invitation to follow the defaults", func() bool {
		s := h.Invitation(hankName).Spec
		return s.Locale == v1alpha1.LocaleEnglish && s.Message == ""
	})
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	h.Settle()
	if g := h.Invitation(account.InvitationName("globex", "amelie@globex.example")).Generation; g != amelieGen {
		t.Errorf("amelie's invitation was written (generation %d -> %d) though her entry sets its own locale and message", amelieGen, g)
	}
	if n := len(h.Sender.Recipients()); n != 2 {
		t.Errorf("%d emails after changing the defaults, want still 2 (no resend asked)", n)
	}
}

// TestRaisingAnEntryResendSendsThatUserAFreshLink: raising one entry's
// resend sends exactly that user a second email; the others get none; the
// owned invitation follows once and is not written again.
func TestRaisingAnEntryResendSendsThatUserAFreshLink(t *testing.T) {
	h := start(t)
	h.account("globex", user("mindy@globex.example", "editor", "editor"), user("hank@globex.example", "admin"),
		user("frank@globex.example", "viewer"))
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	h.Eventually("one email per user", func() bool { return len(h.Sender.Recipients()) == 3 })
	mindy := account.InvitationName("globex", "mindy@globex.example")
	first := h.WaitState(mindy, v1alpha1.InvitationPendingApproval)
	h.Settle()

	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[0].Resend = 1 })
	h.Eventually("a second email to mindy", func() bool { return len(h.sentTo("mindy@globex.example")) == 2 })
	h.Eventually("mindy's resend observed", func() bool { return h.Invitation(mindy).Status.ObservedResend == 1 })
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	h.Settle()
	if got := h.Sender.Recipients(); len(got) != 4 {
		t.Errorf("emails to %v; want the three first ones and one more to mindy", got)
	}
	inv := h.Invitation(mindy)
	if inv.Spec.Resend != 1 || inv.Generation != first.Generation+1 {
		t.Errorf("mindy's invitation: resend %d, generation %d -> %d; want resend 1 written once", inv.Spec.Resend, first.Generation, inv.Generation)
	}
	h.WaitEvent("globex", "Normal InvitationUpdated: Updated PartnerInvitation "+mindy)

	// A resend raised on the invitation itself (kubectl partners resend)
	// above the entry's is kept: the account never lowers it.
	h.EditInvitation(mindy, func(inv *v1alpha1.PartnerInvitation) { inv.Spec.Resend = 3 })
	h.Eventually("a third email to mindy", func() bool { return len(h.sentTo("mindy@globex.example")) == 3 })
	h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.Users[1].Role = "editor" })
	hank := account.InvitationName("globex", "hank@globex.example")
	h.Eventually("hank's invitation to follow his entry", func() bool { return h.Invitation(hank).Spec.Role == "editor" })
	h.waitReady("globex", metav1.ConditionTrue, v1alpha1.ReasonReconciled)
	h.Settle()
	if r := h.Invitation(mindy).Spec.Resend; r != 3 {
		t.Errorf("mindy's invitation resend went from 3 to %d", r)
	}
	if got := h.Sender.Recipients(); len(got) != 5 {
		t.Errorf("emails to %v; want 5 (3 first, 2 more to mindy)", got)
	}
}
