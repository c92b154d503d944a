package peer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Peer is a running peer as its package returns it.
type Peer interface {
	Stop()
	Log() string
}

// ForTest runs a peer for t with run (under the test's context), fails
// the test with run's error, stops the peer when the test ends, and prints
// its log (named name) when the test failed.
func ForTest[P Peer](t testing.TB, name string, run func(context.Context) (P, error)) P {
	t.Helper()
	p, err := run(t.Context())
	if err != nil {
		t.Fatalf("%s did not start: %v", name, err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.Log())
		}
	})
	return p
}

// Request asks a peer's HTTP API method url with body (sent as
// contentType, when not nil) and header, and returns the answer's status
// and body; err is an error of the exchange, named with who ("mailpit").
func Request(ctx context.Context, c *http.Client, who, method, url string, body []byte, contentType string, header http.Header) (status int, data []byte, err error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %s %s: %w", who, method, url, err)
	}
	defer resp.Body.Close()
	if data, err = io.ReadAll(resp.Body); err != nil {
		return 0, nil, fmt.Errorf("%s: %s %s: %w", who, method, url, err)
	}
	return resp.StatusCode, bytes.TrimSpace(data), nil
}

// RawServer accepts TCP connections on a free 127.0.0.1 port and hands
// each to handle (nil: holds it open, never answering), for servers no
// real peer plays (one that never answers, a refusing greeting). When the
// test ends it closes the listener and every connection, and waits for the
// handlers to return. It returns the listener's address.
func RawServer(t testing.TB, handle func(net.Conn)) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if handle != nil {
				wg.Go(func() { handle(c) })
			}
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().(*net.TCPAddr)
}
