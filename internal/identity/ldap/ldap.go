// Package ldap is the identity.Backend for an LDAP directory (OpenLDAP,
// 389-ds, FreeIPA, ... with the standard inetOrgPerson and groupOfNames
// schema), on github.com/go-ldap/ldap/v3.
//
// Users live under Config.UserBaseDN and are found by mail (the standard
// schema matches it without case). A user partnerops creates is
//
//	dn: uid=<email>,<UserBaseDN>
//	objectClass: inetOrgPerson
//	uid, mail: <email>; cn, sn: <display name>; o: <account>
//	description: managed-by: partnerops
//
// and that description value (Mark) is what User.Managed reports. Groups are
// cn=<group>,<Config.GroupBaseDN>, groupOfNames whose member values are the
// users' DNs. A group partnerops creates (Config.CreateGroups) carries the
// same Mark.
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
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
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

	// UserBaseDN is where users are searched (whole subtree) and created.
	UserBaseDN string
	// GroupBaseDN holds the groups: cn=<group>,<GroupBaseDN>.
	GroupBaseDN string
	// CreateGroups lets AddMember create a missing group (a groupOfNames
	// marked as partnerops's); off, a missing group is
	// identity.ErrGroupNotFound.
	CreateGroups bool
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
	cfg   Config
	host  string
	ldaps bool // TLS from the start (ldaps://)

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
	if err := checkBase("user base DN", cfg.UserBaseDN); err != nil {
		return nil, err
	}
	if err := checkBase("group base DN", cfg.GroupBaseDN); err != nil {
		return nil, err
	}
	b.dial = b.connect
	return b, nil
}

func checkBase(name, dn string) error {
	if dn == "" {
		return fmt.Errorf("ldap: no %s", name)
	}
	if _, err := goldap.ParseDN(dn); err != nil {
		return fmt.Errorf("ldap: %s %q is not a DN: %w", name, dn, err)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close closes the kept connection, if any. The Backend stays usable: the
// next call connects again.
func (b *Backend) Close() error {
	b.sem <- struct{}{}
	defer func() { <-b.sem }()
	b.drop()
	return nil
}

// FindUser returns the user whose mail is email, without case.
func (b *Backend) FindUser(ctx context.Context, email string) (identity.User, error) {
	if err := checkEmail(email); err != nil {
		return identity.User{}, err
	}
	var u identity.User
	err := b.do(ctx, func(c *call) error {
		var err error
		u, err = c.findUser(email)
		return err
	})
	return u, err
}

// EnsureUser returns the user with u.Email, creating it when there is none.
func (b *Backend) EnsureUser(ctx context.Context, nu identity.NewUser) (identity.User, error) {
	if err := checkEmail(nu.Email); err != nil {
		return identity.User{}, err
	}
	var u identity.User
	err := b.do(ctx, func(c *call) error {
		var err error
		u, err = c.findUser(nu.Email)
		if !errors.Is(err, identity.ErrNotFound) {
			return err
		}
		dn := userDN(nu.Email, b.cfg.UserBaseDN)
		name := nu.DisplayName
		if strings.TrimSpace(name) == "" {
			name = nu.Email
		}
		req := goldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
		req.Attribute("uid", []string{nu.Email})
		req.Attribute("mail", []string{nu.Email})
		req.Attribute("cn", []string{name})
		req.Attribute("sn", []string{name})
		if nu.Account != "" {
			req.Attribute("o", []string{nu.Account})
		}
		req.Attribute("description", []string{Mark})
		err = c.conn.Add(req)
		switch {
		case err == nil, goldap.IsErrorWithCode(err, goldap.LDAPResultEntryAlreadyExists):
			// Created, or created meanwhile (or by a call whose answer was
			// lost): find it, so that the ID is the DN as the server spells
			// it, the same FindUser returns. An entry with that DN but
			// another mail is in the way.
			added := err == nil
			u, err = c.findUser(nu.Email)
			if errors.Is(err, identity.ErrNotFound) && added {
				// Added, yet not found (the bind DN may not read mail?):
				// our own spelling of the DN is as good an ID.
				u, err = identity.User{ID: dn, Email: nu.Email, Managed: true}, nil
			}
			if errors.Is(err, identity.ErrNotFound) {
				return fmt.Errorf("%w: ldap: creating user %s: an entry with that DN already exists but its mail is not %q; an administrator must rename or remove it",
					identity.ErrConflict, dn, nu.Email)
			}
			return err
		case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
			return fmt.Errorf("%w: ldap: creating user %s: the user base DN %s does not exist in the directory", identity.ErrRejected, dn, b.cfg.UserBaseDN)
		case goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidAttributeSyntax):
			return fmt.Errorf("%w: ldap: creating user %s: the directory refused a value (the mail attribute only takes ASCII addresses): %s",
				identity.ErrRejected, dn, describe(err))
		}
		return c.fail("creating user", dn, err)
	})
	return u, err
}

// AddMember adds user's DN to the member values of group.
func (b *Backend) AddMember(ctx context.Context, group string, user identity.User) error {
	if err := checkGroupAndUser(group, user); err != nil {
		return err
	}
	dn := groupDN(group, b.cfg.GroupBaseDN)
	return b.do(ctx, func(c *call) error {
		for attempt := 0; ; attempt++ {
			req := goldap.NewModifyRequest(dn, nil)
			req.Add("member", []string{user.ID})
			err := c.conn.Modify(req)
			switch {
			case err == nil, goldap.IsErrorWithCode(err, goldap.LDAPResultAttributeOrValueExists):
				return nil
			case goldap.IsErrorWithCode(err, goldap.LDAPResultObjectClassViolation):
				return fmt.Errorf("%w: ldap: adding %s to group %s: that entry is not a group whose members are DNs (groupOfNames): %s",
					identity.ErrConflict, user.ID, dn, describe(err))
			case !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
				return c.fail("adding member "+user.ID+" to group", dn, err)
			}
			if !b.cfg.CreateGroups {
				return fmt.Errorf("%w: ldap: group %s does not exist; an administrator must create it (or let partnerops create groups)",
					identity.ErrGroupNotFound, dn)
			}
			add := goldap.NewAddRequest(dn, nil)
			add.Attribute("objectClass", []string{"top", "groupOfNames"})
			add.Attribute("cn", []string{group})
			add.Attribute("member", []string{user.ID})
			add.Attribute("description", []string{Mark})
			err = c.conn.Add(add)
			switch {
			case err == nil:
				return nil
			case goldap.IsErrorWithCode(err, goldap.LDAPResultEntryAlreadyExists) && attempt == 0:
				continue // created meanwhile: add the member to it
			case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
				return fmt.Errorf("%w: ldap: creating group %s: the group base DN %s does not exist in the directory", identity.ErrRejected, dn, b.cfg.GroupBaseDN)
			}
			return c.fail("creating group", dn, err)
		}
	})
}

// RemoveMember removes user's DN from the member values of group. A group
// partnerops created that would be left empty is deleted.
func (b *Backend) RemoveMember(ctx context.Context, group string, user identity.User) error {
	if err := checkGroupAndUser(group, user); err != nil {
		return err
	}
	dn := groupDN(group, b.cfg.GroupBaseDN)
	return b.do(ctx, func(c *call) error {
		req := goldap.NewModifyRequest(dn, nil)
		req.Delete("member", []string{user.ID})
		err := c.conn.Modify(req)
		switch {
		case err == nil, goldap.IsErrorAnyOf(err, goldap.LDAPResultNoSuchAttribute, goldap.LDAPResultNoSuchObject):
			return nil
		case !goldap.IsErrorWithCode(err, goldap.LDAPResultObjectClassViolation):
			return c.fail("removing member "+user.ID+" from group", dn, err)
		}
		// The user is the last member (groupOfNames needs one).
		g, err := c.read(dn, "description", "member")
		switch {
		case errors.Is(err, errNoEntry):
			return nil // deleted meanwhile
		case err != nil:
			return c.fail("reading group", dn, err)
		}
		members := g.GetAttributeValues("member")
		if len(members) != 1 || !sameDN(members[0], user.ID) {
			// Not the situation the directory described: someone changed
			// the group meanwhile. The caller retries.
			return fmt.Errorf("%w: ldap: removing %s from group %s: the directory refused it (%s) but the group now has %d member(s)",
				identity.ErrUnavailable, user.ID, dn, describe(err), len(members))
		}
		if marked(g) {
			err := c.conn.Del(goldap.NewDelRequest(dn, nil))
			if err == nil || goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
				return nil
			}
			return c.fail("deleting group (its last member left)", dn, err)
		}
		if b.cfg.PlaceholderMember == "" {
			return fmt.Errorf("%w: ldap: removing %s from group %s: it is the group's last member and a groupOfNames must have one; partnerops did not create this group so it does not delete it: add another member (or configure a placeholder member) and the removal is retried",
				identity.ErrRejected, user.ID, dn)
		}
		// One modify is atomic: the placeholder comes in as the user goes.
		req = goldap.NewModifyRequest(dn, nil)
		req.Add("member", []string{b.cfg.PlaceholderMember})
		req.Delete("member", []string{user.ID})
		err = c.conn.Modify(req)
		if err == nil || goldap.IsErrorAnyOf(err, goldap.LDAPResultNoSuchObject) {
			return nil
		}
		return c.fail("replacing the last member "+user.ID+" with the placeholder "+b.cfg.PlaceholderMember+" in group", dn, err)
	})
}

// Groups returns the cn of every groupOfNames under GroupBaseDN (whole
// subtree) that has user's DN as a member, sorted.
func (b *Backend) Groups(ctx context.Context, user identity.User) ([]string, error) {
	if user.ID == "" {
		return nil, fmt.Errorf("%w: ldap: a user without a DN", identity.ErrRejected)
	}
	var names []string
	err := b.do(ctx, func(c *call) error {
		names = nil
		res, err := c.search(b.cfg.GroupBaseDN, goldap.ScopeWholeSubtree,
			"(&(objectClass=groupOfNames)(member="+goldap.EscapeFilter(user.ID)+"))", "cn")
		if err != nil {
			if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
				return fmt.Errorf("%w: ldap: listing the groups of %s: the group base DN %s does not exist in the directory", identity.ErrRejected, user.ID, b.cfg.GroupBaseDN)
			}
			return c.fail("listing the groups of "+user.ID+" under", b.cfg.GroupBaseDN, err)
		}
		seen := map[string]bool{}
		for _, e := range res.Entries {
			name := rdnValue(e.DN, "cn")
			if name == "" {
				name = e.GetAttributeValue("cn")
			}
			if name != "" && !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
		sort.Strings(names)
		return nil
	})
	return names, err
}

// DeleteUser deletes user's entry if it carries Mark; a missing entry is
// success, an entry without the mark is refused (identity.ErrRejected).
func (b *Backend) DeleteUser(ctx context.Context, user identity.User) error {
	if user.ID == "" {
		return fmt.Errorf("%w: ldap: a user without a DN", identity.ErrRejected)
	}
	return b.do(ctx, func(c *call) error {
		e, err := c.read(user.ID, "description")
		switch {
		case errors.Is(err, errNoEntry):
			return nil
		case err != nil:
			return c.fail("reading user", user.ID, err)
		case !marked(e):
			return fmt.Errorf("%w: ldap: deleting user %s: partnerops did not create it (its description lacks %q), so it never deletes it",
				identity.ErrRejected, user.ID, Mark)
		}
		err = c.conn.Del(goldap.NewDelRequest(user.ID, nil))
		if err == nil || goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return nil
		}
		return c.fail("deleting user", user.ID, err)
	})
}

// call is one Backend call's use of the connection.
type call struct {
	b    *Backend
	conn *goldap.Conn
}

// findUser searches UserBaseDN for the user with mail email.
func (c *call) findUser(email string) (identity.User, error) {
	res, err := c.search(c.b.cfg.UserBaseDN, goldap.ScopeWholeSubtree, mailFilter(email), "mail", "description")
	if err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return identity.User{}, fmt.Errorf("%w: ldap: searching for %q: the user base DN %s does not exist in the directory", identity.ErrRejected, email, c.b.cfg.UserBaseDN)
		}
		return identity.User{}, c.fail(fmt.Sprintf("searching for the user with mail %q under", email), c.b.cfg.UserBaseDN, err)
	}
	switch len(res.Entries) {
	case 0:
		return identity.User{}, fmt.Errorf("%w: ldap: no entry under %s has mail %q", identity.ErrNotFound, c.b.cfg.UserBaseDN, email)
	case 1:
	default:
		dns := make([]string, len(res.Entries))
		for i, e := range res.Entries {
			dns[i] = e.DN
		}
		return identity.User{}, fmt.Errorf("%w: ldap: %d entries have mail %q: %s; an administrator must keep only one",
			identity.ErrConflict, len(dns), email, strings.Join(dns, "; "))
	}
	e := res.Entries[0]
	u := identity.User{ID: e.DN, Email: email, Managed: marked(e)}
	for _, m := range e.GetAttributeValues("mail") {
		if strings.EqualFold(m, email) {
			u.Email = m
			break
		}
	}
	return u, nil
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

// rdnValue returns the value of attr in dn's first RDN, or "".
func rdnValue(dn, attr string) string {
	d, err := goldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		return ""
	}
	for _, a := range d.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, attr) {
			return a.Value
		}
	}
	return ""
}

func checkEmail(email string) error {
	if strings.TrimSpace(email) == "" {
		return fmt.Errorf("%w: ldap: an empty email", identity.ErrRejected)
	}
	return nil
}

func checkGroupAndUser(group string, user identity.User) error {
	switch {
	case strings.TrimSpace(group) == "":
		return fmt.Errorf("%w: ldap: an empty group name", identity.ErrRejected)
	case user.ID == "":
		return fmt.Errorf("%w: ldap: a user without a DN", identity.ErrRejected)
	}
	return nil
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
