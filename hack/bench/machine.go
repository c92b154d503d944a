package main

// What the benchmark reads of the machine and of its own process: memory,
// the load average printed beside the figures, and pprof profiles.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// memory is the heap in use after full collections, and the process's
// resident set after returning what it can to the system. Two collections:
// what sync.Pools hold survives the first one (in their victim caches).
func memory() (heap, rss uint64) {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, readRSS()
}

func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// profile starts a CPU profile of a phase in dir ("" profiles nothing)
// and returns what stops it.
func profile(dir, phase string) func() {
	if dir == "" {
		return func() {}
	}
	_ = os.MkdirAll(dir, 0o755)
	f, err := os.Create(filepath.Join(dir, "cpu-"+phase+".pprof"))
	if err != nil {
		logf("profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		logf("profile: %v", err)
		_ = f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}

func writeHeapProfile(dir, name string) {
	if dir == "" {
		return
	}
	_ = os.MkdirAll(dir, 0o755)
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		logf("profile: %v", err)
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}

// cpuTimes is the CPU time (user and system) used so far by this process
// (the manager and the benchmark's own clients) and by each process it
// started (kube-apiserver, etcd, Mailpit, the SCIM server), by name: what
// shows where a phase's cores went.
type cpuTimes map[string]time.Duration

// userHZ is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on Linux).
const userHZ = 100

func readCPU() cpuTimes {
	self := os.Getpid()
	type proc struct {
		ppid int
		name string
		cpu  time.Duration
	}
	procs := map[int]proc{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime: the name may hold spaces,
		// the fields after its closing parenthesis do not.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid: ppid, name: s[open+1 : end], cpu: time.Duration(ut+st) * time.Second / userHZ}
	}
	ours := func(pid int) bool {
		for range 16 {
			if pid == self {
				return true
			}
			p, ok := procs[pid]
			if !ok || p.ppid == 0 {
				return false
			}
			pid = p.ppid
		}
		return false
	}
	out := cpuTimes{}
	for pid, p := range procs {
		switch {
		case pid == self:
			out["manager + benchmark"] += p.cpu
		case ours(pid):
			name := p.name
			if name == "node" {
				name = "SCIM server (node)"
			}
			out[name] += p.cpu
		}
	}
	return out
}

// since is what each process used from before to t.
func (t cpuTimes) since(before cpuTimes) cpuTimes {
	out := cpuTimes{}
	for k, v := range t {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// apiServerProfile collects CPU profiles of kube-apiserver while a phase
// runs, in slices of two seconds (its /debug/pprof/profile takes the length
// up front), as dir/apiserver-<slug>-<k>.pprof: `go tool pprof` merges the
// slices of a phase given together. hc talks to the API server at host as
// the test control plane's administrator. dir "" profiles nothing; what it
// returns waits for the slice under way.
func apiServerProfile(hc *http.Client, host, dir, slug string) func() {
	if dir == "" || hc == nil {
		return func() {}
	}
	_ = os.MkdirAll(dir, 0o755)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := hc.Get(strings.TrimSuffix(host, "/") + "/debug/pprof/profile?seconds=2")
			if err != nil {
				logf("profiling kube-apiserver: %v", err)
				return
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				logf("profiling kube-apiserver: %s %v", resp.Status, err)
				return
			}
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("apiserver-%s-%02d.pprof", slug, k)), b, 0o644)
		}
	}()
	return func() { close(stop); <-done }
}

// slug is a phase's name as a file name: "API floor: creates" → "api-floor-creates".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
