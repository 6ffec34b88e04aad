#!/usr/bin/env bash
# The test command of README.md: installs what the tests drive (a C
# compiler, headless Chromium, Python's `websockets` and `paho-mqtt` in a
# venv under the target directory, mosquitto and its command-line clients,
# Node with MQTT.js under the target directory), then runs every unit,
# property and end-to-end test on both I/O backends. Safe to run again: it
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then $sudo apt-get update; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$@"
}

# A C compiler and libc headers: rustc links with `cc`, and mimalloc is C.
if ! command -v cc >/dev/null 2>&1; then
    apt_install gcc libc6-dev
fi

# The WebSocket end-to-end tests drive real clients, and fail (they do not
# skip) without them: headless Chromium (tests/tests/e2e/ws_browser.rs) and
# Python's `websockets` (tests/tests/e2e/ws_python.rs), in a venv under
# the target directory, where the tests look for it.
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
fi
target_dir="${CARGO_TARGET_DIR:-target}"
py_venv="$target_dir/py"
# Pinned: the tests are written against these clients' behaviour.
py_packages=('websockets==17.4' 'paho-mqtt==2.2.0')
if ! "$py_venv/bin/python3" -c '
import sys, websockets, paho.mqtt
sys.exit(websockets.__version__ != "17.4" or paho.mqtt.__version__ != "2.2.0")
' >/dev/null 2>&1; then
    if [ ! -x "$py_venv/bin/pip" ]; then
        python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
        python3 -m venv "$py_venv" || { apt_install python3-venv; rm -rf "$py_venv"; python3 -m venv "$py_venv"; }
    fi
    "$py_venv/bin/pip" install -q --disable-pip-version-check "${py_packages[@]}"
fi

# The MQTT end-to-end tests drive real clients too, and fail without them:
# mosquitto_pub/mosquitto_sub (tests/tests/e2e/mqtt_cli.rs), paho-mqtt
# (above) and MQTT.js under Node (tests/tests/e2e/mqtt_js.rs), installed
# under the target directory, where the tests look for it. mosquitto, the
# broker, is the reference the MQTT tests are checked against
# (SB_MQTT_REFERENCE, tests/src/mqtt/mod.rs).
if ! command -v mosquitto_sub >/dev/null 2>&1 || ! [ -x /usr/sbin/mosquitto ]; then
    apt_install mosquitto mosquitto-clients
fi
if ! command -v node >/dev/null 2>&1; then
    apt_install nodejs
fi
# Debian's npm depends on Debian's nodejs; a Node from elsewhere brings its own.
if ! command -v npm >/dev/null 2>&1; then
    apt_install npm
fi
mqtt_js_version=5.16.0
node_dir="$target_dir/node"
mqtt_js_installed=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).version' \
    "$node_dir/node_modules/mqtt/package.json" 2>/dev/null || true)
if [ "$mqtt_js_installed" != "$mqtt_js_version" ]; then
    mkdir -p "$node_dir"
    npm install --prefix "$node_dir" --no-audit --no-fund --no-save --silent "mqtt@$mqtt_js_version"
fi

# The end-to-end tests hold 10,000 connections: let them use the hard
# open-file limit (they raise it themselves too).
ulimit -Sn "$(ulimit -Hn)" || true

cargo test --workspace "$@"
