package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// inviteOptions are the flags of `kubectl partners invite`.
type inviteOptions struct {
	*options
	account     string
	entry       entry
	accountFile string
	specUsers   bool
	dryRun      dryRun
	print       *printFlags
}

func newInviteCommand(o *options) *cobra.Command {
	io := &inviteOptions{options: o}
	cmd := &cobra.Command{
		Use:   "invite --role ROLE [--account ACCOUNT] [-f FILE | --spec-users] EMAIL...",
		Short: "Invite partner users by email: one PartnerInvitation each, or entries of an account's spec.users",
		Long: `Invite one or more partner users, each with the same role, systems, locale,
message and ttl. Where the users go:

  (default)        one PartnerInvitation per address in the namespace. With
                   --account it joins that PartnerAccount and is named
                   <account>-<address before @>-<hash>, like the invitations
                   the account creates for its spec.users. Without --account
                   the operator chooses the account whose allowedDomains
                   covers the address (the most specific domain wins); the
                   command says which one it expects when it can read the
                   accounts.
  -f FILE          entries added to spec.users of the PartnerAccount manifest
                   in FILE, the way to invite when accounts are kept in Git:
                   the file is edited in place, every other line and comment
                   kept; commit it and let your GitOps tool apply it. Needs no
                   cluster. --account chooses the account when FILE holds
                   several.
  --spec-users     entries added to spec.users of the PartnerAccount --account
                   on the cluster, in one patch that only appends: entries
                   added by someone else meanwhile are kept (the decision is
                   made again on a fresh read) and no other entry is touched.

Nothing is written unless every address can be invited and every flag is
valid: each address must be well formed and given once, inside the account's
allowedDomains (when it has some), and not already invited to the account
(by an invitation or by its spec.users). Otherwise the command lists every
address that cannot be invited and why.`,
		Example: `  # Invite two users of Globex as editors of two systems, with a note in French
  kubectl partners invite -n acme --account globex --role editor \
    --systems editor,insights --locale fr --message "Bienvenue !" \
    amelie.dupont@globex.example carlos.ruiz@globex.example

  # Let the operator choose the account by the address's domain
  kubectl partners invite -n acme --role viewer jane.doe@globex.example

  # Add a user to the account manifest kept in Git, then commit it
  kubectl partners invite -f accounts/globex.yaml --role viewer jane.doe@globex.example

  # Add a user to the live account's spec.users
  kubectl partners invite -n acme --account globex --spec-users --role viewer jane.doe@globex.example

  # Write the invitations as YAML for Git instead of creating them
  kubectl partners invite -n acme --account globex --role viewer \
    --dry-run=client -o yaml jane.doe@globex.example > jane.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			var problem string
			switch {
			case io.entry.role == "":
				problem = "missing --role: say which role the users get"
			case io.accountFile != "" && io.specUsers:
				problem = "-f and --spec-users do not go together: -f adds the users to the account in FILE, --spec-users to the account on the cluster"
			case io.specUsers && io.account == "":
				problem = "--spec-users needs --account: say which PartnerAccount's spec.users the users join"
			case io.accountFile != "" && io.dryRun == dryRunServer:
				problem = "--dry-run=server does not go with -f, which edits a file without the cluster: use --dry-run=client to see the result without writing it"
			case len(args) == 0:
				problem = "no email given: name at least one address to invite"
			}
			if problem != "" {
				return usageError(cmd, problem)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, emails []string) error {
			if err := io.dryRun.check(cmd); err != nil {
				return err
			}
			pr, err := io.print.printer(cmd)
			if err != nil {
				return err
			}
			if err := io.checkFlags(cmd); err != nil {
				return err
			}
			switch {
			case io.accountFile != "":
				return io.inviteIntoFile(emails, pr)
			case io.specUsers:
				return io.inviteIntoAccount(cmd.Context(), emails, pr)
			}
			return io.inviteStandalone(cmd.Context(), emails, pr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&io.account, "account", "", "the PartnerAccount (of the namespace) the users join; left out, the operator chooses it by each address's domain (with -f: which account of FILE)")
	f.StringVar(&io.entry.role, "role", "", "the users' role, a key of the operator's role catalogue (required)")
	f.StringSliceVar(&io.entry.systems, "systems", nil, "the systems the users may work on, keys of the operator's catalogue, comma-separated")
	f.StringVar(&io.entry.locale, "locale", "", fmt.Sprintf("language of the email and the acceptance page: %s (default: en, or for spec.users the account's defaultLocale)", localeList()))
	f.StringVar(&io.entry.message, "message", "", fmt.Sprintf("a personal note shown in the email and on the acceptance page (at most %d characters; line breaks and tabs are kept)", maxMessage))
	f.StringVar(&io.entry.ttl, "ttl", "", "how long each link stays valid, from 1h to 720h (default: the account's invitationTTL, itself 168h unless set)")
	f.StringVarP(&io.accountFile, "account-file", "f", "", "add the users to spec.users of the PartnerAccount manifest in FILE (edited in place, comments kept) instead of creating invitations")
	f.BoolVar(&io.specUsers, "spec-users", false, "add the users to spec.users of the PartnerAccount --account on the cluster (a conflict-safe patch) instead of creating invitations")
	addDryRunFlag(cmd, &io.dryRun)
	io.print = addPrintFlags(cmd, false)
	registerCompletions(cmd, o)
	return cmd
}

// checkFlags refuses bad flag values before anything is read or written.
func (o *inviteOptions) checkFlags(cmd *cobra.Command) error {
	problems := o.entry.problems()
	if o.account != "" {
		if p := accountNameProblem(o.account); p != "" {
			problems = append([]string{p}, problems...)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(p)
	}
	errs[len(errs)-1] = usageError(cmd, problems[len(problems)-1])
	return errors.Join(errs...)
}

// inviteStandalone creates one PartnerInvitation per address.
func (o *inviteOptions) inviteStandalone(ctx context.Context, emails []string, pr printers.ResourcePrinter) error {
	const nothing = "no invitation was created"
	// Every address that cannot be invited is listed, whether it is
	// malformed (checked before anything is asked of the API server) or
	// clashes with the account; then none is invited.
	bad := addressProblems(emails)
	c, ns, err := o.client()
	if err != nil {
		return errors.Join(bad.err(emails, nothing), err)
	}
	checks := &inviteChecks{usersListed: "its spec.users"}
	if o.account != "" {
		checks.account = &v1alpha1.PartnerAccount{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.account}, checks.account); err != nil {
			if apierrors.IsNotFound(err) {
				err = fmt.Errorf("partneraccount %q not found in namespace %s: %s", o.account, ns, nothing)
				return errors.Join(err, bad.err(emails, nothing))
			}
			return errors.Join(bad.err(emails, nothing), apiError(err))
		}
	} else {
		// Best effort: which account the operator will choose, when the
		// accounts can be read.
		var accts v1alpha1.PartnerAccountList
		if c.List(ctx, &accts, client.InNamespace(ns)) == nil {
			checks.accounts, checks.accountsRead = accts.Items, true
		}
	}
	var existing v1alpha1.PartnerInvitationList
	if err := c.List(ctx, &existing, client.InNamespace(ns)); err != nil {
		return errors.Join(bad.err(emails, nothing), apiError(err))
	}
	checks.invitations = existing.Items
	checks.check(emails, bad)
	if err := bad.err(emails, nothing); err != nil {
		return err
	}

	invs := make([]*v1alpha1.PartnerInvitation, 0, len(emails))
	for _, e := range emails {
		invs = append(invs, o.invitation(ns, e))
		if o.account == "" && checks.accountsRead {
			if w := checks.domainWarning(ns, e); w != "" {
				fmt.Fprintf(o.errOut, "warning: %s\n", w)
			}
		}
	}
	if o.dryRun != dryRunClient {
		// The API server checks every invitation before any is created,
		// so that one it refuses leaves none behind.
		if refusals := serverRefusals(ctx, c, invs); len(refusals) > 0 {
			return fmt.Errorf("the API server refused the invitations, so none was created:\n%s", strings.Join(refusals, "\n"))
		}
	}

	var created []client.Object
	var failed []error
	for _, inv := range invs {
		if o.dryRun != dryRunClient {
			if err := c.Create(ctx, inv, o.dryRun.createOpts()...); err != nil {
				failed = append(failed, fmt.Errorf("%s was not invited: %w", inv.Spec.Email, apiError(err)))
				continue
			}
		}
		created = append(created, inv)
		if pr == nil {
			fmt.Fprintf(o.out, "%s created for %s%s%s\n", objectRef(inv.Name), inv.Spec.Email, checks.joins(inv), o.dryRun.suffix())
		}
	}
	if pr != nil && len(created) > 0 {
		if err := printObjects(o.out, pr, created, len(created) > 1); err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

// invitation is the PartnerInvitation for email.
func (o *inviteOptions) invitation(ns, email string) *v1alpha1.PartnerInvitation {
	u := o.entry.user(email)
	return &v1alpha1.PartnerInvitation{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "PartnerInvitation"},
		ObjectMeta: metav1.ObjectMeta{Name: invitationName(o.account, email), Namespace: ns},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: o.account,
			Email:   u.Email,
			Role:    u.Role,
			Systems: u.Systems,
			Locale:  u.Locale,
			Message: u.Message,
			TTL:     u.TTL,
		},
	}
}

// serverRefusals creates each invitation as a server dry run and returns
// the API server's refusals, each distinct refusal once (a bad role is
// refused the same way for every address).
func serverRefusals(ctx context.Context, c client.Client, invs []*v1alpha1.PartnerInvitation) []string {
	var refusals []string
	seen := map[string]bool{}
	for _, inv := range invs {
		err := c.Create(ctx, inv.DeepCopy(), client.DryRunAll)
		if err == nil {
			continue
		}
		msg := apiError(err).Error()
		key := strings.ReplaceAll(msg, inv.Name, "")
		if !seen[key] {
			seen[key] = true
			refusals = append(refusals, msg)
		}
	}
	return refusals
}
