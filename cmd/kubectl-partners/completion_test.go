package main

import (
	"slices"
	"strings"
	"testing"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// TestCompletionScripts: `completion SHELL` writes the script for each
// shell cobra supports.
func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_kubectl-partners",
		"zsh":        "#compdef kubectl-partners",
		"fish":       "complete -c kubectl-partners",
		"powershell": "Register-ArgumentCompleter",
	} {
		r := runOffline(t, "completion", shell)
		if r.err != nil || !strings.Contains(r.stdout, want) {
			t.Errorf("completion %s: %v; the script does not contain %q", shell, r.err, want)
		}
	}
}

func TestCompletionHelperName(t *testing.T) {
	for args, want := range map[string]string{
		"/usr/local/bin/kubectl_complete-partners invite --loc": "__complete invite --loc",
		`C:\bin\kubectl_complete-partners.exe list -o`:          "__complete list -o",
		"/usr/local/bin/kubectl-partners list -A":               "list -A",
	} {
		osArgs := strings.Fields(strings.ReplaceAll(args, `\`, "/"))
		if got := strings.Join(argsOf(osArgs), " "); got != want {
			t.Errorf("argsOf(%q) = %q, want %q", args, got, want)
		}
	}
}

// TestCompletion: flag values and arguments are completed from the cluster
// where it knows them (accounts, the roles and systems in use, invitation
// names), from the API elsewhere.
func TestCompletion(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex", withUser("hank@globex.example", "admin")))
	createAccount(t, newAccount(ns, "initech"))
	invitation{name: "pending", account: "globex", email: "jane@globex.example", role: "editor", systems: []v1alpha1.CatalogueKey{"editor", "insights"},
		status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}.create(t, ns)
	invitation{name: "accepted", account: "globex", email: "carlos@globex.example", role: "viewer",
		status: status{state: v1alpha1.InvitationAccepted, acceptedAt: t1}}.create(t, ns)
	invitation{name: "withdrawn", account: "globex", email: "dan@globex.example", revoked: true}.create(t, ns)

	tests := map[string]struct {
		args []string
		want []string
	}{
		"accounts":                          {[]string{"invite", "--account", ""}, []string{"globex\tGlobex Corporation", "initech\tInitech Corporation"}},
		"accounts of list":                  {[]string{"list", "--account", ""}, []string{"globex\tGlobex Corporation", "initech\tInitech Corporation"}},
		"roles in use":                      {[]string{"invite", "--role", ""}, []string{"admin", "editor", "viewer"}},
		"systems, after those given":        {[]string{"invite", "--systems", "editor,"}, []string{"editor,insights"}},
		"locales":                           {[]string{"invite", "--locale", ""}, []string{"en", "fr", "es"}},
		"dry-run":                           {[]string{"withdraw", "--dry-run", ""}, []string{"none", "client", "server"}},
		"invitations that can be resent":    {[]string{"resend", ""}, []string{"pending\tjane@globex.example"}},
		"invitations that can be withdrawn": {[]string{"withdraw", "pending", ""}, []string{"accepted\tcarlos@globex.example"}},
		"output formats of list":            {[]string{"list", "-o", ""}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustPartners(t, ns, append([]string{"__complete"}, tc.args...)...)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			got := lines[:len(lines)-1] // the last line is cobra's directive
			if tc.want == nil {
				if !slices.Contains(got, "wide") || !slices.Contains(got, "jsonpath") || !slices.Contains(got, "custom-columns") {
					t.Errorf("offered %q, want the output formats", got)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("offered %q, want %q", got, tc.want)
			}
		})
	}
}
