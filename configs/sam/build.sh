#!/usr/bin/env bash
# Builds the Lambda deployment packages for configs/sam/template.yaml
# (`make lambda` runs this):
#
#   bin/lambda/gateway-lambda.zip   bootstrap + lambda.yaml (+ wazero-cache/)
#   bin/lambda/authorizer.zip       bootstrap + lambda.yaml
#
#   configs/sam/build.sh                  arm64 (Graviton, provided.al2023)
#   ARCH=x86_64 configs/sam/build.sh      x86_64
#   OUT=dir configs/sam/build.sh          another output directory
#
# The plugins are built first (plugins/build.sh) and embedded in the
# gateway binary, then compiled into wazero-cache/, which the function
# copies to /tmp at init (CLASSGATE_LAMBDA__CACHE_SEED): a cold start then
# skips compilation (≈ 1 s instead of 5–7 s). The cache is made by running
# the target binary: natively when this machine has the architecture,
# otherwise under qemu-user (`apt-get install qemu-user-static`;
# qemu-aarch64-static / qemu-x86_64-static, no binfmt needed). wazero keys
# its cache by architecture and, on arm64, by the LSE atomics every
# Graviton has: QEMU_CPU=neoverse-n1 (Graviton2's core) gives the key
# Graviton 2, 3 and 4 look up. Without a way to run the binary the build
# fails, unless ALLOW_NO_CACHE=1 (then cold starts compile the plugins).
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=${ARCH:-arm64}
case $arch in
arm64) goarch=arm64 ;;
x86_64) goarch=amd64 ;;
*)
	echo "build.sh: ARCH must be arm64 or x86_64, not $arch" >&2
	exit 2
	;;
esac
out=${OUT:-bin/lambda}
env -u OUT plugins/build.sh # OUT is ours, not the plugins' output directory
mkdir -p "$out"
for fn in gateway-lambda authorizer; do
	dir=$out/$fn
	rm -rf "$dir" "$out/$fn.zip"
	mkdir -p "$dir"
	GOOS=linux GOARCH=$goarch CGO_ENABLED=0 go build -trimpath -tags lambda.norpc \
		-ldflags='-s -w' -o "$dir/bootstrap" "./cmd/$fn"
	cp configs/lambda.yaml "$dir/lambda.yaml"
	if [[ $fn == gateway-lambda ]]; then
		qemu=qemu-$([[ $goarch == arm64 ]] && echo aarch64 || echo x86_64)-static
		if "$dir/bootstrap" -warm-cache "$dir/wazero-cache" >/dev/null 2>&1; then
			echo "lambda: $fn: plugins pre-compiled into wazero-cache/ (native)"
		elif command -v "$qemu" >/dev/null &&
			QEMU_CPU=$([[ $goarch == arm64 ]] && echo neoverse-n1 || echo max) \
				"$qemu" "$dir/bootstrap" -warm-cache "$dir/wazero-cache" >/dev/null; then
			echo "lambda: $fn: plugins pre-compiled into wazero-cache/ (under $qemu)"
		else
			rm -rf "$dir/wazero-cache"
			if [[ ${ALLOW_NO_CACHE:-} != 1 ]]; then
				echo "lambda: $fn: cannot run $arch binaries here (no $qemu: apt-get install qemu-user-static)," >&2
				echo "  so no pre-compiled plugin cache: cold starts would compile the plugins (5-7 s)." >&2
				echo "  ALLOW_NO_CACHE=1 builds without it." >&2
				exit 1
			fi
			echo "lambda: $fn: no pre-compiled cache (ALLOW_NO_CACHE=1; cold starts compile the plugins)"
		fi
	fi
	# Fixed timestamps: the same sources give the same zip.
	find "$dir" -exec touch -h -d '2020-01-01T00:00:00Z' {} +
	(cd "$dir" && find . -type f | LC_ALL=C sort | zip -q -X -D "../$fn.zip" -@)
	echo "lambda: $out/$fn.zip ($(du -h "$out/$fn.zip" | cut -f1), $arch)"
done
