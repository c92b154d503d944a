package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/partnerops/partnerops/internal/identity"
)

// scimUser is what partnerops reads of a SCIM User.
type scimUser struct {
	ID         string `json:"id"`
	UserName   string `json:"userName"`
	ExternalID string `json:"externalId"`
	// Groups is the read-only groups attribute (RFC 7643 §4.1.2): nil when
	// the service provider did not return it.
	Groups []groupRef `json:"groups"`
	// raw is every attribute, by name, for the sign-in's (signin.go).
	raw map[string]json.RawMessage
}

func (u *scimUser) UnmarshalJSON(b []byte) error {
	type plain scimUser
	if err := json.Unmarshal(b, (*plain)(u)); err != nil {
		return err
	}
	return json.Unmarshal(b, &u.raw)
}

type groupRef struct {
	Value   string `json:"value"`
	Display string `json:"display"`
	Type    string `json:"type"`
}

func (u scimUser) identity() identity.User {
	return identity.User{ID: u.ID, Email: u.UserName, Managed: strings.HasPrefix(u.ExternalID, MarkPrefix)}
}

// userExternalID is the externalId of a user partnerops creates.
func userExternalID(email string) string {
	return MarkPrefix + "user:" + strings.ToLower(email)
}

// FindUser returns the user whose userName is email, compared without case.
// It is ErrNotFound when there is none, ErrConflict when several match.
func (c *Client) FindUser(ctx context.Context, email string) (identity.User, error) {
	u, err := c.findUser(ctx, email)
	if err != nil {
		return identity.User{}, err
	}
	return u.identity(), nil
}

// findUser is FindUser, with the User as the service provider returned it.
func (c *Client) findUser(ctx context.Context, email string) (scimUser, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return scimUser{}, fmt.Errorf("%w: finding a user: empty email", identity.ErrRejected)
	}
	q := url.Values{"filter": {"userName eq " + filterValue(email)}}
	found, err := list(ctx, c, "/Users", q, func(u scimUser) string { return u.ID })
	if err != nil {
		return scimUser{}, fmt.Errorf("finding SCIM user %s: %w", email, err)
	}
	var match []scimUser
	for _, u := range found {
		// The service provider compares userName without case (RFC 7643
		// caseExact false) or not: compare here too, without ASCII case
		// only (one that folds Unicode finds the Kelvin sign's K for k,
		// another mailbox).
		if u.ID != "" && identity.SameAddress(u.UserName, email) {
			match = append(match, u)
		}
	}
	switch len(match) {
	case 0:
		return scimUser{}, fmt.Errorf("SCIM user %s: %w", email, identity.ErrNotFound)
	case 1:
		return match[0], nil
	default:
		ids := make([]string, len(match))
		for i, u := range match {
			ids[i] = u.ID
		}
		return scimUser{}, fmt.Errorf("%w: %d SCIM users have the userName %s (ids %s)", identity.ErrConflict, len(match), email, strings.Join(ids, ", "))
	}
}

// EnsureUser returns the user with u.Email, creating it when there is none:
// userName and the primary work email are u.Email, externalId marks it as
// partnerops's, u.Account goes to the enterprise extension's organization
// when the service provider announces that extension, and u.SignedInAs to
// Config.SubjectAttribute (and IssuerAttribute) when they are set. A user
// partnerops created that holds no sign-in gets it; one partnerops did not
// create is never changed; one holding another sign-in is ErrConflict.
func (c *Client) EnsureUser(ctx context.Context, nu identity.NewUser) (identity.User, error) {
	email := strings.TrimSpace(nu.Email)
	fields := c.signInFields(nu.SignedInAs)
	u, err := c.findUser(ctx, email)
	if err == nil {
		return c.existing(ctx, u, fields)
	}
	if !errors.Is(err, identity.ErrNotFound) {
		return identity.User{}, err
	}
	body, err := c.newUserBody(ctx, email, nu, fields)
	if err != nil {
		return identity.User{}, fmt.Errorf("creating SCIM user %s: %w", email, err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/Users", nil, body)
	if err != nil {
		if httpStatus(err) == http.StatusConflict {
			// Someone created it since we looked (uniqueness): use theirs.
			if u, ferr := c.findUser(ctx, email); ferr == nil {
				return c.existing(ctx, u, fields)
			}
		}
		return identity.User{}, fmt.Errorf("creating SCIM user %s: %w", email, err)
	}
	var created scimUser
	if err := decode(http.MethodPost, "/Users", resp, &created); err != nil {
		return identity.User{}, fmt.Errorf("creating SCIM user %s: %w", email, err)
	}
	if created.ID == "" {
		return identity.User{}, fmt.Errorf("creating SCIM user %s: %w: the response has no id", email, identity.ErrRejected)
	}
	if len(fields) > 0 {
		if err := c.verifySignIn(ctx, created.ID, fields); err != nil {
			// A user that cannot hold the sign-in is of no use: it goes
			// again (it is partnerops's, and in no group yet).
			_ = c.DeleteUser(ctx, created.identity())
			return identity.User{}, fmt.Errorf("creating SCIM user %s: %w", email, err)
		}
	}
	out := created.identity()
	if out.Email == "" {
		out.Email = email
	}
	return out, nil
}

// existing is EnsureUser's answer for a user that exists: the sign-in
// checked against it, and written when it is partnerops's and holds none.
func (c *Client) existing(ctx context.Context, u scimUser, fields []signInField) (identity.User, error) {
	write, err := checkSignIn(u, fields)
	if err == nil && write {
		err = c.writeSignIn(ctx, u, fields)
	}
	if err != nil {
		return identity.User{}, err
	}
	return u.identity(), nil
}

func (c *Client) newUserBody(ctx context.Context, email string, nu identity.NewUser, fields []signInField) (map[string]any, error) {
	display := strings.TrimSpace(nu.DisplayName)
	if display == "" {
		display = email
	}
	schemas := []string{schemaUser}
	body := map[string]any{
		"userName":    email,
		"externalId":  userExternalID(email),
		"displayName": display,
		"active":      true,
		"emails":      []map[string]any{{"value": email, "type": "work", "primary": true}},
	}
	if account := strings.TrimSpace(nu.Account); account != "" {
		ok, err := c.hasEnterpriseExtension(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			schemas = append(schemas, schemaEnterprise)
			body[schemaEnterprise] = map[string]any{"organization": account}
		}
	}
	setSignIn(body, &schemas, fields)
	body["schemas"] = schemas
	return body, nil
}

// hasEnterpriseExtension tells whether /ResourceTypes/User announces the
// enterprise extension. The answer is kept; a service provider without the
// endpoint (any 4xx but 401/403, or 501) has no such place.
func (c *Client) hasEnterpriseExtension(ctx context.Context) (bool, error) {
	c.enterpriseMu.Lock()
	defer c.enterpriseMu.Unlock()
	if c.enterpriseKnown {
		return c.enterprise, nil
	}
	resp, err := c.do(ctx, http.MethodGet, "/ResourceTypes/User", nil, nil)
	switch {
	case err == nil:
		var rt struct {
			SchemaExtensions []struct {
				Schema string `json:"schema"`
			} `json:"schemaExtensions"`
		}
		if derr := decode(http.MethodGet, "/ResourceTypes/User", resp, &rt); derr == nil {
			for _, e := range rt.SchemaExtensions {
				if e.Schema == schemaEnterprise {
					c.enterprise = true
				}
			}
		}
	case errors.Is(err, identity.ErrRejected) || errors.Is(err, identity.ErrNotFound):
	default:
		return false, fmt.Errorf("reading /ResourceTypes/User: %w", err)
	}
	c.enterpriseKnown = true
	return c.enterprise, nil
}

// DeleteUser deletes user when the service provider still marks it as
// partnerops's (externalId); a missing user is success. It refuses, with
// ErrRejected, to delete a user partnerops did not create, whatever
// user.Managed says.
func (c *Client) DeleteUser(ctx context.Context, user identity.User) error {
	if user.ID == "" {
		return fmt.Errorf("%w: deleting a SCIM user: no id", identity.ErrRejected)
	}
	path := "/Users/" + url.PathEscape(user.ID)
	resp, err := c.do(ctx, http.MethodGet, path, url.Values{"attributes": {"userName,externalId"}}, nil)
	if errors.Is(err, identity.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting SCIM user %s: %w", user.ID, err)
	}
	var u scimUser
	if err := decode(http.MethodGet, path, resp, &u); err != nil {
		return fmt.Errorf("deleting SCIM user %s: %w", user.ID, err)
	}
	if !strings.HasPrefix(u.ExternalID, MarkPrefix) {
		return fmt.Errorf("%w: not deleting SCIM user %s (%s): partnerops did not create it", identity.ErrRejected, user.ID, u.UserName)
	}
	if _, err := c.do(ctx, http.MethodDelete, path, nil, nil); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("deleting SCIM user %s: %w", user.ID, err)
	}
	return nil
}

// Groups returns the displayNames of the groups user is a direct member
// of, sorted. It reads the User's groups attribute when the service
// provider returns it, else it searches the Groups whose members hold the
// user's id. ErrNotFound when the user does not exist.
func (c *Client) Groups(ctx context.Context, user identity.User) ([]string, error) {
	if user.ID == "" {
		return nil, fmt.Errorf("%w: listing the groups of a SCIM user: no id", identity.ErrRejected)
	}
	path := "/Users/" + url.PathEscape(user.ID)
	resp, err := c.do(ctx, http.MethodGet, path, url.Values{"attributes": {"groups"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("listing the groups of SCIM user %s: %w", user.ID, err)
	}
	var u scimUser
	if err := decode(http.MethodGet, path, resp, &u); err != nil {
		return nil, fmt.Errorf("listing the groups of SCIM user %s: %w", user.ID, err)
	}
	var names []string
	if len(u.Groups) > 0 {
		for _, g := range u.Groups {
			if strings.EqualFold(g.Type, "indirect") {
				continue // through a nested group: not a membership to manage
			}
			name := g.Display
			if name == "" && g.Value != "" {
				if name, err = c.groupName(ctx, g.Value); err != nil {
					return nil, fmt.Errorf("listing the groups of SCIM user %s: %w", user.ID, err)
				}
			}
			if name != "" {
				names = append(names, name)
			}
		}
	} else {
		// No groups attribute (not returned, or no group): ask the Groups.
		q := url.Values{
			"filter":     {"members.value eq " + filterValue(user.ID)},
			"attributes": {"displayName"},
		}
		found, err := list(ctx, c, "/Groups", q, func(g scimGroup) string { return g.ID })
		if err != nil {
			return nil, fmt.Errorf("listing the groups of SCIM user %s: %w", user.ID, err)
		}
		for _, g := range found {
			if g.DisplayName != "" {
				names = append(names, g.DisplayName)
			}
		}
	}
	sort.Strings(names)
	return compact(names), nil
}

// groupName reads one group's displayName; "" when it is gone.
func (c *Client) groupName(ctx context.Context, id string) (string, error) {
	path := "/Groups/" + url.PathEscape(id)
	resp, err := c.do(ctx, http.MethodGet, path, url.Values{"attributes": {"displayName"}}, nil)
	if errors.Is(err, identity.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var g scimGroup
	if err := decode(http.MethodGet, path, resp, &g); err != nil {
		return "", err
	}
	return g.DisplayName, nil
}

func compact(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
