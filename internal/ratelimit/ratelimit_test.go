package ratelimit

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// take is Take for key in namespace, failing the test on an error.
func take(t *testing.T, l *Limiter, key, namespace string) Turn {
	t.Helper()
	turn, err := l.Take(context.Background(), key, namespace)
	if err != nil {
		t.Fatalf("Take %s: %v", key, err)
	}
	return turn
}

func TestNamespaceHourlyCap(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 1000, 3)
	for i := range 3 {
		if turn := take(t, l, "acme/a", "acme"); turn != (Turn{}) {
			t.Fatalf("send %d: %+v; want it allowed", i, turn)
		}
	}
	turn := take(t, l, "acme/b", "acme")
	if turn != (Turn{Wait: 20 * time.Minute, Capped: true}) {
		t.Fatalf("4th send in the hour: %+v; want capped for 20m (3 an hour)", turn)
	}
	// A capped send takes nothing: asking again gives the same answer.
	if again := take(t, l, "acme/b", "acme"); again != turn {
		t.Fatalf("asking again changed the answer to %+v: a capped send must not consume allowance", again)
	}
	// Other namespaces have their own allowance.
	if turn := take(t, l, "initech/a", "initech"); turn != (Turn{}) {
		t.Fatalf("another namespace: %+v", turn)
	}
	clk.Step(20 * time.Minute)
	if turn := take(t, l, "acme/b", "acme"); turn != (Turn{}) {
		t.Fatalf("after 20m one send should be allowed again, got %+v", turn)
	}
}

// TestGlobalRateWaitsWithinTheHold: past the burst, a turn within
// DefaultHold is waited for.
func TestGlobalRateWaitsWithinTheHold(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 2, 1000)
	for _, k := range []string{"acme/a", "acme/b"} { // the burst
		if turn := take(t, l, k, "acme"); turn != (Turn{}) {
			t.Fatalf("burst send %s: %+v", k, turn)
		}
	}
	done := make(chan Turn, 1)
	go func() { done <- take(t, l, "acme/c", "acme") }()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	select {
	case turn := <-done:
		t.Fatalf("the third send in the same second did not wait: %+v", turn)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Step(500 * time.Millisecond)
	if turn := <-done; turn != (Turn{}) {
		t.Fatalf("after its turn: %+v", turn)
	}
}

// TestGlobalRateKeepsTurns: a turn beyond DefaultHold is answered as a
// Wait and kept for its key, so that asking again takes the same turn
// rather than a new one, and the sends keep their order.
func TestGlobalRateKeepsTurns(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 0.5, 1000) // one send every 2s, burst 1
	if turn := take(t, l, "acme/a", "acme"); turn != (Turn{}) {
		t.Fatal(turn)
	}
	if b := take(t, l, "acme/b", "acme"); b != (Turn{Wait: 2 * time.Second}) {
		t.Fatalf("acme/b: %+v, want its turn in 2s", b)
	}
	if c := take(t, l, "acme/c", "acme"); c != (Turn{Wait: 4 * time.Second}) {
		t.Fatalf("acme/c: %+v, want its turn in 4s", c)
	}
	if again := take(t, l, "acme/b", "acme"); again != (Turn{Wait: 2 * time.Second}) {
		t.Fatalf("acme/b asked again: %+v, want the same turn", again)
	}
	clk.Step(2 * time.Second)
	if b := take(t, l, "acme/b", "acme"); b != (Turn{}) {
		t.Fatalf("acme/b at its turn: %+v", b)
	}
	if c := take(t, l, "acme/c", "acme"); c != (Turn{Wait: 2 * time.Second}) {
		t.Fatalf("acme/c: %+v, want its turn in 2s more", c)
	}
	clk.Step(2 * time.Second)
	if c := take(t, l, "acme/c", "acme"); c != (Turn{}) {
		t.Fatalf("acme/c at its turn: %+v", c)
	}
}

// TestDropGivesTheTurnBack: a kept turn that is dropped (the send is no
// longer wanted) goes to the next send.
func TestDropGivesTheTurnBack(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 0.5, 1000) // one send every 2s, burst 1
	if turn := take(t, l, "acme/a", "acme"); turn != (Turn{}) {
		t.Fatal(turn)
	}
	b := take(t, l, "acme/b", "acme")
	if b.Wait != 2*time.Second {
		t.Fatalf("acme/b: %+v, want its turn in 2s", b)
	}
	l.Drop("acme/b")
	if c := take(t, l, "acme/c", "acme"); c.Wait != 2*time.Second {
		t.Fatalf("acme/c after acme/b dropped its turn: %+v, want acme/b's turn (2s), not the one after", c)
	}
}

func TestTakeHonoursCancellation(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 2, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	for _, k := range []string{"acme/a", "acme/b"} {
		if _, err := l.Take(ctx, k, "acme"); err != nil {
			t.Fatal(err)
		}
	}
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
