package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// copyInput copies testdata/accountfile/name into a temporary directory,
// with CRLF line breaks when crlf.
func copyInput(t *testing.T, name string, crlf bool) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "accountfile", name))
	if err != nil {
		t.Fatal(err)
	}
	if crlf {
		b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAccountFileAddsUsers: -f adds entries to spec.users of the account in
// the file and changes nothing else: the result is the golden file, every
// line of the input is still there in order (the diff only adds lines), the
// file's mode is kept, kubectl's YAML reader reads the new entries, and the
// API server admits the account.
func TestAccountFileAddsUsers(t *testing.T) {
	tests := map[string]struct {
		input, golden string
		crlf          bool
		rewrites      string // the one line of input the edit may change
		args          []string
		account       string // the account of the file that gets the users
		want          []v1alpha1.PartnerUser
	}{
		"the sample: indented lists, flow systems, comments, a note in the last entry": {
			input: "sample.yaml", golden: "sample.golden.yaml", account: "globex",
			args: []string{"--role", "editor", "--systems", "editor,insights", "--locale", "fr", "--message", "Bienvenue !\nÀ bientôt.", "--ttl", "72h",
				"amelie.dupont@globex.example", "carlos@eu.globex.example"},
			want: []v1alpha1.PartnerUser{
				{Email: "amelie.dupont@globex.example", Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor", "insights"}, Locale: "fr", Message: "Bienvenue !\nÀ bientôt.", TTL: "72h"},
				{Email: "carlos@eu.globex.example", Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor", "insights"}, Locale: "fr", Message: "Bienvenue !\nÀ bientôt.", TTL: "72h"},
			},
		},
		"the sample with CRLF line breaks": {
			input: "sample.yaml", golden: "sample.golden.yaml", crlf: true, account: "globex",
			args: []string{"--role", "editor", "--systems", "editor,insights", "--locale", "fr", "--message", "Bienvenue !\nÀ bientôt.", "--ttl", "72h",
				"amelie.dupont@globex.example", "carlos@eu.globex.example"},
		},
		"no users yet, kubectl's list style, another document after": {
			input: "nousers.yaml", golden: "nousers.golden.yaml", account: "globex",
			args: []string{"--role", "viewer", "--systems", "insights", "jane@globex-partners.example"},
			want: []v1alpha1.PartnerUser{{Email: "jane@globex-partners.example", Role: "viewer", Systems: []v1alpha1.CatalogueKey{"insights"}}},
		},
		"an empty list, and values YAML 1.1 would not read as strings": {
			input: "emptyusers.yaml", golden: "emptyusers.golden.yaml", account: "globex", rewrites: "  users: []  # nobody yet",
			args: []string{"--role", "on", "--systems", "yes,0777", "--message", "no", "jane@globex.example"},
			want: []v1alpha1.PartnerUser{{Email: "jane@globex.example", Role: "on", Systems: []v1alpha1.CatalogueKey{"yes", "0777"}, Message: "no"}},
		},
		"the second account of a file, chosen with --account": {
			input: "multidoc.yaml", golden: "multidoc.golden.yaml", account: "initech",
			args: []string{"--account", "initech", "--role", "editor", "--systems", "editor", "milton@initech.example"},
			want: []v1alpha1.PartnerUser{{Email: "peter@initech.example", Role: "viewer", Systems: []v1alpha1.CatalogueKey{"insights"}, Message: "Hi Peter,\n\nsee you soon."},
				{Email: "milton@initech.example", Role: "editor", Systems: []v1alpha1.CatalogueKey{"editor"}}},
		},
		"a file without a line break at its end": {
			input: "noeol.yaml", golden: "noeol.golden.yaml", account: "globex",
			args: []string{"--role", "viewer", "jane@globex.example"},
			want: []v1alpha1.PartnerUser{{Email: "hank@globex.example", Role: "admin"}, {Email: "jane@globex.example", Role: "viewer"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := copyInput(t, tc.input, tc.crlf)
			input, _ := os.ReadFile(path)

			r := runOffline(t, append([]string{"invite", "-f", path}, tc.args...)...)
			if r.err != nil {
				t.Fatalf("invite -f: %v", r.err)
			}

			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "accountfile", tc.golden)
			if *update && !tc.crlf {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if tc.crlf {
				want = bytes.ReplaceAll(want, []byte("\n"), []byte("\r\n"))
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the file reads:\n%s\nwant (%s):\n%s", got, golden, want)
			}
			kept := string(input)
			if tc.rewrites != "" {
				kept = strings.Replace(kept, tc.rewrites+"\n", "", 1)
			}
			if missing := linesRemoved(kept, string(got)); missing != "" {
				t.Errorf("the edit removed or changed the line %q", missing)
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o640 {
				t.Errorf("the file's mode is %v (%v), want 0640 as it was", info.Mode().Perm(), err)
			}
			if tc.want == nil {
				return
			}
			acct := accountIn(t, got, tc.account)
			if users := acct.Spec.Users; len(users) < len(tc.want) || !equalJSON(users[len(users)-len(tc.want):], tc.want) {
				t.Errorf("kubectl's YAML reader reads spec.users as %+v, want it to end with %+v", users, tc.want)
			}
			ns := env.Namespace(t)
			acct.Namespace = ns
			if err := env.Client.Create(context.Background(), acct, client.DryRunAll); err != nil {
				t.Errorf("the API server refuses the edited account: %v", err)
			}
			wantOut := ""
			for _, a := range tc.args {
				if strings.Contains(a, "@") {
					wantOut += "partneraccount/" + tc.account + " in " + path + ": " + a + " added to spec.users (its invitation: partnerinvitation/" + invitationName(tc.account, a) + ")\n"
				}
			}
			if r.stdout != wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, wantOut)
			}
		})
	}
}

// linesRemoved returns the first line of before that after does not keep,
// in order; "" when after only adds lines.
func linesRemoved(before, after string) string {
	rest := strings.SplitAfter(after, "\n")
	for _, l := range strings.SplitAfter(before, "\n") {
		l = strings.TrimSuffix(l, "\n")
		for len(rest) > 0 && strings.TrimSuffix(rest[0], "\n") != l {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return l
		}
		rest = rest[1:]
	}
	return ""
}

// accountIn reads the PartnerAccount named name from a YAML stream the way
// kubectl does (sigs.k8s.io/yaml, YAML 1.1 rules).
func accountIn(t *testing.T, stream []byte, name string) *v1alpha1.PartnerAccount {
	t.Helper()
	for _, doc := range strings.Split(strings.ReplaceAll(string(stream), "\r\n", "\n"), "\n---\n") {
		var a v1alpha1.PartnerAccount
		if err := yaml.UnmarshalStrict([]byte(doc), &a); err == nil && a.Kind == "PartnerAccount" && a.Name == name {
			return &a
		}
	}
	t.Fatalf("no PartnerAccount %s that kubectl reads strictly in:\n%s", name, stream)
	return nil
}

// TestAccountFileRefusesAndWritesNothing: every refusal names the problem
// and leaves the file byte for byte as it was.
func TestAccountFileRefusesAndWritesNothing(t *testing.T) {
	tests := map[string]struct {
		input   string // a file of testdata/accountfile, or the text of the file
		args    []string
		want    string // FILE stands for the file's path
		contain string
	}{
		"not a PartnerAccount": {
			input: "apiVersion: partners.partnerops.dev/v1alpha1\nkind: PartnerInvitation\nmetadata:\n  name: jane\nspec:\n  email: jane@globex.example\n  role: viewer\n",
			args:  []string{"jane@globex.example"},
			want:  "FILE holds no PartnerAccount (it holds PartnerInvitation): -f takes the manifest of the PartnerAccount to add the users to",
		},
		"nothing in it": {
			input: "# nothing yet\n",
			args:  []string{"jane@globex.example"},
			want:  "FILE holds no Kubernetes object: -f takes the manifest of the PartnerAccount to add the users to",
		},
		"not YAML": {
			input:   "apiVersion: [\n",
			args:    []string{"jane@globex.example"},
			contain: "FILE is not valid YAML: ",
		},
		"another version of the API": {
			input: "apiVersion: partners.partnerops.dev/v1beta1\nkind: PartnerAccount\nmetadata:\n  name: globex\nspec:\n  displayName: Globex\n",
			args:  []string{"jane@globex.example"},
			want:  `FILE: partneraccount "globex" is partners.partnerops.dev/v1beta1; this plugin edits partners.partnerops.dev/v1alpha1`,
		},
		"two accounts and no --account": {
			input: "multidoc.yaml",
			args:  []string{"jane@globex.example"},
			want:  "FILE holds 2 PartnerAccounts (globex, initech): choose one with --account",
		},
		"an --account the file does not hold": {
			input: "multidoc.yaml",
			args:  []string{"--account", "umbrella", "jane@globex.example"},
			want:  `FILE holds no partneraccount "umbrella" (it holds globex, initech)`,
		},
		"users in flow style": {
			input: "apiVersion: partners.partnerops.dev/v1alpha1\nkind: PartnerAccount\nmetadata: {name: globex}\nspec:\n  displayName: Globex\n  users: [{email: hank@globex.example, role: admin}]\n",
			args:  []string{"jane@globex.example"},
			want:  `FILE: partneraccount "globex": spec.users is written in flow style ([…]); write it as a block list (one "- email: …" per entry) for -f to edit it`,
		},
		"addresses listed already, outside the domains, malformed, twice": {
			input: "sample.yaml",
			args:  []string{"Mindy@Globex.example", "bob@initech.example", "jane@globex", "jane@globex.example", "JANE@globex.example"},
			want: `4 of 5 addresses cannot be invited, so FILE was not changed:
  Mindy@Globex.example: already a user of partneraccount "globex" (listed in spec.users in FILE; change the user there)
  bob@initech.example: the domain is not allowed by partneraccount "globex" (allowedDomains: globex.example)
  "jane@globex": the part after @ must be a domain name with a dot, as in example.com
  JANE@globex.example: given more than once`,
		},
		"a bad flag": {
			input: "sample.yaml",
			args:  []string{"--locale", "de", "jane@globex.example"},
			want:  "invalid --locale \"de\": must be en, fr or es\nSee 'kubectl partners invite --help' for usage.",
		},
		"no such file": {
			input:   "",
			args:    []string{"jane@globex.example"},
			contain: "reading the account file: open FILE: no such file or directory",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var path string
			switch {
			case tc.input == "":
				path = filepath.Join(t.TempDir(), "missing.yaml")
			case strings.HasSuffix(tc.input, ".yaml"):
				path = copyInput(t, tc.input, false)
			default:
				path = filepath.Join(t.TempDir(), "account.yaml")
				if err := os.WriteFile(path, []byte(tc.input), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(path)

			r := runOffline(t, append([]string{"invite", "-f", path, "--role", "viewer"}, tc.args...)...)

			got := strings.ReplaceAll(r.errText(), path, "FILE")
			if tc.want != "" && got != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tc.want)
			}
			if tc.contain != "" && !strings.Contains(got, tc.contain) {
				t.Errorf("error:\n%s\nwant it to contain %q", got, tc.contain)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("the file changed:\n%s", after)
			}
		})
	}
}

func TestAccountFileTooManyUsers(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: partners.partnerops.dev/v1alpha1\nkind: PartnerAccount\nmetadata:\n  name: globex\nspec:\n  displayName: Globex\n  users:\n")
	for i := range 150 {
		fmt.Fprintf(&b, "  - email: user-%d@globex.example\n    role: viewer\n", i)
	}
	path := filepath.Join(t.TempDir(), "globex.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runOffline(t, "invite", "-f", path, "--role", "viewer", "jane@globex.example")
	want := `partneraccount "globex" would list 151 users, and spec.users holds at most 150: invite the others without -f or --spec-users (standalone invitations)`
	if got := r.errText(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	if after, _ := os.ReadFile(path); string(after) != b.String() {
		t.Error("the file changed")
	}
}

// TestAccountFileDryRun: --dry-run=client shows the result and writes
// nothing; -o yaml prints the account as it would read.
func TestAccountFileDryRun(t *testing.T) {
	path := copyInput(t, "emptyusers.yaml", false)
	before, _ := os.ReadFile(path)

	r := runOffline(t, "invite", "-f", path, "--role", "viewer", "--dry-run=client", "jane@globex.example")
	if want := "partneraccount/globex in " + path + ": jane@globex.example added to spec.users (its invitation: partnerinvitation/" +
		invitationName("globex", "jane@globex.example") + ") (dry run)\n"; r.err != nil || r.stdout != want {
		t.Errorf("stdout %q (%v), want %q", r.stdout, r.err, want)
	}
	r = runOffline(t, "invite", "-f", path, "--role", "viewer", "--dry-run=client", "-o", "yaml", "jane@globex.example")
	var printed v1alpha1.PartnerAccount
	if err := yaml.UnmarshalStrict([]byte(r.stdout), &printed); err != nil || r.err != nil {
		t.Fatalf("stdout is not a PartnerAccount: %v %v\n%s", err, r.err, r.stdout)
	}
	if !equalJSON(printed.Spec.Users, []v1alpha1.PartnerUser{{Email: "jane@globex.example", Role: "viewer"}}) || printed.Spec.DeletionPolicy != "Retain" {
		t.Errorf("printed %+v", printed.Spec)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("a dry run changed the file:\n%s", after)
	}
}
