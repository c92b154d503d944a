package helm

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/partnerops/partnerops/internal/testenv/manifest"
)

// The chart and config/default must install the same thing: these tests
// render both (the chart as release "partnerops" in partnerops-system, with
// the default values) and compare them, so that neither drifts from the
// other. Where the chart renders from files/config (copies of config/),
// they also catch a stale copy or a template that picks the wrong part.

// identity is how an object is named in both renders.
func identity(o *unstructured.Unstructured) string {
	name := o.GetName()
	if o.GetKind() == "ConfigMap" && strings.HasPrefix(name, configMap+"-") {
		name = configMap // kustomize's name ends with a hash of the content
	}
	return o.GetKind() + " " + o.GetNamespace() + "/" + name
}

// extras turns on what config/default's Components add: the chart's
// values for config/prometheus and config/network-policy.
var extras = map[string]any{
	"metrics":       map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true}},
	"networkPolicy": map[string]any{"enabled": true},
}

// TestSameObjectsAsConfigDefault: the chart installs the objects of
// config/default by the same names and namespaces, but the Namespace
// (Helm's --create-namespace or yours, docs/install.md), and with its
// toggles on, those of the Components config/prometheus and
// config/network-policy too.
func TestSameObjectsAsConfigDefault(t *testing.T) {
	for name, tc := range map[string]struct {
		kustomized objects
		vals       map[string]any
	}{
		"config/default":                  {manifest.Kustomize(t, "config/default"), nil},
		"with the Components' toggles on": {manifest.KustomizeDefault(t, "config/prometheus", "config/network-policy"), extras},
	} {
		t.Run(name, func(t *testing.T) {
			var want, got []string
			for _, o := range tc.kustomized.Without("Namespace") {
				want = append(want, identity(o))
			}
			for _, o := range render(t, tc.vals) {
				got = append(got, identity(o))
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("the chart renders\n  %s\nkustomize\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// pair returns, for each object of the given kinds of config/default with
// the Components config/prometheus and config/network-policy, the chart's
// object of the same identity (with the toggles of those Components on).
func pair(t *testing.T, kinds ...string) (kustomized, charted []*unstructured.Unstructured) {
	t.Helper()
	chart := map[string]*unstructured.Unstructured{}
	for _, o := range render(t, extras) {
		chart[identity(o)] = o
	}
	for _, o := range manifest.KustomizeDefault(t, "config/prometheus", "config/network-policy").OfKind(kinds...) {
		c, ok := chart[identity(o)]
		if !ok {
			t.Fatalf("the chart has no %s", identity(o))
		}
		kustomized, charted = append(kustomized, o), append(charted, c)
	}
	if len(kustomized) == 0 {
		t.Fatalf("config/default has no %v", kinds)
	}
	return kustomized, charted
}

// TestSameRBAC: every Role and ClusterRole has the same rules (role.yaml's
// are generated from the code's +kubebuilder:rbac markers), every binding
// the same role and subjects.
func TestSameRBAC(t *testing.T) {
	kustomized, charted := pair(t, "Role", "ClusterRole")
	for i := range kustomized {
		want, got := typedPair[rbacv1.ClusterRole](t, kustomized[i], charted[i]) // a Role's fields are a subset
		if !equality.Semantic.DeepEqual(got.Rules, want.Rules) {
			t.Errorf("%s: the chart's rules\n  %v\nconfig/default's\n  %v", identity(kustomized[i]), got.Rules, want.Rules)
		}
	}
	kustomized, charted = pair(t, "RoleBinding", "ClusterRoleBinding")
	for i := range kustomized {
		want, got := typedPair[rbacv1.ClusterRoleBinding](t, kustomized[i], charted[i])
		if !reflect.DeepEqual(got.RoleRef, want.RoleRef) || !reflect.DeepEqual(got.Subjects, want.Subjects) {
			t.Errorf("%s: the chart binds %v to %v, config/default %v to %v", identity(kustomized[i]), got.RoleRef, got.Subjects, want.RoleRef, want.Subjects)
		}
	}
}

// TestSameManagerPod: the chart's pod is config/manager/manager.yaml's,
// field by field (security contexts, probes, ports, args, env, resources,
// mounts, grace period, service account, …), but for what the chart names
// otherwise: the ConfigMap (kustomize's has a hash; the chart rolls the pods
// with checksum/config instead) and the explicit imagePullPolicy.
func TestSameManagerPod(t *testing.T) {
	kustomized, charted := pair(t, "Deployment")
	want, got := typedPair[appsv1.Deployment](t, kustomized[0], charted[0])

	wantPod, gotPod := want.Spec.Template.Spec.DeepCopy(), got.Spec.Template.Spec.DeepCopy()
	for _, v := range wantPod.Volumes {
		if v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, configMap+"-") {
			v.ConfigMap.Name = configMap
		}
	}
	if p := gotPod.Containers[0].ImagePullPolicy; p != corev1.PullIfNotPresent {
		t.Errorf("imagePullPolicy %s, want IfNotPresent (the default for a tagged image)", p)
	}
	gotPod.Containers[0].ImagePullPolicy = ""
	if !equality.Semantic.DeepEqual(gotPod, wantPod) {
		t.Errorf("the chart's pod differs from config/default's (-config/default +chart):\n%s", diff(t, wantPod, gotPod))
	}

	if got, want := got.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"], want.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"]; got != want {
		t.Errorf("default-container %q, want %q", got, want)
	}
	if !contains(got.Spec.Selector.MatchLabels, want.Spec.Selector.MatchLabels) || !contains(got.Spec.Template.Labels, got.Spec.Selector.MatchLabels) {
		t.Errorf("selector %v, pod labels %v: want config/default's %v and the release's instance", got.Spec.Selector.MatchLabels, got.Spec.Template.Labels, want.Spec.Selector.MatchLabels)
	}
	if *got.Spec.Replicas != *want.Spec.Replicas {
		t.Errorf("replicas %d, want %d", *got.Spec.Replicas, *want.Spec.Replicas)
	}
}

// typedPair converts an object of kustomize's and the chart's into their Go
// type.
func typedPair[T any](t *testing.T, kustomized, charted *unstructured.Unstructured) (want, got *T) {
	t.Helper()
	want, got = new(T), new(T)
	manifest.Typed(t, kustomized, want)
	manifest.Typed(t, charted, got)
	return want, got
}

// contains reports whether labels has every label of subset.
func contains(labels, subset map[string]string) bool {
	for k, v := range subset {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestSameServices: the acceptance page's and the metrics' Services have
// config/default's ports and select the same pods (and the release's).
func TestSameServices(t *testing.T) {
	kustomized, charted := pair(t, "Service")
	for i := range kustomized {
		want, got := typedPair[corev1.Service](t, kustomized[i], charted[i])
		if !reflect.DeepEqual(got.Spec.Ports, want.Spec.Ports) {
			t.Errorf("%s: ports %v, want %v", want.Name, got.Spec.Ports, want.Spec.Ports)
		}
		if !contains(got.Spec.Selector, want.Spec.Selector) {
			t.Errorf("%s: selector %v, want config/default's %v", want.Name, got.Spec.Selector, want.Spec.Selector)
		}
		if got.Spec.Type != want.Spec.Type && got.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("%s: type %s, want ClusterIP (config/default's)", want.Name, got.Spec.Type)
		}
	}
}

// TestSameCRDs: the chart's CRDs are config/crd/bases' (generated from
// api/v1alpha1), with the chart's labels and, by default, the keep policy.
func TestSameCRDs(t *testing.T) {
	kustomized, charted := pair(t, "CustomResourceDefinition")
	for i := range kustomized {
		want, got := typedPair[apiextensionsv1.CustomResourceDefinition](t, kustomized[i], charted[i])
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("%s: the chart's spec differs from config/crd/bases' (run `make manifests`; -config/crd/bases +chart):\n%s", want.Name, diff(t, want.Spec, got.Spec))
		}
		if !contains(got.Annotations, want.Annotations) {
			t.Errorf("%s: annotations %v, want config/crd/bases' %v too", want.Name, got.Annotations, want.Annotations)
		}
	}
}

// TestSameAdmissionPolicies: the admission policies and their bindings are
// config/admission's, each binding naming its policy. Their strings are
// compared with runs of white space as one space: kustomize's YAML parser
// and Helm's fold the more-indented lines of a folded scalar (>-) into
// different line breaks, which CEL reads alike.
func TestSameAdmissionPolicies(t *testing.T) {
	for _, kind := range []string{"ValidatingAdmissionPolicy", "MutatingAdmissionPolicy"} {
		kustomized, charted := pair(t, kind)
		for i := range kustomized {
			want := oneSpace(kustomized[i].Object["spec"])
			got := oneSpace(charted[i].Object["spec"])
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("%s: the chart's spec differs from config/admission's (-config/default +chart):\n%s", identity(kustomized[i]), diff(t, want, got))
			}
		}
		kustomized, charted = pair(t, kind+"Binding")
		for i := range kustomized {
			want, _, _ := unstructured.NestedMap(kustomized[i].Object, "spec")
			got, _, _ := unstructured.NestedMap(charted[i].Object, "spec")
			if !equality.Semantic.DeepEqual(got, want) || got["policyName"] != charted[i].GetName() {
				t.Errorf("%s: the chart's binding %v, config/default's %v", identity(kustomized[i]), got, want)
			}
		}
	}
}

// oneSpace returns v with every run of white space in its strings made one
// space.
func oneSpace(v any) any {
	switch v := v.(type) {
	case string:
		return strings.Join(strings.Fields(v), " ")
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = oneSpace(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = oneSpace(e)
		}
		return out
	}
	return v
}

// TestSameNetworkPolicy: with networkPolicy.enabled and nothing else, the
// chart's NetworkPolicy is config/network-policy's (the ports it derives
// from the configuration are the shipped configuration's 587 and 443).
func TestSameNetworkPolicy(t *testing.T) {
	kustomized, charted := pair(t, "NetworkPolicy")
	want, got := typedPair[networkingv1.NetworkPolicy](t, kustomized[0], charted[0])
	if !contains(got.Spec.PodSelector.MatchLabels, want.Spec.PodSelector.MatchLabels) {
		t.Errorf("podSelector %v, want config/network-policy's %v", got.Spec.PodSelector.MatchLabels, want.Spec.PodSelector.MatchLabels)
	}
	got.Spec.PodSelector = want.Spec.PodSelector
	if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
		t.Errorf("the chart's NetworkPolicy differs from config/network-policy's (-config/network-policy +chart):\n%s", diff(t, want.Spec, got.Spec))
	}
}

// TestSameMonitoring: with metrics.serviceMonitor and
// metrics.prometheusRule enabled, the chart's ServiceMonitor, PrometheusRule,
// scraper account, its token Secret and its binding are config/prometheus's
// (the ServiceMonitor's selector also names the release).
func TestSameMonitoring(t *testing.T) {
	kustomized, charted := pair(t, "ServiceMonitor", "PrometheusRule", "ServiceAccount", "Secret", "ClusterRoleBinding")
	for i := range kustomized {
		want, got := kustomized[i].DeepCopy(), charted[i].DeepCopy()
		if want.GetKind() == "ServiceMonitor" {
			labels, _, _ := unstructured.NestedStringMap(got.Object, "spec", "selector", "matchLabels")
			wantLabels, _, _ := unstructured.NestedStringMap(want.Object, "spec", "selector", "matchLabels")
			if !contains(labels, wantLabels) {
				t.Errorf("ServiceMonitor selector %v, want config/prometheus's %v", labels, wantLabels)
			}
			unstructured.RemoveNestedField(got.Object, "spec", "selector")
			unstructured.RemoveNestedField(want.Object, "spec", "selector")
		}
		for _, field := range []string{"spec", "rules", "roleRef", "subjects", "type", "automountServiceAccountToken"} {
			if w, g := oneSpace(want.Object[field]), oneSpace(got.Object[field]); !equality.Semantic.DeepEqual(g, w) {
				t.Errorf("%s: %s differs from config/prometheus's (-config/prometheus +chart):\n%s", identity(want), field, diff(t, w, g))
			}
		}
		if want.GetKind() == "Secret" && got.GetAnnotations()["kubernetes.io/service-account.name"] != want.GetAnnotations()["kubernetes.io/service-account.name"] {
			t.Errorf("the token Secret is for %q, want %q", got.GetAnnotations()["kubernetes.io/service-account.name"], want.GetAnnotations()["kubernetes.io/service-account.name"])
		}
	}
}

// diff shows two values as YAML, line by line: what config/default has (-)
// and the chart has (+).
func diff(t *testing.T, want, got any) string {
	t.Helper()
	lines := func(v any) []string {
		out, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(string(out), "\n")
	}
	return cmp.Diff(lines(want), lines(got))
}
