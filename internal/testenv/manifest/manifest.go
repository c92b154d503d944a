// Package manifest is what the tests of what users install share
// (test/manifests for config/, test/helm for the Helm chart): rendered
// manifests as objects, kubectl and its kustomize, and server-side apply to
// the test API server.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/partnerops/partnerops/internal/testenv"
)

// Objects are rendered manifests, in order.
type Objects []*unstructured.Unstructured

// Decode reads a multi-document manifest, failing the test on a document
// that is not YAML.
func Decode(t testing.TB, manifests string) Objects {
	t.Helper()
	var objs Objects
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("decoding %s: %v", doc, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// Find returns the object of that kind and name, or nil.
func (objs Objects) Find(kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// Get returns the object of that kind and name, failing the test when there
// is none.
func (objs Objects) Get(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := objs.Find(kind, name)
	if o == nil {
		t.Fatalf("no %s %s in the rendered manifests", kind, name)
	}
	return o
}

// OfKind returns the objects of the given kinds.
func (objs Objects) OfKind(kinds ...string) Objects {
	var out Objects
	for _, o := range objs {
		for _, k := range kinds {
			if o.GetKind() == k {
				out = append(out, o)
			}
		}
	}
	return out
}

// Without returns the objects of none of the given kinds.
func (objs Objects) Without(kinds ...string) Objects {
	var out Objects
	for _, o := range objs {
		if len(Objects{o}.OfKind(kinds...)) == 0 {
			out = append(out, o)
		}
	}
	return out
}

// YAML is the objects as one multi-document manifest.
func (objs Objects) YAML(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		out, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(out)
	}
	return b.String()
}

// Typed converts a rendered object into its Go type, failing on fields the
// type does not have (a misspelt or misplaced key in a manifest).
func Typed(t testing.TB, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// Kubectl is the kubectl the tests run: TEST_ASSET_KUBECTL (make test sets
// it) or the one hack/install-control-plane.sh links at bin/kubectl.
func Kubectl(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TEST_ASSET_KUBECTL"); p != "" {
		return p
	}
	p := filepath.Join(testenv.RepoRoot(), "bin", "kubectl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no kubectl at %s: run `make test` (or hack/install-control-plane.sh), which builds it", p)
	}
	return p
}

// Run runs a command in dir and returns its standard output and error; it
// fails the test when the command fails.
func Run(t testing.TB, dir, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := RunErr(dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// RunErr runs a command in dir and returns its standard output and error,
// and how it ended.
func RunErr(dir, name string, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// Kustomize runs `kubectl kustomize` on a directory of the repository, such
// as "config/default", and returns the objects it printed.
func Kustomize(t testing.TB, dir string) Objects {
	t.Helper()
	root := testenv.RepoRoot()
	out, _ := Run(t, root, Kubectl(t), "kustomize", filepath.Join(root, dir))
	return Decode(t, out)
}

// KustomizeOverlay renders an overlay: a kustomization.yaml (without
// apiVersion and kind) in a directory outside the repository, with files
// beside it; {{root}} in it is the repository (kustomize refuses absolute
// paths to other kustomizations, so it becomes a relative one).
func KustomizeOverlay(t testing.TB, kustomization string, files map[string]string) Objects {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, testenv.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		strings.ReplaceAll(kustomization, "{{root}}", filepath.ToSlash(rel))
	WriteFile(t, filepath.Join(dir, "kustomization.yaml"), k)
	for name, content := range files {
		WriteFile(t, filepath.Join(dir, name), content)
	}
	out, _ := Run(t, dir, Kubectl(t), "kustomize", dir)
	return Decode(t, out)
}

// KustomizeDefault renders an overlay of config/default with the given
// Components of the repository (such as "config/prometheus"), as
// docs/install.md shows it.
func KustomizeDefault(t testing.TB, components ...string) Objects {
	t.Helper()
	k := "resources:\n- {{root}}/config/default\n"
	if len(components) > 0 {
		k += "components:\n"
		for _, c := range components {
			k += "- {{root}}/" + c + "\n"
		}
	}
	return KustomizeOverlay(t, k, nil)
}

// Apply runs `kubectl apply --server-side` of objs on the API server of
// cfg as its user, with extra flags (such as --dry-run=server), and
// returns what kubectl printed.
func Apply(t testing.TB, cfg *rest.Config, objs Objects, flags ...string) (stdout, stderr string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "manifests.yaml")
	WriteFile(t, file, objs.YAML(t))
	args := append([]string{"--kubeconfig", testenv.KubeconfigFile(t, cfg, ""), "apply", "--server-side", "-f", file}, flags...)
	return Run(t, testenv.RepoRoot(), Kubectl(t), args...)
}

// WriteFile writes a file, failing the test when it cannot.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// MakeEnv is this process's environment without the variables of a `make
// test` the tests may run under, for a test that runs make itself.
func MakeEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			out = append(out, kv)
		}
	}
	return out
}
