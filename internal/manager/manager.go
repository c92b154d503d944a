// Package manager wires the partnerops manager: the cache, the controllers,
// the mailer, the link signer and the metrics, from the configuration file.
// main.go and the end-to-end tests build the manager through it, so tests
// run the same wiring as production with only the clock and the mail
// transport swapped.
package manager

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/partnerops/partnerops/controllers/account"
	"github.com/partnerops/partnerops/controllers/invitation"
	"github.com/partnerops/partnerops/internal/acceptance"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/i18n"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/index"
	"github.com/partnerops/partnerops/internal/metrics"
	"github.com/partnerops/partnerops/internal/ratelimit"
	"github.com/partnerops/partnerops/internal/smtp"
	"github.com/partnerops/partnerops/internal/token"
)

// Options are what differs between production and tests.
type Options struct {
	// Config is the loaded configuration file.
	Config *config.Config
	// Scheme has the built-in kinds and the project's.
	Scheme *runtime.Scheme
	// Manager are controller-runtime's options (metrics, probes, leader
	// election); Cache.ByObject is set here.
	Manager ctrl.Options
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// Sender defaults to SMTP as the configuration says.
	Sender smtp.Sender
	// Backend defaults to the identity backend the configuration names.
	Backend identity.Backend
	// InvitationWorkers is how many invitations are reconciled at once
	// (--invitation-workers); 0 is DefaultInvitationWorkers.
	InvitationWorkers int
	// EnableHTTP2 lets the acceptance page speak HTTP/2 (--enable-http2,
	// which main.go also applies to the metrics server through
	// Manager.Metrics.TLSOpts); see internal/httpserver.
	EnableHTTP2 bool
	// Build is the running binary, for partnerops_build_info.
	Build metrics.Build
}

// Secrets (the link-signing keys, SMTP credentials) and the templates
// ConfigMap live in secretNamespace; the Role is generated for the default
// partnerops-system and moves with the kustomize namespace.
// +kubebuilder:rbac:groups="",namespace=partnerops-system,resources=secrets,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",namespace=partnerops-system,resources=configmaps,verbs=get;list;watch

// New builds the manager with every controller registered. It creates the
// link-signing key Secret if it does not exist yet (the only write at start,
// and only on the very first start).
func New(ctx context.Context, restConfig *rest.Config, o Options) (ctrl.Manager, error) {
	cfg := o.Config
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	// Secrets and ConfigMaps are read only in secretNamespace: the cache
	// watches nothing else of them (and RBAC grants nothing else).
	o.Manager.Scheme = o.Scheme
	if o.Manager.Cache.ByObject == nil {
		o.Manager.Cache.ByObject = map[client.Object]cache.ByObject{}
	}
	only := map[string]cache.Config{cfg.SecretNamespace: {}}
	o.Manager.Cache.ByObject[&corev1.Secret{}] = cache.ByObject{Namespaces: only}
	o.Manager.Cache.ByObject[&corev1.ConfigMap{}] = cache.ByObject{Namespaces: only}
	if o.Manager.Cache.DefaultTransform == nil {
		o.Manager.Cache.DefaultTransform = trimForCache
	}

	direct, err := client.New(restConfig, client.Options{Scheme: o.Scheme})
	if err != nil {
		return nil, fmt.Errorf("creating a Kubernetes client: %w", err)
	}
	if err := token.EnsureSecret(ctx, direct, cfg.SecretNamespace, cfg.Tokens.KeysSecret.Name); err != nil {
		return nil, fmt.Errorf("ensuring the link-signing keys: %w", err)
	}

	mgr, err := ctrl.NewManager(restConfig, o.Manager)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	c := mgr.GetClient()

	sender := o.Sender
	if sender == nil {
		s, err := smtp.New(cfg.SMTP, smtpCredentials(c, cfg))
		if err != nil {
			return nil, fmt.Errorf("configuring SMTP: %w", err)
		}
		if err := mgr.Add(onStop(s.Close)); err != nil {
			return nil, err
		}
		sender = s
	}
	if err := metrics.Register(metrics.Options{Reader: mgr.GetCache(), Backend: cfg.IdentityBackend.Type, Build: o.Build}); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	// One signer: the emails' links and the page that checks them use the
	// same keys.
	signer := token.NewSigner(&token.SecretKeys{Reader: c, Namespace: cfg.SecretNamespace, Name: cfg.Tokens.KeysSecret.Name}, o.Clock)
	recorder := mgr.GetEventRecorder("partnerops")
	backend := o.Backend
	if backend == nil {
		if backend, err = newBackend(c, cfg); err != nil {
			return nil, fmt.Errorf("configuring the identity backend: %w", err)
		}
	}
	// Every call to the backend is counted and timed here, once for all
	// drivers (partnerops_identity_backend_*).
	backend = identity.Observed(backend, metrics.BackendObserver(cfg.IdentityBackend.Type))
	// The controllers list invitations by account through this index;
	// an index is registered once per manager.
	if err := index.Register(ctx, mgr); err != nil {
		return nil, err
	}
	inv := &invitation.Reconciler{
		Client:    c,
		Config:    cfg,
		Clock:     o.Clock,
		Sender:    sender,
		Signer:    signer,
		Templates: i18n.NewConfigMapTemplates(c, cfg.SecretNamespace, templatesConfigMap(cfg)),
		Limiter:   ratelimit.New(o.Clock, cfg.RateLimits.EmailsPerSecond, cfg.RateLimits.EmailsPerNamespacePerHour),
		Recorder:  recorder,
		Backend:   backend,
		Workers:   invitationWorkers(o.InvitationWorkers),
	}
	if err := inv.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the invitation controller: %w", err)
	}
	acct := &account.Reconciler{Client: c, Clock: o.Clock, Recorder: recorder}
	if err := acct.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the account controller: %w", err)
	}

	signInProvider, err := newSignIn(c, cfg)
	if err != nil {
		return nil, err
	}
	page, err := acceptance.NewServer(acceptance.Options{
		Config:   cfg,
		Client:   c,
		Verifier: signer,
		// The page proves each acceptance with the keys the controller
		// verifies the proof with: the same signer.
		Prover:      signer,
		Clock:       o.Clock,
		Recorder:    recorder,
		Log:         mgr.GetLogger().WithName("acceptance"),
		EnableHTTP2: o.EnableHTTP2,
		SignIn:      signInProvider,
		SignIns:     signer,
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(page); err != nil {
		return nil, fmt.Errorf("adding the acceptance page: %w", err)
	}
	// What the page and the send step read besides the kinds the
	// controllers watch (the namespaces' display names; the link-signing
	// keys, SMTP login and template overrides in secretNamespace) is cached
	// from the start, and synced before the page serves: read first by a
	// request, each kind would be listed then, and the first partner after
	// a start waited for it (some 200 ms under load).
	for _, obj := range []client.Object{&corev1.Namespace{}, &corev1.Secret{}, &corev1.ConfigMap{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return nil, fmt.Errorf("caching %T: %w", obj, err)
		}
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding the readiness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("acceptance-page", page.ReadyCheck); err != nil {
		return nil, fmt.Errorf("adding the acceptance page's readiness check: %w", err)
	}
	return mgr, nil
}

func templatesConfigMap(cfg *config.Config) string {
	if cfg.Templates == nil {
		return ""
	}
	return cfg.Templates.ConfigMap
}

// smtpCredentials reads the SMTP username and password from the configured
// Secret at each send, so rotating them needs no restart.
func smtpCredentials(c client.Reader, cfg *config.Config) smtp.Credentials {
	if cfg.SMTP.CredentialsSecret == nil {
		return nil
	}
	key := types.NamespacedName{Namespace: cfg.SecretNamespace, Name: cfg.SMTP.CredentialsSecret.Name}
	return func(ctx context.Context) (string, string, error) {
		sec := &corev1.Secret{}
		if err := c.Get(ctx, key, sec); err != nil {
			return "", "", fmt.Errorf("reading the SMTP credentials Secret %s: %w", key, err)
		}
		user, pass := string(sec.Data["username"]), string(sec.Data["password"])
		if user == "" || pass == "" {
			return "", "", fmt.Errorf("the SMTP credentials Secret %s needs the keys username and password", key)
		}
		return user, pass, nil
	}
}

// GracefulShutdownTimeout is how long the manager waits for reconciles in
// flight when it is asked to stop: an SMTP transaction begun, bounded by
// smtp.timeout (30s by default), then the status write that records it
// (sentWriteTimeout, 10s), so that the next manager does not send the
// email again.
const GracefulShutdownTimeout = 45 * time.Second
