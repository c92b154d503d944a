package managertest

import (
	"net/http"
	"strings"
	"sync"
)

// Requests counts the API requests a manager makes, by method and path
// ("PATCH /apis/.../partnerinvitations/mindy/status").
type Requests struct {
	mu     sync.Mutex
	counts map[string]int
	inject func(*http.Request) *http.Response
}

func (r *Requests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		method := req.Method
		if req.URL.Query().Get("watch") == "true" {
			// An informer's watch, opened at its own pace after the list
			// it syncs with: not a read anyone waits for.
			method = "WATCH"
		}
		r.mu.Lock()
		r.counts[method+" "+req.URL.Path]++
		r.mu.Unlock()
		if r.inject != nil {
			if resp := r.inject(req); resp != nil {
				return resp, nil
			}
		}
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Writes returns the write requests (anything but GET) seen so far.
func (r *Requests) Writes() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, n := range r.counts {
		if !strings.HasPrefix(k, "GET ") && !strings.HasPrefix(k, "WATCH ") {
			out[k] = n
		}
	}
	return out
}

// Reads returns the read requests (GET: gets and lists, by path; not
// watches) seen so far.
func (r *Requests) Reads() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, n := range r.counts {
		if path, ok := strings.CutPrefix(k, "GET "); ok {
			out[path] = n
		}
	}
	return out
}

// StatusWrites counts the writes to the status of objects of resource
// ("partnerinvitations").
func (r *Requests) StatusWrites(resource string) int {
	n := 0
	for k, c := range r.Writes() {
		if strings.Contains(k, "/"+resource+"/") && strings.HasSuffix(k, "/status") {
			n += c
		}
	}
	return n
}
