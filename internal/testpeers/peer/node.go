package peer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// This file holds what the node peers (hack/scim-server,
// hack/oidc-provider) share: where hack/install-peers.sh installed their
// script, and the line they print once they listen.

// NodeScript is the server.js of the node peer hack/<dir>: $envVar when
// set (make test sets it), else the copy hack/install-peers.sh installs
// into bin/tools/<dir>/<hash>/, <hash> being the first 16 hex digits of
// the sha256 of files (in that order) as they are now.
func NodeScript(envVar, dir string, files ...string) (string, error) {
	if p, ok, err := FromEnv(envVar); ok {
		return p, err
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, "hack", dir, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	p := filepath.Join(root, "bin", "tools", dir, hex.EncodeToString(h.Sum(nil))[:16], "server.js")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no %s at %s: run hack/install-peers.sh (or `make test`) to install it, or set $%s", dir, p, envVar)
	}
	return p, nil
}

// ReadyWriter copies a peer's output to Log and sends, once, the rest of
// the first line that starts with Prefix on Ready (buffered, capacity 1).
type ReadyWriter struct {
	Log    io.Writer
	Prefix string
	Ready  chan string
	line   []byte
	sent   bool
}

func (w *ReadyWriter) Write(p []byte) (int, error) {
	_, _ = w.Log.Write(p)
	if w.sent {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.line[:i]))
		w.line = w.line[i+1:]
		if u, ok := strings.CutPrefix(line, w.Prefix); ok {
			w.Ready <- u
			w.sent, w.line = true, nil
			break
		}
	}
	return len(p), nil
}

// NodeDefaults fills in a node peer's script (with find) and node (the
// node on PATH) when they are empty; what names the peer in errors.
func NodeDefaults(script, node *string, find func() (string, error), what string) error {
	if *script == "" {
		p, err := find()
		if err != nil {
			return err
		}
		*script = p
	}
	if *node == "" {
		p, err := exec.LookPath("node")
		if err != nil {
			return fmt.Errorf("no node on PATH for %s: run hack/install-peers.sh (it installs Debian's nodejs): %w", what, err)
		}
		*node = p
	}
	return nil
}

// StartNode starts cmd, a node peer named what, with its output in buf
// (and log, when not nil), and waits until it prints its ready line
// (prefix, then its URL), which it returns. The wait ends with an error
// when ctx ends, the peer exits or after timeout (the error quotes buf);
// the peer is then stopped. The URL must be on 127.0.0.1.
func StartNode(ctx context.Context, cmd *exec.Cmd, what string, buf *Buffer, log io.Writer, prefix string, timeout time.Duration) (*Process, string, error) {
	var out io.Writer = buf
	if log != nil {
		out = io.MultiWriter(buf, log)
	}
	cmd.Stderr = out
	ready := make(chan string, 1)
	cmd.Stdout = &ReadyWriter{Log: out, Prefix: prefix, Ready: ready}
	p, err := Start(cmd, nil)
	if err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", what, err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var u string
	select {
	case u = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	case <-p.Done():
		err = fmt.Errorf("%s exited (%s) before it was ready; its log:\n%s", what, p.Status(), buf.String())
	case <-deadline.C:
		err = fmt.Errorf("%s was not ready after %s; its log:\n%s", what, timeout, buf.String())
	}
	if err == nil && !strings.HasPrefix(u, "http://127.0.0.1:") {
		err = fmt.Errorf("%s is not on loopback: %q", what, u)
	}
	if err != nil {
		_ = p.StopWithin(5 * time.Second)
		return nil, "", err
	}
	return p, u, nil
}
