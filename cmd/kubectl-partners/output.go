package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// Output formats of -o/--output; "" is the default, human one.
const (
	outputJSON = "json"
	outputYAML = "yaml"
	outputName = "name"
)

// checkOutput refuses an -o value the command does not print.
func checkOutput(cmd *cobra.Command, got string, allowed ...string) error {
	if got == "" || slices.Contains(allowed, got) {
		return nil
	}
	choices := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	return usageError(cmd, fmt.Sprintf("unknown output format %q: use %s", got, choices))
}

// printData prints v as indented JSON (as kubectl does) or as YAML.
func printData(w io.Writer, format string, v any) error {
	if format == outputYAML {
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// list is a v1 List, kubectl's way of printing several objects as one
// document that `kubectl apply -f` takes back.
type list struct {
	APIVersion string                        `json:"apiVersion"`
	Kind       string                        `json:"kind"`
	Items      []*v1alpha1.PartnerInvitation `json:"items"`
}

// printInvitations prints invitations as JSON or YAML: the object alone
// when there is one, else a List.
func printInvitations(w io.Writer, format string, invs []*v1alpha1.PartnerInvitation) error {
	for _, inv := range invs {
		// The client clears apiVersion and kind of what it decodes.
		inv.APIVersion, inv.Kind = v1alpha1.GroupVersion.String(), "PartnerInvitation"
	}
	if len(invs) == 1 {
		return printData(w, format, invs[0])
	}
	return printData(w, format, list{APIVersion: "v1", Kind: "List", Items: invs})
}

// objectRef is how an invitation is named in messages, in the
// kind/name form kubectl takes back (kubectl wait, get, describe).
func objectRef(name string) string { return "partnerinvitation/" + name }

// newTable writes aligned columns the way kubectl's tables are.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
}
