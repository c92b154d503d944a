package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// benchPrefix starts the names of the namespaces the manager serves; the
// floor's are named floor-NNN.
const benchPrefix = "bench-"

// tracker watches every PartnerInvitation and records, per invitation of
// the benchmark (named inv-NNNNN), the first moment (real time) each
// milestone is seen, and counts the watch events: each is one write that
// changed an object. Its slices are allocated before the manager's heap is
// first measured, so they do not count as the manager's.
type tracker struct {
	emailSent, expired, accepted, synced []atomic.Int64 // unix nanoseconds, 0: not yet
	modified                             atomic.Int64

	mu  sync.Mutex
	err error
}

func newTracker(n int) *tracker {
	return &tracker{
		emailSent: make([]atomic.Int64, n), expired: make([]atomic.Int64, n),
		accepted: make([]atomic.Int64, n), synced: make([]atomic.Int64, n),
	}
}

func invName(i int) string { return fmt.Sprintf("inv-%05d", i) }

func invIndex(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "inv-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// run watches until ctx ends, reconnecting from the last resource version
// when the API server closes the watch.
func (t *tracker) run(ctx context.Context, c client.WithWatch) {
	rv := ""
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, &v1alpha1.PartnerInvitationList{}, &client.ListOptions{Raw: &metav1.ListOptions{
			ResourceVersion: rv, AllowWatchBookmarks: true, TimeoutSeconds: ptr(int64(3600)),
		}})
		if err != nil {
			t.fail(err)
			return
		}
		rv = t.consume(w, rv)
		w.Stop()
	}
}

func (t *tracker) consume(w watch.Interface, rv string) string {
	for ev := range w.ResultChan() {
		inv, ok := ev.Object.(*v1alpha1.PartnerInvitation)
		if !ok {
			if ev.Type == watch.Error {
				return "" // too old: start over (milestones are first-seen, so replays change nothing)
			}
			continue
		}
		rv = inv.ResourceVersion
		if ev.Type == watch.Bookmark {
			continue
		}
		if ev.Type == watch.Modified && strings.HasPrefix(inv.Namespace, benchPrefix) {
			t.modified.Add(1)
		}
		t.observe(inv)
	}
	return rv
}

func (t *tracker) observe(inv *v1alpha1.PartnerInvitation) {
	i, ok := invIndex(inv.Name)
	if !ok || i >= len(t.emailSent) || !strings.HasPrefix(inv.Namespace, benchPrefix) {
		return // the floor's invitations: watched alike, but not tracked
	}
	now := time.Now().UnixNano()
	mark := func(s []atomic.Int64) { s[i].CompareAndSwap(0, now) }
	if meta.IsStatusConditionTrue(inv.Status.Conditions, v1alpha1.ConditionEmailSent) {
		mark(t.emailSent)
	}
	switch inv.Status.State {
	case v1alpha1.InvitationExpired:
		mark(t.expired)
	case v1alpha1.InvitationAccepted:
		mark(t.accepted)
		if meta.IsStatusConditionTrue(inv.Status.Conditions, v1alpha1.ConditionGrantsSynced) {
			mark(t.synced)
		}
	}
}

func (t *tracker) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
	}
}

func (t *tracker) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// count is how many of the indexes in idx have reached milestone s.
func count(s []atomic.Int64, idx []int) int {
	n := 0
	for _, i := range idx {
		if s[i].Load() != 0 {
			n++
		}
	}
	return n
}

// waitAll polls until every index in idx reached milestone s, or timeout.
func (t *tracker) waitAll(ctx context.Context, what string, s []atomic.Int64, idx []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := t.failure(); err != nil {
			return fmt.Errorf("watching invitations: %w", err)
		}
		n := count(s, idx)
		if n == len(idx) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d after %s", what, n, len(idx), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func ptr[T any](v T) *T { return &v }
