package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// listOptions are the flags of `kubectl partners list`.
type listOptions struct {
	*options
	allNamespaces bool
	account       string
	output        string
}

// row is one partner user as `list` shows it: one invitation, standalone
// or owned by its account.
type row struct {
	// Namespace is the customer account (the namespace).
	Namespace string `json:"namespace"`
	// Account is the PartnerAccount the user joins.
	Account string `json:"account"`
	// Email is the invited address.
	Email string `json:"email"`
	// Role is the user's role.
	Role string `json:"role"`
	// Systems are the systems the user may work on (empty, never null).
	Systems []string `json:"systems"`
	// State is the invitation's state; empty until the operator saw it.
	State string `json:"state,omitempty"`
	// ExpiresAt is when the current link stops working, for pending and
	// expired invitations only (an accepted or withdrawn one has no link).
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// Invitation is the PartnerInvitation's name, for resend and withdraw.
	Invitation string `json:"invitation"`
}

func newListCommand(o *options) *cobra.Command {
	lo := &listOptions{options: o}
	cmd := &cobra.Command{
		Use:   "list [--account ACCOUNT] [-A]",
		Short: "List the partner users: account, email, role, systems, state, expiry",
		Long: `List the partner users of the namespace (or of every namespace with -A), one
line per invitation, whether created by hand, by this plugin or by a
PartnerAccount's spec.users: the account, the address, the role, the
systems, the state (PendingApproval, Accepted, Expired, Revoked or Invalid)
and, for pending and expired invitations, when the link expires. With -o json
or -o yaml it prints the same rows as a list.`,
		Example: `  # The partner users of the current namespace
  kubectl partners list

  # Globex's users in namespace acme, as JSON
  kubectl partners list -n acme --account globex -o json

  # Every partner user of the cluster
  kubectl partners list -A`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(cmd, fmt.Sprintf("list takes no arguments, got %q: filter with --account", args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(cmd, lo.output, outputJSON, outputYAML); err != nil {
				return err
			}
			return lo.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&lo.allNamespaces, "all-namespaces", "A", false, "list the partner users of every namespace")
	f.StringVar(&lo.account, "account", "", "only the users of this PartnerAccount")
	f.StringVarP(&lo.output, "output", "o", "", "print the rows as json or yaml instead of a table")
	return cmd
}

func (o *listOptions) run(ctx context.Context) error {
	c, ns, err := o.client()
	if err != nil {
		return err
	}
	var opts []client.ListOption
	if !o.allNamespaces {
		opts = append(opts, client.InNamespace(ns))
	}
	var invs v1alpha1.PartnerInvitationList
	if err := c.List(ctx, &invs, opts...); err != nil {
		return apiError(err)
	}
	rows := []row{}
	for i := range invs.Items {
		if inv := &invs.Items[i]; o.account == "" || inv.Spec.Account == o.account {
			rows = append(rows, rowOf(inv))
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Account, b.Account),
			cmp.Compare(v1alpha1.NormalizeEmail(a.Email), v1alpha1.NormalizeEmail(b.Email)), cmp.Compare(a.Invitation, b.Invitation))
	})

	if o.output != "" {
		return printData(o.out, o.output, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.errOut, o.nothingFound(ns))
		return nil
	}
	return o.printTable(rows)
}

func rowOf(inv *v1alpha1.PartnerInvitation) row {
	r := row{
		Namespace:  inv.Namespace,
		Account:    inv.Spec.Account,
		Email:      string(inv.Spec.Email),
		Role:       string(inv.Spec.Role),
		Systems:    []string{},
		State:      string(inv.Status.State),
		Invitation: inv.Name,
	}
	for _, s := range inv.Spec.Systems {
		r.Systems = append(r.Systems, string(s))
	}
	switch inv.Status.State {
	case v1alpha1.InvitationPendingApproval, v1alpha1.InvitationExpired:
		r.ExpiresAt = inv.Status.ExpiresAt
	}
	return r
}

func (o *listOptions) printTable(rows []row) error {
	w := newTable(o.out)
	header := "ACCOUNT\tEMAIL\tROLE\tSYSTEMS\tSTATE\tEXPIRES\tINVITATION"
	if o.allNamespaces {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(w, header)
	for _, r := range rows {
		cells := []string{r.Account, r.Email, r.Role, orDash(strings.Join(r.Systems, ",")), orDash(r.State), expires(r.ExpiresAt), r.Invitation}
		if o.allNamespaces {
			cells = append([]string{r.Namespace}, cells...)
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	return w.Flush()
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

func expires(t *metav1.Time) string {
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
