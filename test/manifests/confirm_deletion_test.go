package manifests

import (
	"regexp"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
)

// confirmDeletionPolicy is the name config/default gives the policy and its binding.
const confirmDeletionPolicy = "partnerops-confirm-deletion"

// TestConfirmDeletionPolicy applies, for real, the ValidatingAdmissionPolicy
// and binding of config/default and deletes accounts with kubectl as an
// admin would: an account with members is refused with a message that
// names its member count and the command that confirms; that very command
// (taken from the message) annotates it, and the next delete goes through.
// An account without members, or without a status, needs no annotation;
// an annotation other than "true" does not confirm.
func TestConfirmDeletionPolicy(t *testing.T) {
	objs := render(t, "config/default")
	admission := objects{objs.Get(t, "ValidatingAdmissionPolicy", confirmDeletionPolicy), objs.Get(t, "ValidatingAdmissionPolicyBinding", confirmDeletionPolicy)}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	typed(t, admission[0], policy)
	typed(t, admission[1], binding)
	if policy.Namespace != "" || binding.Namespace != "" {
		t.Errorf("the policy and binding have namespaces %q and %q: both are cluster-scoped", policy.Namespace, binding.Namespace)
	}
	if binding.Spec.PolicyName != policy.Name || len(binding.Spec.ValidationActions) != 1 || binding.Spec.ValidationActions[0] != admissionregistrationv1.Deny {
		t.Errorf("the binding binds %q with %v, want %s with [Deny]", binding.Spec.PolicyName, binding.Spec.ValidationActions, policy.Name)
	}
	if len(policy.Spec.Validations) != 1 || !strings.Contains(policy.Spec.Validations[0].Expression, "'"+v1alpha1.ConfirmDeletionAnnotation+"'") {
		t.Errorf("the policy's validation does not read the annotation %s (v1alpha1.ConfirmDeletionAnnotation)", v1alpha1.ConfirmDeletionAnnotation)
	}

	apply(t, admission)
	t.Cleanup(func() {
		_ = env.Client.Delete(ctx, binding)
		_ = env.Client.Delete(ctx, policy)
	})

	ns := env.Namespace(t)
	kubeconfig := testenv.KubeconfigFile(t, env.Config, "")
	kc := func(args ...string) (string, error) {
		stdout, stderr, err := runErr(root, kubectl(t), append([]string{"--kubeconfig", kubeconfig}, args...)...)
		return stdout + stderr, err
	}
	gone := func(name string) bool {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.PartnerAccount{})
		return apierrors.IsNotFound(err)
	}

	member := newAccount(t, ns, "globex", 1)
	// The API server starts enforcing a new policy once its informer has
	// it: dry-run deletes (admission runs, nothing is deleted) until one
	// is refused.
	eventually(t, "the policy to refuse a dry-run delete of an account with a member", func() bool {
		err := env.Client.Delete(ctx, member, client.DryRunAll)
		if err != nil && !apierrors.IsForbidden(err) {
			t.Fatalf("a dry-run delete of an account with a member: %v, want it refused once the policy is active", err)
		}
		return err != nil
	})

	out, err := kc("delete", "partneraccount", "globex", "-n", ns, "--wait=false")
	if err == nil || gone("globex") {
		t.Fatalf("kubectl delete of an account with a member went through:\n%s", out)
	}
	for _, want := range []string{"PartnerAccount globex has 1 member ", "irreversible", "then delete it again"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	confirm := regexp.MustCompile(`kubectl (annotate partneraccount \S+ -n \S+ \S+=true)`).FindStringSubmatch(out)
	if confirm == nil {
		t.Fatalf("the refusal does not give the command that confirms:\n%s", out)
	}
	if want := "annotate partneraccount globex -n " + ns + " " + v1alpha1.ConfirmDeletionAnnotation + "=true"; confirm[1] != want {
		t.Errorf("the refusal says `kubectl %s`, want `kubectl %s`", confirm[1], want)
	}

	t.Run("an annotation other than true does not confirm", func(t *testing.T) {
		newAccount(t, ns, "initech", 2)
		if out, err := kc("annotate", "partneraccount", "initech", "-n", ns, v1alpha1.ConfirmDeletionAnnotation+"=yes"); err != nil {
			t.Fatalf("kubectl annotate: %v\n%s", err, out)
		}
		out, err := kc("delete", "partneraccount", "initech", "-n", ns, "--wait=false")
		if err == nil || gone("initech") || !strings.Contains(out, "PartnerAccount initech has 2 members ") {
			t.Errorf("kubectl delete with %s=yes: %v\n%s", v1alpha1.ConfirmDeletionAnnotation, err, out)
		}
	})

	// A delete collection by anyone else is checked object by object.
	t.Run("a delete collection is refused too", func(t *testing.T) {
		err := env.Client.DeleteAllOf(ctx, &v1alpha1.PartnerAccount{}, client.InNamespace(ns))
		if !apierrors.IsForbidden(err) || gone("globex") {
			t.Errorf("deleting every account of the namespace: %v, want refused with globex left", err)
		}
	})

	// Deleting the namespace is a deliberate act of its own: the namespace
	// controller's cleanup is not held up (a namespace stuck in
	// Terminating). The test API server runs no namespace controller, so
	// the delete is sent as its service account.
	t.Run("the namespace controller's cleanup is not refused", func(t *testing.T) {
		a := newAccount(t, ns, "wayne", 3)
		c := impersonate(t, "system:serviceaccount:kube-system:namespace-controller",
			"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated")
		if err := c.Delete(ctx, a); err != nil || !gone("wayne") {
			t.Errorf("the namespace controller deleting an account with members: %v", err)
		}
	})

	t.Run("the command in the message confirms", func(t *testing.T) {
		if out, err := kc(strings.Fields(confirm[1])...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", confirm[1], err, out)
		}
		if out, err := kc("delete", "partneraccount", "globex", "-n", ns, "--wait=false"); err != nil || !gone("globex") {
			t.Errorf("kubectl delete after annotating: %v\n%s", err, out)
		}
	})

	// The manager never deletes an account (its RBAC has no delete on
	// them, see rbac_test.go): it takes its finalizer off, an update the
	// policy does not look at, even once the annotation is gone.
	t.Run("taking the finalizer off is not a delete", func(t *testing.T) {
		a := newAccount(t, ns, "acme", 1)
		before := a.DeepCopy()
		a.Finalizers = []string{v1alpha1.GrantsFinalizer}
		a.Annotations = map[string]string{v1alpha1.ConfirmDeletionAnnotation: "true"}
		if err := env.Client.Patch(ctx, a, client.MergeFrom(before)); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Delete(ctx, a); err != nil {
			t.Fatalf("deleting a confirmed account: %v", err)
		}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil || a.DeletionTimestamp.IsZero() {
			t.Fatalf("the account after its delete: %v, deletionTimestamp %v; want it held by its finalizer", err, a.DeletionTimestamp)
		}
		before = a.DeepCopy()
		a.Annotations, a.Finalizers = nil, nil
		if err := env.Client.Patch(ctx, a, client.MergeFrom(before)); err != nil || !gone("acme") {
			t.Errorf("taking the finalizer (and the annotation) off a deleted account with a member: %v", err)
		}
	})

	t.Run("no members, no annotation needed", func(t *testing.T) {
		newAccount(t, ns, "hooli", 0) // status written, no members
		newAccount(t, ns, "umbrella", -1)
		for _, name := range []string{"hooli", "umbrella"} {
			if out, err := kc("delete", "partneraccount", name, "-n", ns, "--wait=false"); err != nil || !gone(name) {
				t.Errorf("kubectl delete of %s, without members: %v\n%s", name, err, out)
			}
		}
	})
}

// newAccount creates a PartnerAccount and writes a status with that many
// members through the status subresource, as the manager would (none
// written when members is negative).
func newAccount(t *testing.T, ns, name string, members int) *v1alpha1.PartnerAccount {
	t.Helper()
	a := &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.PartnerAccountSpec{
			DisplayName:    strings.ToUpper(name[:1]) + name[1:],
			AllowedDomains: []v1alpha1.DomainName{v1alpha1.DomainName(name + ".example")},
		},
	}
	if err := env.Client.Create(ctx, a); err != nil {
		t.Fatalf("creating PartnerAccount %s: %v", name, err)
	}
	if members < 0 {
		return a
	}
	a.Status.State = v1alpha1.AccountNoUsersOrSystems
	for i := range members {
		a.Status.Members = append(a.Status.Members, v1alpha1.Member{
			Email:      string(rune('a'+i)) + "@" + name + ".example",
			Role:       "viewer",
			AcceptedAt: metav1.Now(),
		})
	}
	if members > 0 {
		a.Status.State = v1alpha1.AccountActive
	}
	if err := env.Client.Status().Update(ctx, a); err != nil {
		t.Fatalf("writing the status of PartnerAccount %s: %v", name, err)
	}
	return a
}
