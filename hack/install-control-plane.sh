#!/usr/bin/env bash
# Builds the kube-apiserver, kubectl and etcd that envtest and `make dev` run, from the
# Go module proxy (no release downloads are reachable here), into
#   bin/k8s/<kubernetes version>/kube-apiserver and kubectl (linked as bin/kubectl),
#   and clusterrole-aggregation (kube-controller-manager's ClusterRole
#   aggregation controller alone: envtest runs no controller-manager)
#   bin/etcd/<etcd version>/etcd
# A binary already there is reused: the first run on a new machine takes about
# 8 minutes on 2 cores, later runs are instant. See DEVELOPERS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pinned() { # pinned <go.mod> <module>: the version a tools module requires
	sed -nE "s@^(require)?[[:space:]]*$2 v([^ ]+).*@\\2@p" "$1" | head -n 1
}
k8s_version=$(pinned "$root/hack/tools/kube/go.mod" k8s.io/kubernetes)
etcd_version=$(pinned "$root/hack/tools/etcd/go.mod" go.etcd.io/etcd/server/v3)
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || { echo "cannot read the pinned versions from hack/tools/*/go.mod" >&2; exit 1; }

build() { # build <module dir> <package> <output> <ldflags>
	local dir=$1 pkg=$2 out=$3 ldflags=$4
	if [ -x "$out" ]; then
		return 0
	fi
	echo ">> building $pkg into ${out#"$root"/} (once per version; a few minutes)" >&2
	mkdir -p "$(dirname "$out")"
	local tmp="$out.tmp.$$"
	trap 'rm -f "$tmp"' EXIT
	(cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg")
	mv "$tmp" "$out"
	trap - EXIT
}

v=k8s.io/component-base/version
IFS=. read -r major minor _ <<<"$k8s_version"
build "$root/hack/tools/kube" k8s.io/kubernetes/cmd/kube-apiserver \
	"$root/bin/k8s/$k8s_version/kube-apiserver" \
	"-s -w -X $v.gitVersion=v$k8s_version -X $v.gitMajor=$major -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
build "$root/hack/tools/kube" k8s.io/kubernetes/cmd/kubectl \
	"$root/bin/k8s/$k8s_version/kubectl" \
	"-s -w -X $v.gitVersion=v$k8s_version -X $v.gitMajor=$major -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
build "$root/hack/tools/kube" ./clusterrole-aggregation \
	"$root/bin/k8s/$k8s_version/clusterrole-aggregation" "-s -w"
build "$root/hack/tools/etcd" go.etcd.io/etcd/server/v3 \
	"$root/bin/etcd/$etcd_version/etcd" "-s -w"
# bin/kubectl: a kubectl of the same version as the API server.
ln -sfn "k8s/$k8s_version/kubectl" "$root/bin/kubectl"

# Print the paths for the Makefile (envtest reads these variables).
echo "TEST_ASSET_KUBE_APISERVER=$root/bin/k8s/$k8s_version/kube-apiserver"
echo "TEST_ASSET_ETCD=$root/bin/etcd/$etcd_version/etcd"
echo "TEST_ASSET_KUBECTL=$root/bin/k8s/$k8s_version/kubectl"
echo "TEST_ASSET_CLUSTERROLE_AGGREGATION=$root/bin/k8s/$k8s_version/clusterrole-aggregation"
