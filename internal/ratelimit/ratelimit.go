// Package ratelimit paces invitation emails: a global per-second rate across
// the manager and an hourly cap per namespace (customer account). A send
// that is over a limit is delayed, never dropped, and the caller does not
// wait for it (Take).
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
	clock  clock.Clock
	global *rate.Limiter
	hourly int
	// hold is the longest Take waits for a turn itself; a later turn is
	// kept for its key, and the caller comes back for it.
	hold       time.Duration
	mu         sync.Mutex
	namespaces map[string]*bucket
	turns      map[string]turn
}

// bucket is a namespace's hourly allowance: up to hourly tokens, one back
// every hour/hourly. Taken and given back under Limiter.mu only, so that
// two workers never both take the last token, and a token given back is
// never lost.
type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// turn is a send's place in the global pace, kept for its key, with the
// token it took from its namespace's allowance.
type turn struct {
	at     time.Time
	ns     string
	global *rate.Reservation
}

// Turn is Take's answer: Wait zero means send now.
type Turn struct {
	// Wait is how long until the send may go: ask again then.
	Wait time.Duration
	// Capped: the namespace used up its hourly allowance (nothing is kept
	// for the send); otherwise a Wait is the global pace, and the turn
	// stays kept for the key.
	Capped bool
}

// DefaultHold is the longest Take waits for a turn before handing it back
// as a Wait.
const DefaultHold = time.Second

// New returns a Limiter allowing perSecond sends a second overall (bursts
// of up to one second's worth) and perNamespacePerHour sends an hour in each
// namespace (the whole hour's allowance may be used at once).
func New(clk clock.Clock, perSecond float64, perNamespacePerHour int) *Limiter {
	burst := max(1, int(math.Ceil(perSecond)))
	return &Limiter{
		clock:      clk,
		global:     rate.NewLimiter(rate.Limit(perSecond), burst),
		hourly:     perNamespacePerHour,
		hold:       DefaultHold,
		namespaces: map[string]*bucket{},
		turns:      map[string]turn{},
	}
}

// Take asks for the send of key (one email of one invitation) from
// namespace's hourly allowance and the global rate. When the namespace's
// allowance is used up it takes nothing and says how long until it refills
// (Capped). Otherwise it takes the next turn of the global rate: a turn
// within DefaultHold it waits for and answers zero (send now); a later one
// it keeps for key and answers how long until it, so that the caller
// requeues rather than holding a worker for the length of a burst, and
// asks again then (the kept turn is taken, not a new one). It returns
// ctx's error if ctx ends while it waits.
func (l *Limiter) Take(ctx context.Context, key, namespace string) (Turn, error) {
	now := l.clock.Now()
	l.mu.Lock()
	t, kept := l.turns[key]
	if kept && t.at.Sub(now) > l.hold {
		l.mu.Unlock()
		return Turn{Wait: t.at.Sub(now)}, nil
	}
	delete(l.turns, key)
	l.mu.Unlock()
	if !kept {
		if d := l.takeNamespace(namespace, now); d > 0 {
			return Turn{Wait: d, Capped: true}, nil
		}
		g := l.global.ReserveN(now, 1)
		t = turn{at: now.Add(g.DelayFrom(now)), ns: namespace, global: g}
		if d := t.at.Sub(now); d > l.hold {
			l.mu.Lock()
			l.turns[key] = t
			l.mu.Unlock()
			return Turn{Wait: d}, nil
		}
	}
	d := t.at.Sub(now)
	if d <= 0 {
		return Turn{}, nil
	}
	select {
	case <-l.clock.After(d):
		return Turn{}, nil
	case <-ctx.Done():
		l.cancel(t)
		return Turn{}, ctx.Err()
	}
}

// Refund gives back to namespace's hourly allowance the token a send took
// that did not go out (the mail server was unreachable or refused it, the
// email could not be built): the allowance counts emails sent, not
// attempts.
func (l *Limiter) Refund(namespace string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.namespaces[namespace]; ok {
		l.refill(b, l.clock.Now())
		b.tokens = min(float64(l.hourly), b.tokens+1)
	}
}

// Drop gives back the turn kept for key: its send is no longer wanted
// (sent by another path, withdrawn, deleted).
func (l *Limiter) Drop(key string) {
	l.mu.Lock()
	t, ok := l.turns[key]
	delete(l.turns, key)
	l.mu.Unlock()
	if ok {
		l.cancel(t)
	}
}

// cancel gives back what turn t took: its place in the global pace (when
// still ahead) and its namespace's token.
func (l *Limiter) cancel(t turn) {
	t.global.CancelAt(l.clock.Now())
	l.Refund(t.ns)
}

// takeNamespace takes a token from namespace's allowance, or, when none is
// left, takes nothing and says how long until one is back.
func (l *Limiter) takeNamespace(namespace string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.namespaces[namespace]
	if !ok {
		b = &bucket{tokens: float64(l.hourly), at: now}
		l.namespaces[namespace] = b
	}
	l.refill(b, now)
	if b.tokens < 1-1e-9 {
		every := time.Hour / time.Duration(l.hourly)
		return time.Duration(math.Ceil((1 - b.tokens) * float64(every)))
	}
	b.tokens--
	return 0
}

// refill brings b's tokens up to now. Called with l.mu held.
func (l *Limiter) refill(b *bucket, now time.Time) {
	if now.After(b.at) {
		b.tokens = min(float64(l.hourly), b.tokens+now.Sub(b.at).Hours()*float64(l.hourly))
		b.at = now
	}
}
