package peer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Process is a peer (or any helper program) running as a child process.
type Process struct {
	cmd *exec.Cmd
	// done is closed when the process has exited and onExit has run.
	done chan struct{}
	// err is what Wait returned; read it only after done is closed.
	err error
}

// Start starts cmd in its own process group, so that the SIGINT a terminal
// sends to this program's group on Ctrl-C does not reach it (the caller
// stops it, in its order), and has the kernel kill it if this process dies
// without stopping it (Linux). onExit, when not nil, runs once it has
// exited, before Done is closed (to flush its output, say).
func Start(cmd *exec.Cmd, onExit func()) (*Process, error) {
	cmd.SysProcAttr = sysProcAttr()
	// Should the child leave a process behind that holds its output, Wait
	// does not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	p := &Process{cmd: cmd, done: make(chan struct{})}
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
		p.err = cmd.Wait()
		if onExit != nil {
			onExit()
		}
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is what waiting for the process returned (nil: exit status 0); call
// it once Done is closed.
func (p *Process) Err() error { return p.err }

// Status describes how the process exited; call it once Done is closed.
func (p *Process) Status() string {
	if p.err == nil {
		return "exit status 0"
	}
	var exitErr *exec.ExitError
	if errors.As(p.err, &exitErr) {
		return exitErr.String()
	}
	return p.err.Error()
}

// Shutdown asks the process to stop with SIGTERM and waits for it to exit; it
// kills it when ctx ends first, and then reports killed. A process that
// has already exited is fine.
func (p *Process) Shutdown(ctx context.Context) (killed bool, err error) {
	if p.Exited() {
		return false, nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return false, fmt.Errorf("stopping %s: %w", p.cmd.Path, err)
	}
	select {
	case <-p.done:
		return false, nil
	case <-ctx.Done():
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return true, fmt.Errorf("killing %s: %w", p.cmd.Path, err)
	}
	<-p.done
	return true, nil
}

// StopWithin is Shutdown with grace as the time the process has to stop.
func (p *Process) StopWithin(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_, err := p.Shutdown(ctx)
	return err
}
