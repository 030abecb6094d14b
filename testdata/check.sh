#!/usr/bin/env bash
# CI's check of testdata/: regenerate each sample project, fail on any difference from what is
# committed, then build, lint and test the committed project against this checkout's runtime.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

regen="$repo/.testdata-regen"
kubesmith="$CARGO_TARGET_DIR/debug/kubesmith"
mkdir -p "$regen"
echo "== regenerating testdata into $regen"
"$repo/testdata/generate.sh" "$regen" >/dev/null
for project in "$repo"/testdata/*/; do
    name="$(basename "$project")"
    # Cargo.lock is seeded by init and rewritten by every build; target/ is build output; the
    # generated manifests (CRDs, role.yaml, webhook manifests.yaml) are checked below by `generate --check` against the committed code.
    if ! diff -r -x target -x Cargo.lock -x bases -x role.yaml -x manifests.yaml "$project" "$regen/$name"; then
        echo "testdata/$name is stale: the CLI now generates something else. Run testdata/generate.sh and commit the result." >&2
        exit 1
    fi

    echo "== testdata/$name: fmt, clippy, generate --check, test, kustomize"
    (
        cd "$project"
        cargo fmt --check
        cargo clippy --all-targets -- -D warnings
        "$kubesmith" generate --check
        cargo test
        # The deployment layout renders with the kustomize built into kubectl, as users run it.
        for dir in config/default config/crd config/rbac config/samples config/prometheus config/network-policy config/webhook config/certmanager; do
            [ -d "$dir" ] || continue
            kubectl kustomize "$dir" >/dev/null || { echo "kubectl kustomize $dir failed in $name" >&2; exit 1; }
        done
        if command -v make >/dev/null; then
            make --no-print-directory help >/dev/null
        else
            echo "make is not installed: skipping the Makefile check"
        fi
    )
done

# The built operator as a process against `kubesmith envtest serve`: probes, metrics, leader
# election and SIGTERM, observed with kubectl and HTTP as in a cluster.
echo "== testdata/memcached-operator: the operator binary end to end"
(cd "$repo/testdata/memcached-operator" && cargo build --quiet)
python3 "$repo/testdata/e2e.py" "$kubesmith" "$CARGO_TARGET_DIR/debug/memcached-operator" \
    "$repo/testdata/memcached-operator" 2>&1 | grep '^e2e:'

# The same generated test against "a real cluster": KUBESMITH_TEST_KUBECONFIG pointing at
# `kubesmith envtest serve`, a separate process. The test must take the cluster path: its CRD
# server-side applied by the test's field manager, its namespace deleted at the end.
echo "== testdata/memcached-operator: its test on a cluster (KUBESMITH_TEST_KUBECONFIG)"
cluster="$(mktemp -d)"
"$kubesmith" envtest serve --kubeconfig "$cluster/kubeconfig" >"$cluster/serve.log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
for _ in $(seq 300); do [ -s "$cluster/kubeconfig" ] && break; sleep 0.1; done
(cd "$repo/testdata/memcached-operator" && KUBESMITH_TEST_KUBECONFIG="$cluster/kubeconfig" cargo test --quiet)
managers=$(kubectl --kubeconfig "$cluster/kubeconfig" get crd memcacheds.cache.example.com \
    -o jsonpath='{.metadata.managedFields[*].manager}')
grep -qw kubesmith-test <<<"$managers" || { echo "the test did not apply its CRD to the cluster (managers: $managers)" >&2; exit 1; }
left=$(kubectl --kubeconfig "$cluster/kubeconfig" get namespaces -l app.kubernetes.io/created-by=kubesmith-test -o name)
[ -z "$left" ] || { echo "test namespaces left on the cluster: $left" >&2; exit 1; }
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
trap - EXIT
rm -rf "$cluster"

# generate --check on an edited copy: an edited type or RBAC attribute makes it fail naming
# the stale file; generate brings it back up to date. The copy gets its own package name:
# same-named packages sharing a target dir would overwrite each other's build output.
echo "== generate --check notices stale CRDs and RBAC"
stale="$regen/stale-operator"
rm -rf "$stale"
cp -r "$repo/testdata/memcached-operator" "$stale"
rm -rf "$stale/target"
cd "$stale"
sed -i 's|^name = "memcached-operator"|name = "stale-operator"|; s|^default-run = .*|default-run = "stale-operator"|' Cargo.toml
printf '\n[lib]\nname = "memcached_operator"\n' >> Cargo.toml
"$kubesmith" generate --check >/dev/null
sed -i 's|    pub foo: Option<String>,|    pub foo: Option<String>,\n    /// Number of replicas.\n    pub size: i32,|' src/api/cache/v1alpha1/memcached.rs
sed -i 's|^impl Reconciler|#[kubesmith_runtime::rbac(groups = ["apps"], resources = ["deployments"], verbs = ["get"])]\nimpl Reconciler|' src/controller/memcached.rs
if out=$("$kubesmith" generate --check 2>&1); then
    echo "generate --check passed on stale manifests" >&2; exit 1
fi
for file in config/crd/bases/cache.example.com_memcacheds.yaml config/rbac/role.yaml; do
    grep -q "stale generated files:.*$file" <<<"$out" || { echo "generate --check did not name $file:" >&2; echo "$out" >&2; exit 1; }
done
grep -q '^+ *size:' <<<"$out" || { echo "generate --check shows no diff of the new field:" >&2; echo "$out" >&2; exit 1; }
"$kubesmith" generate >/dev/null
"$kubesmith" generate --check >/dev/null
grep -q "deployments" config/rbac/role.yaml
echo "testdata checks passed"
