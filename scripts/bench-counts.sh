#!/usr/bin/env bash
# Counts that a shared machine's noise does not change: one load run
# against one Switchboard binary (LOAD: `mqtt-fanin`, the default: QoS 0,
# 10 publishers, 1 subscriber, 20,000 publishes/s in 1 ms bursts;
# `ws-echo-max`: WebSocket echo on `/echo` at max, 100 connections;
# `tcp-echo-max`: `wire` echo at max, 100 connections), with, over a 5 s
# window inside the measured one:
#
# - CPU time and context switches of every thread of the server process
#   (an io_uring worker, `iou-wrk-*` or `iou-sqp-*`, would show here);
# - syscalls, io_uring events (task work runs, waits, completions, work
#   punted to io-wq) and kernel allocations per delivered message, from
#   `perf stat` on the server's pid;
# - kernel threads (ksoftirqd, kworker) that used CPU in the window.
#
#   scripts/bench-counts.sh target/release/switchboard uring
#   LOAD=ws-echo-max scripts/bench-counts.sh target-old/release/switchboard uring
#   SERVER_PREFIX="chrt -f 50" RATE=20000 PACING=burst \
#     scripts/bench-counts.sh target-old/release/switchboard epoll
#
# Needs root (perf tracepoints) and a release load generator
# (LOADGEN, default target/release/switchboard-loadgen). Per message
# means per delivered message (mqtt-fanin: RATE x 5 s) or per echoed
# message (at max: the load generator's throughput x 5 s). Knobs: LOAD, RATE
# (20000), PACING (burst; or even), PUBLISHERS (10), PORT (7361),
# SERVER_PREFIX (e.g. "chrt -f 50"), LOADGEN_JSON (where the load
# generator's JSON line goes, default /dev/null).
set -euo pipefail

sb="$1"
backend="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lg="${LOADGEN:-$root/target/release/switchboard-loadgen}"
port="${PORT:-7361}"
rate="${RATE:-20000}"
pacing="${PACING:-burst}"
publishers="${PUBLISHERS:-10}"
window_s=5
logs="$(mktemp -d)"
read -r -a prefix <<<"${SERVER_PREFIX:-}"
load="${LOAD:-mqtt-fanin}"
json="${LOADGEN_JSON:-$logs/loadgen.jsonl}"
common=(--duration 8 --warmup 2 --label "counts-$backend" --json "$json")
case "$load" in
mqtt-fanin)
    listen=(--wire-addr 127.0.0.1:0 --ws-addr 127.0.0.1:0 --mqtt-addr "127.0.0.1:$port")
    client=(mqtt --addr "127.0.0.1:$port" "${common[@]}" --qos 0 --mqtt-version 3.1.1
        --scenario fanin --publishers "$publishers" --subscribers 1 --rate "$rate"
        --pacing "$pacing" --burst-interval-us 1000)
    ;;
ws-echo-max)
    listen=(--wire-addr 127.0.0.1:0 --ws-addr "127.0.0.1:$port" --ws-echo)
    client=(ws --addr "127.0.0.1:$port" "${common[@]}" --scenario echo --connections 100 --rate max)
    ;;
tcp-echo-max)
    listen=(--wire-addr "127.0.0.1:$port")
    client=(tcp --addr "127.0.0.1:$port" "${common[@]}" --scenario echo --connections 100 --rate max)
    ;;
*)
    echo "LOAD must be mqtt-fanin, ws-echo-max or tcp-echo-max" >&2
    exit 1
    ;;
esac

: >"$logs/server.log"
"${prefix[@]}" taskset -c 0 "$sb" --backend "$backend" --threads 1 --pin-threads false \
    --admin-addr 127.0.0.1:0 "${listen[@]}" >"$logs/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "switchboard ready" "$logs/server.log" && break
    sleep 0.1
done

taskset -c 1 "$lg" "${client[@]}" --server-pid "$pid" >"$logs/loadgen.log" 2>&1 &
lgpid=$!
# Into the measured window (warm-up 2 s).
sleep 3.5

# threads PID: "tid comm utime stime voluntary nonvoluntary" per thread.
threads() {
    local t f
    for t in /proc/"$1"/task/*; do
        read -r -a f < <(sed 's/.*) //' "$t/stat")
        echo "$(basename "$t") $(tr ' ' _ <"$t/comm") ${f[11]} ${f[12]}" \
            "$(awk '/^voluntary_ctxt/{print $2}' "$t/status")" \
            "$(awk '/^nonvoluntary_ctxt/{print $2}' "$t/status")"
    done | sort
}
# kthreads: "tid comm utime stime" of the kernel's helper threads.
kthreads() {
    local t c f
    for t in /proc/[0-9]*/task/*; do
        c=$({ tr ' ' _ <"$t/comm"; } 2>/dev/null) || continue
        case "$c" in ksoftirqd* | kworker* | iou-*) ;; *) continue ;; esac
        read -r -a f < <(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
        echo "$(basename "$t") $c ${f[11]} ${f[12]}"
    done | sort
}

threads "$pid" >"$logs/threads-a"
kthreads >"$logs/kthreads-a"
events=syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait
events+=,syscalls:sys_enter_sendmsg,syscalls:sys_enter_writev,syscalls:sys_enter_recvfrom
events+=,io_uring:io_uring_local_work_run,io_uring:io_uring_task_work_run
events+=,io_uring:io_uring_cqring_wait,io_uring:io_uring_complete
events+=,io_uring:io_uring_queue_async_work,context-switches,kmem:kmalloc
perf stat -x, -e "$events" -p "$pid" -- sleep "$window_s" 2>"$logs/perf"
threads "$pid" >"$logs/threads-b"
kthreads >"$logs/kthreads-b"
wait "$lgpid"

if [[ "$load" == mqtt-fanin ]]; then
    msgs=$((rate * window_s))
    echo "== $sb ($backend), $load, $pacing at $rate publishes/s: ~$msgs deliveries in the ${window_s} s window"
else
    thr=$(tail -1 "$json" | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["throughput_msgs_per_s"]))')
    msgs=$((thr * window_s))
    echo "== $sb ($backend), $load: $thr msgs/s, ~$msgs messages in the ${window_s} s window"
fi
echo "server threads (CPU in 10 ms ticks):"
join <(cat "$logs/threads-a") <(cat "$logs/threads-b") | awk -v m="$msgs" '{
    u = $8 - $3; k = $9 - $4; c = ($10 - $5) + ($11 - $6)
    printf "  %-8s %-14s user %4d kernel %4d  CPU us/msg %.2f  switches/msg %.4f\n",
        $1, $2, u, k, (u + k) * 10000 / m, c / m }'
echo "kernel threads that ran (ticks):"
join <(cat "$logs/kthreads-a") <(cat "$logs/kthreads-b") |
    awk '{ d = ($6 - $3) + ($7 - $4); if (d > 0) printf "  %-8s %s %d\n", $1, $2, d }'
echo "events per delivered message:"
awk -F, -v m="$msgs" '$1 ~ /^[0-9]+$/ && $1 > 0 { printf "  %-40s %9d  %.4f\n", $3, $1, $1 / m }' "$logs/perf"
grep -E "latency" "$logs/loadgen.log" | sed 's/^/  /'
tail -1 "$json" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print("  loadgen: server CPU us/msg %.3f (user %.3f, kernel %.3f), other CPU %.0f %%" % (
    d["server_cpu_us_per_msg"], d["server_user_us_per_msg"], d["server_kernel_us_per_msg"],
    d["other_cpu_pct"] or 0))'
