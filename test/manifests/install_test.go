package manifests

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/manager"
)

// TestDefaultRendersEverything: `kubectl apply -k config/default` installs
// the namespace, the CRDs, the manager's service account and RBAC, its
// configuration, the Deployment, both Services, the tenant roles, and the
// confirm-deletion and requested-by admission policies with their
// bindings, all namespaced objects in partnerops-system (the
// cluster-scoped ones in none), and nothing else (the Prometheus and
// NetworkPolicy extras are Components, not part of it).
func TestDefaultRendersEverything(t *testing.T) {
	objs := render(t, "config/default")
	want := []string{
		"Namespace/partnerops-system",
		"CustomResourceDefinition/partneraccounts.partners.partnerops.dev",
		"CustomResourceDefinition/partnerinvitations.partners.partnerops.dev",
		"ServiceAccount/partnerops-controller-manager",
		"Role/partnerops-leader-election",
		"Role/partnerops-manager-role",
		"ClusterRole/partnerops-manager-role",
		"ClusterRole/partnerops-metrics-auth",
		"ClusterRole/partnerops-metrics-reader",
		"RoleBinding/partnerops-leader-election",
		"RoleBinding/partnerops-manager-rolebinding",
		"ClusterRoleBinding/partnerops-manager-rolebinding",
		"ClusterRoleBinding/partnerops-metrics-auth",
		"ConfigMap/partnerops-manager-config-*",
		"Service/partnerops-acceptance",
		"Service/partnerops-metrics",
		"Deployment/partnerops-controller-manager",
		"ValidatingAdmissionPolicy/partnerops-confirm-deletion",
		"ValidatingAdmissionPolicyBinding/partnerops-confirm-deletion",
		"ValidatingAdmissionPolicy/partnerops-grants-finalizer",
		"ValidatingAdmissionPolicyBinding/partnerops-grants-finalizer",
		"MutatingAdmissionPolicy/partnerops-requested-by",
		"MutatingAdmissionPolicyBinding/partnerops-requested-by",
		"ValidatingAdmissionPolicy/partnerops-requested-by",
		"ValidatingAdmissionPolicyBinding/partnerops-requested-by",
		"ClusterRole/partnerops-tenant-view",
		"ClusterRole/partnerops-tenant-edit",
	}
	var got []string
	for _, o := range objs {
		id := o.GetKind() + "/" + o.GetName()
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "partnerops-manager-config-") {
			id = "ConfigMap/partnerops-manager-config-*" // the name ends with a hash of the content
		}
		got = append(got, id)
		clusterScoped := slices.Contains([]string{"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
			"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"}, o.GetKind())
		if !clusterScoped && o.GetNamespace() != namespace {
			t.Errorf("%s is in namespace %q, want %s", id, o.GetNamespace(), namespace)
		}
		if clusterScoped && o.GetNamespace() != "" {
			t.Errorf("%s is cluster-scoped but has namespace %q", id, o.GetNamespace())
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("config/default renders\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestDefaultAppliesServerSide applies the whole of config/default to a real
// API server with a server-side dry run: every object passes the API
// server's validation and admission (Pod Security included, which would
// answer with a warning for the Deployment), and nothing is created. Only
// the namespace is applied for real first: a dry run cannot create objects
// in a namespace that does not exist yet.
func TestDefaultAppliesServerSide(t *testing.T) {
	objs := render(t, "config/default")
	apply(t, objs.OfKind("Namespace"))

	stdout, stderr := apply(t, objs, "--dry-run=server")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(objs) {
		t.Errorf("kubectl applied %d objects, want %d:\n%s", len(lines), len(objs), stdout)
	}
	for _, o := range objs {
		if !strings.Contains(stdout, "/"+o.GetName()+" serverside-applied (server dry run)") {
			t.Errorf("%s %s was not applied:\n%s", o.GetKind(), o.GetName(), stdout)
		}
	}
	if strings.TrimSpace(stderr) != "" {
		t.Errorf("kubectl printed warnings (Pod Security would say \"would violate PodSecurity\"):\n%s", stderr)
	}
	// A dry run.
	err := env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: deployment}, &appsv1.Deployment{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment after a dry run: %v, want NotFound", err)
	}
}

// TestManagerDeployment checks the manager's Deployment field by field:
// restricted Pod Security and more (read-only root filesystem, no
// capabilities, the image's nonroot user), probes, requests and limits, and
// that flags, ports, the mounted configuration and the configuration's own
// addresses agree with one another.
// preStopSleep is how long c's preStop hook sleeps.
func preStopSleep(c corev1.Container) time.Duration {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		return 0
	}
	return time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
}

func TestManagerDeployment(t *testing.T) {
	objs := render(t, "config/default")
	d := managerDeployment(t, objs)
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("the pod has %d containers and %d init containers, want the manager alone", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	psc := ptr.Deref(pod.SecurityContext, corev1.PodSecurityContext{})
	csc := ptr.Deref(c.SecurityContext, corev1.SecurityContext{})
	caps := ptr.Deref(csc.Capabilities, corev1.Capabilities{})

	for _, check := range []struct {
		name string
		ok   bool
		got  any
	}{
		{"pod runAsNonRoot", ptr.Deref(psc.RunAsNonRoot, false), psc.RunAsNonRoot},
		{"pod runAsUser is the image's nonroot user 65532", ptr.Deref(psc.RunAsUser, 0) == 65532, psc.RunAsUser},
		{"pod runAsGroup 65532", ptr.Deref(psc.RunAsGroup, 0) == 65532, psc.RunAsGroup},
		{"seccomp RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile},
		{"no privilege escalation", csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation, csc.AllowPrivilegeEscalation},
		{"not privileged", !ptr.Deref(csc.Privileged, false), csc.Privileged},
		{"read-only root filesystem", ptr.Deref(csc.ReadOnlyRootFilesystem, false), csc.ReadOnlyRootFilesystem},
		{"every capability dropped", slices.Equal(caps.Drop, []corev1.Capability{"ALL"}), caps.Drop},
		{"no capability added", len(caps.Add) == 0, caps.Add},
		{"container does not override the user", csc.RunAsUser == nil && csc.RunAsNonRoot == nil, csc.RunAsUser},
		{"no host namespaces", !pod.HostNetwork && !pod.HostPID && !pod.HostIPC, []bool{pod.HostNetwork, pod.HostPID, pod.HostIPC}},
		{"image partnerops:dev (make docker-build's default IMG)", c.Image == "partnerops:dev", c.Image},
		{"runs as the service account", pod.ServiceAccountName == serviceAccount, pod.ServiceAccountName},
		{"leader election on", slices.Contains(c.Args, "--leader-elect"), c.Args},
		{"a preStop sleep: the page serves while endpoints and proxies drop the pod",
			c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil && c.Lifecycle.PreStop.Sleep.Seconds >= 5,
			c.Lifecycle},
		{"grace period longer than the preStop sleep and the manager's graceful shutdown",
			time.Duration(ptr.Deref(pod.TerminationGracePeriodSeconds, 30))*time.Second > manager.GracefulShutdownTimeout+preStopSleep(c),
			pod.TerminationGracePeriodSeconds},
	} {
		if !check.ok {
			t.Errorf("%s: got %v", check.name, show(check.got))
		}
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}

	t.Run("probes", func(t *testing.T) {
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{
			{"startup", c.StartupProbe, "/healthz"},
			{"liveness", c.LivenessProbe, "/healthz"},
			{"readiness", c.ReadinessProbe, "/readyz"},
		} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("no HTTP %s probe", p.name)
				continue
			}
			if got := p.probe.HTTPGet; got.Path != p.path || got.Port != intstr.FromString("probes") {
				t.Errorf("%s probe: GET %s on port %s, want %s on port probes", p.name, got.Path, got.Port.String(), p.path)
			}
		}
	})

	t.Run("requests and limits", func(t *testing.T) {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if !hasReq || !hasLim || req.IsZero() {
				t.Errorf("%s: request %v, limit %v: want both", r, c.Resources.Requests[r], c.Resources.Limits[r])
				continue
			}
			if req.Cmp(lim) > 0 {
				t.Errorf("%s: request %s above limit %s", r, req.String(), lim.String())
			}
		}
	})

	t.Run("ports, flags and configuration agree", func(t *testing.T) {
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		cfg := shippedConfig(t, objs, d)
		for _, p := range []struct {
			port string
			addr string // where the manager listens, from a flag or the configuration
		}{
			{"metrics", flagValue(t, c.Args, "--metrics-bind-address")},
			{"probes", flagValue(t, c.Args, "--health-probe-bind-address")},
			{"acceptance", cfg.Acceptance.BindAddress},
		} {
			if got := portOf(t, p.addr); ports[p.port] != got {
				t.Errorf("the manager listens on %s for %s, the container port %s is %d", p.addr, p.port, p.port, ports[p.port])
			}
		}
		if ports["metrics"] != 8443 {
			t.Errorf("metrics on port %d, want 8443", ports["metrics"])
		}
		if cfg.SecretNamespace != d.Namespace {
			t.Errorf("the configuration's secretNamespace is %s, the manager runs in %s (the Role for Secrets is there)", cfg.SecretNamespace, d.Namespace)
		}
	})
}

// shippedConfig is the configuration the manager reads: the file named by
// --config, found in the ConfigMap mounted there, checked as the manager
// checks it at start.
func shippedConfig(t *testing.T, objs objects, d *appsv1.Deployment) *config.Config {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	path := flagValue(t, c.Args, "--config")
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(path, m.MountPath+"/") {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("the configuration is mounted read-write")
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm := &corev1.ConfigMap{}
			typed(t, objs.Get(t, "ConfigMap", v.ConfigMap.Name), cm)
			data, ok := cm.Data[strings.TrimPrefix(path, m.MountPath+"/")]
			if !ok {
				t.Fatalf("ConfigMap %s has no key for %s", cm.Name, path)
			}
			cfg, err := config.Parse([]byte(data))
			if err != nil {
				t.Fatalf("the shipped configuration: %v", err)
			}
			return cfg
		}
	}
	t.Fatalf("--config=%s is not in a mounted ConfigMap", path)
	return nil
}

func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s= in the manager's args %v", name, args)
	return ""
}

func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// show dereferences pointers for messages.
func show(v any) any {
	switch p := v.(type) {
	case *bool:
		return ptr.Deref(p, false)
	case *int64:
		if p == nil {
			return "unset"
		}
		return *p
	}
	return v
}

// TestServices: the acceptance page's Service (for the Ingress) and the
// metrics Service (8443, https) both reach the manager's pods on ports the
// container has.
func TestServices(t *testing.T) {
	objs := render(t, "config/default")
	pod := managerDeployment(t, objs).Spec.Template
	for _, tc := range []struct {
		service, portName string
		port              int32
		target            string
	}{
		{"partnerops-acceptance", "http", 80, "acceptance"},
		{"partnerops-metrics", "https", 8443, "metrics"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			s := &corev1.Service{}
			typed(t, objs.Get(t, "Service", tc.service), s)
			if len(s.Spec.Selector) == 0 || !matches(s.Spec.Selector, pod.Labels) {
				t.Errorf("selector %v does not select the manager's pods %v", s.Spec.Selector, pod.Labels)
			}
			if len(s.Spec.Ports) != 1 {
				t.Fatalf("ports %v, want one", s.Spec.Ports)
			}
			p := s.Spec.Ports[0]
			if p.Name != tc.portName || p.Port != tc.port || p.TargetPort != intstr.FromString(tc.target) {
				t.Errorf("port %s %d -> %s, want %s %d -> %s", p.Name, p.Port, p.TargetPort.String(), tc.portName, tc.port, tc.target)
			}
			if !slices.ContainsFunc(pod.Spec.Containers[0].Ports, func(c corev1.ContainerPort) bool { return c.Name == tc.target }) {
				t.Errorf("the container has no port %s", tc.target)
			}
			if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("type %s, want ClusterIP (expose the page through an Ingress)", s.Spec.Type)
			}
		})
	}
}

// matches reports whether selector selects labels.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestPodSecurityRestricted creates the manager's pod template as a Pod
// (server-side dry run) in partnerops-system, whose namespace label enforces
// Pod Security "restricted": the API server admits it. For a Deployment,
// Pod Security only warns; a Pod is what it enforces on. Each weakened copy
// is refused, which shows the namespace really enforces and that each field
// is needed.
func TestPodSecurityRestricted(t *testing.T) {
	objs := installNamespaceAndRBAC(t)
	ns := &corev1.Namespace{}
	typed(t, objs.Get(t, "Namespace", namespace), ns)
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Fatalf("namespace label pod-security.kubernetes.io/enforce=%q, want restricted", got)
	}
	template := managerDeployment(t, objs).Spec.Template
	pod := func(weaken func(*corev1.PodSpec)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: namespace, Labels: template.Labels},
			Spec:       *template.Spec.DeepCopy(),
		}
		if weaken != nil {
			weaken(&p.Spec)
		}
		return p
	}
	container := func(s *corev1.PodSpec) *corev1.SecurityContext { return s.Containers[0].SecurityContext }

	if err := env.Client.Create(ctx, pod(nil), client.DryRunAll); err != nil {
		t.Fatalf("the manager's pod is refused in %s: %v", namespace, err)
	}

	for name, weaken := range map[string]func(*corev1.PodSpec){
		"runAsNonRoot unset":       func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = nil },
		"root user":                func(s *corev1.PodSpec) { container(s).RunAsUser = ptr.To[int64](0) },
		"no seccomp profile":       func(s *corev1.PodSpec) { s.SecurityContext.SeccompProfile = nil },
		"privilege escalation":     func(s *corev1.PodSpec) { container(s).AllowPrivilegeEscalation = ptr.To(true) },
		"capabilities not dropped": func(s *corev1.PodSpec) { container(s).Capabilities.Drop = nil },
		"a capability added":       func(s *corev1.PodSpec) { container(s).Capabilities.Add = []corev1.Capability{"NET_ADMIN"} },
		"privileged": func(s *corev1.PodSpec) {
			container(s).Privileged, container(s).AllowPrivilegeEscalation = ptr.To(true), nil
		},
		"a host path volume": addHostPath,
		"the host's network": func(s *corev1.PodSpec) { s.HostNetwork = true },
		"an unconfined seccomp": func(s *corev1.PodSpec) {
			container(s).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		},
		"runAsNonRoot false (pod)":  func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = ptr.To(false) },
		"runAsNonRoot false (ctnr)": func(s *corev1.PodSpec) { container(s).RunAsNonRoot = ptr.To(false) },
	} {
		t.Run(name, func(t *testing.T) {
			err := env.Client.Create(ctx, pod(weaken), client.DryRunAll)
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted`) {
				t.Errorf("got %v, want a Pod Security refusal", err)
			}
		})
	}
}

func addHostPath(s *corev1.PodSpec) {
	s.Volumes = append(s.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: "/var/run"}}})
}

// TestBuildInstaller runs `make build-installer IMG=…`: one file with all of
// config/default, the manager's image set to IMG, and no tracked file
// changed (it renders through a throwaway overlay).
func TestBuildInstaller(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	const img = "registry.example.com/acme/partnerops:v1.2.3"
	watched := []string{"config/default/kustomization.yaml", "config/manager/kustomization.yaml", "config/manager/manager.yaml"}
	before := readFiles(t, watched)
	leftovers := func() []string {
		m, _ := filepath.Glob(filepath.Join(root, "dist", ".installer.*"))
		return m
	}
	leftBefore := leftovers()

	out := filepath.Join(t.TempDir(), "install.yaml")
	cmd := exec.Command("make", "-s", "build-installer", "IMG="+img, "INSTALLER="+out)
	cmd.Dir, cmd.Env = root, makeEnv()
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-installer: %v\n%s", err, msg)
	}

	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	installed := decode(t, string(raw))
	want := render(t, "config/default")
	d := want.Get(t, "Deployment", deployment)
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	containers[0].(map[string]any)["image"] = img
	if err := unstructured.SetNestedSlice(d.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	if got, want := installed.YAML(t), want.YAML(t); got != want {
		t.Errorf("dist/install.yaml is not config/default with image %s:\n%s", img, lineDiff(got, want))
	}
	if after := readFiles(t, watched); !slices.Equal(before, after) {
		t.Errorf("make build-installer changed tracked files")
	}
	if l := leftovers(); len(l) > len(leftBefore) {
		t.Errorf("make build-installer left %v behind", l)
	}
}

func readFiles(t *testing.T, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// lineDiff shows the first lines where a and b differ.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, "- "+y, "+ "+x)
		}
	}
	return strings.Join(out, "\n")
}
