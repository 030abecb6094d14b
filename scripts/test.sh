#!/usr/bin/env bash
# The test command: everything CI checks. Needs the Rust toolchain, cargo-nextest and kubectl.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
# One target dir for the workspace and the generated projects, so dependencies compile once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
# Incremental artifacts help edit-compile loops, not one-shot CI builds: without them the
# build is faster from scratch and target/ is several GiB smaller.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== fmt"
cargo fmt --all --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo nextest run --workspace --locked --no-fail-fast
echo "== doctests"
cargo test --workspace --doc --locked
echo "== testdata"
testdata/check.sh
echo "all checks passed"
