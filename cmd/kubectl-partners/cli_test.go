package main

import (
	"strings"
	"testing"
)

// TestCommandLineErrors covers the mistakes refused before anything is
// sent: each error says what is wrong and where the help is.
func TestCommandLineErrors(t *testing.T) {
	ns := env.Namespace(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"unknown flag": {
			args: []string{"invite", "--acount", "globex", "--role", "editor", "jane@globex.example"},
			want: "unknown flag: --acount\nSee 'kubectl partners invite --help' for usage.",
		},
		"missing --account and --role": {
			args: []string{"invite", "jane@globex.example"},
			want: "missing --account and --role: say which account the users join and with which role\nSee 'kubectl partners invite --help' for usage.",
		},
		"missing --role": {
			args: []string{"invite", "--account", "globex", "jane@globex.example"},
			want: "missing --role: say which account the users join and with which role\nSee 'kubectl partners invite --help' for usage.",
		},
		"no email": {
			args: []string{"invite", "--account", "globex", "--role", "editor"},
			want: "no email given: name at least one address to invite\nSee 'kubectl partners invite --help' for usage.",
		},
		"bad --dry-run": {
			args: []string{"invite", "--account", "globex", "--role", "editor", "--dry-run=yes", "jane@globex.example"},
			want: "invalid --dry-run value \"yes\": must be none, client or server\nSee 'kubectl partners invite --help' for usage.",
		},
		"bad -o for invite": {
			args: []string{"invite", "--account", "globex", "--role", "editor", "-o", "wide", "jane@globex.example"},
			want: "unknown output format \"wide\": use json, yaml or name\nSee 'kubectl partners invite --help' for usage.",
		},
		"bad -o for list": {
			args: []string{"list", "-o", "name"},
			want: "unknown output format \"name\": use json or yaml\nSee 'kubectl partners list --help' for usage.",
		},
		"list with an argument": {
			args: []string{"list", "globex"},
			want: "list takes no arguments, got [\"globex\"]: filter with --account\nSee 'kubectl partners list --help' for usage.",
		},
		"resend without a name": {
			args: []string{"resend"},
			want: "no invitation given: name at least one PartnerInvitation (kubectl partners list shows them)\nSee 'kubectl partners resend --help' for usage.",
		},
		"withdraw without a name": {
			args: []string{"withdraw"},
			want: "no invitation given: name at least one PartnerInvitation (kubectl partners list shows them)\nSee 'kubectl partners withdraw --help' for usage.",
		},
		"bad --dry-run for withdraw": {
			args: []string{"withdraw", "--dry-run", "maybe", "jane"},
			want: "invalid --dry-run value \"maybe\": must be none, client or server\nSee 'kubectl partners withdraw --help' for usage.",
		},
		"misspelt command": {
			args: []string{"invte"},
			want: "unknown command \"invte\" for \"kubectl partners\"; did you mean \"invite\"?\nSee 'kubectl partners --help' for usage.",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := partners(t, ns, tc.args...)
			if got := r.errText(); got != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
	if names := invitationNames(t, ns); len(names) != 0 {
		t.Errorf("invitations %v were created by refused command lines", names)
	}
}

func TestHelpNamesThePlugin(t *testing.T) {
	r := mustPartners(t, "default", "--help")
	for _, want := range []string{"kubectl partners [command]", "invite", "resend", "withdraw", "list", "--kubeconfig", "--namespace"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help does not mention %q:\n%s", want, r.stdout)
		}
	}
}

func TestNoKubeconfigIsAClearError(t *testing.T) {
	var stdout, stderr strings.Builder
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("HOME", t.TempDir())
	err := run([]string{"list"}, &stdout, &stderr)
	want := "no cluster to talk to: no kubeconfig was found (set KUBECONFIG or use --kubeconfig) and no --server was given"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestInviteChecksAddressesBeforeReachingACluster(t *testing.T) {
	var stdout, stderr strings.Builder
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("HOME", t.TempDir())
	err := run([]string{"invite", "--account", "globex", "--role", "editor", "jane@globex", "jane.doe@globex.example"}, &stdout, &stderr)
	var b strings.Builder
	printError(&b, err)
	want := `error: 1 of 2 addresses cannot be invited, so no invitation was created:
  "jane@globex": the part after @ must be a domain name with a dot, as in example.com
error: no cluster to talk to: no kubeconfig was found (set KUBECONFIG or use --kubeconfig) and no --server was given
`
	if b.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", b.String(), want)
	}
}
