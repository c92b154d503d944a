package acceptance

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The limiter's memory bounds. Neither ever makes a client share a bucket
// with clients of other networks: an attacker who could push real
// partners into a shared, exhausted bucket would lock them out with a few
// IPv6 prefixes (a /48 holds 65,536 /64s).
const (
	// maxClients bounds the table. When it is full, the least recently
	// seen client is forgotten to make room: a forgotten client starts
	// again with a full bucket, so eviction can only let a client through
	// sooner, never refuse it.
	maxClients = 100_000
	// maxPerSite bounds how many IPv6 /64s of one /48 (one site: a /48 is
	// what one customer of an ISP or one organisation gets) have a bucket
	// of their own at once. Past it, the site's further /64s share one
	// bucket, the /48's: an attacker cycling through its /64s gets at most
	// maxPerSite+1 buckets per /48, while a real partner in another /48 is
	// untouched.
	maxPerSite = 64
)

// clientID is what the rate limit counts a request against.
type clientID struct {
	// key names the client's own bucket: an IPv4 address or an IPv6 /64.
	key string
	// site is, for IPv6, the /48 the /64 is in (empty for IPv4): past
	// maxPerSite /64s with their own bucket, the /48's bucket is shared.
	site string
}

// clientLimiter is a token bucket per client: perMinute requests a minute,
// with a burst of as many. A client idle long enough for its bucket to fill
// up is forgotten (a full bucket is the same as a new one). Safe for
// concurrent use.
type clientLimiter struct {
	limit      rate.Limit
	burst      int
	idle       time.Duration // how long an empty bucket takes to fill up
	maxClients int
	maxPerSite int

	mu sync.Mutex
	// byKey indexes lru, whose elements are *clientBucket, the most
	// recently seen first.
	byKey map[string]*list.Element
	lru   *list.List
	// perSite counts the /64 buckets of each /48.
	perSite map[string]int
}

type clientBucket struct {
	key  string
	site string // the /48 a /64's own bucket counts against; empty otherwise
	lim  *rate.Limiter
	seen time.Time
}

func newClientLimiter(perMinute int) *clientLimiter {
	return &clientLimiter{
		limit:      rate.Limit(float64(perMinute) / 60),
		burst:      perMinute,
		idle:       time.Minute,
		maxClients: maxClients,
		maxPerSite: maxPerSite,
		byKey:      map[string]*list.Element{},
		lru:        list.New(),
		perSite:    map[string]int{},
	}
}

// allow takes one request from c's bucket at now, or says how long until
// one is available.
func (l *clientLimiter) allow(c clientID, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetIdle(now)
	b := l.bucket(c)
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// bucket finds or makes c's bucket and marks it most recently seen.
func (l *clientLimiter) bucket(c clientID) *clientBucket {
	key := c.key
	el, ok := l.byKey[key]
	if !ok && c.site != "" && l.perSite[c.site] >= l.maxPerSite {
		key = c.site
		el, ok = l.byKey[key]
	}
	if ok {
		l.lru.MoveToFront(el)
		return el.Value.(*clientBucket)
	}
	if l.lru.Len() >= l.maxClients {
		l.remove(l.lru.Back())
	}
	b := &clientBucket{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
	if key == c.key && c.site != "" {
		b.site = c.site
		l.perSite[c.site]++
	}
	l.byKey[key] = l.lru.PushFront(b)
	return b
}

// forgetIdle forgets the clients idle for at least the time it takes to
// fill a bucket, from the least recently seen; the list is in the order
// of the clock, so it stops at the first client still in use.
func (l *clientLimiter) forgetIdle(now time.Time) {
	for el := l.lru.Back(); el != nil && now.Sub(el.Value.(*clientBucket).seen) >= l.idle; el = l.lru.Back() {
		l.remove(el)
	}
}

func (l *clientLimiter) remove(el *list.Element) {
	b := l.lru.Remove(el).(*clientBucket)
	delete(l.byKey, b.key)
	if b.site != "" {
		if l.perSite[b.site]--; l.perSite[b.site] <= 0 {
			delete(l.perSite, b.site)
		}
	}
}

// size is how many buckets are kept.
func (l *clientLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
