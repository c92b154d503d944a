package invitation

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/email"
	"github.com/partnerops/partnerops/internal/mail"
	"github.com/partnerops/partnerops/internal/metrics"
	"github.com/partnerops/partnerops/internal/token"
)

// send delivers the invitation email when one is wanted: the first send,
// a retry after a temporary failure, or a resend.
func (r *Reconciler) send(ctx context.Context, s *scope) (bool, error) {
	inv, st := s.inv, &s.inv.Status
	if !sendWanted(inv) {
		r.sent.caughtUp(inv)
		return false, nil
	}
	s.sending = true
	if r.sent.recorded(inv) {
		// This email was sent and its status written, but the cache has
		// not seen that write yet: the watch event of our own write
		// brings us back. Sending now would send it twice.
		return true, nil
	}
	if st.State == "" {
		st.State = v1alpha1.InvitationPendingApproval
	}
	if wait, err := r.Limiter.Wait(ctx, inv.Namespace); err != nil {
		return true, fmt.Errorf("waiting for the email rate limit: %w", err)
	} else if wait > 0 {
		setEmailSent(inv, false, v1alpha1.ReasonRateLimited, fmt.Sprintf(
			"Namespace %s reached its cap of %d invitation emails an hour; this one goes out in %s",
			inv.Namespace, r.Config.RateLimits.EmailsPerNamespacePerHour, wait.Round(time.Second)), s.now)
		s.requeueAfter(wait)
		return true, nil
	}

	expiresAt := s.now.Add(ttl(inv, s.account)).Truncate(time.Second)
	msg, err := r.compose(ctx, s, expiresAt)
	if err != nil {
		setEmailSent(inv, false, v1alpha1.ReasonSendFailed, err.Error(), s.now)
		metrics.EmailsFailed.WithLabelValues(v1alpha1.ReasonSendFailed).Inc()
		r.event(inv, corev1.EventTypeWarning, v1alpha1.ReasonSendFailed, err.Error())
		return true, err
	}

	start := time.Now() // latency is real time, whatever the controller's clock says
	err = r.Sender.Send(ctx, msg)
	metrics.SendDuration.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		resent := st.SentAt != nil
		st.SentAt = &metav1.Time{Time: s.now}
		st.ExpiresAt = &metav1.Time{Time: expiresAt}
		st.ObservedResend = inv.Spec.Resend
		st.State = v1alpha1.InvitationPendingApproval
		s.sentResend = &inv.Spec.Resend
		setEmailSent(inv, true, v1alpha1.ReasonSent, fmt.Sprintf("Sent to %s at %s", inv.Spec.Email, s.now.UTC().Format(time.RFC3339)), s.now)
		metrics.EmailsSent.WithLabelValues(locale(inv)).Inc()
		note := fmt.Sprintf("Invitation sent to %s; the link is valid until %s", inv.Spec.Email, expiresAt.UTC().Format(time.RFC3339))
		reason := "Sent"
		if resent {
			reason, note = "Resent", note+"; the previous link no longer works"
		}
		r.event(inv, corev1.EventTypeNormal, reason, note)
		log.FromContext(ctx).Info("Invitation sent", "resend", inv.Spec.Resend, "expiresAt", expiresAt)
		return false, nil
	case errors.Is(err, mail.ErrRecipientRejected):
		// Permanent for this address: no retry until the next resend. The
		// previous link, if any, is dead since spec.resend moved past it.
		st.SentAt, st.ExpiresAt = nil, nil
		st.ObservedResend = inv.Spec.Resend
		st.State = v1alpha1.InvitationPendingApproval
		s.sentResend = &inv.Spec.Resend
		note := fmt.Sprintf("The mail server refused %s: %v; fix the address with a new invitation, or raise spec.resend to try again", inv.Spec.Email, err)
		setEmailSent(inv, false, v1alpha1.ReasonRecipientRejected, note, s.now)
		metrics.EmailsFailed.WithLabelValues(v1alpha1.ReasonRecipientRejected).Inc()
		r.event(inv, corev1.EventTypeWarning, v1alpha1.ReasonRecipientRejected, note)
		return true, nil
	case errors.Is(err, mail.ErrInvalidMessage):
		// Our own bug or a broken template: retrying cannot help.
		note := fmt.Sprintf("The email could not be built: %v", err)
		setEmailSent(inv, false, v1alpha1.ReasonSendFailed, note, s.now)
		metrics.EmailsFailed.WithLabelValues(v1alpha1.ReasonSendFailed).Inc()
		r.event(inv, corev1.EventTypeWarning, v1alpha1.ReasonSendFailed, note)
		return true, nil
	default:
		note := fmt.Sprintf("Could not hand the email to the mail server (retrying with backoff): %v", err)
		setEmailSent(inv, false, v1alpha1.ReasonSMTPUnavailable, note, s.now)
		metrics.EmailsFailed.WithLabelValues(v1alpha1.ReasonSMTPUnavailable).Inc()
		r.event(inv, corev1.EventTypeWarning, v1alpha1.ReasonSMTPUnavailable, note)
		return true, fmt.Errorf("sending invitation: %w", err)
	}
}

// compose builds the email: signed link, names in the invitation's locale,
// and a Message-ID that is the same for every attempt of one generation,
// so a send repeated after a crash is recognised as the same message.
func (r *Reconciler) compose(ctx context.Context, s *scope, expiresAt time.Time) (*mail.Message, error) {
	inv := s.inv
	tok, err := r.Signer.Sign(ctx, token.Claims{
		Namespace: inv.Namespace, Name: inv.Name, UID: string(inv.UID),
		Resend: inv.Spec.Resend, ExpiresAt: expiresAt,
	})
	if err != nil {
		return nil, fmt.Errorf("signing the invitation link: %w", err)
	}
	customer, err := r.customerName(ctx, inv.Namespace)
	if err != nil {
		return nil, err
	}
	lang := locale(inv)
	role, _ := r.Config.Role(string(inv.Spec.Role))
	systems := make([]string, 0, len(inv.Spec.Systems))
	for _, k := range inv.Spec.Systems {
		e, _ := r.Config.System(string(k))
		systems = append(systems, e.DisplayName.For(lang))
	}
	tmpl, err := r.Templates.Templates(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the email templates: %w", err)
	}
	out, err := tmpl.Render(email.Invitation{
		Locale:          lang,
		Recipient:       string(inv.Spec.Email),
		CustomerName:    customer,
		AccountName:     s.account.Spec.DisplayName,
		RoleName:        role.DisplayName.For(lang),
		SystemNames:     systems,
		PersonalMessage: inv.Spec.Message,
		ExpiresAt:       expiresAt,
		AcceptURL:       AcceptURL(r.Config.Acceptance.PublicURL, tok),
	})
	if err != nil {
		return nil, fmt.Errorf("rendering the %s email: %w", lang, err)
	}
	return &mail.Message{
		From:      r.Config.SMTP.From,
		To:        string(inv.Spec.Email),
		Subject:   out.Subject,
		Text:      out.Text,
		HTML:      out.HTML,
		MessageID: MessageID(inv.UID, inv.Spec.Resend, r.Config.SMTP.From),
		Locale:    lang,
	}, nil
}

// customerName is who invites: the namespace's display-name annotation,
// else its name.
func (r *Reconciler) customerName(ctx context.Context, namespace string) (string, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return "", fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	if n := strings.TrimSpace(ns.Annotations[v1alpha1.DisplayNameAnnotation]); n != "" {
		return n, nil
	}
	return namespace, nil
}

// AcceptURL is the link of the email: the acceptance page with the token.
func AcceptURL(publicURL, tok string) string {
	return strings.TrimSuffix(publicURL, "/") + "/invitations/accept?token=" + url.QueryEscape(tok)
}

// MessageID derives the email's Message-ID from the invitation's UID and
// resend generation, in the sender's domain.
func MessageID(uid types.UID, resend int32, from string) string {
	domain := "partnerops.dev"
	if a, err := netmail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at > 0 {
			domain = a.Address[at+1:]
		}
	}
	return fmt.Sprintf("<invitation.%s.%d@%s>", uid, resend, domain)
}

func locale(inv *v1alpha1.PartnerInvitation) string {
	if inv.Spec.Locale == "" {
		return string(v1alpha1.LocaleEnglish)
	}
	return string(inv.Spec.Locale)
}

func (r *Reconciler) event(inv *v1alpha1.PartnerInvitation, typ, reason, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(inv, nil, typ, reason, "Send", "%s", note)
	}
}

// sentRecords remembers, per invitation, the resend generation whose email
// was sent and whose status write succeeded, until the cache shows that
// write: a reconcile that runs on a cache older than our own write (another
// event came first) must not send the same email again.
type sentRecords struct {
	mu  sync.Mutex
	gen map[types.UID]int32
}

func (r *sentRecords) record(uid types.UID, resend int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen == nil {
		r.gen = map[types.UID]int32{}
	}
	r.gen[uid] = resend
}

// recorded reports whether inv's wanted email was already sent and
// recorded, by a write the cache does not show yet.
func (r *sentRecords) recorded(inv *v1alpha1.PartnerInvitation) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.gen[inv.UID]
	return ok && g >= inv.Spec.Resend
}

// caughtUp forgets inv once the cache shows its last send.
func (r *sentRecords) caughtUp(inv *v1alpha1.PartnerInvitation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g, ok := r.gen[inv.UID]; ok && inv.Status.SentAt != nil && inv.Status.ObservedResend >= g {
		delete(r.gen, inv.UID)
	}
}

func (r *sentRecords) forget(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.gen, uid)
}
