# Shared by the benchmark scripts (sourced, not run): the knobs' defaults,
# the output files (bench-results/$TRANSPORT.jsonl and .md), building,
# starting and stopping one server at a time, waiting for a quiet machine,
# and one load generator run. The sourcing script sets TRANSPORT (tcp, ws
# or mqtt) and sources it from the repository root.
# shellcheck shell=bash

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
RATE="${RATE:-10000}"
FANOUT_RATE="${FANOUT_RATE:-1000}"
SUBSCRIBERS="${SUBSCRIBERS:-100}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-10000}"
CONNECTIONS="${CONNECTIONS:-100}"
QUIET_PCT="${QUIET_PCT:-10}"
QUIET_WAIT="${QUIET_WAIT:-600}"
# Arrival pattern of the fixed-rate runs (docs/benchmarks.md): even, or
# burst (what fell due sent once per BURST_INTERVAL_US).
PACING="${PACING:-even}"
BURST_INTERVAL_US="${BURST_INTERVAL_US:-1000}"
SERVER_CPU=0
CLIENT_CPU=1
# Words put before every server's command line, e.g. "chrt -f 50" (needs
# root): on a shared machine a server at a real-time priority is not kept
# waiting after its wake-ups by other work on its core, which otherwise
# shows up as tail latency. Only for servers that sleep when idle: a
# real-time task that spins is throttled (sched_rt_runtime_us).
SERVER_PREFIX="${SERVER_PREFIX:-}"

out_dir="${OUT_DIR:-bench-results}"
# RESULTS names the output files (default: the transport), so that a
# variant run does not overwrite the main summary.
jsonl="$out_dir/${RESULTS:-$TRANSPORT}.jsonl"
md="$out_dir/${RESULTS:-$TRANSPORT}.md"
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
# Where cargo put them: CARGO_TARGET_DIR when set.
sb="${CARGO_TARGET_DIR:-target}/release/switchboard"
lg="${CARGO_TARGET_DIR:-target}/release/switchboard-loadgen"

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# ready PATTERN LOG: the server printed its ready line, or, for PATTERN
# `port:N`, port N accepts connections.
ready() {
    local pattern="$1" log="$2"
    if [[ "$pattern" == port:* ]]; then
        (exec 3<>"/dev/tcp/127.0.0.1/${pattern#port:}") 2>/dev/null
    else
        grep -q "$pattern" "$log"
    fi
}

# start_server READY_PATTERN COMMAND...: starts it in the background and
# waits until it is ready.
start_server() {
    local pattern="$1"
    shift
    local log="$logs/server.log" prefix=()
    read -r -a prefix <<<"$SERVER_PREFIX"
    echo "+ ${prefix[*]} $* &"
    "${prefix[@]}" "$@" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if ready "$pattern" "$log"; then
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

# pacing_args ARGS...: the pacing flags (PACING, BURST_INTERVAL_US) when
# ARGS name a fixed --rate; nothing for --rate max or runs without a rate.
pacing_args() {
    local prev="" a
    for a in "$@"; do
        if [[ "$prev" == --rate && "$a" != max ]]; then
            echo --pacing "$PACING" --burst-interval-us "$BURST_INTERVAL_US"
            return
        fi
        prev="$a"
    done
}

# load LABEL ADDR ARGS...: one `loadgen $TRANSPORT` run against the running server.
load() {
    local label="$1" addr="$2"
    shift 2
    wait_quiet
    # shellcheck disable=SC2046
    run taskset -c "$CLIENT_CPU" "$lg" "$TRANSPORT" --addr "$addr" \
        --duration "$DURATION" --warmup "$WARMUP" \
        --server-pid "$server_pid" --label "$label" --json "$jsonl" "$@" $(pacing_args "$@")
}

echo_runs() {
    local label="$1" addr="$2"
    load "$label" "$addr" --scenario echo --connections "$CONNECTIONS" --rate "$RATE"
    load "$label" "$addr" --scenario echo --connections "$CONNECTIONS" --rate max
}
