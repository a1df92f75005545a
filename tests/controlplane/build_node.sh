#!/usr/bin/env bash
# Builds the node's programs for the end-to-end tests into $1 (a cache
# directory outside the clone, next to the control plane's but with a stamp of
# its own, so that a build.sh of another checkout never sees it): kubelet,
# kube-scheduler, kube-proxy and kubectl, from the same k8s.io/kubernetes
# module as the control plane. Idempotent: a directory holding a complete build
# (its "stamp" file) is left as it is.
set -euo pipefail
out=${1:?usage: build_node.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$out/stamp" ] && exit 0

k8s=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2} $1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/go.mod")
[ -n "$k8s" ] || { echo "build_node.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
minor=$(echo "$k8s" | cut -d. -f2)
pkg=k8s.io/component-base/version
# Without these the kubelet reports v0.0.0-master, and the API server's skew checks see that.
ldflags="-s -w -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$k8s"

mkdir -p "$out.tmp"
cd "$here"
# One package per go build keeps peak memory low on a small machine.
for cmd in kubelet kube-scheduler kube-proxy kubectl; do
  go build -trimpath -ldflags "$ldflags" -o "$out.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
echo "$k8s" > "$out.tmp/stamp"
rm -rf "$out"
mv "$out.tmp" "$out"
