package ldap

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/partnerops/partnerops/internal/identity"
)

// This file holds the groups: AddMember (creating a missing group when
// configured), RemoveMember (with the last-member rule of groupOfNames)
// and Groups, over the groups directly under GroupBaseDN.

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
		case err == nil, goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute):
			return nil
		case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
			// No such group: nothing to remove, unless the group base DN
			// itself is missing (or hidden from the bind DN), a
			// configuration error that must not pass for "removed".
			if _, err := c.read(b.cfg.GroupBaseDN, "1.1"); errors.Is(err, errNoEntry) {
				return fmt.Errorf("%w: ldap: removing %s from group %s: the group base DN %s does not exist in the directory (or the bind DN may not read it)",
					identity.ErrRejected, user.ID, dn, b.cfg.GroupBaseDN)
			} else if err != nil {
				return c.fail("reading the group base DN", b.cfg.GroupBaseDN, err)
			}
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

func checkGroupAndUser(group string, user identity.User) error {
	switch {
	case strings.TrimSpace(group) == "":
		return fmt.Errorf("%w: ldap: an empty group name", identity.ErrRejected)
	case user.ID == "":
		return fmt.Errorf("%w: ldap: a user without a DN", identity.ErrRejected)
	}
	return nil
}
