// Package ldap is the identity.Backend for an LDAP directory (OpenLDAP,
// 389-ds, FreeIPA, ... with the standard inetOrgPerson and groupOfNames
// schema), on github.com/go-ldap/ldap/v3.
//
// A user partnerops creates is
//
//	dn: uid=<email>,<UserBaseDN>
//	objectClass: inetOrgPerson
//	uid, mail: <email>; cn, sn: <display name>; o: <account>
//	description: managed-by: partnerops
//
// and that description value (Mark) is what User.Managed reports.
//
// Finding a partner's user: in many directories users (or helpdesk roles)
// may write their own mail, so a mail is no proof of who an entry is, and a
// search by mail would give a partner's grants to whoever wrote the
// partner's address into their entry. By default the partner's user is
// therefore exactly the entry uid=<email>,<UserBaseDN>, read by its DN (a
// base-object read; creating an entry there takes write access to
// UserBaseDN itself, which a directory gives its administrators and
// partnerops's bind DN, not its users). An
// entry already there is the user, marked or not, when one of its mail
// values is the email (without ASCII case); any other mail, or none, is
// identity.ErrConflict. An entry elsewhere under UserBaseDN is never picked
// up, whatever its mail. With Config.TrustMailAttribute, for directories
// whose ACL lets only administrators write mail, the user is the one entry
// of the whole subtree under UserBaseDN whose mail is the email (the
// standard schema matches it without case; two are identity.ErrConflict),
// which finds users that existed before partnerops.
//
// Groups are cn=<group>,<Config.GroupBaseDN>, directly under it:
// groupOfNames whose member values are the users' DNs. They are read and
// written there only: Groups lists the groupOfNames one level under
// GroupBaseDN named by a single cn RDN, so a same-named group deeper down
// (a legacy sub-OU) is neither reported as the grant nor changed. A group
// partnerops creates (Config.CreateGroups) carries the same Mark.
//
// groupOfNames must have at least one member, so removing the last member
// of a group is refused by the directory (objectClassViolation). When the
// group is partnerops's, the group is deleted instead; when it is not, the
// removal is refused with identity.ErrRejected explaining why, unless
// Config.PlaceholderMember is set: then that DN replaces the user in one
// atomic modify (the usual OpenLDAP convention for groups that may be
// "empty").
//
// Connections: one connection, bound as Config.BindDN, is kept and reused;
// every Backend call holds it alone (calls are serialised), which keeps
// multi-step calls (remove the last member, then delete the group) from
// interleaving, lets each call's context deadline bound its requests, and
// costs nothing at the rate grants change. The password is asked of
// Config.Password on every call: when it changed (a rotated Secret), the
// connection is bound again with the new one, so rotation needs no restart.
// A connection that broke, or sat idle longer than Config.IdleTimeout, is
// replaced by a new one; a call that failed because the reused connection
// had broken underneath it is run once more on a new connection (every call
// is idempotent). The password never appears in an error or a log.
package ldap

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/partnerops/partnerops/internal/identity"
)

// Mark is the description value that marks a user or a group as created by
// partnerops. Only an entry carrying it is ever deleted by partnerops.
const Mark = "managed-by: partnerops"

// Defaults of the Config timeouts.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultIdleTimeout    = 5 * time.Minute
)

// Config configures a Backend.
type Config struct {
	// URL is the directory: ldap://host[:port] or ldaps://host[:port].
	URL string
	// StartTLS upgrades an ldap:// connection to TLS before binding.
	StartTLS bool
	// RootCAs verifies the server's certificate (ldaps:// or StartTLS); nil
	// means the system's roots.
	RootCAs *x509.CertPool
	// ServerName is the name the certificate must carry; defaults to the
	// URL's host.
	ServerName string
	// AllowPlaintext allows ldap:// without StartTLS to a host that is not a
	// loopback address. Off, New refuses it: the bind password would cross
	// the network in clear.
	AllowPlaintext bool

	// BindDN is the service account partnerops binds as (simple bind).
	BindDN string
	// Password returns BindDN's password. It is called on every Backend
	// call (read it from a Kubernetes Secret through a cache), so a rotated
	// password is used without a restart. Its error is returned wrapped.
	Password func(ctx context.Context) (string, error)

	// UserBaseDN is where users are created: uid=<email>,<UserBaseDN>.
	UserBaseDN string
	// TrustMailAttribute says whether an entry's mail is proof that the
	// entry is the partner with that address. False (the default): the
	// partner's user is exactly the entry uid=<email>,<UserBaseDN>, read by
	// its DN, because in many directories users (or helpdesk roles) may
	// write their own mail, and matching on it would hand a partner's
	// grants to whoever wrote the partner's address there. True: the user
	// is the one entry under UserBaseDN (whole subtree) whose mail is the
	// email, which picks up users that existed before partnerops; set it
	// only when the directory's ACL lets nobody but its administrators
	// write mail.
	TrustMailAttribute bool
	// GroupBaseDN holds the groups: cn=<group>,<GroupBaseDN>, directly
	// under it. Nothing below that level is read or written.
	GroupBaseDN string
	// CreateGroups lets AddMember create a missing group (a groupOfNames
	// marked as partnerops's); off, a missing group is
	// identity.ErrGroupNotFound.
	CreateGroups bool
	// SubjectAttribute, when set, is the attribute of a user's entry that
	// records the subject a partner signed in as (identity.NewUser.
	// SignedInAs), such as employeeNumber; IssuerAttribute, when set too,
	// the issuer. The entry's object classes must allow them (partnerops
	// creates inetOrgPerson entries). Empty: nothing is recorded or checked.
	SubjectAttribute string
	IssuerAttribute  string
	// PlaceholderMember, when set, is the DN put in a group that is not
	// partnerops's when its last member is removed (groupOfNames cannot be
	// empty). Empty: such a removal is refused with identity.ErrRejected.
	PlaceholderMember string

	// DialTimeout bounds connecting, StartTLS and the bind (default 10s);
	// RequestTimeout each LDAP request (default 30s). A call's context
	// deadline, when sooner, wins.
	DialTimeout    time.Duration
	RequestTimeout time.Duration
	// IdleTimeout: a connection unused for longer is not reused but
	// replaced (default 5m), as firewalls drop idle connections silently.
	IdleTimeout time.Duration
}

// Backend is the LDAP identity.Backend. Its methods are safe for concurrent
// use; they run one at a time.
type Backend struct {
	cfg       Config
	host      string
	ldaps     bool       // TLS from the start (ldaps://)
	groupBase *goldap.DN // GroupBaseDN, parsed

	// sem is the connection's lock: a buffered channel so that waiting for
	// it honours the caller's context.
	sem chan struct{}
	// Guarded by sem:
	conn     *goldap.Conn
	pwHash   [32]byte // of the password conn is bound with
	lastUsed time.Time

	// dial opens a connection; tests replace it.
	dial func(ctx context.Context) (*goldap.Conn, error)
	now  func() time.Time
}

var _ identity.Backend = (*Backend)(nil)

// New checks cfg and returns a Backend. It does not connect: the first call
// does.
func New(cfg Config) (*Backend, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ldap: url %q: %w", cfg.URL, err)
	}
	switch {
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		return nil, fmt.Errorf("ldap: url %q: the scheme must be ldap:// or ldaps://", cfg.URL)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("ldap: url %q: no host", cfg.URL)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.User != nil:
		return nil, fmt.Errorf("ldap: url %q: only scheme://host[:port] is used; put DNs in userBaseDN and groupBaseDN", cfg.URL)
	case u.Scheme == "ldaps" && cfg.StartTLS:
		return nil, fmt.Errorf("ldap: url %q is already TLS (ldaps://): StartTLS applies to ldap:// only", cfg.URL)
	case u.Scheme == "ldap" && !cfg.StartTLS && !cfg.AllowPlaintext && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("ldap: url %q is plain ldap:// without StartTLS: the bind password would cross the network in clear; use ldaps://, StartTLS, or allow plaintext explicitly", cfg.URL)
	case cfg.BindDN == "":
		return nil, errors.New("ldap: no bind DN")
	case cfg.Password == nil:
		return nil, errors.New("ldap: no password source")
	}
	b := &Backend{cfg: cfg, host: u.Host, ldaps: u.Scheme == "ldaps", sem: make(chan struct{}, 1), now: time.Now}
	if u.Port() == "" {
		port := "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
		b.host = net.JoinHostPort(u.Hostname(), port)
	}
	if b.cfg.ServerName == "" {
		b.cfg.ServerName = u.Hostname()
	}
	for _, d := range []struct{ name, dn string }{{"bind DN", cfg.BindDN}, {"placeholder member", cfg.PlaceholderMember}} {
		if d.dn == "" {
			continue
		}
		if _, err := goldap.ParseDN(d.dn); err != nil {
			return nil, fmt.Errorf("ldap: %s %q is not a DN: %w", d.name, d.dn, err)
		}
	}
	for _, a := range []struct{ name, v string }{{"SubjectAttribute", cfg.SubjectAttribute}, {"IssuerAttribute", cfg.IssuerAttribute}} {
		if a.v == "" {
			continue
		}
		if err := CheckAttribute(a.v); err != nil {
			return nil, fmt.Errorf("ldap: %s %w", a.name, err)
		}
	}
	switch {
	case cfg.IssuerAttribute != "" && cfg.SubjectAttribute == "":
		return nil, errors.New("ldap: IssuerAttribute needs SubjectAttribute")
	case cfg.IssuerAttribute != "" && strings.EqualFold(cfg.IssuerAttribute, cfg.SubjectAttribute):
		return nil, errors.New("ldap: IssuerAttribute and SubjectAttribute must differ")
	}
	if _, err := checkBase("user base DN", cfg.UserBaseDN); err != nil {
		return nil, err
	}
	if b.groupBase, err = checkBase("group base DN", cfg.GroupBaseDN); err != nil {
		return nil, err
	}
	b.dial = b.connect
	return b, nil
}

func checkBase(name, dn string) (*goldap.DN, error) {
	if dn == "" {
		return nil, fmt.Errorf("ldap: no %s", name)
	}
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return nil, fmt.Errorf("ldap: %s %q is not a DN: %w", name, dn, err)
	}
	if len(parsed.RDNs) == 0 {
		return nil, fmt.Errorf("ldap: %s %q is empty (the root DSE holds no entries)", name, dn)
	}
	return parsed, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// marked tells whether e's description carries Mark.
func marked(e *goldap.Entry) bool {
	for _, d := range e.GetAttributeValues("description") {
		if strings.EqualFold(strings.TrimSpace(d), Mark) {
			return true
		}
	}
	return false
}

func sameDN(a, b string) bool {
	da, err1 := goldap.ParseDN(a)
	db, err2 := goldap.ParseDN(b)
	if err1 != nil || err2 != nil {
		return strings.EqualFold(a, b)
	}
	return da.EqualFold(db)
}
