package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// manager is the manager binary running as a child process.
type manager struct {
	cmd *exec.Cmd
	out *lineWriter
	// done is closed when the process has exited and its output is written.
	done chan struct{}
	// err is what Wait returned; read it only after done is closed.
	err error
}

// startManager starts argv with its output on the console. The manager gets
// its own process group, so that the SIGINT a terminal sends to dev's group
// on Ctrl-C does not reach it: dev alone stops it, with one SIGTERM (a
// second signal makes a controller-runtime manager exit at once). It is
// killed if dev dies without stopping it (Linux).
func startManager(argv []string, con *console) (*manager, error) {
	out := con.lineWriter(managerPrefix)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = managerSysProcAttr()
	// Should the manager leave a process behind that holds its output,
	// Wait does not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	m := &manager{cmd: cmd, out: out, done: make(chan struct{})}

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
		m.err = cmd.Wait()
		out.Flush()
		close(m.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting the manager %s: %w", argv[0], err)
	}
	con.logf("started the manager (pid %d)", cmd.Process.Pid)
	return m, nil
}

// exited reports whether the manager has exited.
func (m *manager) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// status describes how the manager exited; call it once done is closed.
func (m *manager) status() string {
	if m.err == nil {
		return "exit status 0"
	}
	var exitErr *exec.ExitError
	if errors.As(m.err, &exitErr) {
		return exitErr.String()
	}
	return m.err.Error()
}

// waitReady polls the manager's readiness endpoint until it answers 200 OK.
// It gives up when ctx ends, when the manager exits or after timeout.
func (m *manager) waitReady(ctx context.Context, readyURL string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx, client, readyURL) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.done:
			return fmt.Errorf("the manager exited before it was ready (%s): see its output above", m.status())
		case <-deadline.C:
			return fmt.Errorf("the manager was not ready after %s (%s does not answer 200 OK): see its output above", timeout, readyURL)
		case <-tick.C:
		}
	}
}

func ready(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop asks the manager to stop with SIGTERM and kills it if it has not
// stopped after grace, or at once when hurry is closed. A manager that has
// already exited is fine.
func (m *manager) stop(con *console, grace time.Duration, hurry <-chan struct{}) error {
	if m.exited() {
		return nil
	}
	con.logf("stopping the manager (Ctrl-C again to kill it now)")
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping the manager: %w", err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-m.done:
		if m.err != nil {
			con.logf("the manager stopped with %s", m.status())
		}
		return nil
	case <-timer.C:
		con.logf("the manager did not stop within %s: killing it", grace)
	case <-hurry:
		con.logf("killing the manager")
	}
	if err := m.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing the manager: %w", err)
	}
	<-m.done
	return nil
}
