// Package index registers the cache's field indexes that several
// controllers list by. An index may be registered only once per manager, so
// internal/manager calls Register once, before the controllers are set up.
package index

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// InvitationAccount indexes PartnerInvitations by the account they belong
// to (PartnerInvitation.AccountName: spec.account, else the status.account
// chosen by the address's domain): list with
// client.MatchingFields{index.InvitationAccount: accountName} (and
// client.InNamespace) to get every invitation of an account, owned,
// standalone or joined by domain. An invitation of an earlier account of
// the same name is listed too: compare status.accountUID with the
// account's UID.
const InvitationAccount = ".status.account"

// InvitationAwaitingAccount indexes the PartnerInvitations that belong to
// no account yet (no spec.account, no account chosen by domain) and are
// not revoked, under the value AwaitingAccount: list with
// client.MatchingFields{index.InvitationAwaitingAccount:
// index.AwaitingAccount} and client.InNamespace to find those a new or
// changed PartnerAccount may take in.
const InvitationAwaitingAccount = ".status.awaitingAccount"

// AwaitingAccount is the one value of InvitationAwaitingAccount.
const AwaitingAccount = "true"

// InvitationEmail indexes PartnerInvitations by their address, normalised
// (v1alpha1.NormalizeEmail): list with client.MatchingFields{
// index.InvitationEmail: v1alpha1.NormalizeEmail(addr)} to find every
// invitation of one person, in one namespace (with client.InNamespace) to
// keep one live invitation per address, or in all of them to ask whether
// anyone still holds grants for a backend user before deleting it.
const InvitationEmail = ".spec.email"

// Register adds the indexes to the manager's cache.
func Register(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.PartnerInvitation{}, InvitationAccount, AccountOf); err != nil {
		return fmt.Errorf("indexing invitations by account: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.PartnerInvitation{}, InvitationAwaitingAccount, AwaitingAccountOf); err != nil {
		return fmt.Errorf("indexing invitations awaiting an account: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.PartnerInvitation{}, InvitationEmail, EmailOf); err != nil {
		return fmt.Errorf("indexing invitations by address: %w", err)
	}
	return nil
}

// AccountOf is the InvitationAccount value of a PartnerInvitation: none
// while it belongs to no account yet.
func AccountOf(o client.Object) []string {
	if a := o.(*v1alpha1.PartnerInvitation).AccountName(); a != "" {
		return []string{a}
	}
	return nil
}

// AwaitingAccountOf is the InvitationAwaitingAccount value of a
// PartnerInvitation.
func AwaitingAccountOf(o client.Object) []string {
	inv := o.(*v1alpha1.PartnerInvitation)
	if inv.AccountName() == "" && inv.Status.State != v1alpha1.InvitationRevoked {
		return []string{AwaitingAccount}
	}
	return nil
}

// EmailOf is the InvitationEmail value of a PartnerInvitation.
func EmailOf(o client.Object) []string {
	return []string{v1alpha1.NormalizeEmail(string(o.(*v1alpha1.PartnerInvitation).Spec.Email))}
}
