package manager

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/scim"
	scimpeer "github.com/partnerops/partnerops/internal/testpeers/scim"
	"github.com/partnerops/partnerops/internal/testpeers/tlstest"
)

// recordingListener is a plain-HTTP server on 127.0.0.1 that records every
// request and answers each as a service provider that did what it was
// asked would: a redirected write that reached it would look done.
type recordingListener struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newRecordingListener(t *testing.T) *recordingListener {
	t.Helper()
	l := &recordingListener{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, fmt.Sprintf("%s %s (Authorization %q)", r.Method, r.URL.Path, r.Header.Get("Authorization")))
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"decoy",`+
			`"userName":"new@partner.test","externalId":"partnerops:user:new@partner.test","totalResults":0,"Resources":[]}`)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *recordingListener) requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

// The SCIM backend the manager builds from its configuration, with a
// private CA (identityBackend.scim.caFile), never follows a redirect: a
// service provider behind a TLS front that redirects to a plain-HTTP
// listener on the same host gets no write counted as done, and the
// listener never sees the bearer token (nor any request).
func TestSCIMBackendNeverFollowsRedirects(t *testing.T) {
	srv := scimpeer.Start(t)
	zoe := srv.CreateUser(t, "zoe@partner.test", scim.MarkPrefix+"user:zoe@partner.test")
	member := srv.CreateGroup(t, "ns1.admin.crm", scim.MarkPrefix+"group:ns1.admin.crm", zoe.ID)
	srv.CreateGroup(t, "ns1.viewer.crm", scim.MarkPrefix+"group:ns1.viewer.crm")
	scimURL, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ca := tlstest.NewCA(t)
	caFile, serverCert := ca.CertFile(t), ca.ServerCert(t)
	plain := newRecordingListener(t)
	reads := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: scimURL.Scheme, Host: scimURL.Host})
	reads.Transport = &http.Transport{Proxy: nil}

	for _, mode := range []string{"writes", "every request"} {
		for _, code := range []int{301, 302, 303, 307, 308} {
			t.Run(fmt.Sprintf("%s/%d", mode, code), func(t *testing.T) {
				// The TLS front: reads reach the real SCIM server (in "writes"
				// mode); what it redirects goes to the plain listener, same
				// host, another port, http.
				front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet && mode == "writes" {
						reads.ServeHTTP(w, r)
						return
					}
					http.Redirect(w, r, plain.URL+r.URL.RequestURI(), code)
				}))
				front.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}}
				front.StartTLS()
				t.Cleanup(front.Close)

				b := scimBackendFor(t, front.URL+scimURL.Path, caFile, srv.Token)
				ctx := t.Context()
				if mode == "writes" {
					// The CA is trusted and the token is right: reads work.
					if u, err := b.FindUser(ctx, "zoe@partner.test"); err != nil || u.ID != zoe.ID {
						t.Fatalf("FindUser through the TLS front: %+v, %v", u, err)
					}
				}
				zoeUser := identity.User{ID: zoe.ID, Email: zoe.UserName, Managed: true}
				calls := []struct {
					name string
					call func() error
				}{
					{"EnsureUser", func() error {
						_, err := b.EnsureUser(ctx, identity.NewUser{Email: "new@partner.test"})
						return err
					}},
					{"AddMember", func() error { return b.AddMember(ctx, "ns1.viewer.crm", zoeUser) }},
					{"RemoveMember", func() error { return b.RemoveMember(ctx, "ns1.admin.crm", zoeUser) }},
					{"DeleteUser", func() error { return b.DeleteUser(ctx, zoeUser) }},
				}
				for _, c := range calls {
					err := c.call()
					if err == nil {
						t.Errorf("%s succeeded behind a %d redirect", c.name, code)
						continue
					}
					if !errors.Is(err, identity.ErrRejected) {
						t.Errorf("%s: %v, want ErrRejected", c.name, err)
					}
					for _, s := range []string{fmt.Sprintf("HTTP %d", code), "redirected to " + plain.URL, "set baseURL to the final URL"} {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("%s: error %q does not say %q", c.name, err, s)
						}
					}
					if strings.Contains(err.Error(), srv.Token) {
						t.Errorf("%s: the error holds the token: %v", c.name, err)
					}
				}

				// Nothing changed on the service provider.
				if _, ok := srv.User(t, "new@partner.test"); ok {
					t.Error("new@partner.test was created")
				}
				if u, ok := srv.User(t, "zoe@partner.test"); !ok || u.ID != zoe.ID {
					t.Error("zoe was deleted")
				}
				if g, ok := srv.Group(t, "ns1.admin.crm"); !ok || g.ID != member.ID || !slices.Equal(g.MemberIDs(), []string{zoe.ID}) {
					t.Errorf("ns1.admin.crm = %+v (found %v), want zoe still in it", g, ok)
				}
				if g, ok := srv.Group(t, "ns1.viewer.crm"); !ok || len(g.Members) != 0 {
					t.Errorf("ns1.viewer.crm = %+v (found %v), want it without members", g, ok)
				}
			})
		}
	}
	if seen := plain.requests(); len(seen) != 0 {
		t.Errorf("the plain-HTTP listener got %d requests, want none: %q", len(seen), seen)
	}
}

// scimBackendFor builds the backend the way the manager does, from a
// configuration with caFile, the token in a Secret.
func scimBackendFor(t *testing.T, baseURL, caFile, token string) identity.Backend {
	t.Helper()
	cfg := &config.Config{
		SecretNamespace: "partnerops-system",
		IdentityBackend: config.IdentityBackend{
			Type: config.BackendSCIM,
			SCIM: &config.SCIMConfig{
				BaseURL:      baseURL,
				TokenSecret:  &config.SecretRef{Name: "scim-token"},
				CreateGroups: true,
				CAFile:       caFile,
			},
		},
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "partnerops-system", Name: "scim-token"},
		Data:       map[string][]byte{"token": []byte(token)},
	}
	b, err := newBackend(fake.NewClientBuilder().WithObjects(secret).Build(), cfg)
	if err != nil {
		t.Fatalf("newBackend: %v", err)
	}
	return b
}

// keepEmptyGroups in the configuration reaches the driver: the group
// partnerops created stays when its last member goes (and goes without
// it).
func TestSCIMBackendKeepEmptyGroups(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepEmptyGroups=%v", keep), func(t *testing.T) {
			srv := scimpeer.Start(t)
			zoe := srv.CreateUser(t, "zoe@partner.test", scim.MarkPrefix+"user:zoe@partner.test")
			srv.CreateGroup(t, "ns1.admin.crm", scim.MarkPrefix+"group:ns1.admin.crm", zoe.ID)
			cfg := &config.Config{
				SecretNamespace: "partnerops-system",
				IdentityBackend: config.IdentityBackend{
					Type: config.BackendSCIM,
					SCIM: &config.SCIMConfig{BaseURL: srv.URL, TokenSecret: &config.SecretRef{Name: "scim-token"}, KeepEmptyGroups: keep},
				},
			}
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: "partnerops-system", Name: "scim-token"},
				Data:       map[string][]byte{"token": []byte(srv.Token)},
			}
			b, err := newBackend(fake.NewClientBuilder().WithObjects(secret).Build(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.RemoveMember(t.Context(), "ns1.admin.crm", identity.User{ID: zoe.ID, Email: zoe.UserName}); err != nil {
				t.Fatal(err)
			}
			if _, ok := srv.Group(t, "ns1.admin.crm"); ok != keep {
				t.Errorf("the empty group is there: %v, want %v", ok, keep)
			}
		})
	}
}
