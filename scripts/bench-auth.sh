#!/usr/bin/env bash
# What authentication costs (docs/performance.md, "Authentication"): two release
# registries on loopback, SQLite + local disk, one with --auth and one without, the
# breast-cancer model trained and promoted on each; then, alternating between them,
# capstan-bench resolve (sequential, one keep-alive connection) and wrk sending 1-row
# `predict` requests to the registry's own serving route, the authenticated runs with an
# editor token.
#
#   bash scripts/bench-auth.sh [ROUNDS] [DURATION_SECONDS] [CONNECTIONS]
#
# Needs wrk (Debian: apt-get install wrk). CAPSTAN_BENCH_AUTH_CACHE_MS sets the token
# cache of the authenticated registry [1000]; 0 looks every request's token up.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
DURATION="${2:-10}"
CONNECTIONS="${3:-32}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
if [ -n "${CAPSTAN_BENCH_BIN:-}" ]; then
    BIN="$CAPSTAN_BENCH_BIN"
else
    cargo build --quiet --release -p capstan-registry
    cargo build --quiet --release -p capstan-client --features cli --bin capstan
    cargo build --quiet --release -p capstan-tests --bin capstan-bench
    BIN="$CARGO_TARGET_DIR/release"
fi
WORK="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# start NAME [FLAGS…]: a registry in $WORK/NAME; sets URL_<NAME> and PID_<NAME>.
start() {
    local name="$1" port
    shift
    port=$(free_port)
    RUST_LOG=warn "$BIN/capstan-registry" serve --listen "127.0.0.1:$port" --data-dir "$WORK/$name" \
        --batch-workers 0 "$@" > "$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    printf -v "PID_$name" '%s' $!
    printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
}
start off
start on --auth --auth-cache-ms "${CAPSTAN_BENCH_AUTH_CACHE_MS:-1000}"
ADMIN=$(cat "$WORK/on/admin-token")
TOKEN=$(CAPSTAN_URL=$URL_on CAPSTAN_TOKEN=$ADMIN "$BIN/capstan" token create bench --role editor --output json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
for name in off on; do
    url_var="URL_$name"
    token=""
    [ "$name" = on ] && token="$ADMIN"
    CAPSTAN_URL=${!url_var} CAPSTAN_TOKEN=$token "$BIN/capstan" --quiet train logistic \
        --csv tests/data/breast_cancer.csv --target target --register bc > /dev/null
    CAPSTAN_URL=${!url_var} CAPSTAN_TOKEN=$token "$BIN/capstan" promote bc@1 --to production > /dev/null
done

ROW=$(sed -n 2p tests/data/breast_cancer.csv | cut -d, -f1-30)
cat > "$WORK/off.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"instances": [[$ROW]]}'
LUA
cp "$WORK/off.lua" "$WORK/on.lua"
echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\"" >> "$WORK/on.lua"

for round in $(seq 1 "$ROUNDS"); do
    for name in off on; do
        url_var="URL_$name"
        pid_var="PID_$name"
        token=""
        [ "$name" = on ] && token="$TOKEN"
        echo "== round $round, auth $name: resolve"
        CAPSTAN_TOKEN=$token "$BIN/capstan-bench" --url "${!url_var}" --pid "${!pid_var}" \
            resolve --requests 5000 --warmup 500
        echo "== round $round, auth $name: 1-row predict"
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/$name.lua" \
            "${!url_var}/api/v1/models/bc/versions/production/predict" | grep -E "Requests/sec|50%|90%|99%"
    done
done
