#!/usr/bin/env bash
# autobahn-ci.sh - the Autobahn|Testsuite subset CI runs against switchboard's
# WebSocket echo endpoint, on both I/O backends (docs/conformance.md).
#
# Usage: scripts/autobahn-ci.sh [--full] [BACKEND...]
#   BACKEND  uring and/or epoll (default: both)
#   --full   every case (12.*/13.* take ~15 minutes per backend on 2 cores)
#
# Builds the release binary, starts
#   switchboard --ws-echo --ws-addr 127.0.0.1:$PORT --ws-max-frame-bytes 16777216
#               --ws-max-message-bytes 16777216 --backend B
# runs ../shared/conformance/autobahn.sh (the workplace's runner, used as it
# is) against ws://127.0.0.1:$PORT/echo, and exits non-zero if any case
# FAILED on any backend, or if the runner could not run.
#
# Environment: AUTOBAHN_PORT (default 9001), AUTOBAHN_CASES / AUTOBAHN_CI_EXCLUDE
# (override the subset), CARGO_TARGET_DIR (default ./target). Reports go to
# $TARGET/autobahn/<backend>/ (index.html, summary.txt, failed.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

# The subset (docs/conformance.md says why): every case but the
# permessage-deflate groups 12.* and 13.*, which take ~15 minutes a backend,
# plus the first case of each of their groups (12.1-12.5, 13.1-13.7), so
# compression is negotiated and exercised with every parameter set.
SUBSET="1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
SUBSET+=",12.1.1,12.2.1,12.3.1,12.4.1,12.5.1"
SUBSET+=",13.1.1,13.2.1,13.3.1,13.4.1,13.5.1,13.6.1,13.7.1"
CASES="${AUTOBAHN_CASES:-$SUBSET}"
PORT="${AUTOBAHN_PORT:-9001}"
BACKENDS=()
for a in "$@"; do
  case "$a" in
    --full) CASES="*" ;;
    uring|epoll) BACKENDS+=("$a") ;;
    *) echo "autobahn-ci: unknown argument $a (see the top of $0)" >&2; exit 2 ;;
  esac
done
[ "${#BACKENDS[@]}" -gt 0 ] || BACKENDS=(uring epoll)

# The runner lives beside the repository in the workplace's shared/ (CI
# clones the repository next to a copy of it). It is not copied here.
RUNNER="$ROOT/../shared/conformance/autobahn.sh"
if [ ! -f "$RUNNER" ]; then
  echo "autobahn-ci: FAILED: $RUNNER is not there: this checkout has no ../shared/conformance beside it," >&2
  echo "autobahn-ci: so the Autobahn conformance run cannot happen (see docs/conformance.md)" >&2
  exit 1
fi

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release -p switchboard --bin switchboard
BIN="$TARGET/release/switchboard"
for flag in --ws-echo --ws-addr --ws-max-frame-bytes --ws-max-message-bytes --backend; do
  "$BIN" --help | grep -q -- "$flag" || { echo "autobahn-ci: switchboard --help has no $flag" >&2; exit 1; }
done

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT

status=0
results=()
for b in "${BACKENDS[@]}"; do
  out="$TARGET/autobahn/$b"
  mkdir -p "$out"
  "$BIN" --ws-echo --ws-addr "127.0.0.1:$PORT" \
    --ws-max-frame-bytes 16777216 --ws-max-message-bytes 16777216 --backend "$b" \
    --wire-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --threads 2 --pin-threads false \
    > "$out/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    grep -q "^switchboard ready " "$out/server.log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  if ! grep -q "^switchboard ready backend=$b " "$out/server.log"; then
    echo "autobahn-ci: switchboard ($b) did not get ready:" >&2
    cat "$out/server.log" >&2
    exit 1
  fi
  start=$(date +%s)
  set +e
  "$RUNNER" -o "$out" -a "switchboard-$b" ${AUTOBAHN_CI_EXCLUDE:+-x "$AUTOBAHN_CI_EXCLUDE"} \
    "ws://127.0.0.1:$PORT/echo" "$CASES"
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "autobahn-ci: switchboard ($b) died during the run; its log:" >&2
    tail -n 50 "$out/server.log" >&2
    rc=1
  fi
  stop_server
  results+=("$b: exit $rc in ${secs}s: $(cat "$out/summary.txt" 2>/dev/null || echo 'no summary')")
  [ "$rc" -eq 0 ] || status=1
done

printf 'autobahn-ci: %s\n' "${results[@]}"
[ "$status" -eq 0 ] && echo "autobahn-ci: passed (report: $TARGET/autobahn/<backend>/index.html)" \
  || echo "autobahn-ci: FAILED (see failed.txt in $TARGET/autobahn/<backend>/)" >&2
exit "$status"
