// Package identity is how partnerops talks to the identity backend where
// grants land: a SCIM 2.0 service provider (internal/identity/scim) or an
// LDAP directory (internal/identity/ldap).
//
// A grant is one role on one system for one partner user; it becomes
// membership of one group, named by the configured groupTemplate (see
// config.RenderGroup). The grant controller decides which groups a user
// should be in; a Backend only finds and creates users and adds and removes
// memberships, idempotently.
//
// Ownership: partnerops never removes a user or a membership it did not
// create. A user partnerops creates is marked as such in the backend (SCIM
// externalId, an LDAP description), so the mark survives a crash between
// the create and the status write that records it; User.Managed reports it.
// Memberships are recorded in the invitation's status as they are applied.
package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// Sentinel errors. Drivers wrap them (errors.Is) with the backend's own
// words, never with a credential.
var (
	// ErrUnavailable: the backend could not be reached or answered with a
	// transient failure (connection refused, timeout, HTTP 5xx or 429, LDAP
	// busy/unavailable). Retry with backoff; a *RetryAfterError says when.
	ErrUnavailable = errors.New("identity backend unavailable")
	// ErrNotFound: no such user.
	ErrNotFound = errors.New("not found in the identity backend")
	// ErrGroupNotFound: the group a grant maps to does not exist and the
	// backend is not configured to create groups. An administrator must
	// create it (or set createGroups); retrying alone does not help.
	ErrGroupNotFound = errors.New("group not found in the identity backend")
	// ErrUnauthorized: the backend refused the operator's credentials
	// (HTTP 401/403, LDAP invalid credentials / insufficient access).
	ErrUnauthorized = errors.New("identity backend refused the credentials")
	// ErrRejected: the backend refused the request itself (HTTP 400, an
	// LDAP schema violation); retrying the same request will not help.
	ErrRejected = errors.New("identity backend rejected the request")
	// ErrConflict: the backend holds something in the way (two users with
	// the same email, a group name taken by a non-group entry).
	ErrConflict = errors.New("identity backend conflict")
)

// SameAddress compares two addresses (or group names) the way partnerops
// does everywhere: without ASCII case only. A backend's own match is never
// taken on trust: one that folds Unicode case finds the Kelvin sign's K for
// k, or the long s for s, which is another mailbox, and would hand it the
// grants.
func SameAddress(a, b string) bool {
	return v1alpha1.NormalizeEmail(a) == v1alpha1.NormalizeEmail(b)
}

// RetryAfterError is an ErrUnavailable that says how long to wait (an HTTP
// 429 or 503 with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// RetryAfter returns how long err asks the caller to wait, if it says.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		return ra.After, true
	}
	return 0, false
}

// User is a partner user as the backend knows it.
type User struct {
	// ID is the backend's handle: the SCIM resource id, or the LDAP DN.
	ID string
	// Email is the user's address, as the backend stores it (userName /
	// mail).
	Email string
	// Managed is true when partnerops created the user (the backend holds
	// partnerops's mark); only such a user may ever be deleted by it.
	Managed bool
}

// NewUser is what EnsureUser creates when nobody has the email yet.
type NewUser struct {
	// Email is the partner's address; it is the SCIM userName and the LDAP
	// mail (and uid).
	Email string
	// DisplayName is shown by the backend's tools; defaults to Email.
	DisplayName string
	// Account is the PartnerAccount's display name, recorded where the
	// backend has a place for it (SCIM organization, LDAP o).
	Account string
	// SignedInAs is who the partner signed in as before accepting, from an
	// acceptance whose proof verified (the proof covers it); nil when the
	// partner did not sign in. A driver configured with a place for it
	// (its SubjectAttribute) writes it on a user partnerops creates, and on a
	// user partnerops created earlier that holds none; it never writes it on
	// a user partnerops did not create, and a user holding another one is
	// ErrConflict (see CheckSignIn).
	SignedInAs *SignIn
}

// SignIn is who signed in with the identity provider before accepting: the
// ID token's issuer and subject.
type SignIn struct {
	Issuer  string
	Subject string
}

// SignInField is one attribute where a driver records a SignIn: its name
// (for messages), the value it should hold and the values the user holds.
type SignInField struct {
	Attribute string
	Want      string
	Has       []string
}

// CheckSignIn decides what EnsureUser does with a found user's recorded
// sign-in, given the driver's fields (none when it is configured with no
// place for it): write is true when the user is partnerops's and some
// field is empty; nothing is written on a user partnerops did not create.
// A field holding anything but exactly its Want value is ErrConflict: the
// user is bound to another person at the identity provider, so neither the
// grant nor a rewrite may follow.
func CheckSignIn(user User, fields []SignInField) (write bool, err error) {
	empty := false
	for _, f := range fields {
		switch {
		case len(f.Has) == 0 || (len(f.Has) == 1 && f.Has[0] == ""):
			empty = true
		case len(f.Has) != 1 || f.Has[0] != f.Want:
			return false, fmt.Errorf("%w: the user %s holds %s %q, but the partner accepted signed in as %q; partnerops changes neither it nor the user's grants: an administrator must check who the user is, and correct or clear %s",
				ErrConflict, user.ID, f.Attribute, strings.Join(f.Has, ", "), f.Want, f.Attribute)
		}
	}
	return empty && user.Managed, nil
}

// Backend is an identity backend. Every method is idempotent: adding a
// member twice, removing a missing one, or deleting a missing user is
// success. Methods are safe for concurrent use.
type Backend interface {
	// FindUser returns the user whose email is email (compared without
	// case), or ErrNotFound.
	FindUser(ctx context.Context, email string) (User, error)
	// EnsureUser returns the user with u.Email, creating it, marked as
	// partnerops's, when there is none.
	EnsureUser(ctx context.Context, u NewUser) (User, error)
	// AddMember makes user a member of group. When the group does not
	// exist it is created if the backend is configured to (createGroups),
	// else ErrGroupNotFound.
	AddMember(ctx context.Context, group string, user User) error
	// RemoveMember ends user's membership of group. A missing group or
	// membership is success. A group partnerops created that is left with
	// no member may be deleted.
	RemoveMember(ctx context.Context, group string, user User) error
	// Groups returns the names of every group user is a member of.
	Groups(ctx context.Context, user User) ([]string, error)
	// DeleteUser deletes a user. The caller only deletes Managed users that
	// are members of no group any more; a missing user is success.
	DeleteUser(ctx context.Context, user User) error
}
