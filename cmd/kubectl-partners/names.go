package main

import (
	"strings"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// invitationName is the name of the invitation invite creates for email.
//
// With an account it is the name the PartnerAccount controller gives the
// invitation it owns for email (v1alpha1.InvitationName): the same address
// in the same account always gets the same name, so inviting it twice
// cannot make two invitations, and an invitation created here is the one
// the account would have created for that user.
//
// Without one (the operator chooses the account by the address's domain)
// it is that name without the account: "<local part>-<hash>", the same for
// the same address, so an address invited twice without an account still
// gets one invitation.
func invitationName(account, email string) string {
	if account == "" {
		return strings.TrimPrefix(v1alpha1.InvitationNameSuffix(email), "-")
	}
	return v1alpha1.InvitationName(account, email)
}
