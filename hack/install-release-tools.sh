#!/usr/bin/env bash
# Builds the release tools from the Go module proxy (no release downloads
# are reachable here) and prints the NAME=<abs path> lines the Makefile and
# test/release read. Progress goes to stderr, so stdout holds only those
# lines. The versions are the requires of the tools module
# hack/tools/goreleaser/go.mod (its own go.mod, out of the operator's):
#
#   goreleaser       the release build (.goreleaser.yaml):
#                    bin/tools/goreleaser/<version>/goreleaser
#   cyclonedx-gomod  the SBOM of each binary, which GoReleaser runs from PATH:
#                    bin/tools/cyclonedx-gomod/<version>/cyclonedx-gomod
#   crane            the registry client that pins the Dockerfile's base
#                    images by digest (hack/pin-base-images.sh):
#                    bin/tools/crane/<version>/crane
#
# With arguments (goreleaser, cyclonedx-gomod, crane), only those. A binary
# already there is reused. The first build of GoReleaser takes
# several minutes on 2 cores (its dependency tree is large: docs/releasing.md
# has the numbers); the other two about a minute each. Safe to run
# concurrently: a build goes to a temporary name beside its target and is
# renamed into place.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/hack/tools/goreleaser"

pinned() { # pinned <module>: the version the tools module requires
	sed -nE "s@^(require)?[[:space:]]*$1 (v[^ ]+).*@\\2@p" "$dir/go.mod" | head -n 1
}

# goenv: the tools build with their own go.mod, never the operator's (no
# workspace, no -mod flag from the caller).
goenv() { GOWORK=off GOFLAGS="$(sed -E 's/(^|[[:space:]])-mod=[^[:space:]]*//g' <<<"${GOFLAGS:-}")" "$@"; }

wanted() { [ $# -eq 0 ] || [[ " $* " == *" $binary "* ]]; }

build() { # build <NAME> <module> <package> <binary> <ldflags>
	local name=$1 module=$2 pkg=$3 binary=$4 ldflags=$5 version out tmp
	wanted "${tools[@]}" || return 0
	version=$(pinned "$module")
	[ -n "$version" ] || { echo "cannot read the pinned version of $module from $dir/go.mod" >&2; exit 1; }
	out="$root/bin/tools/$binary/$version/$binary"
	if [ ! -x "$out" ]; then
		echo ">> building $binary $version into ${out#"$root"/} (once per version)" >&2
		mkdir -p "$(dirname "$out")"
		tmp="$out.tmp.$$"
		trap 'rm -rf "$tmp" "$tmp.d"' EXIT
		if [ "$ldflags" = install ]; then
			# `go install pkg@version`: the tool's own go.mod, and its version
			# in its build information (cyclonedx-gomod writes that into every
			# SBOM it makes; it has no -X for it).
			mkdir -p "$tmp.d"
			(cd "$dir" && GOBIN="$tmp.d" goenv go install -trimpath -ldflags "-s -w" "$pkg@$version")
			mv "$tmp.d/$binary" "$tmp" && rmdir "$tmp.d"
		else
			(cd "$dir" && goenv go build -trimpath -ldflags "-s -w ${ldflags//@VERSION@/$version}" -o "$tmp" "$pkg")
		fi
		mv "$tmp" "$out"
		trap - EXIT
	fi
	echo "$name=$out"
}

tools=("$@")
build GORELEASER github.com/goreleaser/goreleaser/v2 github.com/goreleaser/goreleaser/v2 goreleaser \
	"-X main.version=@VERSION@ -X main.builtBy=partnerops-hack"
build CYCLONEDX_GOMOD github.com/CycloneDX/cyclonedx-gomod github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod cyclonedx-gomod \
	install
build CRANE github.com/google/go-containerregistry github.com/google/go-containerregistry/cmd/crane crane \
	"-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=@VERSION@"
