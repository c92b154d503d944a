package manifests

import (
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
)

// requestedByPolicy is the name config/default gives the requested-by
// policies (mutating and validating) and their bindings.
const requestedByPolicy = "partnerops-requested-by"

// TestRequestedByPolicy applies, for real, the MutatingAdmissionPolicy and
// the ValidatingAdmissionPolicy of config/default with their bindings, and
// writes as people (impersonated users bound to the tenant edit role), as
// the manager's service account (with config/default's RBAC), and, for the
// invitations an account owns, with the manager running: the annotation
// partnerops.dev/requested-by names who asked, cannot be forged at
// creation, and cannot be changed afterwards.
func TestRequestedByPolicy(t *testing.T) {
	objs := installNamespaceAndRBAC(t) // the tenant role the users get, the manager's RBAC
	var policies objects
	for _, o := range objs.OfKind("MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding") {
		if o.GetName() == requestedByPolicy {
			policies = append(policies, o)
		}
	}
	if len(policies) != 4 {
		t.Fatalf("config/default renders %d objects named %s, want a mutating and a validating policy with their bindings", len(policies), requestedByPolicy)
	}
	mutating := &admissionregistrationv1.MutatingAdmissionPolicy{}
	mutatingBinding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{}
	validatingBinding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	typed(t, objs.Get(t, "MutatingAdmissionPolicy", requestedByPolicy), mutating)
	typed(t, objs.Get(t, "MutatingAdmissionPolicyBinding", requestedByPolicy), mutatingBinding)
	typed(t, objs.Get(t, "ValidatingAdmissionPolicy", requestedByPolicy), &admissionregistrationv1.ValidatingAdmissionPolicy{})
	typed(t, objs.Get(t, "ValidatingAdmissionPolicyBinding", requestedByPolicy), validatingBinding)
	if mutatingBinding.Spec.PolicyName != requestedByPolicy || validatingBinding.Spec.PolicyName != requestedByPolicy {
		t.Errorf("the bindings bind %q and %q, want %s (kustomize renames the policies)", mutatingBinding.Spec.PolicyName, validatingBinding.Spec.PolicyName, requestedByPolicy)
	}
	for _, m := range mutating.Spec.Mutations {
		if m.ApplyConfiguration == nil || !strings.Contains(m.ApplyConfiguration.Expression, "'"+v1alpha1.RequestedByAnnotation+"'") {
			t.Errorf("the mutation does not set the annotation %s (v1alpha1.RequestedByAnnotation)", v1alpha1.RequestedByAnnotation)
		}
	}

	ns := env.Namespace(t)
	alice, bob, carol := tenant(t, ns, "alice"), tenant(t, ns, "bob"), tenant(t, ns, "carol")
	manager := impersonate(t, managerUser, managerGroups...)

	apply(t, policies)
	// The API server applies a new policy once its informer has it (and
	// the binding): dry runs until each is in effect. A mutating policy
	// also needs the schema of the kind it patches, which the API server
	// reads from its own OpenAPI every 5 seconds: until it has read the
	// CRDs' (just installed, when this test runs first), it answers 503.
	eventually(t, "the MutatingAdmissionPolicy to stamp a dry-run invitation", func() bool {
		inv := invitation(ns, "probe", nil)
		err := alice.Create(ctx, inv, client.DryRunAll)
		if apierrors.IsServiceUnavailable(err) && strings.Contains(err.Error(), "CustomResourceDefinitions") {
			return false
		}
		if err != nil {
			t.Fatalf("a dry-run create as alice: %v", err)
		}
		return requestedBy(inv) == "alice"
	})
	probe := create(t, alice, invitation(ns, "probe", nil))
	t.Cleanup(func() { removeRequestedByPolicies(t, policies, probe) })
	eventually(t, "the ValidatingAdmissionPolicy to refuse a dry-run change", func() bool {
		return apierrors.IsForbidden(setRequestedBy(alice, probe, "mallory", client.DryRunAll))
	})

	t.Run("an invitation names the user who created it", func(t *testing.T) {
		inv := create(t, alice, invitation(ns, "ann", nil))
		if got := requestedBy(inv); got != "alice" {
			t.Errorf("alice's invitation is requested by %q", got)
		}
		out, _ := run(t, root, kubectl(t), "--kubeconfig", testenv.KubeconfigFile(t, env.Config, ""), "describe", "pinv", "ann", "-n", ns)
		if !strings.Contains(out, v1alpha1.RequestedByAnnotation+": alice") {
			t.Errorf("kubectl describe does not show %s: alice:\n%s", v1alpha1.RequestedByAnnotation, out)
		}
	})

	t.Run("a value the client sends is overwritten", func(t *testing.T) {
		inv := create(t, alice, invitation(ns, "forged", map[string]string{v1alpha1.RequestedByAnnotation: "bob"}))
		if got := requestedBy(inv); got != "alice" {
			t.Errorf("alice's invitation sent as requested by bob is requested by %q", got)
		}
	})

	// bob creates an account; its requested-by is the one the manager
	// copies onto the invitations the account owns.
	globex := create(t, bob, account(ns, "globex"))
	if got := requestedBy(globex); got != "bob" {
		t.Errorf("bob's account is requested by %q", got)
	}
	owned := func(name string) *v1alpha1.PartnerInvitation {
		inv := invitation(ns, name, map[string]string{v1alpha1.RequestedByAnnotation: "bob"})
		inv.Labels = map[string]string{v1alpha1.AccountLabel: globex.Name}
		inv.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(globex, v1alpha1.GroupVersion.WithKind("PartnerAccount"))}
		return inv
	}

	t.Run("an owner reference does not keep a forged value", func(t *testing.T) {
		inv := create(t, alice, owned("owned-by-alice"))
		if got := requestedBy(inv); got != "alice" {
			t.Errorf("alice's invitation claiming globex as its owner, sent as requested by bob, is requested by %q", got)
		}
	})

	t.Run("the manager's copy is kept", func(t *testing.T) {
		inv := create(t, manager, owned("owned"))
		if got := requestedBy(inv); got != "bob" {
			t.Errorf("the manager's invitation owned by globex, requested by bob, is requested by %q", got)
		}
		// The manager never creates an invitation no account owns; if it
		// did, it would be named like anyone else.
		inv = create(t, manager, invitation(ns, "standalone-by-manager", map[string]string{v1alpha1.RequestedByAnnotation: "bob"}))
		if got := requestedBy(inv); got != managerUser {
			t.Errorf("the manager's invitation no account owns is requested by %q, want %s", got, managerUser)
		}
	})

	t.Run("an account names who last changed spec.users", func(t *testing.T) {
		a := create(t, bob, account(ns, "initech"))
		a = patch(t, carol, a, func(a *v1alpha1.PartnerAccount) { a.Spec.DisplayName = "Initech Ltd" })
		if got := requestedBy(a); got != "bob" {
			t.Errorf("after carol changed the display name, the account is requested by %q, want bob still", got)
		}
		a = patch(t, carol, a, func(a *v1alpha1.PartnerAccount) {
			a.Spec.Users = append(a.Spec.Users, user("mindy@initech.example"))
		})
		if got := requestedBy(a); got != "carol" {
			t.Errorf("after carol added a user, the account is requested by %q", got)
		}
		// A change of spec.users sent with another name is carol's.
		a = patch(t, carol, a, func(a *v1alpha1.PartnerAccount) {
			a.Spec.Users[0].Role = "admin"
			a.Annotations[v1alpha1.RequestedByAnnotation] = "dave"
		})
		if got := requestedBy(a); got != "carol" {
			t.Errorf("after carol changed a role sending requested-by dave, the account is requested by %q", got)
		}
		// The manager's own writes: its finalizer, and the status.
		a = patch(t, manager, a, func(a *v1alpha1.PartnerAccount) { a.Finalizers = []string{v1alpha1.GrantsFinalizer} })
		before := a.DeepCopy()
		a.Status.State = v1alpha1.AccountPendingApproval
		if err := manager.Status().Patch(ctx, a, client.MergeFrom(before)); err != nil {
			t.Fatalf("the manager writing the account's status: %v", err)
		}
		if got := requestedBy(a); got != "carol" {
			t.Errorf("after the manager's finalizer and status, the account is requested by %q, want carol still", got)
		}
		patch(t, manager, a, func(a *v1alpha1.PartnerAccount) { a.Finalizers = nil })
	})

	t.Run("nobody changes an invitation's", func(t *testing.T) {
		inv := get(t, &v1alpha1.PartnerInvitation{}, ns, "ann")
		for _, tc := range []struct {
			who string
			c   client.Client
		}{{"alice", alice}, {"carol", carol}, {"an administrator", env.Client}, {"the manager", manager}} {
			err := setRequestedBy(tc.c, inv, "mallory")
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "records who created PartnerInvitation ann (alice) and cannot be changed or removed") {
				t.Errorf("%s changing requested-by of alice's invitation: %v, want it refused saying why", tc.who, err)
			}
		}
		// As docs/security.md shows it.
		out, stderr, err := runErr(root, kubectl(t), "--kubeconfig", testenv.KubeconfigFile(t, env.Config, ""), "--as", "alice",
			"annotate", "pinv", "ann", "-n", ns, v1alpha1.RequestedByAnnotation+"=bob", "--overwrite")
		if err == nil || !strings.Contains(stderr, "denied request: the annotation partnerops.dev/requested-by records who created PartnerInvitation ann (alice)") {
			t.Errorf("kubectl annotate of alice's invitation with requested-by=bob: %v\n%s%s", err, out, stderr)
		}
		if err := setRequestedBy(alice, inv, ""); !apierrors.IsForbidden(err) {
			t.Errorf("alice removing requested-by of her invitation: %v, want it refused", err)
		}
		ownedInv := get(t, &v1alpha1.PartnerInvitation{}, ns, "owned")
		if err := setRequestedBy(manager, ownedInv, "carol"); !apierrors.IsForbidden(err) {
			t.Errorf("the manager changing requested-by of the invitation it created: %v, want it refused", err)
		}
		// Anything else about the invitation still changes.
		patch(t, alice, inv, func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "admin" })
	})

	t.Run("nobody changes an account's without changing spec.users", func(t *testing.T) {
		a := get(t, &v1alpha1.PartnerAccount{}, ns, "initech")
		// It says carol: bob may not claim it either.
		for _, who := range []string{"dave", "bob", ""} {
			err := setRequestedBy(bob, a, who)
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "it changes only with spec.users, to the user who changes them") {
				t.Errorf("bob setting the account's requested-by to %q: %v, want it refused saying why", who, err)
			}
		}
	})

	// Git-style applies (what Argo CD and Flux run) never send the
	// annotation: it stays as it was set, and applying again is never
	// refused.
	t.Run("kubectl apply leaves it alone", func(t *testing.T) {
		kubeconfig := testenv.KubeconfigFile(t, env.Config, "")
		for name, mode := range map[string]string{"git-server-side": "--server-side", "git-client-side": "--server-side=false"} {
			file := filepath.Join(t.TempDir(), "invitation.yaml")
			for _, role := range []string{"editor", "admin", "admin"} {
				writeFile(t, file, "apiVersion: partners.partnerops.dev/v1alpha1\nkind: PartnerInvitation\nmetadata:\n  name: "+name+
					"\n  namespace: "+ns+"\nspec:\n  email: "+name+"@globex.example\n  role: "+role+"\n")
				run(t, root, kubectl(t), "--kubeconfig", kubeconfig, "--as", "alice", "apply", mode, "-f", file)
			}
			if got := requestedBy(get(t, &v1alpha1.PartnerInvitation{}, ns, name)); got != "alice" {
				t.Errorf("an invitation alice applied (%s) three times is requested by %q", mode, got)
			}
		}
	})

	// The account controller copies the account's value onto the
	// invitations it creates for spec.users entries; the policy keeps it.
	t.Run("owned invitations name who asked for their entry", func(t *testing.T) {
		m := managertest.Start(t, env, managertest.InNamespace(ns))
		a := create(t, bob, account(ns, "hooli", user("mindy@hooli.example")))
		mindy := waitOwned(t, m, a, "mindy@hooli.example")
		if got := requestedBy(mindy); got != "bob" {
			t.Errorf("the invitation of bob's entry is requested by %q", got)
		}
		patch(t, carol, a, func(a *v1alpha1.PartnerAccount) { a.Spec.Users = append(a.Spec.Users, user("hank@hooli.example")) })
		if got := requestedBy(waitOwned(t, m, a, "hank@hooli.example")); got != "carol" {
			t.Errorf("the invitation of carol's entry is requested by %q", got)
		}
		if got := requestedBy(get(t, &v1alpha1.PartnerInvitation{}, ns, mindy.Name)); got != "bob" {
			t.Errorf("after carol's change, the invitation of bob's entry is requested by %q, want bob still", got)
		}
	})
}

// removeRequestedByPolicies deletes the policies and waits until the API
// server no longer applies them (probing with dry runs: a create, and a
// change to probe's requested-by), so that the next test's writes are
// neither stamped nor refused.
func removeRequestedByPolicies(t *testing.T, policies objects, probe *v1alpha1.PartnerInvitation) {
	for _, o := range policies {
		if err := env.Client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	eventually(t, "the requested-by policies to be out of effect", func() bool {
		inv := invitation(probe.Namespace, "probe-after", nil)
		if err := env.Client.Create(ctx, inv, client.DryRunAll); err != nil {
			t.Fatalf("a dry-run create: %v", err)
		}
		return requestedBy(inv) == "" && setRequestedBy(env.Client, probe, "mallory", client.DryRunAll) == nil
	})
}

// tenant is a client that acts as user, whom a RoleBinding in ns gives
// config/default's tenant edit role.
func tenant(t *testing.T, ns, user string) client.Client {
	t.Helper()
	bind(t, ns, user, tenantEditRole)
	return impersonate(t, user)
}

func invitation(ns, name string, annotations map[string]string) *v1alpha1.PartnerInvitation {
	return &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec:       v1alpha1.PartnerInvitationSpec{Email: v1alpha1.EmailAddress(name + "@globex.example"), Role: "editor"},
	}
}

func account(ns, name string, users ...v1alpha1.PartnerUser) *v1alpha1.PartnerAccount {
	return &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.PartnerAccountSpec{DisplayName: name, Users: users,
			AllowedDomains: []v1alpha1.DomainName{v1alpha1.DomainName(name + ".example")}},
	}
}

func user(email string) v1alpha1.PartnerUser {
	return v1alpha1.PartnerUser{Email: v1alpha1.EmailAddress(email), Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor"}}
}

func requestedBy(o client.Object) string { return o.GetAnnotations()[v1alpha1.RequestedByAnnotation] }

// setRequestedBy patches obj's requested-by to who ("": removes it) as c,
// leaving obj as it was.
func setRequestedBy(c client.Client, obj client.Object, who string, opts ...client.PatchOption) error {
	o := obj.DeepCopyObject().(client.Object)
	a := map[string]string{}
	for k, v := range o.GetAnnotations() {
		a[k] = v
	}
	if who == "" {
		delete(a, v1alpha1.RequestedByAnnotation)
	} else {
		a[v1alpha1.RequestedByAnnotation] = who
	}
	o.SetAnnotations(a)
	return c.Patch(ctx, o, client.MergeFrom(obj), opts...)
}

func create[T client.Object](t *testing.T, c client.Client, obj T) T {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
	return obj
}

func get[T client.Object](t *testing.T, obj T, ns, name string) T {
	t.Helper()
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// patch changes a copy of obj with f and sends it as c (a merge patch),
// and returns the object the API server answers with.
func patch[T client.Object](t *testing.T, c client.Client, obj T, f func(T)) T {
	t.Helper()
	o := obj.DeepCopyObject().(T)
	f(o)
	if err := c.Patch(ctx, o, client.MergeFrom(obj)); err != nil {
		t.Fatalf("patching %s: %v", obj.GetName(), err)
	}
	return o
}

// waitOwned waits for the invitation account a owns for email.
func waitOwned(t *testing.T, m *managertest.Manager, a *v1alpha1.PartnerAccount, email string) *v1alpha1.PartnerInvitation {
	t.Helper()
	var found *v1alpha1.PartnerInvitation
	m.Eventually("the invitation of "+email, func() bool {
		var list v1alpha1.PartnerInvitationList
		if err := env.Client.List(ctx, &list, client.InNamespace(a.Namespace), client.MatchingLabels{v1alpha1.AccountLabel: a.Name}); err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			if string(list.Items[i].Spec.Email) == email && metav1.IsControlledBy(&list.Items[i], a) {
				found = &list.Items[i]
				return true
			}
		}
		return false
	})
	return found
}
