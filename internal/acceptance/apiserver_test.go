package acceptance

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv"
	"github.com/partnerops/partnerops/internal/token"
)

// The tests of this file run the page against a real kube-apiserver (with
// the project's CRDs, so the status the page writes is validated as in a
// cluster), started by the first of them and shared: the other tests of
// the package need no control plane.

var (
	controlPlaneOnce sync.Once
	controlPlane     *testenv.Env
	controlPlaneErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if controlPlane != nil {
		if err := controlPlane.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test control plane:", err)
		}
	}
	os.Exit(code)
}

// apiServer is the shared control plane, started on first use.
func apiServer(t *testing.T) *testenv.Env {
	t.Helper()
	controlPlaneOnce.Do(func() { controlPlane, controlPlaneErr = testenv.Start() })
	if controlPlaneErr != nil {
		t.Fatalf("this test needs the control plane: %v", controlPlaneErr)
	}
	return controlPlane
}

// apiPage is the page over the real API server, in its own namespace,
// with a fake clock at t0 and the test keys.
type apiPage struct {
	t       *testing.T
	api     *testenv.Env
	ns      string
	signer  *token.Signer
	events  *events.FakeRecorder
	logs    *syncBuffer
	handler http.Handler
}

func newAPIPage(t *testing.T) *apiPage {
	t.Helper()
	api := apiServer(t)
	clk := clocktesting.NewFakeClock(t0)
	p := &apiPage{t: t, api: api, ns: api.Namespace(t), events: events.NewFakeRecorder(100), logs: &syncBuffer{}}
	p.signer = token.NewSigner(token.StaticKeys{K: testKeys(t)}, clk)
	h, err := newHandler(Options{
		Config: testConfig(), Client: api.Client, Verifier: p.signer, Prover: p.signer, Clock: clk,
		Recorder: p.events, Log: captureLog(p.logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.handler = h.routes()
	return p
}

// create creates obj in the page's namespace, with its status when it has
// one, as the controllers would have left it.
func (p *apiPage) create(obj client.Object) {
	p.t.Helper()
	ctx := context.Background()
	obj.SetNamespace(p.ns)
	obj.SetUID("")
	obj.SetGeneration(0)
	var status *v1alpha1.PartnerInvitationStatus
	if inv, ok := obj.(*v1alpha1.PartnerInvitation); ok {
		st := inv.Status
		status = &st
	}
	if err := p.api.Client.Create(ctx, obj); err != nil {
		p.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	if status != nil {
		inv := obj.(*v1alpha1.PartnerInvitation)
		inv.Status = *status
		for i := range inv.Status.Conditions {
			inv.Status.Conditions[i].ObservedGeneration = inv.Generation
		}
		if err := p.api.Client.Status().Update(ctx, inv); err != nil {
			p.t.Fatalf("writing the status of invitation %s: %v", inv.Name, err)
		}
	}
}

// link is the token the controller mailed for the invitation as stored.
func (p *apiPage) link(name string) string {
	p.t.Helper()
	inv := p.invitation(name)
	c := token.Claims{Namespace: inv.Namespace, Name: inv.Name, UID: string(inv.UID), Resend: inv.Status.ObservedResend, ExpiresAt: inv.Status.ExpiresAt.Time}
	raw, err := p.signer.Sign(context.Background(), c)
	if err != nil {
		p.t.Fatal(err)
	}
	return raw
}

func (p *apiPage) invitation(name string) *v1alpha1.PartnerInvitation {
	p.t.Helper()
	inv := &v1alpha1.PartnerInvitation{}
	if err := p.api.Client.Get(context.Background(), client.ObjectKey{Namespace: p.ns, Name: name}, inv); err != nil {
		p.t.Fatalf("reading invitation %s: %v", name, err)
	}
	return inv
}

func (p *apiPage) account() *v1alpha1.PartnerAccount {
	p.t.Helper()
	a := &v1alpha1.PartnerAccount{}
	if err := p.api.Client.Get(context.Background(), client.ObjectKey{Namespace: p.ns, Name: testAccount}, a); err != nil {
		p.t.Fatalf("reading the account: %v", err)
	}
	return a
}

// editAccount changes the account on the API server.
func (p *apiPage) editAccount(f func(*v1alpha1.PartnerAccount)) {
	p.t.Helper()
	a := p.account()
	before := a.DeepCopy()
	f(a)
	if err := p.api.Client.Patch(context.Background(), a, client.MergeFrom(before)); err != nil {
		p.t.Fatalf("changing the account: %v", err)
	}
}

func (p *apiPage) get(tok string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, pathAccept+"?token="+url.QueryEscape(tok), nil)
	return p.serve(req)
}

func (p *apiPage) post(path, tok string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("token="+url.QueryEscape(tok)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.serve(req)
}

func (p *apiPage) serve(req *http.Request) (int, string) {
	req.RemoteAddr = testClient
	rec := httptest.NewRecorder()
	p.handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// unchanged fails unless the invitation is still exactly as it was.
func (p *apiPage) unchanged(before *v1alpha1.PartnerInvitation, what string) {
	p.t.Helper()
	if now := p.invitation(before.Name); now.ResourceVersion != before.ResourceVersion {
		p.t.Errorf("%s: invitation %s was written (state %q → %q)", what, before.Name, before.Status.State, now.Status.State)
	}
}

// TestAcceptanceProofThroughTheAPIServer: the acceptance the page writes
// passes the CRD's validation with its proof, and the proof read back
// from the API server verifies for that invitation.
func TestAcceptanceProofThroughTheAPIServer(t *testing.T) {
	p := newAPIPage(t)
	p.create(accountAllowing("globex.example"))
	p.create(invitation("jane", resend(1, 1)))

	if code, _ := p.post(pathAccept, p.link("jane")); code != http.StatusSeeOther {
		t.Fatalf("accept: %d, want 303", code)
	}
	inv := p.invitation("jane")
	st := inv.Status
	if st.State != v1alpha1.InvitationAccepted || st.AcceptedAt == nil || st.AcceptanceProof == nil {
		t.Fatalf("state %q, acceptedAt %v, proof %v: want Accepted with both", st.State, st.AcceptedAt, st.AcceptanceProof)
	}
	a := token.Acceptance{UID: string(inv.UID), Resend: 1, Email: string(inv.Spec.Email), AcceptedAt: st.AcceptedAt.Time}
	if err := p.signer.VerifyAcceptance(t.Context(), a, token.Proof{KeyID: st.AcceptanceProof.KeyID, MAC: st.AcceptanceProof.MAC}); err != nil {
		t.Errorf("the proof stored by the API server does not verify: %v", err)
	}
}

// TestDomainRemovedAfterTheEmailWentOut: the account's allowedDomains
// lose the invited domain after the emails went out, and the controller
// has not caught up (the invitations still say PendingApproval, or
// Accepted). The links are dead at once: the generic page, byte for byte,
// nothing written, no Event, and no way to the Hub.
func TestDomainRemovedAfterTheEmailWentOut(t *testing.T) {
	p := newAPIPage(t)
	p.create(accountAllowing("globex.example"))
	p.create(invitation("jane"))
	p.create(invitation("ann"))
	if code, _ := p.post(pathAccept, p.link("ann")); code != http.StatusSeeOther {
		t.Fatalf("ann's acceptance while her domain is allowed: %d, want 303", code)
	}
	_ = p.recordedEvents()
	_, deadPage := p.get("forged")

	p.editAccount(func(a *v1alpha1.PartnerAccount) { a.Spec.AllowedDomains = []v1alpha1.DomainName{"initech.example"} })

	jane, ann := p.invitation("jane"), p.invitation("ann")
	for _, tc := range []struct {
		name string
		inv  *v1alpha1.PartnerInvitation
		do   func(tok string) (int, string)
	}{
		{"jane, GET", jane, p.get},
		{"jane, POST accept", jane, func(tok string) (int, string) { return p.post(pathAccept, tok) }},
		{"jane, POST decline", jane, func(tok string) (int, string) { return p.post(pathDecline, tok) }},
		{"ann (accepted), GET", ann, p.get},
		{"ann (accepted), POST accept", ann, func(tok string) (int, string) { return p.post(pathAccept, tok) }},
	} {
		code, body := tc.do(p.link(tc.inv.Name))
		if code != http.StatusNotFound || body != deadPage {
			t.Errorf("%s: %d %q, want 404 and the generic page, byte for byte", tc.name, code, pageOf(body))
		}
		if strings.Contains(body, "hub.example.com") {
			t.Errorf("%s: the page links to the Hub", tc.name)
		}
		p.unchanged(tc.inv, tc.name)
	}
	if got := p.recordedEvents(); len(got) != 0 {
		t.Errorf("events %q, want none", got)
	}
	if n := strings.Count(p.logs.String(), whyDomain); n != 5 {
		t.Errorf("the log names the cause %d times, want 5:\n%s", n, p.logs.String())
	}

	// The domain allowed again, jane's link works again: it was refused for
	// the domain alone.
	p.editAccount(func(a *v1alpha1.PartnerAccount) {
		a.Spec.AllowedDomains = append(a.Spec.AllowedDomains, "globex.example")
	})
	if code, body := p.get(p.link("jane")); code != http.StatusOK || pageOf(body) != "invitation" {
		t.Errorf("jane's link with her domain allowed again: %d %q, want 200 and the invitation", code, pageOf(body))
	}
}

// TestAccountDeletedAfterTheEmailWentOut: the account is being deleted
// (a finalizer holds it), then gone; the invitation still says
// PendingApproval. Its link is dead throughout and nothing is written.
func TestAccountDeletedAfterTheEmailWentOut(t *testing.T) {
	p := newAPIPage(t)
	acct := account()
	acct.Finalizers = []string{"test.partnerops.dev/hold"}
	p.create(acct)
	p.create(invitation("jane"))
	tok := p.link("jane")
	_, deadPage := p.get("forged")
	if code, _ := p.get(tok); code != http.StatusOK {
		t.Fatalf("the link before the deletion: %d, want 200", code)
	}

	if err := p.api.Client.Delete(t.Context(), p.account()); err != nil {
		t.Fatal(err)
	}
	if p.account().DeletionTimestamp == nil {
		t.Fatal("the account is not being deleted")
	}
	check := func(when string) {
		t.Helper()
		before := p.invitation("jane")
		if code, body := p.get(tok); code != http.StatusNotFound || body != deadPage {
			t.Errorf("%s, GET: %d %q, want 404 and the generic page", when, code, pageOf(body))
		}
		if code, body := p.post(pathAccept, tok); code != http.StatusNotFound || body != deadPage {
			t.Errorf("%s, POST accept: %d %q, want 404 and the generic page", when, code, pageOf(body))
		}
		p.unchanged(before, when)
	}
	check("account being deleted")
	p.editAccount(func(a *v1alpha1.PartnerAccount) { a.Finalizers = nil })
	gone := &v1alpha1.PartnerAccount{}
	if err := p.api.Client.Get(t.Context(), client.ObjectKey{Namespace: p.ns, Name: testAccount}, gone); err == nil {
		t.Fatal("the account is still there")
	}
	check("account gone")
	if got := p.recordedEvents(); len(got) != 0 {
		t.Errorf("events %q, want none", got)
	}
}

// TestJoinedByDomainThroughTheAPIServer: an invitation without
// spec.account, which the controller associated with the account by its
// domain (status.account and status.accountUID), is shown and accepted
// like a named one (its proof binding the account) and lands on the Hub
// with its account; once that
// account is deleted and another is created under the same name, the
// link is dead (the new account never adopts it) and nothing is written.
func TestJoinedByDomainThroughTheAPIServer(t *testing.T) {
	p := newAPIPage(t)
	p.create(accountAllowing("globex.example"))
	joined := func(uid string) func(*v1alpha1.PartnerInvitation) {
		return func(inv *v1alpha1.PartnerInvitation) {
			inv.Spec.Account, inv.Status.Account, inv.Status.AccountUID = "", testAccount, uid
		}
	}
	p.create(invitation("jane", joined(string(p.account().UID))))
	p.create(invitation("ann", joined(string(p.account().UID))))
	if code, body := p.get(p.link("jane")); code != http.StatusOK || pageOf(body) != "invitation" || !strings.Contains(body, testCompany) {
		t.Fatalf("jane's link: %d %q, want 200 and the invitation to %s", code, pageOf(body), testCompany)
	}
	req := httptest.NewRequest(http.MethodPost, pathAccept, strings.NewReader("token="+url.QueryEscape(p.link("jane"))))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = testClient
	rec := httptest.NewRecorder()
	p.handler.ServeHTTP(rec, req)
	hub := "https://hub.example.com/start?account=globex&from=email&namespace=" + p.ns
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != hub {
		t.Errorf("jane accepts: %d to %q, want 303 to %s", rec.Code, rec.Header().Get("Location"), hub)
	}
	jane := p.invitation("jane")
	if st := jane.Status; st.State != v1alpha1.InvitationAccepted || st.AcceptanceProof == nil {
		t.Fatalf("jane is %q with proof %v, want Accepted with one", st.State, st.AcceptanceProof)
	}
	// The proof binds the account she joined by her domain.
	a := token.Acceptance{UID: string(jane.UID), Resend: 0, Email: string(jane.Spec.Email), AcceptedAt: jane.Status.AcceptedAt.Time, Account: jane.Status.AccountUID}
	proof := token.Proof{KeyID: jane.Status.AcceptanceProof.KeyID, MAC: jane.Status.AcceptanceProof.MAC}
	if err := p.signer.VerifyAcceptance(t.Context(), a, proof); err != nil {
		t.Errorf("jane's proof does not verify with her account: %v", err)
	}
	a.Account = "another-account"
	if err := p.signer.VerifyAcceptance(t.Context(), a, proof); err == nil {
		t.Error("jane's proof verifies for another account")
	}

	tok := p.link("ann")
	_, deadPage := p.get("forged")
	if err := p.api.Client.Delete(t.Context(), p.account()); err != nil {
		t.Fatal(err)
	}
	p.create(accountAllowing("globex.example"))
	before := p.invitation("ann")
	if code, body := p.post(pathAccept, tok); code != http.StatusNotFound || body != deadPage {
		t.Errorf("ann's link once her account was created again: %d %q, want 404 and the generic page", code, pageOf(body))
	}
	p.unchanged(before, "ann, account created again")
	if !strings.Contains(p.logs.String(), whyNoAccount) {
		t.Errorf("the log does not say %q:\n%s", whyNoAccount, p.logs.String())
	}
}

// recordedEvents drains the events recorded so far.
func (p *apiPage) recordedEvents() []string { return drainEvents(p.events) }
