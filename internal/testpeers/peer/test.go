package peer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
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
