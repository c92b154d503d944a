package token

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels of the Secret EnsureSecret creates.
const (
	// ManagedByLabel is the standard label naming the tool that manages an
	// object.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is ManagedByLabel's value on objects partnerops made.
	ManagedByValue = "partnerops"
)

// SecretKeys is a KeySource that reads the Keys from a Secret's data (see
// ParseKeys) through Reader, normally the manager's cache, so rotating keys
// is editing the Secret: add a key whose id sorts last to sign with it,
// remove one to kill its links. The Secret is parsed again only when its
// resourceVersion changes. Use it through a pointer; it is safe for
// concurrent use.
type SecretKeys struct {
	// Reader reads the Secret; the manager's cache avoids an API call per
	// token.
	Reader client.Reader
	// Namespace and Name locate the Secret.
	Namespace, Name string

	mu   sync.Mutex
	rv   string // resourceVersion keys was parsed from
	keys *Keys
}

var _ KeySource = &SecretKeys{}

// Keys returns the key set of the Secret's current version. A missing
// Secret, or a version that does not parse, is an error naming the Secret
// (and never the last good set: a broken rotation must be seen, not
// hidden).
func (s *SecretKeys) Keys(ctx context.Context) (*Keys, error) {
	var sec corev1.Secret
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Name}, &sec); err != nil {
		return nil, fmt.Errorf("reading signing keys from secret %s/%s: %w", s.Namespace, s.Name, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	rv := sec.ResourceVersion
	if rv != "" && rv == s.rv && s.keys != nil {
		return s.keys, nil
	}
	keys, err := ParseKeys(sec.Data)
	if err != nil {
		return nil, fmt.Errorf("signing keys in secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	s.rv, s.keys = rv, keys
	return keys, nil
}

// EnsureSecret makes sure the signing-key Secret namespace/name exists. When
// it does not, it creates it (type Opaque, labelled ManagedByLabel=
// ManagedByValue) with one key from GenerateKeyData. When it does, it makes
// no write at all and only checks that its data parses (ParseKeys), so a
// restart costs one read. If another replica creates it first
// (AlreadyExists), the Secret is read back and checked instead.
//
// c must read from the API server, not from a cache that may not have
// synced yet: pass the manager's APIReader-backed client or a client made
// with client.New. The errors name the Secret, and say so when its
// namespace does not exist or RBAC forbids reading or creating it.
func EnsureSecret(ctx context.Context, c client.Client, namespace, name string) error {
	if namespace == "" || name == "" {
		return fmt.Errorf("signing-key secret %q/%q: namespace and name are required", namespace, name)
	}
	key := client.ObjectKey{Namespace: namespace, Name: name}

	var existing corev1.Secret
	err := c.Get(ctx, key, &existing)
	switch {
	case err == nil:
		return checkExisting(&existing)
	case !apierrors.IsNotFound(err):
		return secretError("reading", namespace, name, err)
	}

	kid, keyBytes, err := GenerateKeyData()
	if err != nil {
		return fmt.Errorf("creating signing-key secret %s/%s: %w", namespace, name, err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      name,
			Labels:    map[string]string{ManagedByLabel: ManagedByValue},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{kid: keyBytes},
	}
	err = c.Create(ctx, sec)
	switch {
	case err == nil:
		return nil
	case apierrors.IsAlreadyExists(err):
		// Another replica won the race: use its key.
		if err := c.Get(ctx, key, &existing); err != nil {
			return secretError("reading back", namespace, name, err)
		}
		return checkExisting(&existing)
	default:
		return secretError("creating", namespace, name, err)
	}
}

// checkExisting reports whether an existing Secret holds usable keys.
func checkExisting(sec *corev1.Secret) error {
	if _, err := ParseKeys(sec.Data); err != nil {
		return fmt.Errorf("signing-key secret %s/%s exists but is unusable: %w", sec.Namespace, sec.Name, err)
	}
	return nil
}

// secretError wraps an API error with the Secret's name and, for the cases
// an installer gets wrong, what to fix.
func secretError(verb, namespace, name string, err error) error {
	var hint string
	switch {
	case apierrors.IsForbidden(err):
		hint = fmt.Sprintf(" (RBAC: the manager needs get and create on secrets in namespace %q)", namespace)
	case apierrors.IsNotFound(err) && isNamespaceNotFound(err):
		hint = fmt.Sprintf(" (namespace %q does not exist)", namespace)
	}
	return fmt.Errorf("%s signing-key secret %s/%s%s: %w", verb, namespace, name, hint, err)
}

// isNamespaceNotFound reports whether a NotFound error is about the
// namespace, as the API server answers a create in a missing namespace.
func isNamespaceNotFound(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}
