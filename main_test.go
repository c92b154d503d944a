package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testpeers/tlstest"
)

var env *testenv.Env

// The dev configuration keeps its Secrets (the link-signing keys) here.
func TestMain(m *testing.M) {
	testenv.Main(m, &env, func(e *testenv.Env) error {
		return e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "partnerops-system"}})
	})
}

// manager is the partnerops binary under test, built once per test run.
func buildManager(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "partnerops")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func devConfig() string { return filepath.Join(testenv.RepoRoot(), "config", "dev", "config.yaml") }

// devConfigOn is the dev configuration with the acceptance page on page (a
// free loopback address), so the test does not take `make dev`'s port.
func devConfigOn(t *testing.T, page string) string {
	t.Helper()
	good, err := os.ReadFile(devConfig())
	if err != nil {
		t.Fatal(err)
	}
	const bind = "bindAddress: 127.0.0.1:8082"
	if !bytes.Contains(good, []byte(bind)) {
		t.Fatalf("%s no longer says %q", devConfig(), bind)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, bytes.Replace(good, []byte(bind), []byte("bindAddress: "+page), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitHTTP polls url until it answers 200 or the process exits.
func waitHTTP(t *testing.T, url string, exited <-chan error) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("the manager exited before %s answered: %v", url, err)
		case <-deadline:
			t.Fatalf("%s did not answer 200 within a minute", url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runningManager is a manager binary startManager started.
type runningManager struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	// page is the acceptance page's address.
	page string
	// exited receives the process's exit.
	exited chan error
}

// startManager builds the manager binary and starts it against the test
// API server with the dev configuration (its acceptance page on a free
// loopback address) and args. When the test ends it is sent SIGTERM, and
// killed if it has not stopped 45 seconds later.
func startManager(t *testing.T, args ...string) *runningManager {
	t.Helper()
	bin := buildManager(t)
	m := &runningManager{logs: &bytes.Buffer{}, page: freeAddr(t), exited: make(chan error, 1)}
	m.cmd = exec.Command(bin, append([]string{
		"--config", devConfigOn(t, m.page),
		"--kubeconfig", testenv.KubeconfigFile(t, env.Config, ""),
	}, args...)...)
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		m.exited <- m.cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(45 * time.Second):
			_ = m.cmd.Process.Kill()
			<-done
		}
	})
	return m
}

// TestManagerRunsAndStopsOnSIGTERM starts the real binary against the test
// API server: probes and metrics answer, it takes the leader Lease, and
// SIGTERM stops it cleanly with exit code 0, releasing the Lease.
func TestManagerRunsAndStopsOnSIGTERM(t *testing.T) {
	metrics, probes := freeAddr(t), freeAddr(t)
	m := startManager(t,
		"--metrics-bind-address", metrics, "--metrics-secure=false",
		"--health-probe-bind-address", probes,
		"--leader-elect", "--leader-election-namespace", "default")
	cmd, logs, exited, page := m.cmd, m.logs, m.exited, m.page

	waitHTTP(t, "http://"+probes+"/healthz", exited)
	waitHTTP(t, "http://"+probes+"/readyz", exited)
	// The acceptance page is served on its own port, and its readiness is
	// part of the manager's.
	waitHTTP(t, "http://"+page+"/healthz", exited)
	if ready := waitHTTP(t, "http://"+probes+"/readyz?verbose", exited); !strings.Contains(ready, "acceptance-page ok") {
		t.Errorf("/readyz does not check the acceptance page:\n%s", ready)
	}
	// HTTP/2 is off by default on the page too: no h2c.
	if resp, err := h2cGet("http://" + page + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.ProtoMajor == 2 {
			t.Error("the acceptance page answered h2c without --enable-http2")
		}
	}
	body := waitHTTP(t, "http://"+metrics+"/metrics", exited)
	if !strings.Contains(body, "leader_election_master_status") {
		t.Errorf("metrics do not report leader election:\n%.500s", body)
	}

	lease := &coordinationv1.Lease{}
	key := types.NamespacedName{Namespace: "default", Name: "leader.partnerops.dev"}
	waitFor(t, "the manager to hold the leader Lease", func() bool {
		return env.Client.Get(context.Background(), key, lease) == nil &&
			lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != ""
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the manager exited with %v after SIGTERM; logs:\n%s", err, logs.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("the manager did not stop within 45s of SIGTERM; logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "Manager stopped") {
		t.Errorf("no clean stop in the logs:\n%s", logs.String())
	}
	if err := env.Client.Get(context.Background(), key, lease); err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("the Lease is still held by %q after a clean stop; a new leader would wait for it to expire", *h)
	}
}

// TestManagerRefusesBadStart checks the errors a user sees when the manager
// cannot start: each names what is wrong and the exit code is 1.
func TestManagerRefusesBadStart(t *testing.T) {
	bin := buildManager(t)
	dir := t.TempDir()
	good, err := os.ReadFile(devConfig())
	if err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, bytes.Replace(good, []byte("\n  host:"), []byte("\n  hots:"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := testenv.KubeconfigFile(t, env.Config, "")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no config flag", []string{"--kubeconfig", kubeconfig}, []string{"--config is required"}},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, []string{"reading configuration", "nope.yaml"}},
		{"unknown key", []string{"--config", typo, "--kubeconfig", kubeconfig}, []string{typo, `unknown field "smtp.hots"`}},
		{"unreachable API server", []string{"--config", devConfig(), "--kubeconfig", filepath.Join(dir, "nope")}, []string{"nope"}},
		{"unknown flag", []string{"--confg", devConfig()}, []string{"flag provided but not defined: -confg"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(tc.args, "--health-probe-bind-address", "0", "--metrics-bind-address", "0")...)
			cmd.Env = append(os.Environ(), "KUBECONFIG=")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("want exit code 1, got %v; output:\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("timed out waiting for %s", what))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMetricsServerHTTP2FollowsTheFlag runs controller-runtime's metrics
// server with the options main builds: a client offering h2 and http/1.1
// gets http/1.1 unless --enable-http2, then h2 (the rule of
// internal/httpserver, the acceptance page's too).
func TestMetricsServerHTTP2FollowsTheFlag(t *testing.T) {
	for _, enable := range []bool{false, true} {
		t.Run(fmt.Sprintf("enable-http2=%v", enable), func(t *testing.T) {
			o := metricsOptions(&options{metricsAddr: "127.0.0.1:0", metricsSecure: true, enableHTTP2: enable})
			o.CertDir = t.TempDir() // no certificate there: the server makes a self-signed one
			httpClient, err := rest.HTTPClientFor(env.Config)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := metricsserver.NewServer(o, env.Config, httpClient)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- srv.Start(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			bound, ok := srv.(interface{ GetBindAddr() string })
			if !ok {
				t.Fatalf("%T does not tell its address", srv)
			}
			var addr string
			waitFor(t, "the metrics server to listen", func() bool {
				addr = bound.GetBindAddr()
				return addr != ""
			})

			// The certificate is the server's own, self-signed: what is
			// checked here is the protocol, not who serves it.
			insecure := &tls.Config{InsecureSkipVerify: true}
			// No token: refused, but over the protocol under test.
			if code := tlstest.CheckHTTP2(t, addr, insecure, enable, "/metrics"); code != http.StatusUnauthorized {
				t.Errorf("GET /metrics without a token: %d, want 401", code)
			}
		})
	}
}

// h2cGet gets url with HTTP/2 over plain TCP, with prior knowledge.
func h2cGet(url string) (*http.Response, error) {
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &h2c}
	defer tr.CloseIdleConnections()
	return (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
}

// TestEnableHTTP2ReachesTheAcceptancePage: --enable-http2 is passed through
// the manager to the acceptance page, which then speaks HTTP/2 (h2c on its
// plain port, as the dev configuration serves it).
func TestEnableHTTP2ReachesTheAcceptancePage(t *testing.T) {
	m := startManager(t, "--metrics-bind-address", "0", "--health-probe-bind-address", freeAddr(t), "--enable-http2")
	logs, exited, page := m.logs, m.exited, m.page
	waitHTTP(t, "http://"+page+"/healthz", exited)
	resp, err := h2cGet("http://" + page + "/healthz")
	if err != nil {
		t.Fatalf("h2c to the acceptance page with --enable-http2: %v\nlogs:\n%s", err, logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("h2c to the acceptance page with --enable-http2: %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
}
