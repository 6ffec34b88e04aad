#!/usr/bin/env bash
# TCP benchmark: Switchboard (io_uring and epoll backends) against baseline
# tokio and monoio echo servers, all on one core, driven by
# switchboard-loadgen on another core.
#
#   scripts/bench-tcp.sh
#
# Every server runs with one thread pinned to CPU 0 (`taskset -c 0`); the
# load generator is pinned to CPU 1. Per server: echo at a fixed offered
# rate and at max (closed loop); for Switchboard also pairs, fanout and
# idle memory. Each run appends one JSON object to bench-results/tcp.jsonl;
# the runs of this invocation are then summarised in bench-results/tcp.md.
#
# The machine may be shared: before each run the script waits (up to
# QUIET_WAIT seconds) until other work uses at most QUIET_PCT percent of all
# CPUs, and every result records how much CPU the rest of the machine used
# during its window ("other CPU %" in the tables).
#
# Knobs (environment): DURATION (10), WARMUP (2), RATE (10000),
# FANOUT_RATE (1000 publishes/s, i.e. 100,000 deliveries/s),
# SUBSCRIBERS (100), IDLE_CONNECTIONS (10000), CONNECTIONS (100),
# OUT_DIR (bench-results), QUIET_PCT (10), QUIET_WAIT (600).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TRANSPORT=tcp
# shellcheck source=scripts/bench-lib.sh
source "$root/scripts/bench-lib.sh"

switchboard_runs() {
    local backend="$1" port="$2"
    local addr="127.0.0.1:$port" label="switchboard-$backend"
    start_server "switchboard ready" taskset -c "$SERVER_CPU" "$sb" \
        --backend "$backend" --threads 1 --pin-threads false \
        --wire-addr "$addr" --admin-addr 127.0.0.1:0
    echo_runs "$label" "$addr"
    load "$label" "$addr" --scenario pairs --connections "$CONNECTIONS" --rate "$RATE"
    load "$label" "$addr" --scenario pairs --connections "$CONNECTIONS" --rate max
    load "$label" "$addr" --scenario fanout --subscribers "$SUBSCRIBERS" --rate "$FANOUT_RATE"
    load "$label" "$addr" --scenario fanout --subscribers "$SUBSCRIBERS" --rate max
    stop_server
}

baseline_runs() {
    local impl="$1" port="$2"
    local addr="127.0.0.1:$port"
    start_server "echo-server ready" taskset -c "$SERVER_CPU" "$lg" echo-server \
        --impl "$impl" --addr "$addr" --threads 1
    echo_runs "$impl" "$addr"
    stop_server
}

# Idle memory runs go last, each on a fresh server whose memory holds
# nothing else: ten thousand closed connections leave kernel work behind
# (TIME_WAIT timers) that would otherwise be charged to the next runs.
# Several source addresses keep the closed connections' TIME_WAIT ports
# from crowding one address's ephemeral range.
idle_run() {
    local label="$1" addr="$2" pattern="$3"
    shift 3
    start_server "$pattern" "$@"
    local raw=()
    [[ "$label" == switchboard-* ]] || raw=(--raw)
    load "$label" "$addr" --scenario idle --connections "$IDLE_CONNECTIONS" \
        --source-ips 127.0.0.1-127.0.0.8 "${raw[@]}"
    stop_server
}

switchboard_runs uring 7301
switchboard_runs epoll 7302
baseline_runs tokio 7303
baseline_runs monoio 7304
for backend in uring epoll; do
    idle_run "switchboard-$backend" 127.0.0.1:7305 "switchboard ready" \
        taskset -c "$SERVER_CPU" "$sb" --backend "$backend" --threads 1 \
        --pin-threads false --wire-addr 127.0.0.1:7305 --admin-addr 127.0.0.1:0
done
for impl in tokio monoio; do
    idle_run "$impl" 127.0.0.1:7306 "echo-server ready" \
        taskset -c "$SERVER_CPU" "$lg" echo-server --impl "$impl" \
        --addr 127.0.0.1:7306 --threads 1
done

echo "+ python3 scripts/bench-summary.py tcp $jsonl $first_line $md"
python3 scripts/bench-summary.py tcp "$jsonl" "$first_line" "$md"
