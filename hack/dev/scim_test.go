package main

import (
	"strings"
	"testing"

	"github.com/partnerops/partnerops/internal/config"
)

func TestCheckSCIMConfig(t *testing.T) {
	scim := func(baseURL string) config.IdentityBackend {
		return config.IdentityBackend{Type: config.BackendSCIM, SCIM: &config.SCIMConfig{
			BaseURL: baseURL, TokenSecret: &config.SecretRef{Name: "partnerops-dev-scim-token"},
		}}
	}
	tests := map[string]struct {
		addr    string
		backend config.IdentityBackend
		// wantErr is part of the error; "" means none.
		wantErr string
	}{
		"the dev config":          {"127.0.0.1:8091", scim("http://127.0.0.1:8091/scim/v2"), ""},
		"localhost, trailing /":   {"127.0.0.1:8091", scim("http://localhost:8091/scim/v2/"), ""},
		"another port":            {"127.0.0.1:9000", scim("http://127.0.0.1:8091/scim/v2"), "identityBackend.scim.baseURL in config.yaml is http://127.0.0.1:8091/scim/v2, but the SCIM server of dev is at http://127.0.0.1:9000/scim/v2 (--scim-address): make them the same"},
		"https":                   {"127.0.0.1:8091", scim("https://127.0.0.1:8091/scim/v2"), "make them the same"},
		"another path":            {"127.0.0.1:8091", scim("http://127.0.0.1:8091/scim"), "make them the same"},
		"a remote host":           {"127.0.0.1:8091", scim("http://idp.example.com:8091/scim/v2"), "make them the same"},
		"no port is 80":           {"127.0.0.1:8091", scim("http://127.0.0.1/scim/v2"), "make them the same"},
		"every interface":         {"0.0.0.0:8091", scim("http://127.0.0.1:8091/scim/v2"), `--scim-address "0.0.0.0:8091": the SCIM server listens on 127.0.0.1 only: use 127.0.0.1:8091`},
		"port 0":                  {"127.0.0.1:0", scim("http://127.0.0.1:0/scim/v2"), "the port must be a number from 1 to 65535"},
		"not an address":          {"8091", scim("http://127.0.0.1:8091/scim/v2"), `--scim-address "8091"`},
		"an LDAP identityBackend": {"127.0.0.1:8091", config.IdentityBackend{Type: config.BackendLDAP}, `identityBackend.type in config.yaml is "ldap", but the identity backend of dev is the SCIM server it runs: set type scim with scim.baseURL http://127.0.0.1:8091/scim/v2`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkSCIMConfig(&options{scimAddr: tc.addr, config: "config.yaml"}, &config.Config{IdentityBackend: tc.backend})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// The SCIM server gets its token by environment, never on its command
// line, and its command line names the state directory (for the leftover
// check).
func TestSCIMArgs(t *testing.T) {
	s := newStateDir("/state")
	argv := scimOptions(&options{scimServer: "/tools/server.js", scimAddr: "127.0.0.1:8091"}, s, "/usr/bin/node", "secret").Argv()
	want := []string{"/usr/bin/node", "--diagnostic-dir=/state/scim-server", "/tools/server.js", "--port", "8091"}
	if strings.Join(argv, " ") != strings.Join(want, " ") {
		t.Errorf("the SCIM server's command line is %q, want %q", argv, want)
	}
	tok, err := newSCIMToken()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newSCIMToken()
	if len(tok) != 64 || tok == other {
		t.Errorf("newSCIMToken made %q then %q: want 64 random hex digits each time", tok, other)
	}
}
