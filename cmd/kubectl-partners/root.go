package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// run is the plugin's entry point: it runs the command line args (without
// the program name) and writes to stdout and stderr. main prints the error
// it returns; tests call it directly.
func run(args []string, stdout, stderr io.Writer) error {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(context.Background())
}

// options are what every subcommand shares: the standard kubectl
// connection flags and the output streams.
type options struct {
	config *genericclioptions.ConfigFlags
	out    io.Writer
	errOut io.Writer
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &options{config: genericclioptions.NewConfigFlags(false), out: stdout, errOut: stderr}
	root := &cobra.Command{
		Use:   "kubectl-partners",
		Short: "Invite, resend, withdraw and list partner users",
		Long: `kubectl partners manages the partner users of partnerops: it invites them
by email (one PartnerInvitation each, or entries of a PartnerAccount's
spec.users, in its manifest file or on the cluster), asks for fresh
invitation emails, withdraws invitations and lists who was invited, with
which role and systems, and where each invitation stands.

It uses your kubeconfig like kubectl does; -n/--namespace picks the
namespace (the customer account), else the current context's.`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl partners"},
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %q?", s[0])
			}
			return usageError(cmd, msg)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(c, err.Error())
	})
	o.config.AddFlags(root.PersistentFlags())
	root.AddCommand(
		newInviteCommand(o),
		newResendCommand(o),
		newWithdrawCommand(o),
		newListCommand(o),
		newVersionCommand(o),
	)
	return root
}

// usageError is a bad command line: the message and where to read more,
// as kubectl says it.
func usageError(c *cobra.Command, msg string) error {
	return fmt.Errorf("%s\nSee '%s --help' for usage.", msg, c.CommandPath())
}

// scheme knows the partnerops kinds, the only ones the plugin reads and
// writes.
var scheme = func() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}()

// client connects to the API server chosen by the kubeconfig flags and
// returns the namespace to work in.
func (o *options) client() (client.Client, string, error) {
	if err := o.checkConfigured(); err != nil {
		return nil, "", err
	}
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	cfg.WarningHandler = rest.NewWarningWriter(o.errOut, rest.WarningWriterOptions{Deduplicate: true})
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the API server: %w", err)
	}
	return c, ns, nil
}

// checkConfigured refuses to guess a cluster: without a kubeconfig, a
// --server or an in-cluster environment, client-go would try
// http://localhost:8080 and fail with a connection error.
func (o *options) checkConfigured() error {
	if *o.config.APIServer != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return nil
	}
	raw, err := o.config.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return err
	}
	if len(raw.Clusters) == 0 {
		return errors.New("no cluster to talk to: no kubeconfig was found (set KUBECONFIG or use --kubeconfig) and no --server was given")
	}
	return nil
}

// apiError words an error of the API server for a person: what kubectl
// would print, plus a hint when the partnerops CRDs are missing.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	if meta.IsNoMatchError(err) {
		return fmt.Errorf("the partnerops API (%s) is not installed in this cluster: %w", v1alpha1.GroupVersion, err)
	}
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) {
		return err
	}
	details := status.Status().Details
	if details == nil || len(details.Causes) == 0 {
		return err
	}
	head := "The request is invalid"
	if details.Kind != "" || details.Name != "" {
		head = fmt.Sprintf("The %s %q is invalid", details.Kind, details.Name)
	}
	causes := make([]string, 0, len(details.Causes))
	for _, c := range details.Causes {
		if c.Field != "" && c.Field != "<nil>" {
			causes = append(causes, c.Field+": "+c.Message)
		} else {
			causes = append(causes, c.Message)
		}
	}
	if len(causes) == 1 {
		return fmt.Errorf("%s: %s", head, causes[0])
	}
	return fmt.Errorf("%s:\n* %s", head, strings.Join(causes, "\n* "))
}

// invitationNotFound words a missing invitation.
func invitationNotFound(name, ns string) error {
	return fmt.Errorf("partnerinvitation %q not found in namespace %s", name, ns)
}

// dryRun is the --dry-run flag: none, client (nothing is sent to the API
// server) or server (the API server checks and answers, and stores nothing).
type dryRun string

const (
	dryRunNone   dryRun = "none"
	dryRunClient dryRun = "client"
	dryRunServer dryRun = "server"
)

func addDryRunFlag(cmd *cobra.Command, d *dryRun) {
	*d = dryRunNone
	cmd.Flags().StringVar((*string)(d), "dry-run", string(dryRunNone),
		`"none", "client" or "server": with client, only print what would be sent; with server, the API server checks the change without storing it`)
}

// check refuses an unknown --dry-run value.
func (d dryRun) check(cmd *cobra.Command) error {
	switch d {
	case dryRunNone, dryRunClient, dryRunServer:
		return nil
	}
	return usageError(cmd, fmt.Sprintf("invalid --dry-run value %q: must be none, client or server", string(d)))
}

// createOpts and patchOpts make a write a server dry run when asked.
func (d dryRun) createOpts() []client.CreateOption {
	if d == dryRunServer {
		return []client.CreateOption{client.DryRunAll}
	}
	return nil
}

func (d dryRun) patchOpts() []client.PatchOption {
	if d == dryRunServer {
		return []client.PatchOption{client.DryRunAll}
	}
	return nil
}

// suffix is what a printed action ends with under --dry-run.
func (d dryRun) suffix() string {
	switch d {
	case dryRunClient:
		return " (dry run)"
	case dryRunServer:
		return " (server dry run)"
	}
	return ""
}
