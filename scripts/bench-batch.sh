#!/usr/bin/env bash
# Batch benchmark (docs/performance.md, "Offline predictions end to end"): starts a release
# registry on loopback (SQLite + local disk, a throwaway data directory), runs
# `capstan-bench batch` against it for each model kind and row count, stops it.
#
#   bash scripts/bench-batch.sh [ROWS...]        (default: 1000000)
#
# Environment:
#   CAPSTAN_BENCH_KINDS   model kinds [linfa onnx]
#   CAPSTAN_BENCH_BIN     a directory of prebuilt binaries (else the tree is built)
#   CAPSTAN_BENCH_ARGS    extra capstan-bench flags, e.g. "--json"
#   RUST_LOG              the server's log filter [warn]
#   MALLOC_ARENA_MAX      passed on to the server (2 is what docs/configuration.md advises)
# The inputs are written once to /tmp/capstan-bench-batch-<rows>.csv and kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=("$@")
[ ${#ROWS[@]} -eq 0 ] && ROWS=(1000000)
read -r -a KINDS <<< "${CAPSTAN_BENCH_KINDS:-linfa onnx}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
if [ -n "${CAPSTAN_BENCH_BIN:-}" ]; then
    BIN="$CAPSTAN_BENCH_BIN"
else
    cargo build --quiet --release -p capstan-registry
    cargo build --quiet --release -p capstan-tests --bin capstan-bench
    BIN="$CARGO_TARGET_DIR/release"
fi
WORK="$(mktemp -d)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Datasets up to 4 GiB (10 000 000 rows of CSV are about 1.9 GB).
RUST_LOG="${RUST_LOG:-warn}" "$BIN/capstan-registry" serve --listen "127.0.0.1:$PORT" \
    --data-dir "$WORK/data" --max-dataset-bytes 4294967296 > "$WORK/registry.log" 2>&1 &
SERVER_PID=$!
cleanup() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export CAPSTAN_URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$CAPSTAN_URL/healthz" > /dev/null && break; sleep 0.1; done
echo "== capstan-registry serve (pid $SERVER_PID, SQLite + local disk, $(nproc) cores)"
# shellcheck disable=SC2086 # CAPSTAN_BENCH_ARGS is a list of flags
for rows in "${ROWS[@]}"; do
    for kind in "${KINDS[@]}"; do
        echo "== $rows rows, $kind"
        "$BIN/capstan-bench" --pid "$SERVER_PID" --model "bench-$kind" ${CAPSTAN_BENCH_ARGS:-} \
            batch --rows "$rows" --kind "$kind"
    done
done
