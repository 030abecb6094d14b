//! `kubesmith-bench-heap`: the initial-sync figure under dhat's counting allocator, so the
//! memory figure is exact live heap bytes (what the cache retains) and the exact heap peak,
//! free of the allocator's fragmentation and of RSS never given back to the kernel.
//! `kubesmith-bench run` runs it once per side next to the RSS figure.

use std::process::ExitCode;

use clap::Parser;
use kubesmith_bench::child::{Probe, sync_child};
use kubesmith_bench::procfs::Memory;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[derive(Parser, Debug)]
#[command(
    name = "kubesmith-bench-heap",
    about = "initial sync under dhat (run by kubesmith-bench)"
)]
struct Cli {
    #[command(flatten)]
    target: kubesmith_bench::Target,
}

fn heap() -> anyhow::Result<Memory> {
    let stats = dhat::HeapStats::get();
    Ok(Memory {
        current: stats.curr_bytes as u64,
        peak: stats.max_bytes as u64,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Testing mode: stats are queried in process and no dhat-heap.json is written.
    let profiler = dhat::Profiler::builder().testing().build();
    let result = sync_child(
        &cli.target,
        &Probe {
            read: heap,
            // dhat's peak cannot be reset; the warm-up before the baseline is far smaller
            // than a sync, so the peak since start is the sync's peak.
            reset: || Ok(()),
        },
    );
    drop(profiler);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kubesmith-bench-heap: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
