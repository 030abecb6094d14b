//! Prints this project's CRDs as JSON; `kubesmith generate` runs it to write `config/crd/bases`.

fn main() -> Result<(), kubesmith_runtime::Error> {
    kubesmith_runtime::manifests::print_crds(multi_operator::crds())
}
