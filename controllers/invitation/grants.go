package invitation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/token"
)

// This file keeps the identity backend in step with an invitation: an
// accepted invitation's user is a member of one group per system (for its
// role); any other state, a deletion, or the account's deletion, takes the
// memberships partnerops made away again. status.appliedGrants records what
// was applied, so an edit is a diff and a restart costs nothing.

// grantsPlan is what the backend should hold for an invitation.
type grantsPlan struct {
	// desired are the groups the user must be a member of; empty means
	// none (revoke what partnerops made).
	desired []string
	// member: the user is (still) an accepted partner user. Even with no
	// group left (no system), the backend user partnerops created is kept:
	// systems given back later reuse it.
	member bool
	// retain: the account is being deleted with deletionPolicy Retain;
	// leave the backend as it is and stop managing these grants.
	retain bool
}

// resyncSchedule remembers, per invitation, when its grants are next
// checked against the backend. It lives in memory: after a restart each
// accepted invitation is checked once at a random moment within the resync
// interval, so a restart costs no burst of backend calls and no API write.
type resyncSchedule struct {
	mu   sync.Mutex
	next map[types.UID]time.Time
}

// due reports whether uid's grants should be checked now; when not, how
// long until they should.
func (r *resyncSchedule) due(uid types.UID, now time.Time, every time.Duration) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		r.next = map[types.UID]time.Time{}
	}
	next, ok := r.next[uid]
	if !ok {
		next = now.Add(time.Duration(rand.Int64N(int64(every)) + 1))
		r.next[uid] = next
	}
	if now.Before(next) {
		return false, next.Sub(now)
	}
	return true, 0
}

func (r *resyncSchedule) checked(uid types.UID, now time.Time, every time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		r.next = map[types.UID]time.Time{}
	}
	r.next[uid] = now.Add(every)
}

func (r *resyncSchedule) forget(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.next, uid)
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
			Namespace: inv.Namespace, Account: inv.Spec.Account, System: string(sys), Role: string(inv.Spec.Role),
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

// planGrants decides what the backend should hold for s.inv: its groups
// when it is accepted (and its account stays), nothing otherwise; a problem
// when the grants cannot be computed (an unknown role or system) or the
// acceptance is not proven (its proof does not verify: nothing is granted
// on status someone else could have written). err: the keys could not be
// read.
func (r *Reconciler) planGrants(ctx context.Context, s *scope) (*grantsPlan, *problem, error) {
	if s.accountDeleting && s.account != nil && s.account.Spec.DeletionPolicy == v1alpha1.DeletionPolicyRetain {
		return &grantsPlan{retain: true}, nil, nil
	}
	if s.inv.Status.State != v1alpha1.InvitationAccepted || !s.inv.DeletionTimestamp.IsZero() {
		return &grantsPlan{}, nil, nil
	}
	switch err := r.verifyAcceptance(ctx, s.inv); {
	case errors.Is(err, token.ErrProofInvalid):
		return nil, &problem{v1alpha1.ReasonAcceptanceUnverified, fmt.Sprintf(
			"the invitation says Accepted but its acceptance proof does not verify (%v): only the acceptance page records a partner's consent; find who wrote this status", err)}, nil
	case err != nil:
		return nil, nil, fmt.Errorf("verifying the acceptance: %w", err)
	}
	if err := r.reprove(ctx, s.inv); err != nil {
		return nil, nil, err
	}
	desired, prob := desiredGroups(s.inv, r.Config)
	if prob != nil {
		return nil, prob, nil
	}
	return &grantsPlan{desired: desired, member: true}, nil, nil
}

// reprove makes a verified acceptance proof anew with the current key when
// another (older) key made it: after a key is added to the keys Secret,
// every member's proof moves to it within one resync interval, so the old
// key can be removed without unverifying anyone. The same key gives the
// same MAC, so a proof already current costs no write.
func (r *Reconciler) reprove(ctx context.Context, inv *v1alpha1.PartnerInvitation) error {
	st := &inv.Status
	p, err := r.Signer.ProveAcceptance(ctx, acceptanceOf(inv))
	if err != nil {
		return fmt.Errorf("renewing the acceptance proof: %w", err)
	}
	if cur := st.AcceptanceProof; cur == nil || cur.KeyID != p.KeyID || cur.MAC != p.MAC {
		st.AcceptanceProof = &v1alpha1.AcceptanceProof{KeyID: p.KeyID, MAC: p.MAC}
	}
	return nil
}

// syncGrants brings the backend in step with the plan, recording progress
// in s.inv.Status.AppliedGrants and the GrantsSynced condition. Backend
// calls happen only when the record differs from the plan, or when the
// periodic resync is due. before is kept in step with any metadata write
// (the finalizer), so the caller's status patch still applies.
func (r *Reconciler) syncGrants(ctx context.Context, s *scope, before *v1alpha1.PartnerInvitation) error {
	inv := s.inv
	plan, prob, err := r.planGrants(ctx, s)
	if err != nil {
		return err
	}
	if prob != nil {
		setGrants(inv, false, prob.Reason, "Grants not changed: "+prob.Message, s.now)
		return nil
	}
	rec := inv.Status.AppliedGrants
	if plan.retain {
		if rec != nil {
			inv.Status.AppliedGrants = nil
			setGrants(inv, true, v1alpha1.ReasonGrantsRetained, fmt.Sprintf(
				"The account was deleted with deletionPolicy Retain: %s stays in %d group(s) of the identity backend, no longer managed by partnerops",
				inv.Spec.Email, len(rec.Groups)), s.now)
		}
		r.resync.forget(inv.UID)
		s.releaseFinalizer = true
		return nil
	}
	if len(plan.desired) == 0 && rec == nil {
		r.resync.forget(inv.UID)
		s.releaseFinalizer = true
		return nil // nothing (left) to revoke
	}
	if plan.member {
		if inSync(rec, inv, plan.desired) && grantsSettled(inv) && controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer) {
			due, wait := r.resync.due(inv.UID, s.now, r.Config.IdentityBackend.ResyncInterval.Duration)
			if !due {
				s.requeueAfter(wait)
				return nil
			}
		}
	}
	if len(plan.desired) > 0 {
		// Grants go only to a user of an account that holds them back on
		// deletion (its finalizer); the account controller adds it once a
		// member accepted, and that update brings us back here.
		if s.account == nil || !controllerutil.ContainsFinalizer(s.account, v1alpha1.GrantsFinalizer) {
			return nil
		}
		// The finalizer first, so that a deletion from now on revokes.
		if err := r.ensureFinalizer(ctx, inv, before); err != nil {
			return err
		}
	}

	next, refused, err := r.applyGrants(ctx, s, plan)
	inv.Status.AppliedGrants = next
	if err != nil {
		reason := v1alpha1.ReasonBackendRejected
		if errors.Is(err, identity.ErrUnavailable) {
			reason = v1alpha1.ReasonBackendUnavailable
		}
		setGrants(inv, false, reason, grantErrorMessage(!plan.member, err), s.now)
		if d, ok := identity.RetryAfter(err); ok {
			s.requeueAfter(d)
			return nil
		}
		return fmt.Errorf("syncing grants: %w", err)
	}
	every := r.Config.IdentityBackend.ResyncInterval.Duration
	switch {
	case !plan.member:
		r.resync.forget(inv.UID)
		s.releaseFinalizer = true
		setGrants(inv, true, v1alpha1.ReasonGrantsRevoked, fmt.Sprintf("Removed %s from the %d group(s) partnerops had added", inv.Spec.Email, len(rec.Groups)), s.now)
	default:
		if next == nil {
			s.releaseFinalizer = true // a member with no group, and no user of partnerops's to keep
		}
		r.resync.checked(inv.UID, s.now, every)
		s.requeueAfter(every)
		if !notManagedStands(inv) {
			setGrants(inv, true, v1alpha1.ReasonGrantsApplied, appliedMessage(inv, plan.desired, next), s.now)
		}
	}
	if len(refused) > 0 {
		setGrants(inv, false, v1alpha1.ReasonGroupNotManaged, fmt.Sprintf(
			"Left alone and dropped from status.appliedGrants: %s: the groupTemplate does not yield %s for namespace %s and the catalogue, so partnerops removes no one from it",
			strings.Join(refused, ", "), plural(len(refused), "it", "them"), inv.Namespace), s.now)
	}
	return nil
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

func setGrants(inv *v1alpha1.PartnerInvitation, ok bool, reason, msg string, now time.Time) {
	set(inv, v1alpha1.ConditionGrantsSynced, boolStatus(ok), reason, msg, now)
}

// ensureFinalizer adds the grants finalizer to inv (a metadata patch with
// optimistic locking) and carries the new resourceVersion into before.
func (r *Reconciler) ensureFinalizer(ctx context.Context, inv, before *v1alpha1.PartnerInvitation) error {
	if controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer) {
		return nil
	}
	obj := &v1alpha1.PartnerInvitation{ObjectMeta: *inv.ObjectMeta.DeepCopy()}
	obj.TypeMeta = inv.TypeMeta
	orig := obj.DeepCopy()
	controllerutil.AddFinalizer(obj, v1alpha1.GrantsFinalizer)
	if err := r.Client.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding the %s finalizer: %w", v1alpha1.GrantsFinalizer, err)
	}
	inv.Finalizers, inv.ResourceVersion = obj.Finalizers, obj.ResourceVersion
	before.Finalizers, before.ResourceVersion = obj.Finalizers, obj.ResourceVersion
	return nil
}

// removeFinalizer drops the grants finalizer once nothing is left to revoke.
func (r *Reconciler) removeFinalizer(ctx context.Context, inv *v1alpha1.PartnerInvitation) error {
	if !controllerutil.ContainsFinalizer(inv, v1alpha1.GrantsFinalizer) {
		return nil
	}
	obj := &v1alpha1.PartnerInvitation{ObjectMeta: *inv.ObjectMeta.DeepCopy()}
	orig := obj.DeepCopy()
	controllerutil.RemoveFinalizer(obj, v1alpha1.GrantsFinalizer)
	if err := r.Client.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	inv.Finalizers, inv.ResourceVersion = obj.Finalizers, obj.ResourceVersion
	return nil
}

// applyGrants makes the backend hold plan.desired for the invitation's
// user, and returns the new record (nil once nothing partnerops made is
// left) and the recorded groups it refused to touch. On error the record
// says what was done before the error, so nothing applied is ever
// forgotten.
//
// Ownership: a membership is partnerops's when partnerops added it, when
// the user itself is partnerops's (a user partnerops created has no
// membership it did not make), or when another invitation of the same
// address records it. A membership the user had before is never recorded,
// so never removed; a user partnerops did not create is never deleted.
//
// Trust: the record is status, which a tenant may be able to write. A
// recorded group is removed only when the groupTemplate yields it for this
// invitation's namespace and the catalogue (refused otherwise), and only
// when no other live member of the same address still wants it; the user
// is looked up by the invitation's address, never by the recorded id, and
// deleted only when no invitation in any namespace holds grants for it.
func (r *Reconciler) applyGrants(ctx context.Context, s *scope, plan *grantsPlan) (*v1alpha1.AppliedGrants, []string, error) {
	inv, desired := s.inv, plan.desired
	old := inv.Status.AppliedGrants
	rec := old.DeepCopy()
	if rec == nil {
		rec = &v1alpha1.AppliedGrants{Backend: r.Config.IdentityBackend.Type}
	}
	keep := func() *v1alpha1.AppliedGrants {
		if len(rec.Groups) == 0 && len(desired) == 0 && !rec.UserCreated {
			return nil
		}
		return rec
	}
	addr := string(inv.Spec.Email)
	var (
		user identity.User
		err  error
	)
	if len(desired) > 0 {
		nu := identity.NewUser{Email: addr, DisplayName: addr}
		if s.account != nil {
			nu.Account = s.account.Spec.DisplayName
		}
		user, err = r.Backend.EnsureUser(ctx, nu)
	} else {
		user, err = r.Backend.FindUser(ctx, addr)
		if errors.Is(err, identity.ErrNotFound) {
			return nil, nil, nil // the user is gone, and its memberships with it
		}
	}
	if err != nil {
		return old, nil, err
	}
	rec.UserID, rec.UserCreated = user.ID, user.Managed
	others, err := r.sameAddress(ctx, inv, "")
	if err != nil {
		return old, nil, err
	}
	current, err := r.Backend.Groups(ctx, user)
	if err != nil {
		return keep(), nil, err
	}
	has := sets.New(current...)
	mine := sets.New(rec.Groups...)
	var refused []string
	if mine.Len() > 0 {
		ours := r.templateGroups(inv, rec)
		for _, g := range sets.List(mine) {
			if !ours.Has(g) {
				refused = append(refused, g)
				mine.Delete(g)
			}
		}
	}
	changed := len(refused) > 0
	record := func() { rec.Groups = sets.List(mine) }
	for _, g := range desired {
		switch {
		case !has.Has(g):
			if err := r.Backend.AddMember(ctx, g, user); err != nil {
				record()
				return keep(), refused, fmt.Errorf("adding %s to group %q: %w", addr, g, err)
			}
			mine.Insert(g)
			changed = true
		case !mine.Has(g) && (user.Managed || recordedBySibling(inv, others, g)):
			mine.Insert(g)
			changed = true
		}
	}
	want := sets.New(desired...)
	for _, g := range sets.List(mine.Difference(want)) {
		wanted, err := r.wantedByOther(ctx, others, g)
		if err != nil {
			record()
			return keep(), refused, err
		}
		if !wanted {
			if err := r.Backend.RemoveMember(ctx, g, user); err != nil {
				record()
				return keep(), refused, fmt.Errorf("removing %s from group %q: %w", addr, g, err)
			}
		}
		// Wanted by another member: it stays, and is that member's to
		// remove (it records it too).
		mine.Delete(g)
		changed = true
	}
	record()
	if !plan.member {
		if user.Managed {
			if err := r.deleteUserIfUnheld(ctx, user, others); err != nil {
				return keep(), refused, fmt.Errorf("deleting the user %s partnerops had created: %w", addr, err)
			}
		}
		return nil, refused, nil
	}
	rec.Role, rec.Systems = string(inv.Spec.Role), systemKeys(inv)
	if changed || rec.SyncedAt == nil || old == nil || old.UserID != rec.UserID || old.Role != rec.Role || !sameSet(old.Systems, rec.Systems) {
		t := metav1.NewTime(s.now.UTC().Truncate(time.Second))
		rec.SyncedAt = &t
	}
	return keep(), refused, nil
}

// deleteUserIfUnheld deletes a user partnerops created once it is a
// member of no group and no other invitation of its address, in any
// namespace, holds grants for it (nor is a member about to).
func (r *Reconciler) deleteUserIfUnheld(ctx context.Context, user identity.User, others []v1alpha1.PartnerInvitation) error {
	held, err := r.userHeldElsewhere(ctx, others)
	if err != nil || held {
		return err
	}
	left, err := r.Backend.Groups(ctx, user)
	if err != nil || len(left) > 0 {
		return err
	}
	return r.Backend.DeleteUser(ctx, user)
}

// templateGroups are the group names the groupTemplate yields for inv's
// namespace and account, over every role and system of the catalogue and
// the role and systems the record says were applied (a catalogue entry
// removed since still leaves its groups to revoke). A record value that is
// not a valid catalogue key is not used.
func (r *Reconciler) templateGroups(inv *v1alpha1.PartnerInvitation, rec *v1alpha1.AppliedGrants) sets.Set[string] {
	roles, systems := sets.New[string](), sets.New[string]()
	for _, e := range r.Config.Catalogue.Roles {
		roles.Insert(e.Key)
	}
	for _, e := range r.Config.Catalogue.Systems {
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
			g, err := config.RenderGroup(r.Config.IdentityBackend.GroupTemplate, config.GrantFields{
				Namespace: inv.Namespace, Account: inv.Spec.Account, System: sys, Role: role,
			})
			if err == nil {
				out.Insert(g)
			}
		}
	}
	return out
}

// recordGrantsTransition records an Event when GrantsSynced moves.
func (r *Reconciler) recordGrantsTransition(before, after *v1alpha1.PartnerInvitation) {
	if r.Recorder == nil {
		return
	}
	b := findCondition(&before.Status, v1alpha1.ConditionGrantsSynced)
	a := findCondition(&after.Status, v1alpha1.ConditionGrantsSynced)
	if a == nil || (b != nil && b.Status == a.Status && b.Reason == a.Reason && b.Message == a.Message) {
		return
	}
	typ := corev1.EventTypeNormal
	if a.Status != metav1.ConditionTrue {
		typ = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(after, nil, typ, a.Reason, "SyncGrants", "%s", a.Message)
}
