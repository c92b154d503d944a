package managertest

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// Kstatus is what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, the
// library Flux's health checks and `kubectl wait`-like tools use) computes
// for obj as it is: Current, InProgress, Failed or Terminating.
func Kstatus(t testing.TB, obj runtime.Object) *status.Result {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatalf("converting %T: %v", obj, err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatalf("kstatus of %T: %v", obj, err)
	}
	return res
}

// WaitKstatus waits until kstatus computes want for the object name (obj
// is filled with it), and returns the result.
func (m *Manager) WaitKstatus(obj client.Object, name string, want status.Status) *status.Result {
	m.T.Helper()
	var res *status.Result
	m.Eventually(fmt.Sprintf("kstatus %s for %T %s", want, obj, name), func() bool {
		read(m, name, obj)
		res = Kstatus(m.T, obj)
		return res.Status == want
	})
	return res
}

// ExpectKstatus waits until kstatus computes want for the object name,
// then checks that the True one of its Reconciling and Stalled conditions
// has reason ("" for neither), both present for its generation.
func (m *Manager) ExpectKstatus(obj client.Object, name string, want status.Status, reason string) {
	m.T.Helper()
	res := m.WaitKstatus(obj, name, want)
	var withStatus struct {
		Status struct {
			Conditions []metav1.Condition `json:"conditions"`
		} `json:"status"`
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err == nil {
		err = runtime.DefaultUnstructuredConverter.FromUnstructured(u, &withStatus)
	}
	if err != nil {
		m.T.Fatalf("reading the conditions of %T %s: %v", obj, name, err)
	}
	if got := ProgressReason(m.T, withStatus.Status.Conditions, obj.GetGeneration()); got != reason {
		m.T.Errorf("the True one of Reconciling and Stalled has reason %q, want %q (kstatus: %s %q)", got, reason, res.Status, res.Message)
	}
}

// ProgressReason is the reason of the True one of kstatus's Reconciling
// and Stalled conditions ("" when both are False); it fails the test when
// either is missing, not of generation, or both are True.
func ProgressReason(t testing.TB, conditions []metav1.Condition, generation int64) string {
	t.Helper()
	var reasons []string
	for _, typ := range []string{v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled} {
		c := meta.FindStatusCondition(conditions, typ)
		if c == nil || c.ObservedGeneration != generation {
			t.Fatalf("%s = %+v, want it present for generation %d", typ, c, generation)
		}
		if c.Status == metav1.ConditionTrue {
			reasons = append(reasons, c.Reason)
		}
	}
	switch len(reasons) {
	case 0:
		return ""
	case 1:
		return reasons[0]
	}
	t.Fatalf("both Reconciling and Stalled are True: %v", reasons)
	return ""
}
