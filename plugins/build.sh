#!/usr/bin/env bash
# Builds every plugin — each directory plugins/<name> that holds a main
# package — to plugins/embedded/wasm/<name>.wasm, where the gateway binary
# embeds it. Used by `make plugins`.
#
#   plugins/build.sh            build what changed
#   plugins/build.sh -f         rebuild everything
#   OUT=dir plugins/build.sh    write the .wasm files elsewhere
#
# Idempotent and fast: a plugin is rebuilt only when a .go file of it, of
# plugins/sdk, or go.mod/go.sum is newer than its .wasm. Builds use
# -trimpath, so the same sources and toolchain give the same bytes (and the
# same sha256 for pinning).
#
# The AssemblyScript plugins (plugins/assemblyscript/<name>) are built last
# by plugins/assemblyscript/build.sh, to <name>-as.wasm in the same place;
# it installs its compiler from npm and skips, saying so, without node/npm.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-plugins/embedded/wasm}
force=${1:-}
mkdir -p "$out"

plugins=()
for dir in plugins/*/; do
	name=$(basename "$dir")
	case $name in abi | sdk | host | embedded | testdata) continue ;; esac
	if grep -qs '^package main$' "$dir"*.go; then
		plugins+=("$name")
	fi
done

stale() { # name → true when the .wasm must be rebuilt
	local wasm=$out/$1.wasm
	[[ $force == -f || ! -f $wasm ]] && return 0
	[[ -n $(find "plugins/$1" plugins/sdk go.mod go.sum -newer "$wasm" \( -name '*.go' -o -name 'go.*' \) 2>/dev/null | head -n1) ]]
}

pids=()
built=()
for name in "${plugins[@]}"; do
	if stale "$name"; then
		GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared \
			-o "$out/$name.wasm.tmp" "./plugins/$name" &&
			mv "$out/$name.wasm.tmp" "$out/$name.wasm" &
		pids+=($!)
		built+=("$name")
	fi
done
status=0
for pid in "${pids[@]}"; do
	wait "$pid" || status=1
done
if ((status != 0)); then
	echo "plugins/build.sh: build failed" >&2
	exit 1
fi
if ((${#built[@]} > 0)); then
	echo "plugins: built ${built[*]} into $out"
else
	echo "plugins: up to date (${plugins[*]})"
fi
OUT=$out plugins/assemblyscript/build.sh $force
