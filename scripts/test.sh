#!/usr/bin/env bash
# The test command of README.md: installs what the tests drive (a C
# compiler, headless Chromium, Python's `websockets` in a venv under the
# target directory, mosquitto), then runs every unit, property and
# end-to-end test on both I/O backends. Safe to run again: it installs only
# what is missing.
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
# The load generator's MQTT test (loadgen/tests/it/mqtt_mosquitto.rs)
# drives a real mosquitto; it skips, with a message, where there is none.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    apt_install mosquitto mosquitto-clients
fi
target_dir="${CARGO_TARGET_DIR:-target}"
py_venv="$target_dir/py"
if ! "$py_venv/bin/python3" -c 'import websockets' >/dev/null 2>&1; then
    python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
    python3 -m venv "$py_venv" || { apt_install python3-venv; rm -rf "$py_venv"; python3 -m venv "$py_venv"; }
    "$py_venv/bin/pip" install -q --disable-pip-version-check 'websockets==17.4'
fi

# The end-to-end tests hold 10,000 connections: let them use the hard
# open-file limit (they raise it themselves too).
ulimit -Sn "$(ulimit -Hn)" || true

cargo test --workspace "$@"
