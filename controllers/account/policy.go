package account

import (
	"slices"
	"sort"
	"time"

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
// spec.users: the entry's role, systems, ttl and resend; its locale, else
// the account's defaultLocale, else en; its message, else the account's
// defaultMessage. An entry without ttl leaves it empty (the invitation
// controller applies the account's invitationTTL).
func desiredInvitation(acct *v1alpha1.PartnerAccount, u v1alpha1.PartnerUser) *v1alpha1.PartnerInvitation {
	locale := u.Locale
	if locale == "" {
		locale = acct.Spec.DefaultLocale
	}
	if locale == "" {
		locale = v1alpha1.LocaleEnglish
	}
	message := u.Message
	if message == "" {
		message = acct.Spec.DefaultMessage
	}
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
			Locale:  locale,
			Message: message,
			TTL:     u.TTL,
			Resend:  u.Resend,
		},
	}
}

// isOwned reports whether the account is the invitation's controller.
func isOwned(inv *v1alpha1.PartnerInvitation, acct *v1alpha1.PartnerAccount) bool {
	return metav1.IsControlledBy(inv, acct)
}

// upToDate reports whether an owned invitation asks what desired asks:
// the same role, systems (as a set), locale, message, ttl and account
// label, and a resend at least the entry's (a user may have raised the
// invitation's own, with kubectl partners resend: it is never lowered).
func upToDate(cur, desired *v1alpha1.PartnerInvitation) bool {
	return cur.Spec.Role == desired.Spec.Role &&
		sameSet(cur.Spec.Systems, desired.Spec.Systems) &&
		cur.Spec.Locale == desired.Spec.Locale &&
		cur.Spec.Message == desired.Spec.Message &&
		cur.Spec.TTL == desired.Spec.TTL &&
		cur.Spec.Resend >= desired.Spec.Resend &&
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

// update is an owned invitation whose role, systems, locale, message, ttl,
// resend or label must change.
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
// any state but Revoked.
func live(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Status.State != v1alpha1.InvitationRevoked
}

// resendAsked reports whether spec.resend asks for an email the
// invitation controller has not sent yet: the invitation is about to get a
// fresh link.
func resendAsked(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Spec.Resend > inv.Status.ObservedResend
}

// rejected reports whether the mail server refused the invitation's email
// for good (PendingApproval, EmailSent=False/RecipientRejected): no link
// is out, and none will be until the admin acts.
func rejected(inv *v1alpha1.PartnerInvitation) bool {
	if inv.Status.State != v1alpha1.InvitationPendingApproval || resendAsked(inv) {
		return false
	}
	c := meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionEmailSent)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonRecipientRejected
}

// waiting reports whether an invitation waits on a live link: not
// processed yet (no state: about to be sent), or PendingApproval whose link
// has not expired (or is being sent or retried), or Expired with a resend
// asked for. An email the mail server refused is not waiting.
func waiting(inv *v1alpha1.PartnerInvitation, now time.Time) bool {
	switch inv.Status.State {
	case "":
		return true
	case v1alpha1.InvitationExpired:
		return resendAsked(inv)
	case v1alpha1.InvitationPendingApproval:
		if resendAsked(inv) {
			return true
		}
		return !rejected(inv) && !pastExpiry(inv, now)
	}
	return false
}

// pastExpiry reports whether the invitation's link has run out.
func pastExpiry(inv *v1alpha1.PartnerInvitation, now time.Time) bool {
	return inv.Status.ExpiresAt != nil && !now.Before(inv.Status.ExpiresAt.Time)
}

// expired reports whether an invitation expired unaccepted and no resend
// is asked for: state Expired, or a PendingApproval link past its expiry
// (the invitation controller is about to say Expired).
func expired(inv *v1alpha1.PartnerInvitation, now time.Time) bool {
	switch inv.Status.State {
	case v1alpha1.InvitationExpired:
		return !resendAsked(inv)
	case v1alpha1.InvitationPendingApproval:
		return !resendAsked(inv) && !rejected(inv) && pastExpiry(inv, now)
	}
	return false
}

// failed reports whether an invitation failed: Invalid, or its email
// refused by the mail server.
func failed(inv *v1alpha1.PartnerInvitation) bool {
	return inv.Status.State == v1alpha1.InvitationInvalid || rejected(inv)
}

// accountState is the account's summary state (accepted users make it
// Active; no users, or no systems, is a state of its own, not a fault).
// The first that applies wins: Active when an accepted user holds a
// system; PendingApproval when an invitation with a system is waiting on a
// live link; ActionRequired when no invitation at all is waiting and some
// expired or failed (with or without systems: the admin must resend or fix
// it either way); else NoUsersOrSystems.
func accountState(invs []v1alpha1.PartnerInvitation, now time.Time) v1alpha1.AccountState {
	anyWaiting, waitingSystems, attention := false, false, false
	for i := range invs {
		inv := &invs[i]
		if !live(inv) {
			continue
		}
		sys := len(inv.Spec.Systems) > 0
		switch {
		case inv.Status.State == v1alpha1.InvitationAccepted:
			if sys {
				return v1alpha1.AccountActive
			}
		case waiting(inv, now):
			anyWaiting = true
			waitingSystems = waitingSystems || sys
		case expired(inv, now) || failed(inv):
			attention = true
		}
	}
	switch {
	case waitingSystems:
		return v1alpha1.AccountPendingApproval
	case attention && !anyWaiting:
		return v1alpha1.AccountActionRequired
	}
	return v1alpha1.AccountNoUsersOrSystems
}

// countInvitations counts invitations by state, each once: pending counts
// only those waiting on a live link (or about to be sent), an expired link
// counts as expired, an email refused by the mail server as rejected.
func countInvitations(invs []v1alpha1.PartnerInvitation, now time.Time) v1alpha1.InvitationCounts {
	var c v1alpha1.InvitationCounts
	for i := range invs {
		inv := &invs[i]
		switch s := inv.Status.State; {
		case waiting(inv, now):
			c.Pending++
		case s == v1alpha1.InvitationAccepted:
			c.Accepted++
		case expired(inv, now):
			c.Expired++
		case s == v1alpha1.InvitationRevoked:
			c.Revoked++
		case s == v1alpha1.InvitationInvalid:
			c.Invalid++
		case rejected(inv):
			c.Rejected++
		}
	}
	c.NeedAttention = c.Expired + c.Invalid + c.Rejected
	return c
}

// needAttention are the invitations the admin must resend (expired) or fix
// (failed: Invalid, or refused by the mail server).
func needAttention(invs []v1alpha1.PartnerInvitation, now time.Time) (exp, fail []*v1alpha1.PartnerInvitation) {
	for i := range invs {
		inv := &invs[i]
		switch {
		case failed(inv):
			fail = append(fail, inv)
		case expired(inv, now):
			exp = append(exp, inv)
		}
	}
	return exp, fail
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
