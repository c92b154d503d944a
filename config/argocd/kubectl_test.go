package argocd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
)

// These tests install the patch the two ways docs/argocd.md shows, with a
// real kubectl (make test builds one; TEST_ASSET_KUBECTL names it) and, for
// kubectl patch, a real API server (internal/testenv). Without them they
// are skipped; `make test` always has them.

// kubectl is the kubectl to run, or "" when there is none.
func kubectl() string {
	if p := os.Getenv("TEST_ASSET_KUBECTL"); p != "" {
		return p
	}
	if p, err := filepath.Abs(filepath.Join("..", "..", "bin", "kubectl")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("kubectl")
	return p
}

func needKubectl(t *testing.T) string {
	t.Helper()
	k := kubectl()
	if k == "" {
		t.Skip("no kubectl: run `make test`, which builds one")
	}
	return k
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s%s", filepath.Base(name), args, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// argocdCM is an argocd-cm as Argo CD installs it, with settings of its own
// that the patch must keep.
func argocdCM(namespace string) (string, map[string]string) {
	keep := map[string]string{
		"url": "https://argocd.example.com",
		"resource.customizations.health.cert-manager.io_Certificate": "hs = {status = \"Healthy\"}\nreturn hs\n",
	}
	cm := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "argocd-cm", "labels": map[string]any{
			"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"}},
		"data": keep,
	}
	if namespace != "" {
		cm["metadata"].(map[string]any)["namespace"] = namespace
	}
	out, _ := yaml.Marshal(cm)
	return string(out), keep
}

// TestKustomizePatch renders a kustomization of an Argo CD installation
// with the patch, as docs/argocd.md shows it: with a target, for resources
// with or without a namespace of their own (Argo CD's install.yaml has
// none; the kustomization sets it), and as a plain path for the former.
func TestKustomizePatch(t *testing.T) {
	k := needKubectl(t)
	patch, err := os.ReadFile(patchFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, baseNamespace, patches string
	}{
		{"target, install.yaml without namespaces", "", "  - path: argocd-cm-patch.yaml\n    target: {kind: ConfigMap, name: argocd-cm}\n"},
		{"target, resources in namespace argocd", "argocd", "  - path: argocd-cm-patch.yaml\n    target: {kind: ConfigMap, name: argocd-cm}\n"},
		{"path, install.yaml without namespaces", "", "  - path: argocd-cm-patch.yaml\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base, keep := argocdCM(tc.baseNamespace)
			files := map[string]string{
				"argocd-cm.yaml":       base,
				"argocd-cm-patch.yaml": string(patch),
				"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: argocd\n" +
					"resources:\n  - argocd-cm.yaml\npatches:\n" + tc.patches,
			}
			for name, content := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := run(t, k, "kustomize", dir)
			var cm corev1.ConfigMap
			if err := yaml.Unmarshal(out, &cm); err != nil {
				t.Fatal(err)
			}
			if cm.Namespace != "argocd" || cm.Labels["app.kubernetes.io/part-of"] != "argocd" {
				t.Errorf("namespace %q, labels %v: the patch must not change them", cm.Namespace, cm.Labels)
			}
			checkConfigMap(t, out, keep)
		})
	}
}

// TestOnAPIServer runs against a real API server: kubectl patch installs
// the checks into an existing argocd-cm, and the CRDs' defaults
// (invitationTTL, deletionPolicy, locale), filled in on create, do not show
// as a difference to kubectl diff, client-side or server-side.
func TestOnAPIServer(t *testing.T) {
	k := needKubectl(t)
	if _, _, err := testenv.Binaries(); err != nil {
		t.Skip(err)
	}
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := testenv.KubeconfigFile(t, env.Config, "")
	ctx := context.Background()

	t.Run("kubectl patch argocd-cm", func(t *testing.T) {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}); err != nil {
			t.Fatal(err)
		}
		base, keep := argocdCM("argocd")
		path := filepath.Join(t.TempDir(), "argocd-cm.yaml")
		if err := os.WriteFile(path, []byte(base), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, k, "--kubeconfig", kubeconfig, "create", "-f", path)
		run(t, k, "--kubeconfig", kubeconfig, "-n", "argocd", "patch", "configmap", "argocd-cm", "--patch-file", patchFile)
		// Patching again changes nothing (re-running an install step is safe).
		run(t, k, "--kubeconfig", kubeconfig, "-n", "argocd", "patch", "configmap", "argocd-cm", "--patch-file", patchFile)
		var cm corev1.ConfigMap
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "argocd", Name: "argocd-cm"}, &cm); err != nil {
			t.Fatal(err)
		}
		cm.APIVersion, cm.Kind = "v1", "ConfigMap"
		raw, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": cm.Name}, "data": cm.Data})
		if err != nil {
			t.Fatal(err)
		}
		checkConfigMap(t, raw, keep)
	})

	t.Run("defaults are no diff", func(t *testing.T) {
		if _, err := exec.LookPath("diff"); err != nil {
			t.Skip("kubectl diff needs diff(1)")
		}
		ns := env.Namespace(t)
		// As they would be in Git: no invitationTTL, deletionPolicy or locale.
		manifest := `apiVersion: partners.partnerops.dev/v1alpha1
kind: PartnerAccount
metadata:
  name: globex
spec:
  displayName: Globex Corporation
  users:
    - email: mindy@globex.example
      role: editor
      systems: [editor]
---
apiVersion: partners.partnerops.dev/v1alpha1
kind: PartnerInvitation
metadata:
  name: globex-carlos
spec:
  account: globex
  email: carlos.ruiz@globex.example
  role: viewer
  systems: [insights]
`
		path := filepath.Join(t.TempDir(), "partners.yaml")
		if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		kc := []string{"--kubeconfig", kubeconfig, "-n", ns}
		run(t, k, append(kc, "apply", "-f", path)...)

		var acct v1alpha1.PartnerAccount
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "globex"}, &acct); err != nil {
			t.Fatal(err)
		}
		var inv v1alpha1.PartnerInvitation
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "globex-carlos"}, &inv); err != nil {
			t.Fatal(err)
		}
		if acct.Spec.InvitationTTL != "168h" || acct.Spec.DeletionPolicy != v1alpha1.DeletionPolicyRevoke || inv.Spec.Locale != v1alpha1.LocaleEnglish {
			t.Fatalf("live defaults: invitationTTL %q, deletionPolicy %q, locale %q; docs/argocd.md says 168h, Revoke, en",
				acct.Spec.InvitationTTL, acct.Spec.DeletionPolicy, inv.Spec.Locale)
		}
		noDiff := func(args ...string) {
			t.Helper()
			cmd := exec.Command(k, append(kc, args...)...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == 1 {
				t.Errorf("kubectl %v found a difference:\n%s", args, out)
			} else if err != nil {
				t.Errorf("kubectl %v: %v\n%s", args, err, out)
			}
		}
		noDiff("diff", "-f", path)
		run(t, k, append(kc, "apply", "--server-side", "--field-manager", "argocd-controller", "-f", path)...)
		noDiff("diff", "--server-side", "--field-manager", "argocd-controller", "-f", path)
	})
}
