package manager

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/identity"
	"github.com/partnerops/partnerops/internal/identity/ldap"
	"github.com/partnerops/partnerops/internal/identity/scim"
)

// newBackend builds the configured identity backend. Its credentials are
// read from their Secret at each use (through the manager's cache), so a
// rotated token or password needs no restart; a CA file is read now, so a
// bad one stops the manager at start.
func newBackend(c client.Reader, cfg *config.Config) (identity.Backend, error) {
	b := cfg.IdentityBackend
	switch b.Type {
	case config.BackendSCIM:
		pool, err := loadCAs("identityBackend.scim.caFile", b.SCIM.CAFile)
		if err != nil {
			return nil, err
		}
		return scim.New(scim.Config{
			BaseURL:          b.SCIM.BaseURL,
			Token:            secretValue(c, cfg.SecretNamespace, b.SCIM.TokenSecret.Name, "token"),
			CreateGroups:     b.SCIM.CreateGroups,
			KeepEmptyGroups:  b.SCIM.KeepEmptyGroups,
			SubjectAttribute: b.SCIM.SubjectAttribute,
			IssuerAttribute:  b.SCIM.IssuerAttribute,
			// The driver builds the HTTP client itself, so that its rule
			// of never following a redirect holds with a CA too.
			RootCAs: pool,
		})
	case config.BackendLDAP:
		pool, err := loadCAs("identityBackend.ldap.caFile", b.LDAP.CAFile)
		if err != nil {
			return nil, err
		}
		return ldap.New(ldap.Config{
			URL:                b.LDAP.URL,
			StartTLS:           b.LDAP.StartTLS,
			BindDN:             b.LDAP.BindDN,
			Password:           secretValue(c, cfg.SecretNamespace, b.LDAP.BindPasswordSecret.Name, "password"),
			UserBaseDN:         b.LDAP.UserBaseDN,
			TrustMailAttribute: b.LDAP.TrustMailAttribute,
			GroupBaseDN:        b.LDAP.GroupBaseDN,
			CreateGroups:       b.LDAP.CreateGroups,
			PlaceholderMember:  b.LDAP.PlaceholderMember,
			SubjectAttribute:   b.LDAP.SubjectAttribute,
			IssuerAttribute:    b.LDAP.IssuerAttribute,
			RootCAs:            pool,
		})
	}
	return nil, fmt.Errorf("identityBackend.type %q has no driver", b.Type)
}

// secretValue reads one key of a Secret in the secret namespace.
func secretValue(c client.Reader, namespace, name, key string) func(context.Context) (string, error) {
	nn := types.NamespacedName{Namespace: namespace, Name: name}
	return func(ctx context.Context) (string, error) {
		sec := &corev1.Secret{}
		if err := c.Get(ctx, nn, sec); err != nil {
			return "", fmt.Errorf("reading the Secret %s: %w", nn, err)
		}
		v := strings.TrimSpace(string(sec.Data[key]))
		if v == "" {
			return "", fmt.Errorf("the Secret %s has no key %q (or it is empty)", nn, key)
		}
		return v, nil
	}
}

// loadCAs reads the CA file path, the value of the configuration's key:
// none (nil) when path is empty.
func loadCAs(key, path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, path)
	}
	return pool, nil
}
