package main

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
)

// This file measures the floors: what the API server and the mail server
// do for a plain client, with nothing of partnerops in between.

// parallel runs f(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// apiFloor creates n invitations and patches the status of each once (the
// patch partnerops's send writes: PendingApproval, sentAt, expiresAt and
// the conditions, with optimistic locking) from a plain client with
// workers goroutines, in namespaces the manager does not serve. It
// returns the time of the creates and patches. With withEvent, each
// invitation also gets the Event a send records (events.k8s.io, as the
// manager's recorder writes it), named after invitations first+i.
func apiFloor(ctx context.Context, c client.Client, namespaces []string, first, n, workers int, withEvent bool) (time.Duration, error) {
	start := time.Now()
	err := parallel(n, workers, func(i int) error {
		inv := newInvitation(namespaces[i%len(namespaces)], first+i)
		if err := c.Create(ctx, inv); err != nil {
			return fmt.Errorf("floor: creating %s: %w", inv.Name, err)
		}
		before := inv.DeepCopy()
		now := metav1.Now()
		exp := metav1.NewTime(now.Add(168 * time.Hour).Truncate(time.Second))
		// The status a send writes, field for field: the product's
		// conditions (kstatus's Reconciling and Stalled included) and the
		// account it belongs to.
		st := &inv.Status
		st.State, st.SentAt, st.ExpiresAt, st.ObservedGeneration = v1alpha1.InvitationPendingApproval, &now, &exp, inv.Generation
		st.Account, st.AccountUID = inv.Spec.Account, floorAccountUID
		sent := "Sent to " + string(inv.Spec.Email) + "; waiting for the partner to accept"
		for _, cond := range []struct{ typ, status, reason, msg string }{
			{v1alpha1.ConditionEmailSent, "True", v1alpha1.ReasonSent, "Sent to " + string(inv.Spec.Email) + " at " + now.UTC().Format(time.RFC3339)},
			{v1alpha1.ConditionAccepted, "False", v1alpha1.ReasonAwaitingAcceptance, "The partner has not accepted yet"},
			{v1alpha1.ConditionExpired, "False", v1alpha1.ReasonNotExpired, "The link is valid until " + exp.UTC().Format(time.RFC3339)},
			{v1alpha1.ConditionReady, "True", v1alpha1.ReasonAwaitingAcceptance, sent},
			{v1alpha1.ConditionReconciling, "False", v1alpha1.ReasonNotReconciling, "Nothing left to do: " + sent},
			{v1alpha1.ConditionStalled, "False", v1alpha1.ReasonNotStalled, "Nothing needs someone to act"},
		} {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: cond.typ, Status: metav1.ConditionStatus(cond.status),
				Reason: cond.reason, Message: cond.msg, ObservedGeneration: inv.Generation, LastTransitionTime: now})
		}
		if err := c.Status().Patch(ctx, inv, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("floor: patching the status of %s: %w", inv.Name, err)
		}
		if !withEvent {
			return nil
		}
		ev := &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: inv.Namespace, Name: fmt.Sprintf("%s.%x", inv.Name, now.UnixNano())},
			EventTime:  metav1.NewMicroTime(now.Time), ReportingController: "partnerops.dev/bench-floor", ReportingInstance: "bench",
			Action: "Send", Reason: "Sent", Type: "Normal",
			Regarding: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "PartnerInvitation",
				Namespace: inv.Namespace, Name: inv.Name, UID: inv.UID, ResourceVersion: inv.ResourceVersion},
			Note: "Invitation sent to " + string(inv.Spec.Email) + "; the link is valid until " + exp.UTC().Format(time.RFC3339),
		}
		if err := c.Create(ctx, ev); err != nil {
			return fmt.Errorf("floor: recording the Event of %s: %w", inv.Name, err)
		}
		return nil
	})
	took := time.Since(start)
	return took, err
}

// floorAccountUID stands for the UID of the account a sent invitation
// records in status.accountUID.
const floorAccountUID = "3f1c2a64-7d0e-4b8a-9c55-0e2f6b1d9a37"

// patchFloor patches once more the status of the floor's invitations idx
// (created by apiFloor) from a plain client with workers goroutines: the
// write an expiry or an acceptance makes. It returns the time of all and
// the latency of each.
func patchFloor(ctx context.Context, c client.Client, namespaces []string, idx []int, workers int) (time.Duration, []time.Duration, error) {
	lat := make([]time.Duration, len(idx))
	start := time.Now()
	err := parallel(len(idx), workers, func(k int) error {
		i := idx[k]
		inv := &v1alpha1.PartnerInvitation{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespaces[i%len(namespaces)], Name: invName(i)}, inv); err != nil {
			return err
		}
		before := inv.DeepCopy()
		now := metav1.Now()
		inv.Status.State = v1alpha1.InvitationExpired
		meta.SetStatusCondition(&inv.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionExpired, Status: metav1.ConditionTrue,
			Reason: "Expired", Message: "The link expired at " + now.UTC().Format(time.RFC3339), ObservedGeneration: inv.Generation, LastTransitionTime: now})
		t0 := time.Now()
		if err := c.Status().Patch(ctx, inv, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("floor: patching the status of %s: %w", inv.Name, err)
		}
		lat[k] = time.Since(t0)
		return nil
	})
	return time.Since(start), lat, err
}

// deleteFloor deletes the floor's invitations.
func deleteFloor(ctx context.Context, c client.Client, namespaces []string) error {
	for _, ns := range namespaces {
		if err := c.DeleteAllOf(ctx, &v1alpha1.PartnerInvitation{}, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("floor: deleting the invitations of %s: %w", ns, err)
		}
	}
	return nil
}

// smtpFloor sends n messages of an invitation email's size to the mail
// server over conns connections kept open (RSET between messages), and
// returns the time it took.
func smtpFloor(addr string, n, conns int) (time.Duration, error) {
	body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "internal", "i18n", "testdata", "en.golden"))
	if err != nil {
		return 0, err
	}
	clients := make([]*smtp.Client, conns)
	for i := range clients {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return 0, err
		}
		host, _, _ := net.SplitHostPort(addr)
		if clients[i], err = smtp.NewClient(conn, host); err != nil {
			return 0, err
		}
		if err := clients[i].Hello("bench.localhost"); err != nil {
			return 0, err
		}
	}
	defer func() {
		for _, c := range clients {
			_ = c.Quit()
		}
	}()
	var next atomic.Int64
	start := time.Now()
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := sendRaw(c, i, body); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return took, fmt.Errorf("SMTP floor: %w", err)
		}
	}
	return took, nil
}

func sendRaw(c *smtp.Client, i int, body []byte) error {
	to := "floor" + strconv.Itoa(i) + "@partner.example"
	if err := c.Mail("partners@acme.example"); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	hdr := fmt.Sprintf("From: partners@acme.example\r\nTo: %s\r\nSubject: floor %d\r\nMessage-ID: <floor.%d@acme.example>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n", to, i, i)
	if _, err := w.Write([]byte(hdr)); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Reset()
}
