#!/usr/bin/env bash
# Fixed-rate echo, interleaved: server CPU per message at 10,000 msgs/s
# (100 connections x 100 msgs/s) for Switchboard (uring, epoll) and the
# tokio and monoio baselines, measured in ROUNDS rounds that alternate the
# servers, so that slow drifts of this VM (its idle-wake cost changes from
# hour to hour) hit every server alike. Reports each round and the median.
#
#   scripts/bench-fixed-rate.sh            # ROUNDS=3 DURATION=6 WARMUP=2
#   MODE=ws UWS_ECHO=/path/to/EchoServer scripts/bench-fixed-rate.sh
#   PACING=burst BURST_INTERVAL_US=1000 scripts/bench-fixed-rate.sh
#
# MODE=tcp (default): byte echo, against the tokio and monoio baselines.
# MODE=ws: WebSocket echo (Switchboard's `/echo`), against the
# tokio-tungstenite and fastwebsockets baselines and, when UWS_ECHO names
# an already-built uWebSockets echo server taking its port as first
# argument, uWebSockets (this script never builds it).
#
# Appends to bench-results/<mode>-fixed-rate.jsonl and writes
# bench-results/<mode>-fixed-rate.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-6}"
WARMUP="${WARMUP:-2}"
RATE="${RATE:-10000}"
MODE="${MODE:-tcp}"
PACING="${PACING:-even}"
BURST_INTERVAL_US="${BURST_INTERVAL_US:-1000}"
UWS_ECHO="${UWS_ECHO:-}"
out_dir="${OUT_DIR:-bench-results}"
jsonl="$out_dir/$MODE-fixed-rate.jsonl"
md="$out_dir/$MODE-fixed-rate.md"
mkdir -p "$out_dir"
touch "$jsonl"
first_line=$(($(wc -l <"$jsonl") + 1))

echo "+ cargo build --release -p switchboard -p switchboard-loadgen"
cargo build --release -p switchboard -p switchboard-loadgen
sb=target/release/switchboard
lg=target/release/switchboard-loadgen
log="$(mktemp)"

one_run() {
    local label="$1" pattern="$2"
    shift 2
    echo "+ $* &"
    "$@" >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        grep -q "$pattern" "$log" && break
        sleep 0.1
    done
    local cmd=(taskset -c 1 "$lg" "$MODE" --addr 127.0.0.1:7310 --scenario echo
        --connections 100 --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP"
        --pacing "$PACING" --burst-interval-us "$BURST_INTERVAL_US"
        --server-pid "$pid" --label "$label" --json "$jsonl")
    echo "+ ${cmd[*]}"
    "${cmd[@]}" | grep -E "server:|latency"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

if [ "$MODE" = ws ]; then
    listen=(--ws-echo --ws-addr 127.0.0.1:7310 --wire-addr 127.0.0.1:0)
    baselines=(tungstenite fastwebsockets)
else
    listen=(--wire-addr 127.0.0.1:7310)
    baselines=(tokio monoio)
fi
for round in $(seq 1 "$ROUNDS"); do
    for backend in uring epoll; do
        one_run "switchboard-$backend" "switchboard ready" taskset -c 0 "$sb" \
            --backend "$backend" --threads 1 --pin-threads false \
            "${listen[@]}" --admin-addr 127.0.0.1:0
    done
    for impl in "${baselines[@]}"; do
        one_run "$impl" "echo-server ready" taskset -c 0 "$lg" echo-server \
            --impl "$impl" --addr 127.0.0.1:7310 --threads 1
    done
    if [ "$MODE" = ws ] && [ -n "$UWS_ECHO" ]; then
        one_run uwebsockets "Listening on port" taskset -c 0 "$UWS_ECHO" 7310
    fi
done

command="MODE=$MODE ${UWS_ECHO:+UWS_ECHO=$UWS_ECHO }PACING=$PACING BURST_INTERVAL_US=$BURST_INTERVAL_US ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP RATE=$RATE scripts/bench-fixed-rate.sh"
python3 - "$jsonl" "$first_line" "$md" "$command" <<'PY'
import json, statistics, sys
path, first, md, command = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = [json.loads(l) for i, l in enumerate(open(path), 1) if i >= first and l.strip()]
by = {}
for r in runs:
    by.setdefault(r["label"], []).append(r)
r0 = runs[0]
mode = "WebSocket" if "ws" in md.rsplit("/", 1)[-1] else "TCP"
lines = [
    f"# Fixed-rate {mode} echo, servers interleaved\n",
    f"`scripts/bench-fixed-rate.sh`, {r0.get('date')} (commit {r0.get('git_commit')}). "
    f"100 connections x 100 msgs/s = {r0['rate']} msgs/s, pacing {r0.get('pacing') or 'even'}, 64-byte bodies, server on CPU 0, "
    f"loadgen on CPU 1, {r0['duration_s']:g} s after {r0['warmup_s']:g} s warm-up per run; "
    "the servers take turns, round after round. " f"Raw runs: `{path.rsplit(chr(47), 1)[-1]}`. "
    f"Command: `{command}`.\n",
    "| server | server CPU µs/msg per round | median | user / kernel µs/msg (median) | p99 µs per round | median p99 |",
    "|---|---|---:|---:|---|---:|",
]
med = {}
for label, rs in by.items():
    cpu = [r["server_cpu_us_per_msg"] for r in rs]
    p99 = [r["latency_us"]["p99"] for r in rs]
    med[label] = statistics.median(cpu)
    split = [(r.get("server_user_us_per_msg"), r.get("server_kernel_us_per_msg")) for r in rs]
    split = (f"{statistics.median(u for u, _ in split):.2f} / {statistics.median(k for _, k in split):.2f}"
             if all(u is not None and k is not None for u, k in split) else "-")
    lines.append(f"| {label} | {', '.join(f'{c:.2f}' for c in cpu)} | {statistics.median(cpu):.2f} | {split} | "
                 f"{', '.join(str(p) for p in p99)} | {statistics.median(p99):g} |")
best = min((v, k) for k, v in med.items() if not k.startswith("switchboard"))
lines.append("")
for k in ("switchboard-uring", "switchboard-epoll"):
    if k in med:
        lines.append(f"- {k}: {med[k] / best[0]:.2f}x the CPU per message of the better baseline ({best[1]}).")
open(md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
