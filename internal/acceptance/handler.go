package acceptance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/email"
	"github.com/partnerops/partnerops/internal/token"
)

// Routes.
const (
	pathAccept  = "/invitations/accept"
	pathDecline = "/invitations/decline"
	pathHealthz = "/healthz"
)

// maxBodyBytes bounds a POST body: a token is at most token.MaxTokenLength
// bytes, and the form holds nothing else.
const maxBodyBytes = 8 << 10

// writeTimeout bounds the status write and its retries, which run even if
// the partner's browser goes away meanwhile, so that an acceptance is
// either recorded with its event or not at all.
const writeTimeout = 5 * time.Second

// Verifier checks an invitation link's token (internal/token.Signer). It
// returns an error wrapping token.ErrInvalid for any token this operator
// did not issue, token.ErrExpired with the claims for a genuine token past
// its expiry, and any other error when it cannot check (keys unavailable).
type Verifier interface {
	Verify(ctx context.Context, raw string) (token.Claims, error)
}

// Prover makes the proof of acceptance the page writes with each
// acceptance (internal/token.Signer, with the links' keys): the controller
// grants access only to an invitation whose proof verifies, so status
// written by anyone but the page grants nothing. It returns an error when
// it cannot make one (keys unavailable); the page then records nothing.
type Prover interface {
	ProveAcceptance(ctx context.Context, a token.Acceptance) (token.Proof, error)
}

// Options are what the page needs.
type Options struct {
	// Config gives Acceptance (bindAddress, partnerHubURL, tls),
	// RateLimits.AcceptRequestsPerMinute and the Catalogue's display names.
	Config *config.Config
	// Client is the manager's client: reads from the cache, writes status
	// to the API server.
	Client client.Client
	// Verifier checks the links' tokens.
	Verifier Verifier
	// Prover proves each acceptance; the same signer as Verifier in the
	// manager.
	Prover Prover
	// Clock defaults to the real clock.
	Clock clock.PassiveClock
	// Recorder records an Event on each acceptance and decline; may be nil.
	Recorder events.EventRecorder
	// Log receives the access log and the page's decisions; never a token.
	Log logr.Logger
	// EnableHTTP2 lets the server speak HTTP/2 (--enable-http2); off, it
	// speaks HTTP/1.1 only. See internal/httpserver for why.
	EnableHTTP2 bool
}

// handler serves the routes.
type handler struct {
	client   client.Client
	verifier Verifier
	prover   Prover
	clock    clock.PassiveClock
	recorder events.EventRecorder
	log      logr.Logger
	config   *config.Config
	pages    *pageSet
	hub      *url.URL
	csp      string
	limiter  *clientLimiter
	trusted  []netip.Prefix // proxies whose X-Forwarded-For is believed
	// retryDelays are the waits before each retry of a status write that
	// conflicted; their number is the number of retries.
	retryDelays []time.Duration
}

// NewHandler returns the page's routes with all their middleware: access
// log, security headers, panic recovery and the per-client rate limit
// (not on /healthz).
func NewHandler(o Options) (http.Handler, error) {
	h, err := newHandler(o)
	if err != nil {
		return nil, err
	}
	return h.routes(), nil
}

func newHandler(o Options) (*handler, error) {
	switch {
	case o.Config == nil:
		return nil, errors.New("acceptance page: no configuration")
	case o.Client == nil:
		return nil, errors.New("acceptance page: no Kubernetes client")
	case o.Verifier == nil:
		return nil, errors.New("acceptance page: no token verifier")
	case o.Prover == nil:
		return nil, errors.New("acceptance page: no acceptance prover")
	case o.Config.RateLimits.AcceptRequestsPerMinute < 1:
		return nil, fmt.Errorf("acceptance page: rateLimits.acceptRequestsPerMinute is %d, want at least 1", o.Config.RateLimits.AcceptRequestsPerMinute)
	}
	hub, err := url.Parse(o.Config.Acceptance.PartnerHubURL)
	if err != nil || (hub.Scheme != "https" && hub.Scheme != "http") || hub.Host == "" {
		return nil, fmt.Errorf("acceptance page: acceptance.partnerHubURL %q is not an absolute http(s) URL", o.Config.Acceptance.PartnerHubURL)
	}
	pages, err := builtinPages()
	if err != nil {
		return nil, fmt.Errorf("acceptance page: %w", err)
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &handler{
		client:      o.Client,
		verifier:    o.Verifier,
		prover:      o.Prover,
		clock:       clk,
		recorder:    o.Recorder,
		log:         o.Log,
		config:      o.Config,
		pages:       pages,
		hub:         hub,
		csp:         contentSecurityPolicy(hub),
		limiter:     newClientLimiter(o.Config.RateLimits.AcceptRequestsPerMinute),
		trusted:     o.Config.Acceptance.TrustedProxyPrefixes(),
		retryDelays: []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond},
	}, nil
}

// routes is the handler chain: the access log sees every response, every
// response carries the security headers, and the rate limit spares only
// the health check.
func (h *handler) routes() http.Handler {
	limited := h.rateLimit(http.HandlerFunc(h.route))
	return h.accessLog(h.securityHeaders(h.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == pathHealthz {
			h.healthz(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	}))))
}

// route dispatches by exact path, then by method.
func (h *handler) route(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case pathAccept:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.show(w, r)
		case http.MethodPost:
			h.answer(w, r, accept)
		default:
			h.methodNotAllowed(w, r, "GET, HEAD, POST")
		}
	case pathDecline:
		if r.Method != http.MethodPost {
			h.methodNotAllowed(w, r, "POST")
			return
		}
		h.answer(w, r, decline)
	default:
		h.fail(w, r, http.StatusNotFound, errNotFound)
	}
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

func (h *handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	h.fail(w, r, http.StatusMethodNotAllowed, errMethodNotAllowed)
}

// show answers GET /invitations/accept. It never writes.
func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	l, ok, err := h.verify(ctx, r.URL.Query()["token"])
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !ok {
		h.dead(w, r, whyBadToken, nil)
		return
	}
	res, err := h.load(ctx, l)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	switch res.verdict {
	case verdictPending:
		h.invitationPage(w, r, http.StatusOK, pageInvitation, res)
	case verdictAccepted:
		h.invitationPage(w, r, http.StatusOK, pageAccepted, res)
	case verdictExpired:
		h.invitationPage(w, r, http.StatusGone, pageExpired, res)
	case verdictDeclined:
		h.invitationPage(w, r, http.StatusGone, pageDeclined, res)
	default:
		h.dead(w, r, res.why, &l.claims)
	}
}

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
	l, ok, err := h.verify(ctx, form["token"])
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if !ok {
		h.dead(w, r, whyBadToken, nil)
		return
	}
	for attempt := 0; ; attempt++ {
		res, err := h.load(ctx, l)
		if err != nil {
			h.unavailable(w, r, err)
			return
		}
		switch res.verdict {
		case verdictPending:
			err := h.record(ctx, res.inv, kind)
			if err == nil {
				if kind == accept {
					h.toHub(w, res.inv)
				} else {
					h.invitationPage(w, r, http.StatusOK, pageDeclined, res)
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
				continue
			}
			h.unavailable(w, r, err)
		case verdictAccepted:
			if kind == accept {
				h.toHub(w, res.inv) // accepting twice is harmless
			} else {
				h.invitationPage(w, r, http.StatusConflict, pageAccepted, res)
			}
		case verdictDeclined:
			status := http.StatusGone
			if kind == decline {
				status = http.StatusOK // declining twice is harmless
			}
			h.invitationPage(w, r, status, pageDeclined, res)
		case verdictExpired:
			h.invitationPage(w, r, http.StatusGone, pageExpired, res)
		default:
			h.dead(w, r, res.why, &l.claims)
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
		return nil, http.StatusUnsupportedMediaType, errUnsupportedMedia
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, errTooLarge
		}
		return nil, http.StatusBadRequest, errBadRequest
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, http.StatusBadRequest, errBadRequest
	}
	return form, 0, ""
}

// verify checks the one token of a request. ok is false for anything but
// one genuine token (expired or not); err is set only when the verifier
// could not check.
func (h *handler) verify(ctx context.Context, values []string) (l link, ok bool, err error) {
	if len(values) != 1 || values[0] == "" {
		return link{}, false, nil
	}
	c, err := h.verifier.Verify(ctx, values[0])
	switch {
	case err == nil:
		return link{raw: values[0], claims: c}, true, nil
	case errors.Is(err, token.ErrInvalid):
		return link{}, false, nil
	case errors.Is(err, token.ErrExpired):
		return link{raw: values[0], claims: c, expired: true}, true, nil
	}
	return link{}, false, fmt.Errorf("verifying an invitation link: %w", err)
}

// resolution is what a verified link leads to.
type resolution struct {
	link    link
	verdict verdict
	why     string // for logs, when dead
	inv     *v1alpha1.PartnerInvitation
	account *v1alpha1.PartnerAccount
}

// load reads the invitation the link names and its account, and decides.
func (h *handler) load(ctx context.Context, l link) (resolution, error) {
	res := resolution{link: l}
	inv := &v1alpha1.PartnerInvitation{}
	switch err := h.client.Get(ctx, types.NamespacedName{Namespace: l.claims.Namespace, Name: l.claims.Name}, inv); {
	case apierrors.IsNotFound(err):
		inv = nil
	case err != nil:
		return res, fmt.Errorf("reading invitation %s/%s: %w", l.claims.Namespace, l.claims.Name, err)
	}
	var account *v1alpha1.PartnerAccount
	if inv != nil && string(inv.UID) == l.claims.UID {
		account = &v1alpha1.PartnerAccount{}
		switch err := h.client.Get(ctx, types.NamespacedName{Namespace: inv.Namespace, Name: inv.Spec.Account}, account); {
		case apierrors.IsNotFound(err):
			account = nil
		case err != nil:
			return res, fmt.Errorf("reading PartnerAccount %s/%s: %w", inv.Namespace, inv.Spec.Account, err)
		}
	}
	res.inv, res.account = inv, account
	res.verdict, res.why = assess(l, inv, account, h.clock.Now())
	return res, nil
}

// errNoProof wraps the prover's failure: the acceptance is not recorded.
var errNoProof = errors.New("cannot prove the acceptance")

// record writes the partner's answer: one status patch with optimistic
// locking, then an Event. An acceptance carries its proof in the same
// write; when the proof cannot be made, record writes nothing and returns
// an error wrapping errNoProof.
func (h *handler) record(ctx context.Context, inv *v1alpha1.PartnerInvitation, kind answerKind) error {
	now := h.clock.Now()
	before := inv.DeepCopy()
	reason, action, note, msg := v1alpha1.ReasonAccepted, "Accept", "The partner accepted the invitation", "Invitation accepted"
	if kind == accept {
		at := acceptanceTime(now)
		// The generation accepted is the observed one: assess refused any
		// link whose generation differs from it.
		proof, err := h.prover.ProveAcceptance(ctx, token.Acceptance{
			UID: string(inv.UID), Resend: inv.Status.ObservedResend, Email: string(inv.Spec.Email), AcceptedAt: at,
		})
		if err != nil {
			return fmt.Errorf("%w of invitation %s: %w", errNoProof, klog.KObj(inv), err)
		}
		markAccepted(inv, at, proof)
	} else {
		markDeclined(inv, now)
		reason, action, note, msg = v1alpha1.ReasonDeclined, "Decline", msgDeclined, "Invitation declined"
	}
	if err := h.client.Status().Patch(ctx, inv, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing the status of invitation %s: %w", klog.KObj(inv), err)
	}
	h.log.Info(msg, "invitation", klog.KObj(inv), "account", inv.Spec.Account)
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
	q.Set("account", inv.Spec.Account)
	u.RawQuery = q.Encode()
	return u.String()
}

// invitationPage renders a page about the invitation, in its locale.
func (h *handler) invitationPage(w http.ResponseWriter, r *http.Request, status int, file string, res resolution) {
	d, err := h.pageData(r.Context(), res)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	if file == pageInvitation {
		d.Token = res.link.raw
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
		Expires:    email.FormatExpiry(locale, expires),
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
	if n := oneLine(ns.Annotations[v1alpha1.DisplayNameAnnotation]); n != "" {
		return n, nil
	}
	return namespace, nil
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
	h.write(w, r, http.StatusNotFound, pageDead, pageData{Locale: negotiateLocale(r.Header.Get("Accept-Language"))})
}

// unavailable answers 503 when the page cannot decide (the API or the
// signing keys failed); err never holds the token.
func (h *handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error(err, "Acceptance page unavailable", "path", routeName(r.URL.Path))
	w.Header().Set("Retry-After", "30")
	h.fail(w, r, http.StatusServiceUnavailable, errUnavailable)
}

// fail answers an error page of the given kind, in the request's language.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, kind string) {
	w.Header().Set("Vary", "Accept-Language")
	h.write(w, r, status, pageError, pageData{Locale: negotiateLocale(r.Header.Get("Accept-Language")), Kind: kind})
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
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
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

// routeName is a path fit for a log line: one of the routes, or "other"
// (a mangled link may carry its token in the path).
func routeName(p string) string {
	switch p {
	case pathAccept, pathDecline, pathHealthz:
		return p
	}
	if strings.HasPrefix(p, "/invitations/") {
		return "/invitations/…"
	}
	return "other"
}
