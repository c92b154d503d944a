#!/usr/bin/env bash
# Copies the config/ files the Helm chart renders into
# charts/partnerops/files/config/ (a chart cannot read files outside its own
# directory): the CRDs (generated), the manager's RBAC (role.yaml generated,
# the others hand-written), the tenant roles, the admission policies and the
# Prometheus alerts. The chart's templates
# take the parts they need from these copies, so the chart and
# config/default install the same thing. `make manifests` runs it;
# hack/verify-generated.sh fails when the copies are stale. Run from the
# repository's root, or give the root as the only argument.
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

files=(
	config/crd/bases/*.yaml
	config/rbac/role.yaml
	config/rbac/leader_election_role.yaml
	config/rbac/metrics_auth_role.yaml
	config/rbac/tenant_roles.yaml
	config/admission/confirm_deletion.yaml
	config/admission/grants_finalizer.yaml
	config/admission/requested_by.yaml
	config/prometheus/rules/prometheusrule.yaml
)

dest=charts/partnerops/files
rm -rf "$dest/config"
for f in "${files[@]}"; do
	mkdir -p "$dest/$(dirname "$f")"
	cp "$f" "$dest/$f"
done
