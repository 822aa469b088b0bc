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
# gateway binary. When this machine can run the target binary (same
# architecture, or qemu-user binfmt), the plugins are also compiled into
# wazero-cache/, which the function copies to /tmp at init
# (CLASSGATE_LAMBDA__CACHE_SEED): a cold start then skips compilation.
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
plugins/build.sh
mkdir -p "$out"
for fn in gateway-lambda authorizer; do
	dir=$out/$fn
	rm -rf "$dir" "$out/$fn.zip"
	mkdir -p "$dir"
	GOOS=linux GOARCH=$goarch CGO_ENABLED=0 go build -trimpath -tags lambda.norpc \
		-ldflags='-s -w' -o "$dir/bootstrap" "./cmd/$fn"
	cp configs/lambda.yaml "$dir/lambda.yaml"
	if [[ $fn == gateway-lambda ]]; then
		if "$dir/bootstrap" -warm-cache "$dir/wazero-cache" >/dev/null 2>&1; then
			echo "lambda: $fn: plugins pre-compiled into wazero-cache/"
		else
			rm -rf "$dir/wazero-cache"
			echo "lambda: $fn: cannot run $arch binaries here; no pre-compiled cache (cold starts compile the plugins)"
		fi
	fi
	# Fixed timestamps: the same sources give the same zip.
	find "$dir" -exec touch -h -d '2020-01-01T00:00:00Z' {} +
	(cd "$dir" && find . -type f | LC_ALL=C sort | zip -q -X -D "../$fn.zip" -@)
	echo "lambda: $out/$fn.zip ($(du -h "$out/$fn.zip" | cut -f1), $arch)"
done
