package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
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
	kc := testenv.KubeconfigFile(t, env.Config, "")
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
	h := start(t, mp, &scimBackend{srv: scimpeer.Start(t)}, managertest.InNamespace("acme"), managertest.WithDisplayName(""))
	// Everything settles: 2 standalone + 3 owned invitations sent, carlos
	// accepts, his grants land, the account is Active.
	h.Eventually("five invitation emails", func() bool {
		sums, err := mp.Messages(context.Background())
		return err == nil && len(sums) == 5
	})
	h.accept(t, h.link(t, mp, "carlos.ruiz@globex.example"))
	h.waitGrantsSynced("globex-carlos", v1alpha1.ReasonGrantsApplied)
	h.Eventually("the account Active", func() bool { return h.GetAccount("globex").Status.State == v1alpha1.AccountActive })

	for _, name := range []string{"globex-amelie", "globex-carlos"} {
		inv := &v1alpha1.PartnerInvitation{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: "acme", Name: name}, inv); err != nil {
			t.Fatal(err)
		}
		if inv.Generation != 1 {
			t.Errorf("invitation %s has generation %d: its spec was written", name, inv.Generation)
		}
	}
	if g := h.GetAccount("globex").Generation; g != 1 {
		t.Errorf("the account has generation %d: its spec was written", g)
	}
	if out := run(0, "diff", "--server-side", "--field-manager", "gitops", "-f", samples); out != "" {
		t.Errorf("kubectl diff --server-side shows a difference:\n%s", out)
	}
	if out := run(0, "diff", "-f", samples); out != "" {
		t.Errorf("kubectl diff shows a difference:\n%s", out)
	}
}
