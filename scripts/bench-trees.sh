#!/usr/bin/env bash
# File trees (docs/performance.md, "File trees"): a release registry on loopback (SQLite +
# local disk), a directory of FILES small files (1–4 KiB each, like a tokenizer or a
# sharded checkpoint's index) plus one 64 MiB file, then with the release `capstan`:
# push it (every file new), change one file and push again (one file sent), push it
# unchanged, pull it into an empty directory, pull it again (nothing fetched). Each step's
# wall time and the client's peak resident memory (GNU time), then the registry's peak
# resident memory (VmHWM) — flat in FILES is the claim.
#
#   bash scripts/bench-trees.sh [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
FILES="${1:-10000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan-target}"
if [ -n "${CAPSTAN_BENCH_BIN:-}" ]; then
    BIN="$CAPSTAN_BENCH_BIN"
else
    cargo build --quiet --release -p capstan-registry
    cargo build --quiet --release -p capstan-client --features cli --bin capstan
    BIN="$CARGO_TARGET_DIR/release"
fi
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
RUST_LOG=warn "$BIN/capstan-registry" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
    --batch-workers 0 > "$WORK/registry.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
export CAPSTAN_URL="http://127.0.0.1:$PORT" CAPSTAN_CACHE_DIR="$WORK/cache"

python3 - "$WORK/tree" "$FILES" <<'PY'
import os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(14)
for i in range(count):
    folder = os.path.join(root, f"shard-{i // 500:03d}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"part-{i:05d}.bin"), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 4096)))
with open(os.path.join(root, "weights.bin"), "wb") as f:
    for _ in range(64):
        f.write(rng.randbytes(1024 * 1024))
PY
echo "tree: $FILES small files + one 64 MiB file, $(du -sh "$WORK/tree" | cut -f1)"

# step NAME COMMAND…: wall seconds and peak RSS of the client.
step() {
    local name="$1"
    shift
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/out.json"
    read -r seconds rss_kib < "$WORK/time"
    printf '%-28s %8.2f s  client peak RSS %6.1f MiB  %s\n' "$name" "$seconds" \
        "$(echo "$rss_kib / 1024" | bc -l)" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
keys = ("files", "files_sent", "bytes_sent", "files_fetched", "bytes_fetched")
print(" ".join(f"{k}={d[k]}" for k in keys if k in d))' "$WORK/out.json")"
}

"$BIN/capstan" models create bench > /dev/null
step "push (all new)" "$BIN/capstan" push "$WORK/tree" --model bench --output json
echo "changed" >> "$WORK/tree/shard-000/part-00000.bin"
step "push (one file changed)" "$BIN/capstan" push "$WORK/tree" --model bench --output json
step "push (unchanged)" "$BIN/capstan" push "$WORK/tree" --model bench --output json
step "pull (empty directory)" "$BIN/capstan" pull bench@latest -o "$WORK/pulled" --output json
step "pull (all there)" "$BIN/capstan" pull bench@latest -o "$WORK/pulled" --output json
diff -r "$WORK/tree" "$WORK/pulled" > /dev/null && echo "pulled tree identical to the pushed one"
printf 'registry peak RSS: %s\n' "$(grep VmHWM /proc/$PID/status | awk '{printf "%.1f MiB", $2/1024}')"
