package v1alpha1_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/partnerops/partnerops/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// strict makes the API server refuse unknown fields, as kubectl does.
var strict = client.FieldValidation("Strict")

// Valid specs every case starts from; a case merges its patch into one.
const (
	validAccountSpec = `
displayName: Globex Corporation
allowedDomains: [globex.example]
users:
  - email: hank@globex.example
    role: admin
    systems: [admin-center, insights]
`
	validInvitationSpec = `
account: globex
email: mindy@globex.example
role: editor
systems: [editor]
`
)

// object builds a PartnerAccount or PartnerInvitation from a valid spec with
// patch merged in (RFC 7386: null removes a key).
func object(t *testing.T, kind, ns, name, patch string) *unstructured.Unstructured {
	t.Helper()
	base := validAccountSpec
	if kind == "PartnerInvitation" {
		base = validInvitationSpec
	}
	spec := mustYAML(t, base)
	if patch != "" {
		spec = merge(spec, mustYAML(t, patch))
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "partners.partnerops.dev/v1alpha1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       spec,
	}}
	return u
}

func mustYAML(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test YAML %q: %v", s, err)
	}
	return m
}

func merge(dst, patch map[string]any) map[string]any {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			if dv, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dv, pv)
			} else {
				dst[k] = pv
			}
		default:
			dst[k] = v
		}
	}
	return dst
}

// emails is a users list of n distinct addresses.
func emails(n int, domain string) string {
	var b strings.Builder
	b.WriteString("users:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {email: user%d@%s, role: viewer}\n", i, domain)
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func systems(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "s" + itoa(i)
	}
	return "systems: [" + strings.Join(s, ", ") + "]"
}

// TestAdmissionRefusesBadObjects creates bad objects and expects the API
// server to refuse each with a message a user understands.
func TestAdmissionRefusesBadObjects(t *testing.T) {
	ns := env.Namespace(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name  string
		kind  string
		obj   string // metadata.name; "" means a default
		patch string
		want  string
	}{
		// PartnerAccount
		{"account without displayName", "PartnerAccount", "", `displayName: null`, `spec.displayName: Required value`},
		{"blank displayName", "PartnerAccount", "", `displayName: "   "`, `must not be blank`},
		{"displayName with a line break", "PartnerAccount", "", `displayName: "Globex\nCorp"`, `must not contain line breaks, tabs or other control characters`},
		{"displayName too long", "PartnerAccount", "", `displayName: ` + long(129), `spec.displayName: Too long: may not be more than 128`},
		{"allowedDomains entry with a scheme", "PartnerAccount", "", `allowedDomains: ["https://globex.example"]`, `must be a lowercase DNS domain with at least one dot`},
		{"allowedDomains entry in capitals", "PartnerAccount", "", `allowedDomains: [Globex.example]`, `must be a lowercase DNS domain`},
		{"allowedDomains wildcard", "PartnerAccount", "", `allowedDomains: ["*.globex.example"]`, `no scheme, @, port, wildcard or spaces`},
		{"allowedDomains without a dot", "PartnerAccount", "", `allowedDomains: [localhost]`, `must be a lowercase DNS domain with at least one dot`},
		{"allowedDomains listed twice", "PartnerAccount", "", `allowedDomains: [globex.example, globex.example]`, `spec.allowedDomains[1]: Duplicate value`},
		{"same user email twice", "PartnerAccount", "", "users: [{email: a@globex.example, role: admin}, {email: a@globex.example, role: viewer}]", `spec.users[1]: Duplicate value`},
		{"same user email in other case", "PartnerAccount", "", "users: [{email: a@globex.example, role: admin}, {email: A@Globex.example, role: viewer}]", `users must not list the same email twice (emails are compared case-insensitively)`},
		{"user email without @", "PartnerAccount", "", "users: [{email: hank.globex.example, role: admin}]", `must contain exactly one @`},
		{"user email with trailing space", "PartnerAccount", "", "users: [{email: 'hank@globex.example ', role: admin}]", `must not contain spaces, line breaks or other control characters`},
		{"user role with a space", "PartnerAccount", "", "users: [{email: hank@globex.example, role: team lead}]", `spec.users[0].role: Invalid value: "team lead": must be a catalogue key`},
		{"user without role", "PartnerAccount", "", "users: [{email: hank@globex.example}]", `spec.users[0].role: Required value`},
		{"user system listed twice", "PartnerAccount", "", "users: [{email: hank@globex.example, role: admin, systems: [editor, editor]}]", `spec.users[0].systems[1]: Duplicate value`},
		{"too many users", "PartnerAccount", "", emails(151, "globex.example"), `spec.users: Too many: 151: must have at most 150 items`},
		{"invitationTTL in days", "PartnerAccount", "", `invitationTTL: 7d`, `must be a duration such as 168h, 72h or 90m`},
		{"invitationTTL under an hour", "PartnerAccount", "", `invitationTTL: 30m`, `must be between 1h and 720h (30 days)`},
		{"invitationTTL over 30 days", "PartnerAccount", "", `invitationTTL: 721h`, `must be between 1h and 720h (30 days)`},
		{"unknown deletionPolicy", "PartnerAccount", "", `deletionPolicy: Delete`, `spec.deletionPolicy: Unsupported value: "Delete": supported values: "Revoke", "Retain"`},
		{"user with an unsupported locale", "PartnerAccount", "", "users: [{email: hank@globex.example, role: admin, locale: de}]", `spec.users[0].locale: Unsupported value: "de": supported values: "en", "fr", "es"`},
		{"user message too long", "PartnerAccount", "", "users: [{email: hank@globex.example, role: admin, message: " + long(2001) + "}]", `spec.users[0].message: Too long: may not be more than 2000`},
		{"user message with an escape character", "PartnerAccount", "", "users: [{email: hank@globex.example, role: admin, message: \"hello \\u001b[31m\"}]", `must not contain control characters other than line breaks and tabs`},
		{"user ttl in days", "PartnerAccount", "", "users: [{email: hank@globex.example, role: admin, ttl: 7d}]", `must be a duration such as 168h, 72h or 90m`},
		{"user ttl over 30 days", "PartnerAccount", "", "users: [{email: hank@globex.example, role: admin, ttl: 721h}]", `must be between 1h and 720h (30 days)`},
		{"user negative resend", "PartnerAccount", "", "users: [{email: hank@globex.example, role: admin, resend: -1}]", `spec.users[0].resend: Invalid value: -1: spec.users[0].resend in body should be greater than or equal to 0`},
		{"unsupported defaultLocale", "PartnerAccount", "", `defaultLocale: de`, `spec.defaultLocale: Unsupported value: "de": supported values: "en", "fr", "es"`},
		{"defaultMessage too long", "PartnerAccount", "", `defaultMessage: ` + long(2001), `spec.defaultMessage: Too long: may not be more than 2000`},
		{"defaultMessage with a NUL", "PartnerAccount", "", `defaultMessage: "hello\u0000"`, `must not contain control characters other than line breaks and tabs`},
		{"unknown account field", "PartnerAccount", "", `displayname: typo`, `unknown field "spec.displayname"`},
		{"account name too long for a label", "PartnerAccount", long(64), ``, `metadata.name must be at most 63 lowercase letters, digits or '-' (it is used as a label value)`},
		// PartnerInvitation
		{"invitation with an empty account", "PartnerInvitation", "", `account: ""`, `spec.account in body should be at least 1 chars long`},
		{"account that is not a name", "PartnerInvitation", "", `account: Globex Corp`, `must be the name of a PartnerAccount`},
		{"invitation without email", "PartnerInvitation", "", `email: null`, `spec.email: Required value`},
		{"email at a host without a dot", "PartnerInvitation", "", `email: mindy@localhost`, `the part after @ must be a domain name with a dot`},
		{"email with a double dot", "PartnerInvitation", "", `email: mindy..k@globex.example`, `the part before @ may hold only letters, digits, single dots`},
		{"email with a leading dot", "PartnerInvitation", "", `email: .mindy@globex.example`, `the part before @ may hold only letters, digits, single dots`},
		{"email local part too long", "PartnerInvitation", "", `email: ` + long(65) + `@globex.example`, `the part before @ must be at most 64 characters`},
		{"email too long", "PartnerInvitation", "", `email: ` + long(60) + `@` + strings.Repeat(strings.Repeat("b", 60)+".", 4) + "example", `spec.email: Too long: may not be more than 254`},
		{"email with a space", "PartnerInvitation", "", `email: mindy@glo bex.example`, `must not contain spaces, line breaks or other control characters`},
		{"email carrying a header", "PartnerInvitation", "", `email: "mindy@globex.example\r\nBcc: all@evil.example"`, `must not contain spaces, line breaks or other control characters`},
		{"email with two @", "PartnerInvitation", "", `email: mindy@evil.example@globex.example`, `must contain exactly one @`},
		{"email with a display name", "PartnerInvitation", "", `email: "Mindy <mindy@globex.example>"`, `must not contain spaces`},
		{"invitation without role", "PartnerInvitation", "", `role: null`, `spec.role: Required value`},
		{"role with a control character", "PartnerInvitation", "", `role: "editor\u0007"`, `must be a catalogue key`},
		{"system listed twice", "PartnerInvitation", "", `systems: [editor, editor]`, `spec.systems[1]: Duplicate value`},
		{"system in capitals", "PartnerInvitation", "", `systems: [Editor]`, `spec.systems[0]: Invalid value: "Editor": must be a catalogue key`},
		{"too many systems", "PartnerInvitation", "", systems(65), `spec.systems: Too many: 65: must have at most 64 items`},
		{"unsupported locale", "PartnerInvitation", "", `locale: de`, `spec.locale: Unsupported value: "de": supported values: "en", "fr", "es"`},
		{"message too long", "PartnerInvitation", "", `message: ` + long(2001), `spec.message: Too long: may not be more than 2000`},
		{"message with an escape character", "PartnerInvitation", "", `message: "hello \u001b[31m"`, `must not contain control characters other than line breaks and tabs`},
		{"ttl that is not a duration", "PartnerInvitation", "", `ttl: one week`, `must be a duration such as 168h, 72h or 90m`},
		{"ttl under an hour", "PartnerInvitation", "", `ttl: 0.5h`, `must be between 1h and 720h (30 days)`},
		{"negative resend", "PartnerInvitation", "", `resend: -1`, `spec.resend: Invalid value: -1: spec.resend in body should be greater than or equal to 0`},
		{"unknown invitation field", "PartnerInvitation", "", `emails: [a@globex.example]`, `unknown field "spec.emails"`},
	}
	if len(cases) < 30 {
		t.Fatalf("the issue asks for at least 30 bad objects, have %d", len(cases))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.obj
			if name == "" {
				name = "bad-" + itoa(i)
			}
			err := env.Client.Create(context.Background(), object(t, tc.kind, ns, name, tc.patch), strict)
			assertRefused(t, err, tc.want)
		})
	}
}

// TestAdmissionRefusesBadUpdates changes valid objects in ways the API
// forbids: immutable fields, resend lowered, revoked undone.
func TestAdmissionRefusesBadUpdates(t *testing.T) {
	ns := env.Namespace(t)
	cases := []updateCase{
		{"resend lowered", "PartnerInvitation", `resend: 3`, `resend: 2`, `resend can only be raised`},
		{"resend removed", "PartnerInvitation", `resend: 3`, `resend: null`, `resend can only be raised`},
		{"revoked undone", "PartnerInvitation", `revoked: true`, `revoked: false`, `revoked cannot be set back to false`},
		{"revoked removed", "PartnerInvitation", `revoked: true`, `revoked: null`, `revoked cannot be set back to false`},
		{"account changed", "PartnerInvitation", ``, `account: initech`, `account is immutable: create a new invitation for another account`},
		{"account removed", "PartnerInvitation", ``, `account: null`, `account is immutable: it cannot be added or removed after creation, create a new invitation instead`},
		{"account added", "PartnerInvitation", `account: null`, `account: globex`, `account is immutable: it cannot be added or removed after creation, create a new invitation instead`},
		{"email changed", "PartnerInvitation", ``, `email: other@globex.example`, `email is immutable: create a new invitation for another address`},
		{"email changed in case only", "PartnerInvitation", ``, `email: Mindy@globex.example`, `email is immutable`},
		{"duplicate user added", "PartnerAccount", ``, "users: [{email: a@globex.example, role: admin}, {email: A@globex.example, role: admin}]", `users must not list the same email twice`},
		{"bad ttl set later", "PartnerAccount", ``, `invitationTTL: 1000h`, `must be between 1h and 720h`},
		{"user resend lowered", "PartnerAccount", "users: [{email: hank@globex.example, role: admin, resend: 3}, {email: mindy@globex.example, role: editor}]",
			"users: [{email: hank@globex.example, role: admin, resend: 2}, {email: mindy@globex.example, role: editor, resend: 1}]",
			`spec.users[0]: Invalid value: resend can only be raised: set it to a higher number to send that user a fresh invitation`},
		{"user resend removed", "PartnerAccount", "users: [{email: hank@globex.example, role: admin, resend: 3}]", "users: [{email: hank@globex.example, role: admin}]", `resend can only be raised: set it to a higher number to send that user a fresh invitation`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertRefused(t, createAndUpdate(t, tc.kind, ns, "upd-"+itoa(i), tc.initial, tc.update), tc.want)
		})
	}
}

// TestAdmissionAllowsLegalUpdates makes the changes users are meant to make.
func TestAdmissionAllowsLegalUpdates(t *testing.T) {
	ns := env.Namespace(t)
	cases := []updateCase{
		{"resend raised", "PartnerInvitation", `resend: 1`, `resend: 2`, ``},
		{"resend set for the first time", "PartnerInvitation", ``, `resend: 1`, ``},
		{"withdrawn", "PartnerInvitation", ``, `revoked: true`, ``},
		{"without an account (chosen by domain), role edited", "PartnerInvitation", `account: null`, `role: admin`, ``},
		{"role and systems edited", "PartnerInvitation", ``, "{role: admin, systems: [admin-center, insights]}", ``},
		{"locale, message and ttl edited", "PartnerInvitation", ``, "{locale: es, message: \"Hola,\\n\\tbienvenida\", ttl: 720h}", ``},
		{"user added and policy set", "PartnerAccount", ``, "{deletionPolicy: Retain, users: [{email: hank@globex.example, role: admin}, {email: Mindy@Globex.example, role: editor, systems: [editor]}]}", ``},
		{"all users removed", "PartnerAccount", ``, `users: null`, ``},
		{"one user's resend raised, another's locale and message set", "PartnerAccount",
			"users: [{email: hank@globex.example, role: admin, resend: 1}, {email: mindy@globex.example, role: editor}]",
			"{defaultLocale: es, defaultMessage: \"Bienvenidos\\n\", users: [{email: hank@globex.example, role: admin, resend: 2, ttl: 72h}, {email: mindy@globex.example, role: editor, locale: fr, message: \"Bonjour,\\n\\tbienvenue\"}]}", ``},
		{"user resend 0 left out", "PartnerAccount", "users: [{email: hank@globex.example, role: admin, resend: 0}]", "users: [{email: hank@globex.example, role: admin}]", ``},
		{"user added with a resend", "PartnerAccount", ``, "users: [{email: hank@globex.example, role: admin}, {email: mindy@globex.example, role: editor, resend: 4}]", ``},
		{"user with a resend removed", "PartnerAccount", "users: [{email: hank@globex.example, role: admin, resend: 3}, {email: mindy@globex.example, role: editor}]", "users: [{email: mindy@globex.example, role: editor}]", ``},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := createAndUpdate(t, tc.kind, ns, "ok-"+itoa(i), tc.initial, tc.update); err != nil {
				t.Fatalf("a legal update was refused: %v", err)
			}
		})
	}
}

// updateCase is an update of an object of kind whose spec holds the YAML
// fields initial: the YAML fields update merged into its spec, refused
// with want (refusals) or allowed (want empty).
type updateCase struct {
	name    string
	kind    string
	initial string
	update  string
	want    string
}

// createAndUpdate creates a valid object of kind whose spec holds the YAML
// fields initial, merges the YAML fields update into its spec and returns
// what the API server said to that update.
func createAndUpdate(t *testing.T, kind, ns, name, initial, update string) error {
	t.Helper()
	ctx := context.Background()
	obj := object(t, kind, ns, name, initial)
	if err := env.Client.Create(ctx, obj, strict); err != nil {
		t.Fatalf("creating the valid object: %v", err)
	}
	spec := obj.Object["spec"].(map[string]any)
	obj.Object["spec"] = merge(spec, mustYAML(t, update))
	return env.Client.Update(ctx, obj, strict)
}

// TestDefaults shows the defaults the API server fills in.
func TestDefaults(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	acct := object(t, "PartnerAccount", ns, "globex", ``)
	inv := object(t, "PartnerInvitation", ns, "mindy", ``)
	for _, o := range []*unstructured.Unstructured{acct, inv} {
		if err := env.Client.Create(ctx, o, strict); err != nil {
			t.Fatalf("creating %s: %v", o.GetKind(), err)
		}
	}
	for path, want := range map[string]string{"invitationTTL": "168h", "deletionPolicy": "Revoke", "defaultLocale": "en"} {
		if got, _, _ := unstructured.NestedString(acct.Object, "spec", path); got != want {
			t.Errorf("PartnerAccount spec.%s defaults to %q, want %q", path, got, want)
		}
	}
	users, _, _ := unstructured.NestedSlice(acct.Object, "spec", "users")
	for _, u := range users {
		for _, f := range []string{"locale", "message", "ttl", "resend"} {
			if v, ok := u.(map[string]any)[f]; ok {
				t.Errorf("PartnerAccount spec.users[].%s defaults to %v: it must stay unset so the account's default applies", f, v)
			}
		}
	}
	if got, _, _ := unstructured.NestedString(inv.Object, "spec", "locale"); got != "en" {
		t.Errorf("PartnerInvitation spec.locale defaults to %q, want en", got)
	}
	if _, found, _ := unstructured.NestedString(inv.Object, "spec", "ttl"); found {
		t.Errorf("PartnerInvitation spec.ttl must stay unset so the account's invitationTTL applies")
	}
}

func assertRefused(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the API server accepted the object; want a refusal saying %q", want)
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		t.Fatalf("want an Invalid or BadRequest refusal, got %v", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal does not say %q:\n%v", want, err)
	}
}
