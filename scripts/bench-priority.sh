#!/usr/bin/env bash
# Priority benchmark (release binaries; server on CPU 0, one thread; load
# generator on CPU 1), appending to bench-results/priority.jsonl:
#
# 1. Overload: `fanout`, one publisher to SUBSCRIBERS_SLOW subscribers,
#    1 KiB messages offered faster than each subscriber drains
#    (`--read-bytes-per-s`), every HIGH_EVERY-th message HIGH_PRIORITY:
#    high-lane against normal-lane latency, with the normal messages
#    DROPPABLE (shed, counted in switchboard_shed_total, read from /metrics
#    around the run) and without (backpressure), and DROPPABLE with a
#    4 MiB send-queue watermark (a deeper user-space queue to overtake).
# 2. The cost of bounding the kernel's unsent bytes at max: echo at
#    `--rate max`, `--socket-unsent-bytes-max` 0 (kernel default) against
#    the default 131072, ROUNDS interleaved rounds, 64 B and 16 KiB bodies.
#
#   scripts/bench-priority.sh
#
# Knobs (environment): PARTS ("overload echo"), DURATION (10), WARMUP (2),
# OVERLOAD_RATE (5000 publishes/s), SUBSCRIBERS_SLOW (4),
# DRAIN (2097152 bytes/s per receiver), RCVBUF (65536: each loadgen
# socket's SO_RCVBUF, so that a slow reader's own kernel buffer stays
# small; 0 lets the kernel grow it), HIGH_EVERY (50), ROUNDS (3),
# QUIET_PCT, QUIET_WAIT (see bench-lib.sh).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TRANSPORT=tcp
RESULTS=priority
# shellcheck source=scripts/bench-lib.sh
source "$root/scripts/bench-lib.sh"

OVERLOAD_RATE="${OVERLOAD_RATE:-5000}"
SUBSCRIBERS_SLOW="${SUBSCRIBERS_SLOW:-4}"
DRAIN="${DRAIN:-2097152}"
RCVBUF="${RCVBUF:-65536}"
PARTS="${PARTS:-overload echo}"
HIGH_EVERY="${HIGH_EVERY:-50}"
ROUNDS="${ROUNDS:-3}"
admin=127.0.0.1:7399

start_switchboard() {
    local addr="$1"
    shift
    start_server "switchboard ready" taskset -c "$SERVER_CPU" "$sb" \
        --backend uring --threads 1 --pin-threads false \
        --wire-addr "$addr" --admin-addr "$admin" "$@"
}

# metric NAME: its value summed over the server's cores.
metric() {
    curl -s "http://$admin/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" { s += $2 } END { print s + 0 }'
}

# overload LABEL "SERVER ARGS" LOADGEN ARGS...: one overload run on a fresh
# server; the server's shed count is added to the loadgen's record.
overload() {
    local label="$1" server_args="$2"
    shift 2
    # shellcheck disable=SC2086
    start_switchboard 127.0.0.1:7310 $server_args
    local shed_before
    shed_before=$(metric switchboard_shed_total)
    load "$label" 127.0.0.1:7310 --scenario fanout --connections "$((SUBSCRIBERS_SLOW + 1))" \
        --subscribers "$SUBSCRIBERS_SLOW" \
        --size 1024 --rate "$OVERLOAD_RATE" --read-bytes-per-s "$DRAIN" \
        --rcvbuf-bytes "$RCVBUF" --high-every "$HIGH_EVERY" "$@"
    local shed=$(($(metric switchboard_shed_total) - shed_before))
    echo "shed by the server during the run: $shed"
    local last
    last=$(tail -n 1 "$jsonl" | jq -c --argjson shed "$shed" '. + {server_shed_total: $shed}')
    sed -i '$ d' "$jsonl"
    echo "$last" >>"$jsonl"
    stop_server
}

if [[ " $PARTS " == *" overload "* ]]; then
    overload priority-overload-droppable "" --droppable
    overload priority-overload-backpressure ""
    overload priority-overload-droppable-queue-4MiB "--send-queue-high-bytes 4194304" --droppable
fi

if [[ " $PARTS " == *" echo "* ]]; then
    for round in $(seq 1 "$ROUNDS"); do
        for size in 64 16384; do
            for unsent in 0 131072; do
                start_switchboard 127.0.0.1:7311 --socket-unsent-bytes-max "$unsent"
                load "unsent-max-$unsent-size-$size-round-$round" 127.0.0.1:7311 \
                    --scenario echo --connections 100 --size "$size" --rate max
                stop_server
            done
        done
    done
fi

# Summary of every run in priority.jsonl, oldest first.
{
    echo "# Priority (scripts/bench-priority.sh)"
    echo
    echo "Generated from every run in priority.jsonl (the exact command of each is in its \`command\` field)."
    echo "How to read them, and what each set of runs shows: docs/benchmarks.md, section \"Priority under overload\"."
    echo "In fanout runs \"high sent\" counts publishes and \"high received\" deliveries (one per subscriber)."
    echo
    echo "## Overload: high lane against normal lane"
    echo
    echo "| date | label | conns | drain B/s | rcvbuf | sent (window) | received | high sent | high received | sent (whole run) | received (whole run) | shed (server, whole run) | errors | normal p50 / p99 ms | high p50 / p99 ms | other CPU % |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    cat "$jsonl" | jq -r 'select(.label | startswith("priority-overload")) |
        "| \(.date) | \(.label) | \(.connections) | \(.read_bytes_per_s) | \(.rcvbuf_bytes // "kernel") | \(.sent) | \(.received) | \(.sent_high) | \(.received_high) | \(.sent_all) | \(.received_all) | \(.server_shed_total) | \(.errors) | \(.latency_us.p50 / 1000) / \(.latency_us.p99 / 1000) | \(.high_latency_us.p50 / 1000) / \(.high_latency_us.p99 / 1000) | \(.other_cpu_pct) |"'
    echo
    echo "## Echo at max, kernel unsent bound off (0) and on (131072)"
    echo
    echo "| label | msgs/s | p50 us | p99 us | server us/msg | other CPU % |"
    echo "| --- | --- | --- | --- | --- | --- |"
    cat "$jsonl" | jq -r 'select(.label | startswith("unsent-max")) |
        "| \(.label) | \(.throughput_msgs_per_s | floor) | \(.latency_us.p50) | \(.latency_us.p99) | \(.server_cpu_us_per_msg) | \(.other_cpu_pct) |"'
} >"$md"
echo "summary: $md"
