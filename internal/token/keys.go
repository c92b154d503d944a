package token

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// MinKeyLength is the shortest HMAC key ParseKeys accepts, in bytes: the
// output size of SHA-256, as RFC 7518 §3.2 requires for HS256.
const MinKeyLength = 32

// generatedKeyLength is the length of the keys GenerateKeyData makes.
const generatedKeyLength = 32

// keyIDPattern is what a key id (a Secret data key) may look like. Secret
// data keys allow the same characters; the length bound keeps the JWT header
// short.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

// secret is key material. It never prints itself.
type secret []byte

// Format prints a placeholder whatever the verb, so key bytes cannot reach
// a log line through fmt.
func (secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// Keys is an immutable set of HMAC keys, each under a key id: all of them
// verify tokens, the current one (the id that sorts last, byte-wise) signs.
// Build it with ParseKeys or NewKeys; the zero value holds no key and signs
// nothing. Printing a Keys with any fmt verb shows key ids only.
type Keys struct {
	ids  []string // sorted ascending; the last one is current
	keys map[string]secret
}

// ParseKeys builds a Keys from a Secret's data: each entry maps a key id
// (1 to 63 characters of [A-Za-z0-9._-]) to raw key bytes (at least
// MinKeyLength bytes). The current signing key is the one whose id sorts
// last byte-wise, so ids must sort in creation order: GenerateKeyData's ids
// ("k20261123T180000Z") do; beware "k10" < "k9". Errors name every bad entry
// by its id and never contain key material. The bytes are copied.
func ParseKeys(data map[string][]byte) (*Keys, error) {
	if len(data) == 0 {
		return nil, errors.New("no signing keys: the key set is empty")
	}
	ids := make([]string, 0, len(data))
	for id := range data {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	k := &Keys{ids: ids, keys: make(map[string]secret, len(data))}
	var errs []error
	for _, id := range ids {
		key := data[id]
		switch {
		case !keyIDPattern.MatchString(id):
			errs = append(errs, fmt.Errorf("key id %s: must be 1 to 63 characters of A-Z, a-z, 0-9, '.', '_' or '-'", quoteID(id)))
		case len(key) < MinKeyLength:
			errs = append(errs, fmt.Errorf("key %q: %d bytes, want at least %d random bytes", id, len(key), MinKeyLength))
		default:
			k.keys[id] = secret(slices.Clone(key))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return k, nil
}

// quoteID quotes a key id for an error message, cut short when it is long.
func quoteID(id string) string {
	const maxShown = 64
	if len(id) > maxShown {
		return fmt.Sprintf("%q (%d bytes)", id[:maxShown]+"…", len(id))
	}
	return fmt.Sprintf("%q", id)
}

// NewKeys returns a set of one freshly generated key (see GenerateKeyData):
// for tests and for callers that keep keys in memory only.
func NewKeys() (*Keys, error) {
	kid, key, err := GenerateKeyData()
	if err != nil {
		return nil, err
	}
	return ParseKeys(map[string][]byte{kid: key})
}

var (
	lastGeneratedMu sync.Mutex
	lastGenerated   time.Time
)

// GenerateKeyData returns a fresh random 32-byte key and its id, "k" followed
// by the current UTC time to the second (e.g. "k20261123T180000Z"). Ids sort
// in generation order, so adding the result to a Secret's data makes it the
// current signing key; two calls in the same second in one process still get
// distinct, increasing ids.
func GenerateKeyData() (kid string, key []byte, err error) {
	key = make([]byte, generatedKeyLength)
	if _, err := rand.Read(key); err != nil {
		return "", nil, fmt.Errorf("generating a signing key: %w", err)
	}

	lastGeneratedMu.Lock()
	t := time.Now().UTC().Truncate(time.Second)
	if !t.After(lastGenerated) {
		t = lastGenerated.Add(time.Second)
	}
	lastGenerated = t
	lastGeneratedMu.Unlock()

	return "k" + t.Format("20060102T150405Z"), key, nil
}

// IDs returns the key ids in sort order; the last one is CurrentID.
func (k *Keys) IDs() []string {
	if k == nil {
		return nil
	}
	return slices.Clone(k.ids)
}

// CurrentID returns the id of the signing key, "" for an empty set.
func (k *Keys) CurrentID() string {
	if k == nil || len(k.ids) == 0 {
		return ""
	}
	return k.ids[len(k.ids)-1]
}

// current returns the signing key and its id.
func (k *Keys) current() (kid string, key []byte, ok bool) {
	kid = k.CurrentID()
	if kid == "" {
		return "", nil, false
	}
	return kid, k.keys[kid], true
}

// lookup returns the key with the given id.
func (k *Keys) lookup(kid string) ([]byte, bool) {
	if k == nil {
		return nil, false
	}
	key, ok := k.keys[kid]
	return key, ok
}

// String lists the key ids and the current one, never key material.
func (k Keys) String() string {
	return fmt.Sprintf("token.Keys{ids: [%s], current: %s}", strings.Join(k.ids, " "), k.CurrentID())
}

// GoString is like String, so %#v prints no key material either.
func (k Keys) GoString() string {
	return fmt.Sprintf("token.Keys{ids: %#v, current: %q}", k.ids, k.CurrentID())
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %d, %x, …) print String or
// GoString, so no verb reaches the key bytes.
func (k Keys) Format(f fmt.State, verb rune) {
	s := k.String()
	if verb == 'v' && f.Flag('#') {
		s = k.GoString()
	}
	_, _ = f.Write([]byte(s))
}

// KeySource gives the current Keys. Implementations may return a different
// set from one call to the next (rotation without restart); callers ask
// for every Sign and Verify and must not cache the result.
type KeySource interface {
	// Keys returns the current key set, or an error when it cannot be
	// loaded (a missing or invalid Secret, an API failure).
	Keys(ctx context.Context) (*Keys, error)
}

// StaticKeys is a KeySource that always returns K: for tests and fixed
// configurations.
type StaticKeys struct {
	// K is the key set returned; nil makes Keys fail.
	K *Keys
}

var _ KeySource = StaticKeys{}

// Keys returns s.K, or an error when it is nil.
func (s StaticKeys) Keys(context.Context) (*Keys, error) {
	if s.K == nil {
		return nil, errors.New("no signing keys configured")
	}
	return s.K, nil
}
