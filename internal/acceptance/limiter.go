package acceptance

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxClients bounds the limiter's memory: past that many clients seen
// within a minute, new clients share one bucket until old ones are evicted.
const maxClients = 100_000

// overflowKey is the bucket new clients share when the table is full.
const overflowKey = "overflow"

// clientLimiter is a token bucket per client: perMinute requests a minute,
// with a burst of as many. A client idle long enough for its bucket to fill
// up is forgotten (a full bucket is the same as a new one). Safe for
// concurrent use.
type clientLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration // how long an empty bucket takes to fill up

	mu        sync.Mutex
	clients   map[string]*clientBucket
	lastSweep time.Time
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newClientLimiter(perMinute int) *clientLimiter {
	return &clientLimiter{
		limit:   rate.Limit(float64(perMinute) / 60),
		burst:   perMinute,
		idle:    time.Minute,
		clients: map[string]*clientBucket{},
	}
}

// allow takes one request from key's bucket at now, or says how long until
// one is available.
func (l *clientLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle {
		l.sweep(now)
	}
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxClients {
			l.sweep(now)
			if len(l.clients) >= maxClients {
				key = overflowKey
				b = l.clients[key]
			}
		}
		if b == nil {
			b = &clientBucket{lim: rate.NewLimiter(l.limit, l.burst)}
			l.clients[key] = b
		}
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// sweep forgets the clients idle for longer than it takes to fill a bucket.
func (l *clientLimiter) sweep(now time.Time) {
	for k, b := range l.clients {
		if now.Sub(b.seen) >= l.idle {
			delete(l.clients, k)
		}
	}
	l.lastSweep = now
}

// size is how many clients are tracked.
func (l *clientLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
