package managertest

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
