#!/usr/bin/env bash
# Regenerates the sample projects of testdata/ with the kubesmith CLI, from a fixed script.
#
#   testdata/generate.sh            regenerate testdata/<project> in place
#   testdata/generate.sh OUT_DIR    generate into OUT_DIR/<project> instead, without running
#                                   `kubesmith generate` (check.sh compares everything else and
#                                   checks the generated manifests with `generate --check`)
#
# The projects depend on this checkout's runtime by the relative path ../../runtime, so OUT_DIR
# must be a direct child of the repository root, as testdata/ is.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/testdata}"
skip_generate=()
[ $# -gt 0 ] && skip_generate=(--skip-generate)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --quiet --locked -p kubesmith --manifest-path "$repo/Cargo.toml"
kubesmith="$CARGO_TARGET_DIR/debug/kubesmith"
export KUBESMITH_RUNTIME_PATH=../../runtime

project="$out/memcached-operator"
# Keep the build output of an earlier run; everything else is regenerated.
find "$project" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} + 2>/dev/null || true
mkdir -p "$project"
cd "$project"
"$kubesmith" init --domain example.com --owner "The kubesmith authors"
"$kubesmith" create api --group cache --version v1alpha1 --kind Memcached "${skip_generate[@]}"
