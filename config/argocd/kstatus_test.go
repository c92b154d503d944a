package argocd

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// kstatusTests is kstatus.yaml: what kstatus computes for each testdata
// object, and, when it does not agree with the Argo CD health check, why.
type kstatusTests struct {
	Tests []struct {
		InputPath string        `json:"inputPath"`
		Status    status.Status `json:"status"`
		Note      string        `json:"note,omitempty"`
	} `json:"tests"`
}

// TestKstatus computes, with kstatus (sigs.k8s.io/cli-utils/pkg/kstatus:
// Flux's health checks), the status of every testdata object of the Argo
// CD health checks: each has its expectation in kstatus.yaml, and, unless
// a note says why not, agrees with what the Argo CD check says of it.
func TestKstatus(t *testing.T) {
	raw, err := os.ReadFile("kstatus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want kstatusTests
	if err := yaml.UnmarshalStrict(raw, &want); err != nil {
		t.Fatalf("kstatus.yaml: %v", err)
	}
	health := map[string]healthStatus{}
	for _, kind := range kinds {
		c := loadCheck(t, kind)
		for _, tc := range c.tests {
			health[filepath.ToSlash(filepath.Join(c.dir, tc.InputPath))] = tc.HealthStatus
		}
	}
	var listed []string
	for _, tc := range want.Tests {
		listed = append(listed, tc.InputPath)
		t.Run(tc.InputPath, func(t *testing.T) {
			obj := loadObject(t, tc.InputPath)
			res, err := status.Compute(obj)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.Status {
				t.Errorf("kstatus %s (%q), want %s", res.Status, res.Message, tc.Status)
			}
			h, ok := health[tc.InputPath]
			if !ok {
				t.Fatalf("%s is in no health_test.yaml", tc.InputPath)
			}
			reconciling := conditionTrue(t, obj.Object, v1alpha1.ConditionReconciling)
			agrees := false
			switch h.Status {
			case "Healthy":
				agrees = res.Status == status.CurrentStatus
			case "Progressing":
				agrees = res.Status == status.InProgressStatus || res.Status == status.TerminatingStatus
			case "Degraded":
				agrees = res.Status == status.FailedStatus || (res.Status == status.InProgressStatus && reconciling)
			}
			if agrees == (tc.Note != "") {
				t.Errorf("Argo CD says %s, kstatus %s (Reconciling=True: %v): a note must say why exactly when they disagree (note: %q)",
					h.Status, res.Status, reconciling, tc.Note)
			}
		})
	}
	var files []string
	for _, kind := range kinds {
		f, err := filepath.Glob(filepath.Join(group, kind, "testdata", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f {
			files = append(files, filepath.ToSlash(p))
		}
	}
	sort.Strings(files)
	sort.Strings(listed)
	if len(files) != len(listed) {
		t.Errorf("kstatus.yaml lists %d objects, testdata holds %d: every testdata object needs one expectation", len(listed), len(files))
	}
	for i := range min(len(files), len(listed)) {
		if files[i] != listed[i] {
			t.Errorf("kstatus.yaml and testdata differ at %s / %s", listed[i], files[i])
			break
		}
	}
}

// conditionTrue reports whether the object's condition typ is True.
func conditionTrue(t *testing.T, obj map[string]any, typ string) bool {
	t.Helper()
	var withStatus struct {
		Status struct {
			Conditions []metav1.Condition `json:"conditions"`
		} `json:"status"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &withStatus); err != nil {
		t.Fatal(err)
	}
	return meta.IsStatusConditionTrue(withStatus.Status.Conditions, typ)
}
