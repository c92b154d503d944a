package account

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file holds the controller's decisions as pure functions of the
// account and the invitations naming it: trivially table-tested, no client
// needed.

// maxMembers is the most members status.members holds (its schema bound);
// the counts still count every accepted invitation.
const maxMembers = 2000

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
			Annotations:     requestedBy(acct),
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

// requestedBy is the annotations an owned invitation is created with: the
// account's partnerops.dev/requested-by (who created the account or last
// changed its spec.users), so that the invitation names the user who asked
// for it, not the manager. Only set at creation: the annotation is
// immutable (config/admission/requested_by.yaml), so updates never carry it.
func requestedBy(acct *v1alpha1.PartnerAccount) map[string]string {
	who, ok := acct.Annotations[v1alpha1.RequestedByAnnotation]
	if !ok {
		return nil
	}
	return map[string]string{v1alpha1.RequestedByAnnotation: who}
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
	// observing are owned invitations in line with their entry whose
	// controller has not taken their last change yet: their status still
	// speaks of the spec before (a system Git took away still granted),
	// so the account is not Ready on it.
	observing []*v1alpha1.PartnerInvitation
}

// pending reports whether the plan still has work in flight.
func (p *plan) pending() bool {
	return len(p.create)+len(p.update)+len(p.remove)+len(p.removing)+len(p.waiting)+len(p.observing) > 0
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
		case !isOwned(cur, acct) && !cur.DeletionTimestamp.IsZero():
			p.waiting = append(p.waiting, string(u.Email)) // the name frees up
			continue
		case !isOwned(cur, acct):
			// The same user of this account, unless it is revoked: then it
			// invites nobody, and only holds the name.
			same := cur.AccountName() == acct.Name && v1alpha1.NormalizeEmail(string(cur.Spec.Email)) == email &&
				cur.Status.State != v1alpha1.InvitationRevoked
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
		case cur.Status.ObservedGeneration > 0 && cur.Status.ObservedGeneration < cur.Generation:
			// An edit (not a new invitation, waiting for its first send).
			p.observing = append(p.observing, cur)
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
