package manager

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/testpeers/slapd"
)

// ldapConfigFile is a configuration file for an LDAP backend at url, with
// extra written into its identityBackend.ldap section.
func ldapConfigFile(url, extra string) string {
	return fmt.Sprintf(`apiVersion: %s
kind: %s
catalogue:
  roles: [{key: viewer, displayName: {en: Viewer}}]
  systems: [{key: insights, displayName: {en: Insights}}]
acceptance:
  publicURL: https://partners.acme.example
  partnerHubURL: https://hub.acme.example
smtp:
  host: smtp.acme.example
  from: partners@acme.example
identityBackend:
  type: ldap
  ldap:
    url: %s
    bindDN: %s
    bindPasswordSecret: {name: ldap-bind}
    userBaseDN: %s
    groupBaseDN: %s
%s`, config.APIVersion, config.Kind, url, slapd.RootDN, slapd.PeopleDN, slapd.GroupsDN, extra)
}

// identityBackend.ldap.trustMailAttribute, from the file to the driver: a
// user that existed before partnerops, at another DN than
// uid=<email>,<userBaseDN>, is the partner's user only when the file says
// mail is trusted.
func TestLDAPBackendTrustMailAttribute(t *testing.T) {
	const email = "alice@partner.example"
	for name, tc := range map[string]struct {
		extra   string
		wantDN  func(existing string) string
		wantNew bool
	}{
		"left out": {wantDN: func(string) string { return "uid=" + email + "," + slapd.PeopleDN }, wantNew: true},
		"false":    {extra: "    trustMailAttribute: false\n", wantDN: func(string) string { return "uid=" + email + "," + slapd.PeopleDN }, wantNew: true},
		"true":     {extra: "    trustMailAttribute: true\n", wantDN: func(existing string) string { return existing }},
	} {
		t.Run(name, func(t *testing.T) {
			srv := slapd.Start(t)
			existing := srv.AddUser(t, "alice", email)
			cfg, err := config.Parse([]byte(ldapConfigFile(srv.URL, tc.extra)))
			if err != nil {
				t.Fatal(err)
			}
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: cfg.SecretNamespace, Name: "ldap-bind"},
				Data:       map[string][]byte{"password": []byte(srv.RootPassword)},
			}
			b, err := newBackend(fake.NewClientBuilder().WithObjects(secret).Build(), cfg)
			if err != nil {
				t.Fatal(err)
			}

			found, err := b.FindUser(t.Context(), email)
			switch {
			case tc.wantNew && !errors.Is(err, identity.ErrNotFound):
				t.Fatalf("FindUser = %+v, %v; want ErrNotFound: %s only has the mail", found, err, existing)
			case !tc.wantNew && (err != nil || found.ID != existing):
				t.Fatalf("FindUser = %+v, %v; want %s", found, err, existing)
			}
			u, err := b.EnsureUser(t.Context(), identity.NewUser{Email: email})
			if err != nil || u.ID != tc.wantDN(existing) || u.Managed != tc.wantNew {
				t.Fatalf("EnsureUser = %+v, %v; want %s (Managed %v)", u, err, tc.wantDN(existing), tc.wantNew)
			}
		})
	}
}
