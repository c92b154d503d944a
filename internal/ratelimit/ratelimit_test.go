package ratelimit

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func TestNamespaceHourlyCap(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 1000, 3)
	ctx := context.Background()
	for i := range 3 {
		if d, err := l.Wait(ctx, "acme"); d != 0 || err != nil {
			t.Fatalf("send %d: delay %v, err %v; want it allowed", i, d, err)
		}
	}
	d, err := l.Wait(ctx, "acme")
	if err != nil || d != 20*time.Minute {
		t.Fatalf("4th send in the hour: delay %v, err %v; want 20m (3 an hour)", d, err)
	}
	// A delayed send takes nothing: asking again gives the same answer.
	if d2, _ := l.Wait(ctx, "acme"); d2 != d {
		t.Fatalf("asking again changed the delay to %v: a delayed send must not consume allowance", d2)
	}
	// Other namespaces have their own allowance.
	if d, _ := l.Wait(ctx, "initech"); d != 0 {
		t.Fatalf("another namespace was delayed %v", d)
	}
	clk.Step(20 * time.Minute)
	if d, _ := l.Wait(ctx, "acme"); d != 0 {
		t.Fatalf("after 20m one send should be allowed again, got delay %v", d)
	}
}

func TestGlobalRateWaits(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 2, 1000)
	ctx := context.Background()
	for range 2 { // the burst
		if d, err := l.Wait(ctx, "acme"); d != 0 || err != nil {
			t.Fatalf("burst send: %v %v", d, err)
		}
	}
	done := make(chan error, 1)
	go func() { _, err := l.Wait(ctx, "acme"); done <- err }()
	select {
	case <-done:
		t.Fatal("the third send in the same second did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(500 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("the waiting send failed: %v", err)
	}
}

func TestWaitHonoursCancellation(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	l := New(clk, 1, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := l.Wait(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := l.Wait(ctx, "acme"); done <- err }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}
