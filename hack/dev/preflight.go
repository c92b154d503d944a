package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/partnerops/partnerops/internal/config"
	"github.com/partnerops/partnerops/internal/testenv"
)

// binaries are the programs dev runs besides the manager and Mailpit: the
// control plane, and node for the SCIM server.
type binaries struct {
	apiserver, etcd string
	node            string
}

// preflight checks everything that can be checked before starting anything,
// so that a mistake is reported at once and clearly.
func preflight(o *options) (binaries, *config.Config, error) {
	apiserver, etcd, err := testenv.Binaries()
	if err != nil {
		return binaries{}, nil, fmt.Errorf("finding etcd and kube-apiserver (run `make dev`, which builds them): %w", err)
	}
	if err := checkExecutable(o.manager); err != nil {
		return binaries{}, nil, fmt.Errorf("the manager binary %w: run `make dev`, which builds it (or go build -o bin/partnerops ., or point --manager at it)", err)
	}
	if o.mailpit == "" {
		return binaries{}, nil, fmt.Errorf("no Mailpit binary: --mailpit is empty (its default is $MAILPIT, else the newest under %s): run `make dev`, which builds it with hack/install-peers.sh (or point --mailpit at one)",
			filepath.Join(o.root, "bin", "tools", "mailpit"))
	}
	if err := checkExecutable(o.mailpit); err != nil {
		return binaries{}, nil, fmt.Errorf("the Mailpit binary %w: run `make dev`, which builds it with hack/install-peers.sh (or point --mailpit at one)", err)
	}
	if o.scimServer == "" {
		return binaries{}, nil, fmt.Errorf("no SCIM server: --scim-server is empty (its default is $SCIM_SERVER, else the copy for the current hack/scim-server under %s): run `make dev`, which installs it with hack/install-peers.sh (or point --scim-server at its server.js)",
			filepath.Join(o.root, "bin", "tools", "scim-server"))
	}
	if fi, err := os.Stat(o.scimServer); err != nil || fi.IsDir() {
		return binaries{}, nil, fmt.Errorf("the SCIM server %s is not a file: run `make dev`, which installs it with hack/install-peers.sh (or point --scim-server at its server.js)", o.scimServer)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return binaries{}, nil, fmt.Errorf("no node on PATH to run the SCIM server: run `make dev`, whose hack/install-peers.sh installs Debian's nodejs (%w)", err)
	}
	cfg, err := config.Load(o.config)
	if err != nil {
		return binaries{}, nil, fmt.Errorf("the manager would refuse its configuration (--config): %w", err)
	}
	if err := checkMailpitConfig(o, cfg); err != nil {
		return binaries{}, nil, err
	}
	if err := checkSCIMConfig(o, cfg); err != nil {
		return binaries{}, nil, err
	}
	addrs := []struct{ flag, addr string }{
		{"--metrics-bind-address", o.metricsAddr},
		{"--health-probe-bind-address", o.probeAddr},
		{"acceptance.bindAddress in " + o.config, cfg.Acceptance.BindAddress},
		{"--mailpit-smtp-address", o.mailpitSMTPAddr},
		{"--mailpit-http-address", o.mailpitHTTPAddr},
		{"--scim-address", o.scimAddr},
	}
	if addr, _, ok := partnerHubAddr(cfg); ok {
		addrs = append(addrs, struct{ flag, addr string }{"acceptance.partnerHubURL in " + o.config + " (dev serves a Partner Hub stand-in there)", addr})
	}
	for _, a := range addrs {
		if err := checkFree(a.addr); err != nil {
			return binaries{}, nil, fmt.Errorf("%s: %w (is another `make dev` running?)", a.flag, err)
		}
	}
	return binaries{apiserver: apiserver, etcd: etcd, node: node}, cfg, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s is missing", path)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// checkFree reports whether addr can be listened on.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return l.Close()
}
