package manifests

import (
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The optional Components, config/prometheus and config/network-policy,
// rendered in an overlay of config/default as docs/install.md shows it.

// TestComponentsOnlyAdd: each Component, and both together, add their
// objects to config/default and change nothing of it.
func TestComponentsOnlyAdd(t *testing.T) {
	base := render(t, "config/default").yaml(t)
	for _, tc := range []struct {
		components []string
		added      []string
	}{
		{[]string{"config/prometheus"}, []string{"ServiceMonitor/partnerops-metrics", "ClusterRoleBinding/partnerops-metrics-reader"}},
		{[]string{"config/network-policy"}, []string{"NetworkPolicy/partnerops-manager"}},
		{[]string{"config/prometheus", "config/network-policy"},
			[]string{"ServiceMonitor/partnerops-metrics", "ClusterRoleBinding/partnerops-metrics-reader", "NetworkPolicy/partnerops-manager"}},
	} {
		t.Run(strings.Join(tc.components, "+"), func(t *testing.T) {
			var rest objects
			var added []string
			for _, o := range renderOverlay(t, tc.components...) {
				id := o.GetKind() + "/" + o.GetName()
				if slices.Contains(tc.added, id) {
					added = append(added, id)
					if o.GetKind() != "ClusterRoleBinding" && o.GetNamespace() != namespace {
						t.Errorf("%s is in namespace %q, want %s", id, o.GetNamespace(), namespace)
					}
					continue
				}
				rest = append(rest, o)
			}
			if slices.Sort(added); !slices.Equal(added, slices.Sorted(slices.Values(tc.added))) {
				t.Errorf("added %v, want %v", added, tc.added)
			}
			if got := rest.yaml(t); got != base {
				t.Errorf("the Components changed config/default:\n%s", lineDiff(got, base))
			}
		})
	}
}

// TestInstallOverlay renders the overlay of docs/install.md's step 3: its
// own image and its own configuration replace config/default's, and the
// Deployment runs and mounts them.
func TestInstallOverlay(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join(root, "config", "manager", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mine := strings.Replace(string(shipped), "publicURL: https://partners.example.com", "publicURL: https://partners.acme.example", 1)
	if mine == string(shipped) {
		t.Fatal("config/manager/config.yaml has no publicURL: https://partners.example.com to change")
	}
	objs := renderKustomization(t, `resources:
- {{root}}/config/default
images:
- name: partnerops
  newName: registry.example.com/partnerops
  newTag: v0.1.0
configMapGenerator:
- name: partnerops-manager-config
  namespace: partnerops-system
  behavior: replace
  files:
  - config.yaml
`, map[string]string{"config.yaml": mine})
	d := managerDeployment(t, objs)
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "registry.example.com/partnerops:v0.1.0" {
		t.Errorf("image %s, want registry.example.com/partnerops:v0.1.0", got)
	}
	if cms := objs.ofKind("ConfigMap"); len(cms) != 1 {
		t.Errorf("%d ConfigMaps, want the replaced one alone", len(cms))
	}
	if got := shippedConfig(t, objs, d).Acceptance.PublicURL; got != "https://partners.acme.example" {
		t.Errorf("the manager reads publicURL %s, want the overlay's https://partners.acme.example", got)
	}
}

// TestPrometheusComponent checks the ServiceMonitor by its fields: the
// test API server has no Prometheus Operator CRDs, so it cannot be applied
// there. It scrapes the metrics Service (and not the acceptance page's) on
// its https port with Prometheus's service account token; the binding it
// ships lets that account `get /metrics`, which is what the manager asks the
// API server about each scraper (applied for real and asked here).
func TestPrometheusComponent(t *testing.T) {
	objs := renderOverlay(t, "config/prometheus")
	sm := objs.get(t, "ServiceMonitor", "partnerops-metrics")
	if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Errorf("apiVersion %s", sm.GetAPIVersion())
	}
	metrics, acceptance := &corev1.Service{}, &corev1.Service{}
	typed(t, objs.get(t, "Service", "partnerops-metrics"), metrics)
	typed(t, objs.get(t, "Service", "partnerops-acceptance"), acceptance)

	selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(selector) == 0 || !matches(selector, metrics.Labels) {
		t.Errorf("selector %v does not select the metrics Service %v", selector, metrics.Labels)
	}
	if matches(selector, acceptance.Labels) {
		t.Errorf("selector %v selects the acceptance Service too", selector)
	}
	if sm.GetNamespace() != metrics.Namespace {
		t.Errorf("the ServiceMonitor is in %s, the Service in %s", sm.GetNamespace(), metrics.Namespace)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("endpoints %v, want one", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	for _, f := range []struct {
		path []string
		want any
	}{
		{[]string{"port"}, metrics.Spec.Ports[0].Name},
		{[]string{"scheme"}, "https"},
		{[]string{"path"}, "/metrics"},
		{[]string{"bearerTokenFile"}, "/var/run/secrets/kubernetes.io/serviceaccount/token"},
		// The manager's certificate is self-signed, made at start.
		{[]string{"tlsConfig", "insecureSkipVerify"}, true},
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(ep, f.path...)
		if got != f.want {
			t.Errorf("endpoints[0].%s = %v, want %v", strings.Join(f.path, "."), got, f.want)
		}
	}

	binding, reader := &rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRole{}
	typed(t, objs.get(t, "ClusterRoleBinding", "partnerops-metrics-reader"), binding)
	typed(t, objs.get(t, "ClusterRole", binding.RoleRef.Name), reader)
	if want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}; !slices.EqualFunc(reader.Rules, want, rulesEqual) {
		t.Errorf("ClusterRole %s grants %v, want only get /metrics", reader.Name, reader.Rules)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != rbacv1.ServiceAccountKind {
		t.Fatalf("subjects %v, want Prometheus's service account", binding.Subjects)
	}

	apply(t, objects{objs.get(t, "ClusterRole", reader.Name), objs.get(t, "ClusterRoleBinding", binding.Name)})
	t.Cleanup(func() { _ = env.Client.Delete(ctx, binding) })
	s := binding.Subjects[0]
	if ok, reason := scraperMay(t, "system:serviceaccount:"+s.Namespace+":"+s.Name); !ok {
		t.Errorf("Prometheus's account %s/%s may not get /metrics (%s)", s.Namespace, s.Name, reason)
	}
	if ok, _ := scraperMay(t, "system:serviceaccount:"+s.Namespace+":someone-else"); ok {
		t.Errorf("any account may get /metrics")
	}
}

func rulesEqual(a, b rbacv1.PolicyRule) bool {
	return slices.Equal(a.NonResourceURLs, b.NonResourceURLs) && slices.Equal(a.Verbs, b.Verbs) &&
		len(a.APIGroups)+len(a.Resources)+len(a.ResourceNames) == 0
}

// scraperMay is the question the manager's metrics endpoint asks the API
// server about a scraper.
func scraperMay(t *testing.T, user string) (bool, string) {
	t.Helper()
	p := permission{url: "/metrics", verb: "get"}
	return allowedFor(t, user, []string{"system:serviceaccounts", "system:authenticated"}, p)
}

// TestNetworkPolicyComponent: the NetworkPolicy passes the API server's
// validation (server-side dry run), selects the manager's pods, lets in
// the acceptance page from anywhere, metrics only from namespaces labelled
// for monitoring, and the probes; and lets out only DNS, the API server,
// the mail server and the identity backend, on the ports of the shipped
// configuration.
func TestNetworkPolicyComponent(t *testing.T) {
	objs := renderOverlay(t, "config/network-policy")
	u := objs.get(t, "NetworkPolicy", "partnerops-manager")
	apply(t, objs.ofKind("Namespace"))
	apply(t, objects{u}, "--dry-run=server")

	np := &networkingv1.NetworkPolicy{}
	typed(t, u, np)
	d := managerDeployment(t, objs)
	pod := d.Spec.Template
	if len(np.Spec.PodSelector.MatchLabels) == 0 || !matches(np.Spec.PodSelector.MatchLabels, pod.Labels) || len(np.Spec.PodSelector.MatchExpressions) > 0 {
		t.Errorf("podSelector %v does not select the manager's pods %v", np.Spec.PodSelector, pod.Labels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}

	t.Run("ingress", func(t *testing.T) {
		containerPorts := map[string]bool{}
		for _, p := range pod.Spec.Containers[0].Ports {
			containerPorts[p.Name] = true
		}
		peers := map[string][]networkingv1.NetworkPolicyPeer{}
		for _, r := range np.Spec.Ingress {
			if len(r.Ports) == 0 {
				t.Errorf("an ingress rule allows every port: %v", r)
			}
			for _, p := range r.Ports {
				if p.Port == nil || p.Port.Type != intstr.String || !containerPorts[p.Port.StrVal] {
					t.Errorf("ingress to %v: not a named port of the container", p.Port)
					continue
				}
				peers[p.Port.StrVal] = r.From
			}
		}
		if got := slices.Sorted(maps.Keys(peers)); !slices.Equal(got, []string{"acceptance", "metrics", "probes"}) {
			t.Errorf("ingress to %v, want acceptance, metrics and probes", got)
		}
		if from := peers["acceptance"]; len(from) != 0 {
			t.Errorf("the acceptance page only from %v, want from anywhere (the Ingress)", from)
		}
		from := peers["metrics"]
		if len(from) != 1 || from[0].NamespaceSelector == nil || from[0].PodSelector != nil || from[0].IPBlock != nil ||
			from[0].NamespaceSelector.MatchLabels["partnerops.dev/metrics"] != "allowed" {
			t.Errorf("metrics from %v, want only namespaces labelled partnerops.dev/metrics=allowed", from)
		}
	})

	t.Run("egress", func(t *testing.T) {
		for _, r := range np.Spec.Egress {
			if len(r.Ports) == 0 {
				t.Errorf("an egress rule allows every port: %v", r)
			}
		}
		cfg := shippedConfig(t, objs, d)
		scim, err := url.Parse(cfg.IdentityBackend.SCIM.BaseURL)
		if err != nil {
			t.Fatal(err)
		}
		scimPort := 443
		if p := scim.Port(); p != "" {
			scimPort, _ = strconv.Atoi(p)
		}
		for _, tc := range []struct {
			what  string
			port  int
			proto corev1.Protocol
			dns   bool // only to the cluster's DNS pods
		}{
			{"DNS over UDP", 53, corev1.ProtocolUDP, true},
			{"DNS over TCP", 53, corev1.ProtocolTCP, true},
			{"the API server's Service port", 443, corev1.ProtocolTCP, false},
			{"the API server's own port", 6443, corev1.ProtocolTCP, false},
			{"the configured mail server (smtp.port)", cfg.SMTP.Port, corev1.ProtocolTCP, false},
			{"the configured SCIM server (identityBackend.scim.baseURL)", scimPort, corev1.ProtocolTCP, false},
		} {
			to, ok := egressTo(np, tc.port, tc.proto)
			if !ok {
				t.Errorf("%s: no egress to %s %d", tc.what, tc.proto, tc.port)
				continue
			}
			if tc.dns {
				if len(to) != 1 || to[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "kube-system" ||
					to[0].PodSelector.MatchLabels["k8s-app"] != "kube-dns" {
					t.Errorf("%s to %v, want only the kube-dns pods of kube-system", tc.what, to)
				}
			}
		}
		// docs/install.md's example patches the identity backend's rule by
		// its index.
		if len(np.Spec.Egress) != 4 || len(np.Spec.Egress[3].Ports) != 1 || np.Spec.Egress[3].Ports[0].Port.IntValue() != scimPort {
			t.Errorf("the identity backend's rule is not /spec/egress/3, as docs/install.md says")
		}
		for _, p := range []int{25, 80, 389, 636, 8080} {
			if _, ok := egressTo(np, p, corev1.ProtocolTCP); ok {
				t.Errorf("egress to TCP %d, which the shipped configuration does not use", p)
			}
		}
	})
}

// egressTo returns the peers of the rule that lets the manager out to port.
func egressTo(np *networkingv1.NetworkPolicy, port int, proto corev1.Protocol) ([]networkingv1.NetworkPolicyPeer, bool) {
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			if p.Port != nil && p.Port.IntValue() == port && p.Protocol != nil && *p.Protocol == proto {
				return r.To, true
			}
		}
	}
	return nil, false
}
