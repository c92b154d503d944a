package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/partnerops/partnerops/internal/testpeers/peer"
)

// child is a process dev started and stops: the manager or the SCIM
// server (Mailpit is internal/testpeers/mailpit's).
type child struct {
	// name is how dev's messages call it ("the manager", "Mailpit").
	name string
	*peer.Process
}

// startChild starts argv with its output to out (flush, if not nil, is
// called once it has exited). The child gets its own process group, so that
// the SIGINT a terminal sends to dev's group on Ctrl-C does not reach it:
// dev alone stops it, in order, with one SIGTERM (a second signal makes a
// controller-runtime manager exit at once). It is killed if dev dies
// without stopping it (Linux). See internal/testpeers/peer.
func startChild(con *console, name string, argv, env []string, out io.Writer, flush func()) (*child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	p, err := peer.Start(cmd, flush)
	if err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, argv[0], err)
	}
	con.logf("started %s (pid %d)", name, p.Pid())
	return &child{name: name, Process: p}, nil
}

// stop stops the child; see stopChild.
func (c *child) stop(con *console, grace time.Duration, hurry <-chan struct{}) error {
	return stopChild(con, c.name, c, grace, hurry)
}

// stoppable is a process dev stops: a child, or Mailpit.
type stoppable interface {
	Done() <-chan struct{}
	Status() string
	Shutdown(ctx context.Context) (killed bool, err error)
}

var (
	errGraceOver = errors.New("grace over")
	errHurried   = errors.New("hurried")
)

// stopChild asks p to stop with SIGTERM and kills it if it has not
// stopped after grace, or at once when hurry is closed. A process that has
// already exited is fine.
func stopChild(con *console, name string, p stoppable, grace time.Duration, hurry <-chan struct{}) error {
	select {
	case <-p.Done():
		return nil
	default:
	}
	con.logf("stopping %s (Ctrl-C again to kill it now)", name)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	timer := time.AfterFunc(grace, func() { cancel(errGraceOver) })
	defer timer.Stop()
	go func() {
		select {
		case <-hurry:
			cancel(errHurried)
		case <-ctx.Done():
		}
	}()
	killed, err := p.Shutdown(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("stopping %s: %w", name, err)
	case killed && errors.Is(context.Cause(ctx), errHurried):
		con.logf("killing %s", name)
	case killed:
		con.logf("%s did not stop within %s: killing it", name, grace)
	case p.Status() != "exit status 0":
		con.logf("%s stopped with %s", name, p.Status())
	}
	return nil
}

// startPeer runs a peer of internal/testpeers (Mailpit, the SCIM server)
// with run, its output in the log file logPath (made anew, readable by its
// owner only), and reports it started.
func startPeer[P interface{ Pid() int }](ctx context.Context, con *console, name, logPath string, run func(log io.Writer) (P, error)) (P, *os.File, error) {
	var zero P
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return zero, nil, fmt.Errorf("creating %s's log file: %w", name, err)
	}
	p, err := run(f)
	if err != nil {
		_ = f.Close()
		if ctx.Err() != nil {
			return zero, nil, ctx.Err()
		}
		return zero, nil, fmt.Errorf("%w\n(see %s)", err, con.path(logPath))
	}
	con.logf("started %s (pid %d)", name, p.Pid())
	return p, f, nil
}

// orEmpty is path, or "" when finding it failed (a flag's default).
func orEmpty(path string, err error) string {
	if err != nil {
		return ""
	}
	return path
}
