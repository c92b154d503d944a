package main

import (
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"
)

// results are one run's figures.
type results struct {
	o                        options
	workers, namespaces      int
	cpus                     int
	load0, load1             string
	apiFloor, smtpFloor      time.Duration
	eventFloor               time.Duration   // apiFloor with the Event each send records
	expiryFloor              time.Duration   // burst status patches by a plain client
	patchLat                 []time.Duration // one status patch each, by o.clients plain clients
	send                     time.Duration
	sendLat                  []time.Duration
	sendWrites               map[string]int
	sendEvents               int64
	emails                   int
	heap0, heap1, rss0, rss1 uint64
	heap2, rss2              uint64  // after the restart: no Event recorder's cache
	marginal                 float64 // heap over all N less over N-marginalN, both after a restart
	marginalN                int
	restartReady             time.Duration
	restartSettled           time.Duration
	restartWrites            int
	restartEmails            int
	expiryLag                []time.Duration
	expiryWrites             map[string]int
	getLat, postLat          []time.Duration
	grantLat                 []time.Duration
	acceptWrites             map[string]int
	acceptEvents             int64
	phases                   []phase
	api                      *http.Client // to the API server, for its profiles
	apiHost                  string
}

// phase is where the cores went during one timed part of the run.
type phase struct {
	name string
	wall time.Duration
	cpu  cpuTimes
}

// measure starts timing a phase's CPU by process; what it returns ends it.
func (r *results) measure(name string) func() {
	stopProfile := apiServerProfile(r.api, r.apiHost, r.o.profileDir, slug(name))
	start, cpu0 := time.Now(), readCPU()
	return func() {
		defer stopProfile()
		r.phases = append(r.phases, phase{name: name, wall: time.Since(start), cpu: readCPU().since(cpu0)})
	}
}

// cpuTable says, per phase, how many seconds of CPU each process used, and
// how busy that kept the machine's cores: a phase whose cores were busy
// all along is limited by the CPU, and what partnerops costs beside its
// floor is the CPU it and its peers used.
func (r *results) cpuTable() string {
	if len(r.phases) == 0 {
		return ""
	}
	order := []string{"kube-apiserver", "etcd", "manager + benchmark", "mailpit", "SCIM server (node)"}
	seen := map[string]bool{}
	for _, ph := range r.phases {
		for k := range ph.cpu {
			seen[k] = true
		}
	}
	var cols []string
	for _, k := range order {
		if seen[k] {
			cols = append(cols, k)
			delete(seen, k)
		}
	}
	for k := range seen {
		cols = append(cols, k)
	}
	slices.Sort(cols[len(cols)-len(seen):])
	var b strings.Builder
	fmt.Fprintf(&b, "\n| CPU seconds used, by process | wall | %s | all | cores busy (of %d) |\n", strings.Join(cols, " | "), r.cpus)
	fmt.Fprintf(&b, "| --- | --- |%s --- | --- |\n", strings.Repeat(" --- |", len(cols)))
	for _, ph := range r.phases {
		var all time.Duration
		cells := make([]string, len(cols))
		for i, k := range cols {
			cells[i] = fmt.Sprintf("%.2f", ph.cpu[k].Seconds())
			all += ph.cpu[k]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %.2f |\n", ph.name, sec(ph.wall), strings.Join(cells, " | "), all.Seconds(), all.Seconds()/ph.wall.Seconds())
	}
	return b.String()
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func perItem(m map[string]int, n int) string {
	if n == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(m[k])/float64(n)))
	}
	return fmt.Sprintf("**%.2f** (%s)", float64(total(m))/float64(n), strings.Join(parts, ", "))
}

func perObject(before, after uint64, n int) string {
	if after < before {
		return fmt.Sprintf("%.1f MiB → %.1f MiB", mib(before), mib(after))
	}
	return fmt.Sprintf("**%.2f KiB** (%.1f → %.1f MiB)", float64(after-before)/1024/float64(n), mib(before), mib(after))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func (r *results) table() string {
	n := r.o.n
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("")
	p("| measure (N = %d, %d namespaces, one run) | partnerops | floor, same run | ratio | target |", n, r.namespaces)
	p("| --- | --- | --- | --- | --- |")
	ratio := r.send.Seconds() / r.apiFloor.Seconds()
	p("| create → all `EmailSent` | %s; per invitation p50 %s, p99 %s | API: %s for %d creates + %d status patches by a plain client, %d workers | **%.2f×** | ≤ 1.5× |",
		sec(r.send), sec(quantile(r.sendLat, .5)), sec(quantile(r.sendLat, .99)), sec(r.apiFloor), n, n, r.workers, ratio)
	p("| create → all `EmailSent`, beside the same API writes | %s | API: %s for %d creates + %d status patches + %d Events (the Event each send records) by a plain client, %d workers | %.2f× | |",
		sec(r.send), sec(r.eventFloor), n, n, n, r.workers, r.send.Seconds()/r.eventFloor.Seconds())
	p("| emails received by Mailpit | %d | SMTP: %s for %d messages over %d kept-open connections | %.2f× | |",
		r.emails, sec(r.smtpFloor), n, r.o.smtpConns, r.send.Seconds()/r.smtpFloor.Seconds())
	p("| API writes per invitation to `PendingApproval` | %s; watch events %.2f | 2 (create + status patch) | | 1 status write |",
		perItem(r.sendWrites, n), float64(r.sendEvents)/float64(n))
	if r.marginalN > 0 {
		p("| heap in use per cached invitation: restarted over N, less restarted over N − %d (deleted) | **%.2f KiB** (%.1f MiB for %d) | | | ≤ 4 KiB |",
			r.marginalN, r.marginal/1024/float64(r.marginalN), r.marginal/(1<<20), r.marginalN)
	}
	p("| heap in use per cached invitation: after a restart over N, less the first manager idle | %s | | | |", perObject(r.heap0, r.heap2, n))
	p("| heap in use per invitation right after the sends (with the Event recorder's 6-minute cache) | %s | | | |", perObject(r.heap0, r.heap1, n))
	p("| RSS per cached invitation, after a restart (whole benchmark process) | %s | | | |", perObject(r.rss0, r.rss2, n))
	p("| restart over N settled | ready in %s, all reconciled in %s; %d writes, %d emails | | | 0 writes, 0 emails |",
		sec(r.restartReady), sec(r.restartSettled), r.restartWrites, r.restartEmails)
	if len(r.expiryLag) > 0 {
		p("| %d links due at the same instant: lag to `Expired` | p50 %s, p99 %s, max %s; writes per link %s | API: %s for %d status patches by a plain client, %d workers | %.2f× | p99 ≤ 1 s |",
			len(r.expiryLag), ms(quantile(r.expiryLag, .5)), ms(quantile(r.expiryLag, .99)), ms(quantile(r.expiryLag, 1)),
			perItem(r.expiryWrites, len(r.expiryLag)), ms(r.expiryFloor), len(r.expiryLag), r.workers,
			quantile(r.expiryLag, .99).Seconds()/r.expiryFloor.Seconds())
	}
	if len(r.getLat) > 0 {
		p("| acceptance page, %d clients, %d invitations: GET | p50 %s, p99 %s | | | p99 ≤ 5 ms |",
			r.o.clients, len(r.getLat), ms(quantile(r.getLat, .5)), ms(quantile(r.getLat, .99)))
		p("| acceptance page: POST accept (303) | p50 %s, p99 %s | API: one status patch by %d plain clients: p50 %s, p99 %s | %.2f× | p99 ≤ 25 ms |",
			ms(quantile(r.postLat, .5)), ms(quantile(r.postLat, .99)), r.o.clients, ms(quantile(r.patchLat, .5)), ms(quantile(r.patchLat, .99)),
			quantile(r.postLat, .99).Seconds()/quantile(r.patchLat, .99).Seconds())
		p("| accept → `GrantsSynced` (SCIM server) | p50 %s, p99 %s; writes per acceptance %s; watch events %.2f | | | |",
			ms(quantile(r.grantLat, .5)), ms(quantile(r.grantLat, .99)), perItem(r.acceptWrites, len(r.postLat)),
			float64(r.acceptEvents)/float64(len(r.postLat)))
	}
	b.WriteString(r.cpuTable())
	p("")
	p("Machine: %d CPUs (GOMAXPROCS %d), %s, %s/%s; load average (1, 5, 15 min) %s at the start, %s at the end; invitation workers %d.",
		r.cpus, runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, r.load0, r.load1, r.workers)
	return b.String()
}
