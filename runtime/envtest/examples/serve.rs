//! Runs an embedded API server until Ctrl-C, for trying it with kubectl:
//!
//! ```sh
//! cargo run -p kubesmith-envtest --example serve -- /tmp/envtest.kubeconfig [CRD_DIR]
//! kubectl --kubeconfig /tmp/envtest.kubeconfig get ns
//! ```

use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let kubeconfig = PathBuf::from(args.next().unwrap_or_else(|| "envtest.kubeconfig".into()));
    let mut builder = kubesmith_envtest::Environment::builder();
    if let Some(dir) = args.next() {
        builder = builder.crd_dir(PathBuf::from(dir));
    }
    let env = builder.start().await?;
    env.write_kubeconfig(&kubeconfig)?;
    println!(
        "serving {} (kubeconfig: {})",
        env.url(),
        kubeconfig.display()
    );
    tokio::signal::ctrl_c().await?;
    env.stop().await;
    Ok(())
}
