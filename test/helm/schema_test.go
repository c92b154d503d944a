package helm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSchemaRefusesBadValues: values.schema.json refuses, at `helm install`
// time, what the manager would refuse at start (or what nothing would use),
// naming the key.
func TestSchemaRefusesBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		path  string
		value any
		want  string
	}{
		"a misspelt value":             {"replicas", 2, "replicas"},
		"an unknown configuration key": {"config.smtp.hots", "mail.example.com", "hots"},
		"an unknown SMTP security":     {"config.smtp.security", "ssl", "security"},
		"an unknown backend type":      {"config.identityBackend.type", "ad", "type"},
		"ldap without its section":     {"config.identityBackend.type", "ldap", "url"},
		"a URL without scheme":         {"config.acceptance.publicURL", "partners.example.com", "publicURL"},
		"a bad role key":               {"config.catalogue.roles", []any{map[string]any{"key": "Admin.X", "displayName": map[string]any{"en": "A"}}}, "key"},
		"a role without English":       {"config.catalogue.roles", []any{map[string]any{"key": "admin", "displayName": map[string]any{"fr": "A"}}}, "en"},
		"a digest that is a tag":       {"image.digest", "latest", "digest"},
		"an extra arg that is no flag": {"extraArgs", []any{"debug"}, "extraArgs"},
		"a Secret's name with a space": {"config.tokens.keysSecret.name", "token keys", "name"},
		"a duration that is a number":  {"config.smtp.timeout", 0, "timeout"},
		"oidc sign-in without issuer":  {"config.acceptance.signIn", map[string]any{"type": "oidc", "oidc": map[string]any{"clientID": "partnerops"}}, "issuerURL"},
		"an SMTP login without TLS":    {"config.smtp.security", "none", "credentialsSecret"},
		"writes aggregated into view":  {"rbac.tenantRoles.aggregateWritesTo", []any{"view"}, "aggregateWritesTo"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderRelease(set(nil, tc.path, tc.value))
			if err == nil {
				t.Fatalf("%s=%v was accepted", tc.path, tc.value)
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s=%v: %v\nwant a schema error naming %q", tc.path, tc.value, err, tc.want)
			}
		})
	}
}

// TestSchemaHasEveryConfigKey: every key docs/configuration.md documents
// is in values.schema.json's config (which refuses unknown keys), and the
// schema has no key the documentation does not describe.
func TestSchemaHasEveryConfigKey(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		key, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
		if key != "apiVersion" && key != "kind" && !strings.ContainsAny(key, " {") {
			documented[key] = true
		}
	}
	if len(documented) < 30 {
		t.Fatalf("found only %d keys in docs/configuration.md: the parsing is stale", len(documented))
	}

	s := readSchema(t)
	inSchema := map[string]bool{}
	s.keys(s.at(t, "properties", "config"), "", inSchema)
	for _, k := range sortedKeys(documented) {
		if !inSchema[k] {
			t.Errorf("docs/configuration.md documents %s, which values.schema.json's config does not have (helm install would refuse it)", k)
		}
	}
	for _, k := range sortedKeys(inSchema) {
		if !documented[k] {
			t.Errorf("values.schema.json's config has %s, which docs/configuration.md does not document", k)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// schema is values.schema.json, decoded.
type schema map[string]any

func readSchema(t *testing.T) schema {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	return s
}

// at is the sub-schema at a path of keys, failing the test when there is
// none.
func (s schema) at(t *testing.T, path ...string) map[string]any {
	t.Helper()
	var node any = map[string]any(s)
	for _, k := range path {
		m, _ := node.(map[string]any)
		if node = m[k]; node == nil {
			t.Fatalf("values.schema.json has no %s", strings.Join(path, "."))
		}
	}
	return node.(map[string]any)
}

// resolve follows a local "$ref" (#/definitions/…).
func (s schema) resolve(node map[string]any) map[string]any {
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	var out any = map[string]any(s)
	for _, k := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		out = out.(map[string]any)[k]
	}
	return s.resolve(out.(map[string]any))
}

// keys adds the dotted path of every property under node to into, as
// docs/configuration.md writes them: a list's entries as [].
func (s schema) keys(node map[string]any, prefix string, into map[string]bool) {
	node = s.resolve(node)
	if items, ok := node["items"].(map[string]any); ok {
		s.keys(items, prefix+"[]", into)
	}
	props, _ := node["properties"].(map[string]any)
	for name, sub := range props {
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		into[path] = true
		s.keys(sub.(map[string]any), path, into)
	}
}

// TestReadmeListsEveryValue: the chart's README.md has a row for every
// value of values.schema.json (config's keys are docs/configuration.md's,
// checked above), and names no value the schema does not have.
func TestReadmeListsEveryValue(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Values\n")
	table, _, _ = strings.Cut(table, "\n## ")
	listed := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 {
			continue
		}
		for _, name := range strings.Split(cells[1], ",") {
			listed[strings.Trim(strings.TrimSpace(name), "`")] = true
		}
	}
	if len(listed) < 40 {
		t.Fatalf("found only %d values in README.md's values table: the parsing is stale", len(listed))
	}

	s := readSchema(t)
	all := map[string]bool{}
	s.keys(map[string]any(s), "", all)
	for _, k := range sortedKeys(all) {
		props, _ := s.resolve(s.node(k))["properties"].(map[string]any)
		leaf := len(props) == 0 && !strings.Contains(k, "[]") && k != "global"
		if leaf && !strings.HasPrefix(k, "config.") && !listed[k] {
			t.Errorf("README.md's values table has no row for %s", k)
		}
	}
	for _, k := range sortedKeys(listed) {
		if !all[k] {
			t.Errorf("README.md's values table lists %s, which values.schema.json does not have", k)
		}
	}
}

// node is the sub-schema of a dotted value path such as "image.tag".
func (s schema) node(path string) map[string]any {
	node := map[string]any(s)
	for _, k := range strings.Split(path, ".") {
		props, _ := s.resolve(node)["properties"].(map[string]any)
		node, _ = props[k].(map[string]any)
	}
	return node
}
