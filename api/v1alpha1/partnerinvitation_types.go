package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InvitationState is the state of a PartnerInvitation.
// +kubebuilder:validation:Enum=PendingApproval;Accepted;Expired;Revoked;Invalid
type InvitationState string

// The states of a PartnerInvitation.
const (
	// InvitationPendingApproval: the email is sent (or being sent) and the
	// partner has not answered yet.
	InvitationPendingApproval InvitationState = "PendingApproval"
	// InvitationAccepted: the partner accepted; the user's grants are kept
	// in the identity backend.
	InvitationAccepted InvitationState = "Accepted"
	// InvitationExpired: the link's validity ran out before the partner
	// accepted. Raise spec.resend to send a fresh one.
	InvitationExpired InvitationState = "Expired"
	// InvitationRevoked: the admin withdrew the invitation, the partner
	// declined it, or its account was deleted. Final.
	InvitationRevoked InvitationState = "Revoked"
	// InvitationInvalid: the spec cannot be honoured (unknown role or system,
	// missing account, domain not allowed); see the Ready condition.
	// Fixing the spec recovers.
	InvitationInvalid InvitationState = "Invalid"
)

// RevokedReason says why an invitation is Revoked.
// +kubebuilder:validation:Enum=Withdrawn;Declined;AccountDeleted
type RevokedReason string

// The reasons of a revocation; each is also the Ready condition's reason.
const (
	// RevokedWithdrawn: an admin set spec.revoked, or deleted the invitation.
	RevokedWithdrawn RevokedReason = ReasonWithdrawn
	// RevokedDeclined: the partner declined on the acceptance page.
	RevokedDeclined RevokedReason = ReasonDeclined
	// RevokedAccountDeleted: the invitation's account was deleted.
	RevokedAccountDeleted RevokedReason = ReasonAccountDeleted
)

// PartnerInvitationSpec is one invitation of one partner user.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.resend) || (has(self.resend) && self.resend >= oldSelf.resend)",message="resend can only be raised: set it to a higher number to send a fresh invitation"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.revoked) || !oldSelf.revoked || (has(self.revoked) && self.revoked)",message="revoked cannot be set back to false: a withdrawn invitation stays withdrawn, create a new invitation instead"
// +kubebuilder:validation:XValidation:rule="has(self.account) == has(oldSelf.account)",message="account is immutable: it cannot be added or removed after creation, create a new invitation instead"
type PartnerInvitationSpec struct {
	// account is the name of the PartnerAccount, in the same namespace, that
	// the user joins. Left out, the invitation joins the one account of the
	// namespace whose allowedDomains covers the address (the most specific
	// domain wins); status.account records the account chosen. Immutable,
	// and cannot be added or removed after creation.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be the name of a PartnerAccount: lowercase letters, digits or '-', starting and ending with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="account is immutable: create a new invitation for another account"
	Account string `json:"account,omitempty"`

	// email is the recipient's address. Compared case-insensitively.
	// Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="email is immutable: create a new invitation for another address"
	Email EmailAddress `json:"email"`

	// role is the key of a role of the operator's catalogue, such as
	// "editor". Changing it on an accepted invitation changes the user's
	// grants.
	// +required
	Role CatalogueKey `json:"role"`

	// systems are the keys of the catalogue systems the user may work on,
	// each listed once. Changing them on an accepted invitation adds and
	// removes exactly the difference in the identity backend.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Systems []CatalogueKey `json:"systems,omitempty"`

	// locale is the language of the email and the acceptance page: en (the
	// default), fr or es.
	// +optional
	// +kubebuilder:default=en
	Locale Locale `json:"locale,omitempty"`

	// message is an optional personal note from the inviter, shown in the
	// email and on the acceptance page as plain text (never as HTML). At
	// most 2000 characters; line breaks and tabs are kept, other control
	// characters are refused.
	// +optional
	// +kubebuilder:validation:MaxLength=2000
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\x00-\\\\x08\\\\x0b\\\\x0c\\\\x0e-\\\\x1f\\\\x7f]')",message="must not contain control characters other than line breaks and tabs"
	Message string `json:"message,omitempty"`

	// ttl is how long the link stays valid after each send, from 1h to
	// 720h. Defaults to the account's invitationTTL (itself 168h, 7 days,
	// unless set).
	// +optional
	TTL TTL `json:"ttl,omitempty"`

	// revoked withdraws the invitation when true: a pending invitation
	// becomes Revoked and its link stops working; an accepted user is
	// removed and their grants revoked. Cannot be set back to false.
	// Deleting the object has the same effect.
	// +optional
	Revoked bool `json:"revoked,omitempty"`

	// resend asks for a fresh email: each increase sends one new email with
	// a new link and a new expiry, and the previous link stops working.
	// Honoured while the invitation is PendingApproval or Expired. Starts at
	// 0 and can only be raised.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Resend int32 `json:"resend,omitempty"`
}

// AppliedGrants records what partnerops last applied to the identity
// backend for an invitation, so that edits are applied as differences and
// removal takes away exactly what was added.
type AppliedGrants struct {
	// backend is the kind of identity backend the grants were applied to:
	// scim, ldap or dev.
	// +required
	// +kubebuilder:validation:MaxLength=16
	Backend string `json:"backend"`

	// userID is the user's identifier in the backend (a SCIM id or an LDAP DN).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	UserID string `json:"userID,omitempty"`

	// userCreated is true when partnerops created the user in the backend,
	// so that it may remove the user again; a user that existed before is
	// never removed.
	// +optional
	UserCreated bool `json:"userCreated,omitempty"`

	// role is the role key the grants were computed from.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Role string `json:"role,omitempty"`

	// systems are the system keys the grants were computed from.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Systems []string `json:"systems,omitempty"`

	// groups are the backend groups partnerops made the user a member of.
	// Memberships the user already had are not listed and never removed.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=130
	// +kubebuilder:validation:items:MaxLength=1024
	Groups []string `json:"groups,omitempty"`

	// syncedAt is when the backend last confirmed these grants.
	// +optional
	SyncedAt *metav1.Time `json:"syncedAt,omitempty"`
}

// AcceptanceProof proves that the acceptance page recorded an acceptance.
type AcceptanceProof struct {
	// keyID is the id of the link-signing key that made the MAC (a data key
	// of the keys Secret). The proof verifies as long as that key is listed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	KeyID string `json:"keyID"`

	// mac is the HMAC-SHA256, base64url without padding.
	// +required
	// +kubebuilder:validation:MinLength=43
	// +kubebuilder:validation:MaxLength=43
	MAC string `json:"mac"`
}

// SignedInIdentity is the identity a partner signed in with before
// accepting: the ID token's issuer and subject, which together name one
// person at the identity provider for good (an address can be reassigned,
// a subject is not).
type SignedInIdentity struct {
	// issuer is the ID token's iss: the identity provider's issuer URL.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Issuer string `json:"issuer"`

	// subject is the ID token's sub: the person's identifier at that
	// issuer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Subject string `json:"subject"`
}

// PartnerInvitationStatus is what the operator observed of the invitation.
type PartnerInvitationStatus struct {
	// state is PendingApproval, Accepted, Expired, Revoked or Invalid.
	// +optional
	State InvitationState `json:"state,omitempty"`

	// account is the name of the PartnerAccount the invitation belongs to:
	// spec.account when set, else the account chosen by the address's
	// domain. Set once and kept.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Account string `json:"account,omitempty"`

	// accountUID is the UID of that account. An account deleted and
	// recreated under the same name has another UID, and the invitation is
	// then Revoked (AccountDeleted) rather than adopted by the new account.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AccountUID string `json:"accountUID,omitempty"`

	// revokedReason says why a Revoked invitation is: Withdrawn (spec.revoked
	// or deleted), Declined (by the partner, written by the acceptance page)
	// or AccountDeleted.
	// +optional
	RevokedReason RevokedReason `json:"revokedReason,omitempty"`

	// conditions are Ready (the summary), EmailSent, Accepted, Expired,
	// GrantsSynced, and kstatus's Reconciling (True while the controller
	// still works: sending, retrying, syncing grants) and Stalled (True
	// while nothing moves until someone acts: Invalid, refused by the mail
	// server, expired with no resend asked, grants refused for good). An
	// invitation waiting for its partner, accepted with its grants synced,
	// or revoked is neither.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// sentAt is when the current email was handed to the mail server.
	// +optional
	SentAt *metav1.Time `json:"sentAt,omitempty"`

	// expiresAt is when the current link stops working.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// acceptedAt is when the partner accepted.
	// +optional
	AcceptedAt *metav1.Time `json:"acceptedAt,omitempty"`

	// acceptanceProof is written by the acceptance page with acceptedAt:
	// an HMAC, with the link-signing keys, over the invitation's UID, the
	// accepted resend generation (observedResend), the address,
	// acceptedAt and, when the partner signed in, signedInAs. Grants are
	// applied only when it verifies, so status written by anyone else
	// grants nothing.
	// +optional
	AcceptanceProof *AcceptanceProof `json:"acceptanceProof,omitempty"`

	// signedInAs is who signed in with the identity provider before
	// accepting (acceptance.signIn: oidc in the operator's configuration),
	// written by the acceptance page with acceptedAt and covered by
	// acceptanceProof. Absent when no sign-in was asked for.
	// +optional
	SignedInAs *SignedInIdentity `json:"signedInAs,omitempty"`

	// observedResend is the spec.resend value the current link was sent for.
	// +optional
	ObservedResend int32 `json:"observedResend,omitempty"`

	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// appliedGrants is what was last applied to the identity backend for
	// this user; empty until the invitation is accepted.
	// +optional
	AppliedGrants *AppliedGrants `json:"appliedGrants,omitempty"`
}

// PartnerInvitation invites one partner user, by email, to join a
// PartnerAccount with a role and a set of systems.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pinv,categories=partners
// +kubebuilder:printcolumn:name="Email",type=string,JSONPath=`.spec.email`,description="The invited address"
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.status.account`,description="The PartnerAccount the user joins (spec.account, or the one chosen by the address's domain)"
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`,description="The user's role"
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`,description="PendingApproval, Accepted, Expired, Revoked or Invalid"
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`,description="When the current link stops working"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Systems",type=string,JSONPath=`.spec.systems`,priority=1,description="The systems the user may work on"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1,description="Whether the invitation is fully reconciled"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1,description="Why it is (not) ready"
type PartnerInvitation struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the admin asks for.
	// +required
	Spec PartnerInvitationSpec `json:"spec"`

	// status is what the operator observed. Until the controller's first
	// write it holds only observedGeneration 0 (a default), so that kstatus
	// and Flux read a new object as InProgress, not Current.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status PartnerInvitationStatus `json:"status,omitempty"`
}

// PartnerInvitationList is a list of PartnerInvitations.
// +kubebuilder:object:root=true
type PartnerInvitationList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PartnerInvitation `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PartnerInvitation{}, &PartnerInvitationList{})
}
