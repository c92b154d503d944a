package account_test

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

// The tests of this package run the whole manager (both controllers, as in
// production) on the API server with a fake clock, the in-memory sender and
// backend (internal/testenv/managertest).

var env *testenv.Env

// t0 is when every test starts, on the fake clock.
var t0 = managertest.T0

// TestMain starts the control plane (none for a fuzz run: testenv.Main
// knows).
func TestMain(m *testing.M) { managertest.Main(m, &env) }

// errDown is what the backend answers while a test takes it down.
var errDown = fmt.Errorf("dial tcp 127.0.0.1:8091: connect: connection refused: %w", identity.ErrUnavailable)

// harness is one running manager for one test namespace, with this
// package's builders.
type harness struct{ *managertest.Manager }

// start runs a manager over a fresh namespace with a fake clock, the
// in-memory sender and the in-memory identity backend.
func start(t *testing.T) *harness {
	t.Helper()
	return &harness{managertest.Start(t, env)}
}

// user is one spec.users entry.
func user(email, role string, systems ...v1alpha1.CatalogueKey) v1alpha1.PartnerUser {
	return v1alpha1.PartnerUser{Email: v1alpha1.EmailAddress(email), Role: v1alpha1.CatalogueKey(role), Systems: systems}
}

// account creates a PartnerAccount with users.
func (h *harness) account(name string, users ...v1alpha1.PartnerUser) *v1alpha1.PartnerAccount {
	h.T.Helper()
	return h.Account(name, func(a *v1alpha1.PartnerAccount) { a.Spec.Users = users })
}

// invite creates a standalone PartnerInvitation (no owner) as an editor.
func (h *harness) invite(name, account, email string, systems ...v1alpha1.CatalogueKey) *v1alpha1.PartnerInvitation {
	h.T.Helper()
	return h.Invite(name, email, func(i *v1alpha1.PartnerInvitation) { i.Spec.Account, i.Spec.Systems = account, systems })
}

// accept records the partner's acceptance the way the acceptance page does,
// once the invitation is sent, and waits for it to be Accepted.
func (h *harness) accept(name string) {
	h.T.Helper()
	h.Accept(name)
	h.WaitState(name, v1alpha1.InvitationAccepted)
}

// waitReady waits until the account's Ready condition, for its current
// generation, has status and reason, and returns the account.
func (h *harness) waitReady(name string, status metav1.ConditionStatus, reason string) *v1alpha1.PartnerAccount {
	h.T.Helper()
	return h.WaitAccount(name, "Ready="+string(status)+"/"+reason, func(a *v1alpha1.PartnerAccount) bool {
		c := readyOf(a)
		return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == a.Generation &&
			a.Status.ObservedGeneration == a.Generation
	})
}

func readyOf(a *v1alpha1.PartnerAccount) *metav1.Condition {
	return meta.FindStatusCondition(a.Status.Conditions, v1alpha1.ConditionReady)
}

func hasFinalizer(o client.Object) bool {
	return slices.Contains(o.GetFinalizers(), v1alpha1.GrantsFinalizer)
}
