package ldap

import (
	"fmt"
	"regexp"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/partnerops/partnerops/internal/identity"
)

// This file records who signed in (identity.NewUser.SignedInAs) on the
// user's entry, in the attributes Config.SubjectAttribute and
// Config.IssuerAttribute name, so that the identity provider's single
// sign-on and the grants point at the same person. description keeps
// partnerops's Mark.

var attrDescriptor = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]{0,63}|[0-9]+(\.[0-9]+)+)$`)

// ownAttributes are the attributes partnerops already writes on a user (or
// the directory keeps for itself): none may hold the sign-in.
var ownAttributes = map[string]bool{
	"objectclass": true, "uid": true, "mail": true, "cn": true, "sn": true, "o": true, "description": true,
	"member": true, "userpassword": true, "entryuuid": true, "entrydn": true,
}

// CheckAttribute checks a SubjectAttribute or IssuerAttribute: an
// attribute descriptor (a name, or a numeric OID) that partnerops does not
// otherwise use. Whether the entry's object classes allow it is the
// directory's to say (inetOrgPerson allows employeeNumber, for one).
func CheckAttribute(name string) error {
	switch {
	case !attrDescriptor.MatchString(name):
		return fmt.Errorf("%q: want an attribute name (a letter, then letters, digits or -) or a numeric OID, with no options", name)
	case ownAttributes[strings.ToLower(name)]:
		return fmt.Errorf("%q: partnerops or the directory already uses that attribute", name)
	}
	return nil
}

// signInField is one attribute the sign-in goes to, with its value.
type signInField struct{ attr, want string }

// signInFields are where si goes: none when it is nil or the backend is
// configured with no SubjectAttribute.
func (b *Backend) signInFields(si *identity.SignIn) []signInField {
	if si == nil || b.cfg.SubjectAttribute == "" {
		return nil
	}
	out := []signInField{{b.cfg.SubjectAttribute, si.Subject}}
	if b.cfg.IssuerAttribute != "" {
		out = append(out, signInField{b.cfg.IssuerAttribute, si.Issuer})
	}
	return out
}

// signIn checks user's recorded sign-in against fields and writes it when
// the user is partnerops's and holds none (identity.CheckSignIn).
func (c *call) signIn(user identity.User, fields []signInField) error {
	if len(fields) == 0 {
		return nil
	}
	attrs := make([]string, len(fields))
	for i, f := range fields {
		attrs[i] = f.attr
	}
	e, err := c.read(user.ID, attrs...)
	if err != nil {
		return c.fail("reading the sign-in recorded on user", user.ID, err)
	}
	check := make([]identity.SignInField, len(fields))
	for i, f := range fields {
		check[i] = identity.SignInField{Attribute: f.attr, Want: f.want, Has: e.GetAttributeValues(f.attr)}
	}
	write, err := identity.CheckSignIn(user, check)
	if err != nil || !write {
		return err
	}
	req := goldap.NewModifyRequest(user.ID, nil)
	for _, f := range fields {
		req.Replace(f.attr, []string{f.want})
	}
	if err := c.conn.Modify(req); err != nil {
		return c.fail(fmt.Sprintf("recording the sign-in (%s) on user", strings.Join(attrs, ", ")), user.ID, err)
	}
	return nil
}
