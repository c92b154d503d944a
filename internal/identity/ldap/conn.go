package ldap

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/partnerops/partnerops/internal/identity"
)

// This file holds the kept connection: each call holding it alone, the
// retry on a new connection when the reused one broke, connecting (TLS or
// StartTLS), binding with the current password, and the requests a call
// makes on it (search, read).

// do runs fn with the connection, alone. A failure caused by the reused
// connection having broken (the server restarted, an idle connection was
// cut) runs fn once more on a new connection: every call is idempotent.
func (b *Backend) do(ctx context.Context, fn func(*call) error) error {
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: ldap: waiting for the connection to %s: %w", identity.ErrUnavailable, b.cfg.URL, ctx.Err())
	}
	defer func() { <-b.sem }()

	for attempt := 0; ; attempt++ {
		conn, reused, err := b.connection(ctx)
		if err != nil {
			return err
		}
		err = b.run(ctx, conn, fn)
		if err == nil {
			b.lastUsed = b.now()
			return nil
		}
		if !isNetwork(err) {
			b.lastUsed = b.now()
			return err
		}
		broken := conn.IsClosing()
		b.drop()
		if ctx.Err() != nil {
			return fmt.Errorf("%w: ldap: %s: %w", identity.ErrUnavailable, b.cfg.URL, ctx.Err())
		}
		if !reused || !broken || attempt > 0 {
			return err
		}
	}
}

// run runs fn on conn with requests bounded by RequestTimeout and by ctx:
// when ctx ends first, the connection is closed, which ends the request in
// flight (and the connection is replaced on the next call).
func (b *Backend) run(ctx context.Context, conn *goldap.Conn, fn func(*call) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: ldap: %s: %w", identity.ErrUnavailable, b.cfg.URL, err)
	}
	timeout := b.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	conn.SetTimeout(timeout)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	return fn(&call{b: b, conn: conn})
}

// connection returns the kept connection when it is usable, bound with the
// current password; else it opens and binds a new one. reused tells which.
func (b *Backend) connection(ctx context.Context) (conn *goldap.Conn, reused bool, err error) {
	pw, err := b.cfg.Password(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("%w: ldap: reading the password of %s: %w", identity.ErrUnauthorized, b.cfg.BindDN, err)
	}
	h := hashPassword(pw)
	if b.conn != nil && (b.conn.IsClosing() || h != b.pwHash || b.now().Sub(b.lastUsed) > b.cfg.IdleTimeout) {
		b.drop()
	}
	if b.conn != nil {
		return b.conn, true, nil
	}
	conn, err = b.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := b.bind(ctx, conn, pw); err != nil {
		_ = conn.Close()
		return nil, false, err
	}
	b.conn, b.pwHash, b.lastUsed = conn, h, b.now()
	return conn, false, nil
}

// drop closes and forgets the kept connection.
func (b *Backend) drop() {
	if b.conn != nil {
		_ = b.conn.Close()
		b.conn = nil
	}
}

// Close closes the kept connection, if any. The Backend stays usable: the
// next call connects again.
func (b *Backend) Close() error {
	b.sem <- struct{}{}
	defer func() { <-b.sem }()
	b.drop()
	return nil
}

// connect opens a connection to the server: TCP, then TLS for ldaps://, or
// StartTLS when configured, all within DialTimeout.
func (b *Backend) connect(ctx context.Context) (*goldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{Timeout: b.cfg.DialTimeout}
	raw, err := d.DialContext(ctx, "tcp", b.host)
	if err != nil {
		return nil, unavailable(fmt.Sprintf("ldap: connecting to %s", b.cfg.URL), err)
	}
	ldaps := b.ldaps
	if ldaps {
		tc := tls.Client(raw, b.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, unavailable(fmt.Sprintf("ldap: TLS with %s", b.cfg.URL), err)
		}
		raw = tc
	}
	conn := goldap.NewConn(raw, ldaps)
	conn.Start()
	conn.SetTimeout(b.cfg.DialTimeout)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if b.cfg.StartTLS {
		if err := conn.StartTLS(b.tlsConfig()); err != nil {
			_ = conn.Close()
			var le *goldap.Error
			if errors.As(err, &le) && le.ResultCode != goldap.ErrorNetwork {
				return nil, &opError{sentinel: identity.ErrRejected, cause: err,
					msg: fmt.Sprintf("ldap: StartTLS with %s: the server refused it: %s", b.cfg.URL, describe(err))}
			}
			return nil, unavailable(fmt.Sprintf("ldap: StartTLS with %s", b.cfg.URL), err)
		}
	}
	return conn, nil
}

// bind binds conn as BindDN with pw (a simple bind).
func (b *Backend) bind(ctx context.Context, conn *goldap.Conn, pw string) error {
	conn.SetTimeout(b.cfg.DialTimeout)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if err := conn.Bind(b.cfg.BindDN, pw); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: ldap: binding to %s: %w", identity.ErrUnavailable, b.cfg.URL, ctx.Err())
		}
		return mapError("binding as", b.cfg.BindDN, err)
	}
	return nil
}

func unavailable(what string, err error) error {
	return &opError{sentinel: identity.ErrUnavailable, cause: err, msg: fmt.Sprintf("%s: %v", what, err)}
}

// isNetwork tells whether err is go-ldap's network error (connection
// refused, closed, timed out).
func isNetwork(err error) bool {
	var le *goldap.Error
	return errors.As(err, &le) && le.ResultCode == goldap.ErrorNetwork
}

// tlsConfig is the TLS configuration of ldaps:// and StartTLS.
func (b *Backend) tlsConfig() *tls.Config {
	return &tls.Config{
		RootCAs:    b.cfg.RootCAs,
		ServerName: b.cfg.ServerName,
		MinVersion: tls.VersionTLS12,
	}
}

func hashPassword(pw string) [32]byte { return sha256.Sum256([]byte(pw)) }

// call is one Backend call's use of the connection.
type call struct {
	b    *Backend
	conn *goldap.Conn
}

func (c *call) search(base string, scope int, filter string, attrs ...string) (*goldap.SearchResult, error) {
	return c.conn.Search(goldap.NewSearchRequest(base, scope, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
}

var errNoEntry = errors.New("no such entry")

// read returns the entry dn, or errNoEntry.
func (c *call) read(dn string, attrs ...string) (*goldap.Entry, error) {
	res, err := c.search(dn, goldap.ScopeBaseObject, "(objectClass=*)", attrs...)
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return nil, errNoEntry
	case err != nil:
		return nil, err
	case len(res.Entries) == 0:
		return nil, errNoEntry
	}
	return res.Entries[0], nil
}
