package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/testenv"
)

// TestLayoutCoversEveryPackage checks that DEVELOPERS.md's layout table has
// a row for every Go package of the module (as `go list ./...` finds them),
// so that the next person learns where each package's tests are, and that
// every path the table names still exists. A path cell covers a package
// when it names its directory (`internal/token/`) or one of its .go files
// (`main.go`).
func TestLayoutCoversEveryPackage(t *testing.T) {
	root := testenv.RepoRoot()
	doc, err := os.ReadFile(filepath.Join(root, "DEVELOPERS.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(doc), "\n## Layout\n")
	if !ok {
		t.Fatal("DEVELOPERS.md has no '## Layout' section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")

	covered := map[string]bool{}
	rows := 0
	for _, line := range strings.Split(layout, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			path := m[1]
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(path))); err != nil {
				t.Errorf("DEVELOPERS.md's layout table names %s, which does not exist", path)
			}
			switch {
			case strings.HasSuffix(path, "/"):
				covered[strings.TrimSuffix(path, "/")] = true
			case strings.HasSuffix(path, ".go"):
				covered[filepath.ToSlash(filepath.Dir(path))] = true
			}
		}
		rows++
	}
	if rows < 10 {
		t.Fatalf("found only %d rows in DEVELOPERS.md's layout table: the parsing is stale", rows)
	}

	cmd := exec.Command("go", "list", "-e", "-f", "{{.Dir}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		if rel = filepath.ToSlash(rel); !covered[rel] {
			t.Errorf("the package in %s has no row in DEVELOPERS.md's layout table (say what it is, where its tests are and what they run against)", rel)
		}
	}
}
