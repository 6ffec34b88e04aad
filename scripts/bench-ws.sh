#!/usr/bin/env bash
# WebSocket benchmark: Switchboard (io_uring and epoll backends) against the
# tokio-tungstenite and fastwebsockets echo baselines (and uWebSockets when
# given), side by side in one run, driven by `switchboard-loadgen ws`.
#
#   scripts/bench-ws.sh
#   UWS_ECHO=/path/to/uws-echo scripts/bench-ws.sh
#
# Every server runs one thread pinned to CPU 0 (`taskset -c 0`); the load
# generator is pinned to CPU 1 and samples the server with --server-pid, so
# server CPU per message is reported. Per server: echo at a fixed offered
# rate (100 connections x 100 msgs/s = 10,000 msgs/s) and at max (closed
# loop); for Switchboard also pairs and fanout on the envelope endpoint `/`
# (subprotocol switchboard.v1.bin); then idle memory per connection for
# every server, Switchboard with and without permessage-deflate negotiated.
# Each run appends one JSON object (with its exact command) to
# bench-results/ws.jsonl; the runs of this invocation are summarised in
# bench-results/ws.md.
#
# UWS_ECHO: an already-built uWebSockets echo server (this script never
# builds it). It is started as `taskset -c 0 $UWS_ECHO PORT` and must echo
# text and binary messages on any path; it is ready once PORT accepts
# connections. Unset: uWebSockets is skipped.
#
# The machine may be shared: before each run the script waits (up to
# QUIET_WAIT seconds) until other work uses at most QUIET_PCT percent of all
# CPUs, and every result records how much CPU the rest of the machine used
# during its window ("other CPU %" in the tables).
#
# Knobs (environment): ONLY_IDLE (unset), DURATION (10), WARMUP (2), RATE (10000),
# FANOUT_RATE (1000 publishes/s, i.e. 100,000 deliveries/s),
# SUBSCRIBERS (100), IDLE_CONNECTIONS (10000), CONNECTIONS (100),
# OUT_DIR (bench-results), QUIET_PCT (10), QUIET_WAIT (600), UWS_ECHO.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

UWS_ECHO="${UWS_ECHO:-}"
TRANSPORT=ws
# shellcheck source=scripts/bench-lib.sh
source "$root/scripts/bench-lib.sh"

# The WebSocket listener serves `/echo` (echo) and `/` (envelopes).
switchboard_cmd() {
    local backend="$1" port="$2"
    echo taskset -c "$SERVER_CPU" "$sb" --backend "$backend" --threads 1 \
        --pin-threads false --wire-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
        --ws-addr "127.0.0.1:$port" --ws-echo
}

switchboard_runs() {
    local backend="$1" port="$2"
    local addr="127.0.0.1:$port" label="switchboard-$backend"
    # shellcheck disable=SC2046
    start_server "switchboard ready" $(switchboard_cmd "$backend" "$port")
    echo_runs "$label" "$addr"
    load "$label" "$addr" --scenario pairs --connections "$CONNECTIONS" --rate "$RATE"
    load "$label" "$addr" --scenario pairs --connections "$CONNECTIONS" --rate max
    load "$label" "$addr" --scenario fanout --subscribers "$SUBSCRIBERS" --rate "$FANOUT_RATE"
    load "$label" "$addr" --scenario fanout --subscribers "$SUBSCRIBERS" --rate max
    stop_server
}

baseline_runs() {
    local impl="$1" port="$2"
    start_server "echo-server ready" taskset -c "$SERVER_CPU" "$lg" echo-server \
        --impl "$impl" --addr "127.0.0.1:$port" --threads 1
    echo_runs "$impl" "127.0.0.1:$port"
    stop_server
}

uws_runs() {
    local port="$1"
    start_server "port:$port" taskset -c "$SERVER_CPU" "$UWS_ECHO" "$port"
    echo_runs uwebsockets "127.0.0.1:$port"
    stop_server
}

# Idle memory runs go last, each on a fresh server whose memory holds
# nothing else (closed connections leave kernel work behind). Several
# source addresses keep TIME_WAIT ports from crowding one address's
# ephemeral range. Switchboard's connections handshake on `/` and send
# HELLO; the echo servers' get only the upgrade (`--raw`).
idle_run() {
    local label="$1" addr="$2" pattern="$3" flags="$4"
    shift 4
    start_server "$pattern" "$@"
    # shellcheck disable=SC2086
    load "$label" "$addr" --scenario idle --connections "$IDLE_CONNECTIONS" \
        --source-ips 127.0.0.1-127.0.0.8 $flags
    stop_server
}

# ONLY_IDLE=1 skips the load runs (the idle table alone).
if [[ -z "${ONLY_IDLE:-}" ]]; then
    switchboard_runs uring 7321
    switchboard_runs epoll 7322
    baseline_runs tungstenite 7323
    baseline_runs fastwebsockets 7324
    if [[ -n "$UWS_ECHO" ]]; then
        uws_runs 7325
    else
        echo "UWS_ECHO not set: skipping uWebSockets"
    fi
fi
# Switchboard twice: HELLO on `/` (a routed user), and upgrade only on
# `/echo`, which is what the echo servers are measured with.
for backend in uring epoll; do
    for flags in "" "--compression" "--raw --path /echo" "--raw --path /echo --compression"; do
        # shellcheck disable=SC2046
        idle_run "switchboard-$backend" 127.0.0.1:7326 "switchboard ready" "$flags" \
            $(switchboard_cmd "$backend" 7326)
    done
done
for impl in tungstenite fastwebsockets; do
    idle_run "$impl" 127.0.0.1:7327 "echo-server ready" "--raw" \
        taskset -c "$SERVER_CPU" "$lg" echo-server --impl "$impl" \
        --addr 127.0.0.1:7327 --threads 1
done
if [[ -n "$UWS_ECHO" ]]; then
    idle_run uwebsockets 127.0.0.1:7328 "port:7328" "--raw" \
        taskset -c "$SERVER_CPU" "$UWS_ECHO" 7328
fi

echo "+ python3 scripts/bench-summary.py ws $jsonl $first_line $md"
python3 scripts/bench-summary.py ws "$jsonl" "$first_line" "$md"
