package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file edits a PartnerAccount manifest kept in Git (`invite -f FILE`):
// the new users are inserted as text under spec.users, and every other
// byte of the file (comments, blank lines, quoting, key order, the other
// documents) stays as it was, so the change a reviewer sees is the lines
// added. The file is parsed with go.yaml.in/yaml/v3 to find where spec.users
// is and how the file indents its lists; the result is parsed again and
// must be the file as it was plus the new entries, else nothing is written.

// accountFile is a YAML file (one document or several) that holds the
// manifest of a PartnerAccount.
type accountFile struct {
	path    string
	src     []byte
	docs    []*yaml.Node
	index   int // the account's document
	account *v1alpha1.PartnerAccount
}

// readAccountFile reads path and finds the PartnerAccount in it: the only
// one, or the one named name when name is set.
func readAccountFile(path, name string) (*accountFile, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the account file: %w", err)
	}
	docs, err := parseDocuments(src)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid YAML: %w", path, err)
	}
	type candidate struct {
		index      int
		apiVersion string
		account    *v1alpha1.PartnerAccount
	}
	var all, chosen []candidate
	var kinds []string
	for i, d := range docs {
		apiVersion, kind := scalarAt(d, "apiVersion"), scalarAt(d, "kind")
		if kind == "" {
			continue
		}
		if kind != "PartnerAccount" || !strings.HasPrefix(apiVersion, v1alpha1.GroupVersion.Group+"/") {
			kinds = append(kinds, kind)
			continue
		}
		acct, err := decodeAccount(d)
		if err != nil {
			return nil, fmt.Errorf("%s: the PartnerAccount of document %d: %w", path, i+1, err)
		}
		c := candidate{i, apiVersion, acct}
		all = append(all, c)
		if name == "" || acct.Name == name {
			chosen = append(chosen, c)
		}
	}
	names := make([]string, len(all))
	for i, c := range all {
		names[i] = c.account.Name
	}
	switch {
	case len(chosen) == 1 && chosen[0].apiVersion != v1alpha1.GroupVersion.String():
		return nil, fmt.Errorf("%s: partneraccount %q is %s; this plugin edits %s", path, chosen[0].account.Name, chosen[0].apiVersion, v1alpha1.GroupVersion)
	case len(chosen) == 1:
		return &accountFile{path: path, src: src, docs: docs, index: chosen[0].index, account: chosen[0].account}, nil
	case len(chosen) > 1 && name != "":
		return nil, fmt.Errorf("%s holds partneraccount %q %d times", path, name, len(chosen))
	case len(chosen) > 1:
		return nil, fmt.Errorf("%s holds %d PartnerAccounts (%s): choose one with --account", path, len(all), strings.Join(names, ", "))
	case len(all) > 0:
		return nil, fmt.Errorf("%s holds no partneraccount %q (it holds %s)", path, name, strings.Join(names, ", "))
	case len(kinds) > 0:
		return nil, fmt.Errorf("%s holds no PartnerAccount (it holds %s): -f takes the manifest of the PartnerAccount to add the users to", path, strings.Join(kinds, ", "))
	}
	return nil, fmt.Errorf("%s holds no Kubernetes object: -f takes the manifest of the PartnerAccount to add the users to", path)
}

// parseDocuments parses every document of src.
func parseDocuments(src []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		d := &yaml.Node{}
		err := dec.Decode(d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
}

// root is a document's top mapping, or nil.
func root(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		return doc.Content[0]
	}
	return nil
}

// pair is the key and value nodes of key in mapping m, or nils.
func pair(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func scalarAt(doc *yaml.Node, key string) string {
	if _, v := pair(root(doc), key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// decodeAccount is the typed form of a document (fields this plugin does
// not know are ignored here, and kept in the file).
func decodeAccount(doc *yaml.Node) (*v1alpha1.PartnerAccount, error) {
	var generic any
	if err := doc.Decode(&generic); err != nil {
		return nil, err
	}
	b, err := json.Marshal(generic)
	if err != nil {
		return nil, err
	}
	acct := &v1alpha1.PartnerAccount{}
	if err := json.Unmarshal(b, acct); err != nil {
		return nil, err
	}
	if acct.Name == "" {
		return nil, errors.New("it has no metadata.name")
	}
	return acct, nil
}

// withUsers is the file with users appended to the account's spec.users,
// and the account as it then reads.
func (f *accountFile) withUsers(users []v1alpha1.PartnerUser) ([]byte, *v1alpha1.PartnerAccount, error) {
	where := fmt.Sprintf("%s: partneraccount %q", f.path, f.account.Name)
	_, spec := pair(root(f.docs[f.index]), "spec")
	if spec == nil || spec.Kind != yaml.MappingNode || len(spec.Content) == 0 {
		return nil, nil, fmt.Errorf("%s has no spec", where)
	}
	if spec.Style&yaml.FlowStyle != 0 {
		return nil, nil, fmt.Errorf("%s: spec is written in flow style ({…}); write it as a block mapping for -f to edit it", where)
	}
	lines := splitLines(f.src)
	style := f.listStyle()
	var at int // the new lines go before lines[at]
	var add []string
	switch key, val := pair(spec, "users"); {
	case key == nil:
		// No users yet: a users list at the end of spec.
		indent := spec.Content[0].Column - 1
		at = blockEnd(lines, spec.Content[0].Line-1, indent, false)
		add = append([]string{strings.Repeat(" ", indent) + "users:"}, style.render(users, indent+style.offset)...)
	case val.Kind == yaml.SequenceNode && val.Style&yaml.FlowStyle == 0 && len(val.Content) > 0:
		// After the last entry, indented like the first.
		at = blockEnd(lines, val.Line-1, val.Column-1, true)
		add = style.render(users, val.Column-1)
	case emptyValue(val):
		// "users:", "users: []", "users: null": the list goes under the key.
		lines[key.Line-1] = dropValue(lines[key.Line-1], val)
		at = key.Line
		add = style.render(users, key.Column-1+style.offset)
	default:
		return nil, nil, fmt.Errorf("%s: spec.users is written in flow style ([…]); write it as a block list (one \"- email: …\" per entry) for -f to edit it", where)
	}
	if at > 0 && !strings.HasSuffix(lines[at-1], "\n") {
		lines[at-1] += style.eol // the file did not end with a line break
	}
	for i := range add {
		add[i] += style.eol
	}
	out := []byte(strings.Join(slices.Concat(lines[:at], add, lines[at:]), ""))
	acct, err := f.check(out, users)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: adding the users would change more than spec.users (%v), so the file was not changed; add them by hand", where, err)
	}
	return out, acct, nil
}

// check parses out and compares it with the file as read: out must hold
// the same documents, the account's spec.users ending with users.
func (f *accountFile) check(out []byte, users []v1alpha1.PartnerUser) (*v1alpha1.PartnerAccount, error) {
	docs, err := parseDocuments(out)
	if err != nil {
		return nil, err
	}
	if len(docs) != len(f.docs) {
		return nil, fmt.Errorf("%d documents instead of %d", len(docs), len(f.docs))
	}
	for i := range docs {
		var was, is any
		if err := f.docs[i].Decode(&was); err != nil {
			return nil, err
		}
		if err := docs[i].Decode(&is); err != nil {
			return nil, err
		}
		if i == f.index {
			spec := was.(map[string]any)["spec"].(map[string]any)
			old, _ := spec["users"].([]any)
			for _, u := range users {
				b, _ := json.Marshal(u)
				var generic any
				_ = json.Unmarshal(b, &generic)
				old = append(old, generic)
			}
			spec["users"] = old
		}
		if !reflect.DeepEqual(was, is) {
			return nil, fmt.Errorf("document %d reads differently", i+1)
		}
	}
	return decodeAccount(docs[f.index])
}

// writeFileAtomic replaces the file at path with data, keeping its mode,
// through a temporary file in the same directory: a reader never sees half
// a file, and a failed write leaves the old one.
func writeFileAtomic(path string, data []byte) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
