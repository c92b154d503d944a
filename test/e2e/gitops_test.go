package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
)

// TestAppliedObjectsStayAsApplied is what Argo CD and Flux rely on: after
// the controllers have worked (emails sent, one partner accepted, grants
// applied, owned invitations created), the objects the user applied from
// config/samples/ are still exactly what was applied: no spec write (their
// generation is still 1) and no difference for `kubectl diff`, client-side
// or server-side.
func TestAppliedObjectsStayAsApplied(t *testing.T) {
	kubectl := os.Getenv("TEST_ASSET_KUBECTL")
	if kubectl == "" {
		t.Fatal("TEST_ASSET_KUBECTL is not set: run `make test`, which builds kubectl with the control plane")
	}
	kc := writeKubeconfig(t)
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	run := func(wantExit int, args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kc}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("kubectl %v: %v", args, err)
		}
		if code != wantExit {
			t.Fatalf("kubectl %v exited %d, want %d:\n%s", args, code, wantExit, out.String())
		}
		return out.String()
	}
	run(0, "apply", "--server-side", "--field-manager", "gitops", "-f", samples)
	t.Cleanup(func() {
		cmd := exec.Command(kubectl, "--kubeconfig", kc, "delete", "--wait=false", "-f", samples)
		_ = cmd.Run()
	})

	mp := mailpit.Start(t)
	h := startIn(t, mp, &scimBackend{srv: scimpeer.Start(t)}, "acme", false)
	// Everything settles: 2 standalone + 3 owned invitations sent, carlos
	// accepts, his grants land, the account is Active.
	h.eventually(t, "five invitation emails", func() bool {
		sums, err := mp.Messages(context.Background())
		return err == nil && len(sums) == 5
	})
	h.accept(t, h.link(t, mp, "carlos.ruiz@globex.example"))
	h.waitGrantsSynced(t, "globex-carlos", v1alpha1.ReasonGrantsApplied)
	h.eventually(t, "the account Active", func() bool { return h.account(t).Status.State == v1alpha1.AccountActive })

	for _, name := range []string{"globex-amelie", "globex-carlos"} {
		inv := &v1alpha1.PartnerInvitation{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: "acme", Name: name}, inv); err != nil {
			t.Fatal(err)
		}
		if inv.Generation != 1 {
			t.Errorf("invitation %s has generation %d: its spec was written", name, inv.Generation)
		}
	}
	if g := h.account(t).Generation; g != 1 {
		t.Errorf("the account has generation %d: its spec was written", g)
	}
	if out := run(0, "diff", "--server-side", "--field-manager", "gitops", "-f", samples); out != "" {
		t.Errorf("kubectl diff --server-side shows a difference:\n%s", out)
	}
	if out := run(0, "diff", "-f", samples); out != "" {
		t.Errorf("kubectl diff shows a difference:\n%s", out)
	}
}

// writeKubeconfig writes a kubeconfig for the test API server's admin.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
