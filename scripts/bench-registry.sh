#!/usr/bin/env bash
# Registry benchmarks (docs/performance.md, "Registry"): starts a release registry on
# loopback with a throwaway data directory, runs capstan-bench against it, stops it.
#
#   bash scripts/bench-registry.sh [BACKEND] [BENCH...]
#
#   BACKEND  sqlite (default: SQLite + local disk, the embedded setup)
#            postgres (PostgreSQL + local disk; a fresh database, dropped afterwards)
#            s3 (SQLite + an S3-compatible server)
#   BENCH    resolve, upload-promote, transfer (default: these three), deployments (1000
#            deployments × 10 instances reporting every 10 s for 60 s, while deployments
#            are read; CAPSTAN_BENCH_DEPLOYMENTS changes the 1000)
#
# Environment:
#   CAPSTAN_BENCH_PG          admin URL [postgres://postgres@127.0.0.1:5432/test]
#   CAPSTAN_BENCH_S3_ENDPOINT S3 endpoint [http://127.0.0.1:9014]; bucket
#                             CAPSTAN_BENCH_S3_BUCKET [capstan-test]; credentials from
#                             AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [capstan / capstan-secret]
#   CAPSTAN_BENCH_FILE        the transfer's artifact [/tmp/capstan-bench-1g.bin], created if missing
#   CAPSTAN_BENCH_SIZE_MIB    the transfer's size [1024]
#   RUST_LOG                  the server's log filter [info, the default: one line per request]
#   CAPSTAN_BENCH_ARGS        extra capstan-bench flags, e.g. "--threads" or "--json"
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND="${1:-sqlite}"
shift || true
BENCHES=("$@")
[ ${#BENCHES[@]} -eq 0 ] && BENCHES=(resolve upload-promote transfer)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
# CAPSTAN_BENCH_BIN: a directory of prebuilt binaries to run instead (for A/B runs of two
# builds); without it the current tree is built.
if [ -n "${CAPSTAN_BENCH_BIN:-}" ]; then
    BIN="$CAPSTAN_BENCH_BIN"
else
    cargo build --quiet --release -p capstan-registry
    cargo build --quiet --release -p capstan-tests --bin capstan-bench
    BIN="$CARGO_TARGET_DIR/release"
fi
WORK="$(mktemp -d)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PG_ADMIN="${CAPSTAN_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}"
PG_DB=""
SERVER_ARGS=(serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data")
case "$BACKEND" in
    sqlite) ;;
    postgres)
        PG_DB="capstan_bench_$$"
        psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB"
        SERVER_ARGS+=(--database-url "${PG_ADMIN%/*}/$PG_DB")
        ;;
    s3)
        export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-capstan}"
        export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-capstan-secret}"
        SERVER_ARGS+=(--object-store-url "s3://${CAPSTAN_BENCH_S3_BUCKET:-capstan-test}/bench-$$"
            --s3-endpoint "${CAPSTAN_BENCH_S3_ENDPOINT:-http://127.0.0.1:9014}" --s3-allow-http true)
        ;;
    *) echo "unknown backend $BACKEND (sqlite, postgres or s3)" >&2; exit 2 ;;
esac
"$BIN/capstan-registry" "${SERVER_ARGS[@]}" > "$WORK/registry.log" 2>&1 &
SERVER_PID=$!
cleanup() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    [ -n "$PG_DB" ] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export CAPSTAN_URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$CAPSTAN_URL/healthz" > /dev/null && break; sleep 0.1; done
echo "== $BACKEND: capstan-registry ${SERVER_ARGS[*]} (pid $SERVER_PID, RUST_LOG=${RUST_LOG:-info})"
# shellcheck disable=SC2086 # CAPSTAN_BENCH_ARGS is a list of flags
for bench in "${BENCHES[@]}"; do
    echo "== $bench"
    case "$bench" in
        resolve) "$BIN/capstan-bench" --pid "$SERVER_PID" ${CAPSTAN_BENCH_ARGS:-} resolve --requests 5000 --warmup 500 ;;
        upload-promote) "$BIN/capstan-bench" --pid "$SERVER_PID" ${CAPSTAN_BENCH_ARGS:-} upload-promote --iterations 300 --warmup 20 ;;
        transfer) "$BIN/capstan-bench" --pid "$SERVER_PID" ${CAPSTAN_BENCH_ARGS:-} transfer \
            --size-mib "${CAPSTAN_BENCH_SIZE_MIB:-1024}" --file "${CAPSTAN_BENCH_FILE:-/tmp/capstan-bench-1g.bin}" ;;
        deployments) "$BIN/capstan-bench" --pid "$SERVER_PID" ${CAPSTAN_BENCH_ARGS:-} deployments \
            --deployments "${CAPSTAN_BENCH_DEPLOYMENTS:-1000}" --instances 10 --interval 10 --duration 60 ;;
        *) echo "unknown benchmark $bench" >&2; exit 2 ;;
    esac
done
