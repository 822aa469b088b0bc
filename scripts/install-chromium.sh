#!/bin/sh
# install-chromium.sh installs Debian's headless-capable Chromium
# (/usr/bin/chromium) for the browser tests, when missing.
# Exit status 0 means /usr/bin/chromium exists afterwards.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
	exit 0
fi
sh "$(dirname "$0")/apt-install.sh" install-chromium chromium fonts-dejavu-core
# Emoji glyphs (the classroom page uses ✋) make screenshots readable; optional.
sh "$(dirname "$0")/apt-install.sh" install-chromium fonts-noto-color-emoji >/dev/null 2>&1 || true

if [ ! -x "$CHROMIUM" ]; then
	echo "install-chromium: apt-get finished but $CHROMIUM is missing" >&2
	exit 1
fi
"$CHROMIUM" --version 2>/dev/null || true
