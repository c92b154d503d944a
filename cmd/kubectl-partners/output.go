package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// printFlags are the output flags of a command that prints objects, as
// kubectl's: -o takes the formats of cli-runtime's PrintFlags (json, yaml,
// kyaml, name, go-template, jsonpath and their file forms, with --template,
// --allow-missing-template-keys and --show-managed-fields), custom-columns
// and custom-columns-file, and for a command with a table (list) wide;
// --no-headers leaves the header line out of tables and custom columns.
type printFlags struct {
	generic   *genericclioptions.PrintFlags
	noHeaders bool
	// table: the command's own output is a table, which -o wide widens.
	table bool
}

// Formats of -o beyond cli-runtime's.
const (
	outputWide              = "wide"
	outputCustomColumns     = "custom-columns"
	outputCustomColumnsFile = "custom-columns-file"
)

func addPrintFlags(cmd *cobra.Command, table bool) *printFlags {
	p := &printFlags{generic: genericclioptions.NewPrintFlags(""), table: table}
	p.generic.JSONYamlPrintFlags.AddFlags(cmd)
	p.generic.TemplatePrinterFlags.AddFlags(cmd)
	cmd.Flags().StringVarP(p.generic.OutputFormat, "output", "o", "",
		fmt.Sprintf("Output format. One of: (%s).", strings.Join(p.formats(), ", ")))
	p.generic.OutputFlagSpecified = func() bool { return cmd.Flag("output").Changed }
	cmd.Flags().BoolVar(&p.noHeaders, "no-headers", false, "When using the default, wide or custom-columns output format, don't print headers.")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return p.formats(), cobra.ShellCompDirectiveNoFileComp
	})
	return p
}

// formats lists what -o takes.
func (p *printFlags) formats() []string {
	f := p.generic.AllowedFormats()
	f = append(f, outputCustomColumns, outputCustomColumnsFile)
	if p.table {
		f = append(f, outputWide)
	}
	return f
}

func (p *printFlags) output() string { return *p.generic.OutputFormat }

// human says the command prints its own words (list's table, invite's
// lines) rather than objects: no -o (nor --template), or -o wide.
func (p *printFlags) human() bool {
	switch p.output() {
	case "":
		return *p.generic.TemplatePrinterFlags.TemplateArgument == ""
	case outputWide:
		return p.table
	}
	return false
}

// printer is the printer of -o, checked before the command does anything:
// an unknown format or a template that does not parse is a usage error.
// It is nil for human output.
func (p *printFlags) printer(cmd *cobra.Command) (printers.ResourcePrinter, error) {
	if p.human() {
		return nil, nil
	}
	out := p.output()
	for _, f := range []string{outputCustomColumns, outputCustomColumnsFile} {
		if out == f || strings.HasPrefix(out, f+"=") {
			pr, err := newCustomColumns(f, strings.TrimPrefix(strings.TrimPrefix(out, f), "="), p.noHeaders)
			if err != nil {
				return nil, usageError(cmd, err.Error())
			}
			return pr, nil
		}
	}
	pr, err := p.generic.ToPrinter()
	switch {
	case genericclioptions.IsNoCompatiblePrinterError(err):
		return nil, usageError(cmd, fmt.Sprintf("unknown output format %q: use one of %s", out, strings.Join(p.formats(), ", ")))
	case err != nil:
		return nil, usageError(cmd, fmt.Sprintf("-o %s: %v", out, err))
	}
	return pr, nil
}

// printObjects prints objs with pr: one object alone unless asList, else a
// v1 List, kubectl's way of printing several objects as one document that
// `kubectl apply -f` takes back and that jsonpath reaches as .items.
func printObjects(w io.Writer, pr printers.ResourcePrinter, objs []client.Object, asList bool) error {
	items := make([]unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		u, err := toUnstructured(o)
		if err != nil {
			return err
		}
		items = append(items, *u)
	}
	if len(items) == 1 && !asList {
		return pr.PrintObj(&items[0], w)
	}
	l := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{}}, Items: items}
	return pr.PrintObj(l, w)
}

// toUnstructured is o with its apiVersion and kind, which the client clears
// from what it decodes.
func toUnstructured(o client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(o, scheme)
	if err != nil {
		return nil, err
	}
	m, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// objectRef is how an invitation is named in messages, in the
// kind/name form kubectl takes back (kubectl wait, get, describe).
func objectRef(name string) string { return "partnerinvitation/" + name }
