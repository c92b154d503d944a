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

// Close closes the kept connection, if any. The Backend stays usable: the
// next call connects again.
func (b *Backend) Close() error {
	b.sem <- struct{}{}
	defer func() { <-b.sem }()
	b.drop()
	return nil
}

// FindUser returns the partner's user for email: the entry
// uid=<email>,<UserBaseDN> when its mail is email, or, with
// TrustMailAttribute, the entry under UserBaseDN whose mail is email.
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
			// another mail is in the way (findUser says so by DN; by mail
			// it finds nothing).
			added := err == nil
			u, err = c.findUser(nu.Email)
			if errors.Is(err, identity.ErrNotFound) && added {
				// Added, yet not found (the bind DN may not read mail?):
				// our own spelling of the DN is as good an ID.
				u, err = identity.User{ID: dn, Email: nu.Email, Managed: true}, nil
			}
			if errors.Is(err, identity.ErrNotFound) {
				return fmt.Errorf("%w: ldap: creating user %s: an entry with that DN already exists but the bind DN cannot read it or its mail is not %q; an administrator must rename or remove it",
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

// Groups returns the name of every group that has user's DN as a member,
// sorted: the groupOfNames directly under GroupBaseDN, cn=<name>,<GroupBaseDN>,
// where AddMember and RemoveMember write. One level only, and the parent DN
// checked too: a same-named group elsewhere (cn=<name>,ou=legacy,<base>)
// holding the user is not the grant, and taken for it, the grant would be
// thought held and never added (or its removal skipped).
func (b *Backend) Groups(ctx context.Context, user identity.User) ([]string, error) {
	if user.ID == "" {
		return nil, fmt.Errorf("%w: ldap: a user without a DN", identity.ErrRejected)
	}
	var names []string
	err := b.do(ctx, func(c *call) error {
		names = nil
		res, err := c.search(b.cfg.GroupBaseDN, goldap.ScopeSingleLevel,
			"(&(objectClass=groupOfNames)(member="+goldap.EscapeFilter(user.ID)+"))", "1.1")
		if err != nil {
			if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
				return fmt.Errorf("%w: ldap: listing the groups of %s: the group base DN %s does not exist in the directory", identity.ErrRejected, user.ID, b.cfg.GroupBaseDN)
			}
			return c.fail("listing the groups of "+user.ID+" under", b.cfg.GroupBaseDN, err)
		}
		seen := map[string]bool{}
		for _, e := range res.Entries {
			name, ok := groupName(e.DN, b.groupBase)
			if ok && !seen[name] {
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

// groupName returns <name> when dn is cn=<name>,<base>: one RDN of one cn
// value directly under base, the DN groupDN gives that name and AddMember
// writes. Anything else (deeper, under another base, another or a
// multi-valued RDN) is not a group partnerops reads. A server that answers
// a one-level search with deeper entries (a proxy, a middlebox chasing
// referrals) gets them ignored too.
func groupName(dn string, base *goldap.DN) (string, bool) {
	d, err := goldap.ParseDN(dn)
	if err != nil || len(d.RDNs) != len(base.RDNs)+1 {
		return "", false
	}
	rdn := d.RDNs[0]
	if len(rdn.Attributes) != 1 || !strings.EqualFold(rdn.Attributes[0].Type, "cn") || rdn.Attributes[0].Value == "" {
		return "", false
	}
	if !(&goldap.DN{RDNs: d.RDNs[1:]}).EqualFold(base) {
		return "", false
	}
	return rdn.Attributes[0].Value, true
}

// call is one Backend call's use of the connection.
type call struct {
	b    *Backend
	conn *goldap.Conn
}

// findUser finds the partner's user for email: by DN, or by mail when the
// configuration trusts mail.
func (c *call) findUser(email string) (identity.User, error) {
	if c.b.cfg.TrustMailAttribute {
		return c.findUserByMail(email)
	}
	return c.findUserByDN(email)
}

// findUserByDN reads uid=<email>,<UserBaseDN>, the one entry that may be
// email's user when mail is not trusted. Its mail must be email: the DN
// alone says who the entry was made for, the mail that it still is.
func (c *call) findUserByDN(email string) (identity.User, error) {
	dn := userDN(email, c.b.cfg.UserBaseDN)
	e, err := c.read(dn, "mail", "description")
	switch {
	case errors.Is(err, errNoEntry):
		return identity.User{}, c.noUser(email, dn)
	case err != nil:
		return identity.User{}, c.fail("reading the user", dn, err)
	case !sameDN(e.DN, dn):
		// A base-object read answers with its base; anything else is a
		// server (or something in between) not to be trusted with grants.
		return identity.User{}, fmt.Errorf("%w: ldap: reading the user %s: the directory answered with the entry %s",
			identity.ErrRejected, dn, e.DN)
	}
	mails := e.GetAttributeValues("mail")
	for _, m := range mails {
		if equalFoldASCII(m, email) {
			return identity.User{ID: e.DN, Email: m, Managed: marked(e)}, nil
		}
	}
	has := "has no mail the bind DN can read"
	if len(mails) > 0 {
		has = fmt.Sprintf("has %d mail value(s), none of them %q", len(mails), email)
	}
	return identity.User{}, fmt.Errorf("%w: ldap: the entry %s, where partnerops keeps the user for %q, %s; an administrator must correct its mail, or rename or remove it",
		identity.ErrConflict, e.DN, email, has)
}

// noUser is the answer when the entry dn for email does not exist:
// ErrNotFound, unless UserBaseDN itself is missing (or hidden from the bind
// DN). That is a configuration error, never "no such user": on a
// revocation, "no such user" lets the controller forget the grants it
// recorded, while the memberships would stay.
func (c *call) noUser(email, dn string) error {
	_, err := c.read(c.b.cfg.UserBaseDN, "1.1")
	switch {
	case errors.Is(err, errNoEntry):
		return fmt.Errorf("%w: ldap: reading the user %s: the user base DN %s does not exist in the directory (or the bind DN may not read it)",
			identity.ErrRejected, dn, c.b.cfg.UserBaseDN)
	case err != nil:
		return c.fail("reading the user base DN", c.b.cfg.UserBaseDN, err)
	}
	return fmt.Errorf("%w: ldap: no entry %s for %q", identity.ErrNotFound, dn, email)
}

// findUserByMail searches UserBaseDN (whole subtree) for the user with mail
// email.
func (c *call) findUserByMail(email string) (identity.User, error) {
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

// equalFoldASCII compares without ASCII case only: mail is an IA5String
// (ASCII) compared with caseIgnoreIA5Match, while Unicode folding would
// make, say, the Kelvin sign K equal to k, another mailbox.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func sameDN(a, b string) bool {
	da, err1 := goldap.ParseDN(a)
	db, err2 := goldap.ParseDN(b)
	if err1 != nil || err2 != nil {
		return strings.EqualFold(a, b)
	}
	return da.EqualFold(db)
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
