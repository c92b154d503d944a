package invitation

import (
	"hash/fnv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// retryGate is when each invitation whose last attempt at a step (a send,
// a grants sync) failed may try it again: one second after the first
// failure, doubling up to five minutes, as the workqueue backs off a
// failed reconcile, or later when the peer asked so (Retry-After). The
// workqueue alone does not hold it: the status write of each failure is a
// watch event that reconciles the invitation at once, and when the peer's
// reply differs from one attempt to the next (a session ID, a local port,
// a request id), each write is another event and another attempt. An
// entry holds for one object (its UID) and one version of what the step
// does (the resend generation of a send, grantsPlan.version for grants): a
// new version goes at once. Entries live only while the step keeps
// failing; a success, the step no longer wanted, or the object's deletion
// drops them.
type retryGate struct {
	mu   sync.Mutex
	next map[types.NamespacedName]retry
}

type retry struct {
	uid      types.UID
	version  int64
	failures int
	at       time.Time
}

// maxRetryBackoff is the longest wait between two attempts of one step.
const maxRetryBackoff = 5 * time.Minute

// due is how long inv's step must still wait after its failed attempts
// (for the same object and version); zero: it may go.
func (g *retryGate) due(inv *v1alpha1.PartnerInvitation, version int64, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.next[keyOf(inv)]
	if !ok || n.uid != inv.UID || n.version != version {
		return 0
	}
	return max(0, n.at.Sub(now))
}

// failed records a failed attempt of inv's step at now; the next waits its
// backoff, and at least atLeast.
func (g *retryGate) failed(inv *v1alpha1.PartnerInvitation, version int64, now time.Time, atLeast time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next == nil {
		g.next = map[types.NamespacedName]retry{}
	}
	n := g.next[keyOf(inv)]
	if n.uid != inv.UID || n.version != version {
		n = retry{uid: inv.UID, version: version}
	}
	n.failures++
	backoff := maxRetryBackoff
	if n.failures <= 9 { // 2^8 s is past the cap
		backoff = min(maxRetryBackoff, time.Second<<(n.failures-1))
	}
	n.at = now.Add(max(backoff, atLeast))
	g.next[keyOf(inv)] = n
}

// forget drops what is kept for key.
func (g *retryGate) forget(key types.NamespacedName) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.next, key)
}

// version tells plans apart for grantRetries: another plan (an edit, a
// withdrawal, the account going) is tried at once, whatever the last
// one's backoff.
func (p *grantsPlan) version() int64 {
	h := fnv.New64a()
	flags := []byte{0, 0}
	if p.member {
		flags[0] = 1
	}
	if p.removeOnly {
		flags[1] = 1
	}
	_, _ = h.Write(flags)
	for _, g := range p.desired {
		_, _ = h.Write([]byte(g))
		_, _ = h.Write([]byte{0})
	}
	return int64(h.Sum64())
}
