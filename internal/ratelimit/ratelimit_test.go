package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// expect asks for key's send in namespace and fails the test unless the
// answer is want; what says what the step is about.
func expect(t *testing.T, l *Limiter, key, namespace string, want Turn, what string) {
	t.Helper()
	turn, err := l.Take(context.Background(), key, namespace)
	if err != nil || turn != want {
		t.Fatalf("%s: Take(%s) = %+v, %v; want %+v", what, key, turn, err, want)
	}
}

var now = Turn{}

func TestNamespaceHourlyCap(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 1000, 3)
	for range 3 {
		expect(t, l, "acme/a", "acme", now, "within the hour's allowance")
	}
	capped := Turn{Wait: 20 * time.Minute, Capped: true}
	expect(t, l, "acme/b", "acme", capped, "the 4th send in the hour (3 an hour)")
	expect(t, l, "acme/b", "acme", capped, "asking again: a capped send consumes nothing")
	expect(t, l, "initech/a", "initech", now, "another namespace, with its own allowance")
	clk.Step(20 * time.Minute)
	expect(t, l, "acme/b", "acme", now, "20m later")
}

// TestGlobalRateWaitsWithinTheHold: past the burst, a turn within
// DefaultHold is waited for.
func TestGlobalRateWaitsWithinTheHold(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 2, 1000)
	expect(t, l, "acme/a", "acme", now, "the burst")
	expect(t, l, "acme/b", "acme", now, "the burst")
	done := make(chan Turn, 1)
	go func() {
		turn, _ := l.Take(context.Background(), "acme/c", "acme")
		done <- turn
	}()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	select {
	case turn := <-done:
		t.Fatalf("the third send in the same second did not wait: %+v", turn)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Step(500 * time.Millisecond)
	if turn := <-done; turn != now {
		t.Fatalf("after its turn: %+v", turn)
	}
}

// TestGlobalRateKeepsTurns: a turn beyond DefaultHold is answered as a
// Wait and kept for its key, so that asking again takes the same turn
// rather than a new one, and the sends keep their order.
func TestGlobalRateKeepsTurns(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 0.5, 1000) // one send every 2s, burst 1
	expect(t, l, "acme/a", "acme", now, "the burst")
	expect(t, l, "acme/b", "acme", Turn{Wait: 2 * time.Second}, "the next turn")
	expect(t, l, "acme/c", "acme", Turn{Wait: 4 * time.Second}, "the turn after")
	expect(t, l, "acme/b", "acme", Turn{Wait: 2 * time.Second}, "asking again: the same turn")
	clk.Step(2 * time.Second)
	expect(t, l, "acme/b", "acme", now, "at its turn")
	expect(t, l, "acme/c", "acme", Turn{Wait: 2 * time.Second}, "2s before its turn")
	clk.Step(2 * time.Second)
	expect(t, l, "acme/c", "acme", now, "at its turn")
}

// TestDropGivesTheTurnBack: a kept turn that is dropped (the send is no
// longer wanted) goes to the next send.
func TestDropGivesTheTurnBack(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 0.5, 1000)
	expect(t, l, "acme/a", "acme", now, "the burst")
	expect(t, l, "acme/b", "acme", Turn{Wait: 2 * time.Second}, "the next turn")
	l.Drop("acme/b")
	expect(t, l, "acme/c", "acme", Turn{Wait: 2 * time.Second}, "the turn acme/b gave back")
}

func TestTakeHonoursCancellation(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 2, 1000)
	expect(t, l, "acme/a", "acme", now, "the burst")
	expect(t, l, "acme/b", "acme", now, "the burst")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := l.Take(ctx, "acme/c", "acme"); done <- err }()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

// TestRefundGivesTheTokenBack: the hourly allowance counts emails sent,
// not attempts: a send that did not go out gives its token back, and so
// does a kept turn that is dropped.
func TestRefundGivesTheTokenBack(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 1000, 2)
	expect(t, l, "acme/a", "acme", now, "the first of 2")
	l.Refund("acme") // acme/a's mail server was down
	expect(t, l, "acme/a", "acme", now, "acme/a again")
	expect(t, l, "acme/b", "acme", now, "the second of 2: acme/a's failed attempt counted for nothing")
	expect(t, l, "acme/c", "acme", Turn{Wait: 30 * time.Minute, Capped: true}, "the third")
	l.Refund("acme")
	l.Refund("acme")
	l.Refund("acme") // more than was taken: the allowance stays at its size
	expect(t, l, "acme/c", "acme", now, "refunded")
	expect(t, l, "acme/d", "acme", now, "refunded")
	expect(t, l, "acme/e", "acme", Turn{Wait: 30 * time.Minute, Capped: true}, "never more than the hour's allowance")

	// A kept turn holds its namespace's token until it is dropped.
	p := New(clk, 0.5, 2)
	expect(t, p, "acme/a", "acme", now, "the burst")
	expect(t, p, "acme/b", "acme", Turn{Wait: 2 * time.Second}, "a kept turn")
	p.Drop("acme/b")
	clk.Step(2 * time.Second)
	expect(t, p, "acme/c", "acme", now, "the token acme/b's dropped turn gave back")
}

// TestConcurrentTakesAndRefundsKeepCount: workers taking and giving back
// at once never lose a token (two of them cancelling reservations of a
// shared token bucket could).
func TestConcurrentTakesAndRefundsKeepCount(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 1e9, 100)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 200 {
				turn, err := l.Take(context.Background(), fmt.Sprintf("acme/%d-%d", w, i), "acme")
				if err == nil && !turn.Capped {
					l.Refund("acme")
				}
			}
		})
	}
	wg.Wait()
	for i := range 100 {
		expect(t, l, fmt.Sprintf("acme/last-%d", i), "acme", now, "the whole allowance is still there")
	}
	expect(t, l, "acme/over", "acme", Turn{Wait: 36 * time.Second, Capped: true}, "and no more")
}
