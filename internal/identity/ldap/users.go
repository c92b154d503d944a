package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/partnerops/partnerops/internal/identity"
)

// This file holds the users: FindUser, EnsureUser and DeleteUser, and
// how a partner's user is found (by its DN uid=<email>,<UserBaseDN>, or by
// mail when the configuration trusts mail).

// FindUser returns the partner's user for email, whose grants are to be
// removed: the entry uid=<email>,<UserBaseDN>, or, with TrustMailAttribute,
// the entry under UserBaseDN whose mail is email. By default the entry at
// that DN is returned whatever its mail now says: the DN says whose grants
// it holds, and a partner who may write its own mail must not be able to
// keep them by changing it (EnsureUser, which grants, still refuses such an
// entry).
func (b *Backend) FindUser(ctx context.Context, email string) (identity.User, error) {
	if err := checkEmail(email); err != nil {
		return identity.User{}, err
	}
	var u identity.User
	err := b.do(ctx, func(c *call) error {
		var err error
		u, err = c.findUser(email)
		var other *otherMail
		if errors.As(err, &other) {
			u, err = other.user, nil
		}
		return err
	})
	return u, err
}

// otherMail is the conflict of an entry at a user's DN whose mail is not
// the user's address; it carries the entry, which removals still act on.
type otherMail struct {
	user identity.User
	err  error
}

func (e *otherMail) Error() string { return e.err.Error() }
func (e *otherMail) Unwrap() error { return e.err }

// EnsureUser returns the user with u.Email, creating it when there is none.
// With Config.SubjectAttribute, u.SignedInAs is recorded on a user it
// creates and on a user partnerops created that holds none; a user
// partnerops did not create is never changed; one holding another sign-in
// is identity.ErrConflict.
func (b *Backend) EnsureUser(ctx context.Context, nu identity.NewUser) (identity.User, error) {
	if err := checkEmail(nu.Email); err != nil {
		return identity.User{}, err
	}
	var u identity.User
	fields := b.signInFields(nu.SignedInAs)
	err := b.do(ctx, func(c *call) error {
		var err error
		u, err = c.findUser(nu.Email)
		if err == nil {
			return c.signIn(u, fields)
		}
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
		for _, f := range fields {
			req.Attribute(f.attr, []string{f.want})
		}
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
			if err == nil && !added {
				return c.signIn(u, fields) // created meanwhile: as found
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
		if identity.SameAddress(m, email) {
			return identity.User{ID: e.DN, Email: m, Managed: marked(e)}, nil
		}
	}
	has := "has no mail the bind DN can read"
	if len(mails) > 0 {
		has = fmt.Sprintf("has %d mail value(s), none of them %q", len(mails), email)
	}
	return identity.User{}, &otherMail{user: identity.User{ID: e.DN, Email: email, Managed: marked(e)},
		err: fmt.Errorf("%w: ldap: the entry %s, where partnerops keeps the user for %q, %s; an administrator must correct its mail, or rename or remove it",
			identity.ErrConflict, e.DN, email, has)}
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
	match := withMail(res.Entries, email)
	switch len(match) {
	case 0:
		return identity.User{}, fmt.Errorf("%w: ldap: no entry under %s has mail %q", identity.ErrNotFound, c.b.cfg.UserBaseDN, email)
	case 1:
	default:
		dns := make([]string, len(match))
		for i, e := range match {
			dns[i] = e.DN
		}
		return identity.User{}, fmt.Errorf("%w: ldap: %d entries have mail %q: %s; an administrator must keep only one",
			identity.ErrConflict, len(dns), email, strings.Join(dns, "; "))
	}
	e := match[0]
	u := identity.User{ID: e.DN, Email: email, Managed: marked(e)}
	for _, m := range e.GetAttributeValues("mail") {
		if identity.SameAddress(m, email) {
			u.Email = m
			break
		}
	}
	return u, nil
}

// withMail keeps the entries with a mail value that is email. The
// directory's match is not taken on trust: one whose matching rule folds
// beyond ASCII case (Active Directory's mail is a Unicode string) finds the
// Kelvin sign's K for k, another mailbox.
func withMail(entries []*goldap.Entry, email string) []*goldap.Entry {
	var match []*goldap.Entry
	for _, e := range entries {
		if slices.ContainsFunc(e.GetAttributeValues("mail"), func(m string) bool { return identity.SameAddress(m, email) }) {
			match = append(match, e)
		}
	}
	return match
}

func checkEmail(email string) error {
	if strings.TrimSpace(email) == "" {
		return fmt.Errorf("%w: ldap: an empty email", identity.ErrRejected)
	}
	return nil
}
