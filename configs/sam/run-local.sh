#!/usr/bin/env bash
# `make run-lambda`: the Lambda deployment on this machine — a redis-server,
# and cmd/apigw-emulator playing API Gateway and Lambda with the real
# authorizer and gateway binaries (built for this machine, tag
# lambda.norpc, as for Lambda). Then open the classroom page:
#
#   http://127.0.0.1:8090/?ws=ws://127.0.0.1:8090/local&deployment=apigateway
#
# (the page's dev sign-in asks the emulator for tokens). Ctrl-C stops
# everything. Settings: LISTEN (127.0.0.1:8090), REDIS_PORT (6390),
# DEV_SECRET, CONCURRENCY (4 execution environments per function),
# EMULATOR_FLAGS (e.g. "-idle-timeout 1m -post-faults 0.05"). The
# function is also invoked every minute with a scheduled event, as the
# template's sweep rule does (expired tokens, silent connections).
set -euo pipefail
cd "$(dirname "$0")/../.."
LISTEN=${LISTEN:-127.0.0.1:8090}
REDIS_PORT=${REDIS_PORT:-6390}
DEV_SECRET=${DEV_SECRET:-dev-secret-dev-secret-dev-secret-0123}
CONCURRENCY=${CONCURRENCY:-4}
command -v redis-server >/dev/null || scripts/install-redis.sh
plugins/build.sh
bin=bin/lambda-local
mkdir -p "$bin"
go build -o "$bin/apigw-emulator" ./cmd/apigw-emulator
CGO_ENABLED=0 go build -tags lambda.norpc -o "$bin/gateway-lambda" ./cmd/gateway-lambda
CGO_ENABLED=0 go build -tags lambda.norpc -o "$bin/authorizer" ./cmd/authorizer
cp configs/lambda.yaml "$bin/lambda.yaml"
rm -rf "$bin/wazero-cache"
CLASSGATE_AUTH__HS256_SECRET=$DEV_SECRET "$bin/gateway-lambda" -warm-cache "$bin/wazero-cache" >/dev/null

data=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$data" >"$data/redis.log" 2>&1 &
redis_pid=$!
cleanup() {
	kill "$redis_pid" 2>/dev/null || true
	wait "$redis_pid" 2>/dev/null || true
	rm -rf "$data"
}
trap cleanup EXIT INT TERM
# shellcheck disable=SC2086
"$bin/apigw-emulator" -listen "$LISTEN" -concurrency "$CONCURRENCY" \
	-authorizer "$bin/authorizer" -function "$bin/gateway-lambda" \
	-env "CLASSGATE_AUTH__HS256_SECRET=$DEV_SECRET" \
	-env "CLASSGATE_STORE__REDIS__ADDR=127.0.0.1:$REDIS_PORT" \
	-env "CLASSGATE_LAMBDA__CACHE_SEED=$PWD/$bin/wazero-cache" \
	-schedule 1m \
	-dev-secret "$DEV_SECRET" ${EMULATOR_FLAGS:-}
