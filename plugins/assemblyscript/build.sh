#!/usr/bin/env bash
# Builds the AssemblyScript plugins — each directory
# plugins/assemblyscript/<name> with an index.ts, except sdk — to
# <name>-as.wasm in plugins/embedded/wasm (OUT=dir: elsewhere), beside the
# Go plugins, where the gateway embeds them (source: embedded:poll-as).
# Run by plugins/build.sh (make plugins); by hand:
#
#   plugins/assemblyscript/build.sh          build what changed
#   plugins/assemblyscript/build.sh -f       rebuild everything
#   plugins/assemblyscript/build.sh DIR...   only these (e.g. testdata/sdkprobe,
#                                            for the tests): DIR-as.wasm by base name
#
# The compiler is the npm package assemblyscript at the version
# package-lock.json pins, installed with `npm ci` the first time into a
# cache directory named after the lock file's sha256
# ($CLASSGATE_AS_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/classgate/assemblyscript),
# never into the source tree. It needs Node.js ≥ 20 and npm ≥ 10 (the
# compiler's own requirement). Without node or npm the AssemblyScript
# plugins are optional examples: this script says so on stderr and exits 0
# (the gateway, its tests and the Go plugins need none of them; a config
# naming embedded:poll-as then fails with "plugin poll-as not built: run
# make plugins"). CLASSGATE_AS_REQUIRED=1 makes that an error instead.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
out=${OUT:-$root/plugins/embedded/wasm}
[[ $out == /* ]] || out=$root/$out
force=
if [[ ${1:-} == -f ]]; then
	force=-f
	shift
fi

plugins=("$@")
if ((${#plugins[@]} == 0)); then
	for dir in */; do
		name=${dir%/}
		[[ $name == sdk || $name == node_modules || ! -f $name/index.ts ]] && continue
		plugins+=("$name")
	done
fi

stale() { # dir → true when its .wasm must be rebuilt
	local wasm=$out/$(basename "$1")-as.wasm
	[[ $force == -f || ! -f $wasm ]] && return 0
	[[ -n $(find "$1" sdk package.json package-lock.json build.sh -newer "$wasm" 2>/dev/null | head -n1) ]]
}
todo=()
for name in "${plugins[@]}"; do
	if stale "$name"; then todo+=("$name"); fi
done
if ((${#todo[@]} == 0)); then
	echo "plugins: AssemblyScript up to date (${plugins[*]/%/-as})"
	exit 0
fi

missing=()
command -v node >/dev/null || missing+=(node)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]} > 0)); then
	msg="AssemblyScript plugins (${todo[*]/%/-as}) not built: ${missing[*]} not found; install Node.js ≥ 20 with npm (Debian: apt-get install nodejs npm) and run make plugins again"
	if [[ ${CLASSGATE_AS_REQUIRED:-} == 1 ]]; then
		echo "plugins/assemblyscript/build.sh: $msg" >&2
		exit 1
	fi
	echo "plugins: skipping $msg" >&2
	exit 0
fi

# The compiler, installed once per lock file.
cache=${CLASSGATE_AS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/classgate/assemblyscript}
sum=$(cat package.json package-lock.json | sha256sum | cut -c1-16)
tools=$cache/$sum
if [[ ! -f $tools/node_modules/assemblyscript/bin/asc.js ]]; then
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.install.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	cp package.json package-lock.json "$tmp/"
	echo "plugins: installing the AssemblyScript compiler (npm ci) into $tools"
	if ! (cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2); then
		echo "plugins/assemblyscript/build.sh: npm ci failed (see above); the compiler comes from the npm registry" >&2
		exit 1
	fi
	# Another build may have installed it meanwhile: keep the first.
	mv -T "$tmp" "$tools" 2>/dev/null || true
fi
asc=$tools/node_modules/assemblyscript/bin/asc.js

mkdir -p "$out"
built=()
for dir in "${todo[@]}"; do
	name=$(basename "$dir")
	# --exportStart: a reactor (the host runs _initialize, then cg_init);
	# --use abort: failures log their message through the ABI's log and
	# trap, instead of importing env.abort (the host offers no env module);
	# --runtime minimal: the SDK collects garbage once after each call
	# (sdk/exports.ts cg_handle), none during one.
	node "$asc" "$dir/index.ts" -o "$out/$name-as.wasm.tmp" \
		--exportStart _initialize --use abort=sdk/abi/cgAbort \
		--optimizeLevel 3 --shrinkLevel 0 --runtime minimal
	mv "$out/$name-as.wasm.tmp" "$out/$name-as.wasm"
	built+=("$name-as")
done
echo "plugins: built ${built[*]} (AssemblyScript) into $out"
