package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/partnerops/partnerops/internal/identity"
)

// This file records who signed in (identity.NewUser.SignedInAs) on the
// user, in the attributes Config.SubjectAttribute and Config.IssuerAttribute
// name, so that the identity provider's single sign-on and the grants point
// at the same person. externalId stays partnerops's mark.

// PartnerOpsUserSchema is the schema extension partnerops documents for the
// sign-in (its attributes issuer and subject, strings), for service
// providers that let an administrator declare one; SubjectAttribute and
// IssuerAttribute may name its attributes, or any other string attribute.
const PartnerOpsUserSchema = "urn:ietf:params:scim:schemas:extension:partnerops:2.0:User"

// attrPath is a SCIM attribute path as partnerops takes it: a core User
// attribute (schema empty), or an attribute of an extension schema, with no
// sub-attribute.
type attrPath struct {
	schema string // the extension's URN; "" for the core User schema
	name   string
}

func (p attrPath) String() string {
	if p.schema == "" {
		return p.name
	}
	return p.schema + ":" + p.name
}

var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// ownAttributes are the User attributes partnerops already writes or the
// service provider owns: none may hold the sign-in.
var ownAttributes = map[string]bool{
	"id": true, "externalid": true, "meta": true, "schemas": true, "username": true, "displayname": true,
	"emails": true, "active": true, "groups": true, "password": true,
}

// ParseAttributePath checks a SubjectAttribute or IssuerAttribute: a core
// User attribute name (`nickName`), or `<extension URN>:<name>`
// (`urn:ietf:params:scim:schemas:extension:partnerops:2.0:User:subject`),
// naming a single-valued string attribute that partnerops does not
// otherwise use.
func ParseAttributePath(s string) (attrPath, error) {
	var p attrPath
	if strings.HasPrefix(strings.ToLower(s), "urn:") {
		i := strings.LastIndex(s, ":")
		p.schema, p.name = s[:i], s[i+1:]
		if strings.EqualFold(p.schema, schemaUser) {
			p.schema = ""
		} else if strings.EqualFold(p.schema, "urn:ietf:params:scim:schemas:core:2.0:Group") || strings.Count(p.schema, ":") < 2 {
			return p, fmt.Errorf("%q: the schema %q is not a User schema extension", s, p.schema)
		}
	} else {
		p.name = s
	}
	switch {
	case !attrName.MatchString(p.name):
		return p, fmt.Errorf("%q: want a User attribute name (a letter, then letters, digits, - or _), or <extension schema URN>:<name>; sub-attributes (a.b) are not supported", s)
	case p.schema == "" && ownAttributes[strings.ToLower(p.name)]:
		return p, fmt.Errorf("%q: partnerops or the service provider already uses that attribute", s)
	case strings.EqualFold(p.schema, schemaEnterprise) && strings.EqualFold(p.name, "organization"):
		return p, fmt.Errorf("%q: partnerops already writes the account's name there", s)
	}
	return p, nil
}

// signInField is one attribute the sign-in goes to, with the value it
// should hold.
type signInField struct {
	path attrPath
	want string
}

// signInFields are where nu's sign-in goes: none when it has none or the
// client is configured with no SubjectAttribute.
func (c *Client) signInFields(si *identity.SignIn) []signInField {
	if si == nil || c.subjectAttr == nil {
		return nil
	}
	out := []signInField{{*c.subjectAttr, si.Subject}}
	if c.issuerAttr != nil {
		out = append(out, signInField{*c.issuerAttr, si.Issuer})
	}
	return out
}

// setSignIn puts the fields in a new User's body.
func setSignIn(body map[string]any, schemas *[]string, fields []signInField) {
	for _, f := range fields {
		if f.path.schema == "" {
			body[f.path.name] = f.want
			continue
		}
		ext, ok := body[f.path.schema].(map[string]any)
		if !ok {
			ext = map[string]any{}
			body[f.path.schema] = ext
			*schemas = append(*schemas, f.path.schema)
		}
		ext[f.path.name] = f.want
	}
}

// value reads one attribute of a User as the service provider returned it
// (names compared without case, RFC 7643 §2.1); "" when absent or null.
func (u scimUser) value(p attrPath) (string, error) {
	obj := u.raw
	if p.schema != "" {
		var ext map[string]json.RawMessage
		raw, ok := lookup(obj, p.schema)
		if !ok || string(raw) == "null" {
			return "", nil
		}
		if err := json.Unmarshal(raw, &ext); err != nil {
			return "", fmt.Errorf("%w: the User's %s is not an object", identity.ErrRejected, p.schema)
		}
		obj = ext
	}
	raw, ok := lookup(obj, p.name)
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: the User's %s is not a string (%s): it cannot hold the sign-in", identity.ErrRejected, p, raw)
	}
	return s, nil
}

func lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// checkSignIn compares what u holds with fields (identity.CheckSignIn).
func checkSignIn(u scimUser, fields []signInField) (bool, error) {
	if len(fields) == 0 {
		return false, nil
	}
	check := make([]identity.SignInField, len(fields))
	for i, f := range fields {
		has, err := u.value(f.path)
		if err != nil {
			return false, fmt.Errorf("SCIM user %s: %w", u.ID, err)
		}
		check[i] = identity.SignInField{Attribute: f.path.String(), Want: f.want}
		if has != "" {
			check[i].Has = []string{has}
		}
	}
	user := u.identity()
	user.ID = fmt.Sprintf("%s (%s)", u.ID, u.UserName)
	return identity.CheckSignIn(user, check)
}

// writeSignIn PATCHes fields onto the user partnerops created, then reads
// the user back: a service provider that drops an attribute it does not
// know would otherwise be taken to hold the sign-in.
func (c *Client) writeSignIn(ctx context.Context, u scimUser, fields []signInField) error {
	path := "/Users/" + url.PathEscape(u.ID)
	ops := make([]any, len(fields))
	for i, f := range fields {
		ops[i] = map[string]any{"op": "replace", "path": f.path.String(), "value": f.want}
	}
	if _, err := c.do(ctx, http.MethodPatch, path, nil, map[string]any{"schemas": []string{schemaPatchOp}, "Operations": ops}); err != nil {
		return fmt.Errorf("recording the sign-in on SCIM user %s: %w", u.ID, err)
	}
	return c.verifySignIn(ctx, u.ID, fields)
}

// verifySignIn reads the user id and checks that it holds fields.
func (c *Client) verifySignIn(ctx context.Context, id string, fields []signInField) error {
	path := "/Users/" + url.PathEscape(id)
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return fmt.Errorf("reading back SCIM user %s: %w", id, err)
	}
	var back scimUser
	if err := decode(http.MethodGet, path, resp, &back); err != nil {
		return err
	}
	for _, f := range fields {
		got, err := back.value(f.path)
		if err != nil {
			return fmt.Errorf("SCIM user %s: %w", id, err)
		}
		if got != f.want {
			return fmt.Errorf("%w: SCIM user %s: the service provider did not keep the sign-in in %s (it holds %q): declare that attribute on its User resource type, or change identityBackend.scim's subjectAttribute/issuerAttribute",
				identity.ErrRejected, id, f.path, got)
		}
	}
	return nil
}
