package testenv

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/token"
)

// MarkAccepted changes inv's status the way the acceptance page records an
// acceptance at `at`: state Accepted, acceptedAt, the Accepted and Ready
// conditions, and the acceptance proof made with the link-signing keys the
// manager keeps in the Secret config.DefaultTokenKeysSecret of
// secretNamespace (the manager must have started once). A
// status.signedInAs the caller set is covered by the proof, as the page
// covers who signed in. The caller writes the status.
func MarkAccepted(ctx context.Context, c client.Reader, secretNamespace string, inv *v1alpha1.PartnerInvitation, at time.Time) error {
	now := metav1.NewTime(at.UTC().Truncate(time.Second))
	proof, err := AcceptanceProof(ctx, c, secretNamespace, inv, now.Time)
	if err != nil {
		return err
	}
	inv.Status.State, inv.Status.AcceptedAt, inv.Status.AcceptanceProof = v1alpha1.InvitationAccepted, &now, proof
	setCondition(inv, v1alpha1.ConditionAccepted, "Accepted at "+now.UTC().Format(time.RFC3339), now)
	setCondition(inv, v1alpha1.ConditionReady, "The partner accepted", now)
	return nil
}

// AcceptanceProof is the proof the acceptance page would write for inv
// accepted at `at`, made with the keys of the manager's keys Secret.
func AcceptanceProof(ctx context.Context, c client.Reader, secretNamespace string, inv *v1alpha1.PartnerInvitation, at time.Time) (*v1alpha1.AcceptanceProof, error) {
	sec := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: secretNamespace, Name: config.DefaultTokenKeysSecret}, sec); err != nil {
		return nil, fmt.Errorf("reading the link-signing keys: %w", err)
	}
	keys, err := token.ParseKeys(sec.Data)
	if err != nil {
		return nil, err
	}
	a := token.Acceptance{
		UID: string(inv.UID), Resend: inv.Status.ObservedResend, Email: string(inv.Spec.Email), AcceptedAt: at,
		Account: inv.AccountUIDByDomain(),
	}
	if si := inv.Status.SignedInAs; si != nil {
		a.Issuer, a.Subject = si.Issuer, si.Subject
	}
	p, err := token.NewSigner(token.StaticKeys{K: keys}, clocktesting.NewFakePassiveClock(at)).ProveAcceptance(ctx, a)
	if err != nil {
		return nil, err
	}
	return &v1alpha1.AcceptanceProof{KeyID: p.KeyID, MAC: p.MAC}, nil
}

func setCondition(inv *v1alpha1.PartnerInvitation, typ, msg string, now metav1.Time) {
	meta.SetStatusCondition(&inv.Status.Conditions, metav1.Condition{
		Type: typ, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAccepted, Message: msg,
		ObservedGeneration: inv.Generation, LastTransitionTime: now,
	})
}
