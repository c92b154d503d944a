package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"
)

// customColumns is kubectl's -o custom-columns printer (which lives in
// k8s.io/kubectl, not in cli-runtime): one line per object, one column per
// HEADER:JSONPATH of the spec, "<none>" where the path finds nothing and
// several values joined with commas. -o custom-columns-file=FILE reads the
// headers from the first line of FILE and the paths from the second.
type customColumns struct {
	headers   []string
	paths     []*jsonpath.JSONPath
	noHeaders bool
}

// relaxedPath is the kubectl shorthand for a column's path: "spec.email",
// ".spec.email" or "{.spec.email}".
var relaxedPath = regexp.MustCompile(`^\{\.?([^{}]+)\}$|^\.?([^{}]+)$`)

func newCustomColumns(format, value string, noHeaders bool) (*customColumns, error) {
	if value == "" {
		return nil, fmt.Errorf("-o %s needs a value, as in -o custom-columns=EMAIL:.spec.email,STATE:.status.state", format)
	}
	var headers, specs []string
	if format == outputCustomColumnsFile {
		f, err := os.Open(value)
		if err != nil {
			return nil, fmt.Errorf("reading the custom columns: %w", err)
		}
		defer f.Close()
		lines := bufio.NewScanner(f)
		for range 2 {
			if !lines.Scan() {
				return nil, fmt.Errorf("%s: want a line of headers and a line of paths, separated by spaces", value)
			}
			if headers == nil {
				headers = strings.Fields(lines.Text())
			} else {
				specs = strings.Fields(lines.Text())
			}
		}
		if len(headers) != len(specs) {
			return nil, fmt.Errorf("%s: %d headers but %d paths", value, len(headers), len(specs))
		}
	} else {
		for _, col := range strings.Split(value, ",") {
			header, spec, ok := strings.Cut(col, ":")
			if !ok {
				return nil, fmt.Errorf("custom column %q: want HEADER:PATH, as in EMAIL:.spec.email", col)
			}
			headers, specs = append(headers, header), append(specs, spec)
		}
	}
	c := &customColumns{headers: headers, noHeaders: noHeaders}
	for i, spec := range specs {
		m := relaxedPath.FindStringSubmatch(spec)
		if m == nil {
			return nil, fmt.Errorf("custom column %s: path %q: want a path such as .spec.email", headers[i], spec)
		}
		p := jsonpath.New(headers[i]).AllowMissingKeys(true)
		if err := p.Parse("{." + m[1] + m[2] + "}"); err != nil {
			return nil, fmt.Errorf("custom column %s: %w", headers[i], err)
		}
		c.paths = append(c.paths, p)
	}
	return c, nil
}

// PrintObj prints obj, or each item of a list, as one line.
func (c *customColumns) PrintObj(obj runtime.Object, out io.Writer) error {
	w := printers.GetNewTabWriter(out)
	defer w.Flush()
	if !c.noHeaders {
		fmt.Fprintln(w, strings.Join(c.headers, "\t"))
	}
	objs := []runtime.Object{obj}
	if meta.IsListType(obj) {
		var err error
		if objs, err = meta.ExtractList(obj); err != nil {
			return err
		}
	}
	for _, o := range objs {
		u, ok := o.(runtime.Unstructured)
		if !ok {
			return errors.New("custom columns print unstructured objects only")
		}
		cells := make([]string, len(c.paths))
		for i, p := range c.paths {
			results, err := p.FindResults(u.UnstructuredContent())
			if err != nil {
				return err
			}
			var values []string
			for _, r := range results {
				for _, v := range r {
					values = append(values, printers.EscapeTerminal(fmt.Sprint(v.Interface())))
				}
			}
			if len(values) == 0 {
				values = []string{"<none>"}
			}
			cells[i] = strings.Join(values, ",")
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	return nil
}
