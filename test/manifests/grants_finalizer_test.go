package manifests

import (
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnerops/partnerops/api/v1alpha1"
)

// grantsFinalizerPolicy is the name config/default gives the policy and its binding.
const grantsFinalizerPolicy = "partnerops-grants-finalizer"

// TestGrantsFinalizerPolicy applies, for real, the ValidatingAdmissionPolicy
// of config/default that keeps the finalizer partnerops.dev/grants for
// partnerops: a tenant (the tenant edit role) who strips it from an
// invitation or an account, also from one stuck in Terminating (the usual
// cure), is refused with a message that says why and where to look; the
// tenant's other changes and deletes go through; the manager, and a
// cluster administrator who does it knowingly, remove it.
func TestGrantsFinalizerPolicy(t *testing.T) {
	objs := installNamespaceAndRBAC(t) // the tenant role, the manager's RBAC
	admission := objects{objs.Get(t, "ValidatingAdmissionPolicy", grantsFinalizerPolicy), objs.Get(t, "ValidatingAdmissionPolicyBinding", grantsFinalizerPolicy)}
	if !strings.Contains(admission[0].Object["spec"].(map[string]any)["matchConditions"].([]any)[0].(map[string]any)["expression"].(string), "'"+v1alpha1.GrantsFinalizer+"'") {
		t.Errorf("the policy does not look for the finalizer %s (v1alpha1.GrantsFinalizer)", v1alpha1.GrantsFinalizer)
	}

	ns := env.Namespace(t)
	alice := tenant(t, ns, "alice")
	manager := impersonate(t, managerUser, managerGroups...)
	held := func(obj client.Object) client.Object {
		obj.SetFinalizers([]string{v1alpha1.GrantsFinalizer})
		return create(t, env.Client, obj)
	}
	strip := func(c client.Client, obj client.Object, opts ...client.PatchOption) error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		o := obj.DeepCopyObject().(client.Object)
		o.SetFinalizers(nil)
		return c.Patch(ctx, o, client.MergeFrom(obj), opts...)
	}
	inv := held(invitation(ns, "held", nil)).(*v1alpha1.PartnerInvitation)

	apply(t, admission)
	t.Cleanup(func() {
		for _, o := range admission {
			_ = env.Client.Delete(ctx, o)
		}
		probe := held(invitation(ns, "probe-after", nil))
		eventually(t, "the policy to be out of effect", func() bool { return strip(alice, probe, client.DryRunAll) == nil })
		_ = strip(env.Client, probe)
	})
	eventually(t, "the policy to refuse a tenant's dry-run removal of the finalizer", func() bool {
		err := strip(alice, inv, client.DryRunAll)
		if err != nil && !apierrors.IsForbidden(err) {
			t.Fatalf("a tenant's dry-run removal of the finalizer: %v, want it refused once the policy is active", err)
		}
		return err != nil
	})

	err := strip(alice, inv)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("a tenant removed the finalizer: %v", err)
	}
	for _, want := range []string{"partnerops.dev/grants holds partnerinvitations/held", "the grants would stay there with no record",
		"kubectl describe partnerinvitations held -n " + ns, "GrantsSynced"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}

	// Everything else a tenant does stays free: a change of the spec, and
	// the delete itself, which the finalizer holds until partnerops lets go.
	patch(t, alice, inv, func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "viewer" })
	if err := alice.Delete(ctx, inv); err != nil {
		t.Fatalf("a tenant's delete: %v", err)
	}
	if err := strip(alice, inv); !apierrors.IsForbidden(err) {
		t.Errorf("a tenant removed the finalizer of an invitation in Terminating: %v", err)
	}
	if err := strip(manager, inv); err != nil {
		t.Errorf("the manager could not remove its finalizer: %v", err)
	}
	eventually(t, "the invitation to go once the manager let go", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(inv), &v1alpha1.PartnerInvitation{}))
	})

	acct := held(account(ns, "globex"))
	if err := strip(alice, acct); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "partneraccounts/globex") {
		t.Errorf("a tenant removed an account's finalizer: %v", err)
	}
	// A cluster administrator (here the test's own client, in
	// system:masters) may: knowingly, the grants being dealt with.
	if err := strip(env.Client, acct); err != nil {
		t.Errorf("a cluster administrator could not remove the finalizer: %v", err)
	}
	if got := get(t, &v1alpha1.PartnerAccount{}, ns, "globex"); slices.Contains(got.Finalizers, v1alpha1.GrantsFinalizer) {
		t.Error("the finalizer is still there")
	}
}
