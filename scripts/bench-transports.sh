#!/usr/bin/env bash
# Load test of pattern 2 over every transport: a release registry and one release model
# server serving bc@production over HTTP, gRPC (--grpc-listen), RabbitMQ (--amqp-url, the
# machine's broker) and NATS (--nats-predict, the machine's server), then single-row
# predictions: wrk against HTTP `predict` and V2 `infer`, and capstan-bench's gRPC, AMQP
# and NATS load clients.
#
#   bash scripts/bench-transports.sh [SECONDS] [CONCURRENCY]
#
# Needs wrk (Debian: apt-get install wrk), RabbitMQ on 127.0.0.1:5672 (guest/guest) and
# NATS on 127.0.0.1:4222. Results are recorded in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN="${1:-10}"
CONCURRENCY="${2:-32}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
cargo build --quiet --release -p capstan-registry
cargo build --quiet --release -p capstan-client --features cli --bin capstan
cargo build --quiet --release -p capstan-tests --bin capstan-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REGISTRY_PORT=$(free_port)
SERVER_PORT=$(free_port)
GRPC_PORT=$(free_port)
PREFIX="capstan.bench.$$."
RUST_LOG=warn "$BIN/capstan-registry" --listen "127.0.0.1:$REGISTRY_PORT" --data-dir "$WORK/data" > "$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
trap 'kill $REGISTRY_PID ${SERVER_PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
export CAPSTAN_URL="http://127.0.0.1:$REGISTRY_PORT"
for _ in $(seq 1 50); do curl -sf "$CAPSTAN_URL/healthz" > /dev/null && break; sleep 0.1; done
"$BIN/capstan" --quiet train logistic --csv tests/data/breast_cancer.csv --target target --register bc > /dev/null
"$BIN/capstan" promote bc@1 --to production > /dev/null
RUST_LOG=warn "$BIN/capstan-registry" model-server --registry "$CAPSTAN_URL" --model bc@production \
    --listen "127.0.0.1:$SERVER_PORT" --grpc-listen "127.0.0.1:$GRPC_PORT" \
    --amqp-url "amqp://guest:guest@127.0.0.1:5672/%2f" --amqp-queue-prefix "$PREFIX" --amqp-prefetch 64 \
    --nats-predict nats://127.0.0.1:4222 --nats-predict-prefix "$PREFIX" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do curl -sf "127.0.0.1:$SERVER_PORT/readyz" > /dev/null && break; sleep 0.1; done
sleep 1

ROW=$(sed -n 2p tests/data/breast_cancer.csv | cut -d, -f1-30)
cat > "$WORK/one.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"instances": [[$ROW]]}'
LUA
cat > "$WORK/v2.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64", "data": [$ROW]}]}'
LUA
echo "== HTTP predict, 1 row (wrk, $CONCURRENCY connections)"
wrk -t1 -c"$CONCURRENCY" -d"${SECONDS_RUN}s" --latency -s "$WORK/one.lua" "http://127.0.0.1:$SERVER_PORT/api/v1/models/bc/versions/production/predict"
echo "== HTTP V2 infer, 1 row (wrk, $CONCURRENCY connections)"
wrk -t1 -c"$CONCURRENCY" -d"${SECONDS_RUN}s" --latency -s "$WORK/v2.lua" "http://127.0.0.1:$SERVER_PORT/v2/models/bc/infer"
echo "== gRPC ModelInfer, 1 row"
"$BIN/capstan-bench" grpc --target "http://127.0.0.1:$GRPC_PORT" --concurrency "$CONCURRENCY" --seconds "$SECONDS_RUN"
echo "== RabbitMQ RPC, 1 row (server prefetch 64)"
"$BIN/capstan-bench" amqp --queue "${PREFIX}bc" --concurrency "$CONCURRENCY" --seconds "$SECONDS_RUN"
echo "== NATS request/reply, 1 row"
"$BIN/capstan-bench" nats --subject "${PREFIX}bc" --concurrency "$CONCURRENCY" --seconds "$SECONDS_RUN"
python3 - "$PREFIX" <<'PY' || true
import sys, pika
c = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2f"))
ch = c.channel()
for q in (sys.argv[1] + "bc", sys.argv[1] + "bc.dead"):
    ch.queue_delete(q)
c.close()
PY
