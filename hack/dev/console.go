package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Prefixes of the output's lines, by source.
const (
	devPrefix     = "dev     | "
	managerPrefix = "manager | "
	mailPrefix    = "mail    | "
	hubPrefix     = "hub     | "
)

// console writes whole lines, each with the prefix of its source, so that
// dev's messages and the manager's output never interleave within a line.
type console struct {
	mu       sync.Mutex
	out, err io.Writer
	cwd      string
}

func newConsole(out, err io.Writer) *console {
	cwd, _ := os.Getwd()
	return &console{out: out, err: err, cwd: cwd}
}

// logf writes one of dev's messages.
func (c *console) logf(format string, args ...any) {
	c.write(c.out, devPrefix, fmt.Sprintf(format, args...))
}

// errorf writes one of dev's errors, on stderr.
func (c *console) errorf(format string, args ...any) {
	c.write(c.err, devPrefix, "error: "+fmt.Sprintf(format, args...))
}

// print writes text, each line prefixed, at once: the lines of one
// message stay together.
func (c *console) print(prefix, text string) {
	c.write(c.out, prefix, text)
}

// block writes text as it is, without prefixes: what the user copies.
func (c *console) block(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.out, text)
}

func (c *console) write(w io.Writer, prefix, text string) {
	var b strings.Builder
	for line := range strings.Lines(strings.TrimRight(text, "\n") + "\n") {
		b.WriteString(prefix)
		b.WriteString(line)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(w, b.String())
}

// path shows p relative to the working directory when it is under it, as
// the user would type it, else as it is.
func (c *console) path(p string) string {
	rel, err := filepath.Rel(c.cwd, p)
	if err != nil || c.cwd == "" || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return rel
}

// lineWriter is an io.Writer for a child's output: it writes each complete
// line to the console with prefix, and keeps a partial line until it ends
// or Flush is called.
type lineWriter struct {
	con     *console
	prefix  string
	mu      sync.Mutex
	partial []byte
}

func (c *console) lineWriter(prefix string) *lineWriter {
	return &lineWriter{con: c, prefix: prefix}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	if i := bytes.LastIndexByte(w.partial, '\n'); i >= 0 {
		w.con.write(w.con.out, w.prefix, string(w.partial[:i+1]))
		w.partial = append(w.partial[:0], w.partial[i+1:]...)
	}
	return len(p), nil
}

// Flush writes a last line that did not end with a newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.con.write(w.con.out, w.prefix, string(w.partial))
		w.partial = w.partial[:0]
	}
}
