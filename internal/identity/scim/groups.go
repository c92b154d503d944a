package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/partnerops/partnerops/internal/identity"
)

// scimGroup is what partnerops reads of a SCIM Group.
type scimGroup struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	ExternalID  string `json:"externalId"`
	// Members is nil when the reply had no members attribute (or null):
	// that says nothing about the group, unlike an explicit empty list.
	Members *[]memberRef `json:"members"`
}

type memberRef struct {
	Value string `json:"value"`
}

func (g scimGroup) managed() bool { return strings.HasPrefix(g.ExternalID, MarkPrefix) }

// groupExternalID is the externalId of a group partnerops creates.
func groupExternalID(name string) string { return MarkPrefix + "group:" + name }

// findGroup returns the group whose displayName is name (compared without
// case), without its members. ErrGroupNotFound when there is none,
// ErrConflict when several match.
func (c *Client) findGroup(ctx context.Context, name string) (scimGroup, error) {
	q := url.Values{
		"filter":             {"displayName eq " + filterValue(name)},
		"excludedAttributes": {"members"},
	}
	found, err := list(ctx, c, "/Groups", q, func(g scimGroup) string { return g.ID })
	if err != nil {
		return scimGroup{}, fmt.Errorf("finding SCIM group %s: %w", name, err)
	}
	var match []scimGroup
	for _, g := range found {
		if g.ID != "" && identity.SameAddress(g.DisplayName, name) {
			match = append(match, g)
		}
	}
	switch len(match) {
	case 0:
		for _, g := range found {
			if g.ID != "" && strings.EqualFold(g.DisplayName, name) {
				// The same name but for the case of a letter outside ASCII:
				// maybe the group, maybe another. Neither "no such group"
				// (a removal would count as done while the member stays)
				// nor the group (a grant could land in another).
				return scimGroup{}, fmt.Errorf("%w: the SCIM service answered for group %s with group %s (%s), which differs from it in the case of a letter outside ASCII; rename one of them",
					identity.ErrConflict, name, g.DisplayName, g.ID)
			}
		}
		return scimGroup{}, fmt.Errorf("SCIM group %s: %w", name, identity.ErrGroupNotFound)
	case 1:
		return match[0], nil
	default:
		return scimGroup{}, fmt.Errorf("%w: %d SCIM groups are named %s", identity.ErrConflict, len(match), name)
	}
}

// who names user in errors: its email, else its id.
func who(user identity.User) string {
	if user.Email != "" {
		return user.Email
	}
	return "user " + user.ID
}

func checkArgs(group string, user identity.User) error {
	if strings.TrimSpace(group) == "" {
		return fmt.Errorf("%w: empty group name", identity.ErrRejected)
	}
	if user.ID == "" {
		return fmt.Errorf("%w: the user has no id", identity.ErrRejected)
	}
	return nil
}

func membersPatch(op string, path string, value any) map[string]any {
	o := map[string]any{"op": op, "path": path}
	if value != nil {
		o["value"] = value
	}
	return map[string]any{"schemas": []string{schemaPatchOp}, "Operations": []any{o}}
}

// AddMember makes user a member of group with a PATCH add of members (RFC
// 7644 §3.5.2.1); being a member already is success. A missing group is
// created with user as its first member when CreateGroups is set, else the
// answer is ErrGroupNotFound.
func (c *Client) AddMember(ctx context.Context, group string, user identity.User) error {
	unlock, err := c.lockGroup(ctx, group, user, "adding to a SCIM group")
	if err != nil {
		return err
	}
	defer unlock()

	// Twice at most: the group may vanish between the search and the PATCH.
	for attempt := 0; ; attempt++ {
		g, err := c.findGroup(ctx, group)
		if errors.Is(err, identity.ErrGroupNotFound) {
			if !c.createGroups {
				return fmt.Errorf("adding %s to SCIM group %s: %w (create it, or set createGroups)", who(user), group, err)
			}
			created, err := c.createGroup(ctx, group, user)
			if err != nil {
				return fmt.Errorf("adding %s to SCIM group %s: %w", who(user), group, err)
			}
			if created {
				return nil
			}
			// Created by someone else meanwhile: add to theirs.
			if g, err = c.findGroup(ctx, group); err != nil {
				return fmt.Errorf("adding %s to SCIM group %s: %w", who(user), group, err)
			}
		} else if err != nil {
			return fmt.Errorf("adding %s to SCIM group %s: %w", who(user), group, err)
		}
		path := "/Groups/" + url.PathEscape(g.ID)
		_, err = c.do(ctx, http.MethodPatch, path, nil, membersPatch("add", "members", []map[string]string{{"value": user.ID}}))
		if errors.Is(err, identity.ErrNotFound) && attempt == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("adding %s to SCIM group %s: %w", who(user), group, err)
		}
		return nil
	}
}

// lockGroup checks the arguments of a change to group's members (an error
// says what was being done, doing) and takes group's lock, whatever the
// case of its name.
func (c *Client) lockGroup(ctx context.Context, group string, user identity.User, doing string) (unlock func(), err error) {
	if err := checkArgs(group, user); err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	return c.groupLocks.lock(ctx, strings.ToLower(group))
}

// createGroup POSTs group, marked as partnerops's, with user as its member.
// It reports false when the service provider says the name is taken (409):
// someone else created it since the search.
func (c *Client) createGroup(ctx context.Context, name string, user identity.User) (bool, error) {
	body := map[string]any{
		"schemas":     []string{schemaGroup},
		"displayName": name,
		"externalId":  groupExternalID(name),
		"members":     []map[string]string{{"value": user.ID}},
	}
	_, err := c.do(ctx, http.MethodPost, "/Groups", nil, body)
	if httpStatus(err) == http.StatusConflict {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating the group: %w", err)
	}
	return true, nil
}

// RemoveMember ends user's membership of group with a PATCH remove of
// members[value eq "id"] (RFC 7644 §3.5.2.2). A missing group or membership
// is success (a 400 noTarget included). A group partnerops created (its
// externalId) is then deleted if the service provider proves it empty (see
// deleteIfEmpty), unless KeepEmptyGroups.
func (c *Client) RemoveMember(ctx context.Context, group string, user identity.User) error {
	unlock, err := c.lockGroup(ctx, group, user, "removing from a SCIM group")
	if err != nil {
		return err
	}
	defer unlock()

	g, err := c.findGroup(ctx, group)
	if errors.Is(err, identity.ErrGroupNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s from SCIM group %s: %w", who(user), group, err)
	}
	path := "/Groups/" + url.PathEscape(g.ID)
	_, err = c.do(ctx, http.MethodPatch, path, nil, membersPatch("remove", "members[value eq "+filterValue(user.ID)+"]", nil))
	switch {
	case errors.Is(err, identity.ErrNotFound):
		// The group went meanwhile, provided it is gone: a 404 from
		// something in front of the service (a proxy that does not pass
		// PATCH) would otherwise count as a membership removed.
		if _, gerr := c.do(ctx, http.MethodGet, path, url.Values{"attributes": {"id"}}, nil); !errors.Is(gerr, identity.ErrNotFound) {
			if gerr == nil {
				gerr = fmt.Errorf("%w: PATCH %s answered 404 Not Found, yet the group is there", identity.ErrUnavailable, path)
			}
			return fmt.Errorf("removing %s from SCIM group %s: %w", who(user), group, gerr)
		}
		return nil
	case err != nil && scimType(err) == "noTarget":
		// Not a member (some service providers say so with 400 noTarget).
	case err != nil:
		return fmt.Errorf("removing %s from SCIM group %s: %w", who(user), group, err)
	}
	if !g.managed() || c.keepEmpty {
		return nil
	}
	if err := c.deleteIfEmpty(ctx, g); err != nil {
		return fmt.Errorf("removing %s from SCIM group %s: %w", who(user), group, err)
	}
	return nil
}

// deleteIfEmpty deletes g when it is still partnerops's and the service
// provider proves it has no member: an explicit empty members list, or,
// when the reply leaves members out, its filters (confirmedEmpty). A group
// too large to read has members.
func (c *Client) deleteIfEmpty(ctx context.Context, g scimGroup) error {
	path := "/Groups/" + url.PathEscape(g.ID)
	resp, err := c.do(ctx, http.MethodGet, path, url.Values{"attributes": {"displayName,externalId,members"}}, nil)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return nil
	case errors.Is(err, errTooLarge):
		return nil
	case err != nil:
		return fmt.Errorf("checking whether the group is empty: %w", err)
	}
	var cur scimGroup
	if err := decode(http.MethodGet, path, resp, &cur); err != nil {
		return err
	}
	if !cur.managed() {
		return nil
	}
	switch {
	case cur.Members != nil && len(*cur.Members) > 0:
		return nil
	case cur.Members == nil:
		// Left out: empty, or a provider that never returns members (RFC
		// 7643 §2.5 allows both). Deleting on that would delete groups that
		// still have members; ask the provider's filters instead.
		empty, err := c.confirmedEmpty(ctx, g.ID)
		if err != nil {
			return fmt.Errorf("checking whether the group is empty: %w", err)
		}
		if !empty {
			return nil
		}
	}
	if _, err := c.do(ctx, http.MethodDelete, path, nil, nil); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("deleting the empty group: %w", err)
	}
	return nil
}

// confirmedEmpty asks the service provider, with two filters, whether the
// group id has no member: it is empty only when no group matches `id eq
// "…" and members pr` (a provider that ignores filters returns the group
// here) and exactly this group matches `id eq "…" and not (members pr)` (a
// provider that answers nothing to a filter it does not understand returns
// no group here). A filter the provider refuses (4xx, 501) means it cannot
// tell: the group is kept, and that is not an error (the membership is
// gone, which is what the caller asked for). An outage is an error.
func (c *Client) confirmedEmpty(ctx context.Context, id string) (bool, error) {
	byID := "id eq " + filterValue(id)
	ask := func(filter string) ([]scimGroup, error) {
		q := url.Values{"filter": {filter}, "attributes": {"id"}}
		return list(ctx, c, "/Groups", q, func(g scimGroup) string { return g.ID })
	}
	withMembers, err := ask(byID + " and members pr")
	if err == nil && len(withMembers) == 0 {
		var without []scimGroup
		if without, err = ask(byID + " and not (members pr)"); err == nil {
			return len(without) == 1 && without[0].ID == id, nil
		}
	}
	if err != nil && (errors.Is(err, identity.ErrRejected) || errors.Is(err, identity.ErrNotFound)) {
		return false, nil
	}
	return false, err
}
