package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/manager"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

// requests counts the manager's API requests by kind of write.
type requests struct {
	mu     sync.Mutex
	counts map[string]int
}

func (r *requests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet {
			k := writeKind(req.URL.Path)
			r.mu.Lock()
			r.counts[k]++
			r.mu.Unlock()
		}
		resp, err := rt.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusConflict {
			r.mu.Lock()
			r.counts["409 "+writeKind(req.URL.Path)]++
			r.mu.Unlock()
		}
		return resp, err
	})
}

// writeKind names a write by what it writes: "partnerinvitations/status",
// "events", ...
func writeKind(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			if len(rest) >= 3 {
				return rest[0] + "/" + rest[2]
			}
			return rest[0]
		}
	}
	return path
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// snapshot returns the counts so far and resets them.
func (r *requests) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.counts
	r.counts = map[string]int{}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// running is one manager started in this process.
type running struct {
	cancel context.CancelFunc
	done   chan error
	probe  string // base URL of the health probes
}

// startManager starts internal/manager as main.go does, with the
// benchmark's clock and the API requests counted; it returns once the
// cache has synced.
func startManager(ctx context.Context, env *testenv.Env, cfg *config.Config, workers int, clk *followClock, reqs *requests) (*running, error) {
	rc := rest.CopyConfig(env.Config)
	rc.QPS, rc.Burst = -1, 0 // no client-side limit, as ctrl.GetConfig gives main.go
	rc.WrapTransport = reqs.wrap
	port, err := peer.FreePort()
	if err != nil {
		return nil, err
	}
	probe := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(ctx)
	mgr, err := manager.New(ctx, rc, manager.Options{
		Config:            cfg,
		Scheme:            env.Scheme,
		Clock:             clk,
		InvitationWorkers: workers,
		Manager: ctrl.Options{
			Metrics:                 metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress:  probe,
			Controller:              crconfig.Controller{SkipNameValidation: ptr(true)},
			GracefulShutdownTimeout: ptr(manager.GracefulShutdownTimeout),
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	r := &running{cancel: cancel, done: make(chan error, 1), probe: "http://" + probe}
	go func() { r.done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		r.stop()
		return nil, fmt.Errorf("the manager's cache did not sync")
	}
	return r, nil
}

func (r *running) stop() error {
	r.cancel()
	return <-r.done
}

// waitReady polls the readiness probe until it answers 200.
func (r *running) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.probe+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s", timeout)
}

// metric sums the samples of a metric of controller-runtime's registry
// whose labels include the given ones.
func metric(name string, labels map[string]string) float64 {
	series, err := managertest.Find(name, labels)
	if err != nil {
		return 0
	}
	return managertest.Sum(series)
}

var controllers = []string{"partnerinvitation", "partneraccount"}

func reconciles(controller string) float64 {
	return metric("controller_runtime_reconcile_total", map[string]string{"controller": controller})
}

// busy says whether a controller has work queued or in hand.
func busy() bool {
	for _, c := range controllers {
		if metric("workqueue_depth", map[string]string{"name": c}) > 0 ||
			metric("controller_runtime_active_workers", map[string]string{"controller": c}) > 0 {
			return true
		}
	}
	return false
}

// waitIdle polls until no controller has had work for quiet.
func waitIdle(ctx context.Context, quiet, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	idleSince := time.Time{}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if busy() {
			idleSince = time.Time{}
		} else if idleSince.IsZero() {
			idleSince = time.Now()
		} else if time.Since(idleSince) >= quiet {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("the controllers were still busy after %s", timeout)
}

// restart stops the manager and starts a new one over the n invitations
// that exist, and returns when it was ready and when every invitation had
// been reconciled once with the queues empty and quiet for a second.
func (b *bench) restart(ctx context.Context, n int) (ready, settled time.Duration, err error) {
	timeout := b.o.timeout
	if err := b.mgr.stop(); err != nil {
		return 0, 0, fmt.Errorf("stopping the manager: %w", err)
	}
	b.mgr = nil
	b.reqs.snapshot()
	rec0 := reconciles("partnerinvitation")
	start := time.Now()
	if b.mgr, err = startManager(ctx, b.env, b.cfg, b.workers, b.clk, b.reqs); err != nil {
		return 0, 0, err
	}
	if err := b.mgr.waitReady(ctx, timeout); err != nil {
		return 0, 0, err
	}
	ready = time.Since(start)
	for reconciles("partnerinvitation")-rec0 < float64(n) {
		if time.Since(start) > timeout {
			return 0, 0, fmt.Errorf("restart: %v of %d invitations reconciled", reconciles("partnerinvitation")-rec0, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := waitIdle(ctx, 0, timeout); err != nil {
		return 0, 0, err
	}
	settled = time.Since(start)
	return ready, settled, waitIdle(ctx, time.Second, timeout)
}
