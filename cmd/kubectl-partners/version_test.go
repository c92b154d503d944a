package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/partnerops/partnerops/internal/testenv"
)

// setVersion sets what -ldflags and the Go toolchain's build information
// would have, for one test.
func setVersion(t *testing.T, v, c, d string, bi *debug.BuildInfo) {
	t.Helper()
	oldV, oldC, oldD, oldBI := version, commit, date, buildInfo
	version, commit, date = v, c, d
	buildInfo = func() (*debug.BuildInfo, bool) { return bi, bi != nil }
	t.Cleanup(func() { version, commit, date, buildInfo = oldV, oldC, oldD, oldBI })
}

func TestVersion(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2031-03-14T09:30:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	tests := map[string]struct {
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  versionInfo
	}{
		"set by -ldflags": {
			version: "v1.2.3", commit: "fedcba9", date: "2031-01-02T03:04:05Z", bi: vcs,
			want: versionInfo{Version: "v1.2.3", Commit: "fedcba9", BuildDate: "2031-01-02T03:04:05Z"},
		},
		"go install …@v0.4.0 or go build in a checkout": {
			bi:   vcs,
			want: versionInfo{Version: "v0.4.0", Commit: "0123abc-dirty", BuildDate: "2031-03-14T09:30:00Z"},
		},
		"nothing known": {
			bi:   &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			want: versionInfo{Version: "dev", Commit: "unknown", BuildDate: "unknown"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			setVersion(t, tc.version, tc.commit, tc.date, tc.bi)
			tc.want.GoVersion, tc.want.Platform = runtime.Version(), platform

			r := mustPartners(t, "default", "version")
			want := "Version:    " + tc.want.Version + "\nCommit:     " + tc.want.Commit + "\nBuild date: " + tc.want.BuildDate +
				"\nGo:         " + runtime.Version() + " " + platform + "\n"
			if r.stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
			}
			for format, unmarshal := range map[string]func([]byte, any) error{"json": json.Unmarshal, "yaml": func(b []byte, v any) error { return yaml.UnmarshalStrict(b, v) }} {
				r := mustPartners(t, "default", "version", "-o", format)
				var got versionInfo
				if err := unmarshal([]byte(r.stdout), &got); err != nil || got != tc.want {
					t.Errorf("-o %s: %+v (%v), want %+v\n%s", format, got, err, tc.want, r.stdout)
				}
			}
		})
	}
}

// TestVersionNeedsNoCluster: version works without a kubeconfig.
func TestVersionNeedsNoCluster(t *testing.T) {
	if r := runOffline(t, "version"); r.err != nil || !strings.HasPrefix(r.stdout, "Version:") {
		t.Errorf("version without a cluster: %v\n%s", r.err, r.stdout)
	}
}

// TestMakePluginStampsTheVersion builds the plugin with `make plugin`, as
// a user or the release does, and runs it: version prints what make passed
// with -ldflags, and the binary answers kubectl's shell completion under
// the name kubectl_complete-partners that make links to it.
func TestMakePluginStampsTheVersion(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	bin := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "plugin", "BIN="+bin, "VERSION=v9.8.7-test", "COMMIT=0123456789abcdef", "BUILD_DATE=2031-03-14T09:30:00Z")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make plugin: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(bin, "kubectl-partners"), "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl-partners version: %v", err)
	}
	var got versionInfo
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "v9.8.7-test" || got.Commit != "0123456789abcdef" || got.BuildDate != "2031-03-14T09:30:00Z" {
		t.Errorf("version of the built plugin: %+v", got)
	}
	// kubectl runs kubectl_complete-partners with the words after
	// "kubectl partners", the last one being completed.
	out, err = exec.Command(filepath.Join(bin, completionHelper), "invite", "--loc").Output()
	if err != nil {
		t.Fatalf("%s: %v", completionHelper, err)
	}
	if !strings.HasPrefix(string(out), "--locale\t") {
		t.Errorf("%s invite --loc printed:\n%s\nwant --locale offered", completionHelper, out)
	}
}
