package main

import (
	"sync"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// followClock is the manager's clock in the benchmark: a fake clock that a
// goroutine keeps on real time (to the millisecond), so that sends,
// backoffs and requeues run at their real pace, and that Jump moves ahead
// at once, firing every timer now due. Expiry is measured from a jump: the
// instant the clock reaches the links' expiry is known exactly, without
// waiting out a TTL of an hour or more.
type followClock struct {
	*clocktesting.FakeClock

	mu     sync.Mutex
	offset time.Duration
	stop   chan struct{}
}

func newFollowClock() *followClock {
	c := &followClock{FakeClock: clocktesting.NewFakeClock(time.Now()), stop: make(chan struct{})}
	go c.follow()
	return c
}

func (c *followClock) follow() {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			if target := now.Add(c.offset); target.After(c.FakeClock.Now()) {
				c.FakeClock.SetTime(target)
			}
			c.mu.Unlock()
		}
	}
}

// JumpTo moves the clock to at (if it is ahead) and keeps following real
// time from there; it returns the real time of the jump.
func (c *followClock) JumpTo(at time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if d := at.Sub(now.Add(c.offset)); d > 0 {
		c.offset += d
	}
	c.FakeClock.SetTime(now.Add(c.offset))
	return now
}

func (c *followClock) Stop() { close(c.stop) }
