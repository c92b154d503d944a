// Command kubectl-partners is the `kubectl partners` plugin: it invites
// partner users by email (one PartnerInvitation each), resends and
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

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	// The client library logs nothing a plugin user needs; without a
	// logger it would print a warning about the missing one.
	ctrllog.SetLogger(logr.Discard())
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		printError(os.Stderr, err)
		os.Exit(1)
	}
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
