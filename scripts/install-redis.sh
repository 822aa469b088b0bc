#!/bin/sh
# install-redis.sh installs Debian's redis-server and redis-tools
# (redis-server, redis-cli) for the Redis adapter's tests, when missing.
# The tests start their own servers on free loopback ports; this script
# never starts or configures a service. Sentinels run as
# `redis-server --sentinel`, so the redis-sentinel package is not needed.
# Exit status 0 means redis-server and redis-cli are on PATH afterwards.
set -eu

if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
	exit 0
fi
sh "$(dirname "$0")/apt-install.sh" install-redis redis-server redis-tools
if ! command -v redis-server >/dev/null 2>&1; then
	echo "install-redis: apt-get finished but redis-server is not on PATH" >&2
	exit 1
fi
redis-server --version 2>/dev/null || true
