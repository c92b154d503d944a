package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/config"
)

// TestSignInConfig: --signin oidc runs the manager with --config plus
// acceptance.signIn on, written into the state directory; none leaves
// everything as it is; another value is refused.
func TestSignInConfig(t *testing.T) {
	root := t.TempDir()
	base, err := config.Load(filepath.Join("..", "..", "config", "dev", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	con := newConsole(&out, &out)
	s := &stateDir{dir: root}

	o := &options{signIn: "none", config: "config/dev/config.yaml"}
	cfg := *base
	if op, err := startSignIn(context.Background(), o, s, &cfg, nil, "", con); op != nil || err != nil || o.config != "config/dev/config.yaml" {
		t.Errorf("--signin none: %v, %v, config %s; want nothing started and --config kept", op, err, o.config)
	}
	o.signIn = "saml"
	if _, err := startSignIn(context.Background(), o, s, &cfg, nil, "", con); err == nil || !strings.Contains(err.Error(), "want none or oidc") {
		t.Errorf("--signin saml: %v", err)
	}

	o = &options{signIn: "oidc", config: "config/dev/config.yaml"}
	if err := withSignIn(o, s, &cfg, con); err != nil {
		t.Fatal(err)
	}
	if o.config != filepath.Join(root, "config-signin.yaml") {
		t.Fatalf("the manager's --config is %s", o.config)
	}
	got, err := config.Load(o.config)
	if err != nil {
		t.Fatalf("the config written does not load: %v", err)
	}
	si := got.Acceptance.SignIn
	if !si.Enabled() || si.OIDC.IssuerURL != devIssuer || si.OIDC.ClientID != devClientID || si.OIDC.ClientSecret.Name != devClientSecret {
		t.Errorf("acceptance.signIn written = %+v %+v", si, si.OIDC)
	}
	got.Acceptance.SignIn = base.Acceptance.SignIn
	if b1, _ := os.ReadFile(o.config); !bytes.Contains(b1, []byte("partnerHubURL: "+base.Acceptance.PartnerHubURL)) || got.Acceptance.PartnerHubURL != base.Acceptance.PartnerHubURL || got.IdentityBackend.SCIM.BaseURL != base.IdentityBackend.SCIM.BaseURL ||
		got.IdentityBackend.SCIM.SubjectAttribute == "" || got.IdentityBackend.SCIM.SubjectAttribute != base.IdentityBackend.SCIM.SubjectAttribute {
		t.Errorf("the rest of --config changed:\n%s", b1)
	}
}
