package e2e

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
	"github.com/partnerops/partnerops/internal/testenv/managertest"
	"github.com/partnerops/partnerops/internal/testpeers/mailpit"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
	"github.com/partnerops/partnerops/internal/testpeers/tlstest"
)

// A SCIM service behind a front that redirects (a moved endpoint, a
// misconfigured proxy) gets no grant counted as done: the manager, built
// from a configuration with identityBackend.scim.caFile, follows no
// redirect, so an acceptance ends GrantsSynced=False (BackendRejected) with
// no membership on the server, and a withdrawal is not recorded as
// GrantsRevoked while the membership stays. Once the front stops
// redirecting, both go through.
func TestSCIMBehindARedirectNothingCountsAsDone(t *testing.T) {
	srv := scimpeer.Start(t)
	front := startRedirector(t, srv.URL)
	front.redirect.Store(true)
	b := &redirectedSCIM{scimBackend: &scimBackend{srv: srv}, front: front}
	mp := mailpit.Start(t)
	b.seedUnrelated(t)
	// The partner is already a user of the identity provider, made by
	// another provisioning client: a client that followed the redirect
	// would find her with a GET, then take the GET its POST of the group
	// turned into for a group created.
	srv.CreateUser(t, "ana@globex.example", "")
	h := start(t, mp, b)
	group := h.Group("editor", "editor")

	h.Account("globex")
	h.Invite("ana", "ana@globex.example", func(i *v1alpha1.PartnerInvitation) { i.Spec.Systems = []v1alpha1.CatalogueKey{"editor"} })

	// Accepted behind the redirect: the grant failed, and says why.
	h.accept(t, h.link(t, mp, "ana@globex.example"))
	c := h.waitGrantsFailed("ana")
	for _, s := range []string{"HTTP 302", "redirected to " + srv.URL, "set baseURL to the final URL"} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("GrantsSynced message %q does not say %q", c.Message, s)
		}
	}
	if strings.Contains(c.Message, srv.Token) {
		t.Errorf("GrantsSynced message holds the token: %q", c.Message)
	}
	if got := b.groupsOf(t, "ana@globex.example"); len(got) != 0 {
		t.Errorf("ana is in %v on the SCIM server, want no group", got)
	}
	if g, ok := srv.Group(t, group); ok {
		t.Errorf("group %s exists on the SCIM server: %+v", group, g)
	}

	// The front stops redirecting: the retry lands the grant.
	front.redirect.Store(false)
	h.Eventually("ana's grant on the SCIM server", func() bool {
		return slices.Equal(b.groupsOf(t, "ana@globex.example"), []string{group})
	})
	h.waitGrantsSynced("ana", v1alpha1.ReasonGrantsApplied)

	// Withdrawn behind the redirect: not revoked, and not said to be.
	front.redirect.Store(true)
	h.EditInvitation("ana", func(inv *v1alpha1.PartnerInvitation) { inv.Spec.Revoked = true })
	c = h.waitGrantsFailed("ana")
	if !strings.Contains(c.Message, "Revoking") || !strings.Contains(c.Message, "HTTP 302") {
		t.Errorf("GrantsSynced message %q does not say the revocation failed on a redirect", c.Message)
	}
	if got := b.groupsOf(t, "ana@globex.example"); !slices.Equal(got, []string{group}) {
		t.Errorf("ana is in %v on the SCIM server, want %s still", got, group)
	}
	inv := h.Invitation("ana")
	if !slices.Contains(inv.Finalizers, v1alpha1.GrantsFinalizer) || inv.Status.AppliedGrants == nil {
		t.Errorf("the withdrawn invitation let go of its grants: finalizers %v, appliedGrants %+v", inv.Finalizers, inv.Status.AppliedGrants)
	}

	// The front stops redirecting: the revocation goes through.
	front.redirect.Store(false)
	h.waitGrantsSynced("ana", v1alpha1.ReasonGrantsRevoked)
	h.Eventually("ana out of every group", func() bool { return len(b.groupsOf(t, "ana@globex.example")) == 0 })
	if diff := b.unrelatedIntact(t); diff != "" {
		t.Errorf("an unrelated user or membership changed: %s", diff)
	}
}

// waitGrantsFailed waits until the invitation's GrantsSynced is False with
// reason BackendRejected for its current generation, and returns it.
func (h *harness) waitGrantsFailed(name string) metav1.Condition {
	h.T.Helper()
	inv := h.WaitCondition(name, v1alpha1.ConditionGrantsSynced, metav1.ConditionFalse, v1alpha1.ReasonBackendRejected)
	return *meta.FindStatusCondition(inv.Status.Conditions, v1alpha1.ConditionGrantsSynced)
}

// redirectedSCIM is the SCIM server reached through a redirector: the
// manager's baseURL is the redirector's, trusted through caFile.
type redirectedSCIM struct {
	*scimBackend
	front *redirector
}

func (r *redirectedSCIM) configure(m *managertest.Manager) {
	r.scimBackend.configure(m)
	m.Config.IdentityBackend.SCIM.BaseURL = r.front.URL
	m.Config.IdentityBackend.SCIM.CAFile = r.front.CAFile
}

// redirector is an HTTPS front of a SCIM server, with a certificate from a
// CA made for the test: while redirect is set it answers every request with
// a 302 to the same path on the SCIM server's own plain-HTTP URL, else it
// passes requests through.
type redirector struct {
	// URL is the front's SCIM base URL; CAFile its CA in PEM.
	URL, CAFile string
	redirect    atomic.Bool
}

func startRedirector(t *testing.T, target string) *redirector {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	origin := &url.URL{Scheme: u.Scheme, Host: u.Host}
	pass := httputil.NewSingleHostReverseProxy(origin)
	pass.Transport = &http.Transport{Proxy: nil} // loopback only, whatever the environment says
	rd := &redirector{}
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rd.redirect.Load() {
			http.Redirect(w, r, origin.String()+r.URL.RequestURI(), http.StatusFound)
			return
		}
		pass.ServeHTTP(w, r)
	}))
	ca := tlstest.NewCA(t)
	rd.CAFile = ca.CertFile(t)
	front.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t)}}
	front.StartTLS()
	t.Cleanup(front.Close)
	rd.URL = front.URL + u.Path
	return rd
}
