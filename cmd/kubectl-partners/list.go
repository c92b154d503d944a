package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// listOptions are the flags of `kubectl partners list`.
type listOptions struct {
	*options
	allNamespaces bool
	account       string
	print         *printFlags
}

func newListCommand(o *options) *cobra.Command {
	lo := &listOptions{options: o}
	cmd := &cobra.Command{
		Use:   "list [--account ACCOUNT] [-A] [-o FORMAT]",
		Short: "List the partner users: account, email, role, systems, state, expiry",
		Long: `List the partner users of the namespace (or of every namespace with -A), one
line per invitation, whether created by hand, by this plugin or by a
PartnerAccount's spec.users: the account, the address, the role, the
systems, the state (PendingApproval, Accepted, Expired, Revoked or Invalid)
and, for pending and expired invitations, when the link expires. -o wide
adds the locale, when the partner accepted, the reason of the Ready
condition and where the invitation comes from (spec.users or standalone).

-o json, yaml, name, jsonpath, go-template and custom-columns print the
PartnerInvitations themselves (a v1 List, in the table's order), as
kubectl get does.`,
		Example: `  # The partner users of the current namespace
  kubectl partners list

  # Globex's users in namespace acme, with more columns
  kubectl partners list -n acme --account globex -o wide

  # Every partner user of the cluster, as JSON
  kubectl partners list -A -o json

  # The addresses of the users who accepted
  kubectl partners list -o jsonpath='{range .items[?(@.status.state=="Accepted")]}{.spec.email}{"\n"}{end}'

  # Columns of your own, without the header line
  kubectl partners list -o custom-columns=EMAIL:.spec.email,SENT:.status.sentAt --no-headers`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(cmd, fmt.Sprintf("list takes no arguments, got %q: filter with --account", args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := lo.print.printer(cmd)
			if err != nil {
				return err
			}
			return lo.run(cmd.Context(), pr)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&lo.allNamespaces, "all-namespaces", "A", false, "list the partner users of every namespace")
	f.StringVar(&lo.account, "account", "", "only the users of this PartnerAccount")
	lo.print = addPrintFlags(cmd, true)
	registerCompletions(cmd, o)
	return cmd
}

func (o *listOptions) run(ctx context.Context, pr printers.ResourcePrinter) error {
	c, ns, err := o.client()
	if err != nil {
		return err
	}
	var opts []client.ListOption
	if !o.allNamespaces {
		opts = append(opts, client.InNamespace(ns))
	}
	var all v1alpha1.PartnerInvitationList
	if err := c.List(ctx, &all, opts...); err != nil {
		return apiError(err)
	}
	var invs []*v1alpha1.PartnerInvitation
	for i := range all.Items {
		if inv := &all.Items[i]; o.account == "" || inv.AccountName() == o.account {
			invs = append(invs, inv)
		}
	}
	// By namespace, account (those the operator has not associated yet
	// first), address, then name.
	slices.SortFunc(invs, func(a, b *v1alpha1.PartnerInvitation) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.AccountName(), b.AccountName()),
			cmp.Compare(v1alpha1.NormalizeEmail(string(a.Spec.Email)), v1alpha1.NormalizeEmail(string(b.Spec.Email))),
			cmp.Compare(a.Name, b.Name))
	})

	if pr != nil {
		objs := make([]client.Object, len(invs))
		for i, inv := range invs {
			objs[i] = inv
		}
		return printObjects(o.out, pr, objs, true)
	}
	if len(invs) == 0 {
		fmt.Fprintln(o.errOut, o.nothingFound(ns))
		return nil
	}
	table := printers.NewTablePrinter(printers.PrintOptions{NoHeaders: o.print.noHeaders, Wide: o.print.output() == outputWide})
	return table.PrintObj(o.table(invs), o.out)
}

// table is the partners view of invs: the columns of the default output
// (priority 0) and those -o wide adds (priority 1).
func (o *listOptions) table(invs []*v1alpha1.PartnerInvitation) *metav1.Table {
	t := &metav1.Table{}
	if o.allNamespaces {
		t.ColumnDefinitions = append(t.ColumnDefinitions, metav1.TableColumnDefinition{Name: "Namespace", Type: "string"})
	}
	for _, c := range []string{"Account", "Email", "Role", "Systems", "State", "Expires", "Invitation"} {
		t.ColumnDefinitions = append(t.ColumnDefinitions, metav1.TableColumnDefinition{Name: c, Type: "string"})
	}
	for _, c := range []string{"Locale", "Accepted", "Reason", "Source"} {
		t.ColumnDefinitions = append(t.ColumnDefinitions, metav1.TableColumnDefinition{Name: c, Type: "string", Priority: 1})
	}
	for _, inv := range invs {
		var cells []any
		if o.allNamespaces {
			cells = append(cells, inv.Namespace)
		}
		systems := make([]string, len(inv.Spec.Systems))
		for i, s := range inv.Spec.Systems {
			systems[i] = string(s)
		}
		var expiresAt *metav1.Time
		switch inv.Status.State {
		case v1alpha1.InvitationPendingApproval, v1alpha1.InvitationExpired:
			// Only a pending or expired invitation has a link.
			expiresAt = inv.Status.ExpiresAt
		}
		reason := "-"
		if ready := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionReady); ready != nil {
			reason = ready.Reason
		}
		cells = append(cells, orDash(inv.AccountName()), string(inv.Spec.Email), string(inv.Spec.Role),
			orDash(strings.Join(systems, ",")), orDash(string(inv.Status.State)), timeOrDash(expiresAt), inv.Name,
			orDash(string(inv.Spec.Locale)), timeOrDash(inv.Status.AcceptedAt), reason, source(inv))
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells})
	}
	return t
}

// source says where an invitation comes from: an entry of its account's
// spec.users (the account owns it: change the user there), or standalone.
func source(inv *v1alpha1.PartnerInvitation) string {
	for _, ref := range inv.OwnerReferences {
		if ref.Kind == "PartnerAccount" && ref.Controller != nil && *ref.Controller {
			return "spec.users"
		}
	}
	return "standalone"
}

// nothingFound says the list is empty, as kubectl says it.
func (o *listOptions) nothingFound(ns string) string {
	what := "No partner users found"
	if o.account != "" {
		what = fmt.Sprintf("No partner users of account %s found", o.account)
	}
	if o.allNamespaces {
		return what + "."
	}
	return fmt.Sprintf("%s in namespace %s.", what, ns)
}

func timeOrDash(t *metav1.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
