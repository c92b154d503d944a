package account_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	opconfig "github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/identitytest"
	"github.com/partnerops/partnerops/internal/manager"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/testenv"
)

// This harness runs the whole manager (both controllers, as in
// production) through internal/manager on a real API server, with a fake
// clock and a fake mail sender; it is the invitation controller's harness
// cut down to what the account tests need.

var env *testenv.Env

// secretNamespace holds the link-signing keys in these tests.
const secretNamespace = "partnerops-system"

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing the pure name function (go test -run '^$' -fuzz
		// FuzzInvitationName) needs no control plane: each fuzz worker
		// would start one.
		os.Exit(m.Run())
	}
	testenv.Main(m, &env, func(e *testenv.Env) error {
		return e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secretNamespace}})
	})
}

// t0 is when every test starts, on the fake clock.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fakeSender accepts every email and counts them.
type fakeSender struct {
	mu   sync.Mutex
	sent []*smtp.Message
}

var _ smtp.Sender = &fakeSender{}

func (f *fakeSender) Send(_ context.Context, m *smtp.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	return nil
}

// to lists the recipients of the emails sent so far.
func (f *fakeSender) to() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.sent {
		out = append(out, m.To)
	}
	return out
}

// backend is the in-memory identity backend, which a test can take down.
type backend struct {
	*identitytest.Fake
	down atomic.Bool
}

var _ identity.Backend = &backend{}

// errDown is what the backend answers while it is down.
var errDown = fmt.Errorf("dial tcp 127.0.0.1:8091: connect: connection refused: %w", identity.ErrUnavailable)

func (b *backend) FindUser(ctx context.Context, email string) (identity.User, error) {
	if b.down.Load() {
		return identity.User{}, errDown
	}
	return b.Fake.FindUser(ctx, email)
}

func (b *backend) EnsureUser(ctx context.Context, u identity.NewUser) (identity.User, error) {
	if b.down.Load() {
		return identity.User{}, errDown
	}
	return b.Fake.EnsureUser(ctx, u)
}

func (b *backend) AddMember(ctx context.Context, group string, u identity.User) error {
	if b.down.Load() {
		return errDown
	}
	return b.Fake.AddMember(ctx, group, u)
}

func (b *backend) RemoveMember(ctx context.Context, group string, u identity.User) error {
	if b.down.Load() {
		return errDown
	}
	return b.Fake.RemoveMember(ctx, group, u)
}

func (b *backend) Groups(ctx context.Context, u identity.User) ([]string, error) {
	if b.down.Load() {
		return nil, errDown
	}
	return b.Fake.Groups(ctx, u)
}

func (b *backend) DeleteUser(ctx context.Context, u identity.User) error {
	if b.down.Load() {
		return errDown
	}
	return b.Fake.DeleteUser(ctx, u)
}

// requests counts the API requests a manager makes, by method and path.
type requests struct {
	mu     sync.Mutex
	counts map[string]int
}

func (r *requests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		r.mu.Lock()
		r.counts[req.Method+" "+req.URL.Path]++
		r.mu.Unlock()
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

// harness is one running manager for one test namespace.
type harness struct {
	t        *testing.T
	ns       string
	clock    *clocktesting.FakeClock
	sender   *fakeSender
	backend  *backend
	requests *requests
	cfg      *opconfig.Config
	stop     func()
}

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
	cfg.Acceptance.BindAddress = "127.0.0.1:0"
	return cfg
}

// start runs a manager over a fresh namespace with a fake clock, a fake
// sender and an in-memory identity backend.
func start(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, ns: env.Namespace(t), clock: clocktesting.NewFakeClock(t0), sender: &fakeSender{}, cfg: testConfig(t),
		backend: &backend{Fake: &identitytest.Fake{CreateGroups: true}}}
	h.run()
	return h
}

func (h *harness) run() {
	t := h.t
	t.Helper()
	h.requests = &requests{counts: map[string]int{}}
	rc := rest.CopyConfig(env.Config)
	rc.WrapTransport = h.requests.wrap
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, rc, manager.Options{
		Config:  h.cfg,
		Scheme:  env.Scheme,
		Clock:   h.clock,
		Sender:  h.sender,
		Backend: h.backend,
		Manager: ctrl.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{h.ns: {}}},
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

// restart stops the manager and starts a new one over the same namespace,
// clock and sender, with fresh request counts.
func (h *harness) restart() {
	h.stop()
	h.run()
}

func ptr[T any](v T) *T { return &v }

// Builders of test objects.

// user is one spec.users entry.
func user(email, role string, systems ...v1alpha1.CatalogueKey) v1alpha1.PartnerUser {
	return v1alpha1.PartnerUser{Email: v1alpha1.EmailAddress(email), Role: v1alpha1.CatalogueKey(role), Systems: systems}
}

// account creates a PartnerAccount with users.
func (h *harness) account(name string, users ...v1alpha1.PartnerUser) *v1alpha1.PartnerAccount {
	h.t.Helper()
	return h.accountWith(name, func(a *v1alpha1.PartnerAccount) { a.Spec.Users = users })
}

func (h *harness) accountWith(name string, mutate func(*v1alpha1.PartnerAccount)) *v1alpha1.PartnerAccount {
	h.t.Helper()
	a := &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec:       v1alpha1.PartnerAccountSpec{DisplayName: "Globex Corporation"},
	}
	mutate(a)
	if err := env.Client.Create(context.Background(), a); err != nil {
		h.t.Fatalf("creating account %s: %v", name, err)
	}
	return a
}

// invite creates a standalone PartnerInvitation (no owner).
func (h *harness) invite(name, account, email string, systems ...v1alpha1.CatalogueKey) *v1alpha1.PartnerInvitation {
	h.t.Helper()
	inv := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: account, Email: v1alpha1.EmailAddress(email), Role: "editor", Systems: systems,
		},
	}
	if err := env.Client.Create(context.Background(), inv); err != nil {
		h.t.Fatalf("creating invitation %s: %v", name, err)
	}
	return inv
}

// getAccount reads an account from the API server.
func (h *harness) getAccount(name string) *v1alpha1.PartnerAccount {
	h.t.Helper()
	a := &v1alpha1.PartnerAccount{}
	if err := env.Client.Get(context.Background(), keyOf(h.ns, name), a); err != nil {
		h.t.Fatalf("reading account %s: %v", name, err)
	}
	return a
}

// get reads an invitation from the API server.
func (h *harness) get(name string) *v1alpha1.PartnerInvitation {
	h.t.Helper()
	inv := &v1alpha1.PartnerInvitation{}
	if err := env.Client.Get(context.Background(), keyOf(h.ns, name), inv); err != nil {
		h.t.Fatalf("reading invitation %s: %v", name, err)
	}
	return inv
}

// exists reports whether an object of the kind of obj is there under name.
func (h *harness) exists(obj client.Object, name string) bool {
	h.t.Helper()
	err := env.Client.Get(context.Background(), keyOf(h.ns, name), obj)
	if err != nil && !apierrors.IsNotFound(err) {
		h.t.Fatalf("reading %s: %v", name, err)
	}
	return err == nil
}

// invitations lists the namespace's invitations by name.
func (h *harness) invitations() map[string]*v1alpha1.PartnerInvitation {
	h.t.Helper()
	var list v1alpha1.PartnerInvitationList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*v1alpha1.PartnerInvitation{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// editAccount changes an account's spec as a user would (retrying
// conflicts).
func (h *harness) editAccount(name string, f func(*v1alpha1.PartnerAccount)) {
	h.t.Helper()
	h.retry("editing account "+name, func() error {
		a := h.getAccount(name)
		f(a)
		return env.Client.Update(context.Background(), a)
	})
}

// edit changes an invitation's spec as a user would.
func (h *harness) edit(name string, f func(*v1alpha1.PartnerInvitation)) {
	h.t.Helper()
	h.retry("editing invitation "+name, func() error {
		inv := h.get(name)
		f(inv)
		return env.Client.Update(context.Background(), inv)
	})
}

// editStatus changes an invitation's status as another writer would (the
// acceptance page, the grants code).
func (h *harness) editStatus(name string, f func(*v1alpha1.PartnerInvitation)) {
	h.t.Helper()
	h.retry("writing the status of "+name, func() error {
		inv := h.get(name)
		before := inv.DeepCopy()
		f(inv)
		return env.Client.Status().Patch(context.Background(), inv, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
}

func (h *harness) retry(what string, f func() error) {
	h.t.Helper()
	for range 20 {
		err := f()
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			h.t.Fatalf("%s: %v", what, err)
		}
	}
	h.t.Fatalf("%s: too many conflicts", what)
}

// accept records the partner's acceptance the way the acceptance page does
// (state, acceptedAt, the conditions and the proof in one status write), once
// the invitation is sent.
func (h *harness) accept(name string) {
	h.t.Helper()
	h.waitInvitationState(name, v1alpha1.InvitationPendingApproval)
	h.editStatus(name, func(inv *v1alpha1.PartnerInvitation) {
		if err := testenv.MarkAccepted(context.Background(), env.Client, secretNamespace, inv, h.clock.Now()); err != nil {
			h.t.Fatal(err)
		}
	})
	h.waitInvitationState(name, v1alpha1.InvitationAccepted)
}

// eventually polls cond (bounded) until it holds.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	h.eventuallyWithin(30*time.Second, what, cond)
}

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

// waitReady waits until the account's Ready condition, for its current
// generation, has status and reason, and returns the account.
func (h *harness) waitReady(name string, status metav1.ConditionStatus, reason string) *v1alpha1.PartnerAccount {
	h.t.Helper()
	var a *v1alpha1.PartnerAccount
	h.eventually("account "+name+" Ready="+string(status)+"/"+reason, func() bool {
		a = h.getAccount(name)
		c := meta.FindStatusCondition(a.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == a.Generation &&
			a.Status.ObservedGeneration == a.Generation
	})
	return a
}

// waitAccount waits until cond holds for the account.
func (h *harness) waitAccount(name, what string, cond func(*v1alpha1.PartnerAccount) bool) *v1alpha1.PartnerAccount {
	h.t.Helper()
	var a *v1alpha1.PartnerAccount
	h.eventually("account "+name+": "+what, func() bool {
		a = h.getAccount(name)
		return cond(a)
	})
	return a
}

// waitInvitationState waits for an invitation to reach state.
func (h *harness) waitInvitationState(name string, state v1alpha1.InvitationState) *v1alpha1.PartnerInvitation {
	h.t.Helper()
	var inv *v1alpha1.PartnerInvitation
	h.eventually("invitation "+name+" to be "+string(state), func() bool {
		inv = &v1alpha1.PartnerInvitation{}
		return h.exists(inv, name) && inv.Status.State == state
	})
	return inv
}

// waitGone waits until the object is deleted.
func (h *harness) waitGone(obj client.Object, name string) {
	h.t.Helper()
	h.eventually(name+" to be gone", func() bool { return !h.exists(obj, name) })
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
	slices.Sort(out)
	return out
}

// waitEvent waits for an Event about name whose "Type Reason: note"
// contains want.
func (h *harness) waitEvent(name, want string) {
	h.t.Helper()
	h.eventually("an Event "+want+" for "+name, func() bool {
		return slices.ContainsFunc(h.events(name), func(e string) bool { return strings.Contains(e, want) })
	})
}

func readyOf(a *v1alpha1.PartnerAccount) *metav1.Condition {
	return meta.FindStatusCondition(a.Status.Conditions, v1alpha1.ConditionReady)
}

func hasFinalizer(o client.Object) bool {
	return slices.Contains(o.GetFinalizers(), v1alpha1.GrantsFinalizer)
}

func keyOf(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// settle waits until both controllers have gone quiet: no reconcile
// started or finished for half a second. (The queue gauges are shared by
// every manager the test process ran, and a stopped manager may leave them
// above zero, so only the counters are compared.)
func (h *harness) settle() {
	h.t.Helper()
	last := -1.0
	stable := 0
	h.eventually("the controllers to go idle", func() bool {
		r := reconciles(h.t) + metricValue(h.t, "controller_runtime_reconcile_total", "controller", "partnerinvitation") +
			metricValue(h.t, "controller_runtime_active_workers", "controller", "partneraccount") +
			metricValue(h.t, "controller_runtime_active_workers", "controller", "partnerinvitation")
		if r == last {
			stable++
		} else {
			stable = 0
		}
		last = r
		return stable >= 25
	})
}

// reconciles is controller_runtime_reconcile_total of the account
// controller, over every manager this test process ran.
func reconciles(t *testing.T) float64 {
	return metricSum(t, "controller_runtime_reconcile_total")
}

func metricSum(t *testing.T, name string) float64 {
	t.Helper()
	return metricValue(t, name, "controller", "partneraccount") + metricValue(t, name, "name", "partneraccount")
}

func metricValue(t *testing.T, name, label, value string) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabel(m, label, value) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
