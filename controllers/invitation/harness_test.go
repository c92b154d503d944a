package invitation_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity/identitytest"
	"github.com/partnerops/partnerops/internal/manager"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/testenv"
)

var env *testenv.Env

// secretNamespace holds the link-signing keys in these tests.
const secretNamespace = "partnerops-system"

func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) error {
		return e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secretNamespace}})
	})
}

// t0 is when every test starts, on the fake clock.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fakeSender records messages instead of sending them; fail, when set,
// decides the outcome of each send.
type fakeSender struct {
	mu   sync.Mutex
	sent []*smtp.Message
	fail func(n int, m *smtp.Message) error // n counts attempts from 1
	n    int
}

var _ smtp.Sender = &fakeSender{}

func (f *fakeSender) Send(_ context.Context, m *smtp.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.fail != nil {
		if err := f.fail(f.n, m); err != nil {
			return err
		}
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeSender) messages() []*smtp.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*smtp.Message(nil), f.sent...)
}

func (f *fakeSender) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// requests counts the API requests a manager makes, by method and path.
type requests struct {
	mu     sync.Mutex
	counts map[string]int
	// inject, when set, may answer a request instead of the API server.
	inject func(*http.Request) *http.Response
}

func (r *requests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		r.mu.Lock()
		r.counts[req.Method+" "+req.URL.Path]++
		r.mu.Unlock()
		if r.inject != nil {
			if resp := r.inject(req); resp != nil {
				return resp, nil
			}
		}
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// writes returns the write requests (anything but GET) seen so far.
func (r *requests) writes() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, n := range r.counts {
		if !strings.HasPrefix(k, "GET ") {
			out[k] = n
		}
	}
	return out
}

// statusWrites counts writes to the status of invitations.
func (r *requests) statusWrites() int {
	n := 0
	for k, c := range r.writes() {
		if strings.Contains(k, "/partnerinvitations/") && strings.HasSuffix(k, "/status") {
			n += c
		}
	}
	return n
}

// harness is one running manager for one test namespace.
type harness struct {
	t        *testing.T
	ns       string
	clock    *clocktesting.FakeClock
	sender   *fakeSender
	requests *requests
	cfg      *opconfig.Config
	backend  *identitytest.Fake
	// inject, when set, may answer the manager's API requests instead of
	// the API server (to inject a conflict).
	inject func(*http.Request) *http.Response
	// others are more namespaces the manager's cache watches (withNamespaces).
	others []string
	stop   func()
}

type harnessOpt func(*harness)

// withNamespaces makes n more namespaces the manager watches (h.others).
func withNamespaces(n int) harnessOpt {
	return func(h *harness) {
		for range n {
			h.others = append(h.others, env.Namespace(h.t))
		}
	}
}

// withConfig changes the configuration the manager starts with.
func withConfig(f func(*opconfig.Config)) harnessOpt { return func(h *harness) { f(h.cfg) } }

// testConfig is the dev configuration with limits that do not slow tests.
func testConfig(t *testing.T) *opconfig.Config {
	t.Helper()
	cfg, err := opconfig.Load(filepath.Join(testenv.RepoRoot(), "config", "dev", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SecretNamespace = secretNamespace
	cfg.RateLimits.EmailsPerSecond = 1000
	cfg.RateLimits.EmailsPerNamespacePerHour = 100000
	// The manager serves the acceptance page; tests that open it set a
	// known free port (withPage), the others let the kernel pick one.
	cfg.Acceptance.BindAddress = "127.0.0.1:0"
	return cfg
}

// start runs a manager over a fresh namespace (or ns when given through
// restart) with a fake clock and a fake sender.
func start(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, ns: env.Namespace(t), clock: clocktesting.NewFakeClock(t0), sender: &fakeSender{}, cfg: testConfig(t),
		backend: &identitytest.Fake{CreateGroups: true}}
	for _, o := range opts {
		o(h)
	}
	h.run()
	return h
}

func (h *harness) run() {
	t := h.t
	t.Helper()
	h.requests = &requests{counts: map[string]int{}, inject: h.inject}
	rc := rest.CopyConfig(env.Config)
	rc.WrapTransport = h.requests.wrap
	var sender smtp.Sender // nil: SMTP as configured
	if h.sender != nil {
		sender = h.sender
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, rc, manager.Options{
		Config:  h.cfg,
		Scheme:  env.Scheme,
		Clock:   h.clock,
		Sender:  sender,
		Backend: h.backend,
		Manager: ctrl.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Cache:                  cache.Options{DefaultNamespaces: h.namespaces()},
			Controller:             config.Controller{SkipNameValidation: ptr(true)},
		},
	})
	if err != nil {
		cancel()
		t.Fatalf("building the manager: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("the manager's cache did not sync")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("the manager stopped with %v", err)
			}
		})
	}
	h.stop = stop
	t.Cleanup(stop)
}

// namespaces are the namespaces the manager's cache watches.
func (h *harness) namespaces() map[string]cache.Config {
	out := map[string]cache.Config{h.ns: {}}
	for _, ns := range h.others {
		out[ns] = cache.Config{}
	}
	return out
}

// restart stops the manager and starts a new one over the same namespace,
// clock and sender, with fresh request counts.
func (h *harness) restart() {
	h.stop()
	h.run()
}

func ptr[T any](v T) *T { return &v }

// Builders of test objects.

func (h *harness) account(name string, mutate ...func(*v1alpha1.PartnerAccount)) *v1alpha1.PartnerAccount {
	h.t.Helper()
	a := &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec:       v1alpha1.PartnerAccountSpec{DisplayName: "Globex Corporation"},
	}
	for _, m := range mutate {
		m(a)
	}
	if err := env.Client.Create(context.Background(), a); err != nil {
		h.t.Fatalf("creating account %s: %v", name, err)
	}
	return a
}

func (h *harness) invite(name, email string, mutate ...func(*v1alpha1.PartnerInvitation)) *v1alpha1.PartnerInvitation {
	h.t.Helper()
	inv := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: "globex", Email: v1alpha1.EmailAddress(email), Role: "editor",
			Systems: []v1alpha1.CatalogueKey{"editor", "insights"},
		},
	}
	for _, m := range mutate {
		m(inv)
	}
	if err := env.Client.Create(context.Background(), inv); err != nil {
		h.t.Fatalf("creating invitation %s: %v", name, err)
	}
	return inv
}

// get reads an invitation's current state from the API server.
func (h *harness) get(name string) *v1alpha1.PartnerInvitation {
	h.t.Helper()
	inv := &v1alpha1.PartnerInvitation{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, inv); err != nil {
		h.t.Fatalf("reading invitation %s: %v", name, err)
	}
	return inv
}

// edit changes an invitation's spec as a user would (retrying conflicts).
func (h *harness) edit(name string, f func(*v1alpha1.PartnerInvitation)) {
	h.t.Helper()
	update(h.t, keyOf(h.ns, name), &v1alpha1.PartnerInvitation{}, f)
}

// update reads obj's key, changes it with f and updates it, retrying
// conflicts, as a user's kubectl edit would.
func update[T client.Object](t *testing.T, key types.NamespacedName, obj T, f func(T)) {
	t.Helper()
	for range 10 {
		if err := env.Client.Get(context.Background(), key, obj); err != nil {
			t.Fatalf("reading %s: %v", key, err)
		}
		f(obj)
		err := env.Client.Update(context.Background(), obj)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("editing %s: %v", key, err)
		}
	}
	t.Fatalf("editing %s: too many conflicts", key)
}

// eventually polls cond (bounded) until it holds.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	h.eventuallyWithin(30*time.Second, what, cond)
}

// eventuallyWithin is eventually with a longer bound, for bulk work.
func (h *harness) eventuallyWithin(d time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState waits for an invitation to reach state and returns it.
func (h *harness) waitState(name string, state v1alpha1.InvitationState) *v1alpha1.PartnerInvitation {
	h.t.Helper()
	var inv *v1alpha1.PartnerInvitation
	h.eventually("invitation "+name+" to be "+string(state), func() bool {
		inv = h.get(name)
		return inv.Status.State == state && inv.Status.ObservedGeneration == inv.Generation
	})
	return inv
}

// waitCondition waits until condition t of name has status and reason.
func (h *harness) waitCondition(name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.PartnerInvitation {
	h.t.Helper()
	var inv *v1alpha1.PartnerInvitation
	h.eventually(name+" "+typ+"="+string(status)+"/"+reason, func() bool {
		inv = h.get(name)
		for _, c := range inv.Status.Conditions {
			if c.Type == typ && c.Status == status && c.Reason == reason && c.ObservedGeneration == inv.Generation {
				return true
			}
		}
		return false
	})
	return inv
}

// stepTo moves the fake clock to at once the controller waits on it.
func (h *harness) stepTo(at time.Time) {
	h.eventually("the controller to wait on the clock", h.clock.HasWaiters)
	h.clock.SetTime(at)
}

// events lists the Events recorded for an object, as "Type Reason: note".
func (h *harness) events(name string) []string {
	h.t.Helper()
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Type+" "+e.Reason+": "+e.Note)
		}
	}
	return out
}

func condition(inv *v1alpha1.PartnerInvitation, t string) *metav1.Condition {
	for i := range inv.Status.Conditions {
		if inv.Status.Conditions[i].Type == t {
			return &inv.Status.Conditions[i]
		}
	}
	return nil
}

func keyOf(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}
