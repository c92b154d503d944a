package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// manager is the manager binary running as a child process.
type manager struct {
	*child
}

// startManager starts argv with its output on the console, each line
// prefixed "manager | ".
func startManager(argv []string, con *console) (*manager, error) {
	out := con.lineWriter(managerPrefix)
	c, err := startChild(con, "the manager", argv, nil, out, out.Flush)
	if err != nil {
		return nil, err
	}
	return &manager{child: c}, nil
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
		case <-m.Done():
			return fmt.Errorf("the manager exited before it was ready (%s): see its output above", m.Status())
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
