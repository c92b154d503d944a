package token

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const (
	testNamespace = "partnerops-system"
	testSecret    = "partnerops-token-keys"
)

var secretKey = client.ObjectKey{Namespace: testNamespace, Name: testSecret}

// keySecret is the signing-key Secret holding keyFor(id, "") for each id.
func keySecret(ids ...string) *corev1.Secret {
	data := map[string][]byte{}
	for _, id := range ids {
		data[id] = keyFor(id, "")
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testSecret},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// writeCounter counts the writes made through a fake client.
type writeCounter struct{ n atomic.Int32 }

// funcs returns interceptors that count every kind of write; over, when
// set, replaces the default behaviour of the calls it defines (the count is
// taken before).
func (w *writeCounter) funcs(over interceptor.Funcs) interceptor.Funcs {
	return interceptor.Funcs{
		Get: over.Get,
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.n.Add(1)
			if over.Create != nil {
				return over.Create(ctx, c, obj, opts...)
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.n.Add(1)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.n.Add(1)
			return c.Patch(ctx, obj, p, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			w.n.Add(1)
			return c.Apply(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			w.n.Add(1)
			return c.Delete(ctx, obj, opts...)
		},
	}
}

// newFakeClient returns a fake API client holding objs, counting writes.
func newFakeClient(over interceptor.Funcs, objs ...client.Object) (client.Client, *writeCounter) {
	w := &writeCounter{}
	c := fake.NewClientBuilder().WithObjects(objs...).WithInterceptorFuncs(w.funcs(over)).Build()
	return c, w
}

func getSecret(t *testing.T, c client.Client) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := c.Get(context.Background(), secretKey, &s); err != nil {
		t.Fatalf("reading the secret: %v", err)
	}
	return &s
}

func TestEnsureSecretCreatesOnce(t *testing.T) {
	ctx := context.Background()
	c, writes := newFakeClient(interceptor.Funcs{})

	if err := EnsureSecret(ctx, c, testNamespace, testSecret); err != nil {
		t.Fatalf("first EnsureSecret: %v", err)
	}
	if n := writes.n.Load(); n != 1 {
		t.Errorf("first call made %d writes, want 1 create", n)
	}
	created := getSecret(t, c)
	if created.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", created.Type)
	}
	if got := created.Labels[ManagedByLabel]; got != "partnerops" {
		t.Errorf("label %s = %q, want partnerops", ManagedByLabel, got)
	}
	keys, err := ParseKeys(created.Data)
	if err != nil || len(keys.IDs()) != 1 {
		t.Fatalf("created secret holds keys %v (%v), want one valid key", keys, err)
	}
	for _, k := range created.Data {
		if len(k) != 32 {
			t.Errorf("generated key of %d bytes, want 32", len(k))
		}
	}

	// A restart: no write, the key stays.
	if err := EnsureSecret(ctx, c, testNamespace, testSecret); err != nil {
		t.Fatalf("second EnsureSecret: %v", err)
	}
	if n := writes.n.Load(); n != 1 {
		t.Errorf("second call made %d writes, want none", n-1)
	}
	again := getSecret(t, c)
	if !maps.EqualFunc(again.Data, created.Data, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Error("second call changed the keys")
	}
	if again.ResourceVersion != created.ResourceVersion {
		t.Errorf("resourceVersion moved from %s to %s", created.ResourceVersion, again.ResourceVersion)
	}
}

func TestEnsureSecretLeavesAnExistingSecretAlone(t *testing.T) {
	existing := keySecret("k1", "k2") // made by someone else: no label, two keys
	c, writes := newFakeClient(interceptor.Funcs{}, existing)
	if err := EnsureSecret(context.Background(), c, testNamespace, testSecret); err != nil {
		t.Fatal(err)
	}
	if n := writes.n.Load(); n != 0 {
		t.Errorf("%d writes over an existing secret, want none", n)
	}
	got := getSecret(t, c)
	if len(got.Data) != 2 || got.Labels[ManagedByLabel] != "" {
		t.Errorf("existing secret changed: %v", got)
	}
}

// Two replicas start together: both see no Secret, the other one creates
// it first, ours gets AlreadyExists and must adopt the other's key.
func TestEnsureSecretLosesTheCreateRace(t *testing.T) {
	rival := keySecret("k20260101T000000Z")
	c, _ := newFakeClient(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := c.Create(ctx, rival.DeepCopy()); err != nil {
				return err
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	if err := EnsureSecret(context.Background(), c, testNamespace, testSecret); err != nil {
		t.Fatalf("EnsureSecret after losing the race: %v", err)
	}
	got := getSecret(t, c)
	if len(got.Data) != 1 || string(got.Data["k20260101T000000Z"]) != string(rival.Data["k20260101T000000Z"]) {
		t.Errorf("secret holds %v, want the rival's key only", slices.Sorted(maps.Keys(got.Data)))
	}
}

func TestEnsureSecretErrors(t *testing.T) {
	secretsGR := schema.GroupResource{Resource: "secrets"}
	failCreate := func(err error) interceptor.Funcs {
		return interceptor.Funcs{Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error { return err }}
	}
	failGet := func(err error) interceptor.Funcs {
		return interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return err
		}}
	}
	bad := keySecret()
	bad.Data = map[string][]byte{"k1": secretish[:20]}

	for _, tc := range []struct {
		name    string
		funcs   interceptor.Funcs
		objs    []client.Object
		mention []string
		is      func(error) bool
	}{
		{
			name:    "namespace does not exist",
			funcs:   failCreate(apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, testNamespace)),
			mention: []string{"partnerops-system/partnerops-token-keys", `namespace "partnerops-system" does not exist`},
			is:      apierrors.IsNotFound,
		},
		{
			name:    "RBAC forbids get",
			funcs:   failGet(apierrors.NewForbidden(secretsGR, testSecret, errors.New("no rule"))),
			mention: []string{"reading", "partnerops-system/partnerops-token-keys", "RBAC"},
			is:      apierrors.IsForbidden,
		},
		{
			name:    "RBAC forbids create",
			funcs:   failCreate(apierrors.NewForbidden(secretsGR, testSecret, errors.New("no rule"))),
			mention: []string{"creating", "partnerops-system/partnerops-token-keys", "RBAC"},
			is:      apierrors.IsForbidden,
		},
		{
			name:    "API server unavailable",
			funcs:   failGet(apierrors.NewServiceUnavailable("etcd down")),
			mention: []string{"partnerops-system/partnerops-token-keys"},
			is:      apierrors.IsServiceUnavailable,
		},
		{
			name:    "existing secret with a short key",
			objs:    []client.Object{bad},
			mention: []string{"partnerops-system/partnerops-token-keys", `"k1"`, "20 bytes"},
		},
		{
			name:    "existing secret with no data",
			objs:    []client.Object{keySecret()},
			mention: []string{"partnerops-system/partnerops-token-keys", "empty"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, writes := newFakeClient(tc.funcs, tc.objs...)
			err := EnsureSecret(context.Background(), c, testNamespace, testSecret)
			if err == nil {
				t.Fatal("EnsureSecret succeeded")
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
			if tc.is != nil && !tc.is(err) {
				t.Errorf("error %v lost its API status", err)
			}
			if leaks(err.Error(), secretish) {
				t.Errorf("error %q shows key material", err)
			}
			if len(tc.objs) > 0 && writes.n.Load() != 0 {
				t.Errorf("%d writes over an existing (bad) secret, want none", writes.n.Load())
			}
		})
	}
}

func TestEnsureSecretNeedsANamespaceAndName(t *testing.T) {
	c, writes := newFakeClient(interceptor.Funcs{})
	for _, args := range [][2]string{{"", testSecret}, {testNamespace, ""}} {
		if err := EnsureSecret(context.Background(), c, args[0], args[1]); err == nil {
			t.Errorf("EnsureSecret(%q, %q) succeeded", args[0], args[1])
		}
	}
	if writes.n.Load() != 0 {
		t.Error("a write was made with a missing namespace or name")
	}
}

func TestSecretKeys(t *testing.T) {
	ctx := context.Background()
	c, _ := newFakeClient(interceptor.Funcs{}, keySecret("k1"))
	src := &SecretKeys{Reader: c, Namespace: testNamespace, Name: testSecret}

	first, err := src.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.CurrentID() != "k1" {
		t.Errorf("CurrentID = %q, want k1", first.CurrentID())
	}
	second, err := src.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Error("the Secret was parsed again though its resourceVersion did not change")
	}

	// Rotation: a newer key is added to the Secret.
	sec := getSecret(t, c)
	sec.Data["k2"] = keyFor("k2", "")
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	rotated, err := src.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rotated == first || rotated.CurrentID() != "k2" || len(rotated.IDs()) != 2 {
		t.Errorf("after the update Keys = %v, want the new version with k2 current", rotated)
	}

	// A broken edit is reported, not papered over with the last good set.
	sec = getSecret(t, c)
	sec.Data["k3"] = secretish[:16]
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if k, err := src.Keys(ctx); err == nil {
		t.Errorf("Keys = %v over a secret with a short key, want an error", k)
	} else if !strings.Contains(err.Error(), "partnerops-system/partnerops-token-keys") || !strings.Contains(err.Error(), `"k3"`) || leaks(err.Error(), secretish) {
		t.Errorf("error %q should name the secret and the entry, and only them", err)
	}
}

func TestSecretKeysMissingSecret(t *testing.T) {
	c, _ := newFakeClient(interceptor.Funcs{})
	src := &SecretKeys{Reader: c, Namespace: testNamespace, Name: testSecret}
	_, err := src.Keys(context.Background())
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "partnerops-system/partnerops-token-keys") {
		t.Errorf("err = %v, want NotFound naming the secret", err)
	}
}

// End to end: a Signer over a Secret keeps old links alive across a
// rotation done by editing the Secret, with no restart.
func TestSignerOverSecretKeysRotation(t *testing.T) {
	ctx := context.Background()
	c, _ := newFakeClient(interceptor.Funcs{})
	if err := EnsureSecret(ctx, c, testNamespace, testSecret); err != nil {
		t.Fatal(err)
	}
	s := NewSigner(&SecretKeys{Reader: c, Namespace: testNamespace, Name: testSecret}, newFakeClock())
	oldTok := mustSign(t, s, claims())

	kid, key, err := GenerateKeyData()
	if err != nil {
		t.Fatal(err)
	}
	sec := getSecret(t, c)
	sec.Data[kid] = key
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	newTok := mustSign(t, s, claims())
	if got := kidOf(t, newTok); got != kid {
		t.Errorf("new token signed with %q, want the added key %q", got, kid)
	}
	for name, raw := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := s.Verify(ctx, raw); err != nil {
			t.Errorf("%s token: %v", name, err)
		}
	}
}

// Sign and Verify from many goroutines while the Secret is rotated: no race
// (run with -race), and every token signed verifies.
func TestSecretKeysConcurrentUse(t *testing.T) {
	ctx := context.Background()
	c, _ := newFakeClient(interceptor.Funcs{}, keySecret("k1"))
	s := NewSigner(&SecretKeys{Reader: c, Namespace: testNamespace, Name: testSecret}, newFakeClock())

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				raw, err := s.Sign(ctx, claims())
				if err == nil {
					_, err = s.Verify(ctx, raw)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for _, id := range []string{"k2", "k3", "k4"} {
		sec := getSecret(t, c)
		sec.Data[id] = keyFor(id, "")
		if err := c.Update(ctx, sec); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
