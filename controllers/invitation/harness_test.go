package invitation_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

// The tests of this package run the whole manager on the API server with a
// fake clock, the in-memory sender and backend (internal/testenv/managertest).

var env *testenv.Env

// secretNamespace holds the link-signing keys in these tests.
const secretNamespace = managertest.SecretNamespace

// t0 is when every test starts, on the fake clock.
var t0 = managertest.T0

func TestMain(m *testing.M) { managertest.Main(m, &env) }

// harness is one running manager for one test namespace, with this
// package's helpers.
type harness struct{ *managertest.Manager }

// start runs a manager over a fresh namespace with a fake clock, the
// in-memory sender and the in-memory backend.
func start(t *testing.T, opts ...managertest.Option) *harness {
	t.Helper()
	return &harness{managertest.Start(t, env, opts...)}
}

// in returns the harness working in namespace ns (one of h.Others): the
// same manager, clock, sender and backend.
func (h *harness) in(ns string) *harness { return &harness{h.In(ns)} }

// grant invites email as name, accepts it, waits for its grants to be
// applied and returns it.
func (h *harness) grant(name, email string) *v1alpha1.PartnerInvitation {
	h.T.Helper()
	h.Invite(name, email)
	h.Accept(name)
	return h.waitGranted(name)
}

// waitGranted waits until GrantsSynced says the grants of name are applied
// (True/GrantsApplied), and returns it.
func (h *harness) waitGranted(name string) *v1alpha1.PartnerInvitation {
	h.T.Helper()
	return h.WaitCondition(name, v1alpha1.ConditionGrantsSynced, metav1.ConditionTrue, v1alpha1.ReasonGrantsApplied)
}

func condition(inv *v1alpha1.PartnerInvitation, t string) *metav1.Condition {
	return meta.FindStatusCondition(inv.Status.Conditions, t)
}

func keyOf(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}
