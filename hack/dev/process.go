package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// child is a process dev started and stops: the manager or Mailpit.
type child struct {
	// name is how dev's messages call it ("the manager", "Mailpit").
	name string
	cmd  *exec.Cmd
	// done is closed when the process has exited and its output is written.
	done chan struct{}
	// err is what Wait returned; read it only after done is closed.
	err error
}

// startChild starts argv with its output to out (flush, if not nil, is
// called once it has exited). The child gets its own process group, so that
// the SIGINT a terminal sends to dev's group on Ctrl-C does not reach it:
// dev alone stops it, in order, with one SIGTERM (a second signal makes a
// controller-runtime manager exit at once). It is killed if dev dies
// without stopping it (Linux).
func startChild(con *console, name string, argv, env []string, out io.Writer, flush func()) (*child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childSysProcAttr()
	// Should the child leave a process behind that holds its output, Wait
	// does not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}

	started := make(chan error, 1)
	go func() {
		// The parent-death signal is sent when the thread that started the
		// child ends, not the process: keep this goroutine, and the thread
		// it is locked to, until the child has exited. The thread ends
		// with the goroutine, as it stays locked.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = cmd.Wait()
		if flush != nil {
			flush()
		}
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, argv[0], err)
	}
	con.logf("started %s (pid %d)", name, cmd.Process.Pid)
	return c, nil
}

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// status describes how the child exited; call it once done is closed.
func (c *child) status() string {
	if c.err == nil {
		return "exit status 0"
	}
	var exitErr *exec.ExitError
	if errors.As(c.err, &exitErr) {
		return exitErr.String()
	}
	return c.err.Error()
}

// stop asks the child to stop with SIGTERM and kills it if it has not
// stopped after grace, or at once when hurry is closed. A child that has
// already exited is fine.
func (c *child) stop(con *console, grace time.Duration, hurry <-chan struct{}) error {
	if c.exited() {
		return nil
	}
	con.logf("stopping %s (Ctrl-C again to kill it now)", c.name)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping %s: %w", c.name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-c.done:
		if c.err != nil {
			con.logf("%s stopped with %s", c.name, c.status())
		}
		return nil
	case <-timer.C:
		con.logf("%s did not stop within %s: killing it", c.name, grace)
	case <-hurry:
		con.logf("killing %s", c.name)
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing %s: %w", c.name, err)
	}
	<-c.done
	return nil
}
