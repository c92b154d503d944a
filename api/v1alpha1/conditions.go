package v1alpha1

// Condition types and reasons. Every condition is a metav1.Condition with
// observedGeneration; `kubectl wait --for=condition=<Type>` works on each.

// Labels, annotations and finalizers.
const (
	// AccountLabel is set on every PartnerInvitation an account owns
	// through spec.users; its value is the account's name.
	AccountLabel = "partnerops.dev/account"

	// DisplayNameAnnotation on a namespace is the customer account's name
	// shown in emails and pages; without it the namespace name is shown.
	DisplayNameAnnotation = "partnerops.dev/display-name"

	// ConfirmDeletionAnnotation set to "true" on a PartnerAccount lets it be
	// deleted while it has members: without it, the ValidatingAdmissionPolicy
	// of config/admission refuses the DELETE.
	ConfirmDeletionAnnotation = "partnerops.dev/confirm-deletion"

	// RequestedByAnnotation names the Kubernetes user who asked: on a
	// PartnerInvitation, who created it (for one a PartnerAccount owns, the
	// account's value when it was created); on a PartnerAccount, who created
	// it or last changed its spec.users. The MutatingAdmissionPolicy of
	// config/admission sets it, the account controller copies it onto the
	// invitations it creates, and nobody may rewrite it.
	RequestedByAnnotation = "partnerops.dev/requested-by"

	// GrantsFinalizer is present only while the identity backend holds
	// grants that partnerops must revoke before the object goes.
	GrantsFinalizer = "partnerops.dev/grants"
)

// Condition types.
const (
	// ConditionReady summarises an object: True when it is settled as asked
	// (an invitation sent and waiting, or accepted with its grants synced;
	// an account whose invitations are all settled), False with the reason
	// that needs attention otherwise.
	ConditionReady = "Ready"

	// ConditionEmailSent is True once the current invitation email has been
	// handed to the mail server.
	ConditionEmailSent = "EmailSent"

	// ConditionAccepted is True once the partner accepted the invitation.
	ConditionAccepted = "Accepted"

	// ConditionExpired is True once the current link's validity ran out
	// before the partner accepted.
	ConditionExpired = "Expired"

	// ConditionGrantsSynced is True when the identity backend holds exactly
	// the grants the invitation asks for.
	ConditionGrantsSynced = "GrantsSynced"

	// ConditionInvitationsNeedAttention, on a PartnerAccount, is True while
	// some of its invitations expired or failed (Invalid, or refused by the
	// mail server), with reason InvitationsFailed or InvitationsExpired and
	// a message naming them; False (NoneNeedAttention) otherwise. While a
	// member is Active it does not turn Ready False.
	ConditionInvitationsNeedAttention = "InvitationsNeedAttention"

	// ConditionReconciling is kstatus's Reconciling
	// (sigs.k8s.io/cli-utils/pkg/kstatus), on both kinds: True while the
	// controller is still working towards what the spec asks (sending an
	// email, retrying after a transient failure, applying or revoking
	// grants; on an account, creating, updating or removing the
	// invitations of spec.users, or revoking grants on deletion), with
	// the reason of what it does; False (NotReconciling) otherwise. An
	// invitation waiting for its partner is not reconciling: nothing is
	// left to do until they answer.
	ConditionReconciling = "Reconciling"

	// ConditionStalled is kstatus's Stalled, on both kinds: True when no
	// progress can be made without someone changing something (an Invalid
	// invitation, an address the mail server refused, an expired link
	// with no resend asked, grants the backend refuses for good; on an
	// account, ActionRequired, Invalid invitations or a user invited
	// twice), with the reason that names the cause; False (NotStalled)
	// otherwise. A Revoked invitation is a finished, intended outcome, not
	// stalled. At most one of Reconciling and Stalled is True.
	ConditionStalled = "Stalled"
)

// Reasons of the Reconciling and Stalled conditions when they are False;
// when True they carry the reason of the cause (Sending, SMTPUnavailable,
// UnknownRole, Expired, ...).
const (
	// ReasonNotReconciling surfaces on Reconciling=False: the controller
	// has done everything the spec asks for now (an invitation sent and
	// waiting for its partner, accepted with its grants synced, revoked;
	// an account whose invitations are as spec.users asks), or is stalled.
	ReasonNotReconciling = "NotReconciling"
	// ReasonNotStalled surfaces on Stalled=False: nothing needs someone to
	// act.
	ReasonNotStalled = "NotStalled"
	// ReasonGrantsPending surfaces on an invitation's Reconciling=True
	// while the identity backend does not hold what it asks yet: the
	// grants of an accepted partner to apply (the account's finalizer
	// comes first), or those of a removed one to revoke; and on an
	// account's Ready=False (Reconciling) while some of its invitations
	// wait for an unreachable backend.
	ReasonGrantsPending = "GrantsPending"
)

// Reasons for an invalid spec (Ready=False, state Invalid).
const (
	// ReasonUnknownRole surfaces when spec.role is not in the operator's catalogue.
	ReasonUnknownRole = "UnknownRole"
	// ReasonUnknownSystem surfaces when a spec.systems entry is not in the catalogue.
	ReasonUnknownSystem = "UnknownSystem"
	// ReasonAccountNotFound surfaces when spec.account names no PartnerAccount in the namespace.
	ReasonAccountNotFound = "AccountNotFound"
	// ReasonNoAccountForDomain surfaces when an invitation without
	// spec.account finds no PartnerAccount of its namespace whose
	// allowedDomains covers its address (accounts being deleted, and
	// accounts without allowedDomains, are never chosen by domain). The
	// message names the accounts there are; the invitation proceeds by
	// itself once an account covering the domain is created or the domain
	// is added to one.
	ReasonNoAccountForDomain = "NoAccountForDomain"
	// ReasonAmbiguousAccount surfaces when an invitation without
	// spec.account is covered equally by several PartnerAccounts of its
	// namespace (their most specific allowedDomains entry covering the
	// address is the same): the message names them; the invitation
	// proceeds by itself once only one covers it most specifically, or is
	// replaced by one that names its account in spec.account.
	ReasonAmbiguousAccount = "AmbiguousAccount"
	// ReasonDomainNotAllowed surfaces when the email's domain is outside
	// the account's allowedDomains: before sending, or once an accepted
	// member's domain is taken out of the list (their grants are revoked
	// and their link ended; adding the domain back and raising spec.resend
	// invites them again).
	ReasonDomainNotAllowed = "DomainNotAllowed"
	// ReasonDuplicateInvitation surfaces when another invitation of the same
	// address (compared without case) is live in the namespace
	// (PendingApproval or Accepted, from spec.users, a standalone
	// invitation or another account): this one sends nothing and grants
	// nothing, and proceeds on its own once the live one ends.
	ReasonDuplicateInvitation = "DuplicateInvitation"
)

// Reasons of the EmailSent condition (Sending is on Ready).
const (
	// ReasonSending surfaces on Ready and Reconciling while the first email
	// is being sent, and on Reconciling while a resend is.
	ReasonSending = "Sending"
	// ReasonSent surfaces when the mail server accepted the email.
	ReasonSent = "Sent"
	// ReasonSMTPUnavailable surfaces when the mail server could not be reached
	// or answered with a temporary (4xx) error; the send is retried with backoff.
	ReasonSMTPUnavailable = "SMTPUnavailable"
	// ReasonRateLimited surfaces when the namespace used up its hourly email
	// cap; the email waits for the next slot and is never dropped.
	ReasonRateLimited = "RateLimited"
	// ReasonSendFailed surfaces when the email could not be composed or its
	// link signed (an override template that fails, the signing key Secret
	// unreadable); retried with backoff.
	ReasonSendFailed = "SendFailed"
	// ReasonRecipientRejected surfaces when the mail server refused the
	// recipient for good (5xx); nothing is retried until the next resend.
	ReasonRecipientRejected = "RecipientRejected"
)

// Reasons of the Accepted, Expired and Ready conditions of an invitation.
const (
	// ReasonAwaitingAcceptance surfaces while the partner has not answered.
	ReasonAwaitingAcceptance = "AwaitingAcceptance"
	// ReasonAccepted surfaces once the partner accepted.
	ReasonAccepted = "Accepted"
	// ReasonExpired surfaces when the link ran out before the partner accepted.
	ReasonExpired = "Expired"
	// ReasonNotExpired surfaces while the current link is still valid.
	ReasonNotExpired = "NotExpired"
	// ReasonWithdrawn surfaces when the admin set spec.revoked or deleted the invitation.
	ReasonWithdrawn = "Withdrawn"
	// ReasonDeclined surfaces when the partner declined the invitation.
	ReasonDeclined = "Declined"
	// ReasonAccountDeleted surfaces when the invitation's account was
	// deleted, or deleted and created again under the same name (another
	// UID than status.accountUID): a new account never adopts the old
	// invitations, its users must be invited again.
	ReasonAccountDeleted = "AccountDeleted"
	// ReasonRemoved surfaces on Accepted=False when an accepted user's
	// invitation is being deleted (removed from the account's spec.users,
	// or deleted by hand) while their access is revoked.
	ReasonRemoved = "Removed"
	// ReasonResendNotAllowed surfaces when spec.resend was raised on an
	// Accepted or Revoked invitation; nothing is sent.
	ReasonResendNotAllowed = "ResendNotAllowed"
)

// Reasons of the GrantsSynced condition.
const (
	// ReasonGrantsApplied surfaces when the backend holds exactly the asked grants.
	ReasonGrantsApplied = "GrantsApplied"
	// ReasonGrantsRevoked surfaces when the grants were removed from the backend.
	ReasonGrantsRevoked = "GrantsRevoked"
	// ReasonGrantsRetained surfaces when the account's deletionPolicy is
	// Retain and the grants were left in the backend on purpose.
	ReasonGrantsRetained = "GrantsRetained"
	// ReasonBackendUnavailable surfaces when the identity backend could not
	// be reached or failed; the sync is retried with backoff.
	ReasonBackendUnavailable = "BackendUnavailable"
	// ReasonBackendRejected surfaces when the identity backend refused a
	// change for good (for instance a group that does not exist and may not
	// be created).
	ReasonBackendRejected = "BackendRejected"
	// ReasonAcceptanceUnverified surfaces when an invitation says Accepted
	// but its status.acceptanceProof does not verify with the link-signing
	// keys (the status was written by someone other than the acceptance
	// page, or the proof's key was removed): nothing is granted and the
	// backend is not called.
	ReasonAcceptanceUnverified = "AcceptanceUnverified"
	// ReasonGroupNotManaged surfaces when status.appliedGrants names a group
	// that the groupTemplate does not yield for this invitation's namespace
	// and the catalogue: partnerops refuses to remove anyone from it, leaves
	// it alone and drops it from the record.
	ReasonGroupNotManaged = "GroupNotManaged"
)

// Reasons of a PartnerAccount's Ready condition.
const (
	// ReasonReconciled surfaces when every spec.users entry has its
	// invitation as asked and none of the account's invitations is Invalid.
	ReasonReconciled = "Reconciled"
	// ReasonInvitationsPending surfaces while the invitations of spec.users
	// are being created, updated or removed.
	ReasonInvitationsPending = "InvitationsPending"
	// ReasonInvitationsRefused surfaces (Stalled) while the API server
	// refuses the writes of the invitations of spec.users (a
	// ResourceQuota, an admission webhook or policy): retried with backoff,
	// but a retry alone will not get through. The message gives the API
	// server's words.
	ReasonInvitationsRefused = "InvitationsRefused"
	// ReasonInvalidInvitations surfaces when some of the account's invitations are Invalid.
	ReasonInvalidInvitations = "InvalidInvitations"
	// ReasonGrantsNotSynced surfaces on an account's Ready=False (Stalled)
	// while the identity backend does not hold what some of its
	// invitations ask and will not by itself: an accepted member's edit or
	// a removal not applied (an unknown role or system, the backend's
	// refusal, an acceptance that does not verify). The message names them
	// with their GrantsSynced reason. (While the backend is only
	// unreachable and retried, the account's Ready reason is GrantsPending,
	// with Reconciling.)
	ReasonGrantsNotSynced = "GrantsNotSynced"
	// ReasonDuplicateUser surfaces when a spec.users entry is not invited
	// because another invitation is in the way: a standalone invitation of
	// the same address to the account, or an invitation the account does
	// not own under the name its own would take. No second email is sent.
	ReasonDuplicateUser = "DuplicateUser"
	// ReasonDeleting surfaces while the account's grants are being revoked
	// before it goes (on its Ready and Reconciling), and on the
	// Reconciling=True of an invitation being deleted while its grants are
	// revoked.
	ReasonDeleting = "Deleting"
	// ReasonInvitationsExpired surfaces on an account's Ready=False (state
	// ActionRequired) when nothing is active or waiting and some invitations
	// expired unaccepted, and on InvitationsNeedAttention=True when some
	// expired and none failed; the message names them and says to raise
	// the entry's resend in spec.users (spec.resend for a standalone one).
	ReasonInvitationsExpired = "InvitationsExpired"
	// ReasonInvitationsFailed surfaces on an account's Ready=False (state
	// ActionRequired) when nothing is active or waiting and some invitations
	// failed: their email was refused by the mail server
	// (RecipientRejected); and on InvitationsNeedAttention=True when some are
	// Invalid or refused. The message names them with their cause and says
	// to fix the address or that cause, then raise resend.
	ReasonInvitationsFailed = "InvitationsFailed"
	// ReasonNoneNeedAttention surfaces on InvitationsNeedAttention=False:
	// no invitation of the account is expired, Invalid or refused.
	ReasonNoneNeedAttention = "NoneNeedAttention"
)
