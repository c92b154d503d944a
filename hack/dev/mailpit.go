package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/partnerops/partnerops/internal/config"
	mailpitpeer "github.com/partnerops/partnerops/internal/testpeers/mailpit"
)

const (
	// mailpitReadyTimeout bounds the wait for Mailpit's API and SMTP server.
	mailpitReadyTimeout = time.Minute
	// mailpitStopGrace is how long Mailpit has to stop after SIGTERM.
	mailpitStopGrace = 10 * time.Second
	// mailPollInterval is how often dev asks Mailpit for new messages.
	mailPollInterval = 500 * time.Millisecond
	// mailPageSize is how many messages one listing request returns.
	mailPageSize = 50
)

// acceptLink finds an invitation link in an email's text.
var acceptLink = regexp.MustCompile(`https?://[^\s"'<>]+/invitations/accept\?token=[^\s"'<>]+`)

// mailpit is the mail catcher: Mailpit running as a child process, its
// database under the state directory and its output in a log file.
type mailpit struct {
	*child
	smtpAddr string
	// apiURL is the base URL of its web server, such as
	// http://127.0.0.1:8025; the REST API is under /api/v1/.
	apiURL string
	client *http.Client
	log    *os.File
}

// defaultMailpit is the Mailpit binary dev runs unless --mailpit says
// otherwise: $MAILPIT (the Makefile sets it from hack/install-peers.sh), else
// the newest version under bin/tools/mailpit/, else "". The search is the
// test harness's, so dev and the tests find the same binary.
func defaultMailpit() string {
	p, err := mailpitpeer.Binary()
	if err != nil {
		return ""
	}
	return p
}

// mailpitArgs is Mailpit's command line. Its database path names the state
// directory, as every process dev starts does.
func mailpitArgs(o *options, s *stateDir) []string {
	return []string{
		o.mailpit,
		"--smtp=" + o.mailpitSMTPAddr,
		"--listen=" + o.mailpitHTTPAddr,
		"--database=" + s.mailpitDB,
		"--disable-version-check",
		// No reverse DNS lookup of the client: nothing but loopback is reached.
		"--smtp-disable-rdns",
		// Whatever smtp.credentialsSecret says, the manager can log in.
		"--smtp-auth-accept-any",
		"--smtp-auth-allow-insecure",
	}
}

// startMailpit starts Mailpit with its output in logs/mailpit.log, without
// the MP_* variables of dev's environment: the flags are its whole
// configuration (no relay, no webhook).
func startMailpit(o *options, s *stateDir, con *console) (*mailpit, error) {
	f, err := os.OpenFile(s.mailpitLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating Mailpit's log file: %w", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			env = append(env, kv)
		}
	}
	c, err := startChild(con, "Mailpit", mailpitArgs(o, s), env, f, nil)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &mailpit{
		child:    c,
		smtpAddr: o.mailpitSMTPAddr,
		apiURL:   strings.TrimSuffix(httpURL(o.mailpitHTTPAddr, ""), "/"),
		client: &http.Client{
			// No proxy, whatever the environment says: loopback only.
			Transport: &http.Transport{Proxy: nil},
		},
		log: f,
	}, nil
}

// waitReady waits until Mailpit's API answers and its SMTP server greets
// (Mailpit starts its web server first, then its SMTP server), and returns
// its version. It gives up when ctx ends, when Mailpit exits or after
// timeout.
func (m *mailpit) waitReady(ctx context.Context, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, ok := m.ready(ctx); ok {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-m.done:
			return "", fmt.Errorf("Mailpit exited before it was ready (%s): see %s", m.status(), m.log.Name())
		case <-deadline.C:
			return "", fmt.Errorf("Mailpit was not ready after %s (API %s, SMTP %s): see %s", timeout, m.apiURL, m.smtpAddr, m.log.Name())
		case <-tick.C:
		}
	}
}

func (m *mailpit) ready(ctx context.Context) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var info struct{ Version string }
	if err := m.getJSON(ctx, "/api/v1/info", &info); err != nil || info.Version == "" {
		return "", false
	}
	smtpAddr := m.smtpAddr
	if host, port, err := net.SplitHostPort(smtpAddr); err == nil && isAnyHost(host) {
		smtpAddr = net.JoinHostPort(loopback, port)
	}
	conn, err := net.DialTimeout("tcp", smtpAddr, time.Second)
	if err != nil {
		return "", false
	}
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	c, err := smtp.NewClient(conn, loopback) // reads the 220 greeting
	if err != nil {
		_ = conn.Close()
		return "", false
	}
	_ = c.Quit()
	return info.Version, true
}

// stop stops Mailpit and closes its log.
func (m *mailpit) stop(con *console, hurry <-chan struct{}) error {
	defer func() { _ = m.log.Close() }()
	err := m.child.stop(con, mailpitStopGrace, hurry)
	m.client.CloseIdleConnections()
	return err
}

// mailSummary is one message of Mailpit's listing (MessageSummary).
type mailSummary struct {
	ID string
}

// mailMessage is the part of one of Mailpit's messages dev prints.
type mailMessage struct {
	ID          string
	To, Cc, Bcc []mail.Address
	Subject     string
	// Text is the decoded text/plain body.
	Text string
}

// watcher prints each message Mailpit receives, with its accept link.
type watcher struct {
	m    *mailpit
	con  *console
	seen map[string]bool
	// failing is set while the API does not answer, so that the error is
	// printed once, not at every poll.
	failing bool
}

// newWatcher lists the messages Mailpit already holds (from earlier runs:
// its database is kept, like etcd's), which it will not print, and reports
// how many there are.
func (m *mailpit) newWatcher(ctx context.Context, con *console) (*watcher, int, error) {
	w := &watcher{m: m, con: con, seen: map[string]bool{}}
	ids, err := w.unseen(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, id := range ids {
		w.seen[id] = true
	}
	return w, len(ids), nil
}

// run polls Mailpit every interval until ctx ends, and prints each new
// message as it arrives, oldest first.
func (w *watcher) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ids, err := w.unseen(ctx)
		if w.failed(ctx, err) {
			continue
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return
			}
			msg, err := w.m.message(ctx, id)
			if errors.Is(err, errNotFound) { // deleted since it was listed
				w.seen[id] = true
				continue
			}
			if w.failed(ctx, err) {
				break // the next poll tries again, in order
			}
			w.seen[id] = true
			w.con.print(mailPrefix, describeMail(msg, w.m.apiURL))
		}
	}
}

// failed reports whether err is an error, printing it when the API starts
// failing and a note when it answers again.
func (w *watcher) failed(ctx context.Context, err error) bool {
	if err != nil {
		if !w.failing && ctx.Err() == nil {
			w.con.logf("cannot read the messages of Mailpit (trying again every %s): %v", mailPollInterval, err)
		}
		w.failing = true
		return true
	}
	if w.failing {
		w.con.logf("reading the messages of Mailpit again")
		w.failing = false
	}
	return false
}

// unseen lists the IDs of the messages not seen yet, oldest first. The API
// lists the newest first: pages are read until one holds a seen message (a
// message that arrives meanwhile shifts the pages: IDs are listed once).
func (w *watcher) unseen(ctx context.Context) ([]string, error) {
	var ids []string
	listed := map[string]bool{}
	for start := 0; ; start += mailPageSize {
		var page struct {
			Total    int
			Messages []mailSummary
		}
		path := fmt.Sprintf("/api/v1/messages?start=%d&limit=%d", start, mailPageSize)
		if err := w.m.getJSON(ctx, path, &page); err != nil {
			return nil, err
		}
		done := len(page.Messages) < mailPageSize || start+len(page.Messages) >= page.Total
		for _, s := range page.Messages {
			if w.seen[s.ID] {
				done = true
				break
			}
			if !listed[s.ID] {
				listed[s.ID] = true
				ids = append(ids, s.ID)
			}
		}
		if done {
			break
		}
	}
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}
	return ids, nil
}

// describeMail is the block printed for one message: to whom, its subject,
// and the accept links of its text.
func describeMail(msg *mailMessage, apiURL string) string {
	var to []string
	for _, list := range [][]mail.Address{msg.To, msg.Cc, msg.Bcc} {
		for _, a := range list {
			to = append(to, a.Address)
		}
	}
	if len(to) == 0 {
		to = []string{"(nobody)"}
	}
	subject := strings.Join(strings.Fields(msg.Subject), " ")
	var b strings.Builder
	fmt.Fprintf(&b, "To: %s — Subject: %s\n", strings.Join(to, ", "), subject)
	links := acceptLink.FindAllString(msg.Text, -1)
	seen := map[string]bool{}
	for _, l := range links {
		if !seen[l] {
			seen[l] = true
			fmt.Fprintf(&b, "Accept link: %s\n", l)
		}
	}
	if len(links) == 0 {
		fmt.Fprintf(&b, "(no accept link in its text; read it with curl -s %s/api/v1/message/%s)\n", apiURL, url.PathEscape(msg.ID))
	}
	return b.String()
}

// errNotFound is returned (wrapped) when Mailpit answers 404.
var errNotFound = errors.New("not found")

// message returns one message. Mailpit marks it read.
func (m *mailpit) message(ctx context.Context, id string) (*mailMessage, error) {
	var msg mailMessage
	if err := m.getJSON(ctx, "/api/v1/message/"+url.PathEscape(id), &msg); err != nil {
		return nil, err
	}
	return &msg, nil
}

// getJSON decodes the answer to GET path, with a timeout of 10s.
func (m *mailpit) getJSON(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.apiURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("GET %s: %w", path, errNotFound)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// isAnyHost reports whether host means every interface ("", 0.0.0.0, ::).
func isAnyHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}

// checkMailpitConfig checks that the manager's configuration sends its
// mail to Mailpit, in a way Mailpit accepts: else no email would arrive.
func checkMailpitConfig(o *options, cfg *config.Config) error {
	smtpHost, smtpPort := cfg.SMTP.Host, cfg.SMTP.Port
	host, port, err := net.SplitHostPort(o.mailpitSMTPAddr)
	if err != nil {
		return fmt.Errorf("--mailpit-smtp-address %q: %w", o.mailpitSMTPAddr, err)
	}
	if _, _, err := net.SplitHostPort(o.mailpitHTTPAddr); err != nil {
		return fmt.Errorf("--mailpit-http-address %q: %w", o.mailpitHTTPAddr, err)
	}
	sameHost := strings.EqualFold(host, smtpHost) || isAnyHost(host) ||
		(isLoopbackHost(host) && isLoopbackHost(smtpHost))
	if port != strconv.Itoa(smtpPort) || !sameHost {
		return fmt.Errorf("smtp in %s sends mail to %s, but Mailpit listens on %s (--mailpit-smtp-address): make them the same",
			o.config, net.JoinHostPort(smtpHost, strconv.Itoa(smtpPort)), o.mailpitSMTPAddr)
	}
	if cfg.SMTP.Security != config.SMTPSecurityNone {
		return fmt.Errorf("smtp.security in %s is %q, but Mailpit in dev speaks plain SMTP: set it to %s",
			o.config, cfg.SMTP.Security, config.SMTPSecurityNone)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
