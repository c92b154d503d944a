package peer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
