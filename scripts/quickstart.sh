#!/usr/bin/env bash
# The main job, end to end on a fresh machine: build the kubesmith CLI, scaffold an operator,
# generate its manifests, run its tests against the embedded API server, then run the operator
# as a process against `kubesmith envtest serve` and watch kubectl see the sample reconciled.
#
#   scripts/quickstart.sh [WORK_DIR]     (default: a new temporary directory)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
work="${1:-$(mktemp -d)}"
step() { printf '\n==> %s\n' "$*"; }

step "Building the kubesmith CLI"
cargo build --locked --quiet -p kubesmith --manifest-path "$repo/Cargo.toml"
kubesmith="$CARGO_TARGET_DIR/debug/kubesmith"

project="$work/memcached-operator"
mkdir -p "$project"
cd "$project"
step "kubesmith init --domain example.com   (in $project)"
"$kubesmith" init --domain example.com
step "kubesmith create api --group cache --version v1alpha1 --kind Memcached   (runs kubesmith generate)"
"$kubesmith" create api --group cache --version v1alpha1 --kind Memcached

step "The generated CRD and RBAC"
head -n 30 config/crd/bases/cache.example.com_memcacheds.yaml
echo "..."
cat config/rbac/role.yaml

step "cargo test: the generated controller against the embedded API server"
cargo test

step "kubesmith envtest serve, the operator with cargo run, kubectl as the user"
kubeconfig="$work/envtest.kubeconfig"
"$kubesmith" envtest serve --kubeconfig "$kubeconfig" --crds config/crd/bases &
server=$!
operator=""
cleanup() { [ -n "$operator" ] && kill "$operator" 2>/dev/null; kill "$server" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do [ -s "$kubeconfig" ] && break; sleep 0.1; done
export KUBECONFIG="$kubeconfig"
cargo build --quiet
cargo run --quiet -- --health-probe-bind-address=0 &
operator=$!
kubectl get crds
kubectl apply -f config/samples/cache_v1alpha1_memcached.yaml
kubectl wait --for=condition=Ready memcached/memcached-sample --timeout=120s
kubectl get memcacheds
kubectl get memcached memcached-sample -o jsonpath='{.metadata.finalizers}{"\n"}{.status.conditions}{"\n"}'
kubectl delete -f config/samples/cache_v1alpha1_memcached.yaml --timeout=120s
kubectl get memcacheds

step "Done: $project is ready for your reconcile logic (src/controller/memcached.rs)."
