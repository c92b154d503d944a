// Package testenv starts the real kube-apiserver and etcd that tests run
// against (envtest), with the project's CRDs installed. The binaries are the
// ones hack/install-control-plane.sh builds from the Go module proxy; `make
// test` builds them first and passes their paths in TEST_ASSET_* variables.
package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	partnersv1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is a client over Config with the project's scheme.
	Client client.Client
	// Scheme has the built-in kinds and the project's kinds.
	Scheme *k8sruntime.Scheme

	env *envtest.Environment
}

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binaries returns the paths of kube-apiserver and etcd: the TEST_ASSET_*
// variables when set (make test sets them), else the single version built
// under bin/.
func Binaries() (apiserver, etcd string, err error) {
	apiserver, err = find("TEST_ASSET_KUBE_APISERVER", "k8s", "kube-apiserver")
	if err != nil {
		return "", "", err
	}
	etcd, err = find("TEST_ASSET_ETCD", "etcd", "etcd")
	return apiserver, etcd, err
}

func find(envVar, dir, name string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", envVar, p, err)
		}
		return p, nil
	}
	matches, _ := filepath.Glob(filepath.Join(RepoRoot(), "bin", dir, "*", name))
	sort.Strings(matches)
	if len(matches) == 0 {
		return "", fmt.Errorf("no %s under bin/%s: run `make test` (or hack/install-control-plane.sh) to build it", name, dir)
	}
	return matches[len(matches)-1], nil
}

// Scheme has the built-in kinds and the project's kinds.
func Scheme() *k8sruntime.Scheme {
	scheme := k8sruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(partnersv1alpha1.AddToScheme(scheme))
	return scheme
}

// Start starts etcd and kube-apiserver with the CRDs of config/crd/bases.
func Start() (*Env, error) {
	apiserver, etcd, err := Binaries()
	if err != nil {
		return nil, err
	}
	scheme := Scheme()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	env.ControlPlane.GetAPIServer().Path = apiserver
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the test control plane: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, env: env}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// Main is the body of a TestMain that needs a control plane: it starts one,
// stores it in *env, runs setup (objects every test needs), runs the tests
// and stops it.
func Main(m *testing.M, env **Env, setup ...func(*Env) error) {
	if fuzzing() {
		// A fuzz target is a pure function: its workers (each a copy of
		// this binary) need no control plane, and starting one per worker
		// would only make them wait on each other.
		os.Exit(m.Run())
	}
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*env = e
	for _, f := range setup {
		if err := f(e); err != nil {
			fmt.Fprintln(os.Stderr, "setting up the test control plane:", err)
			_ = e.Stop()
			os.Exit(1)
		}
	}
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
	}
	os.Exit(code)
}

// fuzzing reports whether the test binary runs a fuzz target (-test.fuzz),
// as the coordinator or as one of its workers.
func fuzzing() bool {
	if !flag.Parsed() {
		flag.Parse() // TestMain runs before testing parses its flags
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return true
	}
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// Namespace creates a namespace with a generated name for one test and
// deletes it when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a test namespace: %v", err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), ns) })
	return ns.Name
}
