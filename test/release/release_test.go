// Package release tests the release: .goreleaser.yaml is valid for the
// pinned GoReleaser (`goreleaser check`, deprecations included) and builds
// what docs/releasing.md says (the manager and kubectl-partners for
// linux, darwin and windows on amd64 and arm64, archives, checksums, an SBOM
// per binary), and a snapshot release of this machine's platform, built for
// real, holds archives whose checksums agree, whose binaries report the
// version, commit and date GoReleaser gave them, and whose CycloneDX SBOMs
// list the modules compiled in; the krew manifest filled from it points at
// that archive with its sha256.
//
// GoReleaser runs through hack/goreleaser.sh, as `make release-snapshot`
// runs it; it and cyclonedx-gomod are built from the Go module proxy by
// hack/install-release-tools.sh on first use (`make test` builds them
// before the tests start: `make release-tools`). The snapshot covers one platform of the twelve
// targets to keep `make test` short; `make release-snapshot` builds all of
// them (docs/releasing.md has both costs).
package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var root = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}()

// goreleaser runs hack/goreleaser.sh, as `make release-snapshot` does: the
// pinned GoReleaser (built from the Go module proxy on first use) with
// cyclonedx-gomod on PATH.
func goreleaser(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "hack", "goreleaser.sh"), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// config is the part of .goreleaser.yaml the tests read.
type config struct {
	Version int    `json:"version"`
	Dist    string `json:"dist"`
	Builds  []struct {
		ID      string   `json:"id"`
		Main    string   `json:"main"`
		Binary  string   `json:"binary"`
		Env     []string `json:"env"`
		Flags   []string `json:"flags"`
		Ldflags []string `json:"ldflags"`
		Goos    []string `json:"goos"`
		Goarch  []string `json:"goarch"`
	} `json:"builds"`
	Archives []struct {
		ID           string   `json:"id"`
		IDs          []string `json:"ids"`
		NameTemplate string   `json:"name_template"`
		Files        []string `json:"files"`
	} `json:"archives"`
	Sboms []struct {
		Artifacts string   `json:"artifacts"`
		Cmd       string   `json:"cmd"`
		Documents []string `json:"documents"`
	} `json:"sboms"`
}

func readConfig(t *testing.T) (config, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c config
	var m map[string]any
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return c, m
}

// TestGoReleaserCheck: the pinned GoReleaser finds the configuration valid
// and uses no deprecated property (`goreleaser check` exits 2 for those).
func TestGoReleaserCheck(t *testing.T) {
	out, err := goreleaser(t, "check")
	if err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
}

// TestReleaseTargets: the configuration builds the manager (the package
// `make build` builds) and kubectl-partners for linux, darwin and windows
// on amd64 and arm64, static and with -trimpath like the image, stamped
// with the variables `make build` sets (main.version, main.commit,
// main.date), archives each with the licence, and an SBOM per binary into
// the dist directory `make release-snapshot` fills the krew manifest from.
// The krew template has an entry for each of the plugin's platforms.
func TestReleaseTargets(t *testing.T) {
	c, _ := readConfig(t)
	if c.Version != 2 {
		t.Errorf("version %d, want 2 (GoReleaser v2's configuration)", c.Version)
	}
	mains := map[string]string{"partnerops": ".", "kubectl-partners": "./cmd/kubectl-partners"}
	for _, b := range c.Builds {
		if want, ok := mains[b.Binary]; !ok || b.Main != want {
			t.Errorf("build %s: binary %s from %s, want one of %v", b.ID, b.Binary, b.Main, mains)
		}
		delete(mains, b.Binary)
		slices.Sort(b.Goos)
		slices.Sort(b.Goarch)
		if !slices.Equal(b.Goos, []string{"darwin", "linux", "windows"}) || !slices.Equal(b.Goarch, []string{"amd64", "arm64"}) {
			t.Errorf("build %s: goos %v, goarch %v; want linux, darwin, windows on amd64, arm64", b.ID, b.Goos, b.Goarch)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") {
			t.Errorf("build %s: env %v, flags %v; want CGO_ENABLED=0 and -trimpath", b.ID, b.Env, b.Flags)
		}
		ld := strings.Join(b.Ldflags, " ")
		for _, v := range []string{"main.version=v{{ .Version }}", "main.commit={{ .FullCommit }}", "main.date={{ .CommitDate }}"} {
			if !strings.Contains(ld, "-X "+v) {
				t.Errorf("build %s: ldflags %q do not set -X %s", b.ID, ld, v)
			}
		}
	}
	if len(mains) > 0 {
		t.Errorf("no build of %v", mains)
	}
	if len(c.Archives) != 2 {
		t.Errorf("%d archives, want one per binary", len(c.Archives))
	}
	for _, a := range c.Archives {
		if !slices.Contains(a.Files, "LICENSE") {
			t.Errorf("archive %s does not hold LICENSE", a.ID)
		}
	}
	if len(c.Sboms) != 1 || c.Sboms[0].Artifacts != "binary" || c.Sboms[0].Cmd != "cyclonedx-gomod" {
		t.Errorf("sboms %+v: want one, of each binary, by cyclonedx-gomod", c.Sboms)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "RELEASE_DIST := $(ROOT)/" + c.Dist + "\n"; !strings.Contains(string(mk), want) {
		t.Errorf("the Makefile does not say %q: the krew manifest would be filled from another directory than GoReleaser's dist", want)
	}

	tmpl, err := os.ReadFile(filepath.Join(root, "hack", "krew", "partners.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range c.Builds {
		if b.Binary != "kubectl-partners" {
			continue
		}
		for _, goos := range b.Goos {
			for _, goarch := range b.Goarch {
				if !strings.Contains(string(tmpl), fmt.Sprintf("os: %s\n        arch: %s\n", goos, goarch)) {
					t.Errorf("hack/krew/partners.yaml has no entry for %s/%s", goos, goarch)
				}
			}
		}
	}
}

// artifact is one entry of GoReleaser's dist/artifacts.json.
type artifact struct {
	Name   string         `json:"name"`
	Path   string         `json:"path"`
	Goos   string         `json:"goos"`
	Goarch string         `json:"goarch"`
	Type   string         `json:"type"`
	Extra  map[string]any `json:"extra"`
}

// TestSnapshot builds a snapshot release of this machine's platform (the
// configuration with goos and goarch narrowed to it, into a temporary dist)
// and checks what it wrote.
func TestSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries with GoReleaser (a minute or more)")
	}
	_, m := readConfig(t)
	dist := t.TempDir()
	m["dist"] = dist
	for _, b := range m["builds"].([]any) {
		b.(map[string]any)["goos"] = []string{runtime.GOOS}
		b.(map[string]any)["goarch"] = []string{runtime.GOARCH}
	}
	narrowed, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "goreleaser.yaml")
	if err := os.WriteFile(cfgFile, narrowed, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := goreleaser(t, "release", "--snapshot", "--clean", "--config", cfgFile); err != nil {
		t.Fatalf("goreleaser release --snapshot: %v\n%s", err, out)
	}

	var meta struct{ Version, Commit string }
	readJSON(t, filepath.Join(dist, "metadata.json"), &meta)
	var artifacts []artifact
	readJSON(t, filepath.Join(dist, "artifacts.json"), &artifacts)
	// The commit GoReleaser read (HEAD may have moved since, in a working
	// tree others commit to): a full commit of this repository, whose
	// short form names the snapshot.
	commit := meta.Commit
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", commit+"^{commit}").CombinedOutput(); err != nil ||
		strings.TrimSpace(string(out)) != commit || !strings.Contains(meta.Version, "."+commit[:7]) {
		t.Errorf("metadata.json: commit %q, version %q: want a full commit of this repository, named in the version (%v: %s)", commit, meta.Version, err, out)
	}
	if !regexp.MustCompile(`-snapshot\.[0-9a-f]+$`).MatchString(meta.Version) {
		t.Errorf("snapshot version %q, want …-snapshot.<short commit>", meta.Version)
	}

	// checksums.txt covers every archive, and says its sha256.
	sums := map[string]string{}
	raw, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		sum, name, _ := strings.Cut(line, "  ")
		sums[name] = sum
	}
	archives := map[string]artifact{} // by binary
	sboms := map[string]artifact{}    // by binary
	for _, a := range artifacts {
		switch a.Type {
		case "Archive":
			archives[fmt.Sprint(a.Extra["ID"])] = a
			if got := fileSHA256(t, abs(a.Path)); sums[a.Name] != got {
				t.Errorf("%s: sha256 %s, checksums.txt says %q", a.Name, got, sums[a.Name])
			}
		case "SBOM":
			sboms[strings.SplitN(a.Name, "_", 2)[0]] = a
		}
	}
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	deps := map[string][]string{
		"partnerops":       {"sigs.k8s.io/controller-runtime", "k8s.io/client-go"},
		"kubectl-partners": {"github.com/spf13/cobra", "k8s.io/cli-runtime"},
	}
	ids := map[string]string{"partnerops": "manager", "kubectl-partners": "kubectl-partners"}
	for binary, id := range ids {
		a, ok := archives[id]
		if !ok {
			t.Errorf("no archive of %s for %s/%s in artifacts.json", binary, runtime.GOOS, runtime.GOARCH)
			continue
		}
		files := unpack(t, abs(a.Path), filepath.Join(t.TempDir(), binary))
		for _, f := range []string{binary + exe, "LICENSE", "CHANGELOG.md", "README.md"} {
			if _, ok := files[f]; !ok {
				t.Errorf("%s holds %v, not %s", a.Name, slices.Sorted(maps.Keys(files)), f)
			}
		}
		checkVersion(t, binary, files[binary+exe], "v"+meta.Version, commit)
		sbom, ok := sboms[binary]
		if !ok {
			t.Errorf("no SBOM of %s in artifacts.json", binary)
			continue
		}
		checkSBOM(t, abs(sbom.Path), deps[binary])
	}

	checkKrew(t, dist, meta.Version, archives["kubectl-partners"], sums)
}

// checkVersion runs the binary's version command: the version and full
// commit GoReleaser stamped, and a date.
func checkVersion(t *testing.T, binary, bin, version, commit string) {
	t.Helper()
	if binary == "partnerops" {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		want := regexp.MustCompile(`^partnerops ` + regexp.QuoteMeta(version) + ` \(commit ` + commit + `, built 20\d\d-\d\d-\d\dT`)
		if err != nil || !want.Match(out) {
			t.Errorf("partnerops --version: %v\n%s\nwant %s", err, out, want)
		}
		return
	}
	out, err := exec.Command(bin, "version", "-o", "json").CombinedOutput()
	var v struct{ Version, Commit, BuildDate string }
	if err != nil || json.Unmarshal(out, &v) != nil {
		t.Fatalf("kubectl-partners version -o json: %v\n%s", err, out)
	}
	if v.Version != version || v.Commit != commit || !strings.HasPrefix(v.BuildDate, "20") {
		t.Errorf("kubectl-partners version: %+v, want version %s, commit %s and a date", v, version, commit)
	}
}

// checkSBOM reads a CycloneDX JSON document of a Go binary: its components
// hold the modules named, at the versions go.mod requires.
func checkSBOM(t *testing.T, file string, modules []string) {
	t.Helper()
	var bom struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Component struct{ Name, Type string } `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name, Version, Purl string
		} `json:"components"`
	}
	readJSON(t, file, &bom)
	if bom.BOMFormat != "CycloneDX" || !strings.HasPrefix(bom.SpecVersion, "1.") {
		t.Errorf("%s: bomFormat %q, specVersion %q: not CycloneDX", file, bom.BOMFormat, bom.SpecVersion)
	}
	if bom.Metadata.Component.Name != "github.com/partnerops/partnerops" {
		t.Errorf("%s: describes %q, want github.com/partnerops/partnerops", file, bom.Metadata.Component.Name)
	}
	for _, mod := range modules {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", mod).Output()
		if err != nil {
			t.Fatalf("go list -m %s: %v", mod, err)
		}
		want := strings.TrimSpace(string(out))
		if !slices.ContainsFunc(bom.Components, func(c struct{ Name, Version, Purl string }) bool {
			return c.Name == mod && c.Version == want && strings.HasPrefix(c.Purl, "pkg:golang/")
		}) {
			t.Errorf("%s: no component %s %s among %d", filepath.Base(file), mod, want, len(bom.Components))
		}
	}
}

// checkKrew fills the krew template, cut down to this machine's platform
// (the snapshot has no other), from the snapshot's dist: its entry points
// at the release download of the plugin's archive, with the archive's
// sha256. The whole template against a full dist is hack/krew's test and
// `make release-snapshot`'s.
func checkKrew(t *testing.T, dist, version string, archive artifact, sums map[string]string) {
	t.Helper()
	if archive.Name == "" {
		return
	}
	raw, err := os.ReadFile(filepath.Join(root, "hack", "krew", "partners.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	head, entries, _ := strings.Cut(string(raw), "  - selector:\n")
	var mine string
	for _, e := range strings.Split(entries, "  - selector:\n") {
		if strings.Contains(e, fmt.Sprintf("os: %s\n        arch: %s\n", runtime.GOOS, runtime.GOARCH)) {
			mine = "  - selector:\n" + e
		}
	}
	if mine == "" {
		t.Fatalf("hack/krew/partners.yaml has no entry for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	tmpl := filepath.Join(t.TempDir(), "partners.yaml")
	if err := os.WriteFile(tmpl, []byte(head+mine), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./hack/krew", "-template", tmpl, "-dist", dist)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go run ./hack/krew: %v", err)
	}
	var m struct {
		Spec struct {
			Version   string
			Platforms []struct{ URI, SHA256, Bin string }
		}
	}
	if err := yaml.Unmarshal(out, &m); err != nil || len(m.Spec.Platforms) != 1 {
		t.Fatalf("the filled manifest (%v):\n%s", err, out)
	}
	p := m.Spec.Platforms[0]
	wantURI := "https://github.com/partnerops/partnerops/releases/download/v" + version + "/" + archive.Name
	if m.Spec.Version != "v"+version || p.URI != wantURI || p.SHA256 != sums[archive.Name] || p.SHA256 == "" {
		t.Errorf("krew manifest: version %s, uri %s, sha256 %s; want v%s, %s, %s", m.Spec.Version, p.URI, p.SHA256, version, wantURI, sums[archive.Name])
	}
}

// abs is a path of artifacts.json: relative to the repository's root
// unless absolute.
func abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func fileSHA256(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// unpack extracts a .tar.gz or .zip into dir and returns its files, name →
// path.
func unpack(t *testing.T, archive, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	write := func(name string, mode os.FileMode, r io.Reader) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode|0o600); err != nil {
			t.Fatal(err)
		}
		files[name] = p
	}
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(archive, ".zip") {
		z, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range z.File {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			write(f.Name, f.Mode(), r)
			r.Close()
		}
		return files
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			write(h.Name, os.FileMode(h.Mode), tr)
		}
	}
}
