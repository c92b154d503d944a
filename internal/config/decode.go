package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// checkStructure returns an error naming the first key given twice in one
// map, with its full path and both lines, or the line of a second YAML
// document. The strict YAML decoder also refuses duplicates, but names only
// the key and a line; and it reads the first document only, so a second one
// would be ignored without a word. A document that does not parse is left to
// the strict decoder to report.
func checkStructure(data []byte) error {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var doc yamlv3.Node
	if err := dec.Decode(&doc); err != nil {
		return nil
	}
	if err := duplicateKeys(&doc, ""); err != nil {
		return err
	}
	var next yamlv3.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("after the first YAML document: %v", err)
	case len(next.Content) == 0 || next.Content[0].Tag == "!!null":
		return nil // a trailing "---" or "..."
	default:
		return fmt.Errorf("line %d: a second YAML document starts here; the file must hold exactly one", next.Content[0].Line)
	}
}

func duplicateKeys(n *yamlv3.Node, path string) error {
	switch n.Kind {
	case yamlv3.DocumentNode:
		for _, c := range n.Content {
			if err := duplicateKeys(c, path); err != nil {
				return err
			}
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			if err := duplicateKeys(c, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case yamlv3.MappingNode:
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yamlv3.ScalarNode || k.Tag == "!!merge" {
				continue
			}
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if line, ok := seen[k.Value]; ok {
				return fmt.Errorf("%s: key given twice, on lines %d and %d", p, line, k.Line)
			}
			seen[k.Value] = k.Line
			if err := duplicateKeys(v, p); err != nil {
				return err
			}
		}
	}
	// Aliases are not followed: the node they name is checked where it is
	// written.
	return nil
}

// describeDecodeError turns a JSON decoding error into a sentence that names
// the key with its full path, such as
// `smtp.port: expected a whole number, found a string`.
func describeDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Type == nil {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	where := te.Field
	if where == "" {
		where = "the document"
	}
	return fmt.Sprintf("%s: expected %s, found %s", where, describeType(te.Type), describeValue(te.Value))
}

func describeType(t reflect.Type) string {
	if t == reflect.TypeFor[Duration]() {
		return `a duration such as "30s" or "10m"`
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "a map of keys"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return t.String()
}

// describeValue reads UnmarshalTypeError.Value: "string", "number 1.5",
// "bool", "array", "object", or `string "abc"` from Duration.
func describeValue(v string) string {
	kind, rest, _ := strings.Cut(v, " ")
	switch {
	case kind == "string" && rest != "":
		return rest
	case kind == "number" && rest != "":
		return rest
	}
	switch kind {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "a map"
	}
	return v
}

// jsonKind names the kind of a JSON value the way UnmarshalTypeError does.
func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == '"':
		return "string"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	}
	return "number " + string(b)
}
