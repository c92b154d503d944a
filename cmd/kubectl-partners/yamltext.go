package main

import (
	"bytes"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	k8syaml "sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// The text side of editing an account file: where a block ends, and the new
// entries written the way the file writes its lists.

// splitLines splits src into lines that keep their line breaks.
func splitLines(src []byte) []string {
	var lines []string
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			lines = append(lines, string(src))
			break
		}
		lines = append(lines, string(src[:i+1]))
		src = src[i+1:]
	}
	return lines
}

// blockEnd is the index of the line after the block whose first line is
// lines[first]: the children of a mapping indented by indent spaces, or
// (seq) the items of a list whose dashes are indented by indent. A comment
// indented deeper than the block's own lines is the block's (a note on its
// last entry); one at the block's indentation or less, and blank lines
// before it, belong to what follows.
func blockEnd(lines []string, first, indent int, seq bool) int {
	last := first
	for i := first + 1; i < len(lines); i++ {
		text := strings.TrimRight(lines[i], "\r\n")
		body := strings.TrimLeft(text, " ")
		in := len(text) - len(body)
		switch {
		case body == "":
			continue
		case strings.HasPrefix(body, "#"):
			if in > indent {
				last = i
			}
			continue
		case in == 0 && (body == "---" || body == "..." || strings.HasPrefix(body, "--- ")):
			return last + 1
		case in > indent, in == indent && (!seq || body == "-" || strings.HasPrefix(body, "- ")):
			last = i
			continue
		}
		break
	}
	return last + 1
}

// emptyValue says a users value holds no entry: nothing, null or [].
func emptyValue(v *yaml.Node) bool {
	switch v.Kind {
	case yaml.ScalarNode:
		return v.Tag == "!!null"
	case yaml.SequenceNode:
		return len(v.Content) == 0
	}
	return false
}

// dropValue removes an empty value (null, ~, []) from the line of its key,
// keeping a comment after it: "users: [] # none" becomes "users: # none".
func dropValue(line string, v *yaml.Node) string {
	if v.Line != 0 && v.Value == "" && v.Kind == yaml.ScalarNode {
		return line // "users:" alone
	}
	runes := []rune(line)
	start := v.Column - 1
	if start < 0 || start > len(runes) {
		return line
	}
	end := start + len([]rune(v.Value))
	if v.Kind == yaml.SequenceNode {
		end = start + strings.IndexByte(string(runes[start:]), ']') + 1
	}
	head := strings.TrimRight(string(runes[:start]), " ")
	return head + string(runes[end:])
}

// listStyle is how a file writes its lists, which the new entries follow.
type listStyle struct {
	// offset is how much deeper than its key a list's dashes are: 2 for
	// "users:\n  - email: …", 0 for "users:\n- email: …" (kubectl's way).
	offset int
	// flowSystems: the file's entries write systems as [a, b].
	flowSystems bool
	// eol is the file's line break.
	eol string
}

func (f *accountFile) listStyle() listStyle {
	s := listStyle{offset: 2, eol: "\n"}
	if bytes.Contains(f.src, []byte("\r\n")) {
		s.eol = "\r\n"
	}
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k, v := n.Content[i], n.Content[i+1]; v.Kind == yaml.SequenceNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Line > k.Line {
					s.offset = v.Column - k.Column
					return true
				}
			}
		}
		for _, c := range n.Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	_, spec := pair(root(f.docs[f.index]), "spec")
	usersKey, users := pair(spec, "users")
	if users == nil || !walk(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{usersKey, users}}) {
		walk(f.docs[f.index])
	}
	if users != nil {
		for _, u := range users.Content {
			if _, sys := pair(u, "systems"); sys != nil && sys.Style&yaml.FlowStyle != 0 {
				s.flowSystems = true
			}
		}
	}
	return s
}

// render writes users as list entries whose dashes are indented by
// indent, one line per element (without line breaks).
func (s listStyle) render(users []v1alpha1.PartnerUser, indent int) []string {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, u := range users {
		m := &yaml.Node{Kind: yaml.MappingNode}
		add := func(k string, v *yaml.Node) { m.Content = append(m.Content, str(k), v) }
		add("email", str(string(u.Email)))
		add("role", str(string(u.Role)))
		if len(u.Systems) > 0 {
			sys := &yaml.Node{Kind: yaml.SequenceNode}
			if s.flowSystems {
				sys.Style = yaml.FlowStyle
			}
			for _, k := range u.Systems {
				sys.Content = append(sys.Content, str(string(k)))
			}
			add("systems", sys)
		}
		for _, kv := range [][2]string{{"locale", string(u.Locale)}, {"message", u.Message}, {"ttl", string(u.TTL)}} {
			if kv[1] != "" {
				add(kv[0], str(kv[1]))
			}
		}
		seq.Content = append(seq.Content, m)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if s.offset == 0 {
		enc.CompactSeqIndent()
	}
	_ = enc.Encode(seq) // a tree of strings always encodes
	_ = enc.Close()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = strings.Repeat(" ", indent) + l
		}
	}
	return lines
}

// str is a string scalar. One that Kubernetes' YAML reader (YAML 1.1:
// yes, on, 0777, …) would not read back as the same string is quoted.
func str(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	if !strings.ContainsAny(v, "\n") {
		var back any
		if err := k8syaml.Unmarshal([]byte(v), &back); err != nil || back != v {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return n
}
