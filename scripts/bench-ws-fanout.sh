#!/usr/bin/env bash
# WebSocket fan-out, before and after a change: 1 publisher -> one topic
# with SUBSCRIBERS WebSocket subscribers that take every frame as JSON text
# (`switchboard-loadgen ws --scenario fanout --json-frames`), with and
# without permessage-deflate, ROUNDS interleaved rounds (the order of the
# two binaries alternates per round), so that other work on the machine
# disturbs both alike. Appends one JSON object per run to
# bench-results/${RESULTS:-ws-fanout}.jsonl; labels are "<name> <deflate|plain>".
#
# BEFORE and AFTER: the two `switchboard` binaries (built by the caller,
# e.g. `cargo build --release` at each commit, copied aside). LOADGEN:
# the load generator (default target/release/switchboard-loadgen).
# The server runs one thread on CPU 0, the load generator on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BEFORE:?path of the before binary}" "${AFTER:?path of the after binary}"
LOADGEN="${LOADGEN:-target/release/switchboard-loadgen}"
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
SIZE="${SIZE:-1024}"
DURATION="${DURATION:-8}"
WARMUP="${WARMUP:-2}"
ROUNDS="${ROUNDS:-3}"
PORT="${PORT:-7493}"
BACKEND="${BACKEND:-uring}"
jsonl="bench-results/${RESULTS:-ws-fanout}.jsonl"
log="$(mktemp)"

one_run() {
    local name="$1" bin="$2" deflate="$3"
    taskset -c 0 "$bin" --backend "$BACKEND" --threads 1 --pin-threads false \
        --wire-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --mqtt-enabled false \
        --ws-addr "127.0.0.1:$PORT" >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        grep -q "switchboard ready" "$log" && break
        sleep 0.1
    done
    local flags=()
    if [ "$deflate" = deflate ]; then flags=(--compression); fi
    taskset -c 1 "$LOADGEN" ws --addr "127.0.0.1:$PORT" --scenario fanout \
        --subscribers "$SUBSCRIBERS" --json-frames "${flags[@]}" --rate max \
        --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" \
        --server-pid "$pid" --label "$name $deflate" --json "$jsonl"
    kill "$pid"
    wait "$pid" || true
}

for round in $(seq 1 "$ROUNDS"); do
    order=(before after)
    if [ $((round % 2)) = 0 ]; then order=(after before); fi
    for deflate in plain deflate; do
        for name in "${order[@]}"; do
            bin="$BEFORE"
            if [ "$name" = after ]; then bin="$AFTER"; fi
            echo "== round $round: $name $deflate"
            one_run "$name" "$bin" "$deflate"
        done
    done
done
