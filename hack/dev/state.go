package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// stateDir is the layout of the state directory. Every process dev starts
// names a path under it on its command line (etcd's --data-dir, the API
// server's --cert-dir, the manager's --kubeconfig, Mailpit's --database,
// node's --diagnostic-dir for the SCIM server).
type stateDir struct {
	dir string
	// kubeconfig reaches the API server as an administrator.
	kubeconfig string
	// etcdDir is etcd's data, kept from one run to the next.
	etcdDir string
	// certDir holds the API server's certificates, made anew on every run.
	certDir string
	// logDir holds the logs of etcd, kube-apiserver, envtest and Mailpit.
	logDir string
	// mailpitDB is Mailpit's database, kept from one run to the next like
	// etcd's data, in the directory mailpitDir.
	mailpitDir, mailpitDB string
	// mailpitLog is Mailpit's output.
	mailpitLog string
	// scimDir is where node writes the SCIM server's diagnostic reports,
	// if any; the server keeps its users and groups in memory only.
	scimDir string
	// scimLog is the SCIM server's output: one line per request.
	scimLog string

	lock *os.File
}

func newStateDir(dir string) *stateDir {
	return &stateDir{
		dir:        dir,
		kubeconfig: filepath.Join(dir, "kubeconfig"),
		etcdDir:    filepath.Join(dir, "etcd"),
		certDir:    filepath.Join(dir, "kube-apiserver"),
		logDir:     filepath.Join(dir, "logs"),
		mailpitDir: filepath.Join(dir, "mailpit"),
		mailpitDB:  filepath.Join(dir, "mailpit", "mailpit.db"),
		mailpitLog: filepath.Join(dir, "logs", "mailpit.log"),
		scimDir:    filepath.Join(dir, "scim-server"),
		scimLog:    filepath.Join(dir, "logs", "scim-server.log"),
	}
}

// openState creates the state directory and locks it for this process, and
// refuses to go on if it is in use: by another dev, or by an etcd or API
// server that a dev killed with SIGKILL left behind.
func openState(dir string) (*stateDir, error) {
	s := newStateDir(dir)
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("the state directory %s is a file (`make dev` built its binary there before it moved to bin/partnerops-dev): remove it, or choose another --state-dir", dir)
	}
	for _, d := range []string{s.dir, s.etcdDir, s.logDir, s.mailpitDir, s.scimDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating the state directory: %w", err)
		}
	}
	if err := s.acquireLock(); err != nil {
		return nil, err
	}
	if err := s.checkNoLeftovers(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// acquireLock takes an exclusive lock on a file of the state directory,
// held until this process exits (the descriptor is close-on-exec, so the
// children do not hold it).
func (s *stateDir) acquireLock() error {
	path := filepath.Join(s.dir, "dev.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening the state directory's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("another dev environment is running with the state directory %s: stop it first, or choose another --state-dir", s.dir)
		}
		return fmt.Errorf("locking %s: %w", path, err)
	}
	s.lock = f
	return nil
}

func (s *stateDir) close() {
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock = nil
	}
}

// checkNoLeftovers finds control-plane processes (and Mailpit, and the
// SCIM server's node) that still use this state directory although no dev
// holds it: the remains of a dev that was killed with SIGKILL where the
// kernel could not kill its children. They would hold etcd's data (or
// Mailpit's database, or the ports), so they are reported with how to stop
// them.
func (s *stateDir) checkNoLeftovers() error {
	own := []string{"--data-dir=" + s.etcdDir, "--cert-dir=" + s.certDir, "--database=" + s.mailpitDB, "--diagnostic-dir=" + s.scimDir}
	procs, err := findProcesses(func(argv []string) bool {
		return slices.ContainsFunc(argv, func(a string) bool { return slices.Contains(own, a) })
	})
	if err != nil || len(procs) == 0 {
		return err
	}
	names := make([]string, 0, len(procs))
	pids := make([]string, 0, len(procs))
	for _, p := range procs {
		names = append(names, fmt.Sprintf("%s (pid %d)", p.name(), p.pid))
		pids = append(pids, strconv.Itoa(p.pid))
	}
	// SIGKILL, as an API server whose etcd is gone can take minutes to end
	// on SIGTERM; etcd's data survives it.
	return fmt.Errorf("%s from an earlier dev that did not stop cleanly still use %s: stop them with `kill -9 %s`, then start again",
		strings.Join(names, " and "), s.dir, strings.Join(pids, " "))
}

// proc is a running process.
type proc struct {
	pid  int
	argv []string
}

func (p proc) name() string { return filepath.Base(p.argv[0]) }

// findProcesses returns the processes other than this one whose command
// line matches, from /proc; where there is no /proc it finds none.
func findProcesses(match func(argv []string) bool) ([]proc, error) {
	entries, err := os.ReadDir("/proc")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var found []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		// A process may end while it is read: then it is not running.
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
		if match(argv) {
			found = append(found, proc{pid: pid, argv: argv})
		}
	}
	return found, nil
}
