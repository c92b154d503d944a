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

func run(o options) (err error) {
	// The manager logs as in production (JSON, info), to nowhere: the
	// cost of logging is part of what is measured.
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load0 := loadAvg()
	logf("starting the control plane, Mailpit and the SCIM server")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	mp, err := mailpit.Run(ctx, mailpit.Options{KeepAll: true})
	if err != nil {
		return err
	}
	defer mp.Stop()
	sc, err := scim.Run(ctx, scim.Options{})
	if err != nil {
		return err
	}
	defer sc.Stop()

	c := env.Client
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secretNS}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: "scim-token"},
		StringData: map[string]string{"token": sc.Token}}); err != nil {
		return err
	}
	cfg, pageURL, err := benchConfig(mp, sc)
	if err != nil {
		return err
	}
	workers := o.workers
	if workers == 0 {
		workers = manager.DefaultInvitationWorkers
	}
	// As many SMTP connections as workers: Mailpit has no connection limit
	// (the default, 3, is Microsoft 365's).
	cfg.SMTP.MaxConnections = workers

	nsCount := (o.n + o.perNamespace - 1) / o.perNamespace
	benchNS, floorNS := make([]string, nsCount), make([]string, nsCount)
	for i := range nsCount {
		benchNS[i], floorNS[i] = fmt.Sprintf("%s%03d", benchPrefix, i), fmt.Sprintf("floor-%03d", i)
		for _, name := range []string{benchNS[i], floorNS[i]} {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{v1alpha1.DisplayNameAnnotation: "Customer " + strconv.Itoa(i)}}}
			if err := c.Create(ctx, ns); err != nil {
				return err
			}
		}
	}
	res := &results{o: o, workers: workers, namespaces: nsCount, cpus: runtime.NumCPU(), load0: load0, apiHost: env.Config.Host}
	if o.profileDir != "" {
		if res.api, err = rest.HTTPClientFor(env.Config); err != nil {
			return err
		}
	}

	// The watch that times partnerops runs from here on, so that the floor
	// pays for a watcher of its writes too.
	tr := newTracker(o.n)
	go tr.run(ctx, wc)

	// Floors.
	logf("API floor: %d creates + %d status patches, %d workers", o.n, o.n, workers)
	end := res.measure("API floor: creates + status patches")
	if res.apiFloor, err = apiFloor(ctx, c, floorNS, 0, o.n, workers, false); err != nil {
		return err
	}
	end()
	end = res.measure("API floor: creates + status patches + Events")
	if res.eventFloor, err = apiFloor(ctx, c, floorNS, o.n, o.n, workers, true); err != nil {
		return err
	}
	end()
	end = res.measure("API floor: the expiry burst's status patches")
	if res.expiryFloor, _, err = patchFloor(ctx, c, floorNS, indexes(0, o.burst), workers); err != nil {
		return err
	}
	end()
	end = res.measure("API floor: status patches by the page's clients")
	if _, res.patchLat, err = patchFloor(ctx, c, floorNS, indexes(o.burst, o.burst+o.accepts), o.clients); err != nil {
		return err
	}
	end()
	if err := deleteFloor(ctx, c, floorNS); err != nil {
		return err
	}
	logf("SMTP floor: %d messages over %d connections", o.n, o.smtpConns)
	end = res.measure("SMTP floor: messages to Mailpit")
	if res.smtpFloor, err = smtpFloor(mp.SMTPAddr(), o.n, o.smtpConns); err != nil {
		return err
	}
	end()
	if err := mp.DeleteAll(ctx); err != nil {
		return err
	}

	// The manager, its accounts settled.
	clk := newFollowClock()
	defer clk.Stop()
	reqs := &requests{counts: map[string]int{}}
	logf("starting the manager")
	mgr, err := startManager(ctx, env, cfg, workers, clk, reqs)
	if err != nil {
		return err
	}
	defer func() {
		if mgr != nil {
			_ = mgr.stop()
		}
	}()
	for _, ns := range benchNS {
		a := &v1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"},
			Spec: v1alpha1.PartnerAccountSpec{DisplayName: "Acme Partners", AllowedDomains: []v1alpha1.DomainName{"partner.example"}}}
		if err := c.Create(ctx, a); err != nil {
			return err
		}
	}
	if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
		return err
	}
	heap0, rss0 := memory()
	reqs.snapshot()

	// Create → EmailSent.
	logf("partnerops: %d invitations created → EmailSent", o.n)
	all := indexes(0, o.n)
	created := make([]time.Time, o.n)
	events0 := tr.modified.Load()
	stopProfile := profile(o.profileDir, "send")
	end = res.measure("partnerops: create → EmailSent")
	start := time.Now()
	err = parallel(o.n, workers, func(i int) error {
		inv := newInvitation(benchNS[i%nsCount], i)
		if i < o.burst {
			inv.Spec.TTL = "1h"
		}
		created[i] = time.Now()
		return c.Create(ctx, inv)
	})
	if err != nil {
		return err
	}
	if err := tr.waitAll(ctx, "EmailSent", tr.emailSent, all, o.timeout); err != nil {
		return err
	}
	res.send = lastOf(tr.emailSent, all).Sub(start)
	end()
	stopProfile()
	res.sendLat = latencies(tr.emailSent, all, func(i int) time.Time { return created[i] })
	if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
		return err
	}
	res.sendWrites, res.sendEvents = reqs.snapshot(), tr.modified.Load()-events0
	if total, _, err := mp.Page(ctx, 0, 1); err != nil {
		return err
	} else {
		res.emails = total
	}
	res.heap0, res.rss0 = heap0, rss0
	res.heap1, res.rss1 = memory()
	writeHeapProfile(o.profileDir, "heap-settled")

	// Restart over N settled invitations.
	logf("restart over %d settled invitations", o.n)
	reqs.snapshot()
	emails0 := res.emails
	if res.restartReady, res.restartSettled, err = restart(ctx, &mgr, env, cfg, workers, clk, reqs, o.n, o.timeout); err != nil {
		return err
	}
	res.restartWrites = total(reqs.snapshot())
	res.heap2, res.rss2 = memory()
	writeHeapProfile(o.profileDir, "heap-restarted")
	if total, _, err := mp.Page(ctx, 0, 1); err != nil {
		return err
	} else {
		res.restartEmails = total - emails0
	}

	// A burst of links expiring at the same instant.
	if o.burst > 0 {
		logf("expiry: %d links due at once", o.burst)
		burst := indexes(0, o.burst)
		latest, err := latestExpiry(ctx, c, benchNS, burst)
		if err != nil {
			return err
		}
		stopProfile = profile(o.profileDir, "expiry")
		end = res.measure("partnerops: expiry burst")
		jumped := clk.JumpTo(latest)
		if err := tr.waitAll(ctx, "Expired", tr.expired, burst, o.timeout); err != nil {
			return err
		}
		end()
		stopProfile()
		res.expiryLag = latencies(tr.expired, burst, func(int) time.Time { return jumped })
		if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
			return err
		}
		res.expiryWrites = reqs.snapshot()
	}

	// The acceptance page, then the grants.
	if o.accepts > 0 {
		logf("acceptance page: %d GET then POST, %d clients", o.accepts, o.clients)
		acc := indexes(o.burst, o.burst+o.accepts)
		toks, err := links(ctx, c, clk, secretNS, benchNS, acc)
		if err != nil {
			return err
		}
		stopProfile = profile(o.profileDir, "page")
		end = res.measure("partnerops: page GETs")
		if res.getLat, _, err = pageRun(ctx, pageURL, toks, o.clients, false); err != nil {
			return err
		}
		end()
		events0 = tr.modified.Load()
		reqs.snapshot()
		var doneAt []time.Time
		end = res.measure("partnerops: page POSTs (and the reaction to them)")
		if res.postLat, doneAt, err = pageRun(ctx, pageURL, toks, o.clients, true); err != nil {
			return err
		}
		end()
		stopProfile()
		byIndex := make([]time.Time, o.n)
		for k, i := range acc {
			byIndex[i] = doneAt[k]
		}
		if err := tr.waitAll(ctx, "GrantsSynced", tr.synced, acc, o.timeout); err != nil {
			return err
		}
		res.grantLat = latencies(tr.synced, acc, func(i int) time.Time { return byIndex[i] })
		if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
			return err
		}
		res.acceptWrites, res.acceptEvents = reqs.snapshot(), tr.modified.Load()-events0
	}
	// The heap one more cached invitation costs: restarted over all N,
	// then over the first ones only (the pending rest deleted), with the
	// same fixed costs in both.
	if rest := indexes(o.burst+o.accepts, o.n); len(rest) > 0 {
		logf("memory: restart over %d, then over %d", o.n, o.n-len(rest))
		if _, _, err := restart(ctx, &mgr, env, cfg, workers, clk, reqs, o.n, o.timeout); err != nil {
			return err
		}
		heapAll, _ := memory()
		if err := parallel(len(rest), workers, func(k int) error {
			i := rest[k]
			return c.Delete(ctx, &v1alpha1.PartnerInvitation{ObjectMeta: metav1.ObjectMeta{Namespace: benchNS[i%nsCount], Name: invName(i)}})
		}); err != nil {
			return err
		}
		if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
			return err
		}
		if _, _, err := restart(ctx, &mgr, env, cfg, workers, clk, reqs, o.n-len(rest), o.timeout); err != nil {
			return err
		}
		heapFew, _ := memory()
		res.marginal, res.marginalN = float64(heapAll)-float64(heapFew), len(rest)
	}
	res.load1 = loadAvg()
	fmt.Print(res.table())
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
