//! `kubesmith envtest serve`: the embedded API server as a process, for kubectl and `cargo run`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use kubesmith_envtest::{Environment, WebhookEndpoint};

/// Arguments of `kubesmith envtest serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
  kubesmith envtest serve --kubeconfig /tmp/envtest.kubeconfig --crds config/crd/bases\n  \
  KUBECONFIG=/tmp/envtest.kubeconfig kubectl get crds\n  \
  KUBECONFIG=/tmp/envtest.kubeconfig cargo run\n  \
  kubesmith envtest serve --webhooks config/webhook/manifests.yaml --webhook-ca ca.crt")]
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
    /// Install the webhook configurations of this file (config/webhook/manifests.yaml), their
    /// service references pointed at --webhook-url, so a local `cargo run` operator's
    /// webhooks are called. CRDs with a conversion webhook are pointed there too.
    #[arg(long, value_name = "FILE")]
    pub webhooks: Option<PathBuf>,
    /// Where the operator serves its webhooks.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://127.0.0.1:9443",
        requires = "webhooks"
    )]
    pub webhook_url: String,
    /// The PEM certificate the webhook server's certificate chains to (default: ca.crt, else
    /// tls.crt, in $TMPDIR/k8s-webhook-server/serving-certs, where the operator's certificates
    /// live by default).
    #[arg(long, value_name = "FILE", requires = "webhooks")]
    pub webhook_ca: Option<PathBuf>,
}

/// The endpoint the `--webhook-*` flags describe, read before the server starts so that a
/// bad flag changes nothing.
fn webhook_endpoint(args: &ServeArgs) -> Result<Option<(String, WebhookEndpoint)>> {
    let Some(manifests) = &args.webhooks else {
        return Ok(None);
    };
    let yaml = std::fs::read_to_string(manifests).with_context(|| {
        format!(
            "reading the webhook manifests --webhooks {}",
            manifests.display()
        )
    })?;
    if !args.webhook_url.starts_with("https://") && !args.webhook_url.starts_with("http://") {
        anyhow::bail!(
            "--webhook-url {}: expected an https:// URL such as https://127.0.0.1:9443",
            args.webhook_url
        );
    }
    let ca_path = match &args.webhook_ca {
        Some(path) => path.clone(),
        None => {
            let dir = std::env::temp_dir().join("k8s-webhook-server/serving-certs");
            ["ca.crt", "tls.crt"]
                .iter()
                .map(|f| dir.join(f))
                .find(|p| p.exists())
                .with_context(|| {
                    format!(
                        "--webhooks needs the webhook server's CA: pass --webhook-ca FILE (no ca.crt or tls.crt in {})",
                        dir.display()
                    )
                })?
        }
    };
    let ca_bundle = std::fs::read(&ca_path)
        .with_context(|| format!("reading the webhook CA --webhook-ca {}", ca_path.display()))?;
    if !String::from_utf8_lossy(&ca_bundle).contains("-----BEGIN CERTIFICATE-----") {
        anyhow::bail!(
            "--webhook-ca {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
            ca_path.display()
        );
    }
    Ok(Some((
        yaml,
        WebhookEndpoint {
            url: args.webhook_url.clone(),
            ca_bundle,
        },
    )))
}

pub fn serve(args: &ServeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let webhooks = webhook_endpoint(args)?;
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
        if let Some((yaml, endpoint)) = &webhooks {
            env.install_webhooks(yaml, endpoint)
                .await
                .with_context(|| {
                    format!(
                        "installing the webhooks of {}",
                        args.webhooks.as_deref().unwrap_or(Path::new("")).display()
                    )
                })?;
        }
        env.write_kubeconfig(&args.kubeconfig)
            .with_context(|| format!("writing the kubeconfig {}", args.kubeconfig.display()))?;
        println!(
            "The embedded Kubernetes API server is serving at {}",
            env.url()
        );
        println!("  export KUBECONFIG={}", args.kubeconfig.display());
        println!("  kubectl get namespaces");
        if let Some((_, endpoint)) = &webhooks {
            println!("Webhooks are called at {}.", endpoint.url);
        }
        println!("It has no scheduler, kubelet or workload controllers. Press Ctrl-C to stop.");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        env.stop().await;
        println!("stopped");
        Ok(())
    })
}
