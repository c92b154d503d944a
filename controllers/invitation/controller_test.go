package invitation_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/invitation"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

func TestSendReachesPendingApproval(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Invite("mindy", "mindy@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Locale = "fr" })

	inv := h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	msgs := h.Sender.Sent()
	if len(msgs) != 1 {
		t.Fatalf("want exactly one email, got %d", len(msgs))
	}
	m := msgs[0]
	if m.To != "mindy@globex.example" || m.Locale != "fr" || m.From != h.Config.SMTP.From {
		t.Errorf("email to %q in %q from %q", m.To, m.Locale, m.From)
	}
	if want := invitation.MessageID(inv.UID, 0, h.Config.SMTP.From); m.MessageID != want {
		t.Errorf("Message-ID %s, want %s", m.MessageID, want)
	}
	if !strings.Contains(m.Text, h.Config.Acceptance.PublicURL+"/invitations/accept?token=") {
		t.Errorf("the text body has no accept link:\n%s", m.Text)
	}
	st := inv.Status
	if st.SentAt == nil || !st.SentAt.Time.Equal(t0) {
		t.Errorf("sentAt = %v, want %v", st.SentAt, t0)
	}
	if st.ExpiresAt == nil || !st.ExpiresAt.Time.Equal(t0.Add(168*time.Hour)) {
		t.Errorf("expiresAt = %v, want 7 days after sending", st.ExpiresAt)
	}
	for typ, want := range map[string]string{
		v1alpha1.ConditionReady: "True/AwaitingAcceptance", v1alpha1.ConditionEmailSent: "True/Sent",
		v1alpha1.ConditionAccepted: "False/AwaitingAcceptance", v1alpha1.ConditionExpired: "False/NotExpired",
	} {
		c := condition(inv, typ)
		if c == nil || string(c.Status)+"/"+c.Reason != want || c.ObservedGeneration != inv.Generation {
			t.Errorf("condition %s = %+v, want %s at generation %d", typ, c, want, inv.Generation)
		}
	}
	h.Eventually("a Sent event", func() bool {
		return slices.ContainsFunc(h.Events("mindy"), func(e string) bool {
			return strings.HasPrefix(e, "Normal Sent: Invitation sent to mindy@globex.example")
		})
	})
}

func TestInvalidSpecRecovers(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(h *harness)
		mutate  func(*v1alpha1.PartnerInvitation)
		reason  string
		message string
		fix     func(h *harness)
	}{
		{
			name: "unknown role", setup: func(h *harness) { h.Account("globex") },
			mutate: func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "owner" },
			reason: v1alpha1.ReasonUnknownRole, message: `role "owner" is not in the operator's catalogue`,
			fix: func(h *harness) {
				h.EditInvitation("inv", func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "admin" })
			},
		},
		{
			name: "unknown system", setup: func(h *harness) { h.Account("globex") },
			mutate: func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"editor", "crm"} },
			reason: v1alpha1.ReasonUnknownSystem, message: `system "crm" is not in the operator's catalogue`,
			fix: func(h *harness) {
				h.EditInvitation("inv", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"editor"} })
			},
		},
		{
			name: "account not found", setup: func(*harness) {},
			reason: v1alpha1.ReasonAccountNotFound, message: `PartnerAccount "globex" does not exist`,
			fix: func(h *harness) { h.Account("globex") },
		},
		{
			name: "domain not allowed",
			setup: func(h *harness) {
				h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"} })
			},
			reason: v1alpha1.ReasonDomainNotAllowed, message: "mindy@globex.example is outside the domains PartnerAccount globex allows (initech.example)",
			fix: func(h *harness) {
				h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) {
					a.Spec.AllowedDomains = append(a.Spec.AllowedDomains, "globex.example")
				})
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t)
			tc.setup(h)
			var mutate []func(*v1alpha1.PartnerInvitation)
			if tc.mutate != nil {
				mutate = append(mutate, tc.mutate)
			}
			h.Invite("inv", "mindy@globex.example", mutate...)
			inv := h.WaitState("inv", v1alpha1.InvitationInvalid)
			ready := condition(inv, v1alpha1.ConditionReady)
			if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != tc.reason || !strings.Contains(ready.Message, tc.message) {
				t.Fatalf("Ready = %+v, want False/%s saying %q", ready, tc.reason, tc.message)
			}
			if n := h.Sender.Attempts(); n != 0 {
				t.Fatalf("an invalid invitation sent %d emails", n)
			}
			h.Eventually("a Warning event "+tc.reason, func() bool {
				return slices.ContainsFunc(h.Events("inv"), func(e string) bool { return strings.HasPrefix(e, "Warning "+tc.reason) })
			})

			tc.fix(h)
			h.WaitCondition("inv", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAwaitingAcceptance)
			if n := len(h.Sender.Sent()); n != 1 {
				t.Fatalf("after the fix want one email, got %d", n)
			}
		})
	}
}

func TestExpiryIsTimerDriven(t *testing.T) {
	h := start(t)
	h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.InvitationTTL = "48h" })
	h.Invite("mindy", "mindy@globex.example")
	inv := h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	if !inv.Status.ExpiresAt.Time.Equal(t0.Add(48 * time.Hour)) {
		t.Fatalf("expiresAt = %v, want the account's 48h", inv.Status.ExpiresAt)
	}

	// One second early nothing happens; at expiresAt the queue's timer fires.
	h.StepTo(t0.Add(48*time.Hour - time.Second))
	if got := h.Invitation("mindy").Status.State; got != v1alpha1.InvitationPendingApproval {
		t.Fatalf("expired early: %s", got)
	}
	h.StepTo(t0.Add(48 * time.Hour))
	inv = h.WaitState("mindy", v1alpha1.InvitationExpired)
	if c := condition(inv, v1alpha1.ConditionExpired); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Expired condition = %+v", c)
	}
	if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonExpired ||
		!strings.Contains(c.Message, "raise spec.resend") {
		t.Errorf("Ready = %+v, want False/Expired telling how to resend", c)
	}
	h.Eventually("an Expired event", func() bool {
		return slices.ContainsFunc(h.Events("mindy"), func(e string) bool { return strings.HasPrefix(e, "Warning Expired") })
	})

	// Resend from Expired: a new email, new Message-ID, new expiry.
	h.Clock.SetTime(t0.Add(50 * time.Hour))
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 1 })
	inv = h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	msgs := h.Sender.Sent()
	if len(msgs) != 2 {
		t.Fatalf("want 2 emails after a resend, got %d", len(msgs))
	}
	if msgs[0].MessageID == msgs[1].MessageID || msgs[0].Text == msgs[1].Text {
		t.Errorf("the resend reused the first email's Message-ID or link")
	}
	if inv.Status.ObservedResend != 1 || !inv.Status.ExpiresAt.Time.Equal(t0.Add(98*time.Hour)) {
		t.Errorf("after resend: observedResend %d, expiresAt %v", inv.Status.ObservedResend, inv.Status.ExpiresAt)
	}
	if c := condition(inv, v1alpha1.ConditionExpired); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Expired condition after resend = %+v", c)
	}
}

// TestLinkExpiresWhileAResendFails: a resend that cannot be sent does not
// keep the link sent before alive past its expiry.
func TestLinkExpiresWhileAResendFails(t *testing.T) {
	h := start(t)
	h.Account("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.InvitationTTL = "2h" })
	h.Invite("mindy", "mindy@globex.example")
	h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	h.Sender.FailWith(func(int, *smtp.Message) error {
		return fmt.Errorf("%w: 451 4.3.0 try again later", smtp.ErrTemporary)
	})
	h.Clock.SetTime(t0.Add(time.Hour))
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 1 })
	h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonSMTPUnavailable)
	h.Clock.SetTime(t0.Add(2*time.Hour + time.Second))
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Message = "nudge" }) // any event: the expiry must not wait for the send
	inv := h.WaitState("mindy", v1alpha1.InvitationExpired)
	if c := condition(inv, v1alpha1.ConditionEmailSent); c == nil || c.Reason != v1alpha1.ReasonSMTPUnavailable {
		t.Errorf("EmailSent = %+v, want the failing resend still reported", c)
	}
}

func TestResendWhilePending(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Invite("mindy", "mindy@globex.example")
	h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	h.Clock.SetTime(t0.Add(time.Hour))
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 3 })
	inv := h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionTrue, v1alpha1.ReasonSent)
	h.Eventually("the resend", func() bool { return len(h.Sender.Sent()) == 2 })
	inv = h.Invitation("mindy")
	if inv.Status.ObservedResend != 3 || !inv.Status.SentAt.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("observedResend %d, sentAt %v", inv.Status.ObservedResend, inv.Status.SentAt)
	}
	h.Eventually("a Resent event", func() bool {
		return slices.ContainsFunc(h.Events("mindy"), func(e string) bool {
			return strings.Contains(e, "Resent") && strings.Contains(e, "previous link no longer works")
		})
	})
}

func TestWithdraw(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Invite("mindy", "mindy@globex.example")
	h.WaitState("mindy", v1alpha1.InvitationPendingApproval)

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
	inv := h.WaitState("mindy", v1alpha1.InvitationRevoked)
	if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Reason != v1alpha1.ReasonWithdrawn {
		t.Errorf("Ready = %+v, want reason Withdrawn", c)
	}
	if len(inv.Finalizers) != 0 {
		t.Errorf("a withdrawn pending invitation has finalizers %v", inv.Finalizers)
	}

	// A resend of a withdrawn invitation is refused, visibly, and sends nothing.
	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 1 })
	inv = h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonResendNotAllowed)
	if c := condition(inv, v1alpha1.ConditionEmailSent); !strings.Contains(c.Message, "it is revoked") {
		t.Errorf("EmailSent message %q does not say why", c.Message)
	}
	if inv.Status.State != v1alpha1.InvitationRevoked || len(h.Sender.Sent()) != 1 {
		t.Errorf("state %s, %d emails", inv.Status.State, len(h.Sender.Sent()))
	}
}

func TestAcceptedRefusesResend(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Invite("mindy", "mindy@globex.example")
	h.Clock.SetTime(t0.Add(time.Hour))
	h.Accept("mindy") // what the acceptance page writes when the partner accepts
	inv := h.WaitCondition("mindy", v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonAccepted)
	if c := condition(inv, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonAccepted {
		t.Errorf("Ready = %+v", c)
	}

	h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 1 })
	inv = h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonResendNotAllowed)
	if inv.Status.State != v1alpha1.InvitationAccepted || len(h.Sender.Sent()) != 1 {
		t.Errorf("state %s, %d emails", inv.Status.State, len(h.Sender.Sent()))
	}
	// Accepted never expires.
	h.StepTo(t0.Add(200 * time.Hour))
	h.Clock.Step(time.Second)
	if got := h.Invitation("mindy").Status.State; got != v1alpha1.InvitationAccepted {
		t.Errorf("an accepted invitation became %s", got)
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Run("temporary failures retry with backoff", func(t *testing.T) {
		h := start(t)
		h.Sender.FailWith(func(n int, _ *smtp.Message) error {
			if n <= 2 {
				return fmt.Errorf("%w: 451 4.3.0 try again later", smtp.ErrTemporary)
			}
			return nil
		})
		h.Account("globex")
		h.Invite("mindy", "mindy@globex.example")
		inv := h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonSMTPUnavailable)
		if c := condition(inv, v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonSMTPUnavailable ||
			!strings.Contains(c.Message, "451 4.3.0 try again later") {
			t.Errorf("Ready = %+v, want False/SMTPUnavailable with the server's reply", c)
		}
		if inv.Status.State != v1alpha1.InvitationPendingApproval {
			t.Errorf("state %q while the first send fails, want PendingApproval", inv.Status.State)
		}
		// The retries wait 1s then 2s on the queue's clock (the fake one).
		h.Eventually("the retries to succeed", func() bool {
			h.Clock.Step(time.Second)
			c := condition(h.Invitation("mindy"), v1alpha1.ConditionEmailSent)
			return c != nil && c.Status == metav1.ConditionTrue
		})
		if n := h.Sender.Attempts(); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
		h.Eventually("a Warning SMTPUnavailable event", func() bool {
			return slices.ContainsFunc(h.Events("mindy"), func(e string) bool { return strings.HasPrefix(e, "Warning SMTPUnavailable") })
		})
	})
	// A mail server whose reply differs from one attempt to the next (a
	// session ID, a local port): each failure's status write is a new watch
	// event, and still the next attempt waits its backoff.
	t.Run("a reply that changes at each attempt still backs off", func(t *testing.T) {
		h := start(t)
		h.Sender.FailWith(func(n int, _ *smtp.Message) error {
			return fmt.Errorf("%w: 421 4.7.0 try again later, session %d", smtp.ErrTemporary, n)
		})
		h.Account("globex")
		h.Invite("mindy", "mindy@globex.example")
		h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonSMTPUnavailable)
		for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			h.Settle()
			if n := h.Sender.Attempts(); n != i+1 {
				t.Fatalf("%d attempts before the backoff of %s ran out, want %d", n, wait, i+1)
			}
			h.Clock.Step(wait)
			h.Eventually(fmt.Sprintf("attempt %d after %s", i+2, wait), func() bool { return h.Sender.Attempts() == i+2 })
		}
	})
	t.Run("a rejected recipient waits for a resend", func(t *testing.T) {
		h := start(t)
		h.Sender.FailWith(func(n int, _ *smtp.Message) error {
			if n == 1 {
				return fmt.Errorf("%w: 550 5.1.1 no such user", smtp.ErrRecipientRejected)
			}
			return nil
		})
		h.Account("globex")
		h.Invite("mindy", "mindy@globex.example")
		inv := h.WaitCondition("mindy", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonRecipientRejected)
		if c := condition(inv, v1alpha1.ConditionEmailSent); !strings.Contains(c.Message, "550 5.1.1 no such user") {
			t.Errorf("EmailSent message %q lacks the server's reply", c.Message)
		}
		// Nothing retries on its own: a later reconcile (the account changes)
		// sends nothing.
		h.EditAccount("globex", func(a *v1alpha1.PartnerAccount) { a.Spec.DisplayName = "Globex Corp." })
		h.Settle() // room for a wrong retry to happen
		if n := h.Sender.Attempts(); n != 1 {
			t.Fatalf("a rejected recipient was retried: %d attempts", n)
		}
		h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = 1 })
		h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionTrue, v1alpha1.ReasonSent)
	})
}

func TestNamespaceHourlyCapDelaysSends(t *testing.T) {
	h := start(t, managertest.WithConfig(func(c *opconfig.Config) { c.RateLimits.EmailsPerNamespacePerHour = 2 }))
	h.Account("globex")
	for _, n := range []string{"a", "b", "c"} {
		h.Invite(n, n+"@globex.example")
	}
	h.Eventually("two sends and one delayed", func() bool {
		limited := 0
		for _, n := range []string{"a", "b", "c"} {
			if c := condition(h.Invitation(n), v1alpha1.ConditionEmailSent); c != nil && c.Reason == v1alpha1.ReasonRateLimited {
				limited++
			}
		}
		return len(h.Sender.Sent()) == 2 && limited == 1
	})
	// Half an hour later the third email goes out: delayed, not dropped.
	h.StepTo(t0.Add(30 * time.Minute))
	h.Eventually("the third email", func() bool { return len(h.Sender.Sent()) == 3 })
}

// TestWithdrawnWhileWaitingForAConnection: the invitation is withdrawn
// while its email waits for one of smtp.maxConnections (the fake sender's
// hook stands for the wait, and returns once the manager's cache has the
// withdrawal): the email does not go out.
func TestWithdrawnWhileWaitingForAConnection(t *testing.T) {
	h := start(t)
	h.Account("globex")
	h.Sender.FailWith(func(n int, m *smtp.Message) error {
		if n == 1 {
			h.EditInvitation("mindy", func(i *v1alpha1.PartnerInvitation) { i.Spec.Revoked = true })
			for deadline := time.Now().Add(10 * time.Second); m.StillWanted() == nil && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
		}
		return nil
	})
	h.Invite("mindy", mindy)
	h.WaitState("mindy", v1alpha1.InvitationRevoked)
	h.Settle()
	if n := len(h.Sender.Sent()); n != 0 {
		t.Errorf("%d emails went out for an invitation withdrawn before its send", n)
	}
	if c := condition(h.Invitation("mindy"), v1alpha1.ConditionEmailSent); c != nil && c.Status == metav1.ConditionTrue {
		t.Errorf("EmailSent = %+v", c)
	}
}

// TestSendRecordedDuringAShutdown: the manager is stopped (a rollout)
// while an email is handed to the mail server: the status write recording
// it still lands, so the next manager does not send it again.
func TestSendRecordedDuringAShutdown(t *testing.T) {
	h := start(t)
	h.Account("globex")
	sending := make(chan struct{})
	h.Sender.FailWith(func(n int, _ *smtp.Message) error {
		if n == 1 {
			close(sending)
			time.Sleep(300 * time.Millisecond) // the manager's context ends meanwhile
		}
		return nil
	})
	h.Invite("mindy", mindy)
	<-sending
	h.Restart()
	h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionTrue, v1alpha1.ReasonSent)
	h.Settle()
	if n := len(h.Sender.Sent()); n != 1 {
		t.Errorf("%d emails for one invitation across a restart, want 1", n)
	}
}

// TestHourlyCapCountsEmailsNotAttempts: the hourly cap counts emails that
// went out: attempts the mail server turned away give their place back, so
// a namespace whose allowance is 1 still gets its email out once the
// server comes back, instead of waiting an hour for its own failures.
func TestHourlyCapCountsEmailsNotAttempts(t *testing.T) {
	h := firstSendFails(t, func(n int, _ *smtp.Message) error {
		if n <= 2 {
			return fmt.Errorf("%w: 451 4.3.0 try again later", smtp.ErrTemporary)
		}
		return nil
	})
	h.EventuallyStepping("the email once the server answers", time.Second, func() bool {
		c := condition(h.Invitation("mindy"), v1alpha1.ConditionEmailSent)
		return c != nil && c.Status == metav1.ConditionTrue
	})
	if now := h.Clock.Now(); now.Sub(t0) > 10*time.Minute {
		t.Errorf("the email went out %s after the first attempt: the failed attempts used up the hour's allowance", now.Sub(t0))
	}
	// The allowance it used is the email's: the next one waits.
	h.Invite("carlos", "carlos@globex.example")
	h.WaitCondition("carlos", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonRateLimited)
}

// firstSendFails starts a manager whose namespace may send one email an
// hour and whose mail server answers as fail says, invites mindy and waits
// until her first send failed.
func firstSendFails(t *testing.T, fail func(n int, m *smtp.Message) error) *harness {
	t.Helper()
	h := start(t, managertest.WithConfig(func(c *opconfig.Config) { c.RateLimits.EmailsPerNamespacePerHour = 1 }))
	h.Sender.FailWith(fail)
	h.Account("globex")
	h.Invite("mindy", mindy)
	h.WaitCondition("mindy", v1alpha1.ConditionEmailSent, metav1.ConditionFalse, v1alpha1.ReasonSMTPUnavailable)
	return h
}

// TestRefusedMessagesCountAgainstTheCap: a message the mail server refuses
// in the transaction (a spam filter at DATA, 4xx: retried) counts against
// the namespace's hourly cap like an email sent. Refunded, a tenant whose
// messages the server refuses would retry without end, and take the shared
// pace of emails from every other namespace.
func TestRefusedMessagesCountAgainstTheCap(t *testing.T) {
	h := firstSendFails(t, func(int, *smtp.Message) error {
		return fmt.Errorf("%w: %w", smtp.ErrTemporary, &smtp.ReplyError{Stage: smtp.StageData, Code: 451, EnhancedCode: "4.7.1", Message: "spam suspected, try again later"})
	})
	h.EventuallyStepping("the retry to wait for the hour's allowance", time.Second, func() bool {
		c := condition(h.Invitation("mindy"), v1alpha1.ConditionEmailSent)
		return c != nil && c.Reason == v1alpha1.ReasonRateLimited
	})
	if n := h.Sender.Attempts(); n != 1 {
		t.Errorf("%d attempts within the hour, want 1", n)
	}
}

// TestPacedSendsLeaveTheWorkersFree: a burst of invitations paced by
// rateLimits.emailsPerSecond waits in the queue, not in the workers: an
// acceptance meanwhile gets its grants at once, without the clock moving;
// then each paced email goes out at its turn, once.
func TestPacedSendsLeaveTheWorkersFree(t *testing.T) {
	h := start(t, managertest.WithConfig(func(c *opconfig.Config) { c.RateLimits.EmailsPerSecond = 1 }))
	h.Account("globex")
	h.Invite("mindy", mindy)
	h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	const burst = 40 // more than the workers (16)
	names := make([]string, burst)
	for i := range names {
		names[i] = fmt.Sprintf("p%02d", i)
		h.Invite(names[i], names[i]+"@globex.example")
	}
	h.Settle()
	if n := len(h.Sender.Sent()); n != 1 {
		t.Fatalf("%d emails sent before the clock moved, want only mindy's", n)
	}
	h.Accept("mindy")
	h.waitGranted("mindy") // the clock has not moved: no worker waits for it
	if n := len(h.Sender.Sent()); n != 1 {
		t.Fatalf("%d emails sent before the clock moved, want only mindy's", n)
	}
	h.EventuallyStepping("every paced email", time.Second, func() bool { return len(h.Sender.Sent()) == burst+1 })
	var order []string
	for _, m := range h.Sender.Sent()[1:] {
		order = append(order, strings.TrimSuffix(m.To, "@globex.example"))
	}
	slices.Sort(order)
	if !slices.Equal(order, names) {
		t.Errorf("the paced emails went to %v: want each of %v once", order, names)
	}
}

func TestDeletingAPendingInvitationNeedsNoFinalizer(t *testing.T) {
	h := start(t)
	h.Account("globex")
	inv := h.Invite("mindy", "mindy@globex.example")
	h.WaitState("mindy", v1alpha1.InvitationPendingApproval)
	if err := env.Client.Delete(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	h.Eventually("the invitation to be gone", func() bool {
		err := env.Client.Get(context.Background(), keyOf(h.NS, "mindy"), &v1alpha1.PartnerInvitation{})
		return apierrors.IsNotFound(err)
	})
}
