package account

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// Builders.

func acct(users ...v1alpha1.PartnerUser) *v1alpha1.PartnerAccount {
	return &v1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "globex", UID: types.UID("globex-uid")},
		Spec:       v1alpha1.PartnerAccountSpec{DisplayName: "Globex", Users: users},
	}
}

func entry(email, role string, systems ...v1alpha1.CatalogueKey) v1alpha1.PartnerUser {
	return v1alpha1.PartnerUser{Email: v1alpha1.EmailAddress(email), Role: v1alpha1.CatalogueKey(role), Systems: systems}
}

// inv is an invitation of the account; opts change it.
func inv(name, email string, state v1alpha1.InvitationState, opts ...func(*v1alpha1.PartnerInvitation)) v1alpha1.PartnerInvitation {
	i := v1alpha1.PartnerInvitation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: name},
		Spec:       v1alpha1.PartnerInvitationSpec{Account: "globex", Email: v1alpha1.EmailAddress(email), Role: "editor"},
		Status:     v1alpha1.PartnerInvitationStatus{State: state},
	}
	for _, o := range opts {
		o(&i)
	}
	return i
}

// child is the invitation the account owns for u, in state.
func child(a *v1alpha1.PartnerAccount, u v1alpha1.PartnerUser, state v1alpha1.InvitationState, opts ...func(*v1alpha1.PartnerInvitation)) v1alpha1.PartnerInvitation {
	i := *desiredInvitation(a, u)
	i.Status.State = state
	for _, o := range opts {
		o(&i)
	}
	return i
}

func systems(s ...v1alpha1.CatalogueKey) func(*v1alpha1.PartnerInvitation) {
	return func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = s }
}

func applied(i *v1alpha1.PartnerInvitation) {
	i.Status.AppliedGrants = &v1alpha1.AppliedGrants{Backend: "scim", Groups: []string{"g"}}
}

func finalizer(i *v1alpha1.PartnerInvitation) { i.Finalizers = []string{v1alpha1.GrantsFinalizer} }

func deleting(i *v1alpha1.PartnerInvitation) {
	now := metav1.Now()
	i.DeletionTimestamp = &now
}

// now is the time the policy tests decide at.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sentUntil records a send whose link expires at until.
func sentUntil(until time.Time) func(*v1alpha1.PartnerInvitation) {
	return func(i *v1alpha1.PartnerInvitation) {
		sent, exp := metav1.NewTime(until.Add(-168*time.Hour)), metav1.NewTime(until)
		i.Status.SentAt, i.Status.ExpiresAt = &sent, &exp
	}
}

// refused records the mail server's refusal of the email.
func refused(i *v1alpha1.PartnerInvitation) {
	i.Status.Conditions = append(i.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionEmailSent, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ReasonRecipientRejected, Message: "550 5.1.1 no such user"})
}

// resend raises spec.resend past what was sent.
func resend(i *v1alpha1.PartnerInvitation) { i.Spec.Resend = i.Status.ObservedResend + 1 }

func acceptedAtTime(t time.Time) func(*v1alpha1.PartnerInvitation) {
	return func(i *v1alpha1.PartnerInvitation) {
		at := metav1.NewTime(t)
		i.Status.AcceptedAt = &at
	}
}

func TestAccountState(t *testing.T) {
	const (
		pending  = v1alpha1.InvitationPendingApproval
		accepted = v1alpha1.InvitationAccepted
		expired  = v1alpha1.InvitationExpired
		revoked  = v1alpha1.InvitationRevoked
		bad      = v1alpha1.InvitationInvalid
	)
	sys := systems("editor")
	cases := map[string]struct {
		invs []v1alpha1.PartnerInvitation
		want v1alpha1.AccountState
	}{
		"no invitation":                          {nil, v1alpha1.AccountNoUsersOrSystems},
		"only revoked, with systems":             {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", revoked, sys)}, v1alpha1.AccountNoUsersOrSystems},
		"pending without systems":                {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", pending)}, v1alpha1.AccountNoUsersOrSystems},
		"accepted without systems":               {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", accepted)}, v1alpha1.AccountNoUsersOrSystems},
		"pending with systems":                   {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", pending, sys)}, v1alpha1.AccountPendingApproval},
		"not processed yet, with systems":        {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", "", sys)}, v1alpha1.AccountPendingApproval},
		"expired with systems":                   {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", expired, sys)}, v1alpha1.AccountActionRequired},
		"expired without systems":                {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", expired)}, v1alpha1.AccountActionRequired},
		"invalid with systems":                   {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", bad, sys)}, v1alpha1.AccountActionRequired},
		"refused by the mail server":             {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", pending, sys, refused)}, v1alpha1.AccountActionRequired},
		"refused, resend asked":                  {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", pending, sys, refused, resend)}, v1alpha1.AccountPendingApproval},
		"expired, resend asked":                  {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", expired, sys, resend)}, v1alpha1.AccountPendingApproval},
		"pending, link live":                     {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", pending, sys, sentUntil(now.Add(time.Hour)))}, v1alpha1.AccountPendingApproval},
		"pending, link past its expiry":          {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", pending, sys, sentUntil(now))}, v1alpha1.AccountActionRequired},
		"expired and one waiting":                {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", expired, sys), inv("b", "b@x.example", pending, sys)}, v1alpha1.AccountPendingApproval},
		"expired, one waiting without systems":   {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", expired, sys), inv("b", "b@x.example", pending)}, v1alpha1.AccountNoUsersOrSystems},
		"accepted without systems, one expired":  {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", accepted), inv("b", "b@x.example", expired, sys)}, v1alpha1.AccountActionRequired},
		"accepted with systems, one expired":     {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", accepted, sys), inv("b", "b@x.example", expired, sys)}, v1alpha1.AccountActive},
		"only revoked and expired":               {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", revoked, sys), inv("b", "b@x.example", expired)}, v1alpha1.AccountActionRequired},
		"accepted with systems":                  {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", accepted, sys)}, v1alpha1.AccountActive},
		"accepted without, pending with":         {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", accepted), inv("b", "b@x.example", pending, sys)}, v1alpha1.AccountPendingApproval},
		"accepted with, among others":            {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", pending), inv("b", "b@x.example", revoked, sys), inv("c", "c@x.example", accepted, sys)}, v1alpha1.AccountActive},
		"revoked with systems, accepted without": {[]v1alpha1.PartnerInvitation{inv("a", "a@x.example", revoked, sys), inv("b", "b@x.example", accepted)}, v1alpha1.AccountNoUsersOrSystems},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := accountState(tc.invs, now); got != tc.want {
				t.Errorf("accountState = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCountsAndMembers(t *testing.T) {
	t1, t2 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2026, 2, 2, 3, 4, 5, 0, time.UTC)
	invs := []v1alpha1.PartnerInvitation{
		inv("a", "zoe@x.example", v1alpha1.InvitationAccepted, systems("editor", "insights"), acceptedAtTime(t1)),
		inv("b", "Bob@x.example", v1alpha1.InvitationAccepted, acceptedAtTime(t2)),
		inv("c", "bob@x.example", v1alpha1.InvitationAccepted, acceptedAtTime(t1)), // the same person, earlier
		inv("d", "p@x.example", v1alpha1.InvitationPendingApproval),
		inv("e", "q@x.example", ""),
		inv("f", "r@x.example", v1alpha1.InvitationExpired),
		inv("g", "s@x.example", v1alpha1.InvitationRevoked),
		inv("h", "t@x.example", v1alpha1.InvitationInvalid),
		inv("i", "u@x.example", v1alpha1.InvitationAccepted, func(i *v1alpha1.PartnerInvitation) { // no acceptedAt recorded
			i.CreationTimestamp = metav1.NewTime(t2)
		}),
		inv("j", "v@x.example", v1alpha1.InvitationPendingApproval, sentUntil(now.Add(time.Hour))),
		inv("k", "w@x.example", v1alpha1.InvitationPendingApproval, sentUntil(now)),   // the link ran out: expired
		inv("l", "y@x.example", v1alpha1.InvitationPendingApproval, refused),          // refused: failed, not pending
		inv("m", "z@x.example", v1alpha1.InvitationExpired, resend),                   // about to be sent again
		inv("n", "z2@x.example", v1alpha1.InvitationPendingApproval, refused, resend), // about to be sent again
	}
	want := v1alpha1.InvitationCounts{Pending: 5, Accepted: 4, Expired: 2, Revoked: 1, Invalid: 1, Rejected: 1, NeedAttention: 4}
	if got := countInvitations(invs, now); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	ms := members(invs)
	var got []string
	for _, m := range ms {
		got = append(got, m.Email+"/"+m.Invitation)
	}
	if strings.Join(got, " ") != "bob@x.example/c u@x.example/i zoe@x.example/a" {
		t.Errorf("members %v; want sorted by email, each address once, from its earliest acceptance", got)
	}
	if z := ms[2]; z.Role != "editor" || strings.Join(z.Systems, ",") != "editor,insights" || !z.AcceptedAt.Time.Equal(t1) {
		t.Errorf("member %+v lost its role, systems or acceptance time", z)
	}
	if !ms[1].AcceptedAt.Time.Equal(t2) {
		t.Errorf("a member without acceptedAt has acceptance time %v; want the invitation's creation (the schema requires one)", ms[1].AcceptedAt)
	}
	if members(invs[3:8]) != nil {
		t.Errorf("members of no accepted invitation must be empty")
	}
}

func TestFinalizerAndHolders(t *testing.T) {
	cases := map[string]struct {
		inv          v1alpha1.PartnerInvitation
		keep, holder bool
	}{
		"pending":                  {inv("a", "a@x.example", v1alpha1.InvitationPendingApproval), false, false},
		"accepted, no grants yet":  {inv("a", "a@x.example", v1alpha1.InvitationAccepted), true, false},
		"accepted with grants":     {inv("a", "a@x.example", v1alpha1.InvitationAccepted, applied, finalizer), true, true},
		"revoked, grants recorded": {inv("a", "a@x.example", v1alpha1.InvitationRevoked, applied), true, true},
		"revoked, finalizer only":  {inv("a", "a@x.example", v1alpha1.InvitationRevoked, finalizer), true, true},
		"deleted, finalizer only":  {inv("a", "a@x.example", v1alpha1.InvitationAccepted, finalizer, deleting), true, true},
		"revoked, nothing left":    {inv("a", "a@x.example", v1alpha1.InvitationRevoked), false, false},
		"expired":                  {inv("a", "a@x.example", v1alpha1.InvitationExpired), false, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			invs := []v1alpha1.PartnerInvitation{tc.inv}
			if got := needsFinalizer(invs); got != tc.keep {
				t.Errorf("needsFinalizer = %v, want %v", got, tc.keep)
			}
			if got := len(grantHolders(invs)) == 1; got != tc.holder {
				t.Errorf("holds grants = %v, want %v", got, tc.holder)
			}
		})
	}
}

func TestPlanChildren(t *testing.T) {
	mindy := entry("Mindy@globex.example", "editor", "editor")
	hank := entry("hank@globex.example", "admin", "insights", "admin-center")
	a := acct(mindy, hank)
	nameOf := func(u v1alpha1.PartnerUser) string { return InvitationName("globex", string(u.Email)) }
	pending := v1alpha1.InvitationPendingApproval

	type want struct {
		create, update, remove, removing, waiting, conflicts, declined, observing []string
	}
	cases := map[string]struct {
		invs  []v1alpha1.PartnerInvitation
		taken []v1alpha1.PartnerInvitation
		want  want
	}{
		"nothing yet": {
			want: want{create: []string{nameOf(mindy), nameOf(hank)}},
		},
		"in place, systems in another order": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending), child(a, hank, pending, systems("admin-center", "insights"))},
		},
		"role changed": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending, func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "viewer" }), child(a, hank, pending)},
			want: want{update: []string{nameOf(mindy)}},
		},
		"system removed": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending), child(a, hank, pending, systems("insights"))},
			want: want{update: []string{nameOf(hank)}},
		},
		// Up to date, but its controller has not taken the edit yet: its
		// status (GrantsSynced, state) still speaks of the spec before.
		"an edit the invitation has not taken yet": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending, func(i *v1alpha1.PartnerInvitation) { i.Generation, i.Status.ObservedGeneration = 2, 1 }), child(a, hank, pending)},
			want: want{observing: []string{nameOf(mindy)}},
		},
		"label removed by hand": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending, func(i *v1alpha1.PartnerInvitation) { i.Labels = nil }), child(a, hank, pending)},
			want: want{update: []string{nameOf(mindy)}},
		},
		"entry removed": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending), child(a, hank, pending),
				child(a, entry("frank@globex.example", "viewer"), v1alpha1.InvitationAccepted)},
			want: want{remove: []string{nameOf(entry("frank@globex.example", "viewer"))}},
		},
		"entry removed, its invitation already going": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending), child(a, hank, pending),
				child(a, entry("frank@globex.example", "viewer"), v1alpha1.InvitationAccepted, deleting, finalizer)},
			want: want{removing: []string{nameOf(entry("frank@globex.example", "viewer"))}},
		},
		"entry added back while its old invitation goes": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending, deleting, finalizer), child(a, hank, pending)},
			want: want{waiting: []string{"Mindy@globex.example"}},
		},
		"declined": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, v1alpha1.InvitationRevoked, func(i *v1alpha1.PartnerInvitation) { i.Spec.Role = "viewer" }), child(a, hank, pending)},
			want: want{declined: []string{nameOf(mindy)}},
		},
		"standalone of the same address, other case": {
			invs: []v1alpha1.PartnerInvitation{inv("by-hand", "mindy@GLOBEX.example", pending)},
			want: want{create: []string{nameOf(hank)}, conflicts: []string{"Mindy@globex.example/by-hand/false"}},
		},
		"standalone of the same address, withdrawn": {
			invs: []v1alpha1.PartnerInvitation{inv("by-hand", "mindy@globex.example", v1alpha1.InvitationRevoked)},
			want: want{create: []string{nameOf(mindy), nameOf(hank)}},
		},
		"standalone of the same address, being deleted": {
			invs: []v1alpha1.PartnerInvitation{inv("by-hand", "mindy@globex.example", pending, deleting)},
			want: want{create: []string{nameOf(mindy), nameOf(hank)}},
		},
		"standalone duplicating an invitation the account already owns": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending), child(a, hank, pending), inv("by-hand", "mindy@globex.example", pending)},
			want: want{conflicts: []string{"Mindy@globex.example/by-hand/false"}},
		},
		"standalone under the account's name": {
			invs: []v1alpha1.PartnerInvitation{inv(nameOf(mindy), "mindy@globex.example", pending), child(a, hank, pending)},
			want: want{conflicts: []string{"Mindy@globex.example/" + nameOf(mindy) + "/false"}},
		},
		// A revoked one (declined, withdrawn) invites nobody: it only holds
		// the name, and the message says to delete it, not that the user
		// is invited already.
		"a revoked standalone under the account's name": {
			invs: []v1alpha1.PartnerInvitation{inv(nameOf(mindy), "mindy@globex.example", v1alpha1.InvitationRevoked), child(a, hank, pending)},
			want: want{conflicts: []string{"Mindy@globex.example/" + nameOf(mindy) + "/true"}},
		},
		"a standalone under the account's name, being deleted": {
			invs: []v1alpha1.PartnerInvitation{inv(nameOf(mindy), "mindy@globex.example", v1alpha1.InvitationRevoked, deleting), child(a, hank, pending)},
			want: want{waiting: []string{"Mindy@globex.example"}},
		},
		"name taken by another account's invitation": {
			invs:  []v1alpha1.PartnerInvitation{child(a, mindy, pending)},
			taken: []v1alpha1.PartnerInvitation{inv(nameOf(hank), "hank@globex.example", pending, func(i *v1alpha1.PartnerInvitation) { i.Spec.Account = "initech" })},
			want:  want{conflicts: []string{"hank@globex.example/" + nameOf(hank) + "/true"}},
		},
		"owned by another account of the same name (recreated account)": {
			invs: []v1alpha1.PartnerInvitation{child(a, mindy, pending, func(i *v1alpha1.PartnerInvitation) { i.OwnerReferences[0].UID = "old-uid" }), child(a, hank, pending)},
			want: want{conflicts: []string{"Mindy@globex.example/" + nameOf(mindy) + "/false"}},
		},
	}
	names := func(invs []*v1alpha1.PartnerInvitation) []string {
		var out []string
		for _, i := range invs {
			out = append(out, i.Name)
		}
		return out
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			taken := map[string]*v1alpha1.PartnerInvitation{}
			for i := range tc.taken {
				taken[tc.taken[i].Name] = &tc.taken[i]
			}
			p := planChildren(a, tc.invs, taken)
			var got want
			got.create = names(p.create)
			for _, u := range p.update {
				got.update = append(got.update, u.current.Name)
			}
			got.remove, got.removing, got.declined, got.waiting, got.observing = names(p.remove), names(p.removing), names(p.declined), p.waiting, names(p.observing)
			for _, c := range p.conflicts {
				nt := "false"
				if c.NameTaken {
					nt = "true"
				}
				got.conflicts = append(got.conflicts, c.Email+"/"+c.Other+"/"+nt)
			}
			for _, f := range []struct {
				what      string
				got, want []string
			}{
				{"create", got.create, tc.want.create}, {"update", got.update, tc.want.update},
				{"remove", got.remove, tc.want.remove}, {"removing", got.removing, tc.want.removing},
				{"waiting", got.waiting, tc.want.waiting}, {"conflicts", got.conflicts, tc.want.conflicts},
				{"declined", got.declined, tc.want.declined}, {"observing", got.observing, tc.want.observing},
			} {
				if strings.Join(f.got, " ") != strings.Join(f.want, " ") {
					t.Errorf("%s: %v, want %v", f.what, f.got, f.want)
				}
			}
			for _, c := range p.create {
				if c.Spec.Account != "globex" || c.Labels[v1alpha1.AccountLabel] != "globex" || !isOwned(c, a) || c.Spec.TTL != "" {
					t.Errorf("the invitation to create is not the account's: %+v", c)
				}
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	unreachable := func(i *v1alpha1.PartnerInvitation) {
		i.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionGrantsSynced, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonBackendUnavailable, Message: "identity backend unavailable: connection refused"}}
	}
	invalidRole := func(i *v1alpha1.PartnerInvitation) {
		i.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonUnknownRole, Message: `role "wizard" is not in the operator's catalogue`}}
	}
	mindy := inv("globex-mindy", "mindy@x.example", v1alpha1.InvitationAccepted, applied, unreachable)
	hank := inv("globex-hank", "hank@x.example", v1alpha1.InvitationAccepted, applied)
	bad := inv("bad", "bad@x.example", v1alpha1.InvitationInvalid, invalidRole)
	decl := inv("globex-zed", "zed@x.example", v1alpha1.InvitationRevoked)
	roleGone := inv("globex-jane", "jane@x.example", v1alpha1.InvitationAccepted, applied, func(i *v1alpha1.PartnerInvitation) {
		i.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionGrantsSynced, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonUnknownRole, Message: `Grants not changed: role "wizard" is not in the operator's catalogue`}}
	})
	old := inv("globex-old", "old@x.example", v1alpha1.InvitationExpired)
	gone := inv("globex-gone", "gone@x.example", v1alpha1.InvitationPendingApproval, refused)
	act := v1alpha1.AccountActionRequired
	cases := map[string]struct {
		in     readyInput
		ok     bool
		reason string
		says   []string
	}{
		"settled":           {readyInput{users: 2}, true, v1alpha1.ReasonReconciled, []string{"Every user in spec.users has an up-to-date invitation"}},
		"settled, no users": {readyInput{}, true, v1alpha1.ReasonReconciled, []string{"spec.users lists nobody, and no invitation of the account is invalid"}},
		"settled, one declined": {readyInput{plan: plan{declined: []*v1alpha1.PartnerInvitation{&decl}}}, true, v1alpha1.ReasonReconciled,
			[]string{"declined or withdrawn", "zed@x.example (PartnerInvitation globex-zed)", "delete that invitation"}},
		"creating": {readyInput{plan: plan{create: []*v1alpha1.PartnerInvitation{&hank, &mindy}}}, false, v1alpha1.ReasonInvitationsPending,
			[]string{"creating 2 invitations"}},
		"creating, refused": {readyInput{plan: plan{create: []*v1alpha1.PartnerInvitation{&hank}},
			refused: []string{`creating PartnerInvitation globex-hank for hank@x.example: partnerinvitations "globex-hank" is forbidden: exceeded quota: partners`}},
			false, v1alpha1.ReasonInvitationsRefused,
			[]string{"creating 1 invitation", "The API server refused 1 write", "a quota or an admission policy needs someone", "exceeded quota: partners"}},
		"updating": {readyInput{plan: plan{update: []update{{current: &hank}}}}, false, v1alpha1.ReasonInvitationsPending,
			[]string{"updating the role or systems of 1 invitation"}},
		"removing": {readyInput{plan: plan{removing: []*v1alpha1.PartnerInvitation{&hank}}}, false, v1alpha1.ReasonInvitationsPending,
			[]string{"removing 1 user (hank@x.example), whose grants are revoked first"}},
		"waiting": {readyInput{plan: plan{waiting: []string{"mindy@x.example"}}}, false, v1alpha1.ReasonInvitationsPending,
			[]string{"previous invitation of mindy@x.example"}},
		"invalid": {readyInput{invalid: []*v1alpha1.PartnerInvitation{&bad}, plan: plan{create: []*v1alpha1.PartnerInvitation{&hank}}}, false, v1alpha1.ReasonInvalidInvitations,
			[]string{`1 invitation cannot be sent: PartnerInvitation bad for bad@x.example (UnknownRole: role "wizard" is not in the operator's catalogue)`}},
		"ActionRequired, only invalid": {readyInput{state: v1alpha1.AccountActionRequired, invalid: []*v1alpha1.PartnerInvitation{&bad}, failed: []*v1alpha1.PartnerInvitation{&bad}}, false, v1alpha1.ReasonInvitationsFailed,
			[]string{"No user is active and no invitation is waiting", "bad@x.example (PartnerInvitation bad, Invalid, UnknownRole"}},
		"duplicate": {readyInput{invalid: []*v1alpha1.PartnerInvitation{&bad}, plan: plan{conflicts: []conflict{{Email: "mindy@x.example", Other: "by-hand"}}}}, false, v1alpha1.ReasonDuplicateUser,
			[]string{"mindy@x.example is already invited by PartnerInvitation by-hand", "Remove the entry from spec.users, or delete the other invitation"}},
		"name taken": {readyInput{plan: plan{conflicts: []conflict{{Email: "mindy@x.example", Other: "globex-mindy-1", NameTaken: true}}}}, false, v1alpha1.ReasonDuplicateUser,
			[]string{"the name PartnerInvitation globex-mindy-1 that this account would use is taken"}},
		"deleting, revoking, backend down": {readyInput{deleting: true, policy: v1alpha1.DeletionPolicyRevoke, holders: []*v1alpha1.PartnerInvitation{&hank, &mindy},
			plan: plan{conflicts: []conflict{{Email: "x"}}}}, false, v1alpha1.ReasonDeleting,
			[]string{"revoking the identity backend grants of 2 users (hank@x.example, mindy@x.example)",
				"The identity backend is unreachable (PartnerInvitation globex-mindy: identity backend unavailable: connection refused)"}},
		"action required, expired": {readyInput{state: act, expired: []*v1alpha1.PartnerInvitation{&old}}, false, v1alpha1.ReasonInvitationsExpired,
			[]string{"No user is active and no invitation is waiting", "1 invitation expired unaccepted: old@x.example", "Raise the entry's resend in spec.users (spec.resend for a standalone invitation)"}},
		"action required, refused and expired": {readyInput{state: act, expired: []*v1alpha1.PartnerInvitation{&old}, failed: []*v1alpha1.PartnerInvitation{&gone}}, false, v1alpha1.ReasonInvitationsFailed,
			[]string{"1 invitation failed: gone@x.example (PartnerInvitation globex-gone, refused by the mail server: 550 5.1.1 no such user)",
				"Fix the address in spec.users", "old@x.example"}},
		"action required, but a user is being invited": {readyInput{state: act, expired: []*v1alpha1.PartnerInvitation{&old}, plan: plan{create: []*v1alpha1.PartnerInvitation{&hank}}}, false, v1alpha1.ReasonInvitationsPending, nil},
		"active with an expired invitation":            {readyInput{users: 1, state: v1alpha1.AccountActive, expired: []*v1alpha1.PartnerInvitation{&old}}, true, v1alpha1.ReasonReconciled, nil},
		"a member's grants refused": {readyInput{users: 2, unsynced: []*v1alpha1.PartnerInvitation{&mindy, &roleGone}}, false, v1alpha1.ReasonGrantsNotSynced,
			[]string{"The identity backend does not hold what 2 invitations ask", "mindy@x.example (PartnerInvitation globex-mindy, BackendUnavailable: identity backend unavailable",
				"jane@x.example (PartnerInvitation globex-jane, UnknownRole: Grants not changed: role \"wizard\""}},
		"a member's grants waiting for the backend": {readyInput{users: 2, unsynced: []*v1alpha1.PartnerInvitation{&mindy},
			plan: plan{removing: []*v1alpha1.PartnerInvitation{&mindy}}}, false, v1alpha1.ReasonGrantsPending,
			[]string{"The identity backend does not hold what 1 invitation asks", "BackendUnavailable: identity backend unavailable: connection refused"}},
		"deleting, retaining": {readyInput{deleting: true, policy: v1alpha1.DeletionPolicyRetain, holders: []*v1alpha1.PartnerInvitation{&hank}}, false, v1alpha1.ReasonDeleting,
			[]string{"deletionPolicy is Retain", "grants of 1 user (hank@x.example) are kept"}},
	}
	// What kstatus's Reconciling and Stalled say of each Ready reason: the
	// controller working, someone must act, or neither (Ready=True,
	// including an account waiting for its partners).
	kstatus := map[string]string{
		v1alpha1.ReasonReconciled: "", v1alpha1.ReasonInvitationsPending: "Reconciling", v1alpha1.ReasonDeleting: "Reconciling",
		v1alpha1.ReasonInvitationsRefused: "Stalled",
		v1alpha1.ReasonInvalidInvitations: "Stalled", v1alpha1.ReasonDuplicateUser: "Stalled",
		v1alpha1.ReasonGrantsNotSynced: "Stalled", v1alpha1.ReasonGrantsPending: "Reconciling",
		v1alpha1.ReasonInvitationsExpired: "Stalled", v1alpha1.ReasonInvitationsFailed: "Stalled",
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ok, reason, msg := readiness(tc.in)
			if ok != tc.ok || reason != tc.reason {
				t.Errorf("readiness = %v %s (%q), want %v %s", ok, reason, msg, tc.ok, tc.reason)
			}
			want, known := kstatus[reason]
			reconciling, stalled := progress(ok, reason)
			got := map[[2]bool]string{{false, false}: "", {true, false}: "Reconciling", {false, true}: "Stalled"}[[2]bool{reconciling, stalled}]
			if !known || got != want || (reconciling && stalled) {
				t.Errorf("Reconciling %v, Stalled %v for Ready %v/%s; want %q", reconciling, stalled, ok, reason, want)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
			if name == "deleting, retaining" && strings.Contains(msg, "unreachable") {
				t.Errorf("message %q speaks of an unreachable backend nobody reported", msg)
			}
		})
	}
}

func TestAttention(t *testing.T) {
	var many []*v1alpha1.PartnerInvitation
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		i := inv("globex-"+n, n+"@x.example", v1alpha1.InvitationExpired)
		many = append(many, &i)
	}
	bad := inv("bad", "bad@x.example", v1alpha1.InvitationInvalid, func(i *v1alpha1.PartnerInvitation) {
		i.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonUnknownRole, Message: "role wizard"}}
	})
	cases := map[string]struct {
		expired, failed []*v1alpha1.PartnerInvitation
		needed          bool
		reason          string
		says            []string
	}{
		"none":    {nil, nil, false, v1alpha1.ReasonNoneNeedAttention, []string{"No invitation of the account is expired"}},
		"expired": {many, nil, true, v1alpha1.ReasonInvitationsExpired, []string{"7 invitations expired unaccepted: a@x.example, b@x.example, c@x.example, d@x.example, e@x.example and 2 more", "resend"}},
		"invalid": {many[:1], []*v1alpha1.PartnerInvitation{&bad}, true, v1alpha1.ReasonInvitationsFailed,
			[]string{"1 invitation failed: bad@x.example (PartnerInvitation bad, Invalid, UnknownRole: role wizard)", "1 invitation expired unaccepted: a@x.example"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			needed, reason, msg := attention(tc.expired, tc.failed)
			if needed != tc.needed || reason != tc.reason {
				t.Errorf("attention = %v %s (%q), want %v %s", needed, reason, msg, tc.needed, tc.reason)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
		})
	}
	invs := []v1alpha1.PartnerInvitation{
		inv("a", "a@x.example", v1alpha1.InvitationExpired), inv("b", "b@x.example", v1alpha1.InvitationInvalid),
		inv("c", "c@x.example", v1alpha1.InvitationPendingApproval, refused), inv("d", "d@x.example", v1alpha1.InvitationPendingApproval, sentUntil(now)),
		inv("e", "e@x.example", v1alpha1.InvitationPendingApproval, sentUntil(now.Add(time.Hour))), inv("f", "f@x.example", v1alpha1.InvitationExpired, resend),
		inv("g", "g@x.example", v1alpha1.InvitationAccepted), inv("h", "h@x.example", v1alpha1.InvitationRevoked),
	}
	exp, fail := needAttention(invs, now)
	names := func(is []*v1alpha1.PartnerInvitation) (out []string) {
		for _, i := range is {
			out = append(out, i.Name)
		}
		return out
	}
	if got := strings.Join(names(exp), " "); got != "a d" {
		t.Errorf("expired %s, want a d", got)
	}
	if got := strings.Join(names(fail), " "); got != "b c" {
		t.Errorf("failed %s, want b c", got)
	}
}

func TestListIsBounded(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e", "f", "g"}
	if got := list(items); got != "a, b, c, d, e and 2 more" {
		t.Errorf("list = %q", got)
	}
}

// TestOwnedInvitationNamesWhoAsked: an owned invitation is created with the
// account's partnerops.dev/requested-by (none when the account has none),
// and an invitation created before the account's value changed is up to
// date all the same: the annotation is set once, never updated (the API
// server refuses changes to it).
func TestOwnedInvitationNamesWhoAsked(t *testing.T) {
	mindy := entry("mindy@globex.example", "editor", "editor")
	a := acct(mindy)
	if got := desiredInvitation(a, mindy).Annotations; got != nil {
		t.Errorf("the invitation of an account without %s has annotations %v, want none", v1alpha1.RequestedByAnnotation, got)
	}
	bob := acct(mindy)
	bob.Annotations = map[string]string{v1alpha1.RequestedByAnnotation: "bob", "other": "not copied"}
	if got := desiredInvitation(bob, mindy).Annotations; len(got) != 1 || got[v1alpha1.RequestedByAnnotation] != "bob" {
		t.Errorf("the invitation of an account requested by bob has annotations %v, want only %s: bob", got, v1alpha1.RequestedByAnnotation)
	}
	carol := bob.DeepCopy()
	carol.Annotations[v1alpha1.RequestedByAnnotation] = "carol"
	if p := planChildren(carol, []v1alpha1.PartnerInvitation{child(bob, mindy, v1alpha1.InvitationPendingApproval)}, nil); p.pending() {
		t.Errorf("an invitation requested by bob, its account now requested by carol: plan %+v, want nothing to do", p)
	}
}
