package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

func TestInviteCreatesOneInvitationPerAddress(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex"))
	createAccount(t, newAccount(ns, "initech"))
	// The same address invited to another account is another user.
	invitation{name: "initech-amelie", account: "initech", email: "amelie.dupont@globex.example"}.create(t, ns)

	r := mustPartners(t, ns, "invite", "--account", "globex", "--role", "editor", "--systems", "editor,insights",
		"--locale", "fr", "--message", "Bienvenue chez Acme !\nÀ bientôt.", "--ttl", "72h",
		"amelie.dupont@globex.example", "Carlos.Ruiz@globex.example")

	amelie := invitationName("globex", "amelie.dupont@globex.example")
	carlos := invitationName("globex", "Carlos.Ruiz@globex.example")
	want := "partnerinvitation/" + amelie + " created for amelie.dupont@globex.example\n" +
		"partnerinvitation/" + carlos + " created for Carlos.Ruiz@globex.example\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
	for name, email := range map[string]string{amelie: "amelie.dupont@globex.example", carlos: "Carlos.Ruiz@globex.example"} {
		got := getInvitation(t, ns, name).Spec
		want := v1alpha1.PartnerInvitationSpec{
			Account: "globex", Email: v1alpha1.EmailAddress(email), Role: "editor",
			Systems: []v1alpha1.CatalogueKey{"editor", "insights"}, Locale: "fr",
			Message: "Bienvenue chez Acme !\nÀ bientôt.", TTL: "72h",
		}
		if !equalJSON(got, want) {
			t.Errorf("invitation %s spec = %+v, want %+v", name, got, want)
		}
	}
	if got := len(invitationNames(t, ns)); got != 3 {
		t.Errorf("%d invitations in the namespace, want 3", got)
	}
}

func TestInviteDefaultsAreTheServers(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex"))
	mustPartners(t, ns, "invite", "--account", "globex", "--role", "viewer", "jane.doe@globex.example")
	got := getInvitation(t, ns, invitationName("globex", "jane.doe@globex.example")).Spec
	// No systems, the default locale, the account's ttl: nothing the
	// command made up.
	if len(got.Systems) != 0 || got.Locale != v1alpha1.LocaleEnglish || got.TTL != "" || got.Message != "" {
		t.Errorf("spec = %+v, want no systems, locale en, no ttl, no message", got)
	}
}

// TestInviteRefusesAndCreatesNothing covers every refusal of invite: the
// error names each address that cannot be invited (or the server's words),
// and no invitation is created, not even for the good addresses.
func TestInviteRefusesAndCreatesNothing(t *testing.T) {
	jane := invitationName("globex", "jane.doe@globex.example")
	tests := map[string]struct {
		account     *v1alpha1.PartnerAccount // in the namespace; default globex
		existing    []invitation
		args        []string // after invite --account globex --role editor
		want        string   // the whole error, with NS for the namespace
		wantContain []string // or parts of it
	}{
		"malformed addresses, all listed": {
			args: []string{"jane.doe@globex.example", "bob", "jane@localhost", "a b@globex.example", "x..y@globex.example"},
			want: `4 of 5 addresses cannot be invited, so no invitation was created:
  "bob": must be at least 6 characters long; must contain exactly one @, as in jane.doe@example.com
  "jane@localhost": the part after @ must be a domain name with a dot, as in example.com
  "a b@globex.example": must not contain spaces, line breaks or other control characters; the part before @ may hold only letters, digits, single dots (not first or last) and !#$%&'*+/=?^_` + "`{|}~-" + `
  "x..y@globex.example": the part before @ may hold only letters, digits, single dots (not first or last) and !#$%&'*+/=?^_` + "`{|}~-",
		},
		"malformed and clashing addresses listed together, in the order given": {
			account:  newAccount("", "globex", withAllowedDomains("globex.example")),
			existing: []invitation{{name: "globex-amelie", account: "globex", email: "amelie@globex.example", status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}},
			args:     []string{"jane@globex", "jane.doe@globex.example", "bob@initech.example", "amelie@globex.example"},
			want: `3 of 4 addresses cannot be invited, so no invitation was created:
  "jane@globex": the part after @ must be a domain name with a dot, as in example.com
  bob@initech.example: the domain is not allowed by partneraccount "globex" (allowedDomains: globex.example)
  amelie@globex.example: already invited to account globex by partnerinvitation "globex-amelie" (PendingApproval)`,
		},
		"the same address twice, in another case": {
			args: []string{"jane.doe@globex.example", "carlos@globex.example", "Jane.Doe@Globex.example"},
			want: `1 of 3 addresses cannot be invited, so no invitation was created:
  Jane.Doe@Globex.example: given more than once`,
		},
		"already invited by a standalone invitation": {
			existing: []invitation{{name: "hand-made", account: "globex", email: "JANE.DOE@globex.example", status: status{state: v1alpha1.InvitationPendingApproval, expiresAt: t1}}},
			args:     []string{"carlos@globex.example", "jane.doe@globex.example"},
			want: `1 of 2 addresses cannot be invited, so no invitation was created:
  jane.doe@globex.example: already invited to account globex by partnerinvitation "hand-made" (PendingApproval)`,
		},
		"already invited, expired: resend it": {
			existing: []invitation{{name: "old", account: "globex", email: "jane.doe@globex.example", status: status{state: v1alpha1.InvitationExpired, expiresAt: t1}}},
			args:     []string{"jane.doe@globex.example"},
			want: `1 of 1 addresses cannot be invited, so no invitation was created:
  jane.doe@globex.example: already invited to account globex by partnerinvitation "old" (Expired); send a fresh link with: kubectl partners resend old`,
		},
		"already invited, declined: delete it first": {
			existing: []invitation{{name: jane, account: "globex", email: "jane.doe@globex.example", status: status{state: v1alpha1.InvitationRevoked}}},
			args:     []string{"jane.doe@globex.example"},
			want: `1 of 1 addresses cannot be invited, so no invitation was created:
  jane.doe@globex.example: already invited to account globex by partnerinvitation "` + jane + `" (Revoked); delete it to invite the address again`,
		},
		"already invited, not seen by the operator yet": {
			existing: []invitation{{name: "fresh", account: "globex", email: "jane.doe@globex.example"}},
			args:     []string{"jane.doe@globex.example"},
			want: `1 of 1 addresses cannot be invited, so no invitation was created:
  jane.doe@globex.example: already invited to account globex by partnerinvitation "fresh" (no state yet)`,
		},
		"a user of the account's spec.users": {
			account: newAccount("", "globex", withUser("jane.doe@globex.example", "admin")),
			args:    []string{"Jane.Doe@globex.example"},
			want: `1 of 1 addresses cannot be invited, so no invitation was created:
  Jane.Doe@globex.example: already a user of partneraccount "globex" (listed in its spec.users; change the user there)`,
		},
		"the name is taken by an invitation of another account": {
			existing: []invitation{{name: jane, account: "initech", email: "someone@initech.example"}},
			args:     []string{"jane.doe@globex.example"},
			want: `1 of 1 addresses cannot be invited, so no invitation was created:
  jane.doe@globex.example: partnerinvitation "` + jane + `" already exists, for someone@initech.example in account initech`,
		},
		"outside the account's allowed domains": {
			account: newAccount("", "globex", withAllowedDomains("globex.example", "globex-partners.example")),
			args:    []string{"jane.doe@eu.globex.example", "mallory@evil.example", "bob@globex.example.evil.example"},
			want: `2 of 3 addresses cannot be invited, so no invitation was created:
  mallory@evil.example: the domain is not allowed by partneraccount "globex" (allowedDomains: globex.example, globex-partners.example)
  bob@globex.example.evil.example: the domain is not allowed by partneraccount "globex" (allowedDomains: globex.example, globex-partners.example)`,
		},
		"no such account": {
			account: newAccount("", "initech"),
			args:    []string{"jane.doe@globex.example"},
			want:    `partneraccount "globex" not found in namespace NS: no invitation was created`,
		},
		"no such account, and a malformed address": {
			account: newAccount("", "initech"),
			args:    []string{"jane.doe@globex.example", "jane@globex"},
			want: `partneraccount "globex" not found in namespace NS: no invitation was created
1 of 2 addresses cannot be invited, so no invitation was created:
  "jane@globex": the part after @ must be a domain name with a dot, as in example.com`,
		},
		"a bad flag value under --dry-run=server too": {
			args:        []string{"--dry-run=server", "--role", "Editor", "jane.doe@globex.example"},
			wantContain: []string{`invalid --role "Editor"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := env.Namespace(t)
			acct := tc.account
			if acct == nil {
				acct = newAccount(ns, "globex")
			}
			acct.Namespace = ns
			createAccount(t, acct)
			for _, inv := range tc.existing {
				inv.create(t, ns)
			}
			before := invitationNames(t, ns)

			args := append([]string{"invite", "--account", "globex", "--role", "editor"}, tc.args...)
			r := partners(t, ns, args...)

			if r.err == nil {
				t.Fatalf("invite succeeded, want an error; stdout:\n%s", r.stdout)
			}
			got := r.errText()
			if tc.want != "" && got != strings.ReplaceAll(tc.want, "NS", ns) {
				t.Errorf("error:\n%s\nwant:\n%s", got, strings.ReplaceAll(tc.want, "NS", ns))
			}
			for _, part := range tc.wantContain {
				if !strings.Contains(got, part) {
					t.Errorf("error:\n%s\nwant it to contain %q", got, part)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing (nothing created)", r.stdout)
			}
			if after := invitationNames(t, ns); !slices.Equal(before, after) {
				t.Errorf("invitations went from %v to %v, want no change", before, after)
			}
		})
	}
}

func TestInviteDryRunCreatesNothing(t *testing.T) {
	for _, mode := range []string{"client", "server"} {
		t.Run(mode, func(t *testing.T) {
			ns := env.Namespace(t)
			createAccount(t, newAccount(ns, "globex"))
			r := mustPartners(t, ns, "invite", "--account", "globex", "--role", "editor", "--dry-run="+mode,
				"jane.doe@globex.example", "carlos@globex.example")
			suffix := map[string]string{"client": " (dry run)", "server": " (server dry run)"}[mode]
			want := "partnerinvitation/" + invitationName("globex", "jane.doe@globex.example") + " created for jane.doe@globex.example" + suffix + "\n" +
				"partnerinvitation/" + invitationName("globex", "carlos@globex.example") + " created for carlos@globex.example" + suffix + "\n"
			if r.stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
			}
			if names := invitationNames(t, ns); len(names) != 0 {
				t.Errorf("invitations %v exist after a dry run", names)
			}
		})
	}
}

func TestInviteOutputFormats(t *testing.T) {
	jane, carlos := invitationName("globex", "jane.doe@globex.example"), invitationName("globex", "carlos@globex.example")

	t.Run("name", func(t *testing.T) {
		ns := env.Namespace(t)
		createAccount(t, newAccount(ns, "globex"))
		r := mustPartners(t, ns, "invite", "--account", "globex", "--role", "editor", "-o", "name", "jane.doe@globex.example", "carlos@globex.example")
		if want := "partnerinvitation.partners.partnerops.dev/" + jane + "\npartnerinvitation.partners.partnerops.dev/" + carlos + "\n"; r.stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
		}
	})

	t.Run("yaml of one invitation is the stored object", func(t *testing.T) {
		ns := env.Namespace(t)
		createAccount(t, newAccount(ns, "globex"))
		r := mustPartners(t, ns, "invite", "--account", "globex", "--role", "editor", "-o", "yaml", "jane.doe@globex.example")
		var got v1alpha1.PartnerInvitation
		if err := yaml.UnmarshalStrict([]byte(r.stdout), &got); err != nil {
			t.Fatalf("stdout is not one PartnerInvitation: %v\n%s", err, r.stdout)
		}
		stored := getInvitation(t, ns, jane)
		if got.APIVersion != "partners.partnerops.dev/v1alpha1" || got.Kind != "PartnerInvitation" ||
			got.UID != stored.UID || got.Spec.Email != "jane.doe@globex.example" || got.Spec.Locale != "en" {
			t.Errorf("printed %s/%s uid %s spec %+v, want the stored invitation (uid %s, defaulted locale en)",
				got.APIVersion, got.Kind, got.UID, got.Spec, stored.UID)
		}
	})

	t.Run("json of several invitations is a List", func(t *testing.T) {
		ns := env.Namespace(t)
		createAccount(t, newAccount(ns, "globex"))
		r := mustPartners(t, ns, "invite", "--account", "globex", "--role", "editor", "-o", "json", "jane.doe@globex.example", "carlos@globex.example")
		var got struct {
			APIVersion string                       `json:"apiVersion"`
			Kind       string                       `json:"kind"`
			Items      []v1alpha1.PartnerInvitation `json:"items"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
		}
		if got.APIVersion != "v1" || got.Kind != "List" || len(got.Items) != 2 ||
			got.Items[0].Name != jane || got.Items[1].Name != carlos || got.Items[1].Kind != "PartnerInvitation" {
			t.Errorf("printed %s %s with %d items, want a v1 List of %s and %s", got.APIVersion, got.Kind, len(got.Items), jane, carlos)
		}
	})

	t.Run("jsonpath and custom-columns", func(t *testing.T) {
		ns := env.Namespace(t)
		createAccount(t, newAccount(ns, "globex"))
		r := mustPartners(t, ns, "invite", "--account", "globex", "--role", "editor", "--dry-run=server", "-o", "jsonpath={.spec.locale}", "jane.doe@globex.example")
		if r.stdout != "en" {
			t.Errorf("-o jsonpath of one invitation printed %q, want the server's default locale", r.stdout)
		}
		r = mustPartners(t, ns, "invite", "--account", "globex", "--role", "editor", "-o", "custom-columns=NAME:.metadata.name,EMAIL:.spec.email",
			"--no-headers", "jane.doe@globex.example", "carlos@globex.example")
		if want := jane + "   jane.doe@globex.example\n" + carlos + "     carlos@globex.example\n"; r.stdout != want {
			t.Errorf("-o custom-columns printed:\n%s\nwant:\n%s", r.stdout, want)
		}
	})

	t.Run("--dry-run=client -o yaml writes manifests the API server takes", func(t *testing.T) {
		ns := env.Namespace(t)
		createAccount(t, newAccount(ns, "globex"))
		r := mustPartners(t, ns, "invite", "--account", "globex", "--role", "editor", "--systems", "insights",
			"--dry-run=client", "-o", "yaml", "jane.doe@globex.example")
		if names := invitationNames(t, ns); len(names) != 0 {
			t.Fatalf("invitations %v exist after a client dry run", names)
		}
		var inv v1alpha1.PartnerInvitation
		if err := yaml.UnmarshalStrict([]byte(r.stdout), &inv); err != nil {
			t.Fatalf("stdout is not one PartnerInvitation: %v\n%s", err, r.stdout)
		}
		if err := env.Client.Create(context.Background(), &inv); err != nil {
			t.Fatalf("creating the printed manifest: %v\n%s", err, r.stdout)
		}
		if got := getInvitation(t, ns, jane).Spec; got.Email != "jane.doe@globex.example" || !slices.Equal(got.Systems, []v1alpha1.CatalogueKey{"insights"}) {
			t.Errorf("applied manifest spec = %+v", got)
		}
	})
}

// equalJSON compares two values by their JSON form.
func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestInviteShowsTheAPIServersRefusal: what only the API server refuses
// (here an admission policy of the cluster) leaves no invitation behind,
// and its words are shown once for all the addresses.
func TestInviteShowsTheAPIServersRefusal(t *testing.T) {
	ns := env.Namespace(t)
	createAccount(t, newAccount(ns, "globex"))
	refuseRole(t, ns, "contractor", "contractors are invited by the platform team")

	r := partners(t, ns, "invite", "--account", "globex", "--role", "contractor", "jane.doe@globex.example", "carlos@globex.example")

	got := r.errText()
	if !strings.HasPrefix(got, "the API server refused the invitations, so none was created:\n") ||
		strings.Count(got, "contractors are invited by the platform team") != 1 {
		t.Errorf("error:\n%s\nwant the API server's refusal, once", got)
	}
	if names := invitationNames(t, ns); len(names) != 0 {
		t.Errorf("invitations %v exist after the refusal", names)
	}
}

// refuseRole makes the API server refuse invitations with role in ns, by a
// ValidatingAdmissionPolicy, and waits until it does.
func refuseRole(t *testing.T, ns, role, message string) {
	t.Helper()
	ctx := context.Background()
	name := "refuse-" + ns
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{v1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
						Resources: []string{"partnerinvitations"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.role != '" + role + "'", Message: message}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}},
		},
	}
	for _, o := range []client.Object{policy, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	// The API server enforces a new policy once its informer has it:
	// server dry runs until one is refused.
	probe := &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
		Spec:       v1alpha1.PartnerInvitationSpec{Email: "probe@globex.example", Role: v1alpha1.CatalogueKey(role)},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := env.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			return
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("a server dry run of an invitation with role %s: %v, want it refused once the policy is active", role, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
