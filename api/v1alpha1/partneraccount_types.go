package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccountState is the summary state of a PartnerAccount.
// +kubebuilder:validation:Enum=PendingApproval;Active;NoUsersOrSystems;ActionRequired
type AccountState string

// The states of a PartnerAccount.
const (
	// AccountPendingApproval: no user with a system accepted yet, and a
	// link with a system is waiting for its partner (or about to be sent).
	AccountPendingApproval AccountState = "PendingApproval"
	// AccountActive: at least one user accepted and holds at least one system.
	AccountActive AccountState = "Active"
	// AccountNoUsersOrSystems: the account has no users, or its users have no systems.
	AccountNoUsersOrSystems AccountState = "NoUsersOrSystems"
	// AccountActionRequired: no user with a system accepted, no link is
	// waiting, and some invitation expired or failed (Invalid, or its
	// email refused by the mail server): the admin must resend it (raise
	// the entry's resend) or fix it. Ready is False and names them.
	AccountActionRequired AccountState = "ActionRequired"
)

// DeletionPolicy says what deleting a PartnerAccount does to the grants its
// users hold in the identity backend.
// +kubebuilder:validation:Enum=Revoke;Retain
type DeletionPolicy string

const (
	// DeletionPolicyRevoke removes every grant partnerops made for the account's users.
	DeletionPolicyRevoke DeletionPolicy = "Revoke"
	// DeletionPolicyRetain leaves the grants in the identity backend, for migrations.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// PartnerUser is one partner user to invite through the account: a full
// invitation, followed by the PartnerInvitation the account owns for it.
// +kubebuilder:validation:XValidation:rule="(has(self.resend) ? self.resend : 0) >= (has(oldSelf.resend) ? oldSelf.resend : 0)",message="resend can only be raised: set it to a higher number to send that user a fresh invitation"
type PartnerUser struct {
	// email is the user's address; the invitation is sent there. Unique
	// within the account, compared case-insensitively.
	// +required
	Email EmailAddress `json:"email"`

	// role is the key of a role of the operator's catalogue, such as
	// "editor". The catalogue is the operator's configuration file.
	// +required
	Role CatalogueKey `json:"role"`

	// systems are the keys of the catalogue systems the user may work on,
	// each listed once. Empty means the user has no system yet.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Systems []CatalogueKey `json:"systems,omitempty"`

	// locale is the language of the user's email and acceptance page: en,
	// fr or es. Defaults to the account's defaultLocale (itself en unless
	// set).
	// +optional
	Locale Locale `json:"locale,omitempty"`

	// message is an optional personal note to this user, shown in the
	// email and on the acceptance page as plain text (never as HTML).
	// Defaults to the account's defaultMessage. At most 2000 characters;
	// line breaks and tabs are kept, other control characters are refused.
	// +optional
	// +kubebuilder:validation:MaxLength=2000
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\x00-\\\\x08\\\\x0b\\\\x0c\\\\x0e-\\\\x1f\\\\x7f]')",message="must not contain control characters other than line breaks and tabs"
	Message string `json:"message,omitempty"`

	// ttl is how long the user's link stays valid after each send, from 1h
	// to 720h. Defaults to the account's invitationTTL.
	// +optional
	TTL TTL `json:"ttl,omitempty"`

	// resend asks for a fresh email to this user: each increase sends one
	// new email with a new link and a new expiry, and the previous link
	// stops working. Honoured while the user's invitation is
	// PendingApproval or Expired. Starts at 0 and can only be raised.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Resend int32 `json:"resend,omitempty"`
}

// PartnerAccountSpec is what an admin asks for a partner company.
// +kubebuilder:validation:XValidation:rule="!has(self.users) || self.users.all(u, self.users.exists_one(v, v.email.lowerAscii() == u.email.lowerAscii()))",message="users must not list the same email twice (emails are compared case-insensitively)"
type PartnerAccountSpec struct {
	// displayName is the partner company's name as shown in invitation
	// emails and on the acceptance page, such as "Globex Corporation".
	// 1 to 128 characters, no control characters, not only spaces.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\x00-\\\\x1f\\\\x7f]')",message="must not contain line breaks, tabs or other control characters"
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="must not be blank"
	DisplayName string `json:"displayName"`

	// allowedDomains, when set, restricts invitations to addresses whose
	// domain is one of these or a subdomain of one (example.com allows
	// jane@example.com and jane@eu.example.com). An invitation to any other
	// address is refused with the condition reason DomainNotAllowed and no
	// email is sent. Empty means any domain.
	// They also choose the account of an invitation without spec.account:
	// it joins the one account of the namespace whose allowedDomains covers
	// its address, the most specific entry winning (eu.example.com over
	// example.com; two accounts listing the same domain are a tie, reason
	// AmbiguousAccount). An account without allowedDomains is never chosen
	// so: name it in spec.account.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	AllowedDomains []DomainName `json:"allowedDomains,omitempty"`

	// users is the declarative way to invite many users at once. The account
	// owns one PartnerInvitation per entry (labelled
	// partnerops.dev/account=<account name>); editing an entry's role or
	// systems edits the user's grants, raising its resend sends that user a
	// fresh link, removing an entry removes the user.
	// At most 150 entries; invite more with standalone PartnerInvitations.
	// +optional
	// +listType=map
	// +listMapKey=email
	// +kubebuilder:validation:MaxItems=150
	Users []PartnerUser `json:"users,omitempty"`

	// defaultLocale is the language of the emails and acceptance pages of
	// the entries of users that set no locale: en (the default), fr or es.
	// +optional
	// +kubebuilder:default=en
	DefaultLocale Locale `json:"defaultLocale,omitempty"`

	// defaultMessage is the personal note shown to the entries of users that
	// set no message, as plain text (never as HTML). Empty means no note.
	// At most 2000 characters; line breaks and tabs are kept, other control
	// characters are refused.
	// +optional
	// +kubebuilder:validation:MaxLength=2000
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\x00-\\\\x08\\\\x0b\\\\x0c\\\\x0e-\\\\x1f\\\\x7f]')",message="must not contain control characters other than line breaks and tabs"
	DefaultMessage string `json:"defaultMessage,omitempty"`

	// invitationTTL is how long an invitation of this account stays valid
	// after it is sent, unless the invitation sets its own ttl. A duration
	// from 1h to 720h; defaults to 168h (7 days).
	// +optional
	// +kubebuilder:default="168h"
	InvitationTTL TTL `json:"invitationTTL,omitempty"`

	// deletionPolicy says what deleting this account does to its users'
	// grants in the identity backend: Revoke (the default) removes every
	// grant partnerops made; Retain leaves its members' grants in place,
	// for migrations (a partner withdrawn or removed before the account is
	// still revoked).
	// +optional
	// +kubebuilder:default=Revoke
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// Member is a partner user who accepted an invitation of the account.
// Written by the operator only, so its fields are bounded but not
// re-validated.
type Member struct {
	// email is the member's address, as invited.
	// +required
	// +kubebuilder:validation:MaxLength=254
	Email string `json:"email"`

	// role is the member's current role key.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Role string `json:"role"`

	// systems are the member's current system keys.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Systems []string `json:"systems,omitempty"`

	// acceptedAt is when the member accepted the invitation.
	// +required
	AcceptedAt metav1.Time `json:"acceptedAt"`

	// invitation is the name of the PartnerInvitation the member accepted.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Invitation string `json:"invitation"`
}

// InvitationCounts counts an account's invitations by state. Each
// invitation is counted once.
type InvitationCounts struct {
	// pending counts invitations waiting on a live link: PendingApproval
	// with a link that has not expired, or about to be sent (not processed
	// yet, being sent or retried, or a resend asked for). An invitation
	// whose email the mail server refused is counted in rejected instead.
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// accepted counts accepted invitations, that is the account's members.
	// +optional
	Accepted int32 `json:"accepted,omitempty"`
	// expired counts invitations that expired before being accepted
	// (state Expired, or a PendingApproval link past its expiresAt) and
	// were not asked to resend yet.
	// +optional
	Expired int32 `json:"expired,omitempty"`
	// revoked counts withdrawn or declined invitations.
	// +optional
	Revoked int32 `json:"revoked,omitempty"`
	// invalid counts invitations refused by validation (unknown role or
	// system, domain not allowed, ...).
	// +optional
	Invalid int32 `json:"invalid,omitempty"`
	// rejected counts invitations whose email the mail server refused for
	// good (EmailSent=False, reason RecipientRejected): no link is out.
	// +optional
	Rejected int32 `json:"rejected,omitempty"`
	// needAttention counts the invitations the admin must resend or fix:
	// expired + invalid + rejected (the InvitationsNeedAttention condition
	// names them).
	// +optional
	NeedAttention int32 `json:"needAttention,omitempty"`
}

// PartnerAccountStatus is what the operator observed of the account.
type PartnerAccountStatus struct {
	// state summarises the account: Active (a user accepted and holds
	// systems), PendingApproval (a link is waiting for its partner),
	// ActionRequired (nothing active, nothing waiting, and some invitation
	// expired or failed: resend or fix it) or NoUsersOrSystems (no users,
	// or no user holds a system).
	// +optional
	State AccountState `json:"state,omitempty"`

	// conditions are Ready (the summary), InvitationsNeedAttention, and
	// kstatus's Reconciling (True while the invitations of spec.users are
	// created, updated or removed, or grants revoked on deletion) and
	// Stalled (True while someone must act: ActionRequired, Invalid
	// invitations, a user invited twice). An account waiting for its
	// partners to accept is neither.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// members are the users who accepted an invitation of this account.
	// +optional
	// +listType=map
	// +listMapKey=email
	// +kubebuilder:validation:MaxItems=2000
	Members []Member `json:"members,omitempty"`

	// memberCount is the number of entries of members (the MEMBERS column).
	// +optional
	MemberCount int32 `json:"memberCount,omitempty"`

	// invitations counts the account's invitations by state.
	// +optional
	Invitations InvitationCounts `json:"invitations,omitempty"`

	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// PartnerAccount is a partner company whose users work on this customer
// account (the namespace). Users join it through PartnerInvitations, listed
// in spec.users or created on their own.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pa,categories=partners
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be at most 63 lowercase letters, digits or '-' (it is used as a label value)"
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`,description="The partner company's name"
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`,description="PendingApproval, Active, NoUsersOrSystems or ActionRequired"
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.memberCount`,description="Users who accepted (the entries of status.members)"
// +kubebuilder:printcolumn:name="Pending",type=integer,JSONPath=`.status.invitations.pending`,description="Invitations waiting on a live link"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1,description="Whether the account is fully reconciled"
// +kubebuilder:printcolumn:name="Expired",type=integer,JSONPath=`.status.invitations.expired`,priority=1,description="Invitations that expired unaccepted"
// +kubebuilder:printcolumn:name="Attention",type=integer,JSONPath=`.status.invitations.needAttention`,priority=1,description="Invitations to resend or fix (expired, invalid or refused by the mail server)"
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.deletionPolicy`,priority=1,description="What deleting the account does to grants"
type PartnerAccount struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the admin asks for.
	// +required
	Spec PartnerAccountSpec `json:"spec"`

	// status is what the operator observed. Until the controller's first
	// write it holds only observedGeneration 0 (a default), so that kstatus
	// and Flux read a new object as InProgress, not Current.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status PartnerAccountStatus `json:"status,omitempty"`
}

// PartnerAccountList is a list of PartnerAccounts.
// +kubebuilder:object:root=true
type PartnerAccountList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PartnerAccount `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PartnerAccount{}, &PartnerAccountList{})
}
