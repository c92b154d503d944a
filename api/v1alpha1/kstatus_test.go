package v1alpha1_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestNewObjectsAreInProgressForKstatus: an object no controller has
// written yet (here no controller runs) reads back with status
// {observedGeneration: 0}, the schema's default, so that kstatus (Flux's
// health checks) says InProgress, not Current, until partnerops has seen
// it; the status written later replaces it.
func TestNewObjectsAreInProgressForKstatus(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	acct := object(t, "PartnerAccount", ns, "globex", ``)
	inv := object(t, "PartnerInvitation", ns, "mindy", `systems: [editor]`)
	for _, o := range []*unstructured.Unstructured{acct, inv} {
		if err := env.Client.Create(ctx, o, strict); err != nil {
			t.Fatal(err)
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), got); err != nil {
			t.Fatal(err)
		}
		if og, found, _ := unstructured.NestedInt64(got.Object, "status", "observedGeneration"); !found || og != 0 {
			t.Errorf("%s: status.observedGeneration %d (found: %v), want the default 0", o.GetKind(), og, found)
		}
		res, err := status.Compute(got)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != status.InProgressStatus {
			t.Errorf("%s as created: kstatus %s (%q), want InProgress", o.GetKind(), res.Status, res.Message)
		}
	}
}
