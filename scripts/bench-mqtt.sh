#!/usr/bin/env bash
# MQTT benchmark: Switchboard against mosquitto, nats-server (its MQTT
# listener) and rumqttd, side by side in one run, driven by
# `switchboard-loadgen mqtt`.
#
#   scripts/bench-mqtt.sh
#   TARGETS="mosquitto nats" DURATION=5 WARMUP=1 scripts/bench-mqtt.sh
#
# Every broker runs pinned to CPU 0 (`taskset -c 0`), on its own loopback
# port; the load generator is pinned to CPU 1 and samples the broker with
# --server-pid, so server CPU per delivery is reported. Per broker and per
# QoS (QOS_LEVELS): fanin (PUBLISHERS publishers on their own topics,
# FANIN_SUBSCRIBERS subscribers on `bench/+/telemetry`) at a fixed offered
# rate (RATE publishes/s) and at max (closed loop), and fanout (one
# publisher to SUBSCRIBERS subscribers) at FANOUT_RATE publishes/s (QoS 1:
# FANOUT_RATE_QOS1, as 100,000 QoS 1 deliveries/s, each answered by a
# PUBACK, is more than mosquitto or nats-server serve on one core) and at
# max; then, last and each on a fresh broker, idle memory per device
# connection (IDLE_CONNECTIONS connections that CONNECT with a 60 s
# keep-alive and ping on time). Each run appends one JSON object (with its
# exact command) to bench-results/mqtt.jsonl; the runs of this invocation
# are summarised in bench-results/mqtt.md.
#
# Targets (TARGETS, default "switchboard mosquitto nats rumqttd"):
# - switchboard: both I/O backends, once its binary has `--mqtt-addr`;
#   until then it is skipped with a message.
# - mosquitto: Debian's package (installed with apt-get when missing); a
#   config file in a temporary directory sets the listener, anonymous
#   access, no persistence, TCP_NODELAY (mosquitto leaves Nagle on by
#   default, which delays small deliveries behind delayed ACKs) and a
#   deeper per-client queue: by default mosquitto queues at most 1000 QoS 1
#   messages per client beyond its 20 in flight and silently drops the
#   rest (after PUBACKing them), which the one fan-in subscriber hits as
#   soon as it falls a thousand messages behind.
# - nats: Debian's nats-server (apt-get when missing). Its MQTT listener
#   needs JetStream and a server_name, set in a config file with a
#   JetStream store in the temporary directory. It speaks MQTT 3.1.1 only.
# - rumqttd: `cargo install rumqttd --locked` when missing (without
#   --locked if that fails: the locked metrics 0.22.1 no longer builds
#   with current Rust); a config file sets one listener for the chosen
#   MQTT version, room for the idle connections, and no accept throttle.
# Installing from Debian may also start the distribution's own mosquitto
# service on port 1883; this script never uses 1883 (its ports are
# 7341..7349), so that service does not disturb it, but it does sit on
# Switchboard's default MQTT port.
#
# The machine may be shared: before each run the script waits (up to
# QUIET_WAIT seconds) until other work uses at most QUIET_PCT percent of all
# CPUs, and every result records how much CPU the rest of the machine used
# during its window ("other CPU %" in the tables).
#
# Knobs (environment): TARGETS, QOS_LEVELS ("0 1"), MQTT_VERSION (3.1.1;
# or 5), SCENARIOS ("fanin fanout idle"), FANIN_RATES ("$RATE max"),
# FANOUT_RATES ("$FANOUT_RATE max"; at QoS 1 FANOUT_RATES_QOS1,
# "$FANOUT_RATE_QOS1 max"), PIPELINE (16: messages in flight per
# publisher at max), RESULTS (output file names, default mqtt), ONLY_IDLE (unset), DURATION (10), WARMUP (2), RATE (10000
# publishes/s for fanin), PUBLISHERS (100), FANIN_SUBSCRIBERS (1),
# FANOUT_RATE (1000 publishes/s, i.e. 100,000 deliveries/s),
# FANOUT_RATE_QOS1 (200 publishes/s, 20,000 deliveries/s), SUBSCRIBERS
# (100), IDLE_CONNECTIONS (10000), OUT_DIR (bench-results), QUIET_PCT (10),
# QUIET_WAIT (600), PACING (even; or burst: the arrival pattern of the
# fixed-rate runs, docs/benchmarks.md), BURST_INTERVAL_US (1000), PACINGS
# ("$PACING": each fixed-rate run once per pacing listed, e.g. "even
# burst"), ROUNDS (1: the load runs of every target, repeated round after
# round so that drifts of the machine hit every target alike), OLD_SB
# (unset; a second Switchboard binary, e.g. built from an older commit,
# run on io_uring as target switchboard-old-uring beside the current
# one, for before/after rounds), SERVER_PREFIX (bench-lib.sh; e.g.
# "chrt -f 50").
#
#   TARGETS="switchboard mosquitto" SCENARIOS=fanin QOS_LEVELS=0 \
#     PUBLISHERS=10 FANIN_RATES=20000 PACINGS="even burst" ROUNDS=3 \
#     scripts/bench-mqtt.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TARGETS="${TARGETS:-switchboard mosquitto nats rumqttd}"
QOS_LEVELS="${QOS_LEVELS:-0 1}"
MQTT_VERSION="${MQTT_VERSION:-3.1.1}"
PUBLISHERS="${PUBLISHERS:-100}"
FANIN_SUBSCRIBERS="${FANIN_SUBSCRIBERS:-1}"
SCENARIOS="${SCENARIOS:-fanin fanout idle}"
PIPELINE="${PIPELINE:-16}"
FANOUT_RATE_QOS1="${FANOUT_RATE_QOS1:-200}"
TRANSPORT=mqtt
# shellcheck source=scripts/bench-lib.sh
source "$root/scripts/bench-lib.sh"
FANIN_RATES="${FANIN_RATES:-$RATE max}"
FANOUT_RATES="${FANOUT_RATES:-$FANOUT_RATE max}"
FANOUT_RATES_QOS1="${FANOUT_RATES_QOS1:-$FANOUT_RATE_QOS1 max}"
PACINGS="${PACINGS:-$PACING}"
ROUNDS="${ROUNDS:-1}"

wants() {
    [[ " $TARGETS " == *" $1 "* ]]
}

# Peers, installed from package registries when missing.
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then run $sudo apt-get update; apt_updated=1; fi
    run $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}
# Debian puts the daemons in /usr/sbin, which a user's PATH may lack.
find_bin() {
    command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true
}
if wants mosquitto && [ -z "$(find_bin mosquitto)" ]; then apt_install mosquitto; fi
if wants nats && [ -z "$(find_bin nats-server)" ]; then apt_install nats-server; fi
if wants rumqttd && [ -z "$(find_bin rumqttd)" ]; then
    run cargo install rumqttd --locked || run cargo install rumqttd
fi
mosquitto_bin="$(find_bin mosquitto)"
nats_bin="$(find_bin nats-server)"
rumqttd_bin="$(find_bin rumqttd)"

# Config files (and nats' JetStream store) live beside the logs.
mosquitto_conf() {
    local port="$1" f="$logs/mosquitto-$1.conf"
    cat >"$f" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
max_keepalive 65535
max_queued_messages 100000
CONF
    echo "$f"
}

nats_conf() {
    local port="$1" f="$logs/nats-$1.conf"
    rm -rf "$logs/jetstream-$port"
    cat >"$f" <<CONF
server_name: bench
host: 127.0.0.1
port: -1
jetstream {
    store_dir: "$logs/jetstream-$port"
}
mqtt {
    host: 127.0.0.1
    port: $port
}
CONF
    echo "$f"
}

rumqttd_conf() {
    local port="$1" f="$logs/rumqttd-$1.toml" section="v4"
    if [[ "$MQTT_VERSION" == 5 ]]; then section="v5"; fi
    cat >"$f" <<CONF
id = 0

[router]
id = 0
max_connections = $((IDLE_CONNECTIONS + PUBLISHERS + SUBSCRIBERS + 100))
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[$section.1]
name = "$section-1"
listen = "127.0.0.1:$port"
next_connection_delay_ms = 0
    [$section.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
    dynamic_filters = true
CONF
    echo "$f"
}

# broker_cmd TARGET PORT: the pinned command line that serves MQTT on PORT.
broker_cmd() {
    local target="$1" port="$2"
    case "$target" in
    switchboard-old-*)
        echo taskset -c "$SERVER_CPU" "$OLD_SB" --backend "${target#switchboard-old-}" --threads 1 \
            --pin-threads false --wire-addr 127.0.0.1:0 --ws-addr 127.0.0.1:0 \
            --admin-addr 127.0.0.1:0 --mqtt-addr "127.0.0.1:$port"
        ;;
    switchboard-*)
        echo taskset -c "$SERVER_CPU" "$sb" --backend "${target#switchboard-}" --threads 1 \
            --pin-threads false --wire-addr 127.0.0.1:0 --ws-addr 127.0.0.1:0 \
            --admin-addr 127.0.0.1:0 --mqtt-addr "127.0.0.1:$port"
        ;;
    mosquitto) echo taskset -c "$SERVER_CPU" "$mosquitto_bin" -c "$(mosquitto_conf "$port")" ;;
    nats) echo taskset -c "$SERVER_CPU" "$nats_bin" -c "$(nats_conf "$port")" ;;
    rumqttd) echo taskset -c "$SERVER_CPU" "$rumqttd_bin" -c "$(rumqttd_conf "$port")" ;;
    esac
}

# Switchboard is ready when it says so (its ready line names mqtt=ADDR);
# the peers once their port accepts connections.
ready_pattern() {
    case "$1" in
    switchboard-*) echo "switchboard ready" ;;
    *) echo "port:$2" ;;
    esac
}

start_broker() {
    local target="$1" port="$2"
    # shellcheck disable=SC2046
    start_server "$(ready_pattern "$target" "$port")" $(broker_cmd "$target" "$port")
}

mqtt_load() {
    local label="$1" port="$2" qos="$3"
    shift 3
    load "$label" "127.0.0.1:$port" --qos "$qos" --mqtt-version "$MQTT_VERSION" "$@"
}

# The closed-loop depth goes with `max` only.
rate_args() {
    if [[ "$1" == max ]]; then echo --rate max --pipeline "$PIPELINE"; else echo --rate "$1"; fi
}

# paced_load RATE LOAD_ARGS...: `mqtt_load LOAD_ARGS` at RATE, once per
# pacing in PACINGS for a fixed rate (`load` adds the flags), once for max.
paced_load() {
    local rate="$1" pacing
    shift
    local pacings="$PACINGS"
    if [[ "$rate" == max ]]; then pacings="$PACING"; fi
    for pacing in $pacings; do
        # `load` reads PACING (bench-lib.sh); local, so only for this run.
        local PACING="$pacing"
        # shellcheck disable=SC2046
        mqtt_load "$@" $(rate_args "$rate")
    done
}

broker_runs() {
    local target="$1" port="$2"
    start_broker "$target" "$port"
    for qos in $QOS_LEVELS; do
        if [[ " $SCENARIOS " == *" fanin "* ]]; then
            for rate in $FANIN_RATES; do
                paced_load "$rate" "$target" "$port" "$qos" --scenario fanin \
                    --publishers "$PUBLISHERS" --subscribers "$FANIN_SUBSCRIBERS"
            done
        fi
        if [[ " $SCENARIOS " == *" fanout "* ]]; then
            local fanout_rates="$FANOUT_RATES"
            if [[ "$qos" == 1 ]]; then fanout_rates="$FANOUT_RATES_QOS1"; fi
            for rate in $fanout_rates; do
                paced_load "$rate" "$target" "$port" "$qos" --scenario fanout --publishers 1 \
                    --subscribers "$SUBSCRIBERS"
            done
        fi
    done
    stop_server
}

# Idle memory runs go last, each on a fresh broker whose memory holds
# nothing else. Several source addresses keep closed connections'
# TIME_WAIT ports from crowding one address's ephemeral range.
idle_run() {
    local target="$1" port="$2"
    start_broker "$target" "$port"
    mqtt_load "$target" "$port" 0 --scenario idle --connections "$IDLE_CONNECTIONS" \
        --keep-alive 60 --source-ips 127.0.0.1-127.0.0.8
    stop_server
}

# The targets this run can serve, each with its load port.
targets=()
ports=()
if wants switchboard; then
    if "$sb" --help 2>/dev/null | grep -q -- --mqtt-addr; then
        targets+=(switchboard-uring switchboard-epoll)
        ports+=(7341 7342)
        if [[ -n "${OLD_SB:-}" ]]; then
            targets=(switchboard-old-uring "${targets[@]}")
            ports=(7346 "${ports[@]}")
        fi
    else
        echo "switchboard: its binary has no --mqtt-addr yet (no MQTT listener): skipping it"
    fi
fi
for peer in mosquitto nats rumqttd; do
    wants "$peer" || continue
    if [[ "$peer" == nats && "$MQTT_VERSION" == 5 ]]; then
        echo "nats: nats-server speaks MQTT 3.1.1 only: skipping it for MQTT_VERSION=5"
        continue
    fi
    targets+=("$peer")
    case "$peer" in
    mosquitto) ports+=(7343) ;;
    nats) ports+=(7344) ;;
    rumqttd) ports+=(7345) ;;
    esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "no target to run (TARGETS=\"$TARGETS\")" >&2
    exit 1
fi

if [[ -z "${ONLY_IDLE:-}" ]]; then
    for round in $(seq 1 "$ROUNDS"); do
        if ((ROUNDS > 1)); then echo "== round $round of $ROUNDS"; fi
        for i in "${!targets[@]}"; do
            broker_runs "${targets[$i]}" "${ports[$i]}"
        done
    done
fi
if [[ " $SCENARIOS " == *" idle "* ]]; then
    for target in "${targets[@]}"; do
        idle_run "$target" 7349
    done
fi

echo "+ python3 scripts/bench-summary.py mqtt $jsonl $first_line $md"
python3 scripts/bench-summary.py mqtt "$jsonl" "$first_line" "$md"
