#!/usr/bin/env bash
# Runs the pinned GoReleaser (built by hack/install-release-tools.sh, with
# cyclonedx-gomod, which its sboms step runs, put on PATH) at the
# repository's root with the arguments given:
#
#   hack/goreleaser.sh check
#   hack/goreleaser.sh release --snapshot --clean     (make release-snapshot)
#
# GoReleaser reads the repository's remote URL before anything else it
# asks git, and without one (a clone made without a remote, as some CI
# checkouts are) a snapshot takes none of git's answers: its binaries would
# say commit "none". So a repository without a remote gets the project's
# URL for this command only (git's GIT_CONFIG_* variables; .git/config is
# not touched).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=$("$root/hack/install-release-tools.sh" goreleaser cyclonedx-gomod)
goreleaser=$(sed -n 's/^GORELEASER=//p' <<<"$tools")
cyclonedx=$(sed -n 's/^CYCLONEDX_GOMOD=//p' <<<"$tools")

cd "$root"
if [ -z "$(git remote)" ]; then
	n=${GIT_CONFIG_COUNT:-0}
	export "GIT_CONFIG_KEY_$n=remote.origin.url" "GIT_CONFIG_VALUE_$n=https://github.com/partnerops/partnerops.git"
	export GIT_CONFIG_COUNT=$((n + 1))
fi
PATH="$(dirname "$cyclonedx"):$PATH" exec "$goreleaser" "$@"
