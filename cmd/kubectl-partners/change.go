package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file holds the commands that change invitations by name, resend and
// withdraw. Each takes several names, changes every one it can and reports
// every one it cannot.

// change decides what to do to an invitation just read: it edits inv and
// says what it did, or refuses.
type change func(inv *v1alpha1.PartnerInvitation) (done string, err error)

// testHookBeforePatch, when set, runs between reading an invitation and
// patching it, so that tests can change the invitation concurrently.
var testHookBeforePatch func(name string)

func newResendCommand(o *options) *cobra.Command {
	return newChangeCommand(o, "resend",
		"Send fresh invitation emails (new link, new expiry)",
		`Ask the operator to send a fresh email for each invitation: spec.resend is
raised by one, and the operator sends a new link with a new expiry (the
previous link stops working). Only PendingApproval and Expired invitations
can be resent; an Accepted, Revoked or Invalid one is refused, naming its
state (an Invalid one is sent by itself once what its Ready condition names
is fixed).`,
		`  # An invitation expired before the partner answered: send a new link
  kubectl partners resend -n acme globex-jane-doe-3a1c9e0b`,
		resend)
}

// resend raises spec.resend by one, unless the invitation can no longer be
// resent (the operator would refuse it too: ResendNotAllowed).
func resend(inv *v1alpha1.PartnerInvitation) (string, error) {
	state := inv.Status.State
	switch {
	case state == v1alpha1.InvitationRevoked:
	case inv.Spec.Revoked:
		state = v1alpha1.InvitationRevoked
	case state == v1alpha1.InvitationAccepted || inv.Status.AcceptedAt != nil:
		state = v1alpha1.InvitationAccepted
	case state == v1alpha1.InvitationInvalid:
		// The operator sends nothing while it is Invalid; once what its
		// Ready condition names is fixed, the email goes by itself.
		return "", fmt.Errorf("cannot resend partnerinvitation %q: it is Invalid (only PendingApproval or Expired invitations can be resent): fix what its Ready condition says (kubectl describe pinv %s): the email then goes by itself, or, if its link expired meanwhile, it shows Expired and can be resent", inv.Name, inv.Name)
	default:
		inv.Spec.Resend++
		return fmt.Sprintf("resend requested for %s (spec.resend %d → %d)", inv.Spec.Email, inv.Spec.Resend-1, inv.Spec.Resend), nil
	}
	return "", fmt.Errorf("cannot resend partnerinvitation %q: it is %s (only PendingApproval or Expired invitations can be resent)", inv.Name, state)
}

func newWithdrawCommand(o *options) *cobra.Command {
	return newChangeCommand(o, "withdraw",
		"Withdraw invitations (an accepted user loses their access)",
		`Withdraw each invitation: spec.revoked is set to true. A pending invitation
becomes Revoked and its link stops working; a user who already accepted is
removed and their grants revoked. This cannot be undone: invite the address
again to change your mind. An invitation that is already Revoked (withdrawn
or declined) is refused.`,
		`  # Withdraw two invitations
  kubectl partners withdraw -n acme globex-jane-doe-3a1c9e0b globex-bob-77e0c2d4`,
		withdraw)
}

// withdraw sets spec.revoked, unless the invitation is already revoked.
func withdraw(inv *v1alpha1.PartnerInvitation) (string, error) {
	if inv.Spec.Revoked || inv.Status.State == v1alpha1.InvitationRevoked {
		return "", fmt.Errorf("partnerinvitation %q is already withdrawn (%s)", inv.Name, revokedState(inv))
	}
	inv.Spec.Revoked = true
	if inv.Status.State == v1alpha1.InvitationAccepted || inv.Status.AcceptedAt != nil {
		return fmt.Sprintf("withdrawn: %s loses their access", inv.Spec.Email), nil
	}
	return fmt.Sprintf("withdrawn: the link sent to %s no longer works", inv.Spec.Email), nil
}

// revokedState says how an invitation is known to be withdrawn: by its
// state, or by spec.revoked while the operator has not moved it to Revoked
// yet.
func revokedState(inv *v1alpha1.PartnerInvitation) string {
	if inv.Status.State == v1alpha1.InvitationRevoked {
		return "state Revoked"
	}
	return "spec.revoked is already true"
}

// changeOptions are the flags of resend and withdraw.
type changeOptions struct {
	*options
	dryRun dryRun
}

func newChangeCommand(o *options, use, short, long, example string, fn change) *cobra.Command {
	co := &changeOptions{options: o}
	cmd := &cobra.Command{
		Use:     use + " NAME...",
		Short:   short,
		Long:    long,
		Example: example,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(cmd, "no invitation given: name at least one PartnerInvitation (kubectl partners list shows them)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := co.dryRun.check(cmd); err != nil {
				return err
			}
			names, err := invitationArgs(cmd, args)
			if err != nil {
				return err
			}
			return co.run(cmd.Context(), names, fn)
		},
		ValidArgsFunction: invitationNamesFor(o, fn),
	}
	addDryRunFlag(cmd, &co.dryRun)
	registerCompletions(cmd, o)
	return cmd
}

// invitationArgs are the names of the invitations args name, alone or in
// the kind/name forms kubectl and `kubectl partners invite -o name` print
// (partnerinvitation/NAME, pinv/NAME,
// partnerinvitation.partners.partnerops.dev/NAME).
func invitationArgs(cmd *cobra.Command, args []string) ([]string, error) {
	names := make([]string, 0, len(args))
	for _, a := range args {
		kind, name, ok := strings.Cut(a, "/")
		if !ok {
			names = append(names, a)
			continue
		}
		switch strings.ToLower(kind) {
		case "partnerinvitation", "partnerinvitations", "pinv",
			"partnerinvitation." + v1alpha1.GroupVersion.Group, "partnerinvitations." + v1alpha1.GroupVersion.Group:
			names = append(names, name)
		default:
			return nil, usageError(cmd, fmt.Sprintf("%q is not a PartnerInvitation: %s takes invitation names, as kubectl partners list shows them", a, cmd.Name()))
		}
	}
	return names, nil
}

// run applies fn to each named invitation.
func (o *changeOptions) run(ctx context.Context, names []string, fn change) error {
	c, ns, err := o.client()
	if err != nil {
		return err
	}
	var errs []error
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		done, err := o.apply(ctx, c, client.ObjectKey{Namespace: ns, Name: name}, fn)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.out, "%s %s%s\n", objectRef(name), done, o.dryRun.suffix())
	}
	return errors.Join(errs...)
}

// apply reads the invitation, lets fn decide and patches what fn changed.
// The patch carries the resourceVersion it was decided on, so a concurrent
// change makes it fail with a conflict instead of being overwritten; the
// decision is then made again on a fresh read.
func (o *changeOptions) apply(ctx context.Context, c client.Client, key client.ObjectKey, fn change) (string, error) {
	var done string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		inv := &v1alpha1.PartnerInvitation{}
		if err := c.Get(ctx, key, inv); err != nil {
			if apierrors.IsNotFound(err) {
				return invitationNotFound(key.Name, key.Namespace)
			}
			return apiError(err)
		}
		orig := inv.DeepCopy()
		var err error
		if done, err = fn(inv); err != nil {
			return err
		}
		if testHookBeforePatch != nil {
			testHookBeforePatch(key.Name)
		}
		if o.dryRun == dryRunClient {
			return nil
		}
		patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
		return apiError(c.Patch(ctx, inv, patch, o.dryRun.patchOpts()...))
	})
	return done, err
}
