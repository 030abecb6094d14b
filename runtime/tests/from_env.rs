//! `Manager::from_env` without any configuration. Environment variables are process-wide and
//! changing them is `unsafe` in Rust 2024, so the check runs in a child process of this test
//! binary with a controlled environment.

use kubesmith_runtime::{Manager, Options};

const CHILD: &str = "KUBESMITH_FROM_ENV_CHILD";

#[tokio::test]
async fn from_env_without_kubeconfig_or_cluster_names_what_it_tried() {
    if std::env::var_os(CHILD).is_some() {
        let err = Manager::from_env(Options::default())
            .await
            .unwrap_err()
            .to_string();
        eprintln!("from_env error: {err}");
        assert!(err.contains("KUBECONFIG=/nonexistent/kubeconfig"), "{err}");
        assert!(err.contains("in-cluster"), "{err}");
        assert!(err.contains("KUBERNETES_SERVICE_HOST unset"), "{err}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args([
            "--exact",
            "from_env_without_kubeconfig_or_cluster_names_what_it_tried",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
