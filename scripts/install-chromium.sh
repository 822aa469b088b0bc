#!/bin/sh
# install-chromium.sh installs Debian's headless-capable Chromium
# (/usr/bin/chromium) for the browser tests in adapters/web, when missing.
#
# Non-interactive and quiet. Runs apt-get directly as root, through sudo
# (non-interactive, -n) otherwise; fails with a message when neither works.
# Exit status 0 means /usr/bin/chromium exists afterwards.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO="sudo -n"
else
	echo "install-chromium: not root and no password-less sudo; install the Debian 'chromium' package by hand" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: apt-get not found; install Chromium by hand (expected at $CHROMIUM)" >&2
	exit 1
fi

LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
run() {
	# Quiet unless it fails: then show what apt-get said.
	if ! $SUDO env DEBIAN_FRONTEND=noninteractive "$@" >"$LOG" 2>&1; then
		cat "$LOG" >&2
		echo "install-chromium: '$*' failed" >&2
		exit 1
	fi
}
# Refresh the package lists only when chromium is not known yet.
if ! apt-cache show chromium >/dev/null 2>&1; then
	run apt-get update -qq
fi
run apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
# Emoji glyphs (the classroom page uses ✋) make screenshots readable; optional.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	fonts-noto-color-emoji >/dev/null 2>&1 || true

if [ ! -x "$CHROMIUM" ]; then
	echo "install-chromium: apt-get finished but $CHROMIUM is missing" >&2
	exit 1
fi
"$CHROMIUM" --version 2>/dev/null || true
