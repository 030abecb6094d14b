//! The multi-operator manager: runs every controller and webhook of this project.

use std::process::ExitCode;

use clap::Parser;
use kubesmith_runtime::Manager;
use kubesmith_runtime::manager::Flags;

/// Runs the multi-operator controllers against the cluster of $KUBECONFIG (or in-cluster).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    manager: Flags,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.manager.init_logging();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<(), kubesmith_runtime::Error> {
    let options = cli
        .manager
        .options()?
        .or_leader_election_id("multi-operator-leader");
    let mgr = Manager::from_env(options).await?;
    multi_operator::add_controllers(&mgr)?;
    multi_operator::add_webhooks(&mgr)?;
    mgr.run().await
}
