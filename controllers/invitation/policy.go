package invitation

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

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
// the catalogue, the account exists (or one was chosen by domain), the
// address is in its allowed domains. account is nil when the account does
// not exist or none was chosen; unmatched then says why none was chosen.
func checkSpec(inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount, unmatched *problem, cat *config.Config) *problem {
	if p := checkCatalogue(inv, cat); p != nil {
		return p
	}
	if account == nil {
		if unmatched != nil {
			return unmatched
		}
		return &problem{v1alpha1.ReasonAccountNotFound, fmt.Sprintf("PartnerAccount %q does not exist in namespace %s; create it and the invitation proceeds",
			inv.AccountName(), inv.Namespace)}
	}
	if !v1alpha1.DomainAllowed(string(inv.Spec.Email), account.Spec.AllowedDomains) {
		return &problem{v1alpha1.ReasonDomainNotAllowed, fmt.Sprintf("%s is outside the domains PartnerAccount %s allows (%s)",
			inv.Spec.Email, account.Name, joinDomains(account.Spec.AllowedDomains))}
	}
	return nil
}

// chooseAccount picks the account an invitation without spec.account
// joins, among accounts (those of its namespace): the one whose
// allowedDomains covers the address most specifically
// (v1alpha1.CoveringDomain: jane@eu.globex.example joins the account
// allowing eu.globex.example rather than the one allowing globex.example;
// a parent domain covers its subdomains, as allowedDomains does). Accounts
// being deleted, and accounts without allowedDomains (they allow every
// domain but cover none), are never chosen. When none covers the address
// the problem is NoAccountForDomain; when several cover it equally,
// AmbiguousAccount; both name the accounts.
func chooseAccount(inv *v1alpha1.PartnerInvitation, accounts []v1alpha1.PartnerAccount) (*v1alpha1.PartnerAccount, *problem) {
	sorted := slices.Clone(accounts)
	slices.SortFunc(sorted, func(a, b v1alpha1.PartnerAccount) int { return strings.Compare(a.Name, b.Name) })
	best, bestDomain := v1alpha1.CoveringAccounts(string(inv.Spec.Email), sorted)
	if len(best) == 1 {
		// The one chosen, as an element of the caller's slice.
		for i := range accounts {
			if accounts[i].UID == best[0].UID && accounts[i].Name == best[0].Name {
				return &accounts[i], nil
			}
		}
	}
	var others, open []string
	for _, a := range sorted {
		switch {
		case !a.DeletionTimestamp.IsZero():
		case len(a.Spec.AllowedDomains) == 0:
			open = append(open, a.Name)
		case len(best) == 0:
			others = append(others, fmt.Sprintf("%s (%s)", a.Name, joinDomains(a.Spec.AllowedDomains)))
		}
	}
	if len(best) == 0 {
		return nil, noAccountProblem(inv, others, open)
	}
	names := make([]string, len(best))
	for i, a := range best {
		names[i] = a.Name
	}
	return nil, &problem{v1alpha1.ReasonAmbiguousAccount, fmt.Sprintf(
		"%s is covered equally by %d PartnerAccounts of namespace %s, which all allow %s: %s. Keep %s in the allowedDomains of one of them only, or invite again with spec.account naming one; this invitation proceeds by itself once one account covers it most specifically",
		inv.Spec.Email, len(best), inv.Namespace, bestDomain, v1alpha1.FirstFew(names), bestDomain)}
}

// noAccountProblem says that no account of the namespace covers the
// address, naming the accounts there are: those with allowedDomains (and
// them), then those without, which are never chosen by domain.
func noAccountProblem(inv *v1alpha1.PartnerInvitation, others, open []string) *problem {
	email := string(inv.Spec.Email)
	domain := strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
	msg := fmt.Sprintf("No PartnerAccount of namespace %s has %s, the domain of %s, in its allowedDomains (nor a parent domain of it), and spec.account names none",
		inv.Namespace, domain, email)
	switch {
	case len(others) == 0 && len(open) == 0:
		msg += "; the namespace has no PartnerAccount"
	case len(others) > 0:
		msg += "; accounts and the domains they allow: " + v1alpha1.FirstFew(others)
	}
	if len(open) > 0 {
		msg += "; accounts without allowedDomains are never chosen by domain: " + v1alpha1.FirstFew(open)
	}
	return &problem{v1alpha1.ReasonNoAccountForDomain, msg + fmt.Sprintf(
		". Add %s to an account's allowedDomains, or create an account allowing it, and this invitation proceeds by itself; or invite again with spec.account naming the account",
		domain)}
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

// competes says whether inv wants to be the live invitation of its address
// (PendingApproval or Accepted): it is new, pending, waiting as a
// duplicate, or expired with a resend asked. An Expired invitation nobody
// resends stays Expired whatever its siblings do.
func competes(inv *v1alpha1.PartnerInvitation) bool {
	st := &inv.Status
	return st.State != v1alpha1.InvitationExpired || inv.Spec.Resend > st.ObservedResend
}

// liveRank places an invitation in the order that decides which invitation
// of an address is live in a namespace: an accepted one (0), then a pending
// one (1), then one waiting to be sent (2); ok is false for one that does
// not compete (withdrawn, declined, deleted, expired without a resend, or
// invalid for a reason of its own).
func liveRank(inv *v1alpha1.PartnerInvitation) (rank int, ok bool) {
	st := &inv.Status
	switch {
	case !inv.DeletionTimestamp.IsZero(), inv.Spec.Revoked, st.State == v1alpha1.InvitationRevoked:
		return 0, false
	case accepted(st) || st.State == v1alpha1.InvitationAccepted:
		return 0, true
	case st.State == v1alpha1.InvitationPendingApproval:
		return 1, true
	case st.State == v1alpha1.InvitationInvalid:
		c := findCondition(st, v1alpha1.ConditionReady)
		return 2, c != nil && c.Reason == v1alpha1.ReasonDuplicateInvitation
	}
	return 2, competes(inv)
}

// liveWinner returns the invitation of inv's address that may be live in
// its namespace, nil when that is inv itself. others are the invitations of
// the same address (inv among them or not); inv competes. Ties go to the
// older invitation, then to the name that sorts first, so that every
// reconcile of every sibling picks the same one.
func liveWinner(inv *v1alpha1.PartnerInvitation, others []v1alpha1.PartnerInvitation) *v1alpha1.PartnerInvitation {
	best, bestRank := inv, 2
	if st := &inv.Status; st.State == v1alpha1.InvitationPendingApproval {
		bestRank = 1
	}
	for i := range others {
		o := &others[i]
		if o.UID == inv.UID || o.Namespace != inv.Namespace {
			continue
		}
		rank, ok := liveRank(o)
		if !ok {
			continue
		}
		if rank < bestRank || (rank == bestRank && olderThan(o, best)) {
			best, bestRank = o, rank
		}
	}
	if best == inv {
		return nil
	}
	return best
}

func olderThan(a, b *v1alpha1.PartnerInvitation) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

func duplicateProblem(inv, live *v1alpha1.PartnerInvitation) *problem {
	state := string(live.Status.State)
	if state == "" || state == string(v1alpha1.InvitationInvalid) {
		state = "about to be sent"
	}
	return &problem{v1alpha1.ReasonDuplicateInvitation, fmt.Sprintf(
		"%s is already invited in namespace %s by PartnerInvitation %s (%s): this one sends no email and grants nothing, and proceeds by itself once %s ends (withdrawn, declined, deleted or expired)",
		inv.Spec.Email, inv.Namespace, live.Name, state, live.Name)}
}

// formerMember says whether inv was accepted and then removed because the
// account stopped allowing its domain (memberLeftDomains records it in the
// Accepted condition).
func formerMember(inv *v1alpha1.PartnerInvitation) bool {
	c := findCondition(&inv.Status, v1alpha1.ConditionAccepted)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonDomainNotAllowed
}

func domainLeftProblem(inv *v1alpha1.PartnerInvitation, account *v1alpha1.PartnerAccount) *problem {
	return &problem{v1alpha1.ReasonDomainNotAllowed, fmt.Sprintf(
		"%s had accepted, but its domain is no longer one PartnerAccount %s allows (%s): its grants are revoked and its link ended; to invite it again, add the domain back and raise spec.resend",
		inv.Spec.Email, account.Name, joinDomains(account.Spec.AllowedDomains))}
}

// desiredGroups are the groups an accepted invitation's role and systems
// map to, sorted; a problem when the catalogue does not know them.
func desiredGroups(inv *v1alpha1.PartnerInvitation, cfg *config.Config) ([]string, *problem) {
	if p := checkCatalogue(inv, cfg); p != nil {
		return nil, p
	}
	groups := make([]string, 0, len(inv.Spec.Systems))
	for _, sys := range inv.Spec.Systems {
		g, err := config.RenderGroup(cfg.IdentityBackend.GroupTemplate, config.GrantFields{
			Namespace: inv.Namespace, Account: inv.AccountName(), System: string(sys), Role: string(inv.Spec.Role),
		})
		if err != nil {
			return nil, &problem{v1alpha1.ReasonBackendRejected, fmt.Sprintf("identityBackend.groupTemplate: %v", err)}
		}
		groups = append(groups, g)
	}
	slices.Sort(groups)
	return slices.Compact(groups), nil
}

// inSync reports whether the record already says desired is applied for
// the invitation's current role and systems, with no group of partnerops's
// left over (a changed groupTemplate leaves some).
func inSync(rec *v1alpha1.AppliedGrants, inv *v1alpha1.PartnerInvitation, desired []string) bool {
	if rec == nil || rec.Role != string(inv.Spec.Role) || !sameSet(rec.Systems, systemKeys(inv)) {
		return false
	}
	want := sets.New(desired...)
	for _, g := range rec.Groups {
		if !want.Has(g) {
			return false
		}
	}
	return true
}

func systemKeys(inv *v1alpha1.PartnerInvitation) []string {
	out := make([]string, len(inv.Spec.Systems))
	for i, s := range inv.Spec.Systems {
		out[i] = string(s)
	}
	slices.Sort(out)
	return out
}

func sameSet(a, b []string) bool {
	return sets.New(a...).Equal(sets.New(b...))
}

// grantsSettled: GrantsSynced says the record holds, or says that a group
// was refused (GroupNotManaged, which stays until the spec changes and is
// no reason to call the backend again).
func grantsSettled(inv *v1alpha1.PartnerInvitation) bool {
	c := findCondition(&inv.Status, v1alpha1.ConditionGrantsSynced)
	return c != nil && (c.Status == metav1.ConditionTrue || notManagedStands(inv))
}

// notManagedStands: a GroupNotManaged refusal was reported for the current
// generation; it is kept until the spec changes, so the admin sees it.
func notManagedStands(inv *v1alpha1.PartnerInvitation) bool {
	c := findCondition(&inv.Status, v1alpha1.ConditionGrantsSynced)
	return c != nil && c.Reason == v1alpha1.ReasonGroupNotManaged && c.ObservedGeneration == inv.Generation
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func appliedMessage(inv *v1alpha1.PartnerInvitation, desired []string, rec *v1alpha1.AppliedGrants) string {
	if len(desired) == 0 {
		return fmt.Sprintf("%s holds no system, so no group", inv.Spec.Email)
	}
	msg := fmt.Sprintf("%s is a member of %s", inv.Spec.Email, strings.Join(desired, ", "))
	if rec != nil && len(rec.Groups) < len(desired) {
		msg += fmt.Sprintf(" (%d membership(s) predate partnerops and are left alone)", len(desired)-len(rec.Groups))
	}
	return msg
}

func grantErrorMessage(revoking bool, err error) string {
	what := "Applying the grants"
	if revoking {
		what = "Revoking the grants"
	}
	return fmt.Sprintf("%s failed, retrying: %v", what, err)
}

// templateGroups are the group names the groupTemplate yields for inv's
// namespace and account, over every role and system of the catalogue and
// the role and systems the record says were applied (a catalogue entry
// removed since still leaves its groups to revoke). A record value that is
// not a valid catalogue key is not used.
func templateGroups(cfg *config.Config, inv *v1alpha1.PartnerInvitation, rec *v1alpha1.AppliedGrants) sets.Set[string] {
	roles, systems := sets.New[string](), sets.New[string]()
	for _, e := range cfg.Catalogue.Roles {
		roles.Insert(e.Key)
	}
	for _, e := range cfg.Catalogue.Systems {
		systems.Insert(e.Key)
	}
	if config.IsCatalogueKey(rec.Role) {
		roles.Insert(rec.Role)
	}
	for _, sys := range rec.Systems {
		if config.IsCatalogueKey(sys) {
			systems.Insert(sys)
		}
	}
	out := sets.New[string]()
	for _, role := range sets.List(roles) {
		for _, sys := range sets.List(systems) {
			g, err := config.RenderGroup(cfg.IdentityBackend.GroupTemplate, config.GrantFields{
				Namespace: inv.Namespace, Account: inv.AccountName(), System: sys, Role: role,
			})
			if err == nil {
				out.Insert(g)
			}
		}
	}
	return out
}
