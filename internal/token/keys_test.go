package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// secretish is key material that is easy to spot in any printed form.
var secretish = []byte("SUPERSECRETKEYMATERIAL-0123456789abcdef")

// leaks reports whether s shows (the start of) key in a common printed
// form: raw, hex, base64, or fmt's byte-slice forms.
func leaks(s string, key []byte) bool {
	forms := []string{
		string(key[:8]),
		hex.EncodeToString(key[:8]),
		strings.ToUpper(hex.EncodeToString(key[:8])),
		base64.StdEncoding.EncodeToString(key[:6]),
		base64.RawURLEncoding.EncodeToString(key[:6]),
		strings.Trim(fmt.Sprint(key[:8]), "[]"), // 83 85 80 …
		strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%#v", key[:4]), "[]byte{"), "}"), // 0x53, 0x55, …
	}
	for _, f := range forms {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

func TestParseKeys(t *testing.T) {
	k, err := ParseKeys(map[string][]byte{
		"k20250101T000000Z": keyFor("a", ""),
		"k20260101T000000Z": keyFor("b", ""),
		"k20240101T000000Z": keyFor("c", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.CurrentID(), "k20260101T000000Z"; got != want {
		t.Errorf("CurrentID = %q, want the id that sorts last %q", got, want)
	}
	if got, want := k.IDs(), []string{"k20240101T000000Z", "k20250101T000000Z", "k20260101T000000Z"}; !slices.Equal(got, want) {
		t.Errorf("IDs = %v, want %v", got, want)
	}
}

// A Keys must not change when the map it came from does (a cached Secret's
// data may be reused by its owner).
func TestParseKeysCopies(t *testing.T) {
	data := map[string][]byte{"k1": keyFor("k1", "")}
	keys, err := ParseKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSigner(keys)
	raw := mustSign(t, s, claims())
	data["k1"][0] ^= 0xff
	data["k0"] = keyFor("k0", "")
	if _, err := s.Verify(context.Background(), raw); err != nil {
		t.Errorf("token no longer verifies after its source map changed: %v", err)
	}
	if got := keys.IDs(); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("IDs = %v after the source map changed", got)
	}
}

func TestParseKeysErrors(t *testing.T) {
	long := bytes.Repeat(secretish, 2)
	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		mention []string // what the message must name
	}{
		{"nil", nil, []string{"empty"}},
		{"empty", map[string][]byte{}, []string{"empty"}},
		{"short key", map[string][]byte{"k1": secretish[:31]}, []string{`"k1"`, "31 bytes", "32"}},
		{"empty key", map[string][]byte{"k1": nil}, []string{`"k1"`, "0 bytes"}},
		{"empty id", map[string][]byte{"": long}, []string{`""`, "key id"}},
		{"id with a space", map[string][]byte{"my key": long}, []string{`"my key"`}},
		{"id with a slash", map[string][]byte{"a/b": long}, []string{`"a/b"`}},
		{"non-ASCII id", map[string][]byte{"clé": long}, []string{`"clé"`}},
		{"id of 64 characters", map[string][]byte{strings.Repeat("k", 64): long}, []string{strings.Repeat("k", 20)}},
		{"one bad among good ones", map[string][]byte{"k1": long, "k2": secretish[:10]}, []string{`"k2"`}},
		{"every bad entry named", map[string][]byte{"k1": secretish[:5], "bad id": long, "k3": long}, []string{`"k1"`, `"bad id"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeys(tc.data)
			if err == nil {
				t.Fatalf("ParseKeys = %v, want an error", k)
			}
			msg := err.Error()
			for _, m := range tc.mention {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %s", msg, m)
				}
			}
			for _, key := range tc.data {
				if len(key) >= 8 && leaks(msg, key) {
					t.Errorf("error %q shows key material", msg)
				}
			}
		})
	}
}

func TestKeysPrintNoKeyMaterial(t *testing.T) {
	keys, err := ParseKeys(map[string][]byte{"k1": secretish, "k2": bytes.ToUpper(secretish)})
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		for name, arg := range map[string]any{"pointer": keys, "value": *keys, "in a struct": struct{ K Keys }{*keys}, "in a slice": []Keys{*keys}} {
			t.Run(verb+" "+name, func(t *testing.T) {
				out := fmt.Sprintf(verb, arg)
				if leaks(out, secretish) || leaks(out, bytes.ToUpper(secretish)) {
					t.Errorf("Sprintf(%s) = %s shows key material", verb, out)
				}
				if verb != "%x" && verb != "%X" && verb != "%d" && (!strings.Contains(out, "k1") || !strings.Contains(out, "k2")) {
					t.Errorf("Sprintf(%s) = %s does not name the key ids", verb, out)
				}
			})
		}
	}
	if got, want := keys.String(), "token.Keys{ids: [k1 k2], current: k2}"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := keys.GoString(), `token.Keys{ids: []string{"k1", "k2"}, current: "k2"}`; got != want {
		t.Errorf("GoString = %q, want %q", got, want)
	}
}

func TestGenerateKeyData(t *testing.T) {
	idPattern := regexp.MustCompile(`^k\d{8}T\d{6}Z$`)
	var ids []string
	var keys [][]byte
	for range 3 {
		kid, key, err := GenerateKeyData()
		if err != nil {
			t.Fatal(err)
		}
		if !idPattern.MatchString(kid) {
			t.Errorf("id %q does not look like k20261123T180000Z", kid)
		}
		if len(key) != 32 {
			t.Errorf("key of %d bytes, want 32", len(key))
		}
		ids, keys = append(ids, kid), append(keys, key)
	}
	// Generated back to back, within one second: still distinct and in
	// order, so the latest becomes the signing key.
	if !slices.IsSorted(ids) || ids[0] == ids[1] || ids[1] == ids[2] {
		t.Errorf("ids %v are not strictly increasing", ids)
	}
	if bytes.Equal(keys[0], keys[1]) || bytes.Equal(keys[1], keys[2]) {
		t.Error("two generated keys are equal")
	}
	data := map[string][]byte{}
	for i := range ids {
		data[ids[i]] = keys[i]
	}
	k, err := ParseKeys(data)
	if err != nil {
		t.Fatalf("generated keys do not parse: %v", err)
	}
	if k.CurrentID() != ids[2] {
		t.Errorf("CurrentID = %q, want the last generated %q", k.CurrentID(), ids[2])
	}
}

func TestNewKeysSigns(t *testing.T) {
	k, err := NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(k.IDs()) != 1 {
		t.Fatalf("NewKeys has ids %v, want one", k.IDs())
	}
	s, _ := newSigner(k)
	got, err := s.Verify(context.Background(), mustSign(t, s, claims()))
	if err != nil || !equalClaims(got, claims()) {
		t.Errorf("round trip = %+v, %v", got, err)
	}
}

func TestStaticKeys(t *testing.T) {
	k := mustKeys(t, "k1")
	if got, err := (StaticKeys{K: k}).Keys(context.Background()); got != k || err != nil {
		t.Errorf("StaticKeys{k}.Keys = %v, %v; want k", got, err)
	}
	if _, err := (StaticKeys{}).Keys(context.Background()); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("StaticKeys{}.Keys err = %v, want a plain error", err)
	}
}
