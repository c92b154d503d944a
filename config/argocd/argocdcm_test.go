package argocd

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The argocd-cm patch that installs the checks is generated from the
// health.lua files: `go test ./config/argocd -update` rewrites it, and
// TestArgoCDConfigMapPatch fails when it drifts.
var update = flag.Bool("update", false, "rewrite argocd-cm-patch.yaml from the health.lua files")

// patchFile is the argocd-cm patch that installs the checks.
const patchFile = "argocd-cm-patch.yaml"

// configKey is the argocd-cm key of a kind's health check.
func configKey(kind string) string {
	return "resource.customizations.health." + group + "_" + kind
}

// renderPatch renders argocd-cm-patch.yaml from the health.lua files.
func renderPatch(t *testing.T) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString(`# Generated from config/argocd/partners.partnerops.dev/*/health.lua by
# ` + "`go test ./config/argocd -update`" + `: edit those files, not this one.
#
# The partnerops health checks for Argo CD, as a patch of the argocd-cm
# ConfigMap in Argo CD's namespace (see docs/argocd.md):
#   kubectl -n argocd patch configmap argocd-cm --patch-file argocd-cm-patch.yaml
# or, in the kustomization of an Argo CD installation:
#   patches:
#     - path: argocd-cm-patch.yaml
#       target: {kind: ConfigMap, name: argocd-cm}
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
data:
`)
	for _, kind := range kinds {
		script, err := os.ReadFile(filepath.Join(group, kind, "health.lua"))
		if err != nil {
			t.Fatal(err)
		}
		s := string(script)
		if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") || strings.Contains(s, "\t") || strings.Contains(s, "\r") {
			t.Fatalf("%s/%s/health.lua must end with exactly one newline and hold no tab or CR, so that a YAML block scalar keeps it byte for byte", group, kind)
		}
		b.WriteString("  " + configKey(kind) + ": |\n")
		for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			if strings.TrimRight(line, " ") != line {
				t.Fatalf("%s/%s/health.lua: trailing spaces in %q", group, kind, line)
			}
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return []byte(b.String())
}

// TestArgoCDConfigMapPatch keeps argocd-cm-patch.yaml generated from the
// health.lua files (-update rewrites it) and checks what a YAML reader
// gets out of it: the two keys, each with its script byte for byte.
func TestArgoCDConfigMapPatch(t *testing.T) {
	want := renderPatch(t)
	if *update {
		if err := os.WriteFile(patchFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(patchFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is not generated from the health.lua files: run `go test ./config/argocd -update`", patchFile)
	}
	checkConfigMap(t, got, nil)
}

// checkConfigMap checks that raw is the argocd-cm ConfigMap with both
// health checks equal to their files, and with the keys of keep.
func checkConfigMap(t *testing.T, raw []byte, keep map[string]string) {
	t.Helper()
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" {
		t.Errorf("got %s %s %s, want the v1 ConfigMap argocd-cm", cm.APIVersion, cm.Kind, cm.Name)
	}
	if len(cm.Data) != len(kinds)+len(keep) {
		t.Errorf("data has %d keys, want %d", len(cm.Data), len(kinds)+len(keep))
	}
	for _, kind := range kinds {
		script, err := os.ReadFile(filepath.Join(group, kind, "health.lua"))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := cm.Data[configKey(kind)]; !ok {
			t.Errorf("no key %s", configKey(kind))
		} else if got != string(script) {
			t.Errorf("%s differs from %s/%s/health.lua", configKey(kind), group, kind)
		}
	}
	for k, v := range keep {
		if cm.Data[k] != v {
			t.Errorf("%s = %q, want %q (kept from before the patch)", k, cm.Data[k], v)
		}
	}
}
