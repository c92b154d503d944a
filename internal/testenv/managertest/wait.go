package managertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Eventually polls cond every 20ms until it holds, for at most 30s.
func (m *Manager) Eventually(what string, cond func() bool) {
	m.T.Helper()
	m.EventuallyWithin(30*time.Second, what, cond)
}

// EventuallyWithin is Eventually with another bound, for bulk work.
func (m *Manager) EventuallyWithin(d time.Duration, what string, cond func() bool) {
	m.T.Helper()
	m.poll(d, m.Step, what, cond)
}

// EventuallyStepping is Eventually moving the fake clock by step after
// each poll that finds cond false, so that backoff retries (queued on that
// clock) come due.
func (m *Manager) EventuallyStepping(what string, step time.Duration, cond func() bool) {
	m.T.Helper()
	m.poll(30*time.Second, step, what, cond)
}

func (m *Manager) poll(d, step time.Duration, what string, cond func() bool) {
	m.T.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			m.T.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
		if step > 0 {
			m.Clock.Step(step)
		}
	}
}

// StepTo moves the fake clock to `at` once a controller waits on it.
func (m *Manager) StepTo(at time.Time) {
	m.T.Helper()
	m.Eventually("the controller to wait on the clock", m.Clock.HasWaiters)
	m.Clock.SetTime(at)
}

// Events lists the Events recorded for the object name of the namespace,
// as "Type Reason: note", sorted.
func (m *Manager) Events(name string) []string {
	m.T.Helper()
	var list eventsv1.EventList
	if err := m.Env.Client.List(context.Background(), &list, client.InNamespace(m.NS)); err != nil {
		m.T.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Type+" "+e.Reason+": "+e.Note)
		}
	}
	slices.Sort(out)
	return out
}

// WaitEvent waits for an Event about name whose "Type Reason: note"
// contains want.
func (m *Manager) WaitEvent(name, want string) {
	m.T.Helper()
	m.Eventually("an Event "+want+" for "+name, func() bool {
		return slices.ContainsFunc(m.Events(name), func(e string) bool { return strings.Contains(e, want) })
	})
}

// Settle waits until both controllers have gone quiet: their reconcile
// counts and workers did not move for half a second. (The queue gauges are
// shared by every manager the test process ran, and a stopped manager may
// leave them above zero, so they are compared, not required to be zero.)
func (m *Manager) Settle() {
	m.T.Helper()
	last, stable := -1.0, 0
	m.Eventually("the controllers to go idle", func() bool {
		r := 0.0
		for _, c := range []string{"partneraccount", "partnerinvitation"} {
			r += Reconciles(m.T, c) + Metric(m.T, "controller_runtime_active_workers", map[string]string{"controller": c}) +
				Metric(m.T, "workqueue_depth", map[string]string{"name": c})
		}
		if r == last {
			stable++
		} else {
			stable = 0
		}
		last = r
		return stable >= 25
	})
}

// RestartIsFree restarts the manager over the settled objects of the test
// and fails the test when the restart made an API write, sent an email or
// called the identity backend: it waits (within d) until controller
// ("partnerinvitation", "partneraccount") reconciled n objects, as every
// object is at start, then for both controllers to go quiet.
func (m *Manager) RestartIsFree(controller string, n int, d time.Duration) {
	m.T.Helper()
	m.Settle()
	emails, calls := m.emails(), m.backendCalls()
	before := Reconciles(m.T, controller)
	m.Restart()
	m.EventuallyWithin(d, fmt.Sprintf("the new manager to reconcile %d objects", n), func() bool { return Reconciles(m.T, controller)-before >= float64(n) })
	m.Settle()
	if w := m.Requests.Writes(); len(w) != 0 {
		m.T.Errorf("the restart made API writes: %v", w)
	}
	if got := m.emails(); got != emails {
		m.T.Errorf("the restart sent %d emails", got-emails)
	}
	if got := m.backendCalls(); got != calls {
		m.T.Errorf("the restart made %d backend calls", got-calls)
	}
}

func (m *Manager) emails() int {
	if m.Sender == nil {
		return 0
	}
	return m.Sender.Attempts()
}

func (m *Manager) backendCalls() int {
	if m.Backend == nil {
		return 0
	}
	return m.Backend.Calls()
}
