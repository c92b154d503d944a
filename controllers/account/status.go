package account

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// This file sets the account's status from what one reconcile saw: the
// members, the counts, the state and the conditions (Ready, kstatus's
// Reconciling and Stalled, InvitationsNeedAttention), whose
// lastTransitionTime only moves when their status moves.

// setStatus fills the account's status from the invitations naming it and
// the reconcile's findings.
func setStatus(acct *v1alpha1.PartnerAccount, s *scope) {
	st := &acct.Status
	invs := append(slices.Clip(s.invs), s.created...)
	st.Members = members(invs)
	st.MemberCount = int32(len(st.Members))
	st.Invitations = countInvitations(invs, s.now)
	st.State = accountState(invs, s.now)
	exp, fail := needAttention(invs, s.now)
	setAttention(acct, exp, fail, s.now)
	setReady(acct, readyInput{
		users:    len(acct.Spec.Users),
		deleting: !acct.DeletionTimestamp.IsZero(),
		policy:   acct.Spec.DeletionPolicy,
		holders:  s.holders,
		plan:     s.plan,
		refused:  s.refused,
		invalid:  invalid(invs),
		unsynced: unsynced(invs),
		state:    st.State,
		expired:  exp,
		failed:   fail,
	}, s.now)
	st.ObservedGeneration = acct.Generation
}

func setReady(acct *v1alpha1.PartnerAccount, in readyInput, now time.Time) {
	ok, reason, msg := readiness(in)
	setCondition(acct, v1alpha1.ConditionReady, ok, reason, msg, now)
	setProgress(acct, ok, reason, msg, now)
}

// setProgress sets kstatus's Reconciling and Stalled from the Ready
// decision: the one that holds is True with Ready's reason and message,
// the other False (both False when Ready is True).
func setProgress(acct *v1alpha1.PartnerAccount, ok bool, reason, msg string, now time.Time) {
	reconciling, stalled := progress(ok, reason)
	switch {
	case reconciling:
		setCondition(acct, v1alpha1.ConditionReconciling, true, reason, msg, now)
		setCondition(acct, v1alpha1.ConditionStalled, false, v1alpha1.ReasonNotStalled, "Not stalled: the controller is working on it (see Reconciling)", now)
	case stalled:
		setCondition(acct, v1alpha1.ConditionReconciling, false, v1alpha1.ReasonNotReconciling, "Nothing moves until someone acts (see Stalled)", now)
		setCondition(acct, v1alpha1.ConditionStalled, true, reason, msg, now)
	default:
		setCondition(acct, v1alpha1.ConditionReconciling, false, v1alpha1.ReasonNotReconciling, "Nothing left to do: "+msg, now)
		setCondition(acct, v1alpha1.ConditionStalled, false, v1alpha1.ReasonNotStalled, "Nothing needs someone to act", now)
	}
}

// setAttention sets the InvitationsNeedAttention condition.
func setAttention(acct *v1alpha1.PartnerAccount, expired, failed []*v1alpha1.PartnerInvitation, now time.Time) {
	needed, reason, msg := attention(expired, failed)
	setCondition(acct, v1alpha1.ConditionInvitationsNeedAttention, needed, reason, msg, now)
}

// setCondition sets one condition for the account's current generation;
// lastTransitionTime moves only when its status moves.
func setCondition(acct *v1alpha1.PartnerAccount, typ string, ok bool, reason, msg string, now time.Time) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&acct.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: acct.Generation, LastTransitionTime: metav1.NewTime(now),
	})
}

func readyCondition(acct *v1alpha1.PartnerAccount) *metav1.Condition {
	return meta.FindStatusCondition(acct.Status.Conditions, v1alpha1.ConditionReady)
}
