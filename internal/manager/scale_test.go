package manager

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// TestTrimForCache holds the cache's transform: managedFields and the
// last-applied annotation go, every other field stays as it was.
func TestTrimForCache(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	inv := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "acme", Name: "jane", Finalizers: []string{v1alpha1.GrantsFinalizer},
			Annotations: map[string]string{
				corev1.LastAppliedConfigAnnotation: `{"spec":{"email":"jane@globex.example"}}`,
				"example.com/kept":                 "yes",
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
		},
		Spec: v1alpha1.PartnerInvitationSpec{Account: "globex", Email: "jane@globex.example", Role: "editor",
			Systems: []v1alpha1.CatalogueKey{"editor", "insights"}, Locale: "fr"},
		Status: v1alpha1.PartnerInvitationStatus{State: v1alpha1.InvitationPendingApproval, Conditions: append(make([]metav1.Condition, 0, 8),
			metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "PendingApproval", Message: "Waiting", LastTransitionTime: now},
			metav1.Condition{Type: v1alpha1.ConditionEmailSent, Status: metav1.ConditionTrue, Reason: "Sent", Message: "Sent", LastTransitionTime: now})},
	}
	want := inv.DeepCopy()
	want.ManagedFields = nil
	delete(want.Annotations, corev1.LastAppliedConfigAnnotation)

	out, err := trimForCache(inv)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*v1alpha1.PartnerInvitation)
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("trimForCache changed more than managedFields and the last-applied annotation:\ngot  %+v\nwant %+v", got, want)
	}
	if cap(got.Status.Conditions) != len(got.Status.Conditions) {
		t.Errorf("conditions kept a capacity of %d for %d", cap(got.Status.Conditions), len(got.Status.Conditions))
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme",
		Annotations:   map[string]string{v1alpha1.DisplayNameAnnotation: "Acme"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	out, _ = trimForCache(ns)
	if got := out.(*corev1.Namespace); got.ManagedFields != nil || got.Annotations[v1alpha1.DisplayNameAnnotation] != "Acme" {
		t.Errorf("namespace after trimForCache: %+v", got.ObjectMeta)
	}

	tomb := toolscache.DeletedFinalStateUnknown{Key: "acme/jane"}
	if out, err := trimForCache(tomb); err != nil || out != any(tomb) {
		t.Errorf("trimForCache(tombstone) = %v, %v; want it unchanged", out, err)
	}
}
