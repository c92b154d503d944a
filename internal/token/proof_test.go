package token

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func acceptance(mods ...func(*Acceptance)) Acceptance {
	a := Acceptance{UID: "6f1c2a44-5d7e-4b8a-9c1d-2e3f4a5b6c7d", Resend: 2, Email: "Jane@Example.com", AcceptedAt: t0.Add(time.Minute)}
	for _, m := range mods {
		m(&a)
	}
	return a
}

// TestAcceptanceProof: a proof verifies for exactly the acceptance it was
// made for; any other UID, generation, address or moment, an altered MAC
// or key id, or no proof at all is ErrProofInvalid.
func TestAcceptanceProof(t *testing.T) {
	ctx := context.Background()
	s, _ := newSigner(mustKeys(t, "k1", "k2"))
	p, err := s.ProveAcceptance(ctx, acceptance())
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyID != "k2" {
		t.Errorf("made with key %q, want the current one k2", p.KeyID)
	}
	if err := s.VerifyAcceptance(ctx, acceptance(), p); err != nil {
		t.Fatalf("the genuine proof: %v", err)
	}
	// The address is compared without case or surrounding space, the time
	// at second precision (as status.acceptedAt holds it).
	same := acceptance(func(a *Acceptance) {
		a.Email = " jane@example.COM "
		a.AcceptedAt = a.AcceptedAt.Add(300 * time.Millisecond).In(time.FixedZone("X", 3600))
	})
	if err := s.VerifyAcceptance(ctx, same, p); err != nil {
		t.Errorf("the same acceptance spelled differently: %v", err)
	}

	bad := map[string]struct {
		a Acceptance
		p Proof
	}{
		"another invitation":       {acceptance(func(a *Acceptance) { a.UID = "00000000-0000-0000-0000-000000000000" }), p},
		"another generation":       {acceptance(func(a *Acceptance) { a.Resend = 3 }), p},
		"another address":          {acceptance(func(a *Acceptance) { a.Email = "mallory@example.com" }), p},
		"another moment":           {acceptance(func(a *Acceptance) { a.AcceptedAt = a.AcceptedAt.Add(time.Second) }), p},
		"altered MAC":              {acceptance(), Proof{KeyID: p.KeyID, MAC: flipAt(p.MAC, 3)}},
		"MAC of the wrong length":  {acceptance(), Proof{KeyID: p.KeyID, MAC: p.MAC[:20]}},
		"not base64url":            {acceptance(), Proof{KeyID: p.KeyID, MAC: strings.Repeat("!", 43)}},
		"another listed key's id":  {acceptance(), Proof{KeyID: "k1", MAC: p.MAC}},
		"a key id nobody lists":    {acceptance(), Proof{KeyID: "k9", MAC: p.MAC}},
		"no proof":                 {acceptance(), Proof{}},
		"no acceptance time":       {acceptance(func(a *Acceptance) { a.AcceptedAt = time.Time{} }), p},
		"a link token's signature": {acceptance(), Proof{KeyID: p.KeyID, MAC: strings.Split(mustSign(t, s, claims()), ".")[2]}},
		"an account added":         {acceptance(func(a *Acceptance) { a.Account = "acct-1" }), p},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			err := s.VerifyAcceptance(ctx, tc.a, tc.p)
			if !errors.Is(err, ErrProofInvalid) {
				t.Errorf("VerifyAcceptance = %v, want ErrProofInvalid", err)
			}
		})
	}
}

// TestAcceptanceProofBindsTheAccount: the proof of an invitation joined by
// domain binds its account's UID: it verifies for that account only, and
// not without one.
func TestAcceptanceProofBindsTheAccount(t *testing.T) {
	s, _ := newSigner(mustKeys(t, "k1"))
	proofOnlyFor(t, s, acceptance(func(a *Acceptance) { a.Account = "acct-1" }), map[string]Acceptance{
		"another account": acceptance(func(a *Acceptance) { a.Account = "acct-2" }),
		"no account":      acceptance(),
		"signed in, the account's UID as the subject": acceptance(func(a *Acceptance) { a.Issuer, a.Subject = "account", "acct-1" }),
	})
	if _, err := s.ProveAcceptance(context.Background(), acceptance(func(a *Acceptance) { a.Account = "acct\n1" })); err == nil {
		t.Error("a proof for an account UID with a line break was made")
	}
}

// TestAcceptanceProofRotation: adding a key keeps old proofs valid while
// their key is listed; removing the key ends them.
func TestAcceptanceProofRotation(t *testing.T) {
	ctx := context.Background()
	src := &swapSource{k: mustKeys(t, "k1")}
	s := NewSigner(src, testingclock.NewFakePassiveClock(t0))
	p, err := s.ProveAcceptance(ctx, acceptance())
	if err != nil {
		t.Fatal(err)
	}
	src.k = mustKeys(t, "k1", "k2")
	if err := s.VerifyAcceptance(ctx, acceptance(), p); err != nil {
		t.Errorf("after adding a key: %v", err)
	}
	if p2, _ := s.ProveAcceptance(ctx, acceptance()); p2.KeyID != "k2" {
		t.Errorf("a new proof uses %q, want the new key k2", p2.KeyID)
	}
	src.k = mustKeys(t, "k2")
	if err := s.VerifyAcceptance(ctx, acceptance(), p); !errors.Is(err, ErrProofInvalid) {
		t.Errorf("after removing its key: %v, want ErrProofInvalid", err)
	}
}

// TestAcceptanceProofKeysUnavailable: a key source that fails is not a bad
// proof (the controller retries instead of refusing).
func TestAcceptanceProofKeysUnavailable(t *testing.T) {
	ctx := context.Background()
	good, _ := newSigner(mustKeys(t, "k1"))
	p, _ := good.ProveAcceptance(ctx, acceptance())
	s := NewSigner(failingSource{}, testingclock.NewFakePassiveClock(t0))
	err := s.VerifyAcceptance(ctx, acceptance(), p)
	if err == nil || errors.Is(err, ErrProofInvalid) {
		t.Errorf("VerifyAcceptance with no keys = %v, want an error that is not ErrProofInvalid", err)
	}
}
