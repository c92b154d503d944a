package acceptance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/partnerops/partnerops/internal/token"
)

// signWith signs c with other keys.
func signWith(t testing.TB, keys *token.Keys, c token.Claims) string {
	t.Helper()
	raw, err := token.NewSigner(token.StaticKeys{K: keys}, clocktesting.NewFakePassiveClock(t0)).Sign(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// audienceClaims are c's claims as the signer writes them, for audience aud.
func audienceClaims(c token.Claims, aud string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": token.Issuer, "sub": c.Namespace + "/" + c.Name, "aud": []string{aud},
		"exp": c.ExpiresAt.Unix(), "iat": t0.Unix(),
		"uid": c.UID, "ns": c.Namespace, "name": c.Name, "gen": c.Resend,
	}
}

// mint signs claims by hand with the method named alg, under key id k1.
func mint(t testing.TB, alg string, key any, claims jwt.MapClaims) string {
	t.Helper()
	method := jwt.GetSigningMethod(alg)
	if alg == "none" {
		key = jwt.UnsafeAllowNoneSignatureType
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = "k1"
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("minting a %s token: %v", alg, err)
	}
	return raw
}

// tamper changes the invitation a payload names, keeping its signature.
func tamper(t testing.TB, payload string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["name"], m["sub"], m["uid"] = "john", "acme/john", "uid-john"
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
