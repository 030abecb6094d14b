//! `kubesmith-bench-mimalloc`: `kubesmith-bench` with mimalloc as the global allocator.
//! `kubesmith-bench run` runs the sync figure's children through it too, so the table shows
//! which differences between the sides come from glibc malloc's handling of their
//! allocation patterns rather than from the work each library does.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kubesmith_bench::main()
}
