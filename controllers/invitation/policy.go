package invitation

import (
	"fmt"
	"strings"
	"time"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
)

// This file holds the controller's decisions as pure functions of the
// invitation, its account, the catalogue and the time: trivially
// table-tested, no client needed.

// problem is why an invitation cannot be honoured: a condition reason and a
// message naming the bad value.
type problem struct {
	Reason  string
	Message string
}

// checkSpec validates what the schema cannot: the role and systems exist in
// the catalogue, the account exists, the address is in its allowed domains.
// account is nil when the account does not exist.
func checkSpec(inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount, cat *config.Config) *problem {
	if p := checkCatalogue(inv, cat); p != nil {
		return p
	}
	if account == nil {
		return &problem{v1alpha1.ReasonAccountNotFound, fmt.Sprintf("PartnerAccount %q does not exist in namespace %s; create it and the invitation proceeds",
			inv.Spec.Account, inv.Namespace)}
	}
	if !v1alpha1.DomainAllowed(string(inv.Spec.Email), account.Spec.AllowedDomains) {
		return &problem{v1alpha1.ReasonDomainNotAllowed, fmt.Sprintf("%s is outside the domains PartnerAccount %s allows (%s)",
			inv.Spec.Email, account.Name, joinDomains(account.Spec.AllowedDomains))}
	}
	return nil
}

// checkCatalogue checks that the role and systems exist in the catalogue
// (grants are computed from them, for accepted invitations too).
func checkCatalogue(inv *v1alpha1.PartnerInvitation, cat *config.Config) *problem {
	if _, ok := cat.Role(string(inv.Spec.Role)); !ok {
		return &problem{v1alpha1.ReasonUnknownRole, fmt.Sprintf("role %q is not in the operator's catalogue; known roles: %s",
			inv.Spec.Role, keys(cat.Catalogue.Roles))}
	}
	var unknown []string
	for _, s := range inv.Spec.Systems {
		if _, ok := cat.System(string(s)); !ok {
			unknown = append(unknown, fmt.Sprintf("%q", s))
		}
	}
	if len(unknown) > 0 {
		what := "system " + unknown[0] + " is"
		if len(unknown) > 1 {
			what = "systems " + strings.Join(unknown, ", ") + " are"
		}
		return &problem{v1alpha1.ReasonUnknownSystem, fmt.Sprintf("%s not in the operator's catalogue; known systems: %s",
			what, keys(cat.Catalogue.Systems))}
	}
	return nil
}

func keys(entries []config.CatalogueEntry) string {
	k := make([]string, len(entries))
	for i, e := range entries {
		k[i] = e.Key
	}
	return strings.Join(k, ", ")
}

func joinDomains(d []v1alpha1.DomainName) string {
	s := make([]string, len(d))
	for i := range d {
		s[i] = string(d[i])
	}
	return strings.Join(s, ", ")
}

// ttl is the validity of a link sent now: the invitation's ttl, else its
// account's invitationTTL, else 7 days.
func ttl(inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount) time.Duration {
	for _, t := range []v1alpha1.TTL{inv.Spec.TTL, accountTTL(account)} {
		if t == "" {
			continue
		}
		if d, err := t.Duration(); err == nil {
			return d
		}
	}
	return v1alpha1.DefaultInvitationTTL
}

func accountTTL(a *v1alpha1.PartnerAccount) v1alpha1.TTL {
	if a == nil {
		return ""
	}
	return a.Spec.InvitationTTL
}

// terminal reports whether the invitation's state is final for this
// controller: Revoked (withdrawn, declined or account deleted) never changes
// again, and Accepted only changes through withdrawal.
func terminal(st *v1alpha1.PartnerInvitationStatus) bool {
	return st.State == v1alpha1.InvitationRevoked
}

// accepted reports whether the partner accepted (the acceptance page records
// acceptedAt and the Accepted state in one write).
func accepted(st *v1alpha1.PartnerInvitationStatus) bool {
	return st.AcceptedAt != nil
}

// sendWanted says whether an email must be sent now: never sent for the
// current resend generation (or the last attempt failed for a reason worth
// retrying), or spec.resend was raised. A recipient the mail server refused
// is not retried until the next resend.
func sendWanted(inv *v1alpha1.PartnerInvitation) bool {
	st := &inv.Status
	if inv.Spec.Resend > st.ObservedResend {
		return true
	}
	if st.SentAt != nil {
		return false
	}
	if c := findCondition(st, v1alpha1.ConditionEmailSent); c != nil && c.Reason == v1alpha1.ReasonRecipientRejected {
		return false
	}
	return true
}

// expired says whether the current link has run out at now.
func expired(st *v1alpha1.PartnerInvitationStatus, now time.Time) bool {
	return st.ExpiresAt != nil && !now.Before(st.ExpiresAt.Time)
}
