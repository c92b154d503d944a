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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/metrics"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/token"
)

// send delivers the invitation email decide asked for (the first send, a
// retry after a temporary failure, or a resend) and returns what happened,
// for decide to record. It changes nothing in inv.
func (r *Reconciler) send(ctx context.Context, inv *v1alpha1.PartnerInvitation, in input) (*sendResult, error) {
	switch o, ok := r.sent.lookup(inv); {
	case ok && o.written:
		// This email was sent and its status written, but the cache has
		// not seen that write yet: the watch event of our own write
		// brings us back. Sending now would send it twice.
		return &sendResult{waiting: true}, nil
	case ok:
		// This email was sent but its status write did not land (a
		// conflict with another writer): write the same outcome again.
		// Sending now would put a second live link in the partner's inbox
		// for the same resend generation.
		return &sendResult{outcome: &o}, nil
	}
	now := in.now
	if wait := r.retries.due(inv, int64(inv.Spec.Resend), now); wait > 0 {
		// The last attempt failed: the next one waits its backoff, whatever
		// brought this reconcile (the watch event of our own status write,
		// whose message changes with each reply of the mail server).
		return &sendResult{backingOff: true, retryIn: wait}, nil
	}
	turn, err := r.Limiter.Take(ctx, keyOf(inv).String(), inv.Namespace)
	switch {
	case err != nil:
		return nil, fmt.Errorf("waiting for the email rate limit: %w", err)
	case turn.Capped:
		return &sendResult{retryIn: turn.Wait, failure: &problem{v1alpha1.ReasonRateLimited, fmt.Sprintf(
			"Namespace %s reached its cap of %d invitation emails an hour; this one goes out in %s",
			inv.Namespace, r.Config.RateLimits.EmailsPerNamespacePerHour, turn.Wait.Round(time.Second))}}, nil
	case turn.Wait > 0:
		return &sendResult{paced: true, retryIn: turn.Wait}, nil
	}

	expiresAt := now.Add(ttl(inv, in.account)).Truncate(time.Second)
	msg, err := r.compose(ctx, inv, in.account, expiresAt)
	if err != nil {
		r.notSent(inv, now, true, true)
		r.sendFailed(inv, v1alpha1.ReasonSendFailed, err.Error())
		return &sendResult{failure: &problem{v1alpha1.ReasonSendFailed, err.Error()}}, err
	}

	msg.StillWanted = func() error { return r.stillWanted(ctx, inv) }
	start := time.Now() // latency is real time, whatever the controller's clock says
	err = r.Sender.Send(ctx, msg)
	metrics.SendDuration.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		r.retries.forget(keyOf(inv))
		out := &sendOutcome{uid: inv.UID, resend: inv.Spec.Resend, sentAt: &metav1.Time{Time: now}, expiresAt: &metav1.Time{Time: expiresAt},
			emailSent: condition(inv, v1alpha1.ConditionEmailSent, true, v1alpha1.ReasonSent,
				fmt.Sprintf("Sent to %s at %s", inv.Spec.Email, now.UTC().Format(time.RFC3339)), now)}
		metrics.EmailsSent.WithLabelValues(locale(inv)).Inc()
		note := fmt.Sprintf("Invitation sent to %s; the link is valid until %s", inv.Spec.Email, expiresAt.UTC().Format(time.RFC3339))
		reason := "Sent"
		if inv.Status.SentAt != nil {
			reason, note = "Resent", note+"; the previous link no longer works"
		}
		r.event(inv, corev1.EventTypeNormal, reason, note)
		log.FromContext(ctx).Info("Invitation sent", "resend", inv.Spec.Resend, "expiresAt", expiresAt)
		return &sendResult{outcome: out}, nil
	case errors.Is(err, smtp.ErrNotWanted):
		// Withdrawn, resent or deleted while the email waited for a
		// connection: nothing went out, and the change's own watch event
		// brings the invitation back.
		r.notSent(inv, now, false, true)
		log.FromContext(ctx).V(1).Info("Invitation email no longer wanted", "reason", err.Error())
		return &sendResult{paced: true}, nil
	case errors.Is(err, smtp.ErrRecipientRejected):
		// Permanent for this address: no retry until the next resend. The
		// previous link, if any, is dead since spec.resend moved past it.
		note := fmt.Sprintf("The mail server refused %s: %v; fix the address with a new invitation, or raise spec.resend to try again", inv.Spec.Email, err)
		r.notSent(inv, now, false, false) // refused at RCPT TO: it counts
		r.sendFailed(inv, v1alpha1.ReasonRecipientRejected, note)
		return &sendResult{outcome: &sendOutcome{uid: inv.UID, resend: inv.Spec.Resend, rejected: true,
			emailSent: condition(inv, v1alpha1.ConditionEmailSent, false, v1alpha1.ReasonRecipientRejected, note, now)}}, nil
	case errors.Is(err, smtp.ErrInvalidMessage):
		// Our own bug or a broken template: retrying cannot help.
		note := fmt.Sprintf("The email could not be built: %v", err)
		r.notSent(inv, now, true, true)
		r.sendFailed(inv, v1alpha1.ReasonSendFailed, note)
		return &sendResult{failure: &problem{v1alpha1.ReasonSendFailed, note}}, nil
	default:
		note := fmt.Sprintf("Could not hand the email to the mail server (retrying with backoff): %v", err)
		// A refusal of the recipient or of the message (say, a spam
		// filter at DATA) counts against the namespace's hourly cap like
		// an email sent: else a tenant whose messages the server refuses
		// retries without end, and takes the shared pace of emails from
		// every other namespace.
		r.notSent(inv, now, true, !smtp.RefusedInTransaction(err))
		r.sendFailed(inv, v1alpha1.ReasonSMTPUnavailable, note)
		return &sendResult{failure: &problem{v1alpha1.ReasonSMTPUnavailable, note}}, fmt.Errorf("sending invitation: %w", err)
	}
}

// stillWanted checks, right before the email goes out (it may have waited
// for one of smtp.maxConnections), that the invitation as the cache now has
// it still asks for this very email: not withdrawn, resent or deleted
// meanwhile.
func (r *Reconciler) stillWanted(ctx context.Context, inv *v1alpha1.PartnerInvitation) error {
	now := &v1alpha1.PartnerInvitation{}
	switch err := r.Client.Get(ctx, keyOf(inv), now); {
	case apierrors.IsNotFound(err):
		return errors.New("the invitation was deleted")
	case err != nil:
		return nil // cannot tell: the decision made stands
	case now.UID != inv.UID || !now.DeletionTimestamp.IsZero():
		return errors.New("the invitation was deleted")
	case now.Spec.Revoked:
		return errors.New("the invitation was withdrawn")
	case now.Spec.Resend != inv.Spec.Resend:
		return fmt.Errorf("spec.resend moved to %d", now.Spec.Resend)
	}
	return nil
}

// notSent gives back (refund) the namespace's hourly allowance an email
// that did not go out took, and, when it is retried, sets when the next
// attempt may be made.
func (r *Reconciler) notSent(inv *v1alpha1.PartnerInvitation, now time.Time, retried, refund bool) {
	if refund {
		r.Limiter.Refund(inv.Namespace)
	}
	if retried {
		r.retries.failed(inv, int64(inv.Spec.Resend), now, 0)
	} else {
		r.retries.forget(keyOf(inv))
	}
}

// sendFailed counts and reports a failed send.
func (r *Reconciler) sendFailed(inv *v1alpha1.PartnerInvitation, reason, note string) {
	metrics.EmailsFailed.WithLabelValues(reason).Inc()
	r.event(inv, corev1.EventTypeWarning, reason, note)
}

// compose builds the email: signed link, names in the invitation's locale,
// and a Message-ID that is the same for every attempt of one generation,
// so a send repeated after a crash is recognised as the same message.
func (r *Reconciler) compose(ctx context.Context, inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount, expiresAt time.Time) (*smtp.Message, error) {
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
	out, err := tmpl.Render(i18n.Invitation{
		Locale:          lang,
		Recipient:       string(inv.Spec.Email),
		CustomerName:    customer,
		AccountName:     account.Spec.DisplayName,
		RoleName:        role.DisplayName.For(lang),
		SystemNames:     systems,
		PersonalMessage: inv.Spec.Message,
		ExpiresAt:       expiresAt,
		AcceptURL:       AcceptURL(r.Config.Acceptance.PublicURL, tok),
	})
	if err != nil {
		return nil, fmt.Errorf("rendering the %s email: %w", lang, err)
	}
	return &smtp.Message{
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
	return i18n.CustomerName(namespace, ns.Annotations), nil
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

// sendOutcome is what handing one email to the mail server (or the mail
// server refusing its recipient) changed in an invitation's status.
type sendOutcome struct {
	uid               types.UID
	resend            int32
	sentAt, expiresAt *metav1.Time
	emailSent         metav1.Condition
	rejected          bool
	// written: the status write carrying it succeeded.
	written bool
}

// apply puts the outcome into inv's status.
func (o sendOutcome) apply(inv *v1alpha1.PartnerInvitation) {
	st := &inv.Status
	st.SentAt, st.ExpiresAt, st.ObservedResend = o.sentAt, o.expiresAt, o.resend
	st.State = v1alpha1.InvitationPendingApproval
	meta.SetStatusCondition(&st.Conditions, o.emailSent)
}

// sentRecords remembers, per invitation, the last email handed to the mail
// server until the cache shows the status that records it:
//   - while the status write has not landed (it conflicted with another
//     writer), the next reconcile writes the same outcome again instead of
//     sending a second email with a second live link;
//   - once it landed, a reconcile that runs on a cache older than that
//     write (another event came first) must not send again either.
//
// A crash forgets it: the email is then sent again, with the same
// Message-ID, which the mail server and the partner's client recognise.
type sentRecords struct {
	mu  sync.Mutex
	out map[types.NamespacedName]sendOutcome
}

func keyOf(inv *v1alpha1.PartnerInvitation) types.NamespacedName {
	return types.NamespacedName{Namespace: inv.Namespace, Name: inv.Name}
}

// sent remembers o, not yet written.
func (r *sentRecords) sent(key types.NamespacedName, o sendOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out == nil {
		r.out = map[types.NamespacedName]sendOutcome{}
	}
	o.written = false
	r.out[key] = o
}

// written marks the outcome of key's resend generation as written.
func (r *sentRecords) written(key types.NamespacedName, resend int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o, ok := r.out[key]; ok && o.resend == resend {
		o.written = true
		r.out[key] = o
	}
}

// lookup returns the outcome remembered for inv's wanted email: the same
// object (UID) and its current resend generation.
func (r *sentRecords) lookup(inv *v1alpha1.PartnerInvitation) (sendOutcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.out[keyOf(inv)]
	if !ok || o.uid != inv.UID || o.resend < inv.Spec.Resend {
		return sendOutcome{}, false
	}
	return o, true
}

// overlay puts into invs (copies the cache gave) the remembered send of
// each one whose status the cache does not show yet: a sibling that has
// sent is live (PendingApproval), not a tie another invitation of the
// address could win by its name and send a second email for.
func (r *sentRecords) overlay(invs []v1alpha1.PartnerInvitation) []v1alpha1.PartnerInvitation {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range invs {
		o, ok := r.out[keyOf(&invs[i])]
		st := &invs[i].Status
		if !ok || o.uid != invs[i].UID || o.rejected || (st.SentAt != nil && st.ObservedResend >= o.resend) {
			continue // not sent, or already shown
		}
		if _, live := liveRank(&invs[i]); !live {
			continue // ended since (withdrawn, deleted, its account gone, invalid)
		}
		o.apply(&invs[i])
	}
	return invs
}

// caughtUp forgets inv's outcome once the cache shows its status (or the
// object was replaced).
func (r *sentRecords) caughtUp(inv *v1alpha1.PartnerInvitation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o, ok := r.out[keyOf(inv)]; ok && (o.uid != inv.UID || inv.Status.ObservedResend >= o.resend) {
		delete(r.out, keyOf(inv))
	}
}

// forget drops what is remembered of key (the object is gone).
func (r *sentRecords) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.out, key)
}
