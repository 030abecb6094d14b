//! Shared fixtures: an embedded API server with the `Widget` CRD, a running manager, polling.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt};
use kubesmith_envtest::Environment;
use kubesmith_runtime::{Manager, Options};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Generous: tests wait for behaviour, never assert on how fast it happens.
pub const DEADLINE: Duration = Duration::from_secs(30);

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "test.kubesmith.io",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
pub struct WidgetSpec {
    pub size: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

pub async fn env() -> Environment {
    init_tracing();
    let env = Environment::start().await.expect("start envtest");
    env.install_crds([Widget::crd()])
        .await
        .expect("install CRD");
    env
}

/// A manager running in the background, stopped through `stop`.
pub struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), kubesmith_runtime::Error>>,
}

impl Running {
    pub fn start(mgr: &Manager) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(mgr.clone().run_until(async move {
            let _ = rx.await;
        }));
        Self {
            shutdown: Some(tx),
            task,
        }
    }

    /// Whether `run_until` has returned (without being asked to stop, e.g. on a lost lease).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the manager to shut down and returns what `run_until` returned.
    pub async fn stop(mut self) -> Result<(), kubesmith_runtime::Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(DEADLINE * 2, self.task)
            .await
            .expect("manager did not stop")
            .expect("manager task panicked")
    }
}

pub fn manager(env: &Environment, options: Options) -> Manager {
    Manager::new(env.client(), options)
}

/// Polls `check` until it returns `Some`, panicking with `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
