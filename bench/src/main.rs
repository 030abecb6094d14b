//! `kubesmith-bench`; everything is in the library so `kubesmith-bench-heap` can share it.

fn main() -> std::process::ExitCode {
    kubesmith_bench::main()
}
