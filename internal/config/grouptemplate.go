package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

// GrantFields are the values a groupTemplate can use: {{ .Namespace }},
// {{ .Account }}, {{ .System }} and {{ .Role }}.
type GrantFields struct {
	Namespace string
	Account   string
	System    string
	Role      string
}

// RenderGroup renders a group template for one grant.
func RenderGroup(tmpl string, f GrantFields) (string, error) {
	t, err := template.New("groupTemplate").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("parsing group template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, f); err != nil {
		return "", fmt.Errorf("rendering group template: %w", err)
	}
	out := strings.TrimSpace(b.String())
	if out == "" {
		return "", errors.New("group template renders to an empty name")
	}
	if strings.ContainsFunc(out, isControl) {
		return "", errors.New("group template renders control characters")
	}
	return out, nil
}

// CheckGroupTemplate reports whether tmpl parses, uses only the known fields
// and tells grants apart: it must use .System and .Role, or two different
// grants would land in the same group, and .Namespace, or two customer
// accounts would share groups. (Namespaces, account names and catalogue keys
// never hold a dot, so the default template's dots cannot make two grants
// collide.)
func CheckGroupTemplate(tmpl string) error {
	samples := []GrantFields{
		{Namespace: "ns", Account: "acct", System: "sys-a", Role: "role-a"},
		{Namespace: "ns", Account: "acct", System: "sys-b", Role: "role-a"},
		{Namespace: "ns", Account: "acct", System: "sys-a", Role: "role-b"},
		{Namespace: "other-ns", Account: "acct", System: "sys-a", Role: "role-a"},
	}
	names := make([]string, len(samples))
	for i, f := range samples {
		name, err := RenderGroup(tmpl, f)
		if err != nil {
			return fmt.Errorf("must be a Go template over .Namespace, .Account, .System and .Role: %w", err)
		}
		names[i] = name
	}
	if names[0] == names[1] || names[0] == names[2] {
		return errors.New("must use both {{ .System }} and {{ .Role }} so that every grant has its own group")
	}
	if names[0] == names[3] {
		return errors.New("must use {{ .Namespace }}: without it the partners of every customer account would share one group")
	}
	return nil
}

// IsCatalogueKey reports whether s is a valid catalogue key: what the API
// allows in spec.role and spec.systems and the catalogue in its keys.
func IsCatalogueKey(s string) bool { return len(s) <= 63 && catalogueKey.MatchString(s) }
