#!/usr/bin/env bash
# bench.sh — the Go benchmarks plus a standard loadgen run against a freshly
# started gateway, each printed as a table. `make bench` runs it.
#
# Environment (all optional):
#   BENCH_PKGS      packages to benchmark   (./core/... ./plugins/... ./adapters/... ./internal/uring)
#   BENCH_TIME      go test -benchtime      (1s)
#   LOADGEN_ARGS    loadgen flags of the standard run
#                   (-rooms 20 -users 30 -rate 500 -warmup 3s -duration 10s)
#   SKIP_GO_BENCH=1 / SKIP_LOADGEN=1 to run only one half.
# The gateway listens on a free loopback port and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BENCH_PKGS=${BENCH_PKGS:-"./core/... ./plugins/... ./adapters/... ./internal/uring"}
BENCH_TIME=${BENCH_TIME:-1s}
LOADGEN_ARGS=${LOADGEN_ARGS:-"-rooms 20 -users 30 -rate 500 -warmup 3s -duration 10s"}
SECRET="bench-secret-$(date +%s)-0123456789abcdef"
work=$(mktemp -d)
gw_pid=""
cleanup() {
	if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
		kill "$gw_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$gw_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$gw_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "# classgate benchmarks — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

status=0
if [ "${SKIP_GO_BENCH:-}" != 1 ]; then
	echo "## Go benchmarks"
	echo
	# shellcheck disable=SC2086
	if ! $GO test -run '^$' -bench . -benchmem -benchtime "$BENCH_TIME" $BENCH_PKGS >"$work/bench.txt" 2>&1; then
		status=1
		echo "(go test failed; its output follows the table)"
	fi
	awk '
		/^pkg: / { pkg = $2; sub(/^github.com\/classgate\/classgate\//, "", pkg) }
		/^Benchmark/ {
			if (!hdr) { print "| package | benchmark | ns/op | B/op | allocs/op | extra |"; print "| --- | --- | ---: | ---: | ---: | --- |"; hdr = 1 }
			name = $1; sub(/-[0-9]+$/, "", name)
			ns = ""; b = ""; al = ""; extra = ""
			for (i = 3; i < NF; i += 2) {
				if ($(i+1) == "ns/op") ns = $i
				else if ($(i+1) == "B/op") b = $i
				else if ($(i+1) == "allocs/op") al = $i
				else extra = extra $i " " $(i+1) " "
			}
			printf "| %s | %s | %s | %s | %s | %s |\n", pkg, name, ns, b, al, extra
		}
		END { if (!hdr) print "(no benchmarks found)" }
	' "$work/bench.txt"
	if [ $status -ne 0 ]; then grep -v '^Benchmark' "$work/bench.txt" | tail -40; fi
	echo
fi

if [ "${SKIP_LOADGEN:-}" != 1 ]; then
	echo "## Standard loadgen run"
	echo
	$GO build -o "$work/gateway" ./cmd/gateway
	$GO build -o "$work/loadgen" ./cmd/loadgen
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18181)
	CLASSGATE_SERVER__LISTEN=127.0.0.1:$port \
	CLASSGATE_AUTH__HS256_SECRET=$SECRET \
	CLASSGATE_LIMITS__RATE_PER_SECOND=1000 \
	CLASSGATE_LOG__LEVEL=warn \
		"$work/gateway" >"$work/gateway.log" 2>&1 &
	gw_pid=$!
	for _ in $(seq 1 300); do
		if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
		if ! kill -0 "$gw_pid" 2>/dev/null; then echo "gateway exited:"; cat "$work/gateway.log"; exit 1; fi
		sleep 0.1
	done
	echo "loadgen $LOADGEN_ARGS (gateway pid $gw_pid on 127.0.0.1:$port)"
	echo
	# shellcheck disable=SC2086
	if ! "$work/loadgen" -url "ws://127.0.0.1:$port/ws" -secret "$SECRET" -pid "$gw_pid" -quiet -markdown $LOADGEN_ARGS; then
		status=1
		echo
		echo "gateway log (last 20 lines):"
		tail -20 "$work/gateway.log"
	fi
fi
exit $status
