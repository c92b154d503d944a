package acceptance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/token"
)

// t0 is the fake clock's start in every test.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// Names of the test objects.
const (
	testNamespace = "acme"
	testAccount   = "globex"
	testCustomer  = "Acme Retail"
	testCompany   = "Globex Corporation"
	testHub       = "https://hub.example.com/start?from=email"
	testClient    = "127.0.0.1:40000" // RemoteAddr of test requests
)

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// testConfig is a configuration with two roles and two systems named in
// three languages, and a rate limit no test reaches unless it sets one.
func testConfig(mods ...func(*config.Config)) *config.Config {
	cfg := &config.Config{
		Catalogue: config.Catalogue{
			Roles: []config.CatalogueEntry{
				{Key: "editor", DisplayName: config.LocalizedText{"en": "Editor", "fr": "Éditeur", "es": "Editor"}},
				{Key: "viewer", DisplayName: config.LocalizedText{"en": "Viewer", "fr": "Lecteur", "es": "Lector"}},
			},
			Systems: []config.CatalogueEntry{
				{Key: "store", DisplayName: config.LocalizedText{"en": "Online store", "fr": "Boutique en ligne", "es": "Tienda en línea"}},
				{Key: "insights", DisplayName: config.LocalizedText{"en": "Insights", "fr": "Analyses", "es": "Análisis"}},
			},
		},
		Acceptance: config.Acceptance{
			BindAddress:   "127.0.0.1:0",
			PublicURL:     "http://127.0.0.1:8082",
			PartnerHubURL: testHub,
		},
		RateLimits: config.RateLimits{AcceptRequestsPerMinute: 1_000_000},
	}
	for _, m := range mods {
		m(cfg)
	}
	return cfg
}

// namespace is the customer's namespace, with a display name unless
// display is empty.
func namespace(display string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}
	if display != "" {
		ns.Annotations = map[string]string{v1alpha1.DisplayNameAnnotation: display}
	}
	return ns
}

// account is the partner company's PartnerAccount.
func account() *v1alpha1.PartnerAccount {
	return &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testAccount},
		Spec:       v1alpha1.PartnerAccountSpec{DisplayName: testCompany},
	}
}

// accountAllowing is the account with allowedDomains set to domains.
func accountAllowing(domains ...v1alpha1.DomainName) *v1alpha1.PartnerAccount {
	a := account()
	a.Spec.AllowedDomains = domains
	return a
}

// invitation is a pending invitation, sent at t0 with a 7-day link for
// resend generation 0, changed by mods.
func invitation(name string, mods ...func(*v1alpha1.PartnerInvitation)) *v1alpha1.PartnerInvitation {
	inv := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: testAccount,
			Email:   v1alpha1.EmailAddress(name + "@globex.example"),
			Role:    "editor",
			Systems: []v1alpha1.CatalogueKey{"store", "insights"},
			Locale:  v1alpha1.LocaleEnglish,
		},
		Status: v1alpha1.PartnerInvitationStatus{
			State:              v1alpha1.InvitationPendingApproval,
			SentAt:             &metav1.Time{Time: t0},
			ExpiresAt:          &metav1.Time{Time: t0.Add(7 * 24 * time.Hour)},
			ObservedGeneration: 1,
		},
	}
	setCondition(inv, v1alpha1.ConditionEmailSent, metav1.ConditionTrue, v1alpha1.ReasonSent, "Sent", t0)
	setCondition(inv, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonAwaitingAcceptance, "The partner has not accepted yet", t0)
	setCondition(inv, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAwaitingAcceptance, "Waiting", t0)
	for _, m := range mods {
		m(inv)
	}
	return inv
}

func withLocale(l v1alpha1.Locale) func(*v1alpha1.PartnerInvitation) {
	return func(inv *v1alpha1.PartnerInvitation) { inv.Spec.Locale = l }
}

func withMessage(m string) func(*v1alpha1.PartnerInvitation) {
	return func(inv *v1alpha1.PartnerInvitation) { inv.Spec.Message = m }
}

func withSystems(keys ...v1alpha1.CatalogueKey) func(*v1alpha1.PartnerInvitation) {
	return func(inv *v1alpha1.PartnerInvitation) { inv.Spec.Systems = keys }
}

func withUID(uid string) func(*v1alpha1.PartnerInvitation) {
	return func(inv *v1alpha1.PartnerInvitation) { inv.UID = types.UID(uid) }
}

// resend sets spec.resend and status.observedResend.
func resend(spec, observed int32) func(*v1alpha1.PartnerInvitation) {
	return func(inv *v1alpha1.PartnerInvitation) {
		inv.Spec.Resend, inv.Status.ObservedResend = spec, observed
	}
}

// acceptedAt is an acceptance the page recorded at at, with its proof by
// the test keys.
func acceptedAt(at time.Time) func(*v1alpha1.PartnerInvitation) {
	return func(inv *v1alpha1.PartnerInvitation) { markAccepted(inv, at, proofOf(inv, at), nil) }
}

// proofOf is the proof, by the test keys, of inv's acceptance at at.
func proofOf(inv *v1alpha1.PartnerInvitation, at time.Time) token.Proof {
	k, err := token.ParseKeys(map[string][]byte{"k1": testKeyBytes})
	if err != nil {
		panic(err)
	}
	p, err := token.NewSigner(token.StaticKeys{K: k}, clocktesting.NewFakePassiveClock(at)).ProveAcceptance(context.Background(),
		token.Acceptance{UID: string(inv.UID), Resend: inv.Status.ObservedResend, Email: string(inv.Spec.Email), AcceptedAt: acceptanceTime(at)})
	if err != nil {
		panic(err)
	}
	return p
}

// expiredState is the controller's Expired state, its link run out an hour
// before t0.
func expiredState(inv *v1alpha1.PartnerInvitation) {
	inv.Status.State = v1alpha1.InvitationExpired
	inv.Status.SentAt = &metav1.Time{Time: t0.Add(-8 * 24 * time.Hour)}
	inv.Status.ExpiresAt = &metav1.Time{Time: t0.Add(-time.Hour)}
}

// shortLink makes the link valid for one hour after t0 only.
func shortLink(inv *v1alpha1.PartnerInvitation) {
	inv.Status.ExpiresAt = &metav1.Time{Time: t0.Add(time.Hour)}
}

// withdrawn is an invitation the admin withdrew, as the controller records it.
func withdrawn(inv *v1alpha1.PartnerInvitation) {
	inv.Spec.Revoked = true
	inv.Status.State = v1alpha1.InvitationRevoked
	setCondition(inv, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonWithdrawn, "Withdrawn", t0)
}

// withdrawnSpecOnly is a withdrawal the controller has not seen yet.
func withdrawnSpecOnly(inv *v1alpha1.PartnerInvitation) { inv.Spec.Revoked = true }

func declinedState(inv *v1alpha1.PartnerInvitation) { markDeclined(inv, t0) }

func invalidState(inv *v1alpha1.PartnerInvitation) {
	inv.Status.State = v1alpha1.InvitationInvalid
	setCondition(inv, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonUnknownRole, "Unknown role", t0)
}

// testKeys are the link-signing keys of the tests.
var testKeyBytes = bytes.Repeat([]byte{0x42}, 32)

func testKeys(t testing.TB) *token.Keys {
	t.Helper()
	k, err := token.ParseKeys(map[string][]byte{"k1": testKeyBytes})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is a handler over a fake client holding objs, with a fake clock at
// t0, a real token.Signer and a log captured at every verbosity.
type env struct {
	t       testing.TB
	client  client.WithWatch // the fake, without the counting interceptor
	clock   *clocktesting.FakeClock
	keys    *token.Keys
	signer  *token.Signer // over keys, on clock: the page's verifier and prover unless an option says otherwise
	events  *events.FakeRecorder
	h       *handler
	handler http.Handler
	logs    *syncBuffer

	// writes counts successful status writes, patches every attempt.
	writes, patches atomic.Int32
	// beforePatch, when set, runs before each status patch with its
	// attempt number (from 1), on the un-intercepted client.
	beforePatch func(attempt int, c client.WithWatch)
}

// envOption changes an env before its handler is built.
type envOption func(*envSetup)

type envSetup struct {
	cfg      *config.Config
	verifier Verifier
	prover   Prover
	quiet    bool
	// signIn, when set, makes the env's page ask for a sign-in (signin_test.go).
	signIn func(e *env, cfg *config.Config) SignInProvider
}

func withConfig(mods ...func(*config.Config)) envOption {
	return func(s *envSetup) { s.cfg = testConfig(mods...) }
}

func withVerifier(v Verifier) envOption { return func(s *envSetup) { s.verifier = v } }

func withProver(p Prover) envOption { return func(s *envSetup) { s.prover = p } }

// withoutLogs discards the page's log, for tests of hundreds of thousands
// of requests.
func withoutLogs() envOption { return func(s *envSetup) { s.quiet = true } }

// newEnv builds an env over objs; with none, the usual namespace, account
// and nothing else.
func newEnv(t testing.TB, objs []client.Object, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: clocktesting.NewFakeClock(t0), keys: testKeys(t), events: events.NewFakeRecorder(100), logs: &syncBuffer{}}
	e.client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.PartnerInvitation{}).Build()
	counting := interceptor.NewClient(e.client, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			n := e.patches.Add(1)
			if e.beforePatch != nil {
				e.beforePatch(int(n), e.client)
			}
			err := c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			if err == nil {
				e.writes.Add(1)
			}
			return err
		},
	})
	e.signer = token.NewSigner(token.StaticKeys{K: e.keys}, e.clock)
	setup := &envSetup{cfg: testConfig(), verifier: e.signer, prover: e.signer}
	for _, o := range opts {
		o(setup)
	}
	log := captureLog(e.logs)
	if setup.quiet {
		log = logr.Discard()
	}
	o := Options{
		Config: setup.cfg, Client: counting, Verifier: setup.verifier, Prover: setup.prover, Clock: e.clock,
		Recorder: e.events, Log: log,
	}
	if setup.signIn != nil {
		o.SignIn, o.SignIns = setup.signIn(e, setup.cfg), e.signer
	}
	h, err := newHandler(o)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	h.retryDelays = []time.Duration{0, 0, 0}
	e.h, e.handler = h, h.routes()
	return e
}

// objects is the usual namespace (with a display name) and account, plus
// the given invitations.
func objects(invs ...*v1alpha1.PartnerInvitation) []client.Object {
	objs := []client.Object{namespace(testCustomer), account()}
	for _, inv := range invs {
		objs = append(objs, inv)
	}
	return objs
}

// captureLog is a logger writing every line, at every verbosity, to b.
func captureLog(b *syncBuffer) logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
}

// syncBuffer is a strings.Builder safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sign signs claims with the env's keys at a time the env's verifier
// accepts (no later than the env's now, before the expiry).
func (e *env) sign(c token.Claims) string {
	e.t.Helper()
	at := e.clock.Now()
	if !at.Before(c.ExpiresAt) {
		at = c.ExpiresAt.Add(-time.Hour)
	}
	raw, err := token.NewSigner(token.StaticKeys{K: e.keys}, clocktesting.NewFakePassiveClock(at)).Sign(context.Background(), c)
	if err != nil {
		e.t.Fatalf("signing %+v: %v", c, err)
	}
	return raw
}

// claimsOf are the claims of the link the controller sent for inv.
func claimsOf(inv *v1alpha1.PartnerInvitation) token.Claims {
	return token.Claims{
		Namespace: inv.Namespace, Name: inv.Name, UID: string(inv.UID),
		Resend: inv.Status.ObservedResend, ExpiresAt: inv.Status.ExpiresAt.Time,
	}
}

// tokenFor is the token of the link the controller sent for inv.
func (e *env) tokenFor(inv *v1alpha1.PartnerInvitation) string { return e.sign(claimsOf(inv)) }

// request serves one request from testClient and returns the response.
func (e *env) request(req *http.Request) *http.Response {
	e.t.Helper()
	if req.RemoteAddr == "" || req.RemoteAddr == "192.0.2.1:1234" {
		req.RemoteAddr = testClient
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec.Result()
}

// get opens the link with tok.
func (e *env) get(tok string, header ...string) *http.Response {
	req := httptest.NewRequest(http.MethodGet, pathAccept+"?token="+url.QueryEscape(tok), nil)
	setHeaders(req, header...)
	return e.request(req)
}

// post submits a form with tok to path.
func (e *env) post(path, tok string, header ...string) *http.Response {
	return e.postBody(path, "token="+url.QueryEscape(tok), header...)
}

// postBody submits body as a form to path.
func (e *env) postBody(path, body string, header ...string) *http.Response {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	setHeaders(req, header...)
	return e.request(req)
}

// setHeaders sets name, value pairs.
func setHeaders(req *http.Request, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
}

// invitationNow reads an invitation from the fake client.
func (e *env) invitationNow(name string) *v1alpha1.PartnerInvitation {
	e.t.Helper()
	inv := &v1alpha1.PartnerInvitation{}
	if err := e.client.Get(context.Background(), types.NamespacedName{Namespace: testNamespace, Name: name}, inv); err != nil {
		e.t.Fatalf("reading invitation %s: %v", name, err)
	}
	return inv
}

// recordedEvents drains the events recorded so far.
func (e *env) recordedEvents() []string { return drainEvents(e.events) }

// drainEvents drains the events r recorded so far.
func drainEvents(r *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case ev := <-r.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// body reads a response's body.
func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	_ = resp.Body.Close()
	return b.String()
}

var pageAttr = regexp.MustCompile(`<main class="card" data-page="([a-z]+)">`)

// pageOf names the page a body is (invitation, accepted, expired,
// declined, invalid, error), "" for none.
func pageOf(body string) string {
	m := pageAttr.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// hash is a short digest of a body, for messages.
func hash(s string) [8]byte {
	sum := sha256.Sum256([]byte(s))
	return [8]byte(sum[:8])
}

func findCondition(inv *v1alpha1.PartnerInvitation, typ string) *metav1.Condition {
	for i := range inv.Status.Conditions {
		if inv.Status.Conditions[i].Type == typ {
			return &inv.Status.Conditions[i]
		}
	}
	return nil
}
