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

# Starts testdata project $1 afresh (keeping the build output of an earlier run) and enters it.
fresh() {
    project="$out/$1"
    find "$project" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} + 2>/dev/null || true
    mkdir -p "$project"
    cd "$project"
}

# The kubebuilder book's getting-started project.
fresh memcached-operator
"$kubesmith" init --domain example.com --owner "The kubesmith authors"
"$kubesmith" create api --group cache --version v1alpha1 --kind Memcached "${skip_generate[@]}"

# Several groups, a second version of a kind (the first stays the storage version) with
# defaulting, validating and conversion webhooks (v1 the hub, v2 the spoke), a
# cluster-scoped kind, an irregular plural, a types-only API, a second
# controller for one kind, and names that are Rust keywords or hold dashes.
fresh multi-operator
"$kubesmith" init --domain testproject.org --license none
"$kubesmith" create api --group crew --version v1 --kind Captain --skip-generate
"$kubesmith" create api --group crew --version v1 --kind Captain --resource=false --controller-name captain-backup --skip-generate
"$kubesmith" create api --group crew --version v2 --kind Captain --skip-generate
"$kubesmith" create webhook --group crew --version v1 --kind Captain --defaulting --programmatic-validation --conversion --spoke v2 --skip-generate
"$kubesmith" create api --group crew --version v1 --kind Admiral --plural admirales --namespaced=false --controller=false --skip-generate
"$kubesmith" create api --group ship --version v1beta1 --kind Frigate --namespaced=false --skip-generate
"$kubesmith" create api --group sea-creatures --version v1beta2 --kind Match "${skip_generate[@]}"

# A namespace-scoped manager: $WATCH_NAMESPACE, a Role and a RoleBinding; and a controller
# for a built-in kind.
fresh namespaced-operator
"$kubesmith" init --domain example.com --namespaced
"$kubesmith" create api --group apps --version v1 --kind Deployment --resource=false --skip-generate
"$kubesmith" create api --group cache --version v1 --kind Redis "${skip_generate[@]}"
