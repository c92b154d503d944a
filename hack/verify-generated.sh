#!/usr/bin/env bash
# Fails when the committed generated files (CRDs, RBAC, deepcopy) differ from
# what controller-gen makes of the current Go code, or the Helm chart's
# copies of config/ (charts/partnerops/files) from config/. It generates
# into a copy of the tree, so a developer's uncommitted work is never
# touched.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
gen=${CONTROLLER_GEN:?set CONTROLLER_GEN to the controller-gen binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The copy: tracked and untracked files that are not ignored (no bin/).
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tmp" 2>/dev/null || true)
(
	cd "$tmp"
	"$gen" object paths="./api/..."
	"$gen" rbac:roleName=manager-role crd paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/chart-files.sh "$tmp"
)

status=0
for dir in api config/crd/bases config/rbac charts/partnerops/files; do
	if ! diff -r -q "$root/$dir" "$tmp/$dir" >/dev/null 2>&1; then
		echo "Generated files in $dir are stale:" >&2
		diff -r -u "$root/$dir" "$tmp/$dir" >&2 || true
		status=1
	fi
done
if [ "$status" -ne 0 ]; then
	echo >&2
	echo "Run 'make manifests generate' and commit the result." >&2
fi
exit "$status"
