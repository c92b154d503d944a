// Package scim is the SCIM 2.0 identity backend (RFC 7643, RFC 7644): a
// client of a service provider's /Users and /Groups endpoints, written on
// net/http, implementing identity.Backend.
//
// Users are found by userName (the partner's email) and created with an
// externalId starting with "partnerops:", the mark that makes them Managed.
// A grant is membership of a Group found by displayName; a missing group is
// created (marked the same way) when Config.CreateGroups is set.
//
// A group partnerops created is deleted when partnerops removes a member and
// the service provider then proves the group empty: it reads the group back
// and deletes it only when it is still marked as partnerops's and either
// its members come back as an explicit empty list, or, when the reply has no
// members attribute at all (RFC 7643 §2.5 lets a provider leave an empty
// list out, but a provider that never returns members leaves it out too),
// the provider's own filter says so twice: no group matches `id eq "…" and
// members pr`, and this group matches `id eq "…" and not (members pr)`. Any
// other answer, an error included, keeps the group. Config.KeepEmptyGroups
// keeps every group.
//
// A write counts as done only on a 2xx answer from the URL it was sent to:
// a redirect is never followed, whatever HTTP client Config gives, and any
// 3xx is an ErrRejected that says where it pointed (following would turn a
// PATCH or DELETE into a GET that succeeds, and hand the bearer token to
// wherever the Location says).
//
// Every request reads the bearer token anew through Config.Token, so a
// rotated token is used without a restart; the token never appears in an
// error (nor does any "Bearer …" value the provider echoes). Errors wrap the
// identity sentinels: 401/403 ErrUnauthorized, 400 and 3xx ErrRejected (with
// the SCIM detail and scimType), 404 ErrNotFound, 409 ErrConflict, 429/503
// with Retry-After a *identity.RetryAfterError, other 5xx, connection
// failures and timeouts ErrUnavailable.
package scim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	// is removed. By default such a group is deleted once the service
	// provider proves it empty (see the package doc); set it when groups
	// must outlive their members, or to spare the provider the checks.
	KeepEmptyGroups bool
	// HTTPClient sends the requests; nil means a new client over a clone of
	// http.DefaultTransport. New uses a shallow copy of it whose
	// CheckRedirect refuses every redirect, whatever the given one says: a
	// bearer token is never sent anywhere but BaseURL.
	HTTPClient *http.Client
	// RootCAs, when not nil, are the only CAs trusted for BaseURL's
	// certificate (a private CA). It needs HTTPClient nil or without a
	// Transport of its own: New builds the transport (TLS 1.2 at least).
	RootCAs *x509.CertPool
	// Timeout bounds each request, body included; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// PageSize is the count asked for in each page of a listing; zero
	// means DefaultPageSize. The service provider may return fewer.
	PageSize int
	// SubjectAttribute, when set, is the User attribute that records the
	// subject a partner signed in as (identity.NewUser.SignedInAs): a core
	// attribute name, or <extension URN>:<name> (ParseAttributePath), such
	// as PartnerOpsUserSchema+":subject". IssuerAttribute, when set too,
	// records the issuer. Empty: nothing is recorded or checked.
	SubjectAttribute string
	IssuerAttribute  string
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
	// subjectAttr and issuerAttr are where the sign-in goes (nil: nowhere).
	subjectAttr, issuerAttr *attrPath

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
	hc, err := httpClient(cfg.HTTPClient, cfg.RootCAs)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:         u,
		token:        cfg.Token,
		createGroups: cfg.CreateGroups,
		keepEmpty:    cfg.KeepEmptyGroups,
		http:         hc,
		timeout:      cfg.Timeout,
		pageSize:     cfg.PageSize,
		now:          time.Now,
	}
	for _, a := range []struct {
		key, v string
		dst    **attrPath
	}{{"SubjectAttribute", cfg.SubjectAttribute, &c.subjectAttr}, {"IssuerAttribute", cfg.IssuerAttribute, &c.issuerAttr}} {
		if a.v == "" {
			continue
		}
		p, err := ParseAttributePath(a.v)
		if err != nil {
			return nil, fmt.Errorf("scim: %s %w", a.key, err)
		}
		*a.dst = &p
	}
	switch {
	case c.issuerAttr != nil && c.subjectAttr == nil:
		return nil, errors.New("scim: IssuerAttribute needs SubjectAttribute")
	case c.issuerAttr != nil && strings.EqualFold(c.issuerAttr.String(), c.subjectAttr.String()):
		return nil, errors.New("scim: IssuerAttribute and SubjectAttribute must differ")
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.pageSize == 0 {
		c.pageSize = DefaultPageSize
	}
	return c, nil
}

// httpClient returns the client the driver sends with: a shallow copy of
// given (so the caller's client keeps its own redirect policy) that never
// follows a redirect, over a transport trusting rootCAs when they are set.
func httpClient(given *http.Client, rootCAs *x509.CertPool) (*http.Client, error) {
	hc := &http.Client{}
	if given != nil {
		*hc = *given
	}
	// Whatever the given client says: following a 301/302/303 turns a
	// PATCH, POST or DELETE into a GET that succeeds (a write counted as
	// done while nothing changed), and Go hands the Authorization header to
	// a Location on the same host, https or not.
	hc.CheckRedirect = refuseRedirect
	if rootCAs != nil {
		if hc.Transport != nil {
			return nil, errors.New("scim: RootCAs needs an HTTPClient without its own Transport (put the CAs in that Transport instead)")
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: rootCAs}
		hc.Transport = tr
	}
	return hc, nil
}

// refuseRedirect makes http.Client return a 3xx as it is; send turns it
// into an error naming where it pointed.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

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
