//! `kubesmith-bench`: kubesmith-runtime side by side with kube-runtime 5, against the same
//! API server (`kubesmith envtest serve`, its own process) and the same objects, each side in
//! its own child process. `kubesmith-bench run --help` lists the knobs; `scripts/bench.sh`
//! builds in release and runs it. BENCHMARKS.md explains the method.

pub mod child;
mod generate;
pub mod load;
pub mod procfs;
mod queue;
mod report;
mod run;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "kubesmith-bench",
    version,
    about = "kubesmith-runtime vs kube-runtime, side by side"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every figure and print the table (and update BENCHMARKS.md with --out).
    Run(Box<run::RunArgs>),
    /// One measurement for one side (run re-executes the binary with this).
    #[command(hide = true)]
    Child {
        #[command(subcommand)]
        figure: Figure,
    },
    /// The embedded API server in this process, for `run --server self` (same server as
    /// `kubesmith envtest serve`, for tests that have no CLI binary at hand).
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        kubeconfig: PathBuf,
    },
}

/// Which runtime a child measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Side {
    Kubesmith,
    KubeRuntime,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Kubesmith => "kubesmith",
            Side::KubeRuntime => "kube-runtime",
        })
    }
}

/// Which object set a sync child caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    #[value(name = "configmap")]
    ConfigMap,
    Pod,
}

#[derive(Args, Debug, Clone)]
pub struct Target {
    #[arg(long, value_enum)]
    pub side: Side,
    #[arg(long)]
    pub kubeconfig: PathBuf,
    #[arg(long)]
    pub namespace: String,
    #[arg(long)]
    pub objects: usize,
    /// The object set (sync and reconcile; relist and latency work on ConfigMaps).
    #[arg(long, value_enum, default_value_t = Kind::ConfigMap)]
    pub kind: Kind,
}

#[derive(Subcommand, Debug)]
enum Figure {
    Sync(Target),
    Relist {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        writes: usize,
    },
    Reconcile {
        #[command(flatten)]
        target: Target,
        /// How many reconciles write (the first ones); the rest are no-ops.
        #[arg(long)]
        patches: usize,
        #[arg(long)]
        concurrency: u16,
        #[arg(long, default_value_t = 300)]
        timeout_seconds: u64,
    },
    Latency {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        rate: u32,
        #[arg(long)]
        seconds: f64,
    },
    Queue {
        #[arg(long, value_enum)]
        side: Side,
        #[arg(long)]
        adds: usize,
        #[arg(long, value_delimiter = ',')]
        workers: Vec<usize>,
    },
}

/// The `kubesmith-bench` command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Child { figure } => run_child(figure),
        Command::Serve { kubeconfig } => serve(&kubeconfig),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kubesmith-bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // Default worker count (one per CPU) for every process, both sides alike.
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run_child(figure: Figure) -> anyhow::Result<()> {
    let rt = runtime()?;
    let figures = rt.block_on(async move {
        match figure {
            Figure::Sync(t) => {
                child::sync(
                    t.side,
                    t.kind,
                    &t.kubeconfig,
                    &t.namespace,
                    &child::Probe::RSS,
                )
                .await
            }
            Figure::Relist { target: t, writes } => {
                child::relist(t.side, &t.kubeconfig, &t.namespace, t.objects, writes).await
            }
            Figure::Reconcile {
                target: t,
                patches,
                concurrency,
                timeout_seconds,
            } => {
                child::reconcile(
                    t.side,
                    t.kind,
                    &t,
                    patches,
                    concurrency,
                    Duration::from_secs(timeout_seconds),
                )
                .await
            }
            Figure::Latency {
                target: t,
                rate,
                seconds,
            } => {
                anyhow::ensure!(
                    rate > 0 && seconds > 0.0,
                    "--rate and --seconds must be positive"
                );
                child::latency(
                    t.side,
                    &t.kubeconfig,
                    &t.namespace,
                    t.objects,
                    rate,
                    Duration::from_secs_f64(seconds),
                )
                .await
            }
            Figure::Queue {
                side,
                adds,
                workers,
            } => {
                anyhow::ensure!(
                    adds > 0 && workers.iter().all(|w| *w > 0),
                    "--adds and --workers must be positive"
                );
                queue::run(side, adds, &workers).await
            }
        }
    })?;
    println!("RESULT {}", serde_json::to_string(&figures)?);
    Ok(())
}

fn serve(kubeconfig: &std::path::Path) -> anyhow::Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let env = kubesmith_envtest::Environment::start().await?;
        env.write_kubeconfig(kubeconfig)?;
        // Runs until the parent kills it.
        std::future::pending::<()>().await;
        Ok(())
    })
}
