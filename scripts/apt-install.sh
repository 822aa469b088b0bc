#!/bin/sh
# apt-install.sh NAME PACKAGE... installs Debian packages non-interactively
# and quietly for the project's test scripts (install-redis.sh,
# install-chromium.sh). It runs apt-get directly as root, through
# password-less sudo otherwise, and fails with a message naming NAME when
# neither works. The package lists are refreshed only when the first
# package is unknown. apt-get's output is shown only when it fails.
set -eu

NAME=$1
shift

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO="sudo -n"
else
	echo "$NAME: not root and no password-less sudo; install the Debian package(s) $* by hand" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "$NAME: apt-get not found; install $* by hand" >&2
	exit 1
fi

LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
run() {
	if ! $SUDO env DEBIAN_FRONTEND=noninteractive "$@" >"$LOG" 2>&1; then
		cat "$LOG" >&2
		echo "$NAME: '$*' failed" >&2
		exit 1
	fi
}
if ! apt-cache show "$1" >/dev/null 2>&1; then
	run apt-get update -qq
fi
run apt-get install -y -qq --no-install-recommends "$@"
