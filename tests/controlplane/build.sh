#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager for the end-to-end
# tests into $1 (a cache directory outside the clone). Idempotent: a directory
# holding a complete build (its "stamp" file) is left as it is.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$out/stamp" ] && exit 0

k8s=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2} $1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/go.mod")
[ -n "$k8s" ] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
minor=$(echo "$k8s" | cut -d. -f2)
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$k8s"

mkdir -p "$out.tmp"
cd "$here"
# One package per go build keeps peak memory low on a small machine.
go build -trimpath -ldflags "$ldflags" -o "$out.tmp/etcd" ./etcd
go build -trimpath -ldflags "$ldflags" -o "$out.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -ldflags "$ldflags" -o "$out.tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
echo "$k8s" > "$out.tmp/stamp"
rm -rf "$out"
mv "$out.tmp" "$out"
