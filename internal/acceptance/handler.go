package acceptance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/token"
)

// This file holds the handler: its Options and dependencies, the routes
// with their middleware chain, and the read path shared by showing and
// answering (verifying the link, loading the invitation and its account,
// deciding). The answer path is in answer.go, the pages it answers with in
// render.go.

// Routes.
const (
	pathAccept  = "/invitations/accept"
	pathDecline = "/invitations/decline"
	pathHealthz = "/healthz"
	// pathSignedIn is where the identity provider sends the partner back
	// (acceptance.signIn: oidc; see signin.go).
	pathSignedIn = "/invitations/signed-in"
)

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
	// SignIn is the OpenID Provider partners sign in with before
	// accepting (internal/signin.Provider); required when
	// Config.Acceptance.SignIn is oidc, unused otherwise.
	SignIn SignInProvider
	// SignIns signs and checks the sign-in's state and ticket
	// (internal/token.Signer, with the links' keys); required with SignIn.
	SignIns SignInSigner
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
	// sendingWait bounds the wait for the status of a link's send to
	// reach the page (verdictSending), polled every sendingPoll.
	sendingWait, sendingPoll time.Duration
	// signIn and signIns are set when partners sign in before accepting
	// (signin.go); the sign-in cookie goes to cookiePath, and only over
	// TLS when secureCookies (cookieScope).
	signIn        SignInProvider
	signIns       SignInSigner
	cookiePath    string
	secureCookies bool
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
	if o.Config.Acceptance.SignIn.Enabled() && (o.SignIn == nil || o.SignIns == nil) {
		return nil, errors.New("acceptance page: acceptance.signIn is oidc but no identity provider or sign-in signer was given")
	}
	if !o.Config.Acceptance.SignIn.Enabled() {
		o.SignIn, o.SignIns = nil, nil
	}
	cookiePath, secureCookies := cookieScope(o.Config.Acceptance.PublicURL)
	return &handler{
		signIn:        o.SignIn,
		signIns:       o.SignIns,
		cookiePath:    cookiePath,
		secureCookies: secureCookies,
		client:        o.Client,
		verifier:      o.Verifier,
		prover:        o.Prover,
		clock:         clk,
		recorder:      o.Recorder,
		log:           o.Log,
		config:        o.Config,
		pages:         pages,
		hub:           hub,
		csp:           contentSecurityPolicy(hub),
		limiter:       newClientLimiter(o.Config.RateLimits.AcceptRequestsPerMinute),
		trusted:       o.Config.Acceptance.TrustedProxyPrefixes(),
		retryDelays:   []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond},
		sendingWait:   5 * time.Second,
		sendingPoll:   100 * time.Millisecond,
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
	case pathSignedIn:
		switch {
		case h.signIn == nil:
			h.fail(w, r, http.StatusNotFound, i18n.KindNotFound)
		case r.Method != http.MethodGet:
			h.methodNotAllowed(w, r, "GET")
		default:
			h.signedIn(w, r)
		}
	case pathDecline:
		if r.Method != http.MethodPost {
			h.methodNotAllowed(w, r, "POST")
			return
		}
		h.answer(w, r, decline)
	default:
		h.fail(w, r, http.StatusNotFound, i18n.KindNotFound)
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
	h.fail(w, r, http.StatusMethodNotAllowed, i18n.KindMethodNotAllowed)
}

// show answers GET /invitations/accept. It never writes.
func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	res, ok := h.resolve(ctx, w, r, r.URL.Query()["token"])
	if !ok {
		return
	}
	h.showResolution(w, r, res)
}

// showResolution answers with the page of what a link leads to.
func (h *handler) showResolution(w http.ResponseWriter, r *http.Request, res resolution) {
	switch res.verdict {
	case verdictPending:
		h.invitationPage(w, r, http.StatusOK, i18n.PageInvitation, res)
	case verdictAccepted:
		h.invitationPage(w, r, http.StatusOK, i18n.PageAccepted, res)
	case verdictExpired:
		h.invitationPage(w, r, http.StatusGone, i18n.PageExpired, res)
	case verdictDeclined:
		h.invitationPage(w, r, http.StatusGone, i18n.PageDeclined, res)
	default:
		h.dead(w, r, res.why, &res.link.claims)
	}
}

// resolve verifies the one token of a request and loads what it names.
// When the token is not one genuine token, or could not be checked, or the
// load failed, it has answered the request (the invalid page, or
// unavailable) and ok is false.
func (h *handler) resolve(ctx context.Context, w http.ResponseWriter, r *http.Request, values []string) (res resolution, ok bool) {
	l, ok, err := h.verify(ctx, values)
	if err != nil {
		h.unavailable(w, r, err)
		return resolution{}, false
	}
	if !ok {
		h.dead(w, r, whyBadToken, nil)
		return resolution{}, false
	}
	if res, err = h.load(ctx, l); err != nil {
		h.unavailable(w, r, err)
		return resolution{}, false
	}
	// A partner quicker than the controller: the email went out, its
	// status is on its way to the cache.
	for waited := time.Duration(0); res.verdict == verdictSending && waited < h.sendingWait; waited += h.sendingPoll {
		if !sleep(ctx, h.sendingPoll) {
			h.unavailable(w, r, ctx.Err())
			return resolution{}, false
		}
		if res, err = h.load(ctx, l); err != nil {
			h.unavailable(w, r, err)
			return resolution{}, false
		}
	}
	if res.verdict == verdictSending {
		h.log.Info("A link was opened before its send was recorded; asked to try again", "invitation", klog.KRef(l.claims.Namespace, l.claims.Name))
		w.Header().Set("Retry-After", "5")
		h.fail(w, r, http.StatusServiceUnavailable, i18n.KindUnavailable)
		return resolution{}, false
	}
	return res, true
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
	if inv != nil && string(inv.UID) == l.claims.UID && inv.AccountName() != "" {
		account = &v1alpha1.PartnerAccount{}
		switch err := h.client.Get(ctx, types.NamespacedName{Namespace: inv.Namespace, Name: inv.AccountName()}, account); {
		case apierrors.IsNotFound(err):
			account = nil
		case err != nil:
			return res, fmt.Errorf("reading PartnerAccount %s/%s: %w", inv.Namespace, inv.AccountName(), err)
		}
	}
	res.inv, res.account = inv, account
	res.verdict, res.why = assess(l, inv, account, h.clock.Now())
	return res, nil
}

// routeName is a path fit for a log line: one of the routes, or "other"
// (a mangled link may carry its token in the path).
func routeName(p string) string {
	switch p {
	case pathAccept, pathDecline, pathHealthz, pathSignedIn:
		return p
	}
	if strings.HasPrefix(p, "/invitations/") {
		return "/invitations/…"
	}
	return "other"
}
