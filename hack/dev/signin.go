package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/partnerops/partnerops/internal/acceptance"
	"github.com/partnerops/partnerops/internal/config"
	oidcpeer "github.com/partnerops/partnerops/internal/testpeers/oidc"
)

// This file runs the sign-in before acceptance for `make dev SIGNIN=oidc`
// (--signin oidc): dev writes --config with acceptance.signIn on (the
// OpenID Provider at devIssuer, client devClientID with its secret in the
// Secret devClientSecret) into the state directory and runs the manager
// with that copy. Whenever the configuration's acceptance.signIn is oidc
// with an issuer on loopback, dev runs the OpenID Provider of
// hack/oidc-provider there, registers the page's callback as its client
// with a secret made for the run (written into the Secret the configuration
// names), and gives it users whose addresses are the samples' invitations,
// and one invited nowhere.

// The sign-in --signin oidc turns on.
const (
	devIssuer       = "http://127.0.0.1:8092"
	devClientID     = "partnerops-dev"
	devClientSecret = "partnerops-dev-oidc-client"
)

// signInStopGrace is how long the provider has to stop after SIGTERM.
const signInStopGrace = 5 * time.Second

// devPassword is every dev user's password at the provider (printed).
const devPassword = "partner"

// devSignInUsers are the provider's users: the samples' partners, and
// mallory, whom no sample invites.
var devSignInUsers = []oidcpeer.User{
	{Subject: "dev-carlos", Email: "carlos.ruiz@globex.example", Password: devPassword},
	{Subject: "dev-amelie", Email: "amelie.dupont@globex.example", Password: devPassword},
	{Subject: "dev-mindy", Email: "mindy@globex.example", Password: devPassword},
	{Subject: "dev-mallory", Email: "mallory@initech.example", Password: devPassword},
}

// defaultOIDCProvider is hack/oidc-provider's server.js as installed:
// $OIDC_PROVIDER, else the copy for the current files, else "".
func defaultOIDCProvider() string { return orEmpty(oidcpeer.Script()) }

// signInProvider is the running provider and its log.
type signInProvider struct {
	*oidcpeer.Server
	log *os.File
}

// startSignIn starts the provider when cfg asks for a sign-in, and returns
// nil when it does not.
func startSignIn(ctx context.Context, o *options, s *stateDir, cfg *config.Config, cp *controlPlane, node string, con *console) (*signInProvider, error) {
	switch o.signIn {
	case config.SignInOIDC:
		if err := withSignIn(o, s, cfg, con); err != nil {
			return nil, err
		}
	case config.SignInNone:
	default:
		return nil, fmt.Errorf("--signin %q: want none or oidc", o.signIn)
	}
	if !cfg.Acceptance.SignIn.Enabled() {
		return nil, nil
	}
	oc := cfg.Acceptance.SignIn.OIDC
	u, err := url.Parse(oc.IssuerURL)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Path != "" {
		return nil, fmt.Errorf("acceptance.signIn.oidc.issuerURL in %s is %q: dev runs the provider only at http://127.0.0.1:PORT", con.path(o.config), oc.IssuerURL)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, fmt.Errorf("acceptance.signIn.oidc.issuerURL %q names no port", oc.IssuerURL)
	}
	if o.oidcProvider == "" {
		return nil, fmt.Errorf("no OpenID Provider to run: run `make dev SIGNIN=oidc` (hack/install-peers.sh installs it), or pass --oidc-provider")
	}
	client := oidcpeer.Client{ID: oc.ClientID, RedirectURIs: []string{strings.TrimSuffix(cfg.Acceptance.PublicURL, "/") + acceptance.SignedInPath}}
	if oc.ClientSecret != nil {
		client.Secret = strings.ToLower(rand.Text())
		if _, err := cp.setSecretKey(cfg.SecretNamespace, oc.ClientSecret.Name, "clientSecret", client.Secret); err != nil {
			return nil, err
		}
	}
	srv, f, err := startPeer(ctx, con, "the OpenID Provider", filepath.Join(s.logDir, "oidc-provider.log"), func(log io.Writer) (*oidcpeer.Server, error) {
		return oidcpeer.Run(ctx, oidcpeer.Options{
			Clients: []oidcpeer.Client{client}, Users: devSignInUsers, Port: port,
			Script: o.oidcProvider, Node: node, NodeArgs: []string{"--diagnostic-dir=" + s.scimDir}, Log: log,
		})
	})
	if err != nil {
		return nil, err
	}
	con.logf("sign-in before accepting is on: the OpenID Provider of hack/oidc-provider is up at %s (client %s; its secret for this run is in the Secret %s/%s)",
		srv.Issuer, oc.ClientID, cfg.SecretNamespace, secretName(oc))
	for _, u := range devSignInUsers {
		con.logf("  sign in as %-30s password %s", u.Email, u.Password)
	}
	return &signInProvider{Server: srv, log: f}, nil
}

// withSignIn turns acceptance.signIn on in cfg, writes it into the state
// directory and makes it the manager's --config.
func withSignIn(o *options, s *stateDir, cfg *config.Config, con *console) error {
	if !cfg.Acceptance.SignIn.Enabled() {
		cfg.Acceptance.SignIn = config.SignIn{Type: config.SignInOIDC, OIDC: &config.OIDCSignIn{
			IssuerURL: devIssuer, ClientID: devClientID, ClientSecret: &config.SecretRef{Name: devClientSecret},
			Scopes: config.DefaultSignInScopes, AddressClaim: config.DefaultAddressClaim,
		}}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	if _, err := config.Parse(b); err != nil {
		return fmt.Errorf("%s with acceptance.signIn on: %w", con.path(o.config), err)
	}
	path := filepath.Join(s.dir, "config-signin.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	con.logf("the manager runs with %s: %s with acceptance.signIn on", con.path(path), con.path(o.config))
	o.config = path
	return nil
}

func secretName(oc *config.OIDCSignIn) string {
	if oc.ClientSecret == nil {
		return "(none: a public client)"
	}
	return oc.ClientSecret.Name
}

// stop stops the provider and closes its log.
func (p *signInProvider) stop(con *console, hurry <-chan struct{}) error {
	defer func() { _ = p.log.Close() }()
	return stopChild(con, "the OpenID Provider", p.Server, signInStopGrace, hurry)
}
