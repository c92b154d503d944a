package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	longest := claims(func(c *Claims) {
		c.Namespace = strings.Repeat("n", maxNamespaceLength)
		c.Name = strings.Repeat("a", maxNameLength)
		c.UID = strings.Repeat("u", maxUIDLength)
		c.Resend = math.MaxInt32
	})
	for name, c := range map[string]Claims{
		"typical":           claims(),
		"first send":        claims(func(c *Claims) { c.Resend = 0 }),
		"longest fields":    longest,
		"sub-second expiry": claims(func(c *Claims) { c.ExpiresAt = c.ExpiresAt.Add(700 * time.Millisecond) }),
		"non-UTC expiry":    claims(func(c *Claims) { c.ExpiresAt = c.ExpiresAt.In(time.FixedZone("CET", 3600)) }),
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := newSigner(mustKeys(t, "k1"))
			raw := mustSign(t, s, c)
			if len(raw) > MaxTokenLength || !urlSafe(raw) {
				t.Fatalf("token of %d bytes is too long or not URL-safe: %q", len(raw), raw)
			}
			got, err := s.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := c
			want.ExpiresAt = c.ExpiresAt.Truncate(time.Second).UTC()
			if got != want {
				t.Errorf("Verify = %+v, want %+v", got, want)
			}
		})
	}
}

func TestSignWritesTheDocumentedClaims(t *testing.T) {
	s, _ := newSigner(mustKeys(t, "k1", "k2"))
	raw := mustSign(t, s, claims())

	var got jwt.MapClaims
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &got)
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := map[string]any{"alg": "HS256", "typ": "JWT", "kid": "k2"}
	for k, v := range wantHeader {
		if tok.Header[k] != v {
			t.Errorf("header %s = %v, want %v", k, tok.Header[k], v)
		}
	}
	c := claims()
	want := map[string]any{
		"iss": Issuer, "sub": "acme/jane-example-com", "aud": []any{Audience},
		"exp": float64(c.ExpiresAt.Unix()), "iat": float64(t0.Unix()),
		"uid": c.UID, "ns": "acme", "name": "jane-example-com", "gen": float64(2),
	}
	if len(got) != len(want) {
		t.Errorf("payload has %d claims, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !equalJSON(g, v) {
			t.Errorf("claim %s = %v, want %v", k, g, v)
		}
	}
}

func equalJSON(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestRotation(t *testing.T) {
	const oldID, newID = "k20250101T000000Z", "k20260101T000000Z"
	src := &swapSource{k: mustKeys(t, oldID)}
	s := NewSigner(src, newFakeClock())
	ctx := context.Background()
	oldTok := mustSign(t, s, claims())

	// A newer key is added: old links keep working, new links use it.
	src.k = mustKeys(t, oldID, newID)
	if _, err := s.Verify(ctx, oldTok); err != nil {
		t.Errorf("token of the old key after adding a new key: %v", err)
	}
	newTok := mustSign(t, s, claims())
	if kid := kidOf(t, newTok); kid != newID {
		t.Errorf("new token signed with %q, want the newest key %q", kid, newID)
	}
	if _, err := s.Verify(ctx, newTok); err != nil {
		t.Errorf("token of the new key: %v", err)
	}

	// The old key is removed: its links die, new ones live.
	src.k = mustKeys(t, newID)
	if _, err := s.Verify(ctx, oldTok); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of a removed key: err = %v, want ErrInvalid", err)
	}
	if _, err := s.Verify(ctx, newTok); err != nil {
		t.Errorf("token of the remaining key: %v", err)
	}
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

// badToken is a token Verify must refuse with ErrInvalid.
type badToken struct {
	name string
	raw  string
}

// badTokens builds every bad token shape against a signer over
// mustKeys("k1", "k2") at t0 (k2 signs).
func badTokens(t testing.TB) []badToken {
	t.Helper()
	keys := mustKeys(t, "k1", "k2")
	s, _ := newSigner(keys)
	good := mustSign(t, s, claims())
	hs := func(kid any, c jwt.Claims) string { return mint(t, jwt.SigningMethodHS256, keyFor("k2", ""), kid, c) }
	parts := strings.Split(good, ".")
	header, body, sig := parts[0], parts[1], parts[2]

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	// The payload with one claim changed, re-encoded, the signature kept.
	tampered := func(mod func(jwt.MapClaims)) string {
		var m jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(good, &m); err != nil {
			t.Fatal(err)
		}
		mod(m)
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, m)
		tok.Header["kid"] = "k2"
		signing, err := tok.SigningString()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(signing, ".")[0] + "." + strings.Split(signing, ".")[1] + "." + sig
	}
	reheader := func(h string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + body + "." + sig
	}
	// The same signature bytes in a non-canonical encoding: the last
	// character's unused low bits set.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	nonCanonical := header + "." + body + "." + sig[:len(sig)-1] + string(alphabet[last^1])

	return []badToken{
		{"empty", ""},
		{"not a JWT", "hello"},
		{"dots only", ".."},
		{"truncated signature", good[:len(good)-4]},
		{"truncated to header and payload", header + "." + body},
		{"truncated to header and payload with dot", header + "." + body + "."},
		{"truncated mid-payload", good[:len(header)+1+len(body)/2]},
		{"extra segment", good + ".AAAA"},
		{"trailing dot", good + "."},
		{"empty signature", header + "." + body + "."},
		{"flipped signature character", header + "." + body + "." + flip(sig)},
		{"non-canonical signature encoding", nonCanonical},
		{"signature of another token", header + "." + body + "." + strings.Split(mustSign(t, s, claims(func(c *Claims) { c.Resend = 3 })), ".")[2]},
		{"different key, same kid", mint(t, jwt.SigningMethodHS256, keyFor("k2", "other"), "k2", payload())},
		{"unknown kid", mint(t, jwt.SigningMethodHS256, keyFor("k9", ""), "k9", payload())},
		{"no kid", hs(nil, payload())},
		{"numeric kid", hs(2, payload())},
		{"kid of another known key", reheader(`{"alg":"HS256","kid":"k1","typ":"JWT"}`)},
		{"header not JSON", reheader(`{"alg":"HS256"`)},
		{"wrong audience", hs("k2", payload(func(m jwt.MapClaims) { m["aud"] = []string{"partnerops.dev/other"} }))},
		{"audience as a second value", hs("k2", payload(func(m jwt.MapClaims) { m["aud"] = []string{Audience, "evil"} }))},
		{"no audience", hs("k2", payload(func(m jwt.MapClaims) { delete(m, "aud") }))},
		{"wrong issuer", hs("k2", payload(func(m jwt.MapClaims) { m["iss"] = "someone-else" }))},
		{"no issuer", hs("k2", payload(func(m jwt.MapClaims) { delete(m, "iss") }))},
		{"no exp", hs("k2", payload(func(m jwt.MapClaims) { delete(m, "exp") }))},
		{"exp not a number", hs("k2", payload(func(m jwt.MapClaims) { m["exp"] = "tomorrow" }))},
		{"no iat", hs("k2", payload(func(m jwt.MapClaims) { delete(m, "iat") }))},
		{"iat in the future", hs("k2", payload(func(m jwt.MapClaims) { m["iat"] = t0.Add(time.Minute).Unix() }))},
		{"not valid before later", hs("k2", payload(func(m jwt.MapClaims) { m["nbf"] = t0.Add(time.Minute).Unix() }))},
		{"sub does not match", hs("k2", payload(func(m jwt.MapClaims) { m["sub"] = "acme/someone-else" }))},
		{"no uid", hs("k2", payload(func(m jwt.MapClaims) { delete(m, "uid") }))},
		{"no namespace", hs("k2", payload(func(m jwt.MapClaims) { delete(m, "ns"); m["sub"] = "/jane-example-com" }))},
		{"negative resend", hs("k2", payload(func(m jwt.MapClaims) { m["gen"] = -1 }))},
		{"resend beyond int32", hs("k2", payload(func(m jwt.MapClaims) { m["gen"] = int64(math.MaxInt32) + 1 }))},
		{"resend as a string", hs("k2", payload(func(m jwt.MapClaims) { m["gen"] = "2" }))},
		{"alg none", mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k2", payload())},
		{"alg none header over an HS256 signature", reheader(`{"alg":"none","kid":"k2","typ":"JWT"}`)},
		{"HS384", mint(t, jwt.SigningMethodHS384, keyFor("k2", ""), "k2", payload())},
		{"HS512", mint(t, jwt.SigningMethodHS512, keyFor("k2", ""), "k2", payload())},
		{"RS256", mint(t, jwt.SigningMethodRS256, rsaKey, "k2", payload())},
		{"EdDSA", mint(t, jwt.SigningMethodEdDSA, edKey, "k2", payload())},
		{"unknown alg", reheader(`{"alg":"XX999","kid":"k2","typ":"JWT"}`)},
		{"modified payload: resend", tampered(func(m jwt.MapClaims) { m["gen"] = 3 })},
		{"modified payload: expiry", tampered(func(m jwt.MapClaims) { m["exp"] = t0.Add(24 * time.Hour).Unix() })},
		{"modified payload: name", tampered(func(m jwt.MapClaims) { m["name"] = "mallory"; m["sub"] = "acme/mallory" })},
		{"correctly signed but over 4 KiB", hs("k2", payload(func(m jwt.MapClaims) { m["pad"] = strings.Repeat("a", MaxTokenLength) }))},
		{"over 4 KiB of garbage", strings.Repeat("A", MaxTokenLength+1)},
		{"padding", good + "=="},
		{"standard base64 characters", strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "+/"},
		{"percent-encoded dot", strings.Replace(good, ".", "%2E", 1)},
		{"leading space", " " + good},
		{"trailing newline", good + "\n"},
		{"NUL byte", good[:10] + "\x00" + good[10:]},
		{"non-ASCII", good + "é"},
	}
}

// flip changes the first character of s to another base64url character.
func flip(s string) string { return flipAt(s, 0) }

// flipAt changes the character i of s to another base64url character.
func flipAt(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestVerifyRejectsBadTokens(t *testing.T) {
	s, _ := newSigner(mustKeys(t, "k1", "k2"))
	for _, tc := range badTokens(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Verify(context.Background(), tc.raw)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify(%.60q…) err = %v, want ErrInvalid", tc.raw, err)
			}
			if errors.Is(err, ErrExpired) {
				t.Errorf("err = %v is both invalid and expired", err)
			}
			if got != (Claims{}) {
				t.Errorf("Verify returned claims %+v with ErrInvalid; want none", got)
			}
		})
	}
}

// The detail of ErrInvalid goes to logs: it must not echo what the sender
// put in the token.
func TestVerifyErrorEchoesNothingFromTheToken(t *testing.T) {
	s, _ := newSigner(mustKeys(t, "k1"))
	const marker = "attacker-controlled-value"
	for name, raw := range map[string]string{
		"unknown kid":  mint(t, jwt.SigningMethodHS256, keyFor(marker, ""), marker, payload()),
		"issuer":       mint(t, jwt.SigningMethodHS256, keyFor("k1", ""), "k1", payload(func(m jwt.MapClaims) { m["iss"] = marker })),
		"audience":     mint(t, jwt.SigningMethodHS256, keyFor("k1", ""), "k1", payload(func(m jwt.MapClaims) { m["aud"] = marker })),
		"alg":          base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"`+marker+`"}`)) + ".e30.AAAA",
		"payload JSON": "e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"`+marker+`"`)) + ".AAAA",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Verify(context.Background(), raw)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), raw) {
				t.Errorf("error %q echoes the token's content", err)
			}
		})
	}
}

func TestExpiryBoundary(t *testing.T) {
	keys := mustKeys(t, "k1")
	s, clk := newSigner(keys)
	c := claims()
	raw := mustSign(t, s, c)
	exp := c.ExpiresAt

	for _, tc := range []struct {
		name    string
		now     time.Time
		expired bool
	}{
		{"just signed", t0, false},
		{"one second before expiry", exp.Add(-time.Second), false},
		{"one nanosecond before expiry", exp.Add(-time.Nanosecond), false},
		{"at expiry", exp, true},
		{"one second after expiry", exp.Add(time.Second), true},
		{"a year after expiry", exp.AddDate(1, 0, 0), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.SetTime(tc.now)
			got, err := s.Verify(context.Background(), raw)
			if tc.expired {
				if !errors.Is(err, ErrExpired) || errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrExpired only", err)
				}
			} else if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if !equalClaims(got, c) {
				t.Errorf("claims = %+v, want %+v", got, c)
			}
		})
	}
}

// jwt checks the signature before the expiry; an expired token is reported
// as expired only when it is otherwise one we issued.
func TestExpiredButBadIsInvalid(t *testing.T) {
	keys := mustKeys(t, "k1")
	s, clk := newSigner(keys)
	exp := claims().ExpiresAt
	hs := func(key []byte, kid string, mods ...func(jwt.MapClaims)) string {
		return mint(t, jwt.SigningMethodHS256, key, kid, payload(mods...))
	}
	good := mustSign(t, s, claims())
	parts := strings.Split(good, ".")

	for _, tc := range []badToken{
		{"signed by a wrong key under the same kid", hs(keyFor("k1", "other"), "k1")},
		{"signed by an unknown kid", hs(keyFor("k9", ""), "k9")},
		{"modified payload", parts[0] + "." + strings.Split(hs(keyFor("k1", ""), "k1", func(m jwt.MapClaims) { m["gen"] = 7 }), ".")[1] + "." + parts[2]},
		{"HS384", mint(t, jwt.SigningMethodHS384, keyFor("k1", ""), "k1", payload())},
		{"alg none", mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", payload())},
		{"correctly signed, wrong audience", hs(keyFor("k1", ""), "k1", func(m jwt.MapClaims) { m["aud"] = "other" })},
		{"correctly signed, wrong issuer", hs(keyFor("k1", ""), "k1", func(m jwt.MapClaims) { m["iss"] = "other" })},
		{"correctly signed, no iat", hs(keyFor("k1", ""), "k1", func(m jwt.MapClaims) { delete(m, "iat") })},
		{"correctly signed, iat after now", hs(keyFor("k1", ""), "k1", func(m jwt.MapClaims) { m["iat"] = exp.Add(time.Hour).Unix() })},
		{"correctly signed, no uid", hs(keyFor("k1", ""), "k1", func(m jwt.MapClaims) { delete(m, "uid") })},
		{"correctly signed, sub mismatch", hs(keyFor("k1", ""), "k1", func(m jwt.MapClaims) { m["sub"] = "x/y" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.SetTime(exp.Add(time.Minute))
			got, err := s.Verify(context.Background(), tc.raw)
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrExpired) {
				t.Fatalf("err = %v, want ErrInvalid only", err)
			}
			if got != (Claims{}) {
				t.Errorf("claims %+v returned for an invalid token", got)
			}
		})
	}
}

func TestSignRefusesBadClaims(t *testing.T) {
	for name, c := range map[string]Claims{
		"no namespace":           claims(func(c *Claims) { c.Namespace = "" }),
		"slash in namespace":     claims(func(c *Claims) { c.Namespace = "a/b" }),
		"namespace too long":     claims(func(c *Claims) { c.Namespace = strings.Repeat("n", maxNamespaceLength+1) }),
		"no name":                claims(func(c *Claims) { c.Name = "" }),
		"slash in name":          claims(func(c *Claims) { c.Name = "a/b" }),
		"name too long":          claims(func(c *Claims) { c.Name = strings.Repeat("a", maxNameLength+1) }),
		"no uid":                 claims(func(c *Claims) { c.UID = "" }),
		"uid too long":           claims(func(c *Claims) { c.UID = strings.Repeat("u", maxUIDLength+1) }),
		"negative resend":        claims(func(c *Claims) { c.Resend = -1 }),
		"no expiry":              claims(func(c *Claims) { c.ExpiresAt = time.Time{} }),
		"expiry now":             claims(func(c *Claims) { c.ExpiresAt = t0 }),
		"expiry within a second": claims(func(c *Claims) { c.ExpiresAt = t0.Add(999 * time.Millisecond) }),
		"expiry in the past":     claims(func(c *Claims) { c.ExpiresAt = t0.Add(-time.Hour) }),
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := newSigner(mustKeys(t, "k1"))
			if raw, err := s.Sign(context.Background(), c); err == nil {
				t.Errorf("Sign(%+v) = %q, want an error", c, raw)
			}
		})
	}
}

func TestKeySourceFailures(t *testing.T) {
	ctx := context.Background()
	good := mustSign(t, func() *Signer { s, _ := newSigner(mustKeys(t, "k1")); return s }(), claims())
	for _, tc := range []struct {
		name string
		src  KeySource
		// An empty set knows no kid, so the token is invalid for it; a
		// failed load is not the token's fault and must not read as one.
		wantInvalid bool
	}{
		{"no keys", StaticKeys{}, false},
		{"load failed", failingSource{}, false},
		{"empty set", StaticKeys{K: &Keys{}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSigner(tc.src, newFakeClock())
			if _, err := s.Sign(ctx, claims()); err == nil {
				t.Error("Sign succeeded without keys")
			}
			_, err := s.Verify(ctx, good)
			switch {
			case err == nil:
				t.Fatal("Verify succeeded without keys")
			case errors.Is(err, ErrInvalid) != tc.wantInvalid || errors.Is(err, ErrExpired):
				t.Errorf("err = %v, want ErrInvalid: %v", err, tc.wantInvalid)
			}
		})
	}
}

type failingSource struct{}

func (failingSource) Keys(context.Context) (*Keys, error) {
	return nil, errors.New("secret not readable")
}
