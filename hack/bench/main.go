// Command bench is `make bench-system`: it starts the real control plane
// (internal/testenv), Mailpit, the SCIM test server and the whole manager
// (internal/manager, in this process, with the email pacing and the
// page's rate limit lifted), and prints one Markdown table where each
// figure of partnerops stands beside the floor it cannot beat, measured in
// the same run on the same machine: a plain client doing the same API
// writes, a plain SMTP client sending the same number of messages.
//
// It is a benchmark, never a test: nothing here fails on a timing. See
// docs/performance.md for what each row measures and the latest table.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/manager"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
	"github.com/partnerops/partnerops/internal/testpeers/scim"
)

const secretNS = "partnerops-system"

type options struct {
	n, perNamespace, burst, accepts, clients, smtpConns, workers int
	timeout                                                      time.Duration
	profileDir                                                   string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 2000, "invitations")
	flag.IntVar(&o.perNamespace, "per-namespace", 100, "invitations per namespace (one PartnerAccount each)")
	flag.IntVar(&o.burst, "burst", 500, "links that expire at the same instant (the first ones, ttl 1h)")
	flag.IntVar(&o.accepts, "accepts", 500, "invitations accepted through the page (after the burst)")
	flag.IntVar(&o.workers, "workers", 0, "the manager's invitation workers, and the floor's (0: the manager's default)")
	flag.IntVar(&o.clients, "clients", 4, "concurrent clients of the acceptance page")
	flag.IntVar(&o.smtpConns, "smtp-conns", 4, "connections of the SMTP floor")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "bound on each wait")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write CPU profiles of each phase and heap profiles there (e.g. bin/bench)")
	flag.Parse()
	o.burst = min(o.burst, o.n)
	o.accepts = min(o.accepts, o.n-o.burst)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// bench is one run: the peers, the clients and the manager every phase
// uses, and the figures they record.
type bench struct {
	o                options
	env              *testenv.Env
	c                client.Client
	mp               *mailpit.Server
	cfg              *config.Config
	pageURL          string
	workers          int
	benchNS, floorNS []string
	tr               *tracker
	reqs             *requests
	clk              *followClock
	mgr              *running
	res              *results
}

func run(o options) (err error) {
	// The manager logs as in production (JSON, info), to nowhere: the
	// cost of logging is part of what is measured.
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load0 := loadAvg()
	logf("starting the control plane, Mailpit and the SCIM server")
	b := &bench{o: o, reqs: &requests{counts: map[string]int{}}}
	if b.env, err = testenv.Start(); err != nil {
		return err
	}
	defer func() { _ = b.env.Stop() }()
	if b.mp, err = mailpit.Run(ctx, mailpit.Options{KeepAll: true}); err != nil {
		return err
	}
	defer b.mp.Stop()
	sc, err := scim.Run(ctx, scim.Options{})
	if err != nil {
		return err
	}
	defer sc.Stop()
	if err := b.setUp(ctx, sc, load0); err != nil {
		return err
	}

	// The watch that times partnerops runs from here on, so that the floor
	// pays for a watcher of its writes too.
	wc, err := client.NewWithWatch(b.env.Config, client.Options{Scheme: b.env.Scheme})
	if err != nil {
		return err
	}
	b.tr = newTracker(o.n)
	go b.tr.run(ctx, wc)

	if err := b.floors(ctx); err != nil {
		return err
	}
	b.clk = newFollowClock()
	defer b.clk.Stop()
	defer func() {
		if b.mgr != nil {
			_ = b.mgr.stop()
		}
	}()
	for _, phase := range []func(context.Context) error{b.sends, b.restartSettled, b.expiry, b.page, b.marginalHeap} {
		if err := phase(ctx); err != nil {
			return err
		}
	}
	b.res.load1 = loadAvg()
	fmt.Print(b.res.table())
	return nil
}

// setUp writes what the manager reads (the SCIM token's Secret), the
// configuration, and the namespaces of the benchmark and of its floor.
func (b *bench) setUp(ctx context.Context, sc *scim.Server, load0 string) (err error) {
	o, c := b.o, b.env.Client
	b.c = c
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secretNS}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "scim-token"},
		StringData: map[string]string{"token": sc.Token}}); err != nil {
		return err
	}
	if b.cfg, b.pageURL, err = benchConfig(b.mp, sc); err != nil {
		return err
	}
	b.workers = o.workers
	if b.workers == 0 {
		b.workers = manager.DefaultInvitationWorkers
	}
	// As many SMTP connections as workers: Mailpit has no connection limit
	// (the default, 3, is Microsoft 365's).
	b.cfg.SMTP.MaxConnections = b.workers

	nsCount := (o.n + o.perNamespace - 1) / o.perNamespace
	b.benchNS, b.floorNS = make([]string, nsCount), make([]string, nsCount)
	for i := range nsCount {
		b.benchNS[i], b.floorNS[i] = fmt.Sprintf("%s%03d", benchPrefix, i), fmt.Sprintf("floor-%03d", i)
		for _, name := range []string{b.benchNS[i], b.floorNS[i]} {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{v1alpha1.DisplayNameAnnotation: "Customer " + strconv.Itoa(i)}}}
			if err := c.Create(ctx, ns); err != nil {
				return err
			}
		}
	}
	b.res = &results{o: o, workers: b.workers, namespaces: nsCount, cpus: runtime.NumCPU(), load0: load0, apiHost: b.env.Config.Host}
	if o.profileDir != "" {
		if b.res.api, err = rest.HTTPClientFor(b.env.Config); err != nil {
			return err
		}
	}
	return nil
}

// benchConfig is `make dev`'s configuration with every peer of this run,
// the email pacing and the page's rate limit lifted.
func benchConfig(mp *mailpit.Server, sc *scim.Server) (*config.Config, string, error) {
	cfg, err := config.Load(filepath.Join(testenv.RepoRoot(), "config", "dev", "config.yaml"))
	if err != nil {
		return nil, "", err
	}
	port, err := peer.FreePort()
	if err != nil {
		return nil, "", err
	}
	page := "http://127.0.0.1:" + strconv.Itoa(port)
	cfg.SecretNamespace = secretNS
	cfg.RateLimits.EmailsPerSecond = 1000
	cfg.RateLimits.EmailsPerNamespacePerHour = 1_000_000
	cfg.RateLimits.AcceptRequestsPerMinute = 100_000
	cfg.Acceptance.BindAddress, cfg.Acceptance.PublicURL = strings.TrimPrefix(page, "http://"), page
	cfg.Acceptance.PartnerHubURL = "http://127.0.0.1:1/hub"
	cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.Security, cfg.SMTP.CredentialsSecret = mp.SMTPHost, mp.SMTPPort, config.SMTPSecurityNone, nil
	// Settled members' grants are checked again once a day, not within
	// the run: the benchmark waits for quiet controllers between phases.
	cfg.IdentityBackend.ResyncInterval.Duration = 24 * time.Hour
	cfg.IdentityBackend.Type, cfg.IdentityBackend.LDAP = config.BackendSCIM, nil
	cfg.IdentityBackend.SCIM = &config.SCIMConfig{BaseURL: sc.URL, TokenSecret: &config.SecretRef{Name: "scim-token"}, CreateGroups: true}
	return cfg, page, nil
}

var locales = []v1alpha1.Locale{v1alpha1.LocaleEnglish, v1alpha1.LocaleFrench, v1alpha1.LocaleSpanish}

// newInvitation is the benchmark's invitation i.
func newInvitation(namespace string, i int) *v1alpha1.PartnerInvitation {
	return &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: invName(i)},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: "acme", Email: v1alpha1.EmailAddress(fmt.Sprintf("user%05d@partner.example", i)),
			Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor", "insights"}, Locale: locales[i%len(locales)],
		},
	}
}

func indexes(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func lastOf(s []atomic.Int64, idx []int) time.Time {
	var last int64
	for _, i := range idx {
		last = max(last, s[i].Load())
	}
	return time.Unix(0, last)
}

func latencies(s []atomic.Int64, idx []int, from func(int) time.Time) []time.Duration {
	out := make([]time.Duration, len(idx))
	for k, i := range idx {
		out[k] = time.Unix(0, s[i].Load()).Sub(from(i))
	}
	return out
}

// latestExpiry is the latest expiresAt of the invitations idx.
func latestExpiry(ctx context.Context, c client.Client, namespaces []string, idx []int) (time.Time, error) {
	var latest time.Time
	for _, ns := range namespaces {
		var list v1alpha1.PartnerInvitationList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return latest, err
		}
		for _, inv := range list.Items {
			if i, ok := invIndex(inv.Name); ok && slices.Contains(idx, i) {
				if inv.Status.ExpiresAt == nil {
					return latest, fmt.Errorf("%s has no expiresAt", inv.Name)
				}
				if inv.Status.ExpiresAt.After(latest) {
					latest = inv.Status.ExpiresAt.Time
				}
			}
		}
	}
	return latest, nil
}
