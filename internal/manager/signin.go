package manager

import (
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnerops/partnerops/internal/acceptance"
	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/signin"
)

// newSignIn builds the OpenID Provider partners sign in with before
// accepting (acceptance.signIn: oidc), nil when none is configured. The
// client secret is read from its Secret at each code exchange, so rotating
// it needs no restart.
func newSignIn(c client.Reader, cfg *config.Config) (acceptance.SignInProvider, error) {
	s := cfg.Acceptance.SignIn
	if !s.Enabled() {
		return nil, nil
	}
	o := signin.Options{
		Config:      s.OIDC,
		RedirectURL: strings.TrimSuffix(cfg.Acceptance.PublicURL, "/") + acceptance.SignedInPath,
		// ID tokens carry the provider's wall-clock times: they are checked
		// against the wall clock, whatever clock the controllers run on.
	}
	if s.OIDC.ClientSecret != nil {
		o.ClientSecret = secretValue(c, cfg.SecretNamespace, s.OIDC.ClientSecret.Name, "clientSecret")
	}
	p, err := signin.New(o)
	if err != nil {
		return nil, fmt.Errorf("configuring the sign-in: %w", err)
	}
	return p, nil
}
