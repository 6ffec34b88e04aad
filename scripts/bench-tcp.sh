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

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
RATE="${RATE:-10000}"
FANOUT_RATE="${FANOUT_RATE:-1000}"
SUBSCRIBERS="${SUBSCRIBERS:-100}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-10000}"
CONNECTIONS="${CONNECTIONS:-100}"
QUIET_PCT="${QUIET_PCT:-10}"
QUIET_WAIT="${QUIET_WAIT:-600}"
SERVER_CPU=0
CLIENT_CPU=1

out_dir="${OUT_DIR:-bench-results}"
jsonl="$out_dir/tcp.jsonl"
md="$out_dir/tcp.md"
mkdir -p "$out_dir"
touch "$jsonl"
# Only the lines this invocation appends go into the Markdown summary.
first_line=$(($(wc -l <"$jsonl") + 1))
logs="$(mktemp -d)"

run() {
    echo "+ $*"
    "$@"
}

run cargo build --release -p switchboard -p switchboard-loadgen
sb=target/release/switchboard
lg=target/release/switchboard-loadgen

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# start_server READY_PATTERN COMMAND...: starts it in the background and
# waits for its ready line.
start_server() {
    local pattern="$1"
    shift
    local log="$logs/server.log"
    echo "+ $* &"
    "$@" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if grep -q "$pattern" "$log"; then
            cat "$log"
            return
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            cat "$log" >&2
            echo "server exited before it was ready" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "server not ready after 10 s" >&2
    exit 1
}

# busy_pct: percent of all CPUs busy over the next second.
busy_pct() {
    local _c u n s i w q sq st rest b1 t1
    read -r _c u n s i w q sq st rest </proc/stat
    b1=$((u + n + s + q + sq + st))
    t1=$((b1 + i + w))
    sleep 1
    read -r _c u n s i w q sq st rest </proc/stat
    echo $((100 * (u + n + s + q + sq + st - b1) / (u + n + s + q + sq + st + i + w - t1)))
}

# wait_quiet: waits until other work leaves the CPUs (nearly) free.
wait_quiet() {
    local busy
    for _ in $(seq 1 "$QUIET_WAIT"); do
        busy=$(busy_pct)
        if ((busy <= QUIET_PCT)); then
            return
        fi
        echo "machine ${busy}% busy with other work; waiting" >&2
    done
    echo "warning: machine still busy after ${QUIET_WAIT} s; measuring anyway" >&2
}

# load LABEL ADDR ARGS...: one loadgen run against the running server.
load() {
    local label="$1" addr="$2"
    shift 2
    wait_quiet
    run taskset -c "$CLIENT_CPU" "$lg" tcp --addr "$addr" \
        --duration "$DURATION" --warmup "$WARMUP" \
        --server-pid "$server_pid" --label "$label" --json "$jsonl" "$@"
}

echo_runs() {
    local label="$1" addr="$2"
    load "$label" "$addr" --scenario echo --connections "$CONNECTIONS" --rate "$RATE"
    load "$label" "$addr" --scenario echo --connections "$CONNECTIONS" --rate max
}

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

echo "+ python3 (summary of $jsonl from line $first_line) > $md"
python3 - "$jsonl" "$first_line" "$md" <<'PY'
import json
import sys

path, first, md_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path) as f:
    runs = [json.loads(l) for i, l in enumerate(f, 1) if i >= first and l.strip()]


def server_backend(label):
    if label.startswith("switchboard-"):
        return "switchboard", label.split("-", 1)[1]
    return label, "-"


def num(v, fmt="{:,.0f}"):
    return "-" if v is None else fmt.format(v)


def lat(r, q):
    l = r.get("latency_us") or {}
    return num(l.get(q))


def ratio(a, b, fmt="{:.2f}x"):
    if a is None or b is None or b == 0:
        return "-"
    return fmt.format(a / b)


out = []
w = out.append
if runs:
    r0 = runs[0]
    m = r0["machine"]
    w("# TCP benchmark: Switchboard vs tokio and monoio echo baselines\n")
    w(f"Generated by `scripts/bench-tcp.sh` on {r0['date']} "
      f"(commit {r0.get('git_commit') or '?'}, {m['nproc']} CPUs, kernel {m['kernel']}).\n")
    w(f"Each server: one thread pinned to CPU 0; switchboard-loadgen pinned to CPU 1. "
      f"{r0['duration_s']:g} s measured after {r0['warmup_s']:g} s warm-up; "
      f"{r0['size']}-byte bodies. Latency is from the *intended* send time "
      f"(open loop: coordinated omission included) to receipt, in µs. "
      f"`max` = closed loop with {r0['pipeline']} messages in flight per sending connection. "
      f"Server CPU is utime+stime of the server process over the measured window; "
      f"CPU µs/msg divides it by messages received (fanout: by deliveries). "
      f"*Other CPU %* is what the rest of the machine used during the window "
      f"(100 = one core): above ~10 the run was disturbed by other work.\n")
    w("Raw data: `bench-results/tcp.jsonl` (one JSON object per run, with the exact command).\n")

for scenario in ["echo", "pairs", "fanout"]:
    rs = [r for r in runs if r["scenario"] == scenario]
    if not rs:
        continue
    w(f"## {scenario}\n")
    extra = " (throughput = deliveries/s)" if scenario == "fanout" else ""
    if scenario == "fanout":
        w(f"One publisher, {rs[0].get('subscribers')} subscribers{extra}.\n")
    w("| server | backend | conns | offered rate (msgs/s) | throughput (msgs/s) | p50 µs | p99 µs | p99.9 µs | max µs | server CPU µs/msg | server CPU % | errors | loadgen CPU % | other CPU % |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rs:
        s, b = server_backend(r.get("label") or "?")
        w(f"| {s} | {b} | {r['connections']} | {r['rate']} | {num(r['throughput_msgs_per_s'])} | "
          f"{lat(r, 'p50')} | {lat(r, 'p99')} | {lat(r, 'p999')} | {lat(r, 'max')} | "
          f"{num(r['server_cpu_us_per_msg'], '{:.2f}')} | {num(r['server_cpu_pct'], '{:.1f}')} | {r['errors']} | "
          f"{num(r.get('loadgen_cpu_pct'), '{:.0f}')} | {num(r.get('other_cpu_pct'), '{:.1f}')} |")
    w("")

idle = [r for r in runs if r["scenario"] == "idle"]
if idle:
    w("## idle memory\n")
    w("Server VmRSS before connecting and 5 s after every connection finished its handshake.\n")
    w("| server | backend | connections | RSS before (MiB) | RSS connected (MiB) | bytes per connection |")
    w("|---|---|---:|---:|---:|---:|")
    mib = lambda v: num(None if v is None else v / 2**20, "{:.1f}")
    for r in idle:
        s, b = server_backend(r.get("label") or "?")
        w(f"| {s} | {b} | {r['connections_open']} | {mib(r['server_rss_before'])} | "
          f"{mib(r['server_rss_connected'])} | {num(r['rss_per_conn_bytes'])} |")
    w("")

echo = [r for r in runs if r["scenario"] == "echo"]
fixed = [r for r in echo if r["rate"] != "max"]
closed = [r for r in echo if r["rate"] == "max"]
base_labels = {"tokio", "monoio"}


def best(rs, key, pick):
    vals = [(key(r), r["label"]) for r in rs if r.get("label") in base_labels and key(r) is not None]
    return pick(vals) if vals else (None, None)


cpu = lambda r: r.get("server_cpu_us_per_msg")
p99 = lambda r: (r.get("latency_us") or {}).get("p99")
tput = lambda r: r.get("throughput_msgs_per_s")
if echo:
    w("## echo: Switchboard vs the better baseline\n")
    w("Each ratio compares Switchboard with whichever baseline did better on that "
      "metric (lower CPU, lower p99, higher throughput). Below 1x is better for "
      "CPU and p99; above 1x is better for throughput.\n")
    w("| backend | CPU µs/msg ratio @ fixed rate | CPU µs/msg ratio @ max | p99 ratio @ fixed rate | p99 ratio @ max | max throughput ratio |")
    w("|---|---:|---:|---:|---:|---:|")
    bc_f, lc_f = best(fixed, cpu, min)
    bc_m, lc_m = best(closed, cpu, min)
    bp_f, lp_f = best(fixed, p99, min)
    bp_m, lp_m = best(closed, p99, min)
    bt, lt = best(closed, tput, max)
    for backend in ["uring", "epoll"]:
        label = f"switchboard-{backend}"
        f = next((r for r in fixed if r.get("label") == label), None)
        c = next((r for r in closed if r.get("label") == label), None)
        g = lambda r, k: None if r is None else k(r)
        w(f"| {backend} | {ratio(g(f, cpu), bc_f)} (vs {lc_f}) | {ratio(g(c, cpu), bc_m)} (vs {lc_m}) | "
          f"{ratio(g(f, p99), bp_f)} (vs {lp_f}) | {ratio(g(c, p99), bp_m)} (vs {lp_m}) | "
          f"{ratio(g(c, tput), bt)} (vs {lt}) |")
    w("")
    saturated = [r["label"] for r in closed if (r.get("loadgen_cpu_pct") or 0) >= 95]
    if saturated:
        w("At `max`, the load generator's core was saturated (loadgen CPU ≥ 95 %) "
          f"against: {', '.join(saturated)}. There the throughput is bounded by the "
          "client as much as by the server, and server CPU µs/msg is the fairer comparison.\n")

with open(md_path, "w") as f:
    f.write("\n".join(out))
print("\n".join(out))
PY
