package main

import (
	"fmt"
	"slices"
	"strings"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file decides which addresses invite cannot invite, before anything
// is written: the same checks whether the users become invitations or
// entries of an account's spec.users.

// refusals maps the position of an address among the arguments to why it
// cannot be invited.
type refusals map[int]string

// err is the all-or-nothing refusal: every address that cannot be invited,
// in the order given, and why, then that nothing was done; nil when all
// can be.
func (r refusals) err(emails []string, nothing string) error {
	if len(r) == 0 {
		return nil
	}
	lines := make([]string, 0, len(r))
	for i := range emails {
		if why, ok := r[i]; ok {
			lines = append(lines, why)
		}
	}
	return fmt.Errorf("%d of %d addresses cannot be invited, so %s:\n  %s",
		len(r), len(emails), nothing, strings.Join(lines, "\n  "))
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

// inviteChecks are what the addresses are checked against.
type inviteChecks struct {
	// account is the account the users join; nil when the operator
	// chooses it by each address's domain.
	account *v1alpha1.PartnerAccount
	// accounts are the namespace's accounts, read (accountsRead) when
	// account is nil, to tell which one the domain chooses.
	accounts     []v1alpha1.PartnerAccount
	accountsRead bool
	// invitations are the namespace's invitations (none for a file).
	invitations []v1alpha1.PartnerInvitation
	// usersListed names where an account lists its users in messages.
	usersListed string
}

// check adds to bad why each address not yet refused cannot be invited:
// its domain is outside the account's allowedDomains, or it is already
// invited to the account (by an invitation naming the account or joined to
// it, by the account's spec.users), or the name its invitation would take
// is taken.
func (k *inviteChecks) check(emails []string, bad refusals) {
	invs := slices.Clone(k.invitations)
	slices.SortFunc(invs, func(a, b v1alpha1.PartnerInvitation) int { return strings.Compare(a.Name, b.Name) })
	byName := map[string]*v1alpha1.PartnerInvitation{}
	for i := range invs {
		byName[invs[i].Name] = &invs[i]
	}
	for i, e := range emails {
		if _, refused := bad[i]; refused {
			continue
		}
		n := v1alpha1.NormalizeEmail(e)
		target, name := k.account, invitationName("", e)
		if target != nil {
			name = invitationName(target.Name, e)
		} else if picked, _ := k.byDomain(e); picked != nil {
			target = picked
		}
		var same *v1alpha1.PartnerInvitation
		for j := range invs {
			inv := &invs[j]
			if v1alpha1.NormalizeEmail(string(inv.Spec.Email)) != n {
				continue
			}
			// The same user: in the same account, or (without an account)
			// another invitation left to the operator's choice.
			if (target != nil && inv.AccountName() == target.Name) || (k.account == nil && inv.Spec.Account == "") {
				same = inv
				break
			}
		}
		switch {
		case same != nil && same.AccountName() != "":
			bad[i] = fmt.Sprintf("%s: already invited to account %s by partnerinvitation %q (%s)%s",
				e, same.AccountName(), same.Name, stateOf(same), duplicateHint(same))
		case same != nil:
			bad[i] = fmt.Sprintf("%s: already invited by partnerinvitation %q (%s)%s", e, same.Name, stateOf(same), duplicateHint(same))
		case target != nil && listsUser(target, n):
			where := k.usersListed
			if target != k.account {
				where = "its spec.users"
			}
			bad[i] = fmt.Sprintf("%s: already a user of partneraccount %q (listed in %s; change the user there)", e, target.Name, where)
		case byName[name] != nil:
			inv := byName[name]
			bad[i] = fmt.Sprintf("%s: partnerinvitation %q already exists, for %s%s", e, name, inv.Spec.Email, inAccount(inv))
		case k.account != nil && !v1alpha1.DomainAllowed(e, k.account.Spec.AllowedDomains):
			bad[i] = fmt.Sprintf("%s: the domain is not allowed by partneraccount %q (allowedDomains: %s)",
				e, k.account.Name, joinDomains(k.account.Spec.AllowedDomains))
		}
	}
}

func listsUser(acct *v1alpha1.PartnerAccount, normalized string) bool {
	for _, u := range acct.Spec.Users {
		if v1alpha1.NormalizeEmail(string(u.Email)) == normalized {
			return true
		}
	}
	return false
}

// byDomain is the account the operator chooses for an invitation to email
// without spec.account (v1alpha1.CoveringAccounts, the operator's rule).
// tied names the accounts that cover it equally well, when several do (the
// operator then chooses none).
func (k *inviteChecks) byDomain(email string) (picked *v1alpha1.PartnerAccount, tied []string) {
	best, _ := v1alpha1.CoveringAccounts(email, k.accounts)
	if len(best) == 1 {
		return best[0], nil
	}
	for _, a := range best {
		tied = append(tied, a.Name)
	}
	return nil, tied
}

// joins says, on the line of an invitation without spec.account, which
// account the operator is expected to choose.
func (k *inviteChecks) joins(inv *v1alpha1.PartnerInvitation) string {
	if inv.Spec.Account != "" || !k.accountsRead {
		return ""
	}
	if picked, _ := k.byDomain(string(inv.Spec.Email)); picked != nil {
		return fmt.Sprintf(" (joins account %s by its domain)", picked.Name)
	}
	return ""
}

// domainWarning says when no account, or more than one, covers the domain
// of email: the operator will leave the invitation Invalid until that
// changes.
func (k *inviteChecks) domainWarning(ns, email string) string {
	picked, tied := k.byDomain(email)
	domain := email[strings.LastIndexByte(email, '@')+1:]
	switch {
	case len(tied) > 1:
		return fmt.Sprintf("%s: partneraccounts %s cover %s equally: the operator leaves the invitation Invalid (%s) until only one does; name the account with --account instead",
			email, strings.Join(tied, " and "), domain, v1alpha1.ReasonAmbiguousAccount)
	case picked == nil:
		return fmt.Sprintf("%s: no PartnerAccount of namespace %s covers %s in its allowedDomains: the operator leaves the invitation Invalid (%s) until one does",
			email, ns, domain, v1alpha1.ReasonNoAccountForDomain)
	}
	return ""
}

// inAccount names an invitation's account in messages, when it has one.
func inAccount(inv *v1alpha1.PartnerInvitation) string {
	if a := inv.AccountName(); a != "" {
		return " in account " + a
	}
	return ""
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
