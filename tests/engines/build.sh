#!/usr/bin/env bash
# Builds today's engines for the end-to-end tests into $1 (a cache directory
# outside the clone), at the versions versions.env pins: dockerd, the docker
# CLI and its buildx plugin, containerd with ctr and its runc shim, and runc.
# FACTS.md ("Today's engines") has why each is built the way it is.
# One program at a time: Go builds are CPU heavy on a small shared machine.
# Idempotent: a directory holding a complete build (its "stamp" file, written
# last) is left as it is; an interrupted build leaves only "$1.tmp", which the
# next run starts over.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$out/stamp" ] && exit 0
# shellcheck source=versions.env
. "$here/versions.env"

rm -rf "$out.tmp"
mkdir -p "$out.tmp/cli-plugins" "$out.tmp/work"
bin=$out.tmp
work=$out.tmp/work

step() { echo "  $1 ($(date +%H:%M:%S))"; }

step "runc $RUNC_VERSION"
# runc needs libseccomp's headers (libseccomp-dev), which only a build needs:
# unpack the package here instead of installing it. The library itself
# (libseccomp2) is on every Debian system.
(cd "$work" && apt-get download libseccomp-dev >/dev/null)
dpkg-deb -x "$work"/libseccomp-dev_*.deb "$work/seccomp"
libdir=$(dirname "$(find "$work/seccomp" -name libseccomp.pc)")
libdir=${libdir%/pkgconfig}
system_lib=$(find /usr/lib /lib -name 'libseccomp.so.2' 2>/dev/null | head -n 1)
[ -n "$system_lib" ] || { echo "build.sh: libseccomp.so.2 is missing: apt-get install libseccomp2" >&2; exit 1; }
# The package's libseccomp.so points at the library package's file, which is not unpacked here.
ln -sf "$system_lib" "$libdir/libseccomp.so"
PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$work/seccomp" CGO_ENABLED=1 \
  GOBIN="$bin" go install -trimpath -tags seccomp \
  -ldflags "-s -w -X main.version=$RUNC_VERSION" \
  "github.com/opencontainers/runc@v$RUNC_VERSION"

step "containerd $CONTAINERD_VERSION"
for program in containerd ctr containerd-shim-runc-v2; do
  GOBIN="$bin" go install -trimpath -tags no_btrfs \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/$program@v$CONTAINERD_VERSION"
done

step "dockerd $DOCKER_VERSION"
# Without the version the engine calls itself "library-import".
GOBIN="$bin" go install -trimpath -tags "exclude_graphdriver_btrfs no_btrfs" \
  -ldflags "-s -w -X github.com/moby/moby/v2/dockerversion.Version=$DOCKER_VERSION" \
  "github.com/moby/moby/v2/cmd/dockerd@$MOBY_MODULE_VERSION"

step "docker CLI $DOCKER_CLI_VERSION"
# The CLI is no Go module of its own (its go.mod is vendor.mod): build a copy
# of its source with vendor.mod as go.mod, fetching the dependencies.
source=$(go mod download -json "github.com/docker/cli@v$DOCKER_CLI_VERSION+incompatible" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$source" ] || { echo "build.sh: go mod download gave no source for the docker CLI" >&2; exit 1; }
cp -r "$source" "$work/cli"
chmod -R u+w "$work/cli"
(
  cd "$work/cli"
  cp vendor.mod go.mod
  cp vendor.sum go.sum
  rm -rf vendor
  GOFLAGS=-mod=mod go build -trimpath -o "$bin/docker" \
    -ldflags "-s -w -X github.com/docker/cli/cli/version.Version=$DOCKER_CLI_VERSION" ./cmd/docker
)

step "buildx $BUILDX_VERSION"
GOBIN="$work" go install -trimpath \
  -ldflags "-s -w -X github.com/docker/buildx/version.Version=v$BUILDX_VERSION" \
  "github.com/docker/buildx/cmd/buildx@v$BUILDX_VERSION"
# The docker CLI finds plugins by this name in a cli-plugins directory.
mv "$work/buildx" "$bin/cli-plugins/docker-buildx"

rm -rf "$work"
# The directory's name is the versions: tests/env/engines.ts compares the stamp with it.
basename "$out" > "$bin/stamp"
rm -rf "$out"
mv "$out.tmp" "$out"
step "done"
