#!/usr/bin/env bash
# fuzz-ci.sh - runs every cargo-fuzz target in wire/fuzz for a short time
# (FUZZ_SECONDS each, default 60), so a change that breaks a fuzz body's
# invariants (split invariance, round trips, accounting) fails CI on the
# day it lands. Long runs are done by hand and recorded in docs/fuzzing.md.
#
# Usage: scripts/fuzz-ci.sh [TARGET...]   (default: every target)
#
# Installs what is missing: a C++ compiler (libfuzzer-sys builds libFuzzer)
# and cargo-fuzz, pinned. cargo fuzz needs nightly flags; CI has only the
# stable toolchain, so RUSTC_BOOTSTRAP=1 lets stable accept them.
#
# Each target starts from its checked-in corpus (wire/fuzz/corpus/<target>,
# seeds and regress-* inputs, read only) plus a scratch directory that
# receives what this run finds and is deleted afterwards. Exits non-zero if
# any target crashed, hung or ran out of memory; the failing input is left
# in wire/fuzz/artifacts/<target>/ and printed in hex below.
#
# Environment: FUZZ_SECONDS (default 60), CARGO_TARGET_DIR (default ./target;
# the fuzz build goes to $CARGO_TARGET_DIR/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

# Pinned: a new cargo-fuzz may change flags or the nightly features it uses.
cargo_fuzz_version="0.13.2"
seconds="${FUZZ_SECONDS:-60}"
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")/fuzz"

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if ! command -v c++ >/dev/null 2>&1; then
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends g++
fi
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
    cargo install --locked "cargo-fuzz@$cargo_fuzz_version"
fi

export RUSTC_BOOTSTRAP=1
cd wire/fuzz
# The fuzz project is not a workspace member and has no lock file of its
# own: start from the workspace's, so the fuzzer runs the dependency
# versions the engine ships (issue 10 was found with a newer zlib-rs than
# the workspace had locked).
cp "$root/Cargo.lock" Cargo.lock

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# One build for every target. 16 codegen units: the build is most of this
# script's time on 2 cores, and a minute of fuzzing does not need the last
# few percent of speed that 1 unit gives. AddressSanitizer stays on (the
# default): zlib-rs and the allocator have unsafe code.
build_flags=(--codegen-units 16 --target-dir "$target_dir")
cargo fuzz build "${build_flags[@]}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
    corpora=("$scratch/$t")
    mkdir -p "$scratch/$t"
    touch "$scratch/$t.start"
    if [ -d "corpus/$t" ]; then corpora+=("$root/wire/fuzz/corpus/$t"); fi
    echo "=== fuzz $t for ${seconds}s"
    # -timeout: one input running 60 s is a hang, whatever the machine.
    if ! cargo fuzz run "${build_flags[@]}" "$t" "${corpora[@]}" -- \
        -max_total_time="$seconds" -timeout=60 -print_final_stats=1; then
        failed+=("$t")
        # Only what this run wrote: older artifacts may be a developer's.
        find "artifacts/$t" -type f -newer "$scratch/$t.start" 2>/dev/null |
        while read -r f; do
            echo "--- wire/fuzz/$f (hex, first 4 KiB):"
            head -c 4096 "$f" | od -An -tx1 -v | tr -d ' \n'
            echo
        done
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-ci: FAILED: ${failed[*]} (inputs in wire/fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz-ci: ${#targets[@]} targets, ${seconds}s each, no crash"
