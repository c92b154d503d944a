// Package scim is the SCIM 2.0 identity backend (RFC 7643, RFC 7644): a
// client of a service provider's /Users and /Groups endpoints, written on
// net/http, implementing identity.Backend.
//
// Users are found by userName (the partner's email) and created with an
// externalId starting with "partnerops:", the mark that makes them Managed.
// A grant is membership of a Group found by displayName; a missing group is
// created (marked the same way) when Config.CreateGroups is set, and a group
// partnerops created is deleted once its last member is removed.
//
// Every request reads the bearer token anew through Config.Token, so a
// rotated token is used without a restart; the token never appears in an
// error. Errors wrap the identity sentinels: 401/403 ErrUnauthorized, 400
// ErrRejected (with the SCIM detail and scimType), 404 ErrNotFound, 409
// ErrConflict, 429/503 with Retry-After a *identity.RetryAfterError, other
// 5xx, connection failures and timeouts ErrUnavailable.
package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/partnerops/partnerops/internal/identity"
)

// Defaults of Config.
const (
	DefaultTimeout  = 30 * time.Second
	DefaultPageSize = 100
	// MaxResponseBytes bounds what is read of one response.
	MaxResponseBytes = 1 << 20
	// MaxRetryAfter bounds the wait a Retry-After header can ask for.
	MaxRetryAfter = time.Hour
	// maxPages bounds one paginated listing (with DefaultPageSize, 100,000
	// resources).
	maxPages = 1000
)

// MarkPrefix starts the externalId of every User and Group partnerops
// creates: Managed is true for a resource whose externalId has it.
const MarkPrefix = "partnerops:"

// SCIM schema and message URNs (RFC 7643 §8.7, RFC 7644 §3.1).
const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	mediaType        = "application/scim+json"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the service provider's SCIM base URL, the one /Users and
	// /Groups are under, e.g. https://idp.example.com/scim/v2 (http only
	// for tests on loopback).
	BaseURL string
	// Token returns the bearer token. It is called for every request (the
	// caller reads it from a Kubernetes Secret, so a rotation needs no
	// restart). Required.
	Token func(ctx context.Context) (string, error)
	// CreateGroups creates a group a grant maps to when it does not exist;
	// when false such a grant fails with identity.ErrGroupNotFound.
	CreateGroups bool
	// KeepEmptyGroups keeps a group partnerops created when its last member
	// is removed. By default it is deleted; set it for a service provider
	// that never returns a group's members (the emptiness check would see
	// none).
	KeepEmptyGroups bool
	// HTTPClient sends the requests; nil means a client that does not
	// follow redirects (a bearer token is never sent anywhere but BaseURL).
	HTTPClient *http.Client
	// Timeout bounds each request, body included; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// PageSize is the count asked for in each page of a listing; zero
	// means DefaultPageSize. The service provider may return fewer.
	PageSize int
}

// Client is a SCIM 2.0 identity.Backend. It is safe for concurrent use.
type Client struct {
	base         *url.URL
	token        func(ctx context.Context) (string, error)
	createGroups bool
	keepEmpty    bool
	http         *http.Client
	timeout      time.Duration
	pageSize     int
	now          func() time.Time

	// groupLocks serialises the membership changes of one group within this
	// process (find-or-create, and remove-then-delete-if-empty).
	groupLocks keyedMutex

	// enterprise caches whether /ResourceTypes/User announces the
	// enterprise extension (where NewUser.Account goes).
	enterpriseMu    sync.Mutex
	enterpriseKnown bool
	enterprise      bool
}

var _ identity.Backend = (*Client)(nil)

// New checks cfg and returns a Client. It sends no request.
func New(cfg Config) (*Client, error) {
	if cfg.Token == nil {
		return nil, errors.New("scim: Config.Token is required")
	}
	u, err := url.Parse(strings.TrimSpace(cfg.BaseURL))
	if err != nil {
		return nil, fmt.Errorf("scim: base URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("scim: base URL %q: want an absolute http(s) URL", cfg.BaseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("scim: base URL %q: credentials, query and fragment are not allowed", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if cfg.Timeout < 0 || cfg.PageSize < 0 {
		return nil, errors.New("scim: Timeout and PageSize must not be negative")
	}
	c := &Client{
		base:         u,
		token:        cfg.Token,
		createGroups: cfg.CreateGroups,
		keepEmpty:    cfg.KeepEmptyGroups,
		http:         cfg.HTTPClient,
		timeout:      cfg.Timeout,
		pageSize:     cfg.PageSize,
		now:          time.Now,
	}
	if c.http == nil {
		c.http = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.pageSize == 0 {
		c.pageSize = DefaultPageSize
	}
	return c, nil
}

// keyedMutex is one mutex per key, honouring the context while waiting;
// entries go away when nobody holds or waits for them.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch chan struct{} // holds a token while locked
	n  int           // holders and waiters
}

func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.n++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if e.n--; e.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, fmt.Errorf("%w: waiting for another change of the same group: %w", identity.ErrUnavailable, ctx.Err())
	}
}
