package invitation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/token"
)

var (
	d0      = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	sentAt  = metav1.NewTime(d0.Add(-time.Hour))
	expires = metav1.NewTime(d0.Add(100 * time.Hour))
	past    = metav1.NewTime(d0.Add(-time.Minute))
)

func decideConfig() *config.Config {
	cfg := catalogue()
	cfg.IdentityBackend = config.IdentityBackend{Type: config.BackendSCIM, GroupTemplate: config.DefaultGroupTemplate}
	return cfg
}

// decideIn is the input of one row: a pending invitation of an existing
// account, changed by mods.
func decideIn(mods ...func(*input)) input {
	inv := newInv()
	inv.UID, inv.Generation = "u-1", 1
	in := input{
		inv:     inv,
		account: &v1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "globex", UID: "a-1"}, Spec: v1alpha1.PartnerAccountSpec{DisplayName: "Globex"}},
		cfg:     decideConfig(),
		now:     d0,
	}
	for _, m := range mods {
		m(&in)
	}
	return in
}

func sent(in *input) {
	st := &in.inv.Status
	st.State, st.SentAt, st.ExpiresAt = v1alpha1.InvitationPendingApproval, &sentAt, &expires
	st.Conditions = append(st.Conditions, metav1.Condition{Type: v1alpha1.ConditionEmailSent, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSent, Message: "Sent"})
}

func acceptedIn(in *input) {
	sent(in)
	at := metav1.NewTime(d0.Add(-time.Minute))
	in.inv.Status.State, in.inv.Status.AcceptedAt = v1alpha1.InvitationAccepted, &at
	in.inv.Status.AcceptanceProof = &v1alpha1.AcceptanceProof{KeyID: "k1", MAC: strings.Repeat("A", 43)}
}

func withGrants(in *input) {
	in.inv.Finalizers = []string{v1alpha1.GrantsFinalizer}
	in.inv.Status.AppliedGrants = &v1alpha1.AppliedGrants{Backend: "scim", UserID: "id", UserCreated: true, Role: "editor",
		Systems: []string{"insights"}, Groups: []string{"partnerops.acme.insights.editor"}}
}

// byDomain makes the row's invitation one without spec.account, whose
// account load chose among accounts by its domain.
func byDomain(accounts ...v1alpha1.PartnerAccount) func(*input) {
	return func(in *input) {
		in.inv.Spec.Account = ""
		in.account, in.unmatched = chooseAccount(in.inv, accounts)
	}
}

// domainAccount is an account of namespace acme allowing domains.
func domainAccount(name string, domains ...v1alpha1.DomainName) v1alpha1.PartnerAccount {
	return v1alpha1.PartnerAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: name, UID: types.UID("uid-" + name)},
		Spec: v1alpha1.PartnerAccountSpec{DisplayName: name, AllowedDomains: domains}}
}

// recorded says the invitation found its account, of UID uid, before.
func recorded(uid types.UID) func(*input) {
	return func(in *input) { in.inv.Status.Account, in.inv.Status.AccountUID = "globex", string(uid) }
}

func failedSend(reason string) func(*input) {
	return func(in *input) { in.send = &sendResult{failure: &problem{reason, "because"}, retryIn: time.Minute} }
}

func backend(rec *v1alpha1.AppliedGrants, err error, refused ...string) func(*input) {
	return func(in *input) { in.grants = &grantsResult{record: rec, err: err, refused: refused} }
}

var someRecord = &v1alpha1.AppliedGrants{Backend: "scim", UserID: "id", UserCreated: true, Role: "editor",
	Systems: []string{"insights"}, Groups: []string{"partnerops.acme.insights.editor"}}

// want is what a row expects: the state, and conditions by type as
// "Status/Reason" (a type left out is not checked).
type want struct {
	state      v1alpha1.InvitationState
	conditions map[string]string
	wantSend   bool
}

func decideRows() map[string]struct {
	in   input
	want want
} {
	c := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const (
		ready = v1alpha1.ConditionReady
		email = v1alpha1.ConditionEmailSent
		acc   = v1alpha1.ConditionAccepted
		exp   = v1alpha1.ConditionExpired
		gr    = v1alpha1.ConditionGrantsSynced
	)
	rows := map[string]struct {
		in   input
		want want
	}{
		"new: an email is due": {decideIn(), want{"", c(ready, "False/Sending", acc, "False/AwaitingAcceptance"), true}},
		"sent": {decideIn(func(in *input) {
			in.send = &sendResult{outcome: &sendOutcome{uid: "u-1", sentAt: &sentAt, expiresAt: &expires,
				emailSent: metav1.Condition{Type: email, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSent, Message: "Sent", ObservedGeneration: 1}}}
		}), want{v1alpha1.InvitationPendingApproval, c(email, "True/Sent", ready, "True/AwaitingAcceptance", exp, "False/NotExpired"), false}},
		"rate limited":          {decideIn(failedSend(v1alpha1.ReasonRateLimited)), want{v1alpha1.InvitationPendingApproval, c(email, "False/RateLimited", ready, "False/RateLimited"), false}},
		"mail server down":      {decideIn(failedSend(v1alpha1.ReasonSMTPUnavailable)), want{v1alpha1.InvitationPendingApproval, c(email, "False/SMTPUnavailable", ready, "False/SMTPUnavailable"), false}},
		"email cannot be built": {decideIn(failedSend(v1alpha1.ReasonSendFailed)), want{v1alpha1.InvitationPendingApproval, c(email, "False/SendFailed", ready, "False/SendFailed"), false}},
		"recipient refused": {decideIn(func(in *input) {
			in.send = &sendResult{outcome: &sendOutcome{uid: "u-1", rejected: true,
				emailSent: metav1.Condition{Type: email, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonRecipientRejected, Message: "550", ObservedGeneration: 1}}}
		}), want{v1alpha1.InvitationPendingApproval, c(email, "False/RecipientRejected", ready, "False/RecipientRejected"), false}},
		"a resend failing while the link works": {decideIn(sent, func(in *input) { in.inv.Spec.Resend = 1 }, failedSend(v1alpha1.ReasonSMTPUnavailable)),
			want{v1alpha1.InvitationPendingApproval, c(email, "False/SMTPUnavailable", ready, "True/AwaitingAcceptance"), false}},
		"expired": {decideIn(sent, func(in *input) { in.inv.Status.ExpiresAt = &past }),
			want{v1alpha1.InvitationExpired, c(exp, "True/Expired", ready, "False/Expired"), false}},
		"unknown role":   {decideIn(func(in *input) { in.inv.Spec.Role = "wizard" }), want{v1alpha1.InvitationInvalid, c(ready, "False/UnknownRole"), false}},
		"unknown system": {decideIn(func(in *input) { in.inv.Spec.Systems = []v1alpha1.CatalogueKey{"crm"} }), want{v1alpha1.InvitationInvalid, c(ready, "False/UnknownSystem"), false}},
		"no account":     {decideIn(func(in *input) { in.account = nil }), want{v1alpha1.InvitationInvalid, c(ready, "False/AccountNotFound"), false}},
		"domain not allowed": {decideIn(func(in *input) { in.account.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"} }),
			want{v1alpha1.InvitationInvalid, c(ready, "False/DomainNotAllowed"), false}},
		"joined by domain": {decideIn(byDomain(domainAccount("globex", "globex.example"))), want{"", c(ready, "False/Sending"), true}},
		"no account covers the domain": {decideIn(byDomain(domainAccount("initech", "initech.example"))),
			want{v1alpha1.InvitationInvalid, c(ready, "False/NoAccountForDomain"), false}},
		"two accounts cover the domain equally": {decideIn(byDomain(domainAccount("globex", "globex.example"), domainAccount("hooli", "globex.example"))),
			want{v1alpha1.InvitationInvalid, c(ready, "False/AmbiguousAccount"), false}},
		"another invitation of the address is live": {decideIn(func(in *input) {
			other := newInv()
			other.Name, other.UID, other.Status.State = "first", "u-0", v1alpha1.InvitationPendingApproval
			in.siblings = []v1alpha1.PartnerInvitation{*other}
		}), want{v1alpha1.InvitationInvalid, c(ready, "False/DuplicateInvitation"), false}},
		"withdrawn": {decideIn(sent, func(in *input) { in.inv.Spec.Revoked = true }), want{v1alpha1.InvitationRevoked, c(ready, "True/Withdrawn"), false}},
		"declined": {decideIn(sent, func(in *input) {
			in.inv.Status.State, in.inv.Status.RevokedReason = v1alpha1.InvitationRevoked, v1alpha1.RevokedDeclined
		}), want{v1alpha1.InvitationRevoked, c(ready, "True/Declined", acc, "False/Declined"), false}},
		"account deleted":                   {decideIn(sent, func(in *input) { in.account = nil }), want{v1alpha1.InvitationRevoked, c(ready, "True/AccountDeleted"), false}},
		"account deleted and created again": {decideIn(sent, recorded("a-0")), want{v1alpha1.InvitationRevoked, c(ready, "True/AccountDeleted"), false}},
		"an invalid invitation's account deleted": {decideIn(recorded("a-1"), func(in *input) { in.inv.Spec.Role, in.account = "wizard", nil }),
			want{v1alpha1.InvitationRevoked, c(ready, "True/AccountDeleted"), false}},
		"a member's account deleted and created again": {decideIn(acceptedIn, withGrants, recorded("a-0"), backend(nil, nil)),
			want{v1alpha1.InvitationRevoked, c(gr, "True/GrantsRevoked", ready, "True/AccountDeleted", acc, "False/AccountDeleted"), false}},
		"resend asked of an accepted invitation": {decideIn(acceptedIn, func(in *input) { in.inv.Spec.Resend = 1 }),
			want{v1alpha1.InvitationAccepted, c(email, "False/ResendNotAllowed", acc, "True/Accepted", ready, "True/Accepted"), false}},
		"accepted, grants applied": {decideIn(acceptedIn, withGrants, backend(someRecord, nil)),
			want{v1alpha1.InvitationAccepted, c(gr, "True/GrantsApplied", ready, "True/Accepted", acc, "True/Accepted"), false}},
		"accepted without a proof that verifies": {decideIn(acceptedIn, func(in *input) { in.proof = fmt.Errorf("%w: no proof", token.ErrProofInvalid) }),
			want{v1alpha1.InvitationAccepted, c(gr, "False/AcceptanceUnverified", ready, "False/AcceptanceUnverified"), false}},
		"withdrawn member, grants revoked": {decideIn(acceptedIn, withGrants, func(in *input) { in.inv.Spec.Revoked = true }, backend(nil, nil)),
			want{v1alpha1.InvitationRevoked, c(gr, "True/GrantsRevoked", ready, "True/Withdrawn", acc, "False/Withdrawn"), false}},
		"a member's invitation deleted (removed from spec.users)": {decideIn(acceptedIn, withGrants, func(in *input) { in.inv.DeletionTimestamp = &past }, backend(nil, nil)),
			want{v1alpha1.InvitationAccepted, c(gr, "True/GrantsRevoked", acc, "False/Removed"), false}},
		"account deleted with Retain": {decideIn(acceptedIn, withGrants, func(in *input) {
			in.account.DeletionTimestamp, in.account.Spec.DeletionPolicy = &past, v1alpha1.DeletionPolicyRetain
		}), want{v1alpha1.InvitationRevoked, c(gr, "True/GrantsRetained", ready, "True/AccountDeleted", acc, "False/AccountDeleted"), false}},
		"backend down": {decideIn(acceptedIn, withGrants, backend(someRecord, fmt.Errorf("%w: refused", identity.ErrUnavailable))),
			want{v1alpha1.InvitationAccepted, c(gr, "False/BackendUnavailable", ready, "False/BackendUnavailable"), false}},
		"backend refuses": {decideIn(acceptedIn, withGrants, backend(someRecord, fmt.Errorf("%w: no group", identity.ErrGroupNotFound))),
			want{v1alpha1.InvitationAccepted, c(gr, "False/BackendRejected", ready, "False/BackendRejected"), false}},
		"a foreign group in the record": {decideIn(acceptedIn, withGrants, backend(someRecord, nil, "admins")),
			want{v1alpha1.InvitationAccepted, c(gr, "False/GroupNotManaged", ready, "True/Accepted"), false}},
		"a member whose domain left the account": {decideIn(acceptedIn, withGrants, func(in *input) {
			in.account.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"}
		}), want{v1alpha1.InvitationInvalid, c(ready, "False/DomainNotAllowed", acc, "False/DomainNotAllowed"), false}},
		"a member whose domain left the account, grants revoked": {decideIn(acceptedIn, withGrants, func(in *input) {
			in.account.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"}
		}, backend(nil, nil)), want{v1alpha1.InvitationInvalid, c(gr, "True/GrantsRevoked", ready, "False/DomainNotAllowed"), false}},
		"accepted, grants not applied yet": {decideIn(acceptedIn), want{v1alpha1.InvitationAccepted, c(ready, "True/Accepted", acc, "True/Accepted"), false}},
		"withdrawn member, backend down": {decideIn(acceptedIn, withGrants, func(in *input) { in.inv.Spec.Revoked = true },
			backend(someRecord, fmt.Errorf("%w: refused", identity.ErrUnavailable))),
			want{v1alpha1.InvitationRevoked, c(gr, "False/BackendUnavailable", ready, "False/Withdrawn"), false}},
		"expired, the resend held by the mail server": {decideIn(sent, func(in *input) { in.inv.Status.ExpiresAt, in.inv.Spec.Resend = &past, 1 },
			failedSend(v1alpha1.ReasonSMTPUnavailable)),
			want{v1alpha1.InvitationExpired, c(email, "False/SMTPUnavailable", exp, "True/Expired"), false}},
	}
	for name, ks := range kstatusRows {
		row, ok := rows[name]
		if !ok {
			continue // TestDecideSaysReconcilingOrStalled reports it
		}
		row.want.conditions[v1alpha1.ConditionReconciling], row.want.conditions[v1alpha1.ConditionStalled] = ks[0], ks[1]
	}
	return rows
}

// Reconciling and Stalled (kstatus's conditions) of each row of
// decideRows, as "Status/Reason".
const (
	working = "False/NotStalled"     // Stalled, while Reconciling is True
	waits   = "False/NotReconciling" // Reconciling, while Stalled is True
)

var settled = [2]string{"False/NotReconciling", "False/NotStalled"}

var kstatusRows = map[string][2]string{
	"new: an email is due":                  {"True/Sending", working},
	"sent":                                  settled,
	"rate limited":                          {"True/RateLimited", working},
	"mail server down":                      {"True/SMTPUnavailable", working},
	"email cannot be built":                 {"True/SendFailed", working},
	"recipient refused":                     {waits, "True/RecipientRejected"},
	"a resend failing while the link works": {"True/SMTPUnavailable", working},
	"expired":                               {waits, "True/Expired"},
	"expired, the resend held by the mail server": {"True/SMTPUnavailable", working},
	"unknown role":                                            {waits, "True/UnknownRole"},
	"unknown system":                                          {waits, "True/UnknownSystem"},
	"no account":                                              {waits, "True/AccountNotFound"},
	"domain not allowed":                                      {waits, "True/DomainNotAllowed"},
	"joined by domain":                                        {"True/Sending", working},
	"no account covers the domain":                            {waits, "True/NoAccountForDomain"},
	"two accounts cover the domain equally":                   {waits, "True/AmbiguousAccount"},
	"another invitation of the address is live":               {waits, "True/DuplicateInvitation"},
	"withdrawn":                                               settled,
	"declined":                                                settled,
	"account deleted":                                         settled,
	"account deleted and created again":                       settled,
	"an invalid invitation's account deleted":                 settled,
	"a member's account deleted and created again":            settled,
	"resend asked of an accepted invitation":                  {"True/GrantsPending", working}, // no grants applied in this row
	"accepted, grants applied":                                settled,
	"accepted, grants not applied yet":                        {"True/GrantsPending", working},
	"accepted without a proof that verifies":                  {waits, "True/AcceptanceUnverified"},
	"withdrawn member, grants revoked":                        settled,
	"withdrawn member, backend down":                          {"True/BackendUnavailable", working},
	"a member's invitation deleted (removed from spec.users)": {"True/Deleting", working},
	"account deleted with Retain":                             settled,
	"backend down":                                            {"True/BackendUnavailable", working},
	"backend refuses":                                         {waits, "True/BackendRejected"},
	"a foreign group in the record":                           settled,
	"a member whose domain left the account":                  {"True/GrantsPending", working},
	"a member whose domain left the account, grants revoked":  {waits, "True/DomainNotAllowed"},
}

// TestDecideSaysReconcilingOrStalled: every row of TestDecide says what
// kstatus reads, and at most one of Reconciling and Stalled is True.
func TestDecideSaysReconcilingOrStalled(t *testing.T) {
	rows := decideRows()
	for name := range rows {
		if _, ok := kstatusRows[name]; !ok {
			t.Errorf("row %q has no Reconciling/Stalled expectation in kstatusRows", name)
		}
	}
	for name := range kstatusRows {
		if _, ok := rows[name]; !ok {
			t.Errorf("kstatusRows names %q, which is no row of decideRows", name)
		}
	}
	for name, tc := range rows {
		d := decide(tc.in)
		r, s := findCondition(&d.status, v1alpha1.ConditionReconciling), findCondition(&d.status, v1alpha1.ConditionStalled)
		if r == nil || s == nil {
			t.Errorf("%s: Reconciling %v, Stalled %v: both must be present", name, r, s)
			continue
		}
		if r.Status == metav1.ConditionTrue && s.Status == metav1.ConditionTrue {
			t.Errorf("%s: both Reconciling and Stalled are True", name)
		}
	}
}

// TestDecide: every state and every reason an invitation's conditions can
// carry, from the pure decision.
func TestDecide(t *testing.T) {
	for name, tc := range decideRows() {
		t.Run(name, func(t *testing.T) {
			before := tc.in.inv.DeepCopy()
			d := decide(tc.in)
			if d.status.State != tc.want.state {
				t.Errorf("state %q, want %q", d.status.State, tc.want.state)
			}
			for typ, w := range tc.want.conditions {
				c := findCondition(&d.status, typ)
				if c == nil {
					t.Errorf("no %s condition, want %s", typ, w)
					continue
				}
				if got := string(c.Status) + "/" + c.Reason; got != w {
					t.Errorf("%s = %s (%q), want %s", typ, got, c.Message, w)
				}
				if c.Message == "" || c.ObservedGeneration != 1 {
					t.Errorf("%s has message %q, observedGeneration %d", typ, c.Message, c.ObservedGeneration)
				}
			}
			if d.wantSend != tc.want.wantSend {
				t.Errorf("wantSend %v, want %v", d.wantSend, tc.want.wantSend)
			}
			if d.status.ObservedGeneration != 1 {
				t.Errorf("observedGeneration %d", d.status.ObservedGeneration)
			}
			if !equalStatus(before, tc.in.inv) {
				t.Error("decide changed its input")
			}
		})
	}
}

// TestDecideRecordsTheAccount: status.account and status.accountUID say
// which account the invitation belongs to, once, for named invitations
// and those joined by domain alike; the UID only once the account is found,
// and never replaced.
func TestDecideRecordsTheAccount(t *testing.T) {
	cases := map[string]struct {
		in               input
		account, uid     string
		state            v1alpha1.InvitationState
		revokedByAccount bool
	}{
		"named":                            {in: decideIn(), account: "globex", uid: "a-1"},
		"named, before the account exists": {in: decideIn(func(in *input) { in.account = nil }), account: "globex", state: v1alpha1.InvitationInvalid},
		"named, then the account appears":  {in: decideIn(func(in *input) { in.inv.Status.State, in.inv.Status.Account = v1alpha1.InvitationInvalid, "globex" }), account: "globex", uid: "a-1"},
		"joined by domain":                 {in: decideIn(byDomain(domainAccount("globex", "globex.example"))), account: "globex", uid: "uid-globex"},
		"no account for the domain":        {in: decideIn(byDomain()), state: v1alpha1.InvitationInvalid},
		"recorded before, kept":            {in: decideIn(sent, recorded("a-1")), account: "globex", uid: "a-1", state: v1alpha1.InvitationPendingApproval},
		"joined by domain before, kept": {in: decideIn(sent, recorded("uid-globex"), func(in *input) {
			in.inv.Spec.Account = ""
			in.account.UID = "uid-globex"
		}), account: "globex", uid: "uid-globex", state: v1alpha1.InvitationPendingApproval},
		"another account of the same name": {in: decideIn(sent, recorded("a-0")), account: "globex", uid: "a-0", state: v1alpha1.InvitationRevoked, revokedByAccount: true},
		"joined by domain, the account recreated": {in: decideIn(sent, recorded("uid-old"), func(in *input) { in.inv.Spec.Account = "" }),
			account: "globex", uid: "uid-old", state: v1alpha1.InvitationRevoked, revokedByAccount: true},
		"the account being deleted": {in: decideIn(func(in *input) { in.account.DeletionTimestamp = &past }), account: "globex",
			state: v1alpha1.InvitationRevoked, revokedByAccount: true},
		"withdrawn before it was sent": {in: decideIn(func(in *input) { in.inv.Status.State = v1alpha1.InvitationRevoked }), account: "globex",
			state: v1alpha1.InvitationRevoked},
		"a recorded account replaced by hand in status": {in: decideIn(func(in *input) { in.inv.Status.Account = "initech" }), account: "globex", uid: "a-1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := decide(tc.in)
			st := d.status
			if st.Account != tc.account || st.AccountUID != tc.uid {
				t.Errorf("status.account %q, accountUID %q; want %q, %q", st.Account, st.AccountUID, tc.account, tc.uid)
			}
			if st.State != tc.state {
				t.Errorf("state %q, want %q", st.State, tc.state)
			}
			if got := st.RevokedReason == v1alpha1.RevokedAccountDeleted; got != tc.revokedByAccount {
				t.Errorf("revokedReason %q", st.RevokedReason)
			}
		})
	}
}

func equalStatus(a, b *v1alpha1.PartnerInvitation) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// TestDecideCoversEveryReason fails when a reason constant is added to
// api/v1alpha1/conditions.go without a row of TestDecide that produces it
// (the account's reasons are TestReadiness's, in controllers/account).
func TestDecideCoversEveryReason(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	src, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "api", "v1alpha1", "conditions.go"))
	if err != nil {
		t.Fatal(err)
	}
	accountReasons := map[string]bool{
		v1alpha1.ReasonReconciled: true, v1alpha1.ReasonInvitationsPending: true, v1alpha1.ReasonInvitationsRefused: true, v1alpha1.ReasonInvalidInvitations: true,
		v1alpha1.ReasonDuplicateUser: true, v1alpha1.ReasonDeleting: true, v1alpha1.ReasonGrantsNotSynced: true,
		v1alpha1.ReasonInvitationsExpired: true, v1alpha1.ReasonInvitationsFailed: true, v1alpha1.ReasonNoneNeedAttention: true,
	}
	covered := map[string]bool{}
	for _, tc := range decideRows() {
		for _, w := range tc.want.conditions {
			covered[strings.SplitN(w, "/", 2)[1]] = true
		}
	}
	consts := regexp.MustCompile(`(?m)^\s*Reason\w+\s*=\s*"(\w+)"`).FindAllStringSubmatch(string(src), -1)
	if len(consts) < 25 {
		t.Fatalf("found only %d reason constants: the pattern is stale", len(consts))
	}
	for _, m := range consts {
		if r := m[1]; !covered[r] && !accountReasons[r] {
			t.Errorf("reason %s has no row in TestDecide", r)
		}
	}
}

// FuzzDecide: whatever the invitation, its account, siblings and the
// outcomes, decide never panics, never moves a Revoked invitation, never
// replaces a recorded accountUID, never asks to send for one that is
// accepted, revoked or invalid, and never says both Reconciling and
// Stalled.
func FuzzDecide(f *testing.F) {
	f.Add(uint64(0), uint8(0), int64(0))
	f.Add(uint64(0xdeadbeef), uint8(7), int64(-3600))
	f.Add(uint64(1<<40-1), uint8(255), int64(1e6))
	states := []v1alpha1.InvitationState{"", v1alpha1.InvitationPendingApproval, v1alpha1.InvitationAccepted,
		v1alpha1.InvitationExpired, v1alpha1.InvitationRevoked, v1alpha1.InvitationInvalid}
	f.Fuzz(func(t *testing.T, bits uint64, pick uint8, offset int64) {
		bit := func(i uint) bool { return bits&(1<<i) != 0 }
		in := decideIn()
		inv := in.inv
		st := &inv.Status
		st.State = states[int(pick)%len(states)]
		at := metav1.NewTime(d0.Add(time.Duration(offset) * time.Second))
		if bit(0) {
			st.SentAt = &sentAt
		}
		if bit(1) {
			st.ExpiresAt = &at
		}
		if bit(2) {
			st.AcceptedAt = &at
		}
		if bit(3) {
			inv.Spec.Revoked = true
		}
		if bit(4) {
			inv.Spec.Resend = int32(pick % 3)
		}
		if bit(5) {
			inv.DeletionTimestamp = &past
		}
		switch {
		case bit(6):
			in.account = nil
		case bit(7):
			in.account.DeletionTimestamp = &past
		}
		if in.account != nil && bit(8) {
			in.account.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"}
		}
		if in.account != nil && bit(9) {
			in.account.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
		}
		if bit(10) {
			in.proof = token.ErrProofInvalid
		}
		if bit(11) {
			withGrants(&in)
		}
		if bit(12) {
			st.RevokedReason = v1alpha1.RevokedDeclined
		}
		if bit(13) {
			inv.Spec.Role = "wizard"
		}
		if bit(14) {
			other := newInv()
			other.Name, other.UID, other.Status.State = "other", "u-0", states[int(pick>>3)%len(states)]
			in.siblings = []v1alpha1.PartnerInvitation{*other}
		}
		switch pick % 5 {
		case 1:
			in.send = &sendResult{failure: &problem{v1alpha1.ReasonSMTPUnavailable, "x"}}
		case 2:
			in.send = &sendResult{outcome: &sendOutcome{uid: inv.UID, sentAt: &sentAt, expiresAt: &at,
				emailSent: metav1.Condition{Type: v1alpha1.ConditionEmailSent, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSent, Message: "Sent"}}}
		case 3:
			in.send = &sendResult{waiting: true}
		}
		if bit(18) {
			st.Account, st.AccountUID = "globex", "a-0"
		}
		if bit(19) {
			byDomain(domainAccount("globex", "globex.example"), domainAccount("hooli", v1alpha1.DomainName("globex.example"[pick%8:])))(&in)
		}
		switch {
		case bit(15):
			in.grants = &grantsResult{record: someRecord, err: errors.New("boom")}
		case bit(16):
			in.grants = &grantsResult{record: someRecord, refused: []string{"admins"}}
		case bit(17):
			in.grants = &grantsResult{}
		}

		d := decide(in)
		if st.State == v1alpha1.InvitationRevoked && d.status.State != v1alpha1.InvitationRevoked {
			t.Fatalf("a Revoked invitation became %q", d.status.State)
		}
		if st.AccountUID != "" && d.status.AccountUID != st.AccountUID {
			t.Fatalf("the recorded accountUID %q became %q", st.AccountUID, d.status.AccountUID)
		}
		if d.wantSend {
			switch d.status.State {
			case v1alpha1.InvitationAccepted, v1alpha1.InvitationRevoked, v1alpha1.InvitationInvalid:
				t.Fatalf("asks to send for a %s invitation", d.status.State)
			}
		}
		for _, c := range d.status.Conditions {
			if c.Reason == "" || c.Message == "" || (c.Status != metav1.ConditionTrue && c.Status != metav1.ConditionFalse) {
				t.Fatalf("a malformed condition: %+v", c)
			}
		}
		r, s := findCondition(&d.status, v1alpha1.ConditionReconciling), findCondition(&d.status, v1alpha1.ConditionStalled)
		if r == nil || s == nil || (r.Status == metav1.ConditionTrue && s.Status == metav1.ConditionTrue) {
			t.Fatalf("Reconciling %+v and Stalled %+v: both present, at most one True", r, s)
		}
	})
}
