#!/usr/bin/env bash
# CI's check of testdata/: regenerate each sample project, fail on any difference from what is
# committed, then build, lint and test the committed project against this checkout's runtime.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

regen="$repo/.testdata-regen"
mkdir -p "$regen"
echo "== regenerating testdata into $regen"
"$repo/testdata/generate.sh" "$regen" >/dev/null
# Cargo.lock is seeded by init and rewritten by every build; target/ is build output.
if ! diff -r -x target -x Cargo.lock "$repo/testdata/memcached-operator" "$regen/memcached-operator"; then
    echo "testdata/ is stale: the CLI now generates something else. Run testdata/generate.sh and commit the result." >&2
    exit 1
fi

cd "$repo/testdata/memcached-operator"
echo "== testdata/memcached-operator: fmt, clippy, generate --check, test"
cargo fmt --check
cargo clippy --all-targets -- -D warnings
"$CARGO_TARGET_DIR/debug/kubesmith" generate --check
cargo test
