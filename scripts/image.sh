#!/usr/bin/env bash
# image.sh builds the gateway's container image with podman (make image):
# the static binary (CGO_ENABLED=0, plugins embedded) and the image's
# filesystem are prepared on this host in bin/image/rootfs, then
# Containerfile assembles them FROM scratch (no base image to pull: see its
# header; Containerfile.multistage is the variant for CI with a registry).
#
#   scripts/image.sh                         → localhost/classgate:latest
#   IMAGE=classgate:test ARCH=arm64 scripts/image.sh
#   ARCHIVE=bin/image/classgate.tar scripts/image.sh   also saves it (docker-archive)
#
# Installs podman through apt when missing (scripts/install-podman.sh) and
# uses Debian's CA bundle (ca-certificates) the same way. Repeated runs are
# fast: Go's build cache and podman's layer cache keep what did not change.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-classgate:latest}
ARCH=${ARCH:-$(go env GOARCH)}
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
CTX=${CTX:-bin/image}
CA=/etc/ssl/certs/ca-certificates.crt

scripts/install-podman.sh >/dev/null
if [ ! -s "$CA" ]; then
	sh scripts/apt-install.sh image ca-certificates
fi
plugins/build.sh

root=$CTX/rootfs
mkdir -p "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH go build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION" -o "$root/gateway.new" ./cmd/gateway
# Keep the old file (and its mtime, which podman's layer cache keys on
# along with the content) when the binary did not change.
changed=1
if cmp -s "$root/gateway.new" "$root/gateway"; then
	rm "$root/gateway.new"
	changed=0
else
	mv "$root/gateway.new" "$root/gateway"
fi
cmp -s "$CA" "$root/etc/ssl/certs/ca-certificates.crt" || cp "$CA" "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\nclassgate:x:65532:65532:classgate:/tmp:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nclassgate:x:65532:\n' >"$root/etc/group"
chmod 0755 "$root/gateway"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/ssl/certs/ca-certificates.crt"

# The plugins pre-compiled by the binary itself (-check compiles every
# configured plugin into the cache directory), so a container starts in
# well under a second instead of compiling them (seconds; wazero keys the
# cache by its version and architecture: a miss just compiles and adds).
# Only for this machine's architecture: another one would need its CPU.
# Kept while the binary (and so the plugins it embeds) is unchanged.
cache=$CTX/wazero-cache
if [ "$changed" = 1 ] || [ ! -d "$cache" ]; then
	rm -rf "$cache" && mkdir -p "$cache"
fi
if [ "$ARCH" = "$(go env GOHOSTARCH)" ]; then
	env -i CLASSGATE_AUTH__HS256_SECRET=image-build-secret-0123456789abcdef \
		CLASSGATE_PLUGINS__CACHE_DIR="$PWD/$cache" "$root/gateway" -check >/dev/null
else
	echo "image: $ARCH is not this machine's architecture: no pre-compiled plugin cache (containers compile at start)" >&2
fi

# --format docker keeps the HEALTHCHECK (the OCI format has none).
podman build --quiet --format docker --platform "linux/$ARCH" \
	--build-arg VERSION="$VERSION" -f Containerfile -t "$IMAGE" "$CTX" >/dev/null
if [ -n "${ARCHIVE:-}" ]; then
	rm -f "$ARCHIVE"
	podman image save --quiet --format docker-archive -o "$ARCHIVE" "$IMAGE"
fi
echo "image $IMAGE ($ARCH, $VERSION): $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"
