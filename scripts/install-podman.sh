#!/bin/sh
# install-podman.sh installs Debian's podman (with its OCI runtime and
# storage helpers) for `make image` and the container image test, when
# missing. It never starts a service or pulls an image.
# Exit status 0 means podman is on PATH afterwards.
set -eu

if command -v podman >/dev/null 2>&1; then
	exit 0
fi
sh "$(dirname "$0")/apt-install.sh" install-podman podman crun fuse-overlayfs uidmap
if ! command -v podman >/dev/null 2>&1; then
	echo "install-podman: apt-get finished but podman is not on PATH" >&2
	exit 1
fi
podman --version 2>/dev/null || true
