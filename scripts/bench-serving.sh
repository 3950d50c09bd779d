#!/usr/bin/env bash
# Load test of pattern 2: a release registry and a model server on loopback, the
# breast-cancer model trained and promoted, then wrk sending 1-row and 100-row `predict`
# requests (and 1-row Open Inference Protocol requests) to the model server.
#
#   bash scripts/bench-serving.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Needs wrk (Debian: apt-get install wrk). Prints wrk's reports; results are recorded in
# docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-15}"
CONNECTIONS="${2:-32}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
# CAPSTAN_BENCH_BIN: a directory of prebuilt binaries to run instead (for A/B runs of two
# builds); without it the current tree is built.
if [ -n "${CAPSTAN_BENCH_BIN:-}" ]; then
    BIN="$CAPSTAN_BENCH_BIN"
else
    cargo build --quiet --release -p capstan-registry
    cargo build --quiet --release -p capstan-client --features cli --bin capstan
    BIN="$CARGO_TARGET_DIR/release"
fi
WORK="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REGISTRY_PORT=$(free_port)
SERVER_PORT=$(free_port)
RUST_LOG=warn "$BIN/capstan-registry" --listen "127.0.0.1:$REGISTRY_PORT" --data-dir "$WORK/data" > "$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
trap 'kill $REGISTRY_PID ${SERVER_PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
export CAPSTAN_URL="http://127.0.0.1:$REGISTRY_PORT"
for _ in $(seq 1 50); do curl -sf "$CAPSTAN_URL/healthz" > /dev/null && break; sleep 0.1; done
"$BIN/capstan" --quiet train logistic --csv tests/data/breast_cancer.csv --target target --register bc > /dev/null
"$BIN/capstan" promote bc@1 --to production > /dev/null
RUST_LOG=warn "$BIN/capstan-registry" model-server --registry "$CAPSTAN_URL" --model bc@production \
    --listen "127.0.0.1:$SERVER_PORT" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do curl -sf "127.0.0.1:$SERVER_PORT/readyz" > /dev/null && break; sleep 0.1; done

ROW=$(sed -n 2p tests/data/breast_cancer.csv | cut -d, -f1-30)
ROWS100=$(sed -n '2,101p' tests/data/breast_cancer.csv | cut -d, -f1-30 | sed 's/.*/[&]/' | paste -sd, -)
write_lua() {
    cat > "$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$2'
LUA
}
write_lua one "{\"instances\": [[$ROW]]}"
write_lua hundred "{\"instances\": [$ROWS100]}"
write_lua v2 "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 30], \"datatype\": \"FP64\", \"data\": [$ROW]}]}"

PREDICT="http://127.0.0.1:$SERVER_PORT/api/v1/models/bc/versions/production/predict"
echo "== 1 row per request, predict protocol"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/one.lua" "$PREDICT"
echo "== 100 rows per request, predict protocol"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/hundred.lua" "$PREDICT"
echo "== 1 row per request, Open Inference Protocol"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/v2.lua" "http://127.0.0.1:$SERVER_PORT/v2/models/bc/infer"
