package token

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// FuzzVerify feeds Verify arbitrary input: it must never panic, must answer
// nil, ErrExpired or ErrInvalid only (the keys always load here), must
// return no claims with ErrInvalid, and whatever it accepts must be claims
// that survive a re-sign and verify unchanged.
func FuzzVerify(f *testing.F) {
	keys := mustKeys(f, "k1", "k2")
	s, clk := newSigner(keys)
	good := mustSign(f, s, claims())
	f.Add(good)
	f.Add(mustSign(f, s, claims(func(c *Claims) { c.ExpiresAt = t0.Add(time.Second) }))) // expired below
	for _, bt := range badTokens(f) {
		f.Add(bt.raw)
	}
	f.Add(strings.Repeat(".", 3))

	ctx := context.Background()
	clk.SetTime(t0.Add(30 * time.Minute))
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := s.Verify(ctx, raw)
		switch {
		case err == nil, errors.Is(err, ErrExpired) && !errors.Is(err, ErrInvalid):
		case errors.Is(err, ErrInvalid):
			if got != (Claims{}) {
				t.Fatalf("claims %+v returned with %v", got, err)
			}
			return
		default:
			t.Fatalf("unexpected error %v", err)
		}

		if len(raw) > MaxTokenLength || !urlSafe(raw) {
			t.Fatalf("accepted a token of %d bytes or with characters outside base64url", len(raw))
		}
		// Re-sign the claims with the same keys one second before they
		// expire, and verify at that time: the same claims come back.
		at := testingclock.NewFakePassiveClock(got.ExpiresAt.Add(-time.Second))
		resigner := NewSigner(StaticKeys{K: keys}, at)
		again, err := resigner.Sign(ctx, got)
		if err != nil {
			t.Fatalf("re-signing accepted claims %+v: %v", got, err)
		}
		back, err := resigner.Verify(ctx, again)
		if err != nil {
			t.Fatalf("verifying the re-signed token: %v", err)
		}
		if back != got {
			t.Fatalf("claims changed through a re-sign: %+v, then %+v", got, back)
		}
	})
}

func BenchmarkSignVerify(b *testing.B) {
	s, _ := newSigner(mustKeys(b, "k1", "k2", "k3"))
	ctx := context.Background()
	c := claims()
	b.ReportAllocs()
	for b.Loop() {
		raw, err := s.Sign(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}
