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
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The optional Components, config/prometheus and config/network-policy,
// rendered in an overlay of config/default as docs/install.md shows it.

// TestComponentsOnlyAdd: each Component, and both together, add their
// objects to config/default and change nothing of it.
func TestComponentsOnlyAdd(t *testing.T) {
	base := render(t, "config/default").YAML(t)
	for _, tc := range []struct {
		components []string
		added      []string
	}{
		{[]string{"config/prometheus"}, prometheusObjects},
		{[]string{"config/network-policy"}, []string{"NetworkPolicy/partnerops-manager"}},
		{[]string{"config/prometheus", "config/network-policy"}, append(slices.Clone(prometheusObjects), "NetworkPolicy/partnerops-manager")},
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
			if got := rest.YAML(t); got != base {
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
	if cms := objs.OfKind("ConfigMap"); len(cms) != 1 {
		t.Errorf("%d ConfigMaps, want the replaced one alone", len(cms))
	}
	if got := shippedConfig(t, objs, d).Acceptance.PublicURL; got != "https://partners.acme.example" {
		t.Errorf("the manager reads publicURL %s, want the overlay's https://partners.acme.example", got)
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
	u := objs.Get(t, "NetworkPolicy", "partnerops-manager")
	apply(t, objs.OfKind("Namespace"))
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
