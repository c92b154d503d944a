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
		"missing --role": {
			args: []string{"invite", "--account", "globex", "jane@globex.example"},
			want: "missing --role: say which role the users get\nSee 'kubectl partners invite --help' for usage.",
		},
		"--spec-users without --account": {
			args: []string{"invite", "--spec-users", "--role", "editor", "jane@globex.example"},
			want: "--spec-users needs --account: say which PartnerAccount's spec.users the users join\nSee 'kubectl partners invite --help' for usage.",
		},
		"-f with --spec-users": {
			args: []string{"invite", "-f", "globex.yaml", "--spec-users", "--account", "globex", "--role", "editor", "jane@globex.example"},
			want: "-f and --spec-users do not go together: -f adds the users to the account in FILE, --spec-users to the account on the cluster\nSee 'kubectl partners invite --help' for usage.",
		},
		"-f with --dry-run=server": {
			args: []string{"invite", "-f", "globex.yaml", "--dry-run=server", "--role", "editor", "jane@globex.example"},
			want: "--dry-run=server does not go with -f, which edits a file without the cluster: use --dry-run=client to see the result without writing it\nSee 'kubectl partners invite --help' for usage.",
		},
		"bad flag values, each named, before anything is read": {
			args: []string{"invite", "--account", "Globex", "--role", "Editor", "--systems", "editor,Insights,editor", "--locale", "de",
				"--ttl", "1000h", "--message", "Bonjour\a", "jane@globex.example"},
			want: `invalid --account "Globex": must be the name of a PartnerAccount: lowercase letters, digits or '-', starting and ending with a letter or digit, at most 63 characters
invalid --role "Editor": must be a catalogue key: lowercase letters, digits, '-' or '_', starting and ending with a letter or digit, with no spaces
invalid --systems value "Insights": must be a catalogue key: lowercase letters, digits, '-' or '_', starting and ending with a letter or digit, with no spaces
invalid --systems: "editor" is given twice
invalid --locale "de": must be en, fr or es
invalid --ttl "1000h": must be between 1h and 720h (30 days)
invalid --message: must not contain control characters other than line breaks and tabs
See 'kubectl partners invite --help' for usage.`,
		},
		"a ttl that is not a duration": {
			args: []string{"invite", "--role", "editor", "--ttl", "7d", "jane@globex.example"},
			want: "invalid --ttl \"7d\": must be a duration such as 168h, 72h or 90m\nSee 'kubectl partners invite --help' for usage.",
		},
		"a message too long": {
			args: []string{"invite", "--role", "editor", "--message", strings.Repeat("é", 2001), "jane@globex.example"},
			want: "invalid --message: must be at most 2000 characters long (it has 2001)\nSee 'kubectl partners invite --help' for usage.",
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
			want: "unknown output format \"wide\": use one of json, yaml, kyaml, name, go-template, go-template-file, template, templatefile, jsonpath, jsonpath-as-json, jsonpath-file, custom-columns, custom-columns-file\nSee 'kubectl partners invite --help' for usage.",
		},
		"bad -o for list": {
			args: []string{"list", "-o", "table"},
			want: "unknown output format \"table\": use one of json, yaml, kyaml, name, go-template, go-template-file, template, templatefile, jsonpath, jsonpath-as-json, jsonpath-file, custom-columns, custom-columns-file, wide\nSee 'kubectl partners list --help' for usage.",
		},
		"a jsonpath that does not parse": {
			args: []string{"list", "-o", "jsonpath={.items[}"},
			want: "-o jsonpath={.items[}: error parsing jsonpath {.items[}, unterminated array\nSee 'kubectl partners list --help' for usage.",
		},
		"custom-columns without columns": {
			args: []string{"list", "-o", "custom-columns="},
			want: "-o custom-columns needs a value, as in -o custom-columns=EMAIL:.spec.email,STATE:.status.state\nSee 'kubectl partners list --help' for usage.",
		},
		"a custom column without a path": {
			args: []string{"list", "-o", "custom-columns=EMAIL"},
			want: "custom column \"EMAIL\": want HEADER:PATH, as in EMAIL:.spec.email\nSee 'kubectl partners list --help' for usage.",
		},
		"version with an unknown format": {
			args: []string{"version", "-o", "name"},
			want: "unknown output format \"name\": use json or yaml\nSee 'kubectl partners version --help' for usage.",
		},
		"resend of something else than an invitation": {
			args: []string{"resend", "deployment/jane"},
			want: "\"deployment/jane\" is not a PartnerInvitation: resend takes invitation names, as kubectl partners list shows them\nSee 'kubectl partners resend --help' for usage.",
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
	err := runOffline(t, "list").err
	want := "no cluster to talk to: no kubeconfig was found (set KUBECONFIG or use --kubeconfig) and no --server was given"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestInviteChecksAddressesBeforeReachingACluster(t *testing.T) {
	err := runOffline(t, "invite", "--account", "globex", "--role", "editor", "jane@globex", "jane.doe@globex.example").err
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
