package helm

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	partnersv1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/manifest"
)

var crdNames = []string{"partneraccounts.partners.partnerops.dev", "partnerinvitations.partners.partnerops.dev"}

// TestHelmInstallFromDist is a new user's `helm install` from dist/:
// `make helm-package` writes the chart archive, and the SDK's install action
// installs it (no --wait: nothing runs the image here) on an API server
// without the CRDs, as a new cluster is. Everything the chart installs is
// then there. `helm upgrade` with a changed configuration rolls the pods
// (a new pod template); `helm uninstall` removes the manager and its
// RBAC, and keeps the CRDs and so the PartnerAccounts.
func TestHelmInstallFromDist(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	archive := helmPackage(t)
	api := apiClient(t)
	deleteCRDs(t, api)

	const ns = "partnerops-helm"
	cfg := actionConfig(t, ns)
	install := action.NewInstall(cfg)
	install.ReleaseName = releaseName
	install.Namespace = ns
	install.CreateNamespace = true
	install.WaitStrategy = kube.HookOnlyStrategy
	install.Timeout = 2 * time.Minute
	c, err := loader.Load(archive)
	if err != nil {
		t.Fatalf("loading %s: %v", archive, err)
	}
	r, err := install.RunWithContext(ctx(t), c, nil)
	if err != nil {
		t.Fatalf("helm install %s: %v", filepath.Base(archive), err)
	}
	rel := r.(*release.Release)
	if rel.Info.Status != rcommon.StatusDeployed {
		t.Fatalf("release status %s, want deployed", rel.Info.Status)
	}
	if !strings.Contains(rel.Info.Notes, "rollout status deploy/partnerops-controller-manager") {
		t.Errorf("the notes do not say how to check the manager:\n%s", rel.Info.Notes)
	}

	// Everything is there, in the release's namespace or cluster-wide.
	for _, o := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: deployment}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: configMap}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: acceptanceSvc}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: metricsSvc}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: serviceAccount}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "partnerops-manager-role"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "partnerops-leader-election"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "partnerops-manager-role"}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "partnerops-manager-rolebinding"}},
		&admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "partnerops-confirm-deletion"}},
		&admissionv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "partnerops-confirm-deletion"}},
	} {
		if err := api.Get(ctx(t), client.ObjectKeyFromObject(o), o); err != nil {
			t.Errorf("after helm install, %T %s: %v", o, client.ObjectKeyFromObject(o), err)
		}
	}
	for _, name := range crdNames {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := api.Get(ctx(t), client.ObjectKey{Name: name}, crd); err != nil {
			t.Fatalf("after helm install, CRD %s: %v", name, err)
		}
		if crd.Annotations["helm.sh/resource-policy"] != "keep" || crd.Labels["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("CRD %s: annotations %v, labels %v: want kept and managed by Helm", name, crd.Annotations, crd.Labels)
		}
	}

	// helm upgrade with a changed configuration rolls the pods.
	before := podTemplate(t, api, ns)
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = ns
	upgrade.WaitStrategy = kube.HookOnlyStrategy
	upgrade.Timeout = 2 * time.Minute
	if _, err := upgrade.RunWithContext(ctx(t), releaseName, c, set(nil, "config.smtp.host", "mail.example.org")); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	after := podTemplate(t, api, ns)
	if before.Annotations["checksum/config"] == after.Annotations["checksum/config"] {
		t.Errorf("helm upgrade with config.smtp.host changed left the pod template's checksum/config as it was")
	}
	cm := &corev1.ConfigMap{}
	if err := api.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: configMap}, cm); err != nil || !strings.Contains(cm.Data["config.yaml"], "host: mail.example.org") {
		t.Errorf("after helm upgrade, the ConfigMap (%v):\n%s", err, cm.Data["config.yaml"])
	}

	// An account made while installed outlives helm uninstall.
	customer := env.Namespace(t)
	account := &partnersv1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: customer, Name: "globex"},
		Spec:       partnersv1alpha1.PartnerAccountSpec{DisplayName: "Globex"},
	}
	// The chart's requested-by MutatingAdmissionPolicy needs the schema of
	// the kind it patches, which the API server reads from its own OpenAPI
	// every 5 seconds: until it has read the CRDs just installed, it
	// answers 503 naming CustomResourceDefinitions. Retry only that.
	err = wait.PollUntilContextTimeout(ctx(t), 200*time.Millisecond, time.Minute, true, func(c context.Context) (bool, error) {
		err := api.Create(c, account)
		if apierrors.IsServiceUnavailable(err) && strings.Contains(err.Error(), "CustomResourceDefinitions") {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("creating a PartnerAccount after helm install: %v", err)
	}
	uninstall := action.NewUninstall(cfg)
	uninstall.WaitStrategy = kube.HookOnlyStrategy
	uninstall.Timeout = 2 * time.Minute
	res, err := uninstall.Run(releaseName)
	if err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	if !strings.Contains(res.Info, "kept due to the resource policy") {
		t.Errorf("helm uninstall says %q, want the CRDs named as kept", res.Info)
	}
	for _, o := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: deployment}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "partnerops-manager-role"}},
		&admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "partnerops-confirm-deletion"}},
	} {
		if err := api.Get(ctx(t), client.ObjectKeyFromObject(o), o); !apierrors.IsNotFound(err) {
			t.Errorf("after helm uninstall, %T %s: %v, want NotFound", o, client.ObjectKeyFromObject(o), err)
		}
	}
	for _, name := range crdNames {
		if err := api.Get(ctx(t), client.ObjectKey{Name: name}, &apiextensionsv1.CustomResourceDefinition{}); err != nil {
			t.Errorf("after helm uninstall, CRD %s: %v, want kept", name, err)
		}
	}
	if err := api.Get(ctx(t), client.ObjectKeyFromObject(account), account); err != nil {
		t.Errorf("after helm uninstall, PartnerAccount %s: %v, want kept", client.ObjectKeyFromObject(account), err)
	}
}

// helmPackage runs `make helm-package` into a temporary dist directory and
// returns the archive it wrote.
func helmPackage(t *testing.T) string {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command("make", "-s", "helm-package", "HELM_DIST="+dist)
	cmd.Dir, cmd.Env = root, manifest.MakeEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make helm-package: %v\n%s", err, out)
	}
	want := filepath.Join(dist, "partnerops-"+loadChart(t).Metadata.Version+".tgz")
	files, _ := filepath.Glob(filepath.Join(dist, "*"))
	if len(files) != 1 || files[0] != want {
		t.Fatalf("make helm-package wrote %v, want %s", files, want)
	}
	if !strings.Contains(string(out), want) {
		t.Errorf("make helm-package printed %q, not the archive's path", out)
	}
	return want
}

// deleteCRDs deletes the CRDs testenv installed, and waits until they are
// gone: a new cluster has none.
func deleteCRDs(t *testing.T, api client.Client) {
	t.Helper()
	for _, name := range crdNames {
		crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := api.Delete(ctx(t), crd); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx(t), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			err := api.Get(ctx, client.ObjectKey{Name: name}, crd)
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		})
		if err != nil {
			t.Fatalf("deleting CRD %s: %v", name, err)
		}
	}
}

// apiClient is a client of the API server whose scheme has the CRDs' kind
// besides the built-in and the project's.
func apiClient(t *testing.T) client.Client {
	t.Helper()
	scheme := testenv.Scheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// actionConfig is the SDK's configuration for the test API server, with
// releases in Secrets of namespace (helm's default driver).
func actionConfig(t *testing.T, namespace string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	kubeconfig := testenv.KubeconfigFile(t, env.Config, namespace)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &namespace
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func podTemplate(t *testing.T, api client.Client, namespace string) corev1.PodTemplateSpec {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := api.Get(ctx(t), client.ObjectKey{Namespace: namespace, Name: deployment}, d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template
}

func ctx(t *testing.T) context.Context { return t.Context() }
