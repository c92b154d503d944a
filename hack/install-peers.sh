#!/usr/bin/env bash
# Installs the test peers: the real servers the tests talk to on loopback
# (see internal/testpeers). Each peer is one install_<peer> function that does
# nothing when the peer is already there, and prints the NAME=<abs path> lines
# the Makefile exports for the tests (like install-control-plane.sh prints
# TEST_ASSET_*). Progress goes to stderr, so stdout holds only those lines.
#
#   mailpit  SMTP server with a REST API, built from the Go module proxy into
#            bin/tools/mailpit/<version>/mailpit (once per version, ~1-2 min).
#
# Safe to run concurrently: a build goes to a temporary name beside its
# target and is renamed into place (atomic on one file system).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

# Pinned versions.
MAILPIT_VERSION=v1.27.11

# Temporary paths removed on exit, whichever function made them.
tmps=()
cleanup() { if [ ${#tmps[@]} -gt 0 ]; then rm -rf "${tmps[@]}"; fi; }
trap cleanup EXIT

# go_install <module path>@<version> <binary name> <output> [ldflags]: `go
# install` the module's main package into <output>, unless it is already there.
go_install() {
	local pkg=$1 name=$2 out=$3 ldflags=${4:-}
	if [ -x "$out" ]; then
		return 0
	fi
	echo ">> building $pkg into ${out#"$root"/} (once per version; a minute or two)" >&2
	mkdir -p "$(dirname "$out")"
	local tmp
	tmp=$(mktemp -d "$out.tmp.XXXXXX")
	tmps+=("$tmp")
	# Outside the repository and with GOWORK off, so the operator's go.mod is
	# neither read nor touched: the tool's own go.mod pins its dependencies
	# (`go install pkg@version` also refuses a -mod flag, so drop any).
	local goflags
	goflags=$(sed -E 's/(^|[[:space:]])-mod=[^[:space:]]*//g' <<<"${GOFLAGS:-}")
	(cd "$tmp" && GOWORK=off GOFLAGS="$goflags" GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "$pkg")
	mv -f "$tmp/$name" "$out"
}

install_mailpit() {
	local out="$root/bin/tools/mailpit/$MAILPIT_VERSION/mailpit"
	go_install "github.com/axllent/mailpit@$MAILPIT_VERSION" mailpit "$out" \
		"-s -w -X github.com/axllent/mailpit/config.Version=$MAILPIT_VERSION"
	echo "MAILPIT=$out"
}

# Later peers follow the same shape, e.g.
#   install_slapd()    { command -v slapd >/dev/null || apt-get install -y slapd ...; echo "SLAPD=$(command -v slapd)"; }
#   install_scim()     { npm install into bin/tools/scim/<version> unless present; echo "SCIM_SERVER=..."; }
#   install_chromium() { command -v chromium >/dev/null || apt-get install -y chromium; echo "CHROMIUM=..."; }
install_mailpit
