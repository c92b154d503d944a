package invitation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/index"
	"github.com/partnerops/partnerops/internal/token"
)

// This file answers the questions an invitation asks about the other
// invitations of its address, read from the cache through the
// index.InvitationEmail index (one lookup each): which one is live in the
// namespace, and whether anyone else still wants a membership or holds the
// backend user before partnerops removes it. Shared things are counted:
// one removal never breaks another partner user's access.

// sameAddress lists the other invitations of inv's address (compared
// without case): in namespace, or in every namespace when it is "".
func (r *Reconciler) sameAddress(ctx context.Context, inv *v1alpha1.PartnerInvitation, namespace string) ([]v1alpha1.PartnerInvitation, error) {
	var list v1alpha1.PartnerInvitationList
	opts := []client.ListOption{client.MatchingFields{index.InvitationEmail: v1alpha1.NormalizeEmail(string(inv.Spec.Email))}}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing the invitations of %s: %w", inv.Spec.Email, err)
	}
	out := list.Items[:0]
	for _, o := range list.Items {
		if o.UID != inv.UID {
			out = append(out, o)
		}
	}
	return out, nil
}

// verifyAcceptance checks inv's acceptance proof: nil when it verifies, an
// error wrapping token.ErrProofInvalid when it does not, another error when
// the keys cannot be read.
func (r *Reconciler) verifyAcceptance(ctx context.Context, inv *v1alpha1.PartnerInvitation) error {
	st := &inv.Status
	if st.AcceptedAt == nil {
		return fmt.Errorf("%w: no acceptedAt", token.ErrProofInvalid)
	}
	var p token.Proof
	if st.AcceptanceProof != nil {
		p = token.Proof{KeyID: st.AcceptanceProof.KeyID, MAC: st.AcceptanceProof.MAC}
	}
	return r.Signer.VerifyAcceptance(ctx, acceptanceOf(inv), p)
}

// reprove is the acceptance proof of a verified inv made anew with the
// current key: after a key is added to the keys Secret, each member's
// proof moves to it at its next reconcile (within one resync interval), so
// the old key can be removed without unverifying anyone. The same key
// gives the same MAC, so a proof already current costs no write.
func (r *Reconciler) reprove(ctx context.Context, inv *v1alpha1.PartnerInvitation) (*v1alpha1.AcceptanceProof, error) {
	p, err := r.Signer.ProveAcceptance(ctx, acceptanceOf(inv))
	if err != nil {
		return nil, fmt.Errorf("renewing the acceptance proof: %w", err)
	}
	return &v1alpha1.AcceptanceProof{KeyID: p.KeyID, MAC: p.MAC}, nil
}

// verified tells a proof check's result apart: nil (verifies), a bad
// proof (returned as the input's proof error), or a failure to check
// (returned as err).
func verified(err error) (proof, failure error) {
	if err == nil || errors.Is(err, token.ErrProofInvalid) {
		return err, nil
	}
	return nil, err
}

// acceptanceOf is what inv's acceptance proof binds.
func acceptanceOf(inv *v1alpha1.PartnerInvitation) token.Acceptance {
	st := &inv.Status
	a := token.Acceptance{UID: string(inv.UID), Resend: st.ObservedResend, Email: string(inv.Spec.Email), Account: inv.AccountUIDByDomain()}
	if st.AcceptedAt != nil {
		a.AcceptedAt = st.AcceptedAt.Time
	}
	if st.SignedInAs != nil {
		a.Issuer, a.Subject = st.SignedInAs.Issuer, st.SignedInAs.Subject
	}
	return a
}

// member says whether o is a live, verified member: accepted with a proof
// that verifies, not withdrawn and not going away. A status someone wrote
// by hand never counts.
func (r *Reconciler) member(ctx context.Context, o *v1alpha1.PartnerInvitation) (bool, error) {
	if o.Status.State != v1alpha1.InvitationAccepted || !o.DeletionTimestamp.IsZero() || o.Spec.Revoked {
		return false, nil
	}
	switch err := r.verifyAcceptance(ctx, o); {
	case err == nil:
		return true, nil
	case errors.Is(err, token.ErrProofInvalid):
		return false, nil
	default:
		return false, err
	}
}

// wantedByOther says whether another live member of the same address
// wants group (its role and systems map to it).
func (r *Reconciler) wantedByOther(ctx context.Context, others []v1alpha1.PartnerInvitation, group string) (bool, error) {
	for i := range others {
		o := &others[i]
		if want, p := desiredGroups(o, r.Config); p != nil || !slices.Contains(want, group) {
			continue // not wanted by o: no need to check o's proof
		}
		if ok, err := r.member(ctx, o); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// userHeldElsewhere says whether another invitation of the same address,
// in any namespace, holds grants for the backend user (its record) or is a
// live member about to (it carries the grants finalizer). One on its way out for good (deleted, withdrawn,
// revoked) does not hold it, whatever its record still says: two leaving
// at once would each see the other's record (the cache lags a write) and
// both leave the user behind. Its memberships are still there while it
// leaves, and a user is deleted only once it is in no group: the last of
// them out deletes it.
func (r *Reconciler) userHeldElsewhere(ctx context.Context, others []v1alpha1.PartnerInvitation) (bool, error) {
	for i := range others {
		o := &others[i]
		if !o.DeletionTimestamp.IsZero() || o.Spec.Revoked || terminal(&o.Status) {
			continue
		}
		if o.Status.AppliedGrants != nil {
			return true, nil
		}
		if !controllerutil.ContainsFinalizer(o, v1alpha1.GrantsFinalizer) {
			// A member without it has made no grant and holds nothing (no
			// system yet, say): counting it would leave the user behind
			// for good, since it never asks the backend when it leaves.
			continue
		}
		ok, err := r.member(ctx, o)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// recordedBySibling says whether another invitation of the same address
// in inv's namespace records group as a membership partnerops made: then it
// is partnerops's for inv too, and whichever of them leaves last removes it.
func recordedBySibling(inv *v1alpha1.PartnerInvitation, others []v1alpha1.PartnerInvitation, group string) bool {
	for i := range others {
		o := &others[i]
		if o.Namespace == inv.Namespace && o.Status.AppliedGrants != nil && slices.Contains(o.Status.AppliedGrants.Groups, group) {
			return true
		}
	}
	return false
}

// keyedMutex is one mutex per key, kept only while someone holds or waits
// for it.
type keyedMutex struct {
	mu   sync.Mutex
	held map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	waiters int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.held == nil {
		k.held = map[string]*keyedLock{}
	}
	l := k.held[key]
	if l == nil {
		l = &keyedLock{}
		k.held[key] = l
	}
	l.waiters++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.waiters--; l.waiters == 0 {
			delete(k.held, key)
		}
		k.mu.Unlock()
	}
}
