package main

// The timed phases of a run, in the order run calls them.

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// floors measures what a plain client gets from the same API server and
// the same mail server, before the manager starts.
func (b *bench) floors(ctx context.Context) (err error) {
	o, c, res, workers := b.o, b.c, b.res, b.workers
	logf("API floor: %d creates + %d status patches, %d workers", o.n, o.n, workers)
	end := res.measure("API floor: creates + status patches")
	if res.apiFloor, err = apiFloor(ctx, c, b.floorNS, 0, o.n, workers, false); err != nil {
		return err
	}
	end()
	end = res.measure("API floor: creates + status patches + Events")
	if res.eventFloor, err = apiFloor(ctx, c, b.floorNS, o.n, o.n, workers, true); err != nil {
		return err
	}
	end()
	end = res.measure("API floor: the expiry burst's status patches")
	if res.expiryFloor, _, err = patchFloor(ctx, c, b.floorNS, indexes(0, o.burst), workers); err != nil {
		return err
	}
	end()
	end = res.measure("API floor: status patches by the page's clients")
	if _, res.patchLat, err = patchFloor(ctx, c, b.floorNS, indexes(o.burst, o.burst+o.accepts), o.clients); err != nil {
		return err
	}
	end()
	if err := deleteFloor(ctx, c, b.floorNS); err != nil {
		return err
	}
	logf("SMTP floor: %d messages over %d connections", o.n, o.smtpConns)
	end = res.measure("SMTP floor: messages to Mailpit")
	if res.smtpFloor, err = smtpFloor(b.mp.SMTPAddr(), o.n, o.smtpConns); err != nil {
		return err
	}
	end()
	return b.mp.DeleteAll(ctx)
}

// sends starts the manager, settles its accounts, then creates the N
// invitations and times them to EmailSent.
func (b *bench) sends(ctx context.Context) (err error) {
	o, c, res := b.o, b.c, b.res
	logf("starting the manager")
	if b.mgr, err = startManager(ctx, b.env, b.cfg, b.workers, b.clk, b.reqs); err != nil {
		return err
	}
	for _, ns := range b.benchNS {
		a := &v1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"},
			Spec: v1alpha1.PartnerAccountSpec{DisplayName: "Acme Partners", AllowedDomains: []v1alpha1.DomainName{"partner.example"}}}
		if err := c.Create(ctx, a); err != nil {
			return err
		}
	}
	if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
		return err
	}
	res.heap0, res.rss0 = memory()
	b.reqs.snapshot()

	logf("partnerops: %d invitations created → EmailSent", o.n)
	all := indexes(0, o.n)
	created := make([]time.Time, o.n)
	events0 := b.tr.modified.Load()
	stopProfile := profile(o.profileDir, "send")
	end := res.measure("partnerops: create → EmailSent")
	start := time.Now()
	err = parallel(o.n, b.workers, func(i int) error {
		inv := newInvitation(b.benchNS[i%len(b.benchNS)], i)
		if i < o.burst {
			inv.Spec.TTL = "1h"
		}
		created[i] = time.Now()
		return c.Create(ctx, inv)
	})
	if err != nil {
		return err
	}
	if err := b.tr.waitAll(ctx, "EmailSent", b.tr.emailSent, all, o.timeout); err != nil {
		return err
	}
	res.send = lastOf(b.tr.emailSent, all).Sub(start)
	end()
	stopProfile()
	res.sendLat = latencies(b.tr.emailSent, all, func(i int) time.Time { return created[i] })
	if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
		return err
	}
	res.sendWrites, res.sendEvents = b.reqs.snapshot(), b.tr.modified.Load()-events0
	if res.emails, _, err = b.mp.Page(ctx, 0, 1); err != nil {
		return err
	}
	res.heap1, res.rss1 = memory()
	writeHeapProfile(o.profileDir, "heap-settled")
	return nil
}

// restartSettled starts a new manager over the N settled invitations.
func (b *bench) restartSettled(ctx context.Context) (err error) {
	res := b.res
	logf("restart over %d settled invitations", b.o.n)
	b.reqs.snapshot()
	if res.restartReady, res.restartSettled, err = b.restart(ctx, b.o.n); err != nil {
		return err
	}
	res.restartWrites = total(b.reqs.snapshot())
	res.heap2, res.rss2 = memory()
	writeHeapProfile(b.o.profileDir, "heap-restarted")
	emails, _, err := b.mp.Page(ctx, 0, 1)
	res.restartEmails = emails - res.emails
	return err
}

// expiry makes the first o.burst links due at the same instant.
func (b *bench) expiry(ctx context.Context) error {
	o, res := b.o, b.res
	if o.burst == 0 {
		return nil
	}
	logf("expiry: %d links due at once", o.burst)
	burst := indexes(0, o.burst)
	latest, err := latestExpiry(ctx, b.c, b.benchNS, burst)
	if err != nil {
		return err
	}
	stopProfile := profile(o.profileDir, "expiry")
	end := res.measure("partnerops: expiry burst")
	jumped := b.clk.JumpTo(latest)
	if err := b.tr.waitAll(ctx, "Expired", b.tr.expired, burst, o.timeout); err != nil {
		return err
	}
	end()
	stopProfile()
	res.expiryLag = latencies(b.tr.expired, burst, func(int) time.Time { return jumped })
	if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
		return err
	}
	res.expiryWrites = b.reqs.snapshot()
	return nil
}

// page opens the next o.accepts links on the acceptance page, then accepts
// them, and times the grants that follow.
func (b *bench) page(ctx context.Context) error {
	o, res := b.o, b.res
	if o.accepts == 0 {
		return nil
	}
	logf("acceptance page: %d GET then POST, %d clients", o.accepts, o.clients)
	acc := indexes(o.burst, o.burst+o.accepts)
	toks, err := links(ctx, b.c, b.clk, secretNS, b.benchNS, acc)
	if err != nil {
		return err
	}
	stopProfile := profile(o.profileDir, "page")
	end := res.measure("partnerops: page GETs")
	if res.getLat, _, err = pageRun(ctx, b.pageURL, toks, o.clients, false); err != nil {
		return err
	}
	end()
	events0 := b.tr.modified.Load()
	b.reqs.snapshot()
	var doneAt []time.Time
	end = res.measure("partnerops: page POSTs (and the reaction to them)")
	if res.postLat, doneAt, err = pageRun(ctx, b.pageURL, toks, o.clients, true); err != nil {
		return err
	}
	end()
	stopProfile()
	byIndex := make([]time.Time, o.n)
	for k, i := range acc {
		byIndex[i] = doneAt[k]
	}
	if err := b.tr.waitAll(ctx, "GrantsSynced", b.tr.synced, acc, o.timeout); err != nil {
		return err
	}
	res.grantLat = latencies(b.tr.synced, acc, func(i int) time.Time { return byIndex[i] })
	if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
		return err
	}
	res.acceptWrites, res.acceptEvents = b.reqs.snapshot(), b.tr.modified.Load()-events0
	return nil
}

// marginalHeap measures the heap one more cached invitation costs:
// restarted over all N, then over the first ones only (the pending rest
// deleted), with the same fixed costs in both.
func (b *bench) marginalHeap(ctx context.Context) error {
	o := b.o
	rest := indexes(o.burst+o.accepts, o.n)
	if len(rest) == 0 {
		return nil
	}
	logf("memory: restart over %d, then over %d", o.n, o.n-len(rest))
	if _, _, err := b.restart(ctx, o.n); err != nil {
		return err
	}
	heapAll, _ := memory()
	if err := parallel(len(rest), b.workers, func(k int) error {
		i := rest[k]
		return b.c.Delete(ctx, &v1alpha1.PartnerInvitation{ObjectMeta: metav1.ObjectMeta{Namespace: b.benchNS[i%len(b.benchNS)], Name: invName(i)}})
	}); err != nil {
		return err
	}
	if err := waitIdle(ctx, time.Second, o.timeout); err != nil {
		return err
	}
	if _, _, err := b.restart(ctx, o.n-len(rest)); err != nil {
		return err
	}
	heapFew, _ := memory()
	b.res.marginal, b.res.marginalN = float64(heapAll)-float64(heapFew), len(rest)
	return nil
}
