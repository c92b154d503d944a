package account

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file holds the controller's decisions as pure functions of the
// account and the invitations naming it: trivially table-tested, no client
// needed.

// maxMembers is the most members status.members holds (its schema bound);
// the counts still count every accepted invitation.
const maxMembers = 2000

// maxListed bounds how many names a condition message lists.
const maxListed = 5

// desiredInvitation is the invitation the account owns for one entry of
// spec.users. ttl stays empty (the invitation controller applies the
// account's invitationTTL) and locale takes its default.
func desiredInvitation(acct *v1alpha1.PartnerAccount, u v1alpha1.PartnerUser) *v1alpha1.PartnerInvitation {
	return &v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       acct.Namespace,
			Name:            InvitationName(acct.Name, string(u.Email)),
			Labels:          map[string]string{v1alpha1.AccountLabel: acct.Name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(acct, v1alpha1.GroupVersion.WithKind("PartnerAccount"))},
		},
		Spec: v1alpha1.PartnerInvitationSpec{
			Account: acct.Name,
			Email:   u.Email,
			Role:    u.Role,
			Systems: slices.Clone(u.Systems),
		},
	}
}

// isOwned reports whether the account is the invitation's controller.
func isOwned(inv *v1alpha1.PartnerInvitation, acct *v1alpha1.PartnerAccount) bool {
	return metav1.IsControlledBy(inv, acct)
}

// upToDate reports whether an owned invitation asks what desired asks:
// the same role, the same systems (as a set) and the account label.
func upToDate(cur, desired *v1alpha1.PartnerInvitation) bool {
	return cur.Spec.Role == desired.Spec.Role &&
		sameSet(cur.Spec.Systems, desired.Spec.Systems) &&
		cur.Labels[v1alpha1.AccountLabel] == desired.Labels[v1alpha1.AccountLabel]
}

func sameSet(a, b []v1alpha1.CatalogueKey) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// conflict is a spec.users entry the account does not invite because
// another invitation is in the way.
type conflict struct {
	// Email is the entry's address.
	Email string
	// Other is the name of the invitation in the way.
	Other string
	// NameTaken is true when Other holds the name the account's invitation
	// needs but is not the same user of this account (it names another
	// account or address); false when Other already invites this address
	// to this account.
	NameTaken bool
}

// update is an owned invitation whose role, systems or label must change.
type update struct {
	current, desired *v1alpha1.PartnerInvitation
}

// plan is what syncing spec.users with the owned invitations takes.
type plan struct {
	// create are the invitations to create.
	create []*v1alpha1.PartnerInvitation
	// update are owned invitations to bring in line with their entry.
	update []update
	// remove are owned invitations whose entry is gone.
	remove []*v1alpha1.PartnerInvitation
	// removing are owned invitations whose entry is gone, already being
	// deleted (their grants being revoked).
	removing []*v1alpha1.PartnerInvitation
	// waiting are entries whose previous invitation is still being
	// deleted; theirs is created once it is gone.
	waiting []string
	// conflicts are entries another invitation is in the way of.
	conflicts []conflict
	// declined are owned invitations that ended Revoked (declined or
	// withdrawn) while their entry is still listed: left as they are.
	declined []*v1alpha1.PartnerInvitation
}

// pending reports whether the plan still has work in flight.
func (p *plan) pending() bool {
	return len(p.create)+len(p.update)+len(p.remove)+len(p.removing)+len(p.waiting) > 0
}

// planChildren compares spec.users with invs, the invitations naming the
// account (owned and standalone). taken holds the invitations that exist
// under a name one of the entries needs but name another account.
func planChildren(acct *v1alpha1.PartnerAccount, invs []v1alpha1.PartnerInvitation, taken map[string]*v1alpha1.PartnerInvitation) plan {
	var p plan
	byName := make(map[string]*v1alpha1.PartnerInvitation, len(invs)+len(taken))
	for n, inv := range taken {
		byName[n] = inv
	}
	// others: invitations of this address to this account that the
	// account does not own and that still mean something to the partner
	// (neither Revoked nor going away).
	others := map[string]*v1alpha1.PartnerInvitation{}
	for i := range invs {
		inv := &invs[i]
		byName[inv.Name] = inv
		if isOwned(inv, acct) || inv.Status.State == v1alpha1.InvitationRevoked || !inv.DeletionTimestamp.IsZero() {
			continue
		}
		e := v1alpha1.NormalizeEmail(string(inv.Spec.Email))
		if o, ok := others[e]; !ok || inv.Name < o.Name {
			others[e] = inv
		}
	}

	wanted := make(map[string]bool, len(acct.Spec.Users))
	for _, u := range acct.Spec.Users {
		desired := desiredInvitation(acct, u)
		wanted[desired.Name] = true
		email := v1alpha1.NormalizeEmail(string(u.Email))
		cur := byName[desired.Name]
		switch {
		case cur == nil:
			if o := others[email]; o != nil {
				p.conflicts = append(p.conflicts, conflict{Email: string(u.Email), Other: o.Name})
				continue
			}
			p.create = append(p.create, desired)
			continue
		case !isOwned(cur, acct):
			same := cur.Spec.Account == acct.Name && v1alpha1.NormalizeEmail(string(cur.Spec.Email)) == email
			p.conflicts = append(p.conflicts, conflict{Email: string(u.Email), Other: cur.Name, NameTaken: !same})
			continue
		}
		// The account owns cur. Another invitation of the same address is
		// a duplicate email to the partner even so: say it.
		if o := others[email]; o != nil {
			p.conflicts = append(p.conflicts, conflict{Email: string(u.Email), Other: o.Name})
		}
		switch {
		case !cur.DeletionTimestamp.IsZero():
			p.waiting = append(p.waiting, string(u.Email))
		case cur.Status.State == v1alpha1.InvitationRevoked:
			p.declined = append(p.declined, cur)
		case !upToDate(cur, desired):
			p.update = append(p.update, update{current: cur, desired: desired})
		}
	}
	for i := range invs {
		inv := &invs[i]
		if !isOwned(inv, acct) || wanted[inv.Name] {
			continue
		}
		if inv.DeletionTimestamp.IsZero() {
			p.remove = append(p.remove, inv)
		} else {
			p.removing = append(p.removing, inv)
		}
	}
	return p
}

// live reports whether an invitation counts towards the account's state:
// PendingApproval, Accepted, Expired or Invalid. An invitation the
// invitation controller has not processed yet (no state) is about to be
// sent, so it counts as PendingApproval.
func live(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Status.State != v1alpha1.InvitationRevoked
}

// pendingState reports whether an invitation waits for the partner.
func pendingState(s v1alpha1.InvitationState) bool {
	return s == v1alpha1.InvitationPendingApproval || s == ""
}

// accountState is the account's summary state (accepted users make it
// Active; no users, or no systems, is a state of its own, not a fault):
// NoUsersOrSystems when no invitation is PendingApproval, Accepted, Expired
// or Invalid, or none of those has a system; else Active when an accepted
// user holds a system; else PendingApproval.
func accountState(invs []v1alpha1.PartnerInvitation) v1alpha1.AccountState {
	anySystems := false
	for i := range invs {
		inv := &invs[i]
		if !live(inv) || len(inv.Spec.Systems) == 0 {
			continue
		}
		if inv.Status.State == v1alpha1.InvitationAccepted {
			return v1alpha1.AccountActive
		}
		anySystems = true
	}
	if anySystems {
		return v1alpha1.AccountPendingApproval
	}
	return v1alpha1.AccountNoUsersOrSystems
}

// countInvitations counts invitations by state; one not processed yet
// counts as pending.
func countInvitations(invs []v1alpha1.PartnerInvitation) v1alpha1.InvitationCounts {
	var c v1alpha1.InvitationCounts
	for i := range invs {
		switch s := invs[i].Status.State; {
		case pendingState(s):
			c.Pending++
		case s == v1alpha1.InvitationAccepted:
			c.Accepted++
		case s == v1alpha1.InvitationExpired:
			c.Expired++
		case s == v1alpha1.InvitationRevoked:
			c.Revoked++
		case s == v1alpha1.InvitationInvalid:
			c.Invalid++
		}
	}
	return c
}

// members lists the accepted invitations as members, sorted by email. An
// address accepted twice (two invitations) is listed once, from the
// earliest acceptance.
func members(invs []v1alpha1.PartnerInvitation) []v1alpha1.Member {
	byEmail := map[string]v1alpha1.Member{}
	for i := range invs {
		inv := &invs[i]
		if inv.Status.State != v1alpha1.InvitationAccepted {
			continue
		}
		m := v1alpha1.Member{
			Email:      string(inv.Spec.Email),
			Role:       string(inv.Spec.Role),
			AcceptedAt: acceptedAt(inv),
			Invitation: inv.Name,
		}
		for _, s := range inv.Spec.Systems {
			m.Systems = append(m.Systems, string(s))
		}
		key := v1alpha1.NormalizeEmail(m.Email)
		if prev, ok := byEmail[key]; ok && !earlier(m, prev) {
			continue
		}
		byEmail[key] = m
	}
	if len(byEmail) == 0 {
		return nil
	}
	out := make([]v1alpha1.Member, 0, len(byEmail))
	for _, m := range byEmail {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := v1alpha1.NormalizeEmail(out[i].Email), v1alpha1.NormalizeEmail(out[j].Email)
		if a != b {
			return a < b
		}
		return out[i].Email < out[j].Email
	})
	if len(out) > maxMembers {
		out = out[:maxMembers]
	}
	return out
}

func earlier(a, b v1alpha1.Member) bool {
	if !a.AcceptedAt.Equal(&b.AcceptedAt) {
		return a.AcceptedAt.Before(&b.AcceptedAt)
	}
	return a.Invitation < b.Invitation
}

// acceptedAt is when the partner accepted: status.acceptedAt, else when the
// Accepted condition turned True, else when the invitation was created.
func acceptedAt(inv *v1alpha1.PartnerInvitation) metav1.Time {
	if inv.Status.AcceptedAt != nil {
		return *inv.Status.AcceptedAt
	}
	if c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionAccepted); c != nil && c.Status == metav1.ConditionTrue {
		return c.LastTransitionTime
	}
	return inv.CreationTimestamp
}

// holdsGrants reports whether the identity backend may hold grants for the
// invitation: they are recorded in status.appliedGrants, or the invitation
// still carries its grants finalizer.
func holdsGrants(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Status.AppliedGrants != nil || controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer)
}

// needsFinalizer reports whether the account must carry the grants
// finalizer: an invitation naming it is Accepted (its grants are about to
// be applied, and the invitation controller waits for this finalizer to
// apply them) or holds grants.
func needsFinalizer(invs []v1alpha1.PartnerInvitation) bool {
	for i := range invs {
		if invs[i].Status.State == v1alpha1.InvitationAccepted || holdsGrants(&invs[i]) {
			return true
		}
	}
	return false
}

// grantHolders are the invitations whose grants must be revoked (or
// released) before a deleted account may go.
func grantHolders(invs []v1alpha1.PartnerInvitation) []*v1alpha1.PartnerInvitation {
	var out []*v1alpha1.PartnerInvitation
	for i := range invs {
		if holdsGrants(&invs[i]) {
			out = append(out, &invs[i])
		}
	}
	return out
}

// invalid are the invitations in state Invalid.
func invalid(invs []v1alpha1.PartnerInvitation) []*v1alpha1.PartnerInvitation {
	var out []*v1alpha1.PartnerInvitation
	for i := range invs {
		if invs[i].Status.State == v1alpha1.InvitationInvalid {
			out = append(out, &invs[i])
		}
	}
	return out
}

// readyInput is what the account's Ready condition is decided from.
type readyInput struct {
	// users is how many entries spec.users lists.
	users int
	// deleting is true while the account waits for its grants to go.
	deleting bool
	policy   v1alpha1.DeletionPolicy
	// holders are the invitations still holding grants (when deleting).
	holders []*v1alpha1.PartnerInvitation
	plan    plan
	// invalid are the account's invitations in state Invalid.
	invalid []*v1alpha1.PartnerInvitation
}

// readiness decides the account's Ready condition. The first that applies
// wins: Deleting, DuplicateUser, InvalidInvitations, InvitationsPending,
// else Reconciled.
func readiness(in readyInput) (ok bool, reason, message string) {
	switch {
	case in.deleting:
		return false, v1alpha1.ReasonDeleting, deletingMessage(in.policy, in.holders)
	case len(in.plan.conflicts) > 0:
		return false, v1alpha1.ReasonDuplicateUser, conflictMessage(in.plan.conflicts)
	case len(in.invalid) > 0:
		return false, v1alpha1.ReasonInvalidInvitations, invalidMessage(in.invalid)
	case in.plan.pending():
		return false, v1alpha1.ReasonInvitationsPending, pendingMessage(&in.plan)
	}
	msg := "Every user in spec.users has an up-to-date invitation and no invitation of the account is invalid"
	if in.users == 0 {
		msg = "spec.users lists nobody, and no invitation of the account is invalid"
	}
	if d := in.plan.declined; len(d) > 0 {
		var names []string
		for _, inv := range d {
			names = append(names, fmt.Sprintf("%s (PartnerInvitation %s)", inv.Spec.Email, inv.Name))
		}
		msg += fmt.Sprintf("; declined or withdrawn, so not invited again: %s. To invite again, delete that invitation (the account creates a new one) or remove the entry and add it back",
			list(names))
	}
	return true, v1alpha1.ReasonReconciled, msg
}

func deletingMessage(policy v1alpha1.DeletionPolicy, holders []*v1alpha1.PartnerInvitation) string {
	if len(holders) == 0 {
		return "The account is being deleted; no grants are left to revoke"
	}
	users := plural(len(holders), "user", "users")
	msg := fmt.Sprintf("The account is being deleted: revoking the identity backend grants of %s (%s) before it goes", users, invitationNames(holders))
	if policy == v1alpha1.DeletionPolicyRetain {
		msg = fmt.Sprintf("The account is being deleted: deletionPolicy is Retain, so the identity backend grants of %s (%s) are kept; releasing them before it goes",
			users, invitationNames(holders))
	}
	for _, inv := range holders {
		c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionGrantsSynced)
		if c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonBackendUnavailable {
			msg += fmt.Sprintf(". The identity backend is unreachable (PartnerInvitation %s: %s); partnerops keeps retrying", inv.Name, c.Message)
			break
		}
	}
	return msg
}

func conflictMessage(cs []conflict) string {
	var parts []string
	for _, c := range cs {
		if c.NameTaken {
			parts = append(parts, fmt.Sprintf("%s: the name PartnerInvitation %s that this account would use is taken by an invitation it does not own", c.Email, c.Other))
		} else {
			parts = append(parts, fmt.Sprintf("%s is already invited by PartnerInvitation %s, which this account does not own", c.Email, c.Other))
		}
	}
	return "Not inviting a user twice: " + list(parts) +
		". Remove the entry from spec.users, or delete the other invitation and the account invites the user itself"
}

func invalidMessage(invs []*v1alpha1.PartnerInvitation) string {
	var parts []string
	for _, inv := range invs {
		why := "invalid"
		if c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionFalse {
			why = c.Reason + ": " + c.Message
		}
		parts = append(parts, fmt.Sprintf("PartnerInvitation %s for %s (%s)", inv.Name, inv.Spec.Email, why))
	}
	return fmt.Sprintf("%s cannot be sent: %s", plural(len(invs), "invitation", "invitations"), list(parts))
}

func pendingMessage(p *plan) string {
	var parts []string
	if n := len(p.create); n > 0 {
		parts = append(parts, "creating "+plural(n, "invitation", "invitations"))
	}
	if n := len(p.update); n > 0 {
		parts = append(parts, "updating the role or systems of "+plural(n, "invitation", "invitations"))
	}
	if n := len(p.remove) + len(p.removing); n > 0 {
		var names []string
		for _, inv := range append(slices.Clone(p.remove), p.removing...) {
			names = append(names, string(inv.Spec.Email))
		}
		parts = append(parts, fmt.Sprintf("removing %s (%s), whose grants are revoked first", plural(n, "user", "users"), list(names)))
	}
	if n := len(p.waiting); n > 0 {
		parts = append(parts, fmt.Sprintf("waiting for the previous invitation of %s to be deleted before inviting again", list(p.waiting)))
	}
	return "Applying spec.users: " + strings.Join(parts, "; ")
}

func invitationNames(invs []*v1alpha1.PartnerInvitation) string {
	names := make([]string, len(invs))
	for i, inv := range invs {
		names[i] = string(inv.Spec.Email)
	}
	return list(names)
}

// list joins at most maxListed items and says how many more there are.
func list(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:maxListed], ", "), len(items)-maxListed)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
