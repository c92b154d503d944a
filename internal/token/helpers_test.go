package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	testingclock "k8s.io/utils/clock/testing"
)

// t0 is the fake clock's start in every test.
var t0 = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)

// keyFor returns a deterministic 32-byte key for id; seed varies it, so the
// same id can carry another key ("the wrong key").
func keyFor(id, seed string) []byte {
	k := sha256.Sum256([]byte(seed + "/" + id))
	return k[:]
}

// mustKeys builds a key set of the given ids with keyFor(id, "").
func mustKeys(t testing.TB, ids ...string) *Keys {
	t.Helper()
	data := map[string][]byte{}
	for _, id := range ids {
		data[id] = keyFor(id, "")
	}
	k, err := ParseKeys(data)
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return k
}

// swapSource is a KeySource whose keys a test changes, as a rotated Secret
// would.
type swapSource struct{ k *Keys }

func (s *swapSource) Keys(context.Context) (*Keys, error) { return s.k, nil }

// claims returns valid claims expiring an hour after t0, changed by mods.
func claims(mods ...func(*Claims)) Claims {
	c := Claims{
		Namespace: "acme",
		Name:      "jane-example-com",
		UID:       "6f1c2a44-5d7e-4b8a-9c1d-2e3f4a5b6c7d",
		Resend:    2,
		ExpiresAt: t0.Add(time.Hour),
	}
	for _, m := range mods {
		m(&c)
	}
	return c
}

// newSigner returns a signer over keys and the fake clock it reads.
func newSigner(keys *Keys) (*Signer, *testingclock.FakePassiveClock) {
	clk := testingclock.NewFakePassiveClock(t0)
	return NewSigner(StaticKeys{K: keys}, clk), clk
}

// mustSign signs c or fails the test.
func mustSign(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	raw, err := s.Sign(context.Background(), c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return raw
}

// payload returns the JWT payload Sign would make for claims(), as a map a
// test can change before minting a token by hand.
func payload(mods ...func(jwt.MapClaims)) jwt.MapClaims {
	c := claims()
	m := jwt.MapClaims{
		"iss":  Issuer,
		"sub":  c.Namespace + "/" + c.Name,
		"aud":  []string{Audience},
		"exp":  c.ExpiresAt.Unix(),
		"iat":  t0.Unix(),
		"uid":  c.UID,
		"ns":   c.Namespace,
		"name": c.Name,
		"gen":  c.Resend,
	}
	for _, mod := range mods {
		mod(m)
	}
	return m
}

// mint signs claims by hand with any method and key, with the given kid
// header (none when kid is nil).
func mint(t testing.TB, method jwt.SigningMethod, key any, kid any, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != nil {
		tok.Header["kid"] = kid
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("minting a token: %v", err)
	}
	return raw
}

// equalClaims compares claims, times with Equal.
func equalClaims(a, b Claims) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name && a.UID == b.UID &&
		a.Resend == b.Resend && a.ExpiresAt.Equal(b.ExpiresAt)
}

// newFakeClock returns a fake clock at t0.
// proofOnlyFor proves a with s, checks that the proof verifies for a and
// that it is ErrProofInvalid for each of others, and returns it.
func proofOnlyFor(t *testing.T, s *Signer, a Acceptance, others map[string]Acceptance) Proof {
	t.Helper()
	ctx := context.Background()
	p, err := s.ProveAcceptance(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyAcceptance(ctx, a, p); err != nil {
		t.Errorf("the genuine proof does not verify: %v", err)
	}
	for name, o := range others {
		if err := s.VerifyAcceptance(ctx, o, p); !errors.Is(err, ErrProofInvalid) {
			t.Errorf("%s: VerifyAcceptance = %v, want ErrProofInvalid", name, err)
		}
	}
	return p
}

func newFakeClock() *testingclock.FakePassiveClock { return testingclock.NewFakePassiveClock(t0) }
