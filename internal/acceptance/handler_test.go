package acceptance

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/token"
)

// outcome is what one request should get.
type outcome struct {
	status int
	page   string // data-page of the body; "" for a redirect
	writes int32
}

// hubFor is where accepting jane's invitation lands.
const hubForJane = "https://hub.example.com/start?account=globex&from=email&namespace=acme"

func TestEveryStateForEveryAction(t *testing.T) {
	var (
		redirect = outcome{http.StatusSeeOther, "", 0}
		dead     = outcome{http.StatusNotFound, "invalid", 0}
		gone     = outcome{http.StatusGone, "expired", 0}
	)
	tests := []struct {
		name string
		// objs are the cluster's objects; jane is the invitation the link names.
		objs []client.Object
		// link is the link's token; nil means the link the controller sent jane.
		link func(e *env) string
		// at is the time of the requests; zero means t0.
		at                   time.Time
		get, accept, decline outcome
	}{{
		name:    "pending",
		objs:    objects(invitation("jane")),
		get:     outcome{http.StatusOK, "invitation", 0},
		accept:  outcome{http.StatusSeeOther, "", 1},
		decline: outcome{http.StatusOK, "declined", 1},
	}, {
		name:    "accepted",
		objs:    objects(invitation("jane", acceptedAt(t0.Add(-time.Hour)))),
		get:     outcome{http.StatusOK, "accepted", 0},
		accept:  redirect,
		decline: outcome{http.StatusConflict, "accepted", 0},
	}, {
		name:    "accepted, link since expired",
		objs:    objects(invitation("jane", shortLink, acceptedAt(t0))),
		at:      t0.Add(2 * time.Hour),
		get:     outcome{http.StatusOK, "accepted", 0},
		accept:  redirect,
		decline: outcome{http.StatusConflict, "accepted", 0},
	}, {
		name: "expired by state",
		objs: objects(invitation("jane", expiredState)),
		get:  gone, accept: gone, decline: gone,
	}, {
		name: "expired by the clock only (controller late)",
		objs: objects(invitation("jane", shortLink)),
		at:   t0.Add(time.Hour),
		get:  gone, accept: gone, decline: gone,
	}, {
		name: "expired by the status only (an older send's longer link)",
		objs: objects(invitation("jane", shortLink)),
		link: func(e *env) string {
			c := claimsOf(invitation("jane"))
			return e.sign(c)
		},
		at:  t0.Add(2 * time.Hour),
		get: gone, accept: gone, decline: gone,
	}, {
		name: "withdrawn",
		objs: objects(invitation("jane", withdrawn)),
		get:  dead, accept: dead, decline: dead,
	}, {
		name: "withdrawn, controller late",
		objs: objects(invitation("jane", withdrawnSpecOnly)),
		get:  dead, accept: dead, decline: dead,
	}, {
		name: "withdrawn after acceptance",
		objs: objects(invitation("jane", acceptedAt(t0), withdrawnSpecOnly)),
		get:  dead, accept: dead, decline: dead,
	}, {
		name:    "declined",
		objs:    objects(invitation("jane", declinedState)),
		get:     outcome{http.StatusGone, "declined", 0},
		accept:  outcome{http.StatusGone, "declined", 0},
		decline: outcome{http.StatusOK, "declined", 0},
	}, {
		name: "invalid",
		objs: objects(invitation("jane", invalidState)),
		get:  dead, accept: dead, decline: dead,
	}, {
		name: "resend raised after the link was sent",
		objs: objects(invitation("jane", resend(1, 0))),
		get:  dead, accept: dead, decline: dead,
	}, {
		name: "link of the previous resend generation",
		objs: objects(invitation("jane", resend(2, 2))),
		link: func(e *env) string {
			c := claimsOf(invitation("jane", resend(2, 2)))
			c.Resend = 1
			return e.sign(c)
		},
		get: dead, accept: dead, decline: dead,
	}, {
		name: "wrong UID: deleted and created again with the same name",
		objs: objects(invitation("jane", withUID("uid-jane-2"))),
		link: func(e *env) string { return e.tokenFor(invitation("jane")) },
		get:  dead, accept: dead, decline: dead,
	}, {
		name: "another invitation's token",
		objs: objects(invitation("jane"), invitation("john")),
		link: func(e *env) string {
			c := claimsOf(invitation("jane"))
			c.UID = string(invitation("john").UID)
			return e.sign(c)
		},
		get: dead, accept: dead, decline: dead,
	}, {
		name: "invitation deleted",
		objs: objects(),
		link: func(e *env) string { return e.tokenFor(invitation("jane")) },
		get:  dead, accept: dead, decline: dead,
	}, {
		name: "address outside the account's allowedDomains now, controller late",
		objs: []client.Object{namespace(testCustomer), accountAllowing("initech.example"), invitation("jane")},
		get:  dead, accept: dead, decline: dead,
	}, {
		name: "accepted, then its domain removed from the account",
		objs: []client.Object{namespace(testCustomer), accountAllowing("initech.example"), invitation("jane", acceptedAt(t0.Add(-time.Hour)))},
		get:  dead, accept: dead, decline: dead,
	}, {
		name:    "address inside the account's allowedDomains",
		objs:    []client.Object{namespace(testCustomer), accountAllowing("initech.example", "globex.example"), invitation("jane")},
		get:     outcome{http.StatusOK, "invitation", 0},
		accept:  outcome{http.StatusSeeOther, "", 1},
		decline: outcome{http.StatusOK, "declined", 1},
	}, {
		name: "partner account deleted, controller late",
		objs: []client.Object{namespace(testCustomer), invitation("jane")},
		get:  dead, accept: dead, decline: dead,
	}}
	for _, tc := range tests {
		for _, action := range []struct {
			name string
			want outcome
			do   func(e *env, tok string) *http.Response
		}{
			{"GET", tc.get, func(e *env, tok string) *http.Response { return e.get(tok) }},
			{"POST accept", tc.accept, func(e *env, tok string) *http.Response { return e.post(pathAccept, tok) }},
			{"POST decline", tc.decline, func(e *env, tok string) *http.Response { return e.post(pathDecline, tok) }},
		} {
			t.Run(tc.name+"/"+action.name, func(t *testing.T) {
				e := newEnv(t, tc.objs)
				tok := ""
				if tc.link != nil {
					tok = tc.link(e)
				} else {
					tok = e.tokenFor(invitation("jane"))
					for _, o := range tc.objs {
						if inv, ok := o.(*v1alpha1.PartnerInvitation); ok && inv.Name == "jane" {
							tok = e.tokenFor(inv)
						}
					}
				}
				if !tc.at.IsZero() {
					e.clock.SetTime(tc.at)
				}
				resp := action.do(e, tok)
				b := body(t, resp)
				if resp.StatusCode != action.want.status {
					t.Errorf("status %d, want %d", resp.StatusCode, action.want.status)
				}
				if got := pageOf(b); got != action.want.page {
					t.Errorf("page %q, want %q", got, action.want.page)
				}
				if got := e.writes.Load(); got != action.want.writes {
					t.Errorf("%d status writes, want %d", got, action.want.writes)
				}
				if resp.StatusCode == http.StatusSeeOther {
					if loc := resp.Header.Get("Location"); loc != hubForJane {
						t.Errorf("Location %q, want %q", loc, hubForJane)
					}
				}
			})
		}
	}
}

func TestAcceptRecordsOnceAndLandsOnTheHub(t *testing.T) {
	e := newEnv(t, objects(invitation("jane")))
	tok := e.tokenFor(invitation("jane"))
	e.clock.SetTime(t0.Add(90 * time.Minute))

	resp := e.post(pathAccept, tok)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != hubForJane {
		t.Fatalf("first accept: %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), hubForJane)
	}
	inv := e.invitationNow("jane")
	st := inv.Status
	if st.State != v1alpha1.InvitationAccepted {
		t.Errorf("state %q, want Accepted", st.State)
	}
	if st.AcceptedAt == nil || !st.AcceptedAt.Time.Equal(t0.Add(90*time.Minute)) {
		t.Errorf("acceptedAt %v, want %v", st.AcceptedAt, t0.Add(90*time.Minute))
	}
	for _, want := range []metav1.Condition{
		{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAccepted},
		{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAccepted},
	} {
		c := meta.FindStatusCondition(st.Conditions, want.Type)
		if c == nil || c.Status != want.Status || c.Reason != want.Reason || c.ObservedGeneration != inv.Generation {
			t.Errorf("condition %s = %+v, want %s/%s at generation %d", want.Type, c, want.Status, want.Reason, inv.Generation)
		}
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil && !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Ready stayed True, yet its lastTransitionTime moved to %v", c.LastTransitionTime)
	}
	if got := e.recordedEvents(); len(got) != 1 || !strings.HasPrefix(got[0], "Normal Accepted ") {
		t.Errorf("events %q, want one Normal Accepted", got)
	}

	// Again: the Hub again, nothing written, the first acceptedAt kept.
	e.clock.Step(time.Hour)
	resp = e.post(pathAccept, tok)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != hubForJane {
		t.Errorf("second accept: %d to %q, want 303 to the Hub", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := e.writes.Load(); n != 1 {
		t.Errorf("%d status writes after two accepts, want 1", n)
	}
	if at := e.invitationNow("jane").Status.AcceptedAt; !at.Time.Equal(t0.Add(90 * time.Minute)) {
		t.Errorf("acceptedAt moved to %v", at)
	}
	if got := e.recordedEvents(); len(got) != 0 {
		t.Errorf("the second accept recorded %q", got)
	}
	// And the link now shows that it is accepted.
	if b := body(t, e.get(tok)); pageOf(b) != "accepted" || !strings.Contains(b, `href="`+strings.ReplaceAll(hubForJane, "&", "&amp;")+`"`) {
		t.Errorf("GET after accepting: page %q without the Hub link", pageOf(b))
	}
}

// TestAcceptWritesItsProof: the acceptance carries, in its one status
// write, a proof that verifies for exactly that invitation, generation,
// address and acceptedAt, and for nothing else.
func TestAcceptWritesItsProof(t *testing.T) {
	jane := invitation("jane", resend(2, 2))
	e := newEnv(t, objects(jane))
	tok := e.tokenFor(jane)
	e.clock.SetTime(t0.Add(90*time.Minute + 700*time.Millisecond))

	if resp := e.post(pathAccept, tok); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept: %d, want 303", resp.StatusCode)
	}
	if w, p := e.writes.Load(), e.patches.Load(); w != 1 || p != 1 {
		t.Errorf("%d writes in %d attempts, want the proof in the acceptance's one write", w, p)
	}
	st := e.invitationNow("jane").Status
	if st.AcceptanceProof == nil || st.AcceptedAt == nil {
		t.Fatalf("acceptedAt %v, acceptanceProof %v: want both", st.AcceptedAt, st.AcceptanceProof)
	}
	proof := token.Proof{KeyID: st.AcceptanceProof.KeyID, MAC: st.AcceptanceProof.MAC}
	if proof.KeyID != "k1" {
		t.Errorf("proof by key %q, want the current key k1", proof.KeyID)
	}
	accepted := token.Acceptance{UID: "uid-jane", Resend: 2, Email: "jane@globex.example", AcceptedAt: st.AcceptedAt.Time}
	if !accepted.AcceptedAt.Equal(t0.Add(90 * time.Minute)) {
		t.Errorf("acceptedAt %v, want %v (whole seconds)", accepted.AcceptedAt, t0.Add(90*time.Minute))
	}
	if err := e.signer.VerifyAcceptance(t.Context(), accepted, proof); err != nil {
		t.Errorf("the written proof does not verify for the acceptance written: %v", err)
	}
	for name, other := range map[string]func(a *token.Acceptance){
		"another invitation":        func(a *token.Acceptance) { a.UID = "uid-john" },
		"another resend generation": func(a *token.Acceptance) { a.Resend = 1 },
		"another address":           func(a *token.Acceptance) { a.Email = "mallory@globex.example" },
		"another moment":            func(a *token.Acceptance) { a.AcceptedAt = a.AcceptedAt.Add(time.Second) },
	} {
		a := accepted
		other(&a)
		if err := e.signer.VerifyAcceptance(t.Context(), a, proof); !errors.Is(err, token.ErrProofInvalid) {
			t.Errorf("the proof verifies for %s: %v", name, err)
		}
	}
}

// failingProver cannot load its keys.
type failingProver struct{}

func (failingProver) ProveAcceptance(context.Context, token.Acceptance) (token.Proof, error) {
	return token.Proof{}, errors.New("proving an acceptance: loading keys: secret partnerops-token-keys not found")
}

// TestAcceptWithoutKeysWritesNothing: an acceptance the page cannot prove
// is not recorded at all (503, try again); showing the invitation and
// declining need no proof.
func TestAcceptWithoutKeysWritesNothing(t *testing.T) {
	e := newEnv(t, objects(invitation("jane")), withProver(failingProver{}))
	tok := e.tokenFor(invitation("jane"))
	before := e.invitationNow("jane")

	resp := e.post(pathAccept, tok)
	if b := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || pageOf(b) != "error" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("accept without keys: %d %q (Retry-After %q), want 503, the error page and Retry-After", resp.StatusCode, pageOf(b), resp.Header.Get("Retry-After"))
	}
	if n := e.patches.Load(); n != 0 {
		t.Errorf("%d status writes without a proof, want none", n)
	}
	if after := e.invitationNow("jane"); after.ResourceVersion != before.ResourceVersion || after.Status.State != v1alpha1.InvitationPendingApproval {
		t.Errorf("the invitation changed: state %q, resourceVersion %s → %s", after.Status.State, before.ResourceVersion, after.ResourceVersion)
	}
	if got := e.recordedEvents(); len(got) != 0 {
		t.Errorf("events %q, want none", got)
	}
	if !strings.Contains(e.logs.String(), "cannot prove the acceptance of invitation acme/jane") {
		t.Errorf("the log does not say why:\n%s", e.logs.String())
	}

	if resp := e.get(tok); resp.StatusCode != http.StatusOK {
		t.Errorf("GET without keys to prove: %d, want 200", resp.StatusCode)
	}
	if resp := e.post(pathDecline, tok); resp.StatusCode != http.StatusOK {
		t.Errorf("decline without keys to prove: %d, want 200", resp.StatusCode)
	}
	if st := e.invitationNow("jane").Status; st.State != v1alpha1.InvitationRevoked || st.AcceptanceProof != nil {
		t.Errorf("after declining: state %q, proof %v; want Revoked and no proof", st.State, st.AcceptanceProof)
	}
}

func TestDeclineRecordsOnce(t *testing.T) {
	e := newEnv(t, objects(invitation("jane")))
	tok := e.tokenFor(invitation("jane"))

	resp := e.post(pathDecline, tok)
	if b := body(t, resp); resp.StatusCode != http.StatusOK || pageOf(b) != "declined" || !strings.Contains(b, testCustomer) {
		t.Fatalf("decline: %d %q, want 200 with the declined page naming %s", resp.StatusCode, pageOf(b), testCustomer)
	}
	st := e.invitationNow("jane").Status
	if st.State != v1alpha1.InvitationRevoked || st.AcceptedAt != nil || st.AcceptanceProof != nil {
		t.Errorf("state %q acceptedAt %v proof %v, want Revoked, no acceptedAt and no proof", st.State, st.AcceptedAt, st.AcceptanceProof)
	}
	for _, want := range []struct {
		typ    string
		status metav1.ConditionStatus
	}{{v1alpha1.ConditionReady, metav1.ConditionTrue}, {v1alpha1.ConditionAccepted, metav1.ConditionFalse}} {
		if c := meta.FindStatusCondition(st.Conditions, want.typ); c == nil || c.Status != want.status || c.Reason != v1alpha1.ReasonDeclined {
			t.Errorf("condition %s = %+v, want %s/Declined", want.typ, c, want.status)
		}
	}
	if got := e.recordedEvents(); len(got) != 1 || !strings.HasPrefix(got[0], "Normal Declined ") {
		t.Errorf("events %q, want one Normal Declined", got)
	}

	// Declining again says so again; accepting now is too late.
	if resp := e.post(pathDecline, tok); resp.StatusCode != http.StatusOK {
		t.Errorf("second decline: %d, want 200", resp.StatusCode)
	}
	if resp := e.post(pathAccept, tok); resp.StatusCode != http.StatusGone {
		t.Errorf("accept after decline: %d, want 410", resp.StatusCode)
	}
	if n := e.writes.Load(); n != 1 {
		t.Errorf("%d status writes, want 1", n)
	}
}

func TestGetNeverWrites(t *testing.T) {
	e := newEnv(t, objects(invitation("jane")))
	tok := e.tokenFor(invitation("jane"))
	for range 5 {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(m, pathAccept+"?token="+url.QueryEscape(tok), nil)
			if resp := e.request(req); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", m, resp.StatusCode)
			}
		}
	}
	if n := e.patches.Load(); n != 0 {
		t.Errorf("GET and HEAD made %d status writes", n)
	}
	if got := e.recordedEvents(); len(got) != 0 {
		t.Errorf("GET recorded events %q", got)
	}
}

// TestLinkQuickerThanItsStatus: a partner opens a resent link before the
// status recording its send reached the page. The page waits for it and
// then shows the invitation; if it does not come, it asks the partner to
// try again in a moment (503, Retry-After) rather than calling a good
// link dead; it never writes.
func TestLinkQuickerThanItsStatus(t *testing.T) {
	sent := invitation("jane", resend(1, 1))
	for _, tc := range []struct {
		name     string
		recorded bool
		want     int
	}{{"recorded while the page waits", true, http.StatusOK}, {"never recorded", false, http.StatusServiceUnavailable}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, objects(invitation("jane", resend(1, 0))))
			e.h.sendingWait, e.h.sendingPoll = 2*time.Second, 20*time.Millisecond
			if tc.recorded {
				go func() {
					time.Sleep(100 * time.Millisecond)
					inv := &v1alpha1.PartnerInvitation{}
					if err := e.client.Get(context.Background(), types.NamespacedName{Namespace: testNamespace, Name: "jane"}, inv); err != nil {
						t.Error(err)
						return
					}
					inv.Status.ObservedResend = 1
					if err := e.client.Status().Update(context.Background(), inv); err != nil {
						t.Error(err)
					}
				}()
			}
			resp := e.get(e.tokenFor(sent))
			b := body(t, resp)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if tc.recorded && !strings.Contains(b, "Accept and continue") {
				t.Errorf("not the invitation page: %s", b)
			}
			if !tc.recorded && resp.Header.Get("Retry-After") != "5" {
				t.Errorf("Retry-After %q, want 5", resp.Header.Get("Retry-After"))
			}
			if n := e.patches.Load(); n != 0 {
				t.Errorf("%d status writes", n)
			}
		})
	}
}

// TestConcurrentWrites: the page's write is optimistic; whatever another
// writer did in between decides the answer.
func TestConcurrentWrites(t *testing.T) {
	tests := []struct {
		name string
		// meanwhile changes the invitation just before the first write.
		meanwhile   func(inv *v1alpha1.PartnerInvitation) (status bool)
		wantStatus  int
		wantPage    string
		wantWrites  int32
		wantPatches int32
		wantState   v1alpha1.InvitationState
	}{{
		name:        "an unrelated edit: retried, accepted",
		meanwhile:   func(inv *v1alpha1.PartnerInvitation) bool { inv.Labels = map[string]string{"team": "a"}; return false },
		wantStatus:  http.StatusSeeOther,
		wantWrites:  1,
		wantPatches: 2,
		wantState:   v1alpha1.InvitationAccepted,
	}, {
		name: "the controller expired it",
		meanwhile: func(inv *v1alpha1.PartnerInvitation) bool {
			inv.Status.State = v1alpha1.InvitationExpired
			return true
		},
		wantStatus:  http.StatusGone,
		wantPage:    "expired",
		wantPatches: 1,
		wantState:   v1alpha1.InvitationExpired,
	}, {
		name:        "the admin withdrew it",
		meanwhile:   func(inv *v1alpha1.PartnerInvitation) bool { inv.Spec.Revoked = true; return false },
		wantStatus:  http.StatusNotFound,
		wantPage:    "invalid",
		wantPatches: 1,
		wantState:   v1alpha1.InvitationPendingApproval,
	}, {
		name: "another click accepted it",
		meanwhile: func(inv *v1alpha1.PartnerInvitation) bool {
			markAccepted(inv, t0.Add(-time.Minute), proofOf(inv, t0.Add(-time.Minute)), nil)
			return true
		},
		wantStatus:  http.StatusSeeOther,
		wantPatches: 1,
		wantState:   v1alpha1.InvitationAccepted,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, objects(invitation("jane")))
			e.beforePatch = func(attempt int, c client.WithWatch) {
				if attempt != 1 {
					return
				}
				inv := e.invitationNow("jane")
				var err error
				if tc.meanwhile(inv) {
					err = c.Status().Update(t.Context(), inv)
				} else {
					err = c.Update(t.Context(), inv)
				}
				if err != nil {
					t.Errorf("changing the invitation meanwhile: %v", err)
				}
			}
			resp := e.post(pathAccept, e.tokenFor(invitation("jane")))
			if b := body(t, resp); resp.StatusCode != tc.wantStatus || pageOf(b) != tc.wantPage {
				t.Errorf("answer %d %q, want %d %q", resp.StatusCode, pageOf(b), tc.wantStatus, tc.wantPage)
			}
			if w, p := e.writes.Load(), e.patches.Load(); w != tc.wantWrites || p != tc.wantPatches {
				t.Errorf("%d writes in %d attempts, want %d in %d", w, p, tc.wantWrites, tc.wantPatches)
			}
			if st := e.invitationNow("jane").Status.State; st != tc.wantState {
				t.Errorf("state %q, want %q", st, tc.wantState)
			}
		})
	}

	t.Run("conflicts every time: 503 after the retries", func(t *testing.T) {
		e := newEnv(t, objects(invitation("jane")))
		e.beforePatch = func(_ int, c client.WithWatch) {
			inv := e.invitationNow("jane")
			inv.Labels = map[string]string{"bump": time.Now().String()}
			if err := c.Update(t.Context(), inv); err != nil {
				t.Errorf("bumping: %v", err)
			}
		}
		resp := e.post(pathAccept, e.tokenFor(invitation("jane")))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("answer %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if w, p := e.writes.Load(), e.patches.Load(); w != 0 || p != int32(1+len(e.h.retryDelays)) {
			t.Errorf("%d writes in %d attempts, want 0 in %d", w, p, 1+len(e.h.retryDelays))
		}
	})
}

// badLinks are the links that must all get the generic page.
func badLinks(e *env) map[string]string {
	jane := invitation("jane")
	good := e.tokenFor(jane)
	parts := strings.Split(good, ".")
	other := func(c token.Claims) string { return e.sign(c) }
	wrongKey, err := token.ParseKeys(map[string][]byte{"k1": []byte(strings.Repeat("x", 32))})
	if err != nil {
		e.t.Fatal(err)
	}
	c := claimsOf(jane)
	return map[string]string{
		"empty":                 "",
		"truncated":             good[:len(good)-12],
		"signature cut off":     parts[0] + "." + parts[1] + ".",
		"tampered payload":      parts[0] + "." + tamper(e.t, parts[1]) + "." + parts[2],
		"wrong key":             signWith(e.t, wrongKey, c),
		"wrong audience":        mint(e.t, "HS256", testKeyBytes, audienceClaims(c, "someone-else")),
		"alg none":              mint(e.t, "none", nil, audienceClaims(c, token.Audience)),
		"old resend generation": other(token.Claims{Namespace: testNamespace, Name: "resent", UID: "uid-resent", Resend: 1, ExpiresAt: c.ExpiresAt}),
		"other invitation's UID": other(token.Claims{
			Namespace: testNamespace, Name: "jane", UID: "uid-john", ExpiresAt: c.ExpiresAt,
		}),
		"unknown invitation": other(token.Claims{Namespace: testNamespace, Name: "nobody", UID: "uid-nobody", ExpiresAt: c.ExpiresAt}),
		"unknown namespace":  other(token.Claims{Namespace: "elsewhere", Name: "jane", UID: "uid-jane", ExpiresAt: c.ExpiresAt}),
		"withdrawn":          other(claimsOf(invitation("withdrawn"))),
		"invalid state":      other(claimsOf(invitation("invalid"))),
		"not base64":         "not a token at all!",
		"huge":               strings.Repeat("a", token.MaxTokenLength+1000),
		"three dots":         "...",
	}
}

func TestBadLinksGetOneGenericPage(t *testing.T) {
	objs := objects(invitation("jane"), invitation("john"), invitation("resent", resend(2, 2)),
		invitation("withdrawn", withdrawn), invitation("invalid", invalidState))
	for _, lang := range []string{"", "fr-FR,fr;q=0.9,en;q=0.5", "es"} {
		t.Run("Accept-Language "+lang, func(t *testing.T) {
			e := newEnv(t, objs)
			var refBody string
			var refHeader http.Header
			for name, tok := range badLinks(e) {
				for _, action := range []struct {
					name string
					do   func() *http.Response
				}{
					{"GET", func() *http.Response { return e.get(tok, "Accept-Language", lang) }},
					{"POST accept", func() *http.Response { return e.post(pathAccept, tok, "Accept-Language", lang) }},
					{"POST decline", func() *http.Response { return e.post(pathDecline, tok, "Accept-Language", lang) }},
				} {
					resp := action.do()
					b := body(t, resp)
					if resp.StatusCode != http.StatusNotFound || pageOf(b) != "invalid" {
						t.Errorf("%s, %s: %d %q, want 404 and the generic page", name, action.name, resp.StatusCode, pageOf(b))
						continue
					}
					if refHeader == nil {
						refBody, refHeader = b, resp.Header
						continue
					}
					if b != refBody {
						t.Errorf("%s, %s: body %x differs from the others' %x", name, action.name, hash(b), hash(refBody))
					}
					if !equalHeaders(resp.Header, refHeader) {
						t.Errorf("%s, %s: headers %v differ from %v", name, action.name, resp.Header, refHeader)
					}
					if tok != "" && strings.Contains(b, tok) {
						t.Errorf("%s, %s: the page shows the token", name, action.name)
					}
				}
			}
			want := map[string]string{"": "en", "es": "es"}[lang]
			if want == "" {
				want = "fr"
			}
			if !strings.Contains(refBody, `<html lang="`+want+`"`) {
				t.Errorf("generic page not in %s", want)
			}
			if n := e.patches.Load(); n != 0 {
				t.Errorf("bad links made %d status writes", n)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\n") != strings.Join(b[k], "\n") {
			return false
		}
	}
	return true
}
