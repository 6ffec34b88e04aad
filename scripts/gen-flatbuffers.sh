#!/usr/bin/env bash
# Regenerates wire/src/generated/envelope_generated.rs from
# wire/schema/envelope.fbs. Run from the repository root (or anywhere: the
# script finds the root itself). Needs flatc 2.0.x (Debian bookworm's
# flatbuffers-compiler), matching the flatbuffers crate version in
# wire/Cargo.toml; the output is checked in so builds never need flatc.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v flatc >/dev/null; then
    echo "flatc not found: apt-get install -y flatbuffers-compiler" >&2
    exit 1
fi
case "$(flatc --version)" in
    "flatc version 2.0."*) ;;
    *) echo "warning: expected flatc 2.0.x, got '$(flatc --version)';" \
        "check the flatbuffers crate version in wire/Cargo.toml" >&2 ;;
esac

out=wire/src/generated
flatc --rust -o "$out" wire/schema/envelope.fbs
# Format it the way `cargo fmt` would, so `cargo fmt --check` stays clean
# and regenerating an unchanged schema gives an unchanged file.
rustfmt --edition 2021 "$out/envelope_generated.rs"
echo "wrote $out/envelope_generated.rs"
