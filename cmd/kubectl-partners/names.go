package main

import (
	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// invitationName is the name the PartnerAccount controller gives the
// invitation it owns for email (v1alpha1.InvitationName): the same address
// in the same account always gets the same name, so inviting it twice
// cannot make two invitations, and an invitation created here is the one
// the account would have created for that user.
func invitationName(account, email string) string { return v1alpha1.InvitationName(account, email) }
