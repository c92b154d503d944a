// Package ratelimit paces invitation emails: a global per-second rate across
// the manager and an hourly cap per namespace (customer account). A send
// that is over a limit is delayed, never dropped.
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

// Limiter paces sends. It is safe for concurrent use. Limits live in memory:
// a restarted manager starts with full hourly allowances.
type Limiter struct {
	clock      clock.Clock
	global     *rate.Limiter
	hourly     int
	mu         sync.Mutex
	namespaces map[string]*rate.Limiter
}

// New returns a Limiter allowing perSecond sends a second overall (bursts
// of up to one second's worth) and perNamespacePerHour sends an hour in each
// namespace (the whole hour's allowance may be used at once).
func New(clk clock.Clock, perSecond float64, perNamespacePerHour int) *Limiter {
	burst := max(1, int(math.Ceil(perSecond)))
	return &Limiter{
		clock:      clk,
		global:     rate.NewLimiter(rate.Limit(perSecond), burst),
		hourly:     perNamespacePerHour,
		namespaces: map[string]*rate.Limiter{},
	}
}

// Wait takes one send from namespace's hourly allowance and the global rate.
// When the namespace's allowance is used up it takes nothing and returns how
// long until the next send is allowed, so the caller can requeue instead of
// holding a worker for up to an hour. Otherwise it waits (briefly) for the
// global rate and returns zero; it returns ctx's error if ctx ends first.
func (l *Limiter) Wait(ctx context.Context, namespace string) (time.Duration, error) {
	now := l.clock.Now()
	ns := l.namespace(namespace)
	r := ns.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, nil
	}
	g := l.global.ReserveN(now, 1)
	d := g.DelayFrom(now)
	if d == 0 {
		return 0, nil
	}
	select {
	case <-l.clock.After(d):
		return 0, nil
	case <-ctx.Done():
		g.CancelAt(l.clock.Now())
		r.CancelAt(l.clock.Now())
		return 0, ctx.Err()
	}
}

func (l *Limiter) namespace(name string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.namespaces[name]
	if !ok {
		lim = rate.NewLimiter(rate.Every(time.Hour/time.Duration(l.hourly)), l.hourly)
		l.namespaces[name] = lim
	}
	return lim
}
