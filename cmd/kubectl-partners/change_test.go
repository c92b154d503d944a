package main

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

func TestResendRaisesSpecResend(t *testing.T) {
	ns := env.Namespace(t)
	pending := invitation{name: "jane", account: "globex", email: "jane.doe@globex.example", status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, ns)
	expired := invitation{name: "carlos", account: "globex", email: "carlos@globex.example", resend: 3, status: status{state: v1alpha1.InvitationExpired, expiresAt: t1}}.create(t, ns)
	invitation{name: "new", account: "globex", email: "new@globex.example"}.create(t, ns)

	r := mustPartners(t, ns, "resend", "jane", "carlos", "new", "jane")

	want := "partnerinvitation/jane resend requested for jane.doe@globex.example (spec.resend 0 → 1)\n" +
		"partnerinvitation/carlos resend requested for carlos@globex.example (spec.resend 3 → 4)\n" +
		"partnerinvitation/new resend requested for new@globex.example (spec.resend 0 → 1)\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	for name, want := range map[string]int32{"jane": 1, "carlos": 4, "new": 1} {
		if got := getInvitation(t, ns, name).Spec.Resend; got != want {
			t.Errorf("%s: spec.resend = %d, want %d (a name given twice is resent once)", name, got, want)
		}
	}
	if got := getInvitation(t, ns, "jane"); !got.Status.ExpiresAt.Equal(pending.Status.ExpiresAt) || got.Status.State != pending.Status.State {
		t.Errorf("status changed to %+v; only the operator writes status", got.Status)
	}
	if got := getInvitation(t, ns, "carlos"); got.Spec.Role != expired.Spec.Role || got.Spec.Revoked {
		t.Errorf("spec changed beyond resend: %+v", got.Spec)
	}
}

func TestResendRefusesAcceptedRevokedAndInvalid(t *testing.T) {
	tests := map[string]struct {
		inv  invitation
		want string
	}{
		"accepted": {
			inv:  invitation{resend: 2, status: status{state: v1alpha1.InvitationAccepted, acceptedAt: t1}},
			want: `cannot resend partnerinvitation "jane": it is Accepted (only PendingApproval or Expired invitations can be resent)`,
		},
		"declined": {
			inv:  invitation{status: status{state: v1alpha1.InvitationRevoked}},
			want: `cannot resend partnerinvitation "jane": it is Revoked (only PendingApproval or Expired invitations can be resent)`,
		},
		"invalid": {
			inv:  invitation{status: status{state: v1alpha1.InvitationInvalid}},
			want: `cannot resend partnerinvitation "jane": it is Invalid (only PendingApproval or Expired invitations can be resent): fix what its Ready condition says (kubectl describe pinv jane): the email then goes by itself, or, if its link expired meanwhile, it shows Expired and can be resent`,
		},
		"withdrawn, not yet seen by the operator": {
			inv:  invitation{revoked: true, status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}},
			want: `cannot resend partnerinvitation "jane": it is Revoked (only PendingApproval or Expired invitations can be resent)`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { checkRefused(t, "resend", tc.inv, tc.want) })
	}
}

// checkRefused runs `kubectl partners <verb> jane` on inv, named jane, and
// checks it fails with want, prints nothing and leaves the invitation
// unwritten.
func checkRefused(t *testing.T, verb string, inv invitation, want string) {
	t.Helper()
	ns := env.Namespace(t)
	inv.name, inv.account, inv.email = "jane", "globex", "jane.doe@globex.example"
	before := inv.create(t, ns)

	r := partners(t, ns, verb, "jane")

	if got := r.errText(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	if got := getInvitation(t, ns, "jane"); got.ResourceVersion != before.ResourceVersion {
		t.Errorf("the invitation was written (spec.resend %d → %d, spec.revoked %v → %v)", before.Spec.Resend, got.Spec.Resend, before.Spec.Revoked, got.Spec.Revoked)
	}
}

func TestResendAndWithdrawReportEveryFailureAndDoTheRest(t *testing.T) {
	ns := env.Namespace(t)
	invitation{name: "jane", account: "globex", email: "jane.doe@globex.example"}.create(t, ns)
	invitation{name: "carlos", account: "globex", email: "carlos@globex.example", status: status{state: v1alpha1.InvitationAccepted, acceptedAt: t1}}.create(t, ns)

	r := partners(t, ns, "resend", "nope", "jane", "carlos")
	want := `partnerinvitation "nope" not found in namespace ` + ns + "\n" +
		`cannot resend partnerinvitation "carlos": it is Accepted (only PendingApproval or Expired invitations can be resent)`
	if got := r.errText(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	if want := "partnerinvitation/jane resend requested for jane.doe@globex.example (spec.resend 0 → 1)\n"; r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = partners(t, ns, "withdraw", "jane", "nope")
	if want := `partnerinvitation "nope" not found in namespace ` + ns; r.errText() != want {
		t.Errorf("error:\n%s\nwant:\n%s", r.errText(), want)
	}
	if !getInvitation(t, ns, "jane").Spec.Revoked {
		t.Error("jane was not withdrawn")
	}
}

// TestResendIsConflictSafe raises spec.resend behind the command's back,
// between its read and its patch: both raises count.
func TestResendIsConflictSafe(t *testing.T) {
	ns := env.Namespace(t)
	invitation{name: "jane", account: "globex", email: "jane.doe@globex.example"}.create(t, ns)
	raced := false
	testHookBeforePatch = func(name string) {
		if raced {
			return
		}
		raced = true
		inv := getInvitation(t, ns, name)
		patch := client.MergeFrom(inv.DeepCopy())
		inv.Spec.Resend++
		if err := env.Client.Patch(context.Background(), inv, patch); err != nil {
			t.Errorf("concurrent resend: %v", err)
		}
	}
	t.Cleanup(func() { testHookBeforePatch = nil })

	r := mustPartners(t, ns, "resend", "jane")

	if got := getInvitation(t, ns, "jane").Spec.Resend; got != 2 {
		t.Errorf("spec.resend = %d after two resends, want 2", got)
	}
	if want := "partnerinvitation/jane resend requested for jane.doe@globex.example (spec.resend 1 → 2)\n"; r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestResendShowsTheServersRefusal(t *testing.T) {
	ns := env.Namespace(t)
	invitation{name: "jane", account: "globex", email: "jane.doe@globex.example", resend: 1000}.create(t, ns)
	r := partners(t, ns, "resend", "jane")
	want := `The PartnerInvitation "jane" is invalid: spec.resend: Invalid value: 1001: spec.resend in body should be less than or equal to 1000`
	if got := r.errText(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
}

func TestResendAndWithdrawDryRun(t *testing.T) {
	for _, mode := range []string{"client", "server"} {
		t.Run(mode, func(t *testing.T) {
			ns := env.Namespace(t)
			before := invitation{name: "jane", account: "globex", email: "jane.doe@globex.example"}.create(t, ns)
			suffix := map[string]string{"client": " (dry run)", "server": " (server dry run)"}[mode]

			r := mustPartners(t, ns, "resend", "--dry-run="+mode, "jane")
			if want := "partnerinvitation/jane resend requested for jane.doe@globex.example (spec.resend 0 → 1)" + suffix + "\n"; r.stdout != want {
				t.Errorf("resend stdout:\n%s\nwant:\n%s", r.stdout, want)
			}
			r = mustPartners(t, ns, "withdraw", "--dry-run="+mode, "jane")
			if want := "partnerinvitation/jane withdrawn: the link sent to jane.doe@globex.example no longer works" + suffix + "\n"; r.stdout != want {
				t.Errorf("withdraw stdout:\n%s\nwant:\n%s", r.stdout, want)
			}
			if got := getInvitation(t, ns, "jane"); got.ResourceVersion != before.ResourceVersion {
				t.Errorf("a dry run wrote the invitation: %+v", got.Spec)
			}
		})
	}
}

func TestWithdrawSetsRevoked(t *testing.T) {
	ns := env.Namespace(t)
	invitation{name: "jane", account: "globex", email: "jane.doe@globex.example", status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, ns)
	invitation{name: "carlos", account: "globex", email: "carlos@globex.example", status: status{state: v1alpha1.InvitationAccepted, acceptedAt: t1}}.create(t, ns)
	invitation{name: "bob", account: "globex", email: "bob@globex.example", status: status{state: v1alpha1.InvitationExpired, expiresAt: t1}}.create(t, ns)

	r := mustPartners(t, ns, "withdraw", "jane", "carlos", "bob")

	want := "partnerinvitation/jane withdrawn: the link sent to jane.doe@globex.example no longer works\n" +
		"partnerinvitation/carlos withdrawn: carlos@globex.example loses their access\n" +
		"partnerinvitation/bob withdrawn: the link sent to bob@globex.example no longer works\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	for _, name := range []string{"jane", "carlos", "bob"} {
		if !getInvitation(t, ns, name).Spec.Revoked {
			t.Errorf("%s: spec.revoked is false after withdraw", name)
		}
	}
}

func TestWithdrawRefusesRevoked(t *testing.T) {
	tests := map[string]struct {
		inv  invitation
		want string
	}{
		"withdrawn": {
			inv:  invitation{revoked: true, status: status{state: v1alpha1.InvitationRevoked}},
			want: `partnerinvitation "jane" is already withdrawn (state Revoked)`,
		},
		"declined by the partner": {
			inv:  invitation{status: status{state: v1alpha1.InvitationRevoked}},
			want: `partnerinvitation "jane" is already withdrawn (state Revoked)`,
		},
		"withdrawn, not yet seen by the operator": {
			inv:  invitation{revoked: true},
			want: `partnerinvitation "jane" is already withdrawn (spec.revoked is already true)`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { checkRefused(t, "withdraw", tc.inv, tc.want) })
	}
}

// TestChangeTakesKubectlNames: resend and withdraw take the kind/name forms
// kubectl and `-o name` print, so their output can be passed on.
func TestChangeTakesKubectlNames(t *testing.T) {
	ns := env.Namespace(t)
	for _, name := range []string{"jane", "carlos", "amelie"} {
		invitation{name: name, account: "globex", email: name + "@globex.example", status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, ns)
	}
	names := mustPartners(t, ns, "list", "-o", "name").stdout
	mustPartners(t, ns, append([]string{"resend"}, strings.Fields(names)...)...)
	mustPartners(t, ns, "withdraw", "pinv/jane", "partnerinvitation/carlos", "PartnerInvitations.partners.partnerops.dev/amelie")
	for _, name := range []string{"jane", "carlos", "amelie"} {
		if got := getInvitation(t, ns, name).Spec; got.Resend != 1 || !got.Revoked {
			t.Errorf("%s: resend %d, revoked %v; want resent once and withdrawn", name, got.Resend, got.Revoked)
		}
	}
}
