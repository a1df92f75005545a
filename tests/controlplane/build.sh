#!/usr/bin/env bash
# Builds Kubernetes programs for the end-to-end tests into $1 (a cache
# directory outside the clone), from the k8s.io/kubernetes version go.mod
# pins: the control plane (etcd, kube-apiserver, kube-controller-manager) into
# one directory, the node (kubelet, kube-scheduler, kube-proxy, kubectl) into
# another with a stamp of its own. `etcd` is this module's ./etcd; any other
# name is k8s.io/kubernetes/cmd/<name>. Idempotent: a directory holding a
# complete build (its "stamp" file) is left as it is.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT_DIR PROGRAM...}
shift
[ $# -gt 0 ] || { echo "usage: build.sh OUTPUT_DIR PROGRAM..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$out/stamp" ] && exit 0

k8s=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2} $1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/go.mod")
[ -n "$k8s" ] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
minor=$(echo "$k8s" | cut -d. -f2)
pkg=k8s.io/component-base/version
# Without these the programs report v0.0.0-master, and the API server's skew checks see that.
ldflags="-s -w -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$k8s"

mkdir -p "$out.tmp"
cd "$here"
# One package per go build keeps peak memory low on a small machine.
for program in "$@"; do
  if [ "$program" = etcd ]; then source=./etcd; else source="k8s.io/kubernetes/cmd/$program"; fi
  go build -trimpath -ldflags "$ldflags" -o "$out.tmp/$program" "$source"
done
echo "$k8s" > "$out.tmp/stamp"
rm -rf "$out"
mv "$out.tmp" "$out"
