// Package acceptance serves the partner-facing acceptance page: it reads
// PartnerInvitations (with their namespace and PartnerAccount) from the
// manager's cache and, when the partner accepts or declines, writes the
// invitation's status once, with optimistic locking.
//
// Routes:
//
//   - GET /invitations/accept?token=… shows the invitation (who invites, the
//     partner company, the role and systems, the expiry, the personal note)
//     with an "Accept and continue" form and a smaller "Decline" form. A GET
//     never writes: mail scanners prefetch links.
//   - POST /invitations/accept (form field token) records the acceptance and
//     answers 303 See Other to the Partner Hub; accepting twice lands on the
//     Hub again with no second write.
//   - POST /invitations/decline (form field token) records that the partner
//     declined (state Revoked, reason Declined).
//   - GET /healthz answers 200 for the Service's probes.
//
// Every link the page cannot honour for good (unknown, forged, tampered,
// withdrawn, replaced by a resend, invalid) gets one generic page, byte for
// byte the same whatever the cause. A link that ran out gets 410 and a page
// telling the partner to ask the customer for a new invitation.
//
// The token is a bearer credential: it never reaches a log line, an error,
// an event or the status.
package acceptance

// The page reads invitations, their accounts and namespaces (from the
// cache), writes invitations' status and records events.
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partnerinvitations,verbs=get;list;watch
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partnerinvitations/status,verbs=patch
// +kubebuilder:rbac:groups=partners.partnerops.dev,resources=partneraccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
