#!/usr/bin/env bash
# Pins every base image of the Dockerfile by digest, or refreshes the pins:
# each `FROM [--platform=…] image:tag[@sha256:…] [AS name]` becomes
# `FROM … image:tag@sha256:<digest> …`, the digest being the one the
# registry serves for image:tag now. For a multi-platform image that is the
# digest of its index (the list of per-platform images), so one pin serves
# `make docker-buildx` on every platform. The tag stays, for people to read
# (and for test/manifests, which checks the golang tag against go.mod); the
# engine pulls by the digest.
#
#   make pin-base-images          (needs a registry: gcr.io and Docker Hub)
#   DOCKERFILE=path hack/pin-base-images.sh
#
# The digest comes from $CRANE (make pin-base-images builds crane from the
# Go module proxy: hack/install-release-tools.sh crane), else `crane` on
# PATH, else `docker buildx imagetools inspect`. Nothing is written unless
# every image resolved.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=${DOCKERFILE:-$root/Dockerfile}

digest() { # digest <image:tag>: the registry's digest for it, sha256:…
	if [ -n "${CRANE:-}" ]; then
		"$CRANE" digest "$1"
	elif command -v crane >/dev/null; then
		crane digest "$1"
	elif command -v docker >/dev/null; then
		docker buildx imagetools inspect "$1" --format '{{.Manifest.Digest}}'
	else
		echo "no crane and no docker: run make pin-base-images, or set CRANE" >&2
		return 1
	fi
}

tmp=$(mktemp "$dockerfile.XXXXXX")
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [ -n "$line" ]; do
	if [[ $line =~ ^([Ff][Rr][Oo][Mm][[:space:]]+(--[a-z-]+=[^[:space:]]+[[:space:]]+)*)([^[:space:]@]+)(@sha256:[0-9a-f]{64})?(.*)$ ]]; then
		prefix=${BASH_REMATCH[1]} ref=${BASH_REMATCH[3]} rest=${BASH_REMATCH[5]}
		# A stage name (FROM builder) or an image without a tag is left alone.
		if [[ $ref == *:* && $ref != *'$'* ]]; then
			d=$(digest "$ref")
			[[ $d =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "$ref: the registry gave ${d@Q}, not a sha256 digest" >&2; exit 1; }
			echo "$ref@$d" >&2
			line="$prefix$ref@$d$rest"
		fi
	fi
	printf '%s\n' "$line"
done <"$dockerfile" >"$tmp"
chmod --reference="$dockerfile" "$tmp"
mv "$tmp" "$dockerfile"
trap - EXIT
