//! `kubesmith envtest serve`: the embedded API server as a process, for kubectl and `cargo run`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use kubesmith_envtest::Environment;

/// Arguments of `kubesmith envtest serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
  kubesmith envtest serve --kubeconfig /tmp/envtest.kubeconfig --crds config/crd/bases\n  \
  KUBECONFIG=/tmp/envtest.kubeconfig kubectl get crds\n  \
  KUBECONFIG=/tmp/envtest.kubeconfig cargo run")]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (default: a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Where to write the kubeconfig that points at the server.
    #[arg(long, default_value = "envtest.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Install every CRD found in the YAML files of this directory at start.
    #[arg(long)]
    pub crds: Option<PathBuf>,
}

pub fn serve(args: &ServeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut builder = Environment::builder();
        if let Some(port) = args.port {
            builder = builder.port(port);
        }
        if let Some(dir) = &args.crds {
            builder = builder.crd_dir(dir.clone());
        }
        let env = builder
            .start()
            .await
            .context("starting the embedded API server")?;
        env.write_kubeconfig(&args.kubeconfig)
            .with_context(|| format!("writing the kubeconfig {}", args.kubeconfig.display()))?;
        println!(
            "The embedded Kubernetes API server is serving at {}",
            env.url()
        );
        println!("  export KUBECONFIG={}", args.kubeconfig.display());
        println!("  kubectl get namespaces");
        println!("It has no scheduler, kubelet or workload controllers. Press Ctrl-C to stop.");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        env.stop().await;
        println!("stopped");
        Ok(())
    })
}
