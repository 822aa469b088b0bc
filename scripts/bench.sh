#!/usr/bin/env bash
# bench.sh — the Go benchmarks plus a standard loadgen run against a freshly
# started gateway, each printed as a table. `make bench` runs it.
#
# Environment (all optional):
#   BENCH_PKGS      packages to benchmark   (./core/... ./plugins/... ./adapters/... ./internal/uring)
#   BENCH_TIME      go test -benchtime      (1s)
#   LOADGEN_ARGS    loadgen flags of the standard run
#                   (-rooms 20 -users 30 -rate 500 -warmup 3s -duration 10s)
#   SKIP_GO_BENCH=1 / SKIP_LOADGEN=1 / SKIP_MATRIX=1 to leave a part out.
# The load matrix (docs/PERFORMANCE.md's table): every store × rate, each
# run against a fresh server (and a fresh redis-server for the Redis
# ones), one table row per run:
#   BENCH_STORES    memory redis redis2 centrifugo centrifugo-redis
#                   centrifugo-redis-history
#                   (redis2: two gateway nodes on one redis-server, members
#                   of every room alternating between them; centrifugo*:
#                   the peer, Centrifugo v6 with its memory or Redis engine,
#                   -history keeping the last 50 publications of a room,
#                   under the same load, driven by loadgen -peer
#                   centrifugo; see "Peer: Centrifugo" in docs/PERFORMANCE.md)
#   CENTRIFUGO      the centrifugo binary of the peer rows; default
#                   bin/peers/centrifugo, installed there by go install
#                   (github.com/centrifugal/centrifugo/v6@v6.9.1) when
#                   missing; when that fails the peer rows are skipped
#   BENCH_RATES     1000 2000 2500 3000 3500 4200   msg/s over all rooms
#   BENCH_ROOMS / BENCH_USERS             100 / 30
#   BENCH_WARMUP / BENCH_DURATION         3s / 15s
#   BENCH_SERVER_CPUS / BENCH_LOADGEN_CPUS  taskset CPU lists to pin the
#                   matrix's servers and loadgen to (e.g. 0 and 1: a gateway
#                   with GOMAXPROCS 1 and loadgen apart); default unpinned
#   BENCH_BUSY      busy loops (sh, nice 0) running beside each row, from
#                   before its servers start to after loadgen ends (0): a
#                   slow machine made on purpose, so slow-machine rows can
#                   be compared (their CPU shows in the "others" column;
#                   the "syscall ns" column, the CPU time of one system
#                   call, shows the host slowing the VM down instead)
#   BENCH_REPEAT    runs of each row, one after the other (1); the matrix
#                   goes rate by rate (every store at a rate, then the next)
#   BENCH_KEEP      a directory to keep each run's loadgen JSON in
#                   (STORE-RATE-REPEAT.json) and its servers' logs
#                   (STORE-RATE-REPEAT-PORT.log)
#   BENCH_GATEWAY_ENV  extra gateway environment (default none: the
#                   product's defaults, as shipped; e.g. the plugin pool
#                   size 128 for chat and presence,
#                   CLASSGATE_PLUGINS__NAMESPACES__CHAT__POOL_SIZE=128,
#                   keeps room-bound instance resets out of the figures)
# Quick: SKIP_GO_BENCH=1 SKIP_LOADGEN=1 BENCH_STORES=redis BENCH_RATES=2000 scripts/bench.sh
# Peer rows only: SKIP_GO_BENCH=1 SKIP_LOADGEN=1 BENCH_STORES="centrifugo centrifugo-redis centrifugo-redis-history" BENCH_RATES=2000 scripts/bench.sh
# Servers listen on free loopback ports and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BENCH_PKGS=${BENCH_PKGS:-"./core/... ./plugins/... ./adapters/... ./internal/uring"}
BENCH_TIME=${BENCH_TIME:-1s}
LOADGEN_ARGS=${LOADGEN_ARGS:-"-rooms 20 -users 30 -rate 500 -warmup 3s -duration 10s"}
SECRET="bench-secret-$(date +%s)-0123456789abcdef"
work=$(mktemp -d)
gw_pid=""
stop_pid() {
	local pid=$1
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
}
m_pids=()
cleanup() {
	stop_pid "$gw_pid"
	for p in "${m_pids[@]}"; do stop_pid "$p"; done
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

# Pinning (BENCH_SERVER_CPUS, BENCH_LOADGEN_CPUS): taskset CPU lists for
# the servers of the matrix (gateways, Centrifugo; Go sizes GOMAXPROCS to
# the CPUs it may run on) and for loadgen. Unset: not pinned.
server_pin=()
loadgen_pin=()
[ -n "${BENCH_SERVER_CPUS:-}" ] && server_pin=(taskset -c "$BENCH_SERVER_CPUS")
[ -n "${BENCH_LOADGEN_CPUS:-}" ] && loadgen_pin=(taskset -c "$BENCH_LOADGEN_CPUS")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_gateway PORT [ENV...]: a gateway in the background; echoes its pid.
start_gateway() {
	local port=$1
	shift
	# shellcheck disable=SC2086
	"${server_pin[@]}" env CLASSGATE_SERVER__LISTEN=127.0.0.1:$port CLASSGATE_AUTH__HS256_SECRET=$SECRET \
		CLASSGATE_LIMITS__RATE_PER_SECOND=1000 CLASSGATE_LIMITS__RATE_BURST=2000 CLASSGATE_LOG__LEVEL=warn \
		$BENCH_GATEWAY_ENV "$@" "$work/gateway" >>"$work/gateway-$port.log" 2>&1 &
	echo $!
}

# wait_healthy PORT: wait for a gateway's /healthz (wait_healthy_path below).
wait_healthy() { wait_healthy_path "$1" /healthz; }

# The peer (Centrifugo) of the centrifugo* rows.
CENTRIFUGO_MODULE=github.com/centrifugal/centrifugo/v6
CENTRIFUGO_VERSION=v6.9.1
cf_bin=""
# find_centrifugo: sets cf_bin to a runnable centrifugo (installing it into
# bin/peers when needed) or leaves it empty, saying so in one line.
find_centrifugo() {
	if [ -n "${CENTRIFUGO:-}" ]; then
		cf_bin=$CENTRIFUGO
	elif [ -x bin/peers/centrifugo ]; then
		cf_bin=bin/peers/centrifugo
	elif mkdir -p bin/peers && GOBIN="$PWD/bin/peers" $GO install "$CENTRIFUGO_MODULE@$CENTRIFUGO_VERSION" >"$work/centrifugo-install.log" 2>&1; then
		cf_bin=bin/peers/centrifugo
	fi
	if [ -n "$cf_bin" ] && "$cf_bin" version >/dev/null 2>&1; then
		return 0
	fi
	if [ -n "${CENTRIFUGO:-}" ]; then
		echo "(peer rows skipped: CENTRIFUGO=$CENTRIFUGO does not run)"
	else
		echo "(peer rows skipped: go install $CENTRIFUGO_MODULE@$CENTRIFUGO_VERSION failed: $(tail -1 "$work/centrifugo-install.log" 2>/dev/null))"
	fi
	cf_bin=""
	return 1
}

# start_centrifugo PORT [REDIS_PORT]: Centrifugo in the background with a
# config written into the run's temp dir (the Redis engine when REDIS_PORT
# is given); echoes its pid. Connection tokens are HS256 with the bench's
# secret; no anonymous access; channels without a namespace (a room each)
# can be subscribed by any client and published to by their subscribers;
# no presence, no join/leave messages; history (the last HISTORY
# publications of a channel, kept 300 s) only when HISTORY is given.
start_centrifugo() {
	local port=$1 rport=${2:-} history=${3:-0} ttl=0s engine='{"type": "memory"}'
	[ "$history" -gt 0 ] && ttl=300s
	[ -n "$rport" ] && engine='{"type": "redis", "redis": {"address": ["redis://127.0.0.1:'$rport'"]}}'
	cat >"$work/centrifugo-$port.json" <<-JSON
	{
	  "client": {
	    "token": {"hmac_secret_key": "$SECRET"},
	    "allow_anonymous_connect_without_token": false
	  },
	  "channel": {
	    "without_namespace": {
	      "allow_subscribe_for_client": true,
	      "allow_subscribe_for_anonymous": false,
	      "allow_publish_for_subscriber": true,
	      "history_size": $history,
	      "history_ttl": "$ttl",
	      "presence": false,
	      "join_leave": false
	    }
	  },
	  "http_server": {"address": "127.0.0.1", "port": $port},
	  "health": {"enabled": true},
	  "log": {"level": "error"},
	  "engine": $engine
	}
	JSON
	"${server_pin[@]}" "$cf_bin" -c "$work/centrifugo-$port.json" >>"$work/gateway-$port.log" 2>&1 &
	echo $!
}

# wait_healthy_path PORT PATH: wait for a server's health endpoint.
wait_healthy_path() {
	for _ in $(seq 1 300); do
		curl -sf "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server on port $1 did not come up:" >&2
	tail -20 "$work/gateway-$1.log" >&2
	return 1
}

# start_busy: BENCH_BUSY busy loops in the background; their pids go to
# busy_pids (stopped by stop_busy, or by cleanup).
busy_pids=()
start_busy() {
	stop_busy # a row that failed early left its loops running
	for _ in $(seq 1 "${BENCH_BUSY:-0}"); do
		sh -c 'while :; do :; done' &
		busy_pids+=($!)
		m_pids+=($!)
	done
}
stop_busy() {
	for p in "${busy_pids[@]}"; do stop_pid "$p"; done
	busy_pids=()
}

redis_cpu() { redis-cli -p "$1" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }'; }

# matrix_run STORE RATE: one row of the load matrix.
matrix_run() {
	local store=$1 rate=$2 rport="" rpid="" pids=() urls=() env=() n=1 peer=classgate
	case $store in centrifugo*) peer=centrifugo ;; esac
	start_busy
	if [ "$store" != memory ] && [ "$store" != centrifugo ]; then
		rport=$(free_port)
		redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
		rpid=$!
		m_pids+=("$rpid")
		for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
		env=(CLASSGATE_STORE__KIND=redis CLASSGATE_STORE__REDIS__ADDR=127.0.0.1:$rport)
	fi
	[ "$store" = redis2 ] && n=2
	if [ "$peer" = centrifugo ]; then
		env=() n=1
		local port
		port=$(free_port)
		local history=0
		# The history row keeps the last 50 publications of a room (as
		# classgate's chat does) and acks a publish once it is in them.
		[ "$store" = centrifugo-redis-history ] && history=50
		pids+=("$(start_centrifugo "$port" "$rport" "$history")")
		m_pids+=("${pids[-1]}")
		wait_healthy_path "$port" /health || return 1
		urls+=("ws://127.0.0.1:$port/connection/websocket")
	fi
	[ "$peer" = classgate ] && for i in $(seq 1 $n); do
		local port
		port=$(free_port)
		pids+=("$(start_gateway "$port" "${env[@]}" CLASSGATE_NODE__ID=node-$i)")
		m_pids+=("${pids[-1]}")
		wait_healthy "$port" || return 1
		urls+=("ws://127.0.0.1:$port/ws")
	done
	local url_list
	url_list=$(IFS=,; echo "${urls[*]}")
	rm -f "$work/cpu0" "$work/cpu1" "$work/cs"
	# Redis CPU and command counts over the measured window only: the
	# progress lines on stderr say when it starts and ends.
	# shellcheck disable=SC2086
	"${loadgen_pin[@]}" "$work/loadgen" -peer "$peer" -url "$url_list" -secret "$SECRET" -pid "${pids[0]}" -json -allow-loss \
		-rooms "$BENCH_ROOMS" -users "$BENCH_USERS" -rate "$rate" -warmup "$BENCH_WARMUP" -duration "$BENCH_DURATION" \
		>"$work/run.json" 2> >(m=0; d=0; while read -r l; do
			[ -z "$rport" ] && continue
			case "$l" in
			*measure*) if [ $m = 0 ]; then m=1; redis-cli -p "$rport" config resetstat >/dev/null; redis_cpu "$rport" >"$work/cpu0"; fi ;;
			*) if [ $m = 1 ] && [ $d = 0 ]; then d=1; redis_cpu "$rport" >"$work/cpu1"; redis-cli -p "$rport" info commandstats | tr -d '\r' >"$work/cs"; fi ;;
			esac
		done
		# A window shorter than a progress tick: read at the end.
		if [ -n "$rport" ] && [ $m = 1 ] && [ $d = 0 ]; then redis_cpu "$rport" >"$work/cpu1"; redis-cli -p "$rport" info commandstats | tr -d '\r' >"$work/cs"; fi)
	if [ -n "${BENCH_KEEP:-}" ]; then mkdir -p "$BENCH_KEEP"; cp "$work/run.json" "$BENCH_KEEP/$store-$rate${bench_rep:+-$bench_rep}.json"; fi
	for _ in $(seq 1 20); do [ -z "$rport" ] || [ -s "$work/cpu1" ] && break; sleep 0.5; done
	local rcpu="" cmds=""
	if [ -n "$rport" ] && [ -s "$work/cpu1" ]; then
		rcpu=$(awk -v a="$(cat "$work/cpu0")" -v b="$(cat "$work/cpu1")" 'BEGIN { printf "%.3f", b - a }')
		# Commands the server sent (EVALSHA) and Redis ran, per message: per
		# XADD (one per durable message) for the gateway; Centrifugo without
		# history writes no stream, so its rows divide by the acknowledged
		# publishes of the window instead (labelled "acked").
		cmds=$(awk -F'[:=,]' -v acked="$(jq -r '.messages.acked // 0' "$work/run.json")" '/^cmdstat_/ { c[$1] = $3; t += $3 } END {
			x = c["cmdstat_xadd"]; by = "xadd"
			if (!x) { x = acked + 0; by = "acked" }
			if (x) printf "%.2f %.2f %d %s", c["cmdstat_evalsha"] / x, (t - c["cmdstat_evalsha"]) / x, x, by }' "$work/cs")
	fi
	stop_busy
	for p in "${pids[@]}"; do stop_pid "$p"; done
	[ -n "$rpid" ] && stop_pid "$rpid"
	# The servers' logs of the row (warnings and errors: a plugin failure,
	# a store error) go with its JSON, then away.
	local log
	for log in "$work"/gateway-*.log; do
		[ -e "$log" ] || continue
		[ -n "${BENCH_KEEP:-}" ] && cp "$log" "$BENCH_KEEP/$store-$rate${bench_rep:+-$bench_rep}-$(basename "$log" .log | sed 's/^gateway-//').log"
		rm -f "$log"
	done
	jq -r --arg store "$store" --arg rate "$rate" --arg rcpu "$rcpu" --arg cmds "$cmds" --arg nodes "$n" '
		(.deliveries.per_s) as $dps |
		($cmds | split(" ")) as $c |
		[ $store, $rate,
		  (.latency.p50_ms | tostring), (.latency.p99_ms | tostring),
		  (.deliveries.per_s | floor | tostring),
		  (.deliveries.lost | tostring),
		  (if $dps > 0 then (.server.cpu_seconds * 1e6 / (.deliveries.received) | . * 100 | floor / 100 | tostring) else "-" end)
		    + (if $nodes == "2" then " (node 1)" else "" end),
		  (if ($c | length) == 4 then ($rcpu | tonumber) * 1e6 / ($c[2] | tonumber) / .settings.users_per_room | . * 100 | floor / 100 | tostring else "-" end),
		  (if ($c | length) == 4 then ($rcpu | tonumber) * 1e6 / ($c[2] | tonumber) | floor | tostring else "-" end),
		  (if ($c | length) == 4 then $c[0] + " / " + $c[1] + (if $c[3] == "acked" then " (per acked publish; no XADD)" else "" end) else "-" end),
		  (.server.rss_per_conn_kib | floor | tostring),
		  ((.server.cpu_percent | floor | tostring) + " %"),
		  ((.machine.others_percent | floor | tostring) + " %"),
		  ((.machine.load1_start | tostring) + "→" + (.machine.load1_end | tostring)),
		  ((.machine.speed.syscall_ns_p50 // 0 | tostring) + " / " + (.machine.speed.syscall_ns_max // 0 | tostring)),
		  (if .pass then "pass" else (.failures | join("; ")) end)
		] | "| " + join(" | ") + " |"' "$work/run.json"
}

if [ "${SKIP_MATRIX:-}" != 1 ]; then
	BENCH_STORES=${BENCH_STORES:-"memory redis redis2 centrifugo centrifugo-redis centrifugo-redis-history"}
	BENCH_RATES=${BENCH_RATES:-"1000 2000 2500 3000 3500 4200"}
	BENCH_ROOMS=${BENCH_ROOMS:-100}
	BENCH_USERS=${BENCH_USERS:-30}
	BENCH_WARMUP=${BENCH_WARMUP:-3s}
	BENCH_DURATION=${BENCH_DURATION:-15s}
	BENCH_GATEWAY_ENV=${BENCH_GATEWAY_ENV-}
	[ -x "$work/gateway" ] || $GO build -o "$work/gateway" ./cmd/gateway
	[ -x "$work/loadgen" ] || $GO build -o "$work/loadgen" ./cmd/loadgen
	peer_note=""
	case " $BENCH_STORES " in
	*" centrifugo"*)
		find_centrifugo || true
		if [ -n "$cf_bin" ]; then
			peer_note="; peer: Centrifugo $($GO version -m "$cf_bin" 2>/dev/null | awk '$1 == "mod" { print $3 }') ($cf_bin; config: docs/PERFORMANCE.md, Peer: Centrifugo)"
		fi
		;;
	esac
	echo
	echo "## Load matrix"
	echo
	echo "$BENCH_ROOMS rooms × $BENCH_USERS members, 1 publisher per room, 64 B chat, warm-up $BENCH_WARMUP, measured $BENCH_DURATION; gateway env: ${BENCH_GATEWAY_ENV:-(defaults)}${BENCH_SERVER_CPUS:+; servers on CPUs $BENCH_SERVER_CPUS}${BENCH_LOADGEN_CPUS:+; loadgen on CPUs $BENCH_LOADGEN_CPUS}$([ "${BENCH_BUSY:-0}" -gt 0 ] && echo "; $BENCH_BUSY busy loop(s) beside each row")$peer_note"
	echo
	echo "| store | msg/s | p50 ms | p99 ms | deliveries/s | lost | gateway µs CPU/delivery | Redis µs CPU/delivery | Redis µs CPU/msg | Redis calls/msg (sent / run by scripts) | KiB/conn | gateway CPU | others | load | syscall ns (median / max) | result |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | --- |"
	# Rate by rate, every store at a rate before the next rate, so the rows
	# compared (classgate and the peer at one rate) run minutes apart, not
	# a whole store's series apart; BENCH_REPEAT runs each row again at once.
	for rate in $BENCH_RATES; do
		for store in $BENCH_STORES; do
			case $store in centrifugo*) [ -n "$cf_bin" ] || continue ;; esac
			for rep in $(seq 1 "${BENCH_REPEAT:-1}"); do
				bench_rep=$rep
				matrix_run "$store" "$rate" || status=1
			done
		done
	done
fi
exit $status
