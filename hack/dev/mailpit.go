package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
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

// mailpit is the mail catcher: Mailpit run by internal/testpeers/mailpit
// (as the tests run it), its database under the state directory and its
// output in a log file.
type mailpit struct {
	*mailpitpeer.Server
	log *os.File
}

// defaultMailpit is the Mailpit binary dev runs unless --mailpit says
// otherwise: $MAILPIT (the Makefile sets it from hack/install-peers.sh), else
// the newest version under bin/tools/mailpit/, else "". The search is the
// test harness's, so dev and the tests find the same binary.
func defaultMailpit() string { return orEmpty(mailpitpeer.Binary()) }

// startMailpit starts Mailpit on the addresses of the flags, with its
// database in the state directory and its output in logs/mailpit.log, and
// waits until its API answers and its SMTP server greets. It gives up when
// ctx ends, when Mailpit exits or after timeout.
func startMailpit(ctx context.Context, o *options, s *stateDir, con *console) (*mailpit, error) {
	srv, f, err := startPeer(ctx, con, "Mailpit", s.mailpitLog, func(log io.Writer) (*mailpitpeer.Server, error) {
		return mailpitpeer.Run(ctx, mailpitpeer.Options{
			Binary: o.mailpit, SMTPAddr: o.mailpitSMTPAddr, HTTPAddr: o.mailpitHTTPAddr,
			Database: s.mailpitDB, Log: log, ReadyTimeout: mailpitReadyTimeout,
		})
	})
	if err != nil {
		return nil, err
	}
	return &mailpit{Server: srv, log: f}, nil
}

// stop stops Mailpit and closes its log.
func (m *mailpit) stop(con *console, hurry <-chan struct{}) error {
	defer func() { _ = m.log.Close() }()
	return stopChild(con, "Mailpit", m.Server, mailpitStopGrace, hurry)
}

// watcher prints each message Mailpit receives, with its accept link, and
// for the first one, its address in the inbox.
type watcher struct {
	m    *mailpit
	con  *console
	seen map[string]bool
	// inbox is whether Mailpit serves its web UI; linked, whether the line
	// that opens an email in it was printed.
	inbox, linked bool
	// failing is set while the API does not answer, so that the error is
	// printed once, not at every poll.
	failing bool
}

// newWatcher lists the messages Mailpit already holds (from earlier runs:
// its database is kept, like etcd's), which it will not print, and reports
// how many there are. inbox says whether Mailpit serves its web UI.
func (m *mailpit) newWatcher(ctx context.Context, con *console, inbox bool) (*watcher, int, error) {
	w := &watcher{m: m, con: con, seen: map[string]bool{}, inbox: inbox}
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
			msg, err := w.m.Message(ctx, id)
			if errors.Is(err, mailpitpeer.ErrNotFound) { // deleted since it was listed
				w.seen[id] = true
				continue
			}
			if w.failed(ctx, err) {
				break // the next poll tries again, in order
			}
			w.seen[id] = true
			w.con.print(mailPrefix, describeMail(msg, w.m.Server, w.inbox, !w.linked))
			w.linked = true
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
// lists the newest first: pages are read until one holds a seen message,
// that page to its end (a message that arrives meanwhile shifts the pages:
// IDs are listed once).
func (w *watcher) unseen(ctx context.Context) ([]string, error) {
	var ids []string
	listed := map[string]bool{}
	for start := 0; ; start += mailPageSize {
		total, page, err := w.m.Page(ctx, start, mailPageSize)
		if err != nil {
			return nil, err
		}
		done := len(page) < mailPageSize || start+len(page) >= total
		for _, s := range page {
			if w.seen[s.ID] {
				// Older pages hold only seen messages; this one may still
				// hold a new one listed after a seen one: Mailpit dates a
				// message before storing it, so two received at once can be
				// listed in the other order than they became visible.
				done = true
				continue
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

// inboxLine starts the line that opens an email in Mailpit's inbox.
const inboxLine = "Open it in the inbox: "

// describeMail is the block printed for one message: to whom, its subject,
// the accept links of its text and, for the first message when Mailpit
// serves its web UI (inbox), the message's address there.
func describeMail(msg *mailpitpeer.Message, mp *mailpitpeer.Server, inbox, first bool) string {
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
	switch {
	case inbox && first:
		b.WriteString(inboxLine + mp.MessageURL(msg.ID) + "\n")
	case len(links) > 0:
	case inbox:
		fmt.Fprintf(&b, "(no accept link in its text; read it in the inbox: %s)\n", mp.MessageURL(msg.ID))
	default:
		fmt.Fprintf(&b, "(no accept link in its text; read it with curl -s %s/api/v1/message/%s)\n", mp.APIURL, url.PathEscape(msg.ID))
	}
	return b.String()
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
