// Command kubectl-partners is the `kubectl partners` plugin: it invites
// partner users by email (one PartnerInvitation each, or entries of a
// PartnerAccount's spec.users, in its manifest or on the cluster), resends and
// withdraws invitations, and lists the partner users of a namespace or of
// every namespace. It talks to the API server like kubectl does, with the
// same kubeconfig, context and namespace flags; the operator does the rest.
//
// Build it with `make plugin` (bin/kubectl-partners) and put it on PATH;
// docs/kubectl-plugin.md describes every subcommand.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	// The client library logs nothing a plugin user needs; without a
	// logger it would print a warning about the missing one.
	ctrllog.SetLogger(logr.Discard())
	if err := run(argsOf(os.Args), os.Stdout, os.Stderr); err != nil {
		printError(os.Stderr, err)
		os.Exit(1)
	}
}

// completionHelper is the name kubectl (1.26 and later) looks for on PATH to
// complete `kubectl partners …`: it runs kubectl_complete-partners with
// the words typed so far. The plugin is that program too when called by
// that name (a link to it, which `make plugin` makes).
const completionHelper = "kubectl_complete-partners"

// argsOf is the command line to run for os.Args: under the completion
// helper's name, cobra's hidden __complete command on the words typed.
func argsOf(osArgs []string) []string {
	if name := strings.TrimSuffix(filepath.Base(osArgs[0]), ".exe"); name == completionHelper {
		return append([]string{cobra.ShellCompRequestCmd}, osArgs[1:]...)
	}
	return osArgs[1:]
}

// printError prints err the way kubectl does, "error: " first; each error
// of a joined error gets its own line.
func printError(w io.Writer, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			printError(w, e)
		}
		return
	}
	fmt.Fprintf(w, "error: %v\n", err)
}
