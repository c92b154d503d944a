package acceptance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/token"
)

// This file holds the answer path: POST /invitations/accept and
// /invitations/decline read the form, record the partner's answer in one
// status write (retried on conflict, on fresh data) with its proof and
// Event, and send an acceptance on to the Partner Hub.

// maxBodyBytes bounds a POST body: a token is at most token.MaxTokenLength
// bytes, and the form holds nothing else.
const maxBodyBytes = 8 << 10

// writeTimeout bounds the status write and its retries, which run even if
// the partner's browser goes away meanwhile, so that an acceptance is
// either recorded with its event or not at all.
const writeTimeout = 5 * time.Second

// answerKind is what a POST answers.
type answerKind bool

const (
	accept  answerKind = true
	decline answerKind = false
)

// answer answers POST /invitations/accept and /invitations/decline: one
// status write for a pending invitation, none otherwise.
func (h *handler) answer(w http.ResponseWriter, r *http.Request, kind answerKind) {
	form, status, errKind := readForm(w, r)
	if status != 0 {
		h.fail(w, r, status, errKind)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	if kind == accept && h.signIn != nil {
		// The partner signs in first (signin.go): the form holds the
		// link's token to start, or the ticket of a finished sign-in.
		if _, ok := form["ticket"]; ok {
			h.acceptSignedIn(ctx, w, r, form["ticket"])
			return
		}
	}
	res, ok := h.resolve(ctx, w, r, form["token"])
	if !ok {
		return
	}
	if kind == accept && h.signIn != nil && res.verdict == verdictPending {
		h.startSignIn(ctx, w, r, res)
		return
	}
	h.conclude(ctx, w, r, res, kind, nil)
}

// conclude records the answer to a pending invitation (one status write,
// retried on conflict on fresh data) and answers with the page of any
// other verdict. id is who signed in before accepting, nil without a
// sign-in.
func (h *handler) conclude(ctx context.Context, w http.ResponseWriter, r *http.Request, res resolution, kind answerKind, id *token.Identity) {
	for attempt := 0; ; attempt++ {
		switch res.verdict {
		case verdictPending:
			err := h.record(ctx, res.inv, kind, id)
			if err == nil {
				if kind == accept {
					h.toHub(w, res.inv)
				} else {
					h.invitationPage(w, r, http.StatusOK, i18n.PageDeclined, res)
				}
				return
			}
			if errors.Is(err, errNoProof) {
				h.unavailable(w, r, err)
				return
			}
			if (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt < len(h.retryDelays) {
				// Someone else wrote first (the controller expiring it, the
				// admin withdrawing it, another click): decide again on
				// fresh data.
				if !sleep(ctx, h.retryDelays[attempt]) {
					h.unavailable(w, r, ctx.Err())
					return
				}
				if res, err = h.load(ctx, res.link); err != nil {
					h.unavailable(w, r, err)
					return
				}
				continue
			}
			h.unavailable(w, r, err)
		case verdictAccepted:
			if kind == accept {
				h.toHub(w, res.inv) // accepting twice is harmless
			} else {
				h.invitationPage(w, r, http.StatusConflict, i18n.PageAccepted, res)
			}
		case verdictDeclined:
			status := http.StatusGone
			if kind == decline {
				status = http.StatusOK // declining twice is harmless
			}
			h.invitationPage(w, r, status, i18n.PageDeclined, res)
		case verdictExpired:
			h.invitationPage(w, r, http.StatusGone, i18n.PageExpired, res)
		default:
			h.dead(w, r, res.why, &res.link.claims)
		}
		return
	}
}

// readForm reads a POST body: application/x-www-form-urlencoded only, at
// most maxBodyBytes. The URL's query is ignored. A non-zero status is the
// answer to give instead.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, int, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, http.StatusUnsupportedMediaType, i18n.KindUnsupportedMedia
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, i18n.KindTooLarge
		}
		return nil, http.StatusBadRequest, i18n.KindBadRequest
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, http.StatusBadRequest, i18n.KindBadRequest
	}
	return form, 0, ""
}

// errNoProof wraps the prover's failure: the acceptance is not recorded.
var errNoProof = errors.New("cannot prove the acceptance")

// record writes the partner's answer: one status patch with optimistic
// locking, then an Event. An acceptance carries its proof in the same
// write; when the proof cannot be made, record writes nothing and returns
// an error wrapping errNoProof.
func (h *handler) record(ctx context.Context, inv *v1alpha1.PartnerInvitation, kind answerKind, id *token.Identity) error {
	now := h.clock.Now()
	before := inv.DeepCopy()
	reason, action, note, msg := v1alpha1.ReasonAccepted, "Accept", "The partner accepted the invitation", "Invitation accepted"
	if kind == accept {
		at := acceptanceTime(now)
		// The generation accepted is the observed one: assess refused any
		// link whose generation differs from it.
		a := token.Acceptance{
			UID: string(inv.UID), Resend: inv.Status.ObservedResend, Email: string(inv.Spec.Email), AcceptedAt: at,
			Account: inv.AccountUIDByDomain(),
		}
		if id != nil {
			a.Issuer, a.Subject = id.Issuer, id.Subject
			note = "The partner signed in and accepted the invitation"
		}
		proof, err := h.prover.ProveAcceptance(ctx, a)
		if err != nil {
			return fmt.Errorf("%w of invitation %s: %w", errNoProof, klog.KObj(inv), err)
		}
		markAccepted(inv, at, proof, id)
	} else {
		markDeclined(inv, now)
		reason, action, note, msg = v1alpha1.ReasonDeclined, "Decline", msgDeclined, "Invitation declined"
	}
	if err := h.client.Status().Patch(ctx, inv, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing the status of invitation %s: %w", klog.KObj(inv), err)
	}
	h.log.Info(msg, "invitation", klog.KObj(inv), "account", inv.AccountName())
	if h.recorder != nil {
		h.recorder.Eventf(inv, nil, corev1.EventTypeNormal, reason, action, "%s", note)
	}
	return nil
}

// toHub answers 303 See Other to the Partner Hub, with the invitation's
// namespace and account as query parameters.
func (h *handler) toHub(w http.ResponseWriter, inv *v1alpha1.PartnerInvitation) {
	w.Header().Set("Location", h.hubURL(inv))
	w.WriteHeader(http.StatusSeeOther)
}

// hubURL is the Partner Hub URL with namespace and account merged into its
// query.
func (h *handler) hubURL(inv *v1alpha1.PartnerInvitation) string {
	u := *h.hub
	q := u.Query()
	q.Set("namespace", inv.Namespace)
	q.Set("account", inv.AccountName())
	u.RawQuery = q.Encode()
	return u.String()
}

// sleep waits for d or until ctx ends, and says whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
