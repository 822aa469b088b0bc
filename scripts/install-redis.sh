#!/bin/sh
# install-redis.sh installs Debian's redis-server and redis-tools
# (redis-server, redis-cli) for the Redis adapter's tests,
# when missing. The tests start their own servers on free loopback ports;
# this script never starts or configures a service. Sentinels run as
# `redis-server --sentinel`, so the redis-sentinel package is not needed.
#
# Non-interactive and quiet. Runs apt-get directly as root, through sudo
# (non-interactive, -n) otherwise; fails with a message when neither works.
# Exit status 0 means redis-server and redis-cli are on PATH afterwards.
set -eu

if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO="sudo -n"
else
	echo "install-redis: not root and no password-less sudo; install the Debian 'redis-server' package by hand" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-redis: apt-get not found; install redis-server (7.0 or later) by hand" >&2
	exit 1
fi

LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
run() {
	# Quiet unless it fails: then show what apt-get said.
	if ! $SUDO env DEBIAN_FRONTEND=noninteractive "$@" >"$LOG" 2>&1; then
		cat "$LOG" >&2
		echo "install-redis: '$*' failed" >&2
		exit 1
	fi
}
# Refresh the package lists only when redis-server is not known yet.
if ! apt-cache show redis-server >/dev/null 2>&1; then
	run apt-get update -qq
fi
run apt-get install -y -qq --no-install-recommends redis-server redis-tools

if ! command -v redis-server >/dev/null 2>&1; then
	echo "install-redis: apt-get finished but redis-server is not on PATH" >&2
	exit 1
fi
redis-server --version 2>/dev/null || true
