package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/partnerops/partnerops/internal/config"
)

// hubStopGrace bounds the wait for the Partner Hub stand-in's requests when
// it stops.
const hubStopGrace = 5 * time.Second

// partnerHub stands in for the Partner Hub, where the acceptance page sends
// a partner who accepts (acceptance.partnerHubURL, with namespace and
// account added to its query): a page saying where the partner landed, so
// that accepting in dev ends on a real page. dev serves it itself.
type partnerHub struct {
	srv *http.Server
	url string
	// done is closed when the server has stopped serving; err is why,
	// when it stopped on its own.
	done chan struct{}
	err  error
}

// partnerHubAddr returns the address to serve the Partner Hub stand-in on
// and its URL, when acceptance.partnerHubURL is a plain http URL on
// loopback; else ok is false (a real Hub elsewhere, which dev leaves be).
func partnerHubAddr(cfg *config.Config) (addr string, u *url.URL, ok bool) {
	u, err := url.Parse(cfg.Acceptance.PartnerHubURL)
	if err != nil || u.Scheme != "http" {
		return "", nil, false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		host = loopback
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", nil, false
	}
	return net.JoinHostPort(host, urlPort(u)), u, true
}

// startPartnerHub listens on addr and serves the page at hubURL's path
// (and nothing else), printing a line each time a partner lands there.
func startPartnerHub(addr string, hubURL *url.URL, con *console) (*partnerHub, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving the Partner Hub stand-in (acceptance.partnerHubURL): %w", err)
	}
	path := hubURL.Path
	if path == "" {
		path = "/"
	}
	h := &partnerHub{url: hubURL.String(), done: make(chan struct{})}
	h.srv = &http.Server{
		Handler:           hubHandler(path, con),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			h.err = err
		}
	}()
	return h, nil
}

// stop stops serving, letting requests in flight end for a few seconds.
func (h *partnerHub) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), hubStopGrace)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = h.srv.Close()
	}
	<-h.done
	if err != nil {
		return fmt.Errorf("stopping the Partner Hub stand-in: %w", err)
	}
	return nil
}

// hubPage is the Partner Hub stand-in's page; html/template escapes what
// comes from the query.
var hubPage = template.Must(template.New("hub").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Partner Hub</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }
.note { margin-top: 2rem; padding-top: 1rem; border-top: 1px solid #ddd; color: #555; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>Partner Hub</h1>
{{- if or .Account .Namespace}}
<p>Welcome! You landed in the Partner Hub for account <strong>{{or .Account "(none given)"}}</strong> of namespace <strong>{{or .Namespace "(none given)"}}</strong>.</p>
{{- else}}
<p>Welcome to the Partner Hub. (This address names no account: the acceptance page adds <code>account</code> and <code>namespace</code> to it when it sends a partner here.)</p>
{{- end}}
<p class="note">This is the stand-in <code>make dev</code> serves at <code>acceptance.partnerHubURL</code>, so that accepting an invitation ends on a page. In a real installation, that URL is your Partner Hub.</p>
</body>
</html>
`))

// hubHandler serves hubPage at path, and says it serves only that elsewhere.
func hubHandler(path string, con *console) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path != path {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprintf(w, "404: make dev's Partner Hub stand-in serves %s only\n", path)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		q := r.URL.Query()
		data := struct{ Account, Namespace string }{q.Get("account"), q.Get("namespace")}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := hubPage.Execute(w, data); err != nil {
			return // the client went away
		}
		if r.Method == http.MethodGet && (data.Account != "" || data.Namespace != "") {
			// Quoted: the values come from whoever typed the URL.
			con.print(hubPrefix, fmt.Sprintf("a partner landed in the Partner Hub for account %q of namespace %q", data.Account, data.Namespace))
		}
	})
}
