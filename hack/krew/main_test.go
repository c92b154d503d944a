package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The platforms the template must cover: .goreleaser.yaml's goos × goarch
// (test/release checks the two agree).
var platforms = [][2]string{
	{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"},
	{"darwin", "arm64"}, {"windows", "amd64"}, {"windows", "arm64"},
}

// Manifest is the part of krew's Plugin (krew.googlecontainertools.github.com/v1alpha2)
// the tests read.
type Manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// fakeDist writes an archive (random-ish content) for each platform, named
// as .goreleaser.yaml names the plugin's, and checksums.txt for them.
func fakeDist(t *testing.T, version string, skip string) (dir string, sums map[string]string) {
	t.Helper()
	dir = t.TempDir()
	sums = map[string]string{}
	var lines []string
	for _, p := range platforms {
		ext := "tar.gz"
		if p[0] == "windows" {
			ext = "zip"
		}
		name := fmt.Sprintf("kubectl-partners_v%s_%s_%s.%s", version, p[0], p[1], ext)
		if name == skip {
			continue
		}
		data := []byte("archive of " + name)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		sums[name] = hex.EncodeToString(sum[:])
		lines = append(lines, sums[name]+"  "+name)
	}
	if err := os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"project_name":"partnerops","tag":"v0.0.0","version":"`+version+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, sums
}

// TestFillEveryPlatform fills the real template from a dist with every
// platform's archive: the result is a krew Plugin named partners, of the
// dist's version, with one entry per platform whose URI is the release
// download of that platform's archive and whose sha256 is the archive's.
func TestFillEveryPlatform(t *testing.T) {
	const version = "1.2.3"
	dist, sums := fakeDist(t, version, "")
	out := filepath.Join(t.TempDir(), "krew", "partners.yaml")
	if err := run("partners.yaml", dist, out, ""); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("the manifest is not YAML: %v\n%s", err, raw)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "partners" {
		t.Errorf("apiVersion %q, kind %q, name %q: want krew's v1alpha2 Plugin named partners (kubectl partners)", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if m.Spec.Version != "v"+version || m.Spec.ShortDescription == "" || m.Spec.Description == "" {
		t.Errorf("spec.version %q (want v%s), shortDescription %q, description %q", m.Spec.Version, version, m.Spec.ShortDescription, m.Spec.Description)
	}
	seen := map[[2]string]bool{}
	for _, p := range m.Spec.Platforms {
		key := [2]string{p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]}
		seen[key] = true
		ext, bin := "tar.gz", "kubectl-partners"
		if key[0] == "windows" {
			ext, bin = "zip", "kubectl-partners.exe"
		}
		name := fmt.Sprintf("kubectl-partners_v%s_%s_%s.%s", version, key[0], key[1], ext)
		if want := "https://github.com/partnerops/partnerops/releases/download/v" + version + "/" + name; p.URI != want {
			t.Errorf("%s: uri %s, want %s", key, p.URI, want)
		}
		if p.SHA256 != sums[name] {
			t.Errorf("%s: sha256 %s, want %s (the archive's)", key, p.SHA256, sums[name])
		}
		if p.Bin != bin {
			t.Errorf("%s: bin %s, want %s", key, p.Bin, bin)
		}
	}
	for _, p := range platforms {
		if !seen[p] {
			t.Errorf("no entry for %s/%s", p[0], p[1])
		}
	}
	if len(m.Spec.Platforms) != len(platforms) {
		t.Errorf("%d platform entries, want %d", len(m.Spec.Platforms), len(platforms))
	}
	if regexp.MustCompile(`\{\{|MISSING`).Match(raw) {
		t.Errorf("the manifest still holds a placeholder:\n%s", raw)
	}
}

// TestFillRefuses: a dist without one platform's archive, or whose
// checksums.txt disagrees with an archive, gives no manifest and an error
// naming the archive; so does a dist without metadata.json and no -tag.
func TestFillRefuses(t *testing.T) {
	const version = "1.2.3"
	missing := "kubectl-partners_v1.2.3_darwin_arm64.tar.gz"
	dist, _ := fakeDist(t, version, missing)
	out := filepath.Join(t.TempDir(), "partners.yaml")
	if err := run("partners.yaml", dist, out, ""); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("a dist without %s: %v, want an error naming it", missing, err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a manifest was written anyway")
	}

	dist, _ = fakeDist(t, version, "")
	tampered := "kubectl-partners_v1.2.3_linux_arm64.tar.gz"
	if err := os.WriteFile(filepath.Join(dist, tampered), []byte("other bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run("partners.yaml", dist, out, ""); err == nil || !strings.Contains(err.Error(), tampered) {
		t.Errorf("an archive that disagrees with checksums.txt: %v, want an error naming %s", err, tampered)
	}

	if err := os.Remove(filepath.Join(dist, "metadata.json")); err != nil {
		t.Fatal(err)
	}
	if err := run("partners.yaml", dist, out, ""); err == nil || !strings.Contains(err.Error(), "metadata.json") {
		t.Errorf("no metadata.json and no -tag: %v", err)
	}
}
