#!/usr/bin/env bash
# MQTT session placement, two builds of Switchboard side by side: a
# reconnect storm (`switchboard-loadgen mqtt --scenario storm`: each client
# id reconnects over and over with Clean Start 0, taking its previous
# connection's session over) and fan-in at QoS 0 at `--rate max`.
#
#   OLD=/tmp/storm-bin/switchboard-old NEW=/tmp/storm-bin/switchboard-new \
#     LG=target/release/switchboard-loadgen scripts/bench-mqtt-storm.sh
#
# Every run gets a fresh server (`--threads THREADS` pinned to SERVER_CPUS,
# each of its threads on its own core), OLD and NEW alternating run by run
# and round by round (ROUNDS), so that drifts of a shared machine hit both
# alike. The load generator is not pinned: on a 2-core machine it competes
# with the server for the same cores. Each run appends the load
# generator's JSON object to bench-results/$RESULTS.jsonl; after each run
# the server's MQTT counters (summed over cores) go to
# bench-results/$RESULTS-metrics.tsv: CONNECTs accepted, take-overs, and
# the connections sent to their home core (NEW only; OLD has no counter).
#
# Knobs (environment): OLD, NEW, LG (binaries, required), ROUNDS (3),
# BACKENDS ("uring"), STORM_IDS ("64 1000": client ids of each storm run),
# DURATION (10), WARMUP (2), MQTT_VERSION (5), SERVER_CPUS (0-1),
# THREADS (2), PUBLISHERS (100: fan-in publishers, one subscriber),
# PIPELINE (16), SCENARIOS ("storm fanin"), RESULTS (mqtt-connect-storm),
# PORT (7351).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

: "${OLD:?set OLD to the old switchboard binary}"
: "${NEW:?set NEW to the new switchboard binary}"
: "${LG:?set LG to the switchboard-loadgen binary}"
ROUNDS="${ROUNDS:-3}"
BACKENDS="${BACKENDS:-uring}"
STORM_IDS="${STORM_IDS:-64 1000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
MQTT_VERSION="${MQTT_VERSION:-5}"
SERVER_CPUS="${SERVER_CPUS:-0-1}"
THREADS="${THREADS:-2}"
PUBLISHERS="${PUBLISHERS:-100}"
PIPELINE="${PIPELINE:-16}"
SCENARIOS="${SCENARIOS:-storm fanin}"
RESULTS="${RESULTS:-mqtt-connect-storm}"
PORT="${PORT:-7351}"

mkdir -p bench-results
jsonl="bench-results/$RESULTS.jsonl"
tsv="bench-results/$RESULTS-metrics.tsv"
[[ -f "$tsv" ]] || printf 'label\tconnects\ttakeovers\tsent_home\n' >"$tsv"
logs="$(mktemp -d)"

server_pid=""
admin=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# start_server BINARY BACKEND: starts it and reads its admin address off
# its ready line.
start_server() {
    local log="$logs/server.log"
    echo "+ taskset -c $SERVER_CPUS $1 --backend $2 --threads $THREADS ... --mqtt-addr 127.0.0.1:$PORT &"
    taskset -c "$SERVER_CPUS" "$1" --backend "$2" --threads "$THREADS" \
        --wire-addr 127.0.0.1:0 --ws-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
        --mqtt-addr "127.0.0.1:$PORT" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if grep -q "switchboard ready" "$log"; then
            admin="$(grep -o 'admin=[^ ]*' "$log" | head -1 | cut -d= -f2)"
            return
        fi
        sleep 0.1
    done
    cat "$log" >&2
    echo "server not ready" >&2
    exit 1
}

# counter NAME: the counter summed over the server's cores (0 if absent).
counter() {
    curl -s "http://$admin/metrics" | awk -v n="$1" \
        '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d\n", s }'
}

# one_run VARIANT BINARY BACKEND ROUND LOADGEN_ARGS...: a fresh server, one
# load run, its counters.
one_run() {
    local variant="$1" bin="$2" backend="$3" round="$4"
    shift 4
    local label="$variant-$backend-r$round"
    start_server "$bin" "$backend"
    echo "+ $LG mqtt --addr 127.0.0.1:$PORT --server-pid $server_pid --label $label $*"
    "$LG" mqtt --addr "127.0.0.1:$PORT" --duration "$DURATION" --warmup "$WARMUP" \
        --mqtt-version "$MQTT_VERSION" --server-pid "$server_pid" --label "$label" \
        --json "$jsonl" "$@"
    printf '%s %s\t%s\t%s\t%s\n' "$label" "$*" "$(counter switchboard_mqtt_connects_total)" \
        "$(counter switchboard_mqtt_takeovers_total)" \
        "$(counter switchboard_mqtt_connections_sent_home_total)" >>"$tsv"
    stop_server
}

for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round of $ROUNDS"
    # Alternate which build goes first, round by round.
    order="old new"
    if ((round % 2 == 0)); then order="new old"; fi
    for backend in $BACKENDS; do
        if [[ " $SCENARIOS " == *" storm "* ]]; then
            for ids in $STORM_IDS; do
                for v in $order; do
                    bin="$OLD"
                    if [[ "$v" == new ]]; then bin="$NEW"; fi
                    one_run "$v" "$bin" "$backend" "$round" --scenario storm --connections "$ids"
                done
            done
        fi
        if [[ " $SCENARIOS " == *" fanin "* ]]; then
            for v in $order; do
                bin="$OLD"
                if [[ "$v" == new ]]; then bin="$NEW"; fi
                one_run "$v" "$bin" "$backend" "$round" --scenario fanin --qos 0 \
                    --publishers "$PUBLISHERS" --subscribers 1 --rate max --pipeline "$PIPELINE"
            done
        fi
    done
done
