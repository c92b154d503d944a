// Command dev runs partnerops on this machine: it is the program behind
// `make dev`. It starts etcd and kube-apiserver (through envtest) with the
// project's CRDs installed, writes an administrator's kubeconfig, starts a
// mail catcher (Mailpit) for the manager's emails and a SCIM 2.0 server
// (hack/scim-server, with node) as the identity backend, with a bearer token
// made for the run and put in the Secret the manager reads, serves a stand-in
// for the Partner Hub where accepting partners land, runs the manager binary
// against that control plane, prints how to use it and, on Ctrl-C, stops
// everything it started. Each email Mailpit receives is printed as it
// arrives, with the invitation's accept link; the first one also with its
// address in Mailpit's inbox, its web UI.
//
// Everything it keeps lives in the state directory (--state-dir, default
// bin/dev): the kubeconfig, etcd's data and Mailpit's database (kept between
// runs, so objects and emails survive a restart), the API server's
// certificates (new on every run) and the logs. The SCIM server keeps its
// users and groups in memory: they are gone when dev stops. Everything
// listens on 127.0.0.1 only.
//
//	go build -o bin/partnerops . && hack/install-peers.sh && go run ./hack/dev
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/testenv"
)

const (
	// managerStopGrace is how long the manager has to stop after SIGTERM
	// before it is killed.
	managerStopGrace = 20 * time.Second
	// managerReadyTimeout bounds the wait for the manager's /readyz.
	managerReadyTimeout = 2 * time.Minute
)

// options are the command-line flags.
type options struct {
	root        string
	stateDir    string
	manager     string
	config      string
	metricsAddr string
	probeAddr   string
	// mailpit is the Mailpit binary; it listens for SMTP on
	// mailpitSMTPAddr and serves its REST API on mailpitHTTPAddr.
	mailpit         string
	mailpitSMTPAddr string
	mailpitHTTPAddr string
	// scimServer is hack/scim-server's server.js as installed, run with
	// node; it listens on scimAddr.
	scimServer string
	scimAddr   string
	// signIn is none, or oidc to turn acceptance.signIn on over --config;
	// oidcProvider is hack/oidc-provider's server.js as installed, run when
	// the configuration asks for a sign-in (signin.go).
	signIn       string
	oidcProvider string
}

func main() {
	con := newConsole(os.Stdout, os.Stderr)
	if err := run(os.Args[1:], con); err != nil {
		con.errorf("%v", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	root := testenv.RepoRoot()
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil || !filepath.IsAbs(root) {
		return nil, fmt.Errorf("cannot find the repository from %q, the source path compiled in: run dev with go run ./hack/dev, or build it without -trimpath", root)
	}
	o := &options{root: root}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/dev [flags]\n\n"+
			"Runs etcd, kube-apiserver (with the CRDs), Mailpit, a SCIM server, a Partner Hub stand-in and the manager\n"+
			"on 127.0.0.1 for `make dev`, "+
			"until Ctrl-C. Flags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.stateDir, "state-dir", filepath.Join(root, "bin", "dev"),
		"Directory for the kubeconfig, etcd's data, the API server's certificates, Mailpit's database and the logs.")
	fs.StringVar(&o.manager, "manager", filepath.Join(root, "bin", "partnerops"),
		"Path of the manager binary (go build -o bin/partnerops .).")
	fs.StringVar(&o.config, "config", filepath.Join(root, "config", "dev", "config.yaml"),
		"The manager's configuration file.")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "127.0.0.1:8080",
		"Address of the manager's metrics endpoint (plain HTTP).")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", "127.0.0.1:8081",
		"Address of the manager's /healthz and /readyz probes.")
	fs.StringVar(&o.mailpit, "mailpit", defaultMailpit(),
		"Path of the Mailpit binary: $MAILPIT, else the newest bin/tools/mailpit/*/mailpit (hack/install-peers.sh builds it).")
	fs.StringVar(&o.mailpitSMTPAddr, "mailpit-smtp-address", "127.0.0.1:1025",
		"Address of Mailpit's SMTP server: where smtp.host and smtp.port of --config send the mail.")
	fs.StringVar(&o.mailpitHTTPAddr, "mailpit-http-address", "127.0.0.1:8025",
		"Address of Mailpit's web server: its web UI, the inbox (/), and its REST API (/api/v1/).")
	fs.StringVar(&o.scimServer, "scim-server", defaultSCIMServer(),
		"Path of hack/scim-server's server.js as installed (hack/install-peers.sh prints it as SCIM_SERVER=): $SCIM_SERVER, else the copy for the current hack/scim-server under bin/tools/scim-server/. Run with the node on PATH.")
	fs.StringVar(&o.scimAddr, "scim-address", "127.0.0.1:8091",
		"Address of the SCIM server, the identity backend: where identityBackend.scim.baseURL of --config points (it listens on 127.0.0.1 only).")
	fs.StringVar(&o.signIn, "signin", "none",
		"none, or oidc to make partners sign in before accepting (make dev SIGNIN=oidc): --config with acceptance.signIn on, through an OpenID Provider dev runs at "+devIssuer+".")
	fs.StringVar(&o.oidcProvider, "oidc-provider", defaultOIDCProvider(),
		"Path of hack/oidc-provider's server.js as installed (hack/install-peers.sh prints it as OIDC_PROVIDER=), run when the configuration asks for a sign-in.")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: dev only takes flags (see -h)", fs.Args())
	}
	var err error
	for _, p := range []*string{&o.stateDir, &o.manager, &o.config, &o.mailpit, &o.scimServer} {
		if *p == "" {
			continue // reported by preflight
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, fmt.Errorf("resolving %s: %w", *p, err)
		}
	}
	return o, nil
}

func run(args []string, con *console) (err error) {
	opts, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	// Listen for signals first, so that a Ctrl-C while starting up still
	// stops whatever was already started.
	ctx, hurry := handleSignals()

	state, err := openState(opts.stateDir)
	if err != nil {
		return err
	}
	defer state.close()
	bins, cfg, err := preflight(opts)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return stopRequested(ctx, con)
	}

	con.logf("starting etcd and kube-apiserver (state in %s)", con.path(state.dir))
	cp, err := startControlPlane(bins, state, filepath.Join(opts.root, "config", "crd", "bases"))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cp.stop(con)) }()
	if err := testenv.WriteKubeconfig(state.kubeconfig, cp.admin, kubeContext, adminUser, "default"); err != nil {
		return err
	}
	con.logf("kube-apiserver %s is up at %s; kubeconfig written to %s", cp.version, cp.admin.Host, con.path(state.kubeconfig))
	// In a cluster, the manifests create the manager's namespace; here, dev
	// does: the manager keeps its signing keys there.
	created, err := cp.ensureNamespace(cfg.SecretNamespace)
	if err != nil {
		return err
	}
	if created {
		con.logf("created the namespace %s (secretNamespace in %s)", cfg.SecretNamespace, con.path(opts.config))
	}
	if ctx.Err() != nil {
		return stopRequested(ctx, con)
	}

	// Mailpit starts before the manager, which may send an email as soon as
	// it starts, and stops after it, which may send one while it stops.
	con.logf("starting Mailpit, the mail catcher (its log in %s)", con.path(state.mailpitLog))
	mp, err := startMailpit(ctx, opts, state, con)
	if err != nil {
		if ctx.Err() != nil {
			return stopRequested(ctx, con)
		}
		return err
	}
	defer func() { err = errors.Join(err, mp.stop(con, hurry)) }()
	inbox, err := mp.HasWebUI(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return stopRequested(ctx, con)
		}
		return fmt.Errorf("asking Mailpit for its web UI: %w", err)
	}
	watch, earlier, err := mp.newWatcher(ctx, con, inbox)
	if err != nil {
		if ctx.Err() != nil {
			return stopRequested(ctx, con)
		}
		return fmt.Errorf("listing the messages of Mailpit: %w", err)
	}
	con.logf("Mailpit %s is up: SMTP %s, inbox %s, REST API %s/api/v1/ (%d earlier messages in %s)",
		mp.Version, opts.mailpitSMTPAddr, mp.InboxURL(), mp.APIURL, earlier, con.path(state.mailpitDB))
	if !inbox {
		con.logf("%s has no web UI (a blank page at %s), only its REST API: hack/install-peers.sh, which make dev runs, builds Mailpit with its UI",
			con.path(opts.mailpit), mp.InboxURL())
	}
	// The watcher stops after the manager, before Mailpit (defers run last
	// first): emails sent while the manager stops are printed too.
	watchCtx, stopWatching := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watch.run(watchCtx, mailPollInterval)
	}()
	defer func() { stopWatching(); <-watched }()

	// The SCIM server starts before the manager, which may sync grants as
	// soon as it starts, and stops after it. Its token is new at each start:
	// dev puts it in the Secret the manager reads it from.
	token, err := newSCIMToken()
	if err != nil {
		return err
	}
	con.logf("starting the SCIM server, the identity backend (its log in %s)", con.path(state.scimLog))
	sc, err := startSCIMServer(ctx, opts, state, bins.node, token, con)
	if err != nil {
		if ctx.Err() != nil {
			return stopRequested(ctx, con)
		}
		return err
	}
	defer func() { err = errors.Join(err, sc.stop(con, hurry)) }()
	secretName := cfg.IdentityBackend.SCIM.TokenSecret.Name
	created, err = cp.setSecretKey(cfg.SecretNamespace, secretName, scimTokenKey, token)
	if err != nil {
		return err
	}
	verb := "updated"
	if created {
		verb = "created"
	}
	con.logf("the SCIM server is up at %s; %s the Secret %s/%s with its token for this run (key %s)",
		sc.baseURL, verb, cfg.SecretNamespace, secretName, scimTokenKey)
	op, err := startSignIn(ctx, opts, state, cfg, cp, bins.node, con)
	if err != nil {
		if ctx.Err() != nil {
			return stopRequested(ctx, con)
		}
		return err
	}
	if op != nil {
		defer func() { err = errors.Join(err, op.stop(con, hurry)) }()
	}

	var hub *partnerHub
	hubDone := make(<-chan struct{}) // never closed without a hub
	if addr, hubURL, ok := partnerHubAddr(cfg); ok {
		if hub, err = startPartnerHub(addr, hubURL, con); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, hub.stop()) }()
		hubDone = hub.done
		con.logf("serving a Partner Hub stand-in at %s (acceptance.partnerHubURL)", hub.url)
	} else {
		con.logf("acceptance.partnerHubURL in %s is %s, not a plain http URL on loopback: dev serves no Partner Hub stand-in", con.path(opts.config), cfg.Acceptance.PartnerHubURL)
	}

	mgr, err := startManager(managerArgs(opts, state), con)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, mgr.stop(con, managerStopGrace, hurry)) }()
	if err := mgr.waitReady(ctx, httpURL(opts.probeAddr, "/readyz"), managerReadyTimeout); err != nil {
		if ctx.Err() != nil {
			return stopRequested(ctx, con)
		}
		return err
	}

	con.block(nextSteps(opts, state, cfg, sc, hub, inbox, con))
	select {
	case <-ctx.Done():
		return stopRequested(ctx, con)
	case <-mgr.Done():
		con.logf("the manager exited on its own (%s); stopping everything", mgr.Status())
		return fmt.Errorf("the manager exited on its own (%s): see its output above", mgr.Status())
	case <-mp.Done():
		con.logf("Mailpit exited on its own (%s); stopping everything", mp.Status())
		return fmt.Errorf("Mailpit exited on its own (%s): see %s", mp.Status(), con.path(state.mailpitLog))
	case <-sc.Done():
		con.logf("the SCIM server exited on its own (%s); stopping everything", sc.Status())
		return fmt.Errorf("the SCIM server exited on its own (%s): see %s", sc.Status(), con.path(state.scimLog))
	case <-hubDone:
		con.logf("the Partner Hub stand-in stopped serving (%v); stopping everything", hub.err)
		return fmt.Errorf("the Partner Hub stand-in stopped serving: %v", hub.err)
	}
}

// handleSignals returns a context that ends at the first SIGINT, SIGTERM or
// SIGHUP (closing the terminal), and a channel closed at the second one, to
// stop without waiting for the manager's graceful shutdown.
func handleSignals() (context.Context, <-chan struct{}) {
	ctx, cancel := context.WithCancelCause(context.Background())
	hurry := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		cancel(fmt.Errorf("received %v", s))
		<-sigs
		close(hurry)
	}()
	return ctx, hurry
}

func stopRequested(ctx context.Context, con *console) error {
	con.logf("%v: stopping everything", context.Cause(ctx))
	return nil
}

func managerArgs(o *options, s *stateDir) []string {
	return []string{
		o.manager,
		"--config=" + o.config,
		"--kubeconfig=" + s.kubeconfig,
		"--metrics-bind-address=" + o.metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address=" + o.probeAddr,
		"--zap-devel",
	}
}

// httpURL is the URL of path on a server listening on addr; a server
// listening on every interface is reached on loopback.
func httpURL(addr, path string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + path
	}
	if isAnyHost(host) {
		host = loopback
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

// nextSteps is what the user can do once everything is ready; inbox says
// whether Mailpit serves its web UI.
func nextSteps(o *options, s *stateDir, cfg *config.Config, sc *scimServer, hub *partnerHub, inbox bool, con *console) string {
	kubectl := filepath.Join(o.root, "bin", "kubectl")
	note := fmt.Sprintf("(%s is the kubectl of the API server's version; any recent kubectl works too.)", con.path(kubectl))
	if checkExecutable(kubectl) != nil {
		note = fmt.Sprintf("(%s is missing: hack/install-control-plane.sh builds it; any recent kubectl works too.)", con.path(kubectl))
		kubectl = "kubectl"
	} else {
		kubectl = con.path(kubectl)
	}
	samples := con.path(filepath.Join(o.root, "config", "samples")) + string(filepath.Separator)
	curl := sc.curlLines()
	hubLine := fmt.Sprintf("Partner Hub: %s is not on this machine; dev serves no stand-in for it.", cfg.Acceptance.PartnerHubURL)
	if hub != nil {
		hubLine = fmt.Sprintf("Partner Hub (a stand-in dev serves): %s, where \"Accept and continue\" lands.", hub.url)
	}
	return fmt.Sprintf(`
partnerops dev environment is ready.
  export KUBECONFIG=%s
  %s apply -f %s
  %s get partners -n acme
%s
%sIdentity backend: the SCIM 2.0 server of hack/scim-server at %s.
Its token is new at each start (dev put it in the Secret %s/%s, key %s).
Grants of accepted invitations land in its groups and users; list them with
  %s
  %s
It keeps them in memory only: stopping dev forgets them, while etcd keeps the invitations. After a
restart, the manager checks each accepted invitation against it within identityBackend.resyncInterval
(%s) of starting, and adds the missing users and memberships again.
%s
Metrics: %s   Health: %s
Logs of etcd, kube-apiserver, Mailpit and the SCIM server: %s
Press Ctrl-C to stop everything.
`, s.kubeconfig, kubectl, samples, kubectl, note,
		mailSteps(o, inbox),
		sc.baseURL, cfg.SecretNamespace, cfg.IdentityBackend.SCIM.TokenSecret.Name, scimTokenKey, curl[0], curl[1],
		shortDuration(cfg.IdentityBackend.ResyncInterval.Duration), hubLine,
		httpURL(o.metricsAddr, "/metrics"), httpURL(o.probeAddr, "/readyz"), con.path(s.logDir)+string(filepath.Separator))
}

// mailSteps says where the emails are: in Mailpit's inbox, or (when it has
// no web UI) in its REST API.
func mailSteps(o *options, inbox bool) string {
	if !inbox {
		return fmt.Sprintf(`Mail catcher (Mailpit): the manager's emails go to SMTP %s; list them with
  curl -s %s
(This Mailpit has no web UI: hack/install-peers.sh, which make dev runs, builds it with one.)
Each email is printed here as it arrives ("mail    | " lines), with its accept link.
`, o.mailpitSMTPAddr, httpURL(o.mailpitHTTPAddr, "/api/v1/messages"))
	}
	return fmt.Sprintf(`Mail catcher (Mailpit): the manager's emails go to SMTP %s; read them in the inbox at
  %s
Each email is printed here as it arrives ("mail    | " lines), with its accept link; the first
with a link that opens it in the inbox.
`, o.mailpitSMTPAddr, httpURL(o.mailpitHTTPAddr, "/"))
}

// shortDuration writes d as a person would: 1m, 1h30m, 45s.
func shortDuration(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}
