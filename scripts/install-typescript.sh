#!/usr/bin/env bash
# Installs the TypeScript compiler that type-checks the browser client and
# the classroom page (adapters/web TestTypeCheckJS) and prints the path of
# its tsc on stdout (messages go to stderr). Run by the test and by
# `make deps`; by hand:
#
#   scripts/install-typescript.sh      → /home/…/.cache/classgate/typescript/<hash>/node_modules/.bin/tsc
#
# The version is the one adapters/web/typescript/package-lock.json pins,
# installed with `npm ci` the first time into a cache directory named after
# the lock file's sha256 ($CLASSGATE_TS_CACHE, default
# ${XDG_CACHE_HOME:-~/.cache}/classgate/typescript), never into the source
# tree; later runs print the cached path at once. The install is bounded:
# npm ci is stopped after $CLASSGATE_TS_INSTALL_TIMEOUT seconds (default 300).
#
# Exit status: 0 with the path printed; 2 when node or npm is not found
# (the test skips with that message); 1 when the install failed.
set -euo pipefail
dir=$(cd "$(dirname "$0")/../adapters/web/typescript" && pwd)

missing=()
command -v node >/dev/null || missing+=(node)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]} > 0)); then
	echo "scripts/install-typescript.sh: ${missing[*]} not found; install Node.js >= 20 with npm (Debian: apt-get install nodejs npm) to type-check the web client" >&2
	exit 2
fi

cache=${CLASSGATE_TS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/classgate/typescript}
sum=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -c1-16)
tools=$cache/$sum
tsc=$tools/node_modules/typescript/bin/tsc
if [[ ! -f $tsc ]]; then
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.install.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	cp "$dir/package.json" "$dir/package-lock.json" "$tmp/"
	echo "scripts/install-typescript.sh: installing TypeScript (npm ci) into $tools" >&2
	limit=${CLASSGATE_TS_INSTALL_TIMEOUT:-300}
	if ! (cd "$tmp" && timeout "$limit" npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
		--fetch-timeout=60000 --fetch-retries=2 >&2); then
		echo "scripts/install-typescript.sh: npm ci failed or took over ${limit}s (see above); TypeScript comes from the npm registry" >&2
		exit 1
	fi
	# Another run may have installed it meanwhile: keep the first.
	mv -T "$tmp" "$tools" 2>/dev/null || true
	if [[ ! -f $tsc ]]; then
		echo "scripts/install-typescript.sh: npm ci succeeded but $tsc is missing" >&2
		exit 1
	fi
fi
echo "$tsc"
