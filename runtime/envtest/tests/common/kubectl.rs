//! The real kubectl as a client of the embedded server, for the tests that drive it.

use std::path::Path;
use std::process::{Command, Stdio};

/// Whether kubectl is on PATH; says so, loudly, when it is not (the caller skips its test).
pub fn available() -> bool {
    let found = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: kubectl is not on PATH; the kubectl tests did not run");
    }
    found
}

/// Runs kubectl with `dir`'s kubeconfig and cache, the extra environment `vars` and `stdin`
/// (for `-f -`), off the async runtime so the server keeps serving: success and the output
/// (stdout, then stderr).
pub async fn run(
    dir: &Path,
    vars: &[(&str, &str)],
    args: &[&str],
    stdin: Option<String>,
) -> (bool, String) {
    let mut command = Command::new("kubectl");
    command
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .envs(vars.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = command.spawn().expect("kubectl runs");
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .expect("kubectl reads stdin");
        }
        let out = child.wait_with_output().expect("kubectl finishes");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}
