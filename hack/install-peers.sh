#!/usr/bin/env bash
# Installs the test peers: the real servers the tests talk to on loopback
# (see internal/testpeers). Each peer is one install_<peer> function that does
# nothing when the peer is already there, and prints the NAME=<abs path> lines
# the Makefile exports for the tests (like install-control-plane.sh prints
# TEST_ASSET_*). Progress goes to stderr, so stdout holds only those lines.
#
#   mailpit  SMTP server with a web UI (the inbox) and a REST API, built from
#            its source on the Go module proxy, its UI with npm, into
#            bin/tools/mailpit/<version>/mailpit (once per version, ~1-2 min).
#   chromium Debian's chromium, for the acceptance page in a real browser,
#            installed with apt-get when missing (~30 s; needs root or sudo).
#   scim, oidc  node servers of hack/scim-server and hack/oidc-provider,
#            installed with npm ci into bin/tools/<name>/<hash>/ (seconds).
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

# A Mailpit built with its web UI embeds this file; one built without it (by
# `go install`, as this script did up to now) does not, and is built again.
MAILPIT_UI_FILE=ui/dist/app.js

# install_mailpit: Mailpit with its web UI, which `go install` leaves out (the
# UI's assets are built with npm, and not in the module). From its module
# source (`go mod download`; read-only in the module cache, so copied to a
# temporary directory): `npm ci` installs the exact packages of its
# package-lock.json from the npm registry, `npm run package` bundles the UI
# with esbuild into server/ui/dist/, and `go build` embeds it. `npm ci` runs
# no install scripts: the build needs none (esbuild's binary is its
# @esbuild/<platform> package, from the registry), and some would reach past
# the npm registry (an analytics ping; node-gyp fetching Node's headers for
# optional native modules). Needs node (>= 18) and npm, installed with
# apt-get when missing.
install_mailpit() {
	local mod=github.com/axllent/mailpit out="$root/bin/tools/mailpit/$MAILPIT_VERSION/mailpit"
	if [ -x "$out" ] && grep -qaF "$MAILPIT_UI_FILE" "$out"; then
		echo "MAILPIT=$out"
		return 0
	fi
	apt_install node nodejs
	apt_install npm npm
	echo ">> building $mod@$MAILPIT_VERSION with its web UI into ${out#"$root"/} (once per version; a minute or two)" >&2
	mkdir -p "$(dirname "$out")"
	local tmp goflags src
	tmp=$(mktemp -d "$out.tmp.XXXXXX")
	tmps+=("$tmp")
	# Outside the repository and with GOWORK off, so the operator's go.mod is
	# neither read nor touched: Mailpit's own go.mod and go.sum pin its
	# dependencies (a -mod flag from the environment is dropped).
	goflags=$(sed -E 's/(^|[[:space:]])-mod=[^[:space:]]*//g' <<<"${GOFLAGS:-}")
	src=$(cd "$tmp" && GOWORK=off GOFLAGS="$goflags" go mod download -json "$mod@$MAILPIT_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	if [ ! -f "$src/package-lock.json" ]; then
		echo "go mod download $mod@$MAILPIT_VERSION gave no source directory with a package-lock.json ('$src')" >&2
		return 1
	fi
	cp -R "$src" "$tmp/src"
	chmod -R u+w "$tmp/src"
	(
		cd "$tmp/src"
		# --include=dev: the bundler is a devDependency, wanted even when
		# NODE_ENV=production says to leave those out.
		npm ci --include=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error
		npm run package --silent
	) >&2
	(cd "$tmp/src" && GOWORK=off GOFLAGS="$goflags" CGO_ENABLED=0 go build -trimpath -o "$tmp/mailpit" \
		-ldflags "-s -w -X $mod/config.Version=$MAILPIT_VERSION" .)
	if ! grep -qaF "$MAILPIT_UI_FILE" "$tmp/mailpit"; then
		echo "the Mailpit just built has no web UI ($MAILPIT_UI_FILE is not embedded): see npm's output above" >&2
		return 1
	fi
	mv -f "$tmp/mailpit" "$out"
	echo "MAILPIT=$out"
}

# apt_install <command> <package>...: install Debian packages unless
# <command> is already on PATH.
apt_install() {
	local cmd=$1
	shift
	if command -v "$cmd" >/dev/null 2>&1; then
		return 0
	fi
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || { echo "installing $* needs root: run as root, or install them with apt-get" >&2; return 1; }
		sudo="sudo"
	fi
	echo ">> installing $* with apt-get (once)" >&2
	# Serialised: two runs at once must not fight over dpkg's lock.
	(
		flock 9
		command -v "$cmd" >/dev/null 2>&1 && exit 0
		$sudo apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
	) 9>"${TMPDIR:-/tmp}/partnerops-apt.lock"
}

install_chromium() {
	apt_install chromium chromium fonts-dejavu-core
	echo "CHROMIUM=$(command -v chromium)"
}

# install_slapd: Debian's OpenLDAP server (slapd, slapadd in /usr/sbin, often
# not on a user's PATH, hence the absolute path) and ldap-utils, for
# internal/testpeers/slapd, which runs its own slapd per test on a free
# loopback port with a throwaway cn=config. The package must not set up or
# start a system directory: debconf is told "no configuration" (so there is
# no default database and nothing for the init script to start), and while
# apt runs, a policy-rc.d that refuses every service start is put in place
# when the machine has none.
install_slapd() {
	local slapd=/usr/sbin/slapd
	if [ ! -x "$slapd" ] || ! [ -x /usr/bin/ldapsearch ]; then
		local sudo="" policy=/usr/sbin/policy-rc.d ours=""
		if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
		echo "slapd slapd/no_configuration boolean true" | $sudo debconf-set-selections >&2 || true
		if [ ! -e "$policy" ] && printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null 2>&1; then
			$sudo chmod 755 "$policy" && ours=1
		fi
		local rc=0
		apt_install "$slapd" slapd ldap-utils && apt_install /usr/bin/ldapsearch ldap-utils || rc=$?
		if [ -n "$ours" ]; then $sudo rm -f "$policy"; fi
		[ $rc -eq 0 ] || return $rc
	fi
	echo "SLAPD=$slapd"
}

# install_node_peer <dir> <VAR>: the node server of hack/<dir>,
# for internal/testpeers. `npm ci` installs it into bin/tools/<dir>/<hash>/,
# <hash> being that of its package.json, package-lock.json and server.js
# (internal/testpeers/peer.NodeScript computes the same): a change to any of
# them installs anew (from npm's cache when it can), an installed one is used
# as is, offline. Prints <VAR>=<abs path of server.js>. Needs node and npm,
# installed with apt-get when missing.
install_node_peer() {
	local name=$1 var=$2 src="$root/hack/$1" hash dir tmp
	hash=$(cat "$src/package.json" "$src/package-lock.json" "$src/server.js" | sha256sum | cut -c1-16)
	dir="$root/bin/tools/$name/$hash"
	if [ ! -d "$dir" ]; then
		apt_install node nodejs
		apt_install npm npm
		echo ">> installing hack/$name with npm ci into ${dir#"$root"/} (once per change; seconds)" >&2
		mkdir -p "$(dirname "$dir")"
		tmp=$(mktemp -d "$dir.tmp.XXXXXX")
		tmps+=("$tmp")
		cp "$src/package.json" "$src/package-lock.json" "$src/server.js" "$tmp/"
		(cd "$tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error) >&2
		# A concurrent run may have put the same files in place first.
		mv -T "$tmp" "$dir" 2>/dev/null || [ -d "$dir" ]
	fi
	echo "$var=$dir/server.js"
}

# install_scim: the SCIM 2.0 server of hack/scim-server (SCIMMY's Express
# routers over an in-memory store, exact versions in its package-lock.json),
# for internal/testpeers/scim. Node >= 18.
install_scim() { install_node_peer scim-server SCIM_SERVER; }

# install_oidc: the OpenID Provider of hack/oidc-provider (the npm package
# oidc-provider, OpenID Certified, pinned exactly in its package.json and
# package-lock.json), for internal/testpeers/oidc and `make dev
# SIGNIN=oidc`. Node >= 20.19 (it warns below 22, and works).
install_oidc() { install_node_peer oidc-provider OIDC_PROVIDER; }

# Later peers follow the same shape, e.g.
#   install_slapd()    { apt_install slapd slapd ldap-utils; echo "SLAPD=$(command -v slapd)"; }
#   install_scim()     { npm install into bin/tools/scim/<version> unless present; echo "SCIM_SERVER=..."; }
install_mailpit
install_chromium
install_slapd
install_scim
install_oidc
