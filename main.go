// Command partnerops is the partnerops manager: the PartnerAccount and
// PartnerInvitation controllers, with leader election, health probes and
// Prometheus metrics, configured by one YAML file (--config).
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	goruntime "runtime"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	partnersv1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/httpserver"
	"github.com/partnerops/partnerops/internal/manager"
	"github.com/partnerops/partnerops/internal/metrics"
)

// version is set at build time with -ldflags "-X main.version=…"; commit
// may be too (-X main.commit=…), else partnerops_build_info takes the
// revision Go stamped into the binary. date (-X main.date=…) is the commit's
// time in a release. These are GoReleaser's names, set alike by `make
// build`, the Dockerfile and .goreleaser.yaml, and the kubectl plugin's
// too; `partnerops --version` prints them.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// options are the manager's command-line flags. Everything about the
// product (catalogue, SMTP, backend, URLs, limits) is in the --config file;
// flags only say how the process runs.
type options struct {
	configFile           string
	metricsAddr          string
	metricsSecure        bool
	probeAddr            string
	leaderElect          bool
	leaderElectNamespace string
	enableHTTP2          bool
	invitationWorkers    int
	printVersion         bool
	zap                  zap.Options
}

func parseFlags(args []string) (*options, error) {
	o := &options{zap: zap.Options{Development: false}}
	fs := flag.NewFlagSet("partnerops", flag.ContinueOnError)
	fs.StringVar(&o.configFile, "config", "", "Path of the configuration file (required). See docs/configuration.md.")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"Address the Prometheus metrics endpoint binds to, such as :8443; \"0\" disables it.")
	fs.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS and only to clients the API server authenticates and authorizes (get on /metrics). "+
			"Set to false to serve plain HTTP, for local development.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false,
		"Elect a leader through a Lease so that only one replica reconciles at a time (on in the shipped Deployment).")
	fs.StringVar(&o.leaderElectNamespace, "leader-election-namespace", "",
		"Namespace of the leader-election Lease; defaults to the namespace the manager runs in.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"Allow HTTP/2 on the metrics server and the acceptance page (h2 over TLS; h2c on the page's plain port). "+
			"Off by default: both speak HTTP/1.1 only (CVE-2023-44487, CVE-2023-39325; see docs/security.md).")
	fs.IntVar(&o.invitationWorkers, "invitation-workers", manager.DefaultInvitationWorkers,
		"How many invitations are reconciled at once. Each waits mostly on the API server and the mail server; "+
			"see docs/performance.md before changing it.")
	fs.BoolVar(&o.printVersion, "version", false, "Print the version, commit and build date, and exit.")
	o.zap.BindFlags(fs)
	// --kubeconfig is registered on the default FlagSet by controller-runtime.
	flag.CommandLine.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.configFile == "" && !o.printVersion {
		return nil, errors.New("--config is required: the path of the configuration file (see docs/configuration.md)")
	}
	return o, nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "partnerops: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	opts, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if opts.printVersion {
		fmt.Println(versionText())
		return nil
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	log := ctrl.Log.WithName("setup")

	cfg, err := config.Load(opts.configFile)
	if err != nil {
		return err
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(partnersv1alpha1.AddToScheme(scheme))

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the Kubernetes API server (set --kubeconfig or KUBECONFIG, or run in a cluster): %w", err)
	}
	restConfig.UserAgent = "partnerops/" + version

	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctx, restConfig, manager.Options{
		Config:      cfg,
		Scheme:      scheme,
		EnableHTTP2: opts.enableHTTP2,
		Build:       metrics.Build{Version: version, Commit: commit},
		Manager: ctrl.Options{
			Metrics:                       metricsOptions(opts),
			HealthProbeBindAddress:        opts.probeAddr,
			LeaderElection:                opts.leaderElect,
			LeaderElectionID:              "leader.partnerops.dev",
			LeaderElectionNamespace:       opts.leaderElectNamespace,
			LeaderElectionReleaseOnCancel: true,
			GracefulShutdownTimeout:       ptr(manager.GracefulShutdownTimeout),
		},
		// Emails stay paced by rateLimits.emailsPerSecond.
		InvitationWorkers: opts.invitationWorkers,
	})
	if err != nil {
		return err
	}

	log.Info("Starting manager", "version", version, "commit", orUnknown(commit), "config", opts.configFile,
		"roles", len(cfg.Catalogue.Roles), "systems", len(cfg.Catalogue.Systems),
		"identityBackend", cfg.IdentityBackend.Type, "leaderElection", opts.leaderElect)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	log.Info("Manager stopped")
	return nil
}

// metricsOptions are the metrics server's options from the flags. Its
// HTTP/2 follows --enable-http2 by the rule of internal/httpserver, the
// acceptance page's too.
func metricsOptions(opts *options) metricsserver.Options {
	o := metricsserver.Options{
		BindAddress:   opts.metricsAddr,
		SecureServing: opts.metricsSecure,
		TLSOpts:       []func(*tls.Config){httpserver.TLSOption(opts.enableHTTP2)},
	}
	if opts.metricsSecure {
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}

func ptr[T any](v T) *T { return &v }

// versionText is what --version prints: partnerops v1.2.3 (commit …, built
// …, go1.26.0 linux/amd64).
func versionText() string {
	return fmt.Sprintf("partnerops %s (commit %s, built %s, %s %s/%s)",
		version, orUnknown(commit), orUnknown(date), goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
