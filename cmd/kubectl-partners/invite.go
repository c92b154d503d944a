package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// inviteOptions are the flags of `kubectl partners invite`.
type inviteOptions struct {
	*options
	account string
	role    string
	systems []string
	locale  string
	message string
	ttl     string
	dryRun  dryRun
	output  string
}

func newInviteCommand(o *options) *cobra.Command {
	io := &inviteOptions{options: o}
	cmd := &cobra.Command{
		Use:   "invite --account ACCOUNT --role ROLE [--systems S1,S2] EMAIL...",
		Short: "Invite partner users by email: one PartnerInvitation each",
		Long: `Invite one or more partner users to a PartnerAccount of the namespace:
one PartnerInvitation per address, named <account>-<address before @>-<hash>
like the invitations the account creates for its spec.users, and each user
gets the same role and systems.

Nothing is created unless every address can be invited: each address must be
well formed, inside the account's allowedDomains (when it has some), and not
already invited to the account. Otherwise the command lists every address
that cannot be invited and why. The API server then checks the invitations
(a server dry run) before any is created, and its refusals are shown as it
words them.`,
		Example: `  # Invite two users of Globex as editors of two systems, with a note in French
  kubectl partners invite -n acme --account globex --role editor \
    --systems editor,insights --locale fr --message "Bienvenue !" \
    amelie.dupont@globex.example carlos.ruiz@globex.example

  # Write the invitations as YAML for Git instead of creating them
  kubectl partners invite -n acme --account globex --role viewer \
    --dry-run=client -o yaml jane.doe@globex.example > jane.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			var missing []string
			if io.account == "" {
				missing = append(missing, "--account")
			}
			if io.role == "" {
				missing = append(missing, "--role")
			}
			switch {
			case len(missing) > 0:
				return usageError(cmd, fmt.Sprintf("missing %s: say which account the users join and with which role", strings.Join(missing, " and ")))
			case len(args) == 0:
				return usageError(cmd, "no email given: name at least one address to invite")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, emails []string) error {
			return io.run(cmd.Context(), cmd, emails)
		},
	}
	f := cmd.Flags()
	f.StringVar(&io.account, "account", "", "the PartnerAccount (of the namespace) the users join (required)")
	f.StringVar(&io.role, "role", "", "the users' role, a key of the operator's role catalogue (required)")
	f.StringSliceVar(&io.systems, "systems", nil, "the systems the users may work on, keys of the operator's catalogue, comma-separated")
	f.StringVar(&io.locale, "locale", "", "language of the email and the acceptance page: en (the default), fr or es")
	f.StringVar(&io.message, "message", "", "a personal note shown in the email and on the acceptance page (at most 2000 characters)")
	f.StringVar(&io.ttl, "ttl", "", "how long each link stays valid, from 1h to 720h (default: the account's invitationTTL, itself 168h unless set)")
	f.StringVarP(&io.output, "output", "o", "", "print the invitations as json or yaml, or their names with name")
	addDryRunFlag(cmd, &io.dryRun)
	return cmd
}

func (o *inviteOptions) run(ctx context.Context, cmd *cobra.Command, emails []string) error {
	if err := o.dryRun.check(cmd); err != nil {
		return err
	}
	if err := checkOutput(cmd, o.output, outputJSON, outputYAML, outputName); err != nil {
		return err
	}
	// Every address that cannot be invited is listed, whether it is
	// malformed (checked before anything is asked of the API server) or
	// clashes with the account; then none is invited.
	bad := addressProblems(emails)
	c, ns, err := o.client()
	if err != nil {
		return errors.Join(bad.err(emails), err)
	}
	acct := &v1alpha1.PartnerAccount{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.account}, acct); err != nil {
		if apierrors.IsNotFound(err) {
			err = fmt.Errorf("partneraccount %q not found in namespace %s: no invitation was created", o.account, ns)
			return errors.Join(err, bad.err(emails))
		}
		return errors.Join(bad.err(emails), apiError(err))
	}
	var existing v1alpha1.PartnerInvitationList
	if err := c.List(ctx, &existing, client.InNamespace(ns)); err != nil {
		return errors.Join(bad.err(emails), apiError(err))
	}
	accountProblems(acct, existing.Items, emails, bad)
	if err := bad.err(emails); err != nil {
		return err
	}

	invs := make([]*v1alpha1.PartnerInvitation, 0, len(emails))
	for _, e := range emails {
		invs = append(invs, o.invitation(ns, e))
	}
	if o.dryRun != dryRunClient {
		// The API server checks every invitation before any is created,
		// so that one it refuses leaves none behind.
		if refusals := serverRefusals(ctx, c, invs); len(refusals) > 0 {
			return fmt.Errorf("the API server refused the invitations, so none was created:\n%s", strings.Join(refusals, "\n"))
		}
	}

	var created []*v1alpha1.PartnerInvitation
	var failed []error
	for _, inv := range invs {
		if o.dryRun != dryRunClient {
			if err := c.Create(ctx, inv, o.dryRun.createOpts()...); err != nil {
				failed = append(failed, fmt.Errorf("%s was not invited: %w", inv.Spec.Email, apiError(err)))
				continue
			}
		}
		created = append(created, inv)
		switch o.output {
		case "":
			fmt.Fprintf(o.out, "%s created for %s%s\n", objectRef(inv.Name), inv.Spec.Email, o.dryRun.suffix())
		case outputName:
			fmt.Fprintln(o.out, objectRef(inv.Name))
		}
	}
	if (o.output == outputJSON || o.output == outputYAML) && len(created) > 0 {
		if err := printInvitations(o.out, o.output, created); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	return nil
}

// invitation is the PartnerInvitation for email.
func (o *inviteOptions) invitation(ns, email string) *v1alpha1.PartnerInvitation {
	inv := &v1alpha1.PartnerInvitation{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "PartnerInvitation"},
		ObjectMeta: metav1.ObjectMeta{Name: invitationName(o.account, email), Namespace: ns},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: o.account,
			Email:   v1alpha1.EmailAddress(email),
			Role:    v1alpha1.CatalogueKey(o.role),
			Locale:  v1alpha1.Locale(o.locale),
			Message: o.message,
			TTL:     v1alpha1.TTL(o.ttl),
		},
	}
	for _, s := range o.systems {
		inv.Spec.Systems = append(inv.Spec.Systems, v1alpha1.CatalogueKey(s))
	}
	return inv
}

// refusals maps the position of an address among the arguments to why it
// cannot be invited.
type refusals map[int]string

// err is the all-or-nothing refusal: every address that cannot be invited,
// in the order given, and why; nil when all can be.
func (r refusals) err(emails []string) error {
	if len(r) == 0 {
		return nil
	}
	lines := make([]string, 0, len(r))
	for i := range emails {
		if why, ok := r[i]; ok {
			lines = append(lines, why)
		}
	}
	return fmt.Errorf("%d of %d addresses cannot be invited, so no invitation was created:\n  %s",
		len(r), len(emails), strings.Join(lines, "\n  "))
}

// addressProblems checks the addresses alone: each well formed, none given
// twice (addresses compare case-insensitively).
func addressProblems(emails []string) refusals {
	bad := refusals{}
	seen := map[string]bool{}
	for i, e := range emails {
		if p := emailProblems(e); len(p) > 0 {
			bad[i] = fmt.Sprintf("%q: %s", e, strings.Join(p, "; "))
			continue
		}
		n := v1alpha1.NormalizeEmail(e)
		if seen[n] {
			bad[i] = fmt.Sprintf("%s: given more than once", e)
		}
		seen[n] = true
	}
	return bad
}

// accountProblems checks the addresses not yet refused against the
// account and the namespace's invitations: each allowed by the account's
// domains and not yet invited to it, whether by a standalone invitation, by
// the account's spec.users, or under the name its invitation would take.
func accountProblems(acct *v1alpha1.PartnerAccount, existing []v1alpha1.PartnerInvitation, emails []string, bad refusals) {
	slices.SortFunc(existing, func(a, b v1alpha1.PartnerInvitation) int { return strings.Compare(a.Name, b.Name) })
	byEmail := map[string]*v1alpha1.PartnerInvitation{}
	byName := map[string]*v1alpha1.PartnerInvitation{}
	for i := range existing {
		inv := &existing[i]
		byName[inv.Name] = inv
		if e := v1alpha1.NormalizeEmail(string(inv.Spec.Email)); inv.Spec.Account == acct.Name && byEmail[e] == nil {
			byEmail[e] = inv
		}
	}
	users := map[string]bool{}
	for _, u := range acct.Spec.Users {
		users[v1alpha1.NormalizeEmail(string(u.Email))] = true
	}

	for i, e := range emails {
		if _, refused := bad[i]; refused {
			continue
		}
		n := v1alpha1.NormalizeEmail(e)
		name := invitationName(acct.Name, e)
		switch {
		case byEmail[n] != nil:
			inv := byEmail[n]
			bad[i] = fmt.Sprintf("%s: already invited to account %s by partnerinvitation %q (%s)%s",
				e, acct.Name, inv.Name, stateOf(inv), duplicateHint(inv))
		case users[n]:
			bad[i] = fmt.Sprintf("%s: already a user of partneraccount %q (listed in its spec.users; change the user there)", e, acct.Name)
		case byName[name] != nil:
			inv := byName[name]
			bad[i] = fmt.Sprintf("%s: partnerinvitation %q already exists, for %s in account %s",
				e, name, inv.Spec.Email, inv.Spec.Account)
		case !v1alpha1.DomainAllowed(e, acct.Spec.AllowedDomains):
			bad[i] = fmt.Sprintf("%s: the domain is not allowed by partneraccount %q (allowedDomains: %s)",
				e, acct.Name, joinDomains(acct.Spec.AllowedDomains))
		}
	}
}

// duplicateHint says what to do instead of inviting the address again.
func duplicateHint(inv *v1alpha1.PartnerInvitation) string {
	switch {
	case inv.Spec.Revoked || inv.Status.State == v1alpha1.InvitationRevoked:
		return "; delete it to invite the address again"
	case inv.Status.State == v1alpha1.InvitationExpired:
		return fmt.Sprintf("; send a fresh link with: kubectl partners resend %s", inv.Name)
	}
	return ""
}

// stateOf is an invitation's state for people; one the operator has not
// looked at yet has none.
func stateOf(inv *v1alpha1.PartnerInvitation) string {
	if inv.Status.State == "" {
		return "no state yet"
	}
	return string(inv.Status.State)
}

func joinDomains(ds []v1alpha1.DomainName) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
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
