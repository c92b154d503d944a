package acceptance

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/token"
)

// This file holds how the handler answers with a page: the invitation's
// pages and what they show (who invites, role and systems by their
// catalogue names, expiry), the one generic page for a dead link, the
// error pages, and writing a rendered page with its status. The pages
// themselves are rendered in pages.go.

// invitationPage renders a page about the invitation, in its locale.
func (h *handler) invitationPage(w http.ResponseWriter, r *http.Request, status int, file string, res resolution) {
	d, err := h.pageData(r.Context(), res)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if file == i18n.PageInvitation {
		d.Token = res.link.raw
		if h.signIn != nil {
			// Accepting leads to the identity provider: the form may go
			// there (Chromium applies form-action to the redirect).
			d.SignIn = true
			w.Header().Set("Content-Security-Policy", contentSecurityPolicy(h.hub, h.signIn.Origins()...))
		}
	}
	h.write(w, r, status, file, d)
}

// pageData gathers what the invitation's pages show.
func (h *handler) pageData(ctx context.Context, res resolution) (pageData, error) {
	inv, c := res.inv, res.link.claims
	locale := string(inv.Spec.Locale)
	if locale == "" {
		locale = string(v1alpha1.LocaleEnglish)
	}
	customer, err := h.customerName(ctx, inv.Namespace)
	if err != nil {
		return pageData{}, err
	}
	expires := c.ExpiresAt
	if st := inv.Status.ExpiresAt; st != nil && st.Time.Before(expires) {
		expires = st.Time
	}
	d := pageData{
		Locale:     locale,
		Customer:   customer,
		Role:       h.catalogueName(h.config.Role, string(inv.Spec.Role), locale),
		Note:       noteText(inv.Spec.Message),
		Expires:    i18n.FormatExpiry(locale, expires),
		ExpiresISO: expires.UTC().Format(time.RFC3339),
		HubURL:     h.hubURL(inv),
	}
	if res.account != nil {
		d.Account = oneLine(res.account.Spec.DisplayName)
	}
	for _, s := range inv.Spec.Systems {
		d.Systems = append(d.Systems, h.catalogueName(h.config.System, string(s), locale))
	}
	return d, nil
}

// catalogueName is a role's or system's name for people, its key when the
// catalogue no longer has it.
func (h *handler) catalogueName(lookup func(string) (config.CatalogueEntry, bool), key, locale string) string {
	if e, ok := lookup(key); ok {
		if n := oneLine(e.DisplayName.For(locale)); n != "" {
			return n
		}
	}
	return key
}

// customerName is who invites: the namespace's display-name annotation,
// else its name.
func (h *handler) customerName(ctx context.Context, namespace string) (string, error) {
	ns := &corev1.Namespace{}
	if err := h.client.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return namespace, nil
		}
		return "", fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	return i18n.CustomerName(namespace, ns.Annotations), nil
}

// dead answers the one generic page for a link that can never work: 404,
// the same bytes whatever the cause (only the request's Accept-Language
// picks the language). The cause goes to the log, with the invitation the
// link names when the token is genuine.
func (h *handler) dead(w http.ResponseWriter, r *http.Request, why string, c *token.Claims) {
	kv := []any{"reason", why}
	if c != nil {
		kv = append(kv, "invitation", klog.KRef(c.Namespace, c.Name))
	}
	h.log.V(1).Info("Invitation link refused", kv...)
	w.Header().Set("Vary", "Accept-Language")
	h.write(w, r, http.StatusNotFound, i18n.PageDead, pageData{Locale: negotiateLocale(r.Header.Get("Accept-Language"))})
}

// unavailable answers 503 when the page cannot decide (the API or the
// signing keys failed); err never holds the token.
func (h *handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error(err, "Acceptance page unavailable", "path", routeName(r.URL.Path))
	w.Header().Set("Retry-After", "30")
	h.fail(w, r, http.StatusServiceUnavailable, i18n.KindUnavailable)
}

// fail answers an error page of the given kind, in the request's language.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, kind string) {
	w.Header().Set("Vary", "Accept-Language")
	h.write(w, r, status, i18n.PageError, pageData{Locale: negotiateLocale(r.Header.Get("Accept-Language")), Kind: kind})
}

// fallbackPage is served when a page fails to render.
const fallbackPage = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head><body><p>Something went wrong. Please try again later.</p></body></html>\n"

// write renders a page and sends it with its status.
func (h *handler) write(w http.ResponseWriter, r *http.Request, status int, file string, d pageData) {
	body, err := h.pages.render(file, d)
	if err != nil {
		h.log.Error(err, "Rendering the acceptance page", "path", routeName(r.URL.Path))
		status, body = http.StatusInternalServerError, []byte(fallbackPage)
	}
	seePage(w, file)
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
