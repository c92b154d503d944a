// Package managertest runs the whole manager (internal/manager: both
// controllers, the mailer, the acceptance page, the identity backend) on the
// test API server of internal/testenv, for the controllers' tests and
// test/e2e: a fake clock that the workqueues run on too, an in-memory
// sender (smtptest) or real SMTP, the in-memory identity backend
// (identitytest, with its outage switch) or the one the configuration names,
// the manager's API requests counted (and, when a test asks, answered
// instead of the API server), and the builders and waits the tests share.
//
// It is a package of its own, not part of testenv, because the manager
// imports packages (internal/acceptance) whose own tests use testenv.
package managertest

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity/identitytest"
	"github.com/partnerops/partnerops/internal/manager"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/smtp/smtptest"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

// SecretNamespace holds the manager's Secrets (the link-signing keys) in
// these tests; Main creates it.
const SecretNamespace = "partnerops-system"

// T0 is when every manager's fake clock starts, unless WithClockAt says
// otherwise.
var T0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// Main is the body of the TestMain of a package that runs the manager: a
// control plane (testenv.Main) with SecretNamespace created.
func Main(m *testing.M, env **testenv.Env) {
	testenv.Main(m, env, func(e *testenv.Env) error {
		return e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SecretNamespace}})
	})
}

// Manager is one running manager for one test: its namespace, the fakes
// it runs with, and what it did.
type Manager struct {
	T   testing.TB
	Env *testenv.Env
	// NS is the test's namespace, where the builders create objects;
	// Others are more namespaces the manager's cache watches
	// (WithNamespaces).
	NS     string
	Others []string
	Clock  *clocktesting.FakeClock
	// Config is the configuration the manager starts with.
	Config *config.Config
	// Sender records the emails; nil (WithSMTP) sends them with SMTP as
	// Config says.
	Sender *smtptest.Sender
	// Backend is the in-memory identity backend; nil sends grants to the
	// backend Config names.
	Backend *identitytest.Fake
	// Requests counts the manager's API requests since its last (re)start.
	Requests *Requests
	// Inject, when set before Start, may answer the manager's API requests
	// instead of the API server (to inject a conflict, say).
	Inject func(*http.Request) *http.Response
	// DisplayName, when set, is the namespace's display name (the
	// annotation the emails and the page read), written before the manager
	// starts.
	DisplayName string
	// Step, when set, moves the fake clock by that much after each poll
	// of Eventually that finds its condition false, so that retries queued
	// on the clock (backoff after a conflict) come due.
	Step time.Duration

	stop func()
}

// Option changes a Manager before it starts.
type Option func(*Manager)

// Start runs a manager for t over a new namespace (or the one InNamespace
// names) with a fake clock at T0, an in-memory sender and the in-memory
// identity backend (which creates missing groups), and stops it when the
// test ends.
func Start(t testing.TB, env *testenv.Env, opts ...Option) *Manager {
	t.Helper()
	m := &Manager{T: t, Env: env, Clock: clocktesting.NewFakeClock(T0), Config: TestConfig(t),
		Sender: &smtptest.Sender{}, Backend: &identitytest.Fake{CreateGroups: true}}
	for _, o := range opts {
		o(m)
	}
	if m.NS == "" {
		m.NS = env.Namespace(t)
	}
	if m.DisplayName != "" {
		Update(t, env.Client, types.NamespacedName{Name: m.NS}, &corev1.Namespace{}, func(ns *corev1.Namespace) {
			metav1.SetMetaDataAnnotation(&ns.ObjectMeta, v1alpha1.DisplayNameAnnotation, m.DisplayName)
		})
	}
	m.run()
	return m
}

// TestConfig is the configuration of `make dev` (config/dev/config.yaml)
// with SecretNamespace, email limits that do not slow tests, and the
// acceptance page on a port the kernel picks.
func TestConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join(testenv.RepoRoot(), "config", "dev", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SecretNamespace = SecretNamespace
	cfg.RateLimits.EmailsPerSecond = 1000
	cfg.RateLimits.EmailsPerNamespacePerHour = 100000
	cfg.Acceptance.BindAddress = "127.0.0.1:0"
	return cfg
}

// WithNamespaces makes n more namespaces the manager watches (m.Others).
func WithNamespaces(n int) Option {
	return func(m *Manager) {
		for range n {
			m.Others = append(m.Others, m.Env.Namespace(m.T))
		}
	}
}

// InNamespace runs the manager over ns, which exists already, instead of a
// new namespace.
func InNamespace(ns string) Option { return func(m *Manager) { m.NS = ns } }

// WithConfig changes the configuration the manager starts with.
func WithConfig(f func(*config.Config)) Option { return func(m *Manager) { f(m.Config) } }

// WithDisplayName sets the namespace's display name before the manager
// starts ("" leaves it as it is).
func WithDisplayName(name string) Option { return func(m *Manager) { m.DisplayName = name } }

// WithClockAt starts the fake clock at `at` instead of T0.
func WithClockAt(at time.Time) Option {
	return func(m *Manager) { m.Clock = clocktesting.NewFakeClock(at) }
}

// WithSMTP sends the emails with real SMTP, without TLS or login, to
// host:port (a Mailpit) instead of recording them.
func WithSMTP(host string, port int) Option {
	return func(m *Manager) {
		m.Sender = nil
		m.Config.SMTP.Host, m.Config.SMTP.Port, m.Config.SMTP.Security = host, port, config.SMTPSecurityNone
		m.Config.SMTP.CredentialsSecret = nil
	}
}

// WithPage serves the acceptance page on a free loopback port, with the
// links of the emails pointing at it and partners landing on hubURL.
func WithPage(hubURL string) Option {
	return func(m *Manager) {
		port, err := peer.FreePort()
		if err != nil {
			m.T.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		m.Config.Acceptance.BindAddress, m.Config.Acceptance.PublicURL = addr, "http://"+addr
		m.Config.Acceptance.PartnerHubURL = hubURL
	}
}

func (m *Manager) run() {
	t := m.T
	t.Helper()
	m.Requests = &Requests{counts: map[string]int{}, inject: m.Inject}
	rc := rest.CopyConfig(m.Env.Config)
	rc.WrapTransport = m.Requests.wrap
	var sender smtp.Sender // nil: SMTP as configured
	if m.Sender != nil {
		sender = m.Sender
	}
	opts := manager.Options{
		Config: m.Config,
		Scheme: m.Env.Scheme,
		Clock:  m.Clock,
		Sender: sender,
		Manager: ctrl.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Cache:                  cache.Options{DefaultNamespaces: m.namespaces()},
			Controller:             crconfig.Controller{SkipNameValidation: ptr(true)},
		},
	}
	if m.Backend != nil {
		opts.Backend = m.Backend
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, rc, opts)
	if err != nil {
		cancel()
		t.Fatalf("building the manager: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("the manager stopped with %v", err)
			}
		})
	}
	t.Cleanup(m.stop)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("the manager's cache did not sync")
	}
}

// namespaces are the namespaces the manager's cache watches.
func (m *Manager) namespaces() map[string]cache.Config {
	out := map[string]cache.Config{m.NS: {}}
	for _, ns := range m.Others {
		out[ns] = cache.Config{}
	}
	return out
}

// Restart stops the manager and starts a new one over the same
// namespaces, clock, sender and backend, with fresh request counts.
func (m *Manager) Restart() {
	m.T.Helper()
	m.stop()
	m.run()
}

// Offline stops the manager, runs f, and starts a new one as Restart
// does: the manager never sees what f changes as it happens, only the
// outcome, as after an outage.
func (m *Manager) Offline(f func()) {
	m.T.Helper()
	m.stop()
	f()
	m.run()
}

// In is the same manager seen from namespace ns (one of m.Others): the
// builders and waits work there.
func (m *Manager) In(ns string) *Manager {
	c := *m
	c.NS = ns
	return &c
}

func ptr[T any](v T) *T { return &v }
