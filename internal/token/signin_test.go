package token

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// TestSignInValues: a state and a ticket verify for their own audience
// only, carry what was signed, die at their expiry, and are refused when
// altered, signed by an unknown key, or holding what their kind must not.
func TestSignInValues(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	s := NewSigner(StaticKeys{K: mustKeys(t, "k1")}, clk)
	link := Claims{Namespace: "acme", Name: "globex-jane", UID: "uid-1", Resend: 2, ExpiresAt: t0.Add(7 * 24 * time.Hour)}
	state := SignIn{Link: link, Binding: "bnd", ExpiresAt: t0.Add(10 * time.Minute)}
	ticket := SignIn{Link: link, Identity: Identity{Issuer: "https://login.example", Subject: "sub\nwith any character", Email: "Jane@Globex.example"}, ExpiresAt: t0.Add(10 * time.Minute)}

	for name, tc := range map[string]struct {
		aud string
		v   SignIn
	}{"state": {AudienceSignInState, state}, "ticket": {AudienceSignInTicket, ticket}} {
		raw, err := s.SignSignIn(ctx, tc.aud, tc.v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := s.VerifySignIn(ctx, tc.aud, raw)
		if err != nil || got != tc.v {
			t.Errorf("%s: got %+v, %v; want %+v", name, got, err, tc.v)
		}
		other := AudienceSignInState
		if tc.aud == other {
			other = AudienceSignInTicket
		}
		if _, err := s.VerifySignIn(ctx, other, raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s verified for %s: %v", name, other, err)
		}
		if _, err := s.Verify(ctx, raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s verified as a link: %v", name, err)
		}
		if _, err := s.VerifySignIn(ctx, tc.aud, raw[:len(raw)-2]+"xx"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s altered: %v", name, err)
		}
		if _, err := NewSigner(StaticKeys{K: mustKeys(t, "k2")}, clk).VerifySignIn(ctx, tc.aud, raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s by an unknown key: %v", name, err)
		}
		late := NewSigner(StaticKeys{K: mustKeys(t, "k1")}, clocktesting.NewFakePassiveClock(tc.v.ExpiresAt))
		if _, err := late.VerifySignIn(ctx, tc.aud, raw); !errors.Is(err, ErrExpired) {
			t.Errorf("%s at its expiry: %v, want ErrExpired", name, err)
		}
	}
	link2, err := s.Sign(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifySignIn(ctx, AudienceSignInTicket, link2); !errors.Is(err, ErrInvalid) {
		t.Errorf("a link verified as a ticket: %v", err)
	}
	for name, tc := range map[string]struct {
		aud string
		v   SignIn
	}{
		"a state with an identity": {AudienceSignInState, SignIn{Link: link, Binding: "b", Identity: ticket.Identity, ExpiresAt: state.ExpiresAt}},
		"a state without binding":  {AudienceSignInState, SignIn{Link: link, ExpiresAt: state.ExpiresAt}},
		"a ticket without subject": {AudienceSignInTicket, SignIn{Link: link, Identity: Identity{Issuer: "i", Email: "e"}, ExpiresAt: state.ExpiresAt}},
		"a ticket with a binding":  {AudienceSignInTicket, SignIn{Link: link, Binding: "b", Identity: ticket.Identity, ExpiresAt: state.ExpiresAt}},
		"another audience":         {Audience, state},
		"no expiry":                {AudienceSignInState, SignIn{Link: link, Binding: "b"}},
	} {
		if _, err := s.SignSignIn(ctx, tc.aud, tc.v); err == nil {
			t.Errorf("signed %s", name)
		}
	}
}

// TestProofCoversTheSignIn: a proof with a sign-in verifies for exactly
// that issuer and subject; one without verifies for none.
func TestProofCoversTheSignIn(t *testing.T) {
	ctx := context.Background()
	s := NewSigner(StaticKeys{K: mustKeys(t, "k1")}, clocktesting.NewFakeClock(t0))
	plain := Acceptance{UID: "uid-1", Resend: 1, Email: "jane@globex.example", AcceptedAt: t0}
	signed := plain
	signed.Issuer, signed.Subject = "https://login.example", "sub-1"
	proofOnlyFor(t, s, signed, map[string]Acceptance{
		"without the sign-in": plain,
		"another subject":     {UID: "uid-1", Resend: 1, Email: "jane@globex.example", AcceptedAt: t0, Issuer: "https://login.example", Subject: "sub-2"},
		"another issuer":      {UID: "uid-1", Resend: 1, Email: "jane@globex.example", AcceptedAt: t0, Issuer: "https://evil.example", Subject: "sub-1"},
		"fields moved":        {UID: "uid-1", Resend: 1, Email: "jane@globex.example", AcceptedAt: t0, Issuer: "https://login.examplesub-1", Subject: "x"},
	})
	q, _ := s.ProveAcceptance(ctx, plain)
	if err := s.VerifyAcceptance(ctx, signed, q); !errors.Is(err, ErrProofInvalid) {
		t.Errorf("a proof without sign-in verifies with one: %v", err)
	}
	if _, err := s.ProveAcceptance(ctx, Acceptance{UID: "u", Email: "e", AcceptedAt: t0, Issuer: "i"}); err == nil {
		t.Error("proved a sign-in without a subject")
	}
}
