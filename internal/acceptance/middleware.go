package acceptance

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/partnerops/partnerops/internal/i18n"
)

// contentSecurityPolicy allows nothing but the page's own <style> element
// (by hash: no inline script, no external resource of any kind), forms
// posted to the page itself and the redirect that follows to the Partner
// Hub (Chromium applies form-action to redirects after a submission), and
// no framing. The invitation page adds the identity provider's origins
// when accepting starts a sign-in there; no other page does.
func contentSecurityPolicy(hub *url.URL, also ...string) string {
	return strings.Join([]string{
		"default-src 'none'",
		"style-src " + styleHash(),
		strings.Join(append([]string{"form-action 'self'", hub.Scheme + "://" + hub.Host}, also...), " "),
		"frame-ancestors 'none'",
		"base-uri 'none'",
	}, "; ")
}

// securityHeaders sets the headers every response carries, errors
// included, before anything else runs.
func (h *handler) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", h.csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("X-Robots-Tag", "noindex, nofollow")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a 500 page. The log line has the panic's
// type and the stack, not its value, which could quote the request.
func (h *handler) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Info("Panic serving the acceptance page", "path", routeName(r.URL.Path),
				"panicType", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			h.fail(w, r, http.StatusInternalServerError, i18n.KindInternal)
		}()
		next.ServeHTTP(w, r)
	})
}

// rateLimit refuses a client over its budget with 429 and Retry-After.
func (h *handler) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wait, ok := h.limiter.allow(clientKey(clientIP(r, h.trusted)), h.clock.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
			h.fail(w, r, http.StatusTooManyRequests, i18n.KindTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog logs one line per request: method, path without query (and
// only the page's own routes: a mangled link may hold its token in the
// path), status, duration, client IP and bytes sent. Health checks that
// pass are not logged.
func (h *handler) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now() // latency is real time, whatever the page's clock says
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		h.countOutcome(r, rec)
		if r.URL.Path == pathHealthz && rec.status == http.StatusOK {
			return
		}
		h.log.Info("Request", "method", methodName(r.Method), "path", routeName(r.URL.Path), "status", rec.status,
			"duration", time.Since(start), "client", clientIP(r, h.trusted), "bytes", rec.bytes)
	})
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	// page is the page the request was answered with (seePage).
	page string
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// methodName is the request's method for a log line, "other" when it is
// not a standard one.
func methodName(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// clientIP is the address the request came from: the TCP peer, unless the
// peer is a trusted proxy (acceptance.trustedProxies), in which case it is
// the right-most X-Forwarded-For address that is not itself a trusted
// proxy. Left of that, a client can write anything, so nothing there is
// believed.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A hop a trusted proxy would never write: stop believing.
			return host
		}
		if !isTrusted(a, trusted) {
			return a.Unmap().String()
		}
		host = a.Unmap().String()
	}
	return host
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.WithZone("").Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientKey is what the rate limit counts by: an IPv4 address, or the /64
// an IPv6 address is in (one host commonly holds a whole /64), with the
// /48 that /64 belongs to (see maxPerSite). IPv4 addresses are not
// grouped: an address is scarce and costs an attacker money, while a /24
// often holds many unrelated people (a company's or a carrier's NAT), who
// would then share one budget.
func clientKey(ip string) clientID {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return clientID{key: ip}
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p64, _ := a.Prefix(64)
		p48, _ := a.Prefix(48)
		return clientID{key: p64.String(), site: p48.String()}
	}
	return clientID{key: a.String()}
}
