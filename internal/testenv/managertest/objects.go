package managertest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
)

// Account creates the PartnerAccount name (display name "Globex
// Corporation", changed by mutate).
func (m *Manager) Account(name string, mutate ...func(*v1alpha1.PartnerAccount)) *v1alpha1.PartnerAccount {
	m.T.Helper()
	a := &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: m.NS, Name: name},
		Spec:       v1alpha1.PartnerAccountSpec{DisplayName: "Globex Corporation"},
	}
	for _, f := range mutate {
		f(a)
	}
	if err := m.Env.Client.Create(context.Background(), a); err != nil {
		m.T.Fatalf("creating account %s: %v", name, err)
	}
	return a
}

// Invite creates the PartnerInvitation name for email: account globex,
// role editor, systems editor and insights, changed by mutate.
func (m *Manager) Invite(name, email string, mutate ...func(*v1alpha1.PartnerInvitation)) *v1alpha1.PartnerInvitation {
	m.T.Helper()
	inv := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: m.NS, Name: name},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: "globex", Email: v1alpha1.EmailAddress(email), Role: "editor",
			Systems: []v1alpha1.CatalogueKey{"editor", "insights"},
		},
	}
	for _, f := range mutate {
		f(inv)
	}
	if err := m.Env.Client.Create(context.Background(), inv); err != nil {
		m.T.Fatalf("creating invitation %s: %v", name, err)
	}
	return inv
}

// Key is name's key in the namespace.
func (m *Manager) Key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: m.NS, Name: name}
}

// Invitation reads an invitation from the API server.
func (m *Manager) Invitation(name string) *v1alpha1.PartnerInvitation {
	m.T.Helper()
	return read(m, name, &v1alpha1.PartnerInvitation{})
}

// GetAccount reads an account from the API server.
func (m *Manager) GetAccount(name string) *v1alpha1.PartnerAccount {
	m.T.Helper()
	return read(m, name, &v1alpha1.PartnerAccount{})
}

// DeleteAccount deletes an account (its finalizer holds it while grants
// are revoked).
func (m *Manager) DeleteAccount(name string) {
	m.T.Helper()
	if err := m.Env.Client.Delete(context.Background(), m.GetAccount(name)); err != nil {
		m.T.Fatalf("deleting account %s: %v", name, err)
	}
}

func read[T client.Object](m *Manager, name string, obj T) T {
	m.T.Helper()
	if err := m.Env.Client.Get(context.Background(), m.Key(name), obj); err != nil {
		m.T.Fatalf("reading %T %s: %v", obj, name, err)
	}
	return obj
}

// Exists reads name into obj and reports whether it is there.
func (m *Manager) Exists(obj client.Object, name string) bool {
	m.T.Helper()
	err := m.Env.Client.Get(context.Background(), m.Key(name), obj)
	if err != nil && !apierrors.IsNotFound(err) {
		m.T.Fatalf("reading %s: %v", name, err)
	}
	return err == nil
}

// Invitations lists the namespace's invitations by name.
func (m *Manager) Invitations() map[string]*v1alpha1.PartnerInvitation {
	m.T.Helper()
	var list v1alpha1.PartnerInvitationList
	if err := m.Env.Client.List(context.Background(), &list, client.InNamespace(m.NS)); err != nil {
		m.T.Fatal(err)
	}
	out := map[string]*v1alpha1.PartnerInvitation{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// EditInvitation changes an invitation as a user would (retrying
// conflicts).
func (m *Manager) EditInvitation(name string, f func(*v1alpha1.PartnerInvitation)) {
	m.T.Helper()
	Update(m.T, m.Env.Client, m.Key(name), &v1alpha1.PartnerInvitation{}, f)
}

// EditAccount changes an account as a user would (retrying conflicts).
func (m *Manager) EditAccount(name string, f func(*v1alpha1.PartnerAccount)) {
	m.T.Helper()
	Update(m.T, m.Env.Client, m.Key(name), &v1alpha1.PartnerAccount{}, f)
}

// Update reads key into obj, changes it with f and updates it, retrying
// conflicts, as a user's kubectl edit would.
func Update[T client.Object](t testing.TB, c client.Client, key types.NamespacedName, obj T, f func(T)) {
	t.Helper()
	retry(t, "editing "+key.String(), func() error {
		if err := c.Get(context.Background(), key, obj); err != nil {
			return err
		}
		f(obj)
		return c.Update(context.Background(), obj)
	})
}

// WriteStatus changes an invitation's status as another writer with
// access to the status subresource would (the acceptance page), with an
// optimistic lock, retrying conflicts.
func (m *Manager) WriteStatus(name string, f func(*v1alpha1.PartnerInvitation)) {
	m.T.Helper()
	retry(m.T, "writing the status of "+name, func() error {
		inv := m.Invitation(name)
		before := inv.DeepCopy()
		f(inv)
		return m.Env.Client.Status().Patch(context.Background(), inv, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
}

func retry(t testing.TB, what string, f func() error) {
	t.Helper()
	for range 20 {
		err := f()
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	t.Fatalf("%s: too many conflicts", what)
}

// Accept records the partner's acceptance of name the way the acceptance
// page does (testenv.MarkAccepted: state, acceptedAt, the conditions and
// the proof in one status write), once it is sent, at the fake clock's time.
func (m *Manager) Accept(name string) {
	m.T.Helper()
	m.AcceptSignedIn(name, nil)
}

// AcceptSignedIn is Accept by a partner who signed in as who first: the
// page records status.signedInAs, covered by the proof (nil: no sign-in).
func (m *Manager) AcceptSignedIn(name string, who *v1alpha1.SignedInIdentity) {
	m.T.Helper()
	m.WaitState(name, v1alpha1.InvitationPendingApproval)
	m.WriteStatus(name, func(inv *v1alpha1.PartnerInvitation) {
		inv.Status.SignedInAs = who.DeepCopy()
		if err := testenv.MarkAccepted(context.Background(), m.Env.Client, SecretNamespace, inv, m.Clock.Now()); err != nil {
			m.T.Fatal(err)
		}
	})
}

// WaitState waits until an invitation exists, in state, for its current
// generation, and returns it.
func (m *Manager) WaitState(name string, state v1alpha1.InvitationState) *v1alpha1.PartnerInvitation {
	m.T.Helper()
	var inv *v1alpha1.PartnerInvitation
	m.Eventually("invitation "+name+" to be "+string(state), func() bool {
		inv = &v1alpha1.PartnerInvitation{}
		return m.Exists(inv, name) && inv.Status.State == state && inv.Status.ObservedGeneration == inv.Generation
	})
	return inv
}

// WaitCondition waits until the condition typ of an invitation, for its
// current generation, has status and reason, and returns the invitation.
func (m *Manager) WaitCondition(name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.PartnerInvitation {
	m.T.Helper()
	var inv *v1alpha1.PartnerInvitation
	m.Eventually(name+" "+typ+"="+string(status)+"/"+reason, func() bool {
		inv = &v1alpha1.PartnerInvitation{}
		if !m.Exists(inv, name) {
			return false
		}
		c := meta.FindStatusCondition(inv.Status.Conditions, typ)
		return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == inv.Generation
	})
	return inv
}

// WaitAccount waits until cond holds for the account, and returns it.
func (m *Manager) WaitAccount(name, what string, cond func(*v1alpha1.PartnerAccount) bool) *v1alpha1.PartnerAccount {
	m.T.Helper()
	var a *v1alpha1.PartnerAccount
	m.Eventually("account "+name+": "+what, func() bool {
		a = &v1alpha1.PartnerAccount{}
		return m.Exists(a, name) && cond(a)
	})
	return a
}

// WaitExists waits until name exists (read into obj).
func (m *Manager) WaitExists(obj client.Object, name string) {
	m.T.Helper()
	m.Eventually(name+" to exist", func() bool { return m.Exists(obj, name) })
}

// WaitGone waits until name is deleted (obj says its kind).
func (m *Manager) WaitGone(obj client.Object, name string) {
	m.T.Helper()
	m.Eventually(name+" to be gone", func() bool { return !m.Exists(obj, name) })
}

// Group is the identity backend group partnerops makes for system and
// role in the namespace.
func (m *Manager) Group(system, role string) string {
	return fmt.Sprintf("partnerops.%s.%s.%s", m.NS, system, role)
}

// CreateSecret creates a Secret with data in SecretNamespace (for the
// configuration to name), named prefix-<the test's name>, deleted when the
// test ends, and returns its name.
func (m *Manager) CreateSecret(prefix string, data map[string]string) string {
	m.T.Helper()
	name := prefix + "-" + strings.ToLower(strings.ReplaceAll(m.T.Name(), "/", "-"))
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: SecretNamespace, Name: name}, StringData: data}
	if err := m.Env.Client.Create(context.Background(), sec); err != nil {
		m.T.Fatal(err)
	}
	m.T.Cleanup(func() { _ = m.Env.Client.Delete(context.Background(), sec) })
	return name
}
