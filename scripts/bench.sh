#!/usr/bin/env bash
# The benchmark harness: kubesmith-runtime side by side with kube-runtime, against the same
# `kubesmith envtest serve` process and the same objects. Builds in release, runs every
# figure, prints the table and writes it into BENCHMARKS.md. See BENCHMARKS.md for the method.
#
#   scripts/bench.sh [--quick] [more kubesmith-bench run flags, see `kubesmith-bench run --help`]
#
# --quick: 1k objects and short streams, about a minute. Without it: 10k objects, about 9 minutes
# on 2 cores once built (the table's last note gives the run's wall time per part). The generate
# figure builds three small projects in $CARGO_TARGET_DIR/bench-generate (kept between runs): the
# first run on a machine spends extra minutes compiling their dependencies.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

echo "==> building kubesmith and kubesmith-bench (release)" >&2
cargo build --release --locked --quiet -p kubesmith -p kubesmith-bench
bin="$CARGO_TARGET_DIR/release"
echo "==> uptime before: $(uptime)" >&2
"$bin/kubesmith-bench" run --kubesmith "$bin/kubesmith" --out "$repo/BENCHMARKS.md" "$@"
echo "==> uptime after: $(uptime)" >&2
