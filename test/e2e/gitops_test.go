package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/controllers/account"
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
// or server-side. Then a changed file (one entry's resend raised, another
// entry's locale changed) is applied the same way: exactly that user gets
// one more email, and the account again stays exactly as applied.
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
	link := h.link(t, mp, "carlos.ruiz@globex.example")
	// As a person would, open the email once its send is recorded: a link
	// clicked in the instant between the email and that status write (which
	// also records the account carlos joined by his domain) is dead.
	h.WaitCondition("globex-carlos", v1alpha1.ConditionEmailSent, metav1.ConditionTrue, v1alpha1.ReasonSent)
	h.accept(t, link)
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
	// asApplied: the account has generation gen (partnerops wrote no spec)
	// and kubectl diff, server-side and client-side, shows no difference
	// from file; when says at which point, for the failures.
	asApplied := func(file string, gen int64, when string) {
		t.Helper()
		if g := h.GetAccount("globex").Generation; g != gen {
			t.Errorf("the account has generation %d%s: its spec was written", g, when)
		}
		if out := run(0, "diff", "--server-side", "--field-manager", "gitops", "-f", file); out != "" {
			t.Errorf("kubectl diff --server-side shows a difference%s:\n%s", when, out)
		}
		if out := run(0, "diff", "-f", file); out != "" {
			t.Errorf("kubectl diff shows a difference%s:\n%s", when, out)
		}
	}
	asApplied(samples, 1, "")

	// A commit changes the file: one entry's resend raised (mindy), one
	// entry's locale changed (hank). Applied as Argo CD would, the raised
	// entry gets exactly one more email, hank's invitation follows, and the
	// account again stays exactly as applied.
	acctFile := filepath.Join(samples, "partners_v1alpha1_partneraccount.yaml")
	src, err := os.ReadFile(acctFile)
	if err != nil {
		t.Fatal(err)
	}
	changed := string(src)
	for _, r := range [][2]string{
		{"      systems: [editor]\n", "      systems: [editor]\n      resend: 1\n"},
		{"      systems: [admin-center, insights]\n", "      systems: [admin-center, insights]\n      locale: fr\n"},
	} {
		if !strings.Contains(changed, r[0]) {
			t.Fatalf("the sample account no longer holds %q", r[0])
		}
		changed = strings.Replace(changed, r[0], r[1], 1)
	}
	commit := filepath.Join(t.TempDir(), "partneraccount.yaml")
	if err := os.WriteFile(commit, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := mp.Messages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	run(0, "apply", "--server-side", "--field-manager", "gitops", "-f", commit)
	mindy, hank := account.InvitationName("globex", "mindy@globex.example"), account.InvitationName("globex", "hank.scorpio@globex.example")
	h.Eventually("mindy's fresh link sent and hank's invitation in French", func() bool {
		return h.Invitation(mindy).Status.ObservedResend == 1 && h.Invitation(hank).Spec.Locale == v1alpha1.LocaleFrench
	})
	h.Eventually("the account reconciled", func() bool {
		a := h.GetAccount("globex")
		return a.Generation == 2 && a.Status.ObservedGeneration == 2
	})
	h.Settle()
	after, err := mp.Messages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var fresh []string
	for _, m := range after[len(before):] {
		for _, r := range m.Recipients() {
			fresh = append(fresh, r.Address)
		}
	}
	if !slices.Equal(fresh, []string{"mindy@globex.example"}) {
		t.Errorf("emails after the commit went to %v; want exactly one more, to mindy", fresh)
	}
	asApplied(commit, 2, " after the commit")
}
