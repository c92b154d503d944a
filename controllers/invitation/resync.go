package invitation

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// resyncSchedule remembers, per invitation, when its grants are next
// checked against the backend. It lives in memory: after a restart each
// accepted invitation is checked once at a random moment within the resync
// interval, so a restart costs no burst of backend calls and no API write.
type resyncSchedule struct {
	mu   sync.Mutex
	next map[types.UID]time.Time
}

// due reports whether uid's grants should be checked now; when not, how
// long until they should.
func (r *resyncSchedule) due(uid types.UID, now time.Time, every time.Duration) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		r.next = map[types.UID]time.Time{}
	}
	next, ok := r.next[uid]
	if !ok {
		next = now.Add(time.Duration(rand.Int64N(int64(every)) + 1))
		r.next[uid] = next
	}
	if now.Before(next) {
		return false, next.Sub(now)
	}
	return true, 0
}

func (r *resyncSchedule) checked(uid types.UID, now time.Time, every time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		r.next = map[types.UID]time.Time{}
	}
	r.next[uid] = now.Add(every)
}

func (r *resyncSchedule) forget(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.next, uid)
}
