#!/usr/bin/env bash
# Installs the command-line tools the tests run that are neither the control
# plane (install-control-plane.sh) nor a peer (install-peers.sh), and prints
# the NAME=<abs path> lines the Makefile exports for the tests. Progress goes
# to stderr, so stdout holds only those lines. Each tool is pinned and kept
# outside the operator's go.mod:
#
#   promtool  Prometheus's rule checker and rule unit tester, built from the
#             Go module proxy with the tools module hack/tools/promtool
#             (github.com/prometheus/prometheus, version in its go.mod) into
#             bin/tools/promtool/<module version>/promtool (once per version;
#             a few minutes on 2 cores).
#   prometheus-operator CRDs  the ServiceMonitor and PrometheusRule
#             CustomResourceDefinitions of the Prometheus Operator, from its
#             Go module's example/prometheus-operator-crd/ (`go mod download`
#             into the module cache, checked against sum.golang.org), so that
#             test/manifests applies config/prometheus to the API server.
#
# Safe to run concurrently: a build goes to a temporary name beside its
# target and is renamed into place.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

# Pinned versions (promtool's is the require of hack/tools/promtool/go.mod).
PROMETHEUS_OPERATOR_VERSION=v0.94.0

pinned() { # pinned <go.mod> <module>: the version a tools module requires
	sed -nE "s@^(require)?[[:space:]]*$2 v([^ ]+).*@\\2@p" "$1" | head -n 1
}

# goenv: the tools build with their own go.mod, never the operator's (no
# workspace, no -mod flag from the caller).
goenv() { GOWORK=off GOFLAGS="$(sed -E 's/(^|[[:space:]])-mod=[^[:space:]]*//g' <<<"${GOFLAGS:-}")" "$@"; }

install_promtool() {
	local dir="$root/hack/tools/promtool" version major minor patch out tmp
	version=$(pinned "$dir/go.mod" github.com/prometheus/prometheus)
	[ -n "$version" ] || { echo "cannot read the pinned prometheus version from $dir/go.mod" >&2; exit 1; }
	out="$root/bin/tools/promtool/v$version/promtool"
	if [ ! -x "$out" ]; then
		# Module v0.MMmm.p is Prometheus vM.mm.p (v0.316.0 is 3.16.0).
		IFS=. read -r _ minor patch <<<"$version"
		major=$((minor / 100)) minor=$((minor % 100))
		echo ">> building promtool (Prometheus $major.$minor.$patch) into ${out#"$root"/} (once per version; a few minutes)" >&2
		mkdir -p "$(dirname "$out")"
		tmp="$out.tmp.$$"
		trap 'rm -f "$tmp"' EXIT
		(cd "$dir" && goenv go build -trimpath -o "$tmp" \
			-ldflags "-s -w -X github.com/prometheus/common/version.Version=$major.$minor.$patch" \
			github.com/prometheus/prometheus/cmd/promtool)
		mv "$tmp" "$out"
		trap - EXIT
	fi
	echo "PROMTOOL=$out"
}

install_prometheus_operator_crds() {
	local mod=github.com/prometheus-operator/prometheus-operator dir
	dir=$(cd "${TMPDIR:-/tmp}" && goenv go mod download -json "$mod@$PROMETHEUS_OPERATOR_VERSION" |
		sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')
	[ -n "$dir" ] && [ -f "$dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" ] ||
		{ echo "go mod download $mod@$PROMETHEUS_OPERATOR_VERSION gave no example/prometheus-operator-crd" >&2; exit 1; }
	echo "PROMETHEUS_OPERATOR_CRDS=$dir/example/prometheus-operator-crd"
}

install_promtool
install_prometheus_operator_crds
