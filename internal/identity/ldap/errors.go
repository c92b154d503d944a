package ldap

import (
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/partnerops/partnerops/internal/identity"
)

// opError is a failed operation: one of identity's sentinel errors, a
// message in words an administrator understands (with the DN concerned),
// and the go-ldap error beneath.
type opError struct {
	sentinel error
	msg      string
	cause    error
}

func (e *opError) Error() string   { return e.sentinel.Error() + ": " + e.msg }
func (e *opError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// fail maps the error of an operation on dn to identity's sentinels.
func (c *call) fail(what, dn string, err error) error { return mapError(what, dn, err) }

func mapError(what, dn string, err error) error {
	var le *goldap.Error
	if !errors.As(err, &le) {
		return &opError{sentinel: identity.ErrUnavailable, cause: err, msg: fmt.Sprintf("ldap: %s %s: %v", what, dn, err)}
	}
	sentinel, hint := classify(le.ResultCode)
	msg := fmt.Sprintf("ldap: %s %s: %s", what, dn, describe(err))
	if hint != "" {
		msg += " (" + hint + ")"
	}
	return &opError{sentinel: sentinel, cause: err, msg: msg}
}

// classify maps an LDAP result code (RFC 4511 section 4.1.9, and go-ldap's
// client-side codes) to a sentinel, with a hint for the administrator.
func classify(code uint16) (sentinel error, hint string) {
	switch code {
	case goldap.ErrorNetwork:
		return identity.ErrUnavailable, "the directory could not be reached or the connection broke"
	case goldap.LDAPResultBusy:
		return identity.ErrUnavailable, "the directory is busy"
	case goldap.LDAPResultUnavailable:
		return identity.ErrUnavailable, "the directory is unavailable"
	case goldap.LDAPResultTimeLimitExceeded, goldap.LDAPResultAdminLimitExceeded:
		return identity.ErrUnavailable, "the directory hit one of its limits"
	case goldap.LDAPResultInvalidCredentials:
		return identity.ErrUnauthorized, "the directory refused the bind DN's password"
	case goldap.ErrorEmptyPassword:
		return identity.ErrUnauthorized, "the bind password is empty"
	case goldap.LDAPResultInsufficientAccessRights:
		return identity.ErrUnauthorized, "the bind DN lacks the access rights for this"
	case goldap.LDAPResultInappropriateAuthentication:
		return identity.ErrUnauthorized, "the directory does not accept this kind of bind for this DN"
	case goldap.LDAPResultStrongAuthRequired, goldap.LDAPResultConfidentialityRequired:
		return identity.ErrUnauthorized, "the directory requires a secure connection: use ldaps:// or StartTLS"
	case goldap.LDAPResultUnwillingToPerform:
		// Policy, not load: a read-only replica, a forbidden change, ...
		// Retrying the same request does not help.
		return identity.ErrRejected, "the directory is unwilling to do this (a read-only replica, or its policy forbids it)"
	case goldap.LDAPResultEntryAlreadyExists:
		return identity.ErrConflict, "an entry with that DN already exists"
	case goldap.LDAPResultObjectClassViolation, goldap.LDAPResultNamingViolation,
		goldap.LDAPResultNotAllowedOnRDN, goldap.LDAPResultObjectClassModsProhibited,
		goldap.LDAPResultUndefinedAttributeType, goldap.LDAPResultInvalidAttributeSyntax,
		goldap.LDAPResultConstraintViolation, goldap.LDAPResultInappropriateMatching:
		return identity.ErrRejected, "the directory's schema does not allow it"
	case goldap.LDAPResultInvalidDNSyntax:
		return identity.ErrRejected, "the directory refused the DN's syntax"
	case goldap.LDAPResultNoSuchObject:
		return identity.ErrRejected, "no such entry"
	case goldap.LDAPResultNotAllowedOnNonLeaf:
		return identity.ErrRejected, "the entry has entries below it"
	case goldap.LDAPResultReferral:
		return identity.ErrRejected, "the directory referred the request to another server: point the URL at a server that accepts writes"
	case goldap.LDAPResultProtocolError, goldap.LDAPResultUnavailableCriticalExtension,
		goldap.LDAPResultAffectsMultipleDSAs:
		return identity.ErrRejected, ""
	}
	// Unknown or "other" (80): most often an internal trouble of the server;
	// retrying with backoff is the safe default.
	return identity.ErrUnavailable, ""
}

// describe says what the directory answered: the result's name and the
// server's diagnostic message.
func describe(err error) string {
	var le *goldap.Error
	if !errors.As(err, &le) {
		return err.Error()
	}
	detail := ""
	if le.Err != nil {
		detail = strings.TrimSpace(le.Err.Error())
	}
	if le.ResultCode == goldap.ErrorNetwork {
		if detail == "" {
			return "network error"
		}
		return "network error: " + detail
	}
	name := goldap.LDAPResultCodeMap[le.ResultCode]
	if name == "" {
		name = "unknown result"
	}
	s := fmt.Sprintf("LDAP result %d %q", le.ResultCode, name)
	if detail != "" {
		s += ": " + detail
	}
	return s
}
