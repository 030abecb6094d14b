//! Behaviour that needs a process of its own: `Manager::from_env` without any configuration
//! (environment variables are process-wide, and changing them is `unsafe` in Rust 2024) and
//! `Manager::run` stopping on SIGTERM. Each test re-runs this test binary as a child with a
//! controlled environment; the child half of a test runs when its marker variable is set.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::ConfigMap;
use kubesmith_runtime::prelude::*;

const CHILD: &str = "KUBESMITH_TEST_CHILD";

fn child(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test);
    cmd
}

fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|t| t == test)
}

#[tokio::test]
async fn from_env_without_kubeconfig_or_cluster_names_what_it_tried() {
    const TEST: &str = "from_env_without_kubeconfig_or_cluster_names_what_it_tried";
    if is_child(TEST) {
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
    let output = child(TEST)
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

struct Noop;

impl Reconciler<ConfigMap> for Noop {
    async fn reconcile(&self, _ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        Ok(Action::await_change())
    }
}

#[test]
fn run_stops_gracefully_on_sigterm() {
    const TEST: &str = "run_stops_gracefully_on_sigterm";
    if is_child(TEST) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let env = support::env().await;
            let mgr = Manager::new(env.client(), Options::default());
            Controller::managed_by(&mgr)
                .for_::<ConfigMap>()
                .complete(Noop)
                .unwrap();
            let run = tokio::spawn(mgr.clone().run());
            mgr.cache().wait_for_sync().await;
            // the signal handlers are installed before run() starts the cache
            println!("CHILD READY");
            let result = tokio::time::timeout(support::DEADLINE, run).await;
            println!("CHILD STOPPED {result:?}");
            env.stop().await;
        });
        return;
    }
    let mut proc = child(TEST).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut transcript = String::new();
    loop {
        let line = lines
            .next()
            .expect("child exited before it was ready")
            .unwrap();
        transcript.push_str(&line);
        transcript.push('\n');
        if line.contains("CHILD READY") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &proc.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for line in lines {
        transcript.push_str(&line.unwrap());
        transcript.push('\n');
    }
    let exit = proc.wait().unwrap();
    assert!(exit.success(), "{transcript}");
    assert!(
        transcript.contains("CHILD STOPPED Ok(Ok(Ok(())))"),
        "{transcript}"
    );
}

/// Reads the child's stdout until a line contains `marker`; returns the transcript so far.
fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    transcript: &mut String,
    marker: &str,
) {
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("child exited before {marker:?}:\n{transcript}"))
            .unwrap();
        transcript.push_str(&line);
        transcript.push('\n');
        if line.contains(marker) {
            return;
        }
    }
}

fn sigterm(proc: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &proc.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_exits_zero_with_the_lease_released() {
    use k8s_openapi::api::coordination::v1::Lease;

    const TEST: &str = "sigterm_exits_zero_with_the_lease_released";
    if is_child(TEST) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let env = support::env().await;
            let mgr = Manager::new(
                env.client(),
                Options {
                    leader_election: true,
                    leader_election_namespace: Some("default".into()),
                    ..Options::default()
                }
                .or_leader_election_id("process-test-leader"),
            );
            Controller::managed_by(&mgr)
                .for_::<ConfigMap>()
                .complete(Noop)
                .unwrap();
            let run = tokio::spawn(mgr.clone().run());
            let leases: Api<Lease> = Api::namespaced(env.client(), "default");
            support::eventually("leading", || async {
                let lease = leases.get_opt("process-test-leader").await.ok()??;
                (lease.spec?.holder_identity.as_deref() == Some(mgr.identity())).then_some(())
            })
            .await;
            println!("CHILD LEADING");
            let result = tokio::time::timeout(support::DEADLINE, run).await;
            let holder = leases
                .get("process-test-leader")
                .await
                .unwrap()
                .spec
                .unwrap()
                .holder_identity;
            println!("CHILD STOPPED {result:?} HOLDER={holder:?}");
            env.stop().await;
            // Exit as a generated main would: status 0 only when run() returned Ok.
            std::process::exit(match result {
                Ok(Ok(Ok(()))) => 0,
                _ => 1,
            });
        });
        return;
    }
    let mut proc = child(TEST).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut transcript = String::new();
    read_until(&mut lines, &mut transcript, "CHILD LEADING");
    sigterm(&proc);
    for line in lines {
        transcript.push_str(&line.unwrap());
        transcript.push('\n');
    }
    let exit = proc.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "{transcript}");
    assert!(
        transcript.contains("CHILD STOPPED Ok(Ok(Ok(()))) HOLDER=Some(\"\")"),
        "{transcript}"
    );
}

/// Never finishes: the graceful shutdown would wait for it.
struct Stuck;

impl Reconciler<ConfigMap> for Stuck {
    async fn reconcile(&self, _ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        println!("CHILD RECONCILING");
        std::future::pending::<()>().await;
        Ok(Action::await_change())
    }
}

#[test]
fn a_second_signal_exits_at_once() {
    const TEST: &str = "a_second_signal_exits_at_once";
    if is_child(TEST) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let env = support::env().await;
            Api::<ConfigMap>::namespaced(env.client(), "default")
                .create(
                    &Default::default(),
                    &ConfigMap {
                        metadata: kube::api::ObjectMeta {
                            name: Some("stuck".into()),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let mgr = Manager::new(
                env.client(),
                Options {
                    // far longer than the test's deadline: only the second signal ends it
                    graceful_shutdown_timeout: Duration::from_secs(3600),
                    ..Options::default()
                },
            );
            Controller::managed_by(&mgr)
                .for_::<ConfigMap>()
                .complete(Stuck)
                .unwrap();
            let result = mgr.run().await;
            println!("CHILD STOPPED {result:?}");
            std::process::exit(0);
        });
        return;
    }
    let mut proc = child(TEST).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut transcript = String::new();
    read_until(&mut lines, &mut transcript, "CHILD RECONCILING");
    // Signals sent in quick succession may merge into one, so keep signalling until the
    // child is gone; the graceful path could only end after an hour.
    let deadline = std::time::Instant::now() + support::DEADLINE;
    let exit = loop {
        sigterm(&proc);
        std::thread::sleep(Duration::from_millis(200));
        if let Some(exit) = proc.try_wait().unwrap() {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "child still running");
    };
    for line in lines {
        transcript.push_str(&line.unwrap());
        transcript.push('\n');
    }
    assert_eq!(exit.code(), Some(1), "{transcript}");
    assert!(!transcript.contains("CHILD STOPPED"), "{transcript}");
}
