package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/testenv/manifest"
)

// The names the chart gives its objects as release "partnerops".
const (
	deployment     = "partnerops-controller-manager"
	serviceAccount = "partnerops-controller-manager"
	configMap      = "partnerops-manager-config"
	acceptanceSvc  = "partnerops-acceptance"
	metricsSvc     = "partnerops-metrics"
)

// TestLint is `helm lint --strict` (a warning fails) with the default
// values and with every toggle on.
func TestLint(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"default values": nil,
		"full values":    values(t, "full-values.yaml"),
	} {
		t.Run(name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = namespace
			lint.KubeVersion = kubeVersionOf(t)
			result := lint.Run([]string{chartDir}, vals)
			if result.TotalChartsLinted != 1 {
				t.Errorf("linted %d charts, want 1", result.TotalChartsLinted)
			}
			for _, m := range result.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %s", m)
				}
			}
			for _, err := range result.Errors {
				t.Errorf("lint: %v", err)
			}
		})
	}
}

// TestDefaultsLeaveExtrasOff: with the default values the chart installs
// what config/default does (agree_test.go) and none of the extras, which
// need something of the cluster (an Ingress controller, the Gateway API,
// the Prometheus Operator, a network plugin that enforces policies) or more
// than one replica.
func TestDefaultsLeaveExtrasOff(t *testing.T) {
	objs := render(t, nil)
	for _, kind := range []string{"PodDisruptionBudget", "Ingress", "HTTPRoute", "ServiceMonitor", "PrometheusRule", "NetworkPolicy", "Secret"} {
		if got := objs.OfKind(kind); len(got) > 0 {
			t.Errorf("the default values render a %s (%s)", kind, got[0].GetName())
		}
	}
}

// TestFullValues renders testdata/full-values.yaml (every toggle on, every
// value changed) and checks that each value lands where it should.
func TestFullValues(t *testing.T) {
	objs := render(t, values(t, "full-values.yaml"))

	d := &appsv1.Deployment{}
	manifest.Typed(t, objs.Get(t, "Deployment", deployment), d)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	selector := map[string]string{"app.kubernetes.io/name": "partnerops", "app.kubernetes.io/instance": releaseName, "app.kubernetes.io/component": "manager"}
	checks := []struct {
		name      string
		got, want any
	}{
		{"replicas", *d.Spec.Replicas, int32(3)},
		{"image by digest (the digest wins over the tag)", c.Image, "registry.example.com/acme/partnerops@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		{"pull policy", c.ImagePullPolicy, corev1.PullAlways},
		{"image pull secrets", pod.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "registry-login"}}},
		{"service account", pod.ServiceAccountName, "partnerops-manager"},
		{"pod annotation", d.Spec.Template.Annotations["example.com/scrape-note"], "metrics are on the Service"},
		{"pod label", d.Spec.Template.Labels["example.com/team"], "platform"},
		{"cpu limit", c.Resources.Limits.Cpu().String(), "1"},
		{"memory request", c.Resources.Requests.Memory().String(), "128Mi"},
		{"node selector", pod.NodeSelector, map[string]string{"kubernetes.io/os": "linux"}},
		{"tolerations", len(pod.Tolerations), 1},
		{"affinity", pod.Affinity != nil && pod.Affinity.PodAntiAffinity != nil, true},
		{"topology spread: the manager's pods by default", pod.TopologySpreadConstraints[0].LabelSelector.MatchLabels, selector},
		{"priority class", pod.PriorityClassName, "system-cluster-critical"},
		{"extra args after the chart's", c.Args[len(c.Args)-1], "--zap-log-level=debug"},
		{"extra env after GOMEMLIMIT", c.Env[len(c.Env)-1], corev1.EnvVar{Name: "TZ", Value: "UTC"}},
		{"extra volume", pod.Volumes[len(pod.Volumes)-1].Name, "corporate-ca"},
		{"extra mount", c.VolumeMounts[len(c.VolumeMounts)-1].MountPath, "/var/run/partnerops/ca"},
		{"acceptance port follows bindAddress", port(c, "acceptance"), int32(9443)},
	}

	sa := objs.Get(t, "ServiceAccount", "partnerops-manager")
	checks = append(checks, struct {
		name      string
		got, want any
	}{"service account annotation", sa.GetAnnotations()["example.com/owner"], "platform-team"})
	for _, kind := range []string{"Role", "RoleBinding"} {
		o := objs.Get(t, kind, "partnerops-manager-role"+map[string]string{"Role": "", "RoleBinding": "binding"}[kind])
		checks = append(checks, struct {
			name      string
			got, want any
		}{kind + " on the Secrets in config.secretNamespace", o.GetNamespace(), "partnerops-secrets"})
	}

	pdb := &policyv1.PodDisruptionBudget{}
	manifest.Typed(t, objs.Get(t, "PodDisruptionBudget", deployment), pdb)
	svc := &corev1.Service{}
	manifest.Typed(t, objs.Get(t, "Service", acceptanceSvc), svc)
	metrics := &corev1.Service{}
	manifest.Typed(t, objs.Get(t, "Service", metricsSvc), metrics)
	ing := &networkingv1.Ingress{}
	manifest.Typed(t, objs.Get(t, "Ingress", acceptanceSvc), ing)
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"PodDisruptionBudget minAvailable", pdb.Spec.MinAvailable.String(), "2"},
		{"acceptance Service port", svc.Spec.Ports[0].Port, int32(8080)},
		{"acceptance Service annotation", svc.Annotations["example.com/exposed-by"], "ingress"},
		{"metrics Service port", metrics.Spec.Ports[0].Port, int32(9443)},
		{"Ingress class", ptrString(ing.Spec.IngressClassName), "nginx"},
		{"Ingress host: the publicURL's", ing.Spec.Rules[0].Host, "partners.acme.example"},
		{"Ingress TLS hosts default to it", ing.Spec.TLS[0].Hosts, []string{"partners.acme.example"}},
		{"Ingress backend", ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name, acceptanceSvc},
		{"Ingress annotation", ing.Annotations["cert-manager.io/cluster-issuer"], "letsencrypt"},
	}...)

	route := &gatewayv1.HTTPRoute{}
	manifest.Typed(t, objs.Get(t, "HTTPRoute", acceptanceSvc), route)
	parent := route.Spec.ParentRefs[0]
	backend := route.Spec.Rules[0].BackendRefs[0]
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"HTTPRoute parent", fmt.Sprint(parent.Name, "/", *parent.Namespace, "/", *parent.SectionName), "public/gateways/https"},
		{"HTTPRoute host: the publicURL's", route.Spec.Hostnames, []gatewayv1.Hostname{"partners.acme.example"}},
		{"HTTPRoute path", *route.Spec.Rules[0].Matches[0].Path.Value, "/invitations/"},
		{"HTTPRoute backend", fmt.Sprint(backend.Name, ":", *backend.Port), acceptanceSvc + ":8080"},
		{"HTTPRoute annotation", route.Annotations["example.com/exposed-by"], "gateway"},
	}...)

	np := &networkingv1.NetworkPolicy{}
	manifest.Typed(t, objs.Get(t, "NetworkPolicy", "partnerops-manager"), np)
	egressPorts := map[int32]bool{}
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			egressPorts[p.Port.IntVal] = true
		}
	}
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"NetworkPolicy: the acceptance page from the Ingress controller", np.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"], "ingress-nginx"},
		{"NetworkPolicy: SMTP port of smtp.port", egressPorts[465], true},
		{"NetworkPolicy: the LDAP URL's port", egressPorts[1636], true},
		{"NetworkPolicy: no default SMTP port", egressPorts[587], false},
		{"NetworkPolicy: extra rules", len(np.Spec.Ingress) == 4 && len(np.Spec.Egress) == 5, true},
	}...)

	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
	for _, want := range []string{"ServiceMonitor/partnerops-metrics", "Secret/partnerops-metrics-scraper-token", "ServiceAccount/partnerops-metrics-scraper", "ClusterRoleBinding/partnerops-metrics-reader", "PrometheusRule/partnerops"} {
		kind, name, _ := strings.Cut(want, "/")
		objs.Get(t, kind, name)
	}
}

func port(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestPodDisruptionBudgetOnlyWithReplicas: a PodDisruptionBudget with one
// replica would only block node drains; with more, it keeps the acceptance
// page up through them.
func TestPodDisruptionBudgetOnlyWithReplicas(t *testing.T) {
	for name, tc := range map[string]struct {
		vals            map[string]any
		min, maxUnavail string // "" for none
		none            bool
	}{
		"one replica":               {vals: nil, none: true},
		"scaled to zero":            {vals: set(nil, "replicaCount", 0), none: true},
		"two replicas":              {vals: set(nil, "replicaCount", 2), min: "1"},
		"two, maxUnavailable given": {vals: set(set(nil, "replicaCount", 2), "podDisruptionBudget.maxUnavailable", "50%"), maxUnavail: "50%"},
	} {
		t.Run(name, func(t *testing.T) {
			o := render(t, tc.vals).Find("PodDisruptionBudget", deployment)
			if tc.none {
				if o != nil {
					t.Fatalf("a PodDisruptionBudget with %v replicas", tc.vals["replicaCount"])
				}
				return
			}
			if o == nil {
				t.Fatal("no PodDisruptionBudget")
			}
			pdb := &policyv1.PodDisruptionBudget{}
			manifest.Typed(t, o, pdb)
			if got := intOrString(pdb.Spec.MinAvailable); got != tc.min {
				t.Errorf("minAvailable %q, want %q", got, tc.min)
			}
			if got := intOrString(pdb.Spec.MaxUnavailable); got != tc.maxUnavail {
				t.Errorf("maxUnavailable %q, want %q", got, tc.maxUnavail)
			}
			want := map[string]string{"app.kubernetes.io/name": "partnerops", "app.kubernetes.io/instance": releaseName, "app.kubernetes.io/component": "manager"}
			if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, want) {
				t.Errorf("selector %v, want the manager's pods %v", pdb.Spec.Selector.MatchLabels, want)
			}
		})
	}
}

func intOrString(v *intstr.IntOrString) string {
	if v == nil {
		return ""
	}
	return v.String()
}

// TestConfigChangeRollsPods: the pod template carries the checksum of the
// configuration file, so `helm upgrade` with a changed config value rolls
// the manager (which reads the file only at start), and a change elsewhere
// does not.
func TestConfigChangeRollsPods(t *testing.T) {
	checksum := func(vals map[string]any) (annotation, file string) {
		objs := render(t, vals)
		d := &appsv1.Deployment{}
		manifest.Typed(t, objs.Get(t, "Deployment", deployment), d)
		data, _, _ := unstructured.NestedString(objs.Get(t, "ConfigMap", configMap).Object, "data", "config.yaml")
		return d.Spec.Template.Annotations["checksum/config"], data
	}
	def, file := checksum(nil)
	sum := sha256.Sum256([]byte(strings.TrimSuffix(file, "\n")))
	if def != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum/config %s is not the SHA-256 of the ConfigMap's config.yaml", def)
	}
	if changed, _ := checksum(set(nil, "config.smtp.host", "mail.example.org")); changed == def {
		t.Error("changing config.smtp.host left checksum/config as it was: the pods would not roll")
	}
	if changed, _ := checksum(set(nil, "config.catalogue.roles", []any{map[string]any{"key": "viewer", "displayName": map[string]any{"en": "Viewer"}}})); changed == def {
		t.Error("changing the catalogue left checksum/config as it was")
	}
	if same, _ := checksum(set(nil, "replicaCount", 2)); same != def {
		t.Error("changing replicaCount changed checksum/config")
	}
}

// TestConfigFile: the ConfigMap holds a configuration file the manager
// loads (internal/config): with the default values, the same configuration
// as config/manager/config.yaml (what config/default ships); with an LDAP
// backend only the ldap section (the default scim one is left out, which
// the manager would refuse); secretNamespace is the release's namespace
// unless set.
func TestConfigFile(t *testing.T) {
	shipped, err := config.Load(filepath.Join(root, "config", "manager", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ldap := map[string]any{
		"url": "ldaps://ldap.example.com", "bindDN": "cn=partnerops,dc=example,dc=com",
		"bindPasswordSecret": map[string]any{"name": "partnerops-ldap-bind"},
		"userBaseDN":         "ou=people,dc=example,dc=com", "groupBaseDN": "ou=groups,dc=example,dc=com",
	}
	for name, tc := range map[string]struct {
		vals  map[string]any
		check func(t *testing.T, c *config.Config)
	}{
		"default values: config/manager/config.yaml": {nil, func(t *testing.T, c *config.Config) {
			if !reflect.DeepEqual(c, shipped) {
				t.Errorf("the chart's default configuration differs from config/manager/config.yaml:\n got %+v\nwant %+v", c, shipped)
			}
		}},
		"full values": {values(t, "full-values.yaml"), func(t *testing.T, c *config.Config) {
			if c.IdentityBackend.SCIM != nil || c.IdentityBackend.LDAP == nil || c.SecretNamespace != "partnerops-secrets" || c.Templates == nil {
				t.Errorf("got %+v", c)
			}
		}},
		"ldap without scim: null": {set(set(nil, "config.identityBackend.type", "ldap"), "config.identityBackend.ldap", ldap), func(t *testing.T, c *config.Config) {
			if c.IdentityBackend.SCIM != nil || c.IdentityBackend.LDAP == nil {
				t.Errorf("identityBackend: scim %+v, ldap %+v: want ldap alone", c.IdentityBackend.SCIM, c.IdentityBackend.LDAP)
			}
		}},
		"no SMTP login (credentialsSecret: null)": {set(nil, "config.smtp.credentialsSecret", nil), func(t *testing.T, c *config.Config) {
			if c.SMTP.CredentialsSecret != nil {
				t.Errorf("credentialsSecret %+v, want none", c.SMTP.CredentialsSecret)
			}
		}},
		// The port follows security unless set: the chart sets none.
		"implicit TLS": {set(nil, "config.smtp.security", "tls"), func(t *testing.T, c *config.Config) {
			if c.SMTP.Port != 465 {
				t.Errorf("smtp.port %d with security tls, want 465", c.SMTP.Port)
			}
		}},
		"a local relay": {set(set(nil, "config.smtp.security", "none"), "config.smtp.credentialsSecret", nil), func(t *testing.T, c *config.Config) {
			if c.SMTP.Port != 25 || c.SMTP.CredentialsSecret != nil {
				t.Errorf("smtp.port %d, credentialsSecret %+v with security none, want 25 and none", c.SMTP.Port, c.SMTP.CredentialsSecret)
			}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			data, _, _ := unstructured.NestedString(render(t, tc.vals).Get(t, "ConfigMap", configMap).Object, "data", "config.yaml")
			c, err := config.Parse([]byte(data))
			if err != nil {
				t.Fatalf("the manager would refuse the chart's configuration: %v\n%s", err, data)
			}
			tc.check(t, c)
		})
	}
}

// TestPublicURLWithPath: the Ingress and the HTTPRoute serve
// /invitations/ at the root of publicURL's host and rewrite no path, so a
// publicURL with a path is refused with a message, rather than links that
// lead nowhere.
func TestPublicURLWithPath(t *testing.T) {
	for _, toggle := range []string{"acceptance.ingress.enabled", "acceptance.httpRoute.enabled"} {
		vals := set(set(nil, toggle, true), "config.acceptance.publicURL", "https://example.com/partners")
		vals = set(vals, "acceptance.httpRoute.parentRefs", []any{map[string]any{"name": "public"}})
		_, err := renderRelease(vals)
		if err == nil || !strings.Contains(err.Error(), "has a path") {
			t.Errorf("%s with publicURL https://example.com/partners: %v, want an error saying it has a path", toggle, err)
		}
	}
}

// TestCRDToggles: the CRDs carry helm.sh/resource-policy: keep (so
// uninstalling keeps every PartnerAccount and PartnerInvitation) unless
// crds.keep is false, and are left out with crds.enabled false.
func TestCRDToggles(t *testing.T) {
	for name, tc := range map[string]struct {
		vals       map[string]any
		crds, keep bool
	}{
		"default":            {nil, true, true},
		"crds.keep false":    {set(nil, "crds.keep", false), true, false},
		"crds.enabled false": {set(nil, "crds.enabled", false), false, false},
	} {
		t.Run(name, func(t *testing.T) {
			crds := render(t, tc.vals).OfKind("CustomResourceDefinition")
			if want := map[bool]int{true: 2, false: 0}[tc.crds]; len(crds) != want {
				t.Fatalf("%d CRDs, want %d", len(crds), want)
			}
			for _, crd := range crds {
				if got := crd.GetAnnotations()["helm.sh/resource-policy"] == "keep"; got != tc.keep {
					t.Errorf("%s: resource-policy keep %v, want %v", crd.GetName(), got, tc.keep)
				}
			}
		})
	}
}

// TestNetworkPolicyLetsSignInThrough: with sign-in through an OpenID
// Provider, the NetworkPolicy lets the manager reach it (discovery, keys,
// token endpoint) on its issuerURL's port, to networkPolicy.oidcTo; without
// sign-in there is no such rule.
func TestNetworkPolicyLetsSignInThrough(t *testing.T) {
	vals := set(nil, "networkPolicy.enabled", true)
	rules := func(vals map[string]any) []networkingv1.NetworkPolicyEgressRule {
		np := &networkingv1.NetworkPolicy{}
		manifest.Typed(t, render(t, vals).Get(t, "NetworkPolicy", "partnerops-manager"), np)
		return np.Spec.Egress
	}
	without := rules(vals)
	vals = set(vals, "config.acceptance.signIn", map[string]any{"type": "oidc",
		"oidc": map[string]any{"issuerURL": "https://login.partner.example:8443/realms/partners", "clientID": "partnerops"}})
	vals = set(vals, "networkPolicy.oidcTo", []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.80/32"}}})
	with := rules(vals)
	if len(with) != len(without)+1 {
		t.Fatalf("%d egress rules with sign-in, %d without: want one more", len(with), len(without))
	}
	last := with[len(with)-1]
	if len(last.Ports) != 1 || last.Ports[0].Port.IntVal != 8443 || len(last.To) != 1 || last.To[0].IPBlock == nil || last.To[0].IPBlock.CIDR != "192.0.2.80/32" {
		t.Errorf("the sign-in rule is %+v, want port 8443 to 192.0.2.80/32", last)
	}
}

// TestNotesWarnOfPlainHTTP: the notes warn when the acceptance page, whose
// links carry tokens, is exposed without TLS (a LoadBalancer Service with no
// config.acceptance.tls, an Ingress without tls), or behind a proxy whose
// address it does not know (no trustedProxies: every partner shares the
// proxy's rate-limit budget), and only then.
func TestNotesWarnOfPlainHTTP(t *testing.T) {
	ingress := set(set(nil, "acceptance.ingress.enabled", true), "config.acceptance.trustedProxies", []any{"10.0.0.0/8"})
	for name, tc := range map[string]struct {
		vals map[string]any
		warn string
	}{
		"ClusterIP, the default":              {nil, ""},
		"a LoadBalancer in plain HTTP":        {set(nil, "acceptance.service.type", "LoadBalancer"), "is a LoadBalancer\nserving the acceptance page over plain HTTP"},
		"an Ingress without tls":              {ingress, "acceptance.ingress has no tls"},
		"an Ingress with tls":                 {set(ingress, "acceptance.ingress.tls", []any{map[string]any{"secretName": "partners-tls"}}), ""},
		"an Ingress without trustedProxies":   {set(set(ingress, "acceptance.ingress.tls", []any{map[string]any{"secretName": "partners-tls"}}), "config.acceptance.trustedProxies", []any{}), "behind an Ingress but config.acceptance.trustedProxies\nis empty"},
		"an HTTPRoute without trustedProxies": {set(nil, "acceptance.httpRoute.enabled", true), "behind an HTTPRoute but config.acceptance.trustedProxies"},
		"an HTTPRoute with trustedProxies":    {set(set(nil, "acceptance.httpRoute.enabled", true), "config.acceptance.trustedProxies", []any{"10.0.0.0/8"}), ""},
		"a LoadBalancer serving TLS itself":   {set(set(nil, "acceptance.service.type", "LoadBalancer"), "config.acceptance.tls", map[string]any{"certFile": "/tls/tls.crt", "keyFile": "/tls/tls.key"}), ""},
	} {
		t.Run(name, func(t *testing.T) {
			rel, err := renderRelease(tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(rel.Info.Notes, "WARNING")
			if tc.warn == "" && warned {
				t.Errorf("the notes warn:\n%s", rel.Info.Notes)
			}
			if tc.warn != "" && !strings.Contains(rel.Info.Notes, tc.warn) {
				t.Errorf("the notes do not warn %q:\n%s", tc.warn, rel.Info.Notes)
			}
		})
	}
}

// TestTenantWritesAggregateWhereAsked: the tenant write role carries the
// aggregate-to-* label of each built-in role rbac.tenantRoles.aggregateWritesTo
// names, and no other (the labels are what Kubernetes aggregates by, which
// test/manifests' TestTenantRoles proves with SubjectAccessReviews); the
// read role is aggregated into view whatever the value.
func TestTenantWritesAggregateWhereAsked(t *testing.T) {
	const edit, admin, view = "rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin", "rbac.authorization.k8s.io/aggregate-to-view"
	for name, tc := range map[string]struct {
		vals map[string]any
		want []string
	}{
		"default":    {nil, []string{admin, edit}},
		"admin only": {set(nil, "rbac.tenantRoles.aggregateWritesTo", []any{"admin"}), []string{admin}},
		"none":       {set(nil, "rbac.tenantRoles.aggregateWritesTo", []any{}), nil},
	} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, tc.vals)
			var got []string
			for k := range objs.Get(t, "ClusterRole", "partnerops-tenant-edit").GetLabels() {
				if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
					got = append(got, k)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("the tenant write role is aggregated by %v, want %v", got, tc.want)
			}
			if l := objs.Get(t, "ClusterRole", "partnerops-tenant-view").GetLabels(); l[view] != "true" || l[edit] != "" || l[admin] != "" {
				t.Errorf("the tenant read role's labels are %v, want aggregate-to-view alone", l)
			}
		})
	}
}
