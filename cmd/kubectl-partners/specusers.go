package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file adds users to a PartnerAccount's spec.users: on the cluster
// (`invite --account A --spec-users`) and in a manifest file (`invite -f
// FILE`). Either way every address is checked before the one write.

// inviteIntoAccount adds the users to the live account with one JSON patch
// that appends to spec.users, so no other entry is rewritten (not even
// fields this plugin does not know). The patch carries the resourceVersion
// the checks were made on: when the account changed in between, the API
// server refuses it with a conflict and everything is read and decided
// again, so an entry someone else added meanwhile is kept, and an address
// they added is refused rather than listed twice.
func (o *inviteOptions) inviteIntoAccount(ctx context.Context, emails []string, pr printers.ResourcePrinter) error {
	nothing := fmt.Sprintf("no user was added to partneraccount %q", o.account)
	malformed := addressProblems(emails)
	c, ns, err := o.client()
	if err != nil {
		return errors.Join(malformed.err(emails, nothing), err)
	}
	var result *v1alpha1.PartnerAccount
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		acct := &v1alpha1.PartnerAccount{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.account}, acct); err != nil {
			if apierrors.IsNotFound(err) {
				return errors.Join(fmt.Errorf("partneraccount %q not found in namespace %s: %s", o.account, ns, nothing), malformed.err(emails, nothing))
			}
			return errors.Join(malformed.err(emails, nothing), apiError(err))
		}
		var invs v1alpha1.PartnerInvitationList
		if err := c.List(ctx, &invs, client.InNamespace(ns)); err != nil {
			return errors.Join(malformed.err(emails, nothing), apiError(err))
		}
		bad := maps.Clone(malformed)
		(&inviteChecks{account: acct, invitations: invs.Items, usersListed: "its spec.users"}).check(emails, bad)
		if err := bad.err(emails, nothing); err != nil {
			return err
		}
		users, err := o.newUsers(acct, emails)
		if err != nil {
			return err
		}
		if testHookBeforePatch != nil {
			testHookBeforePatch(acct.Name)
		}
		if o.dryRun == dryRunClient {
			acct.Spec.Users = append(acct.Spec.Users, users...)
			result = acct
			return nil
		}
		patch, err := appendUsersPatch(acct, users)
		if err != nil {
			return err
		}
		if err := c.Patch(ctx, acct, client.RawPatch(types.JSONPatchType, patch), o.dryRun.patchOpts()...); err != nil {
			return apiError(err)
		}
		result = acct
		return nil
	})
	if err != nil {
		return err
	}
	return o.printAdded(pr, result, emails, objectRefAccount(result.Name))
}

// newUsers are the entries for emails, refused as a whole when the
// account would then list more users than spec.users may.
func (o *inviteOptions) newUsers(acct *v1alpha1.PartnerAccount, emails []string) ([]v1alpha1.PartnerUser, error) {
	if n := len(acct.Spec.Users) + len(emails); n > maxUsers {
		return nil, fmt.Errorf("partneraccount %q would list %d users, and spec.users holds at most %d: invite the others without -f or --spec-users (standalone invitations)", acct.Name, n, maxUsers)
	}
	users := make([]v1alpha1.PartnerUser, len(emails))
	for i, e := range emails {
		users[i] = o.entry.user(e)
	}
	return users, nil
}

// appendUsersPatch is the JSON patch (RFC 6902) that appends users to
// spec.users, on the condition that the account is still at acct's
// resourceVersion.
func appendUsersPatch(acct *v1alpha1.PartnerAccount, users []v1alpha1.PartnerUser) ([]byte, error) {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	ops := []op{{Op: "replace", Path: "/metadata/resourceVersion", Value: acct.ResourceVersion}}
	if len(acct.Spec.Users) == 0 {
		ops = append(ops, op{Op: "add", Path: "/spec/users", Value: users})
	} else {
		for _, u := range users {
			ops = append(ops, op{Op: "add", Path: "/spec/users/-", Value: u})
		}
	}
	return json.Marshal(ops)
}

// inviteIntoFile adds the users to the PartnerAccount of the manifest
// file, without the cluster.
func (o *inviteOptions) inviteIntoFile(emails []string, pr printers.ResourcePrinter) error {
	nothing := fmt.Sprintf("%s was not changed", o.accountFile)
	bad := addressProblems(emails)
	f, err := readAccountFile(o.accountFile, o.account)
	if err != nil {
		return errors.Join(err, bad.err(emails, nothing))
	}
	(&inviteChecks{account: f.account, usersListed: "spec.users in " + o.accountFile}).check(emails, bad)
	if err := bad.err(emails, nothing); err != nil {
		return err
	}
	users, err := o.newUsers(f.account, emails)
	if err != nil {
		return err
	}
	out, acct, err := f.withUsers(users)
	if err != nil {
		return err
	}
	if o.dryRun != dryRunClient {
		if err := writeFileAtomic(o.accountFile, out); err != nil {
			return fmt.Errorf("writing %s: %w", o.accountFile, err)
		}
	}
	return o.printAdded(pr, acct, emails, objectRefAccount(acct.Name)+" in "+o.accountFile)
}

// printAdded prints what adding users to acct did: a line per address, or
// the account with -o.
func (o *inviteOptions) printAdded(pr printers.ResourcePrinter, acct *v1alpha1.PartnerAccount, emails []string, where string) error {
	if pr != nil {
		return printObjects(o.out, pr, []client.Object{acct}, false)
	}
	for _, e := range emails {
		fmt.Fprintf(o.out, "%s: %s added to spec.users (its invitation: %s)%s\n",
			where, e, objectRef(invitationName(acct.Name, e)), o.dryRun.suffix())
	}
	return nil
}

// objectRefAccount names an account in messages, as kubectl takes it back.
func objectRefAccount(name string) string { return "partneraccount/" + name }
