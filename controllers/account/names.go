package account

import (
	"strings"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// maxLocalPart bounds the readable part of an invitation's name.
const maxLocalPart = v1alpha1.MaxNameLocalPart

// InvitationName is the name of the PartnerInvitation that account owns
// for email (v1alpha1.InvitationName): for jane.doe+partners@globex.example
// in account globex, globex-jane-doe-partners-0183fed8.
func InvitationName(account, email string) string { return v1alpha1.InvitationName(account, email) }

// accountOfName returns the account whose InvitationName for email is
// name, or "" when name is not shaped so. It lets an invitation that took
// an account's child name (by hand, naming another account) wake that
// account up when it changes or goes.
func accountOfName(name, email string) string {
	acct, ok := strings.CutSuffix(name, v1alpha1.InvitationNameSuffix(email))
	if !ok || acct == "" {
		return ""
	}
	return acct
}
