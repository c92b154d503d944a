// Package peer holds what the test-peer harnesses (mailpit, scim, slapd)
// share: finding the repository (where hack/install-peers.sh puts the
// peers), a free loopback port, a log buffer, and a clean environment.
package peer

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// RepoRoot finds the repository's root from this source file's path, else
// (a -trimpath build) from the first parent of the working directory that
// holds a go.mod.
func RepoRoot() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	if root := filepath.Join(filepath.Dir(file), "..", "..", ".."); filepath.IsAbs(file) && Exists(filepath.Join(root, "go.mod")) {
		return filepath.Clean(root), nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if Exists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// FreePort returns a TCP port free on 127.0.0.1 now. Another process may
// take it before the peer binds it: harnesses try again with new ports.
// Within this process it never returns the same port twice: the kernel may
// hand a just-closed port out again at once, and a peer asking for two
// ports (SMTP and HTTP, ldap and ldaps) would then get one port twice.
func FreePort() (int, error) {
	handedMu.Lock()
	defer handedMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !handed[port] {
			handed[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no loopback port this process has not handed out already")
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// Environ is the test's environment without the variables whose names
// start with one of prefixes, plus extra: a peer's flags are then its
// whole configuration.
func Environ(prefixes []string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		drop := false
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				drop = true
				break
			}
		}
		if !drop {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Buffer is a bytes.Buffer safe for a process's output and a reader.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// FromEnv is the path in the variable envVar, when it is set (ok), with an
// error when nothing is there.
func FromEnv(envVar string) (path string, ok bool, err error) {
	p := os.Getenv(envVar)
	if p == "" {
		return "", false, nil
	}
	if _, err := os.Stat(p); err != nil {
		return "", true, fmt.Errorf("%s=%s: %w", envVar, p, err)
	}
	return p, true, nil
}
