#!/usr/bin/env bash
# Before/after rounds of one echo load at max: the current build against
# an older Switchboard binary, interleaved round by round (old uring, new
# uring, old epoll, new epoll, then again) so that the drifts of a shared
# machine hit both alike. The load generator reports server CPU per
# message split into user and kernel time.
#
#   OLD_SB=target-old/release/switchboard TRANSPORT=ws ROUNDS=3 \
#     RESULTS=wakeup-cost scripts/bench-old-new.sh
#
# TRANSPORT: tcp (`wire` SEND/DELIVER echo, the bench-tcp.sh load) or ws
# (plain WebSocket echo on `/echo`, the bench-ws.sh load). Each server
# runs one thread pinned to CPU 0, the load generator on CPU 1, as in
# bench-tcp.sh and bench-ws.sh. Labels: old-uring, new-uring, old-epoll,
# new-epoll.
#
# Knobs (environment): OLD_SB (required), TRANSPORT (tcp), ROUNDS (3),
# BACKENDS ("uring epoll"), CONNECTIONS (100), RESULTS (output names,
# default old-new-TRANSPORT), DURATION, WARMUP, QUIET_PCT, QUIET_WAIT,
# SERVER_PREFIX (bench-lib.sh).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TRANSPORT="${TRANSPORT:-tcp}"
# Not the transport's own summary (bench-results/tcp.md, ws.md) by default.
RESULTS="${RESULTS:-old-new-$TRANSPORT}"
# shellcheck source=scripts/bench-lib.sh
source "$root/scripts/bench-lib.sh"
ROUNDS="${ROUNDS:-3}"
BACKENDS="${BACKENDS:-uring epoll}"
if [[ -z "${OLD_SB:-}" || ! -x "$OLD_SB" ]]; then
    echo "OLD_SB must name the older switchboard binary" >&2
    exit 1
fi

# server_args PORT: the listener flags for this transport.
server_args() {
    local port="$1"
    case "$TRANSPORT" in
    tcp) echo --wire-addr "127.0.0.1:$port" --admin-addr 127.0.0.1:0 ;;
    ws)
        echo --wire-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
            --ws-addr "127.0.0.1:$port" --ws-echo
        ;;
    *)
        echo "TRANSPORT must be tcp or ws" >&2
        exit 1
        ;;
    esac
}

port=7351
for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round of $ROUNDS"
    for backend in $BACKENDS; do
        for which in old new; do
            bin="$sb"
            if [[ "$which" == old ]]; then bin="$OLD_SB"; fi
            # shellcheck disable=SC2046
            start_server "switchboard ready" taskset -c "$SERVER_CPU" "$bin" \
                --backend "$backend" --threads 1 --pin-threads false $(server_args "$port")
            load "$which-$backend" "127.0.0.1:$port" --scenario echo \
                --connections "$CONNECTIONS" --rate max
            stop_server
            port=$((port + 1))
        done
    done
done

echo "+ python3 scripts/bench-summary.py $TRANSPORT $jsonl $first_line $md"
python3 scripts/bench-summary.py "$TRANSPORT" "$jsonl" "$first_line" "$md"
