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

/// A free loopback port, released just before the caller binds it.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// `GET path` over plain HTTP/1.1 with extra headers; `None` if nothing answers.
pub async fn http_get_with(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    // A blocking std client on the blocking pool keeps the tests free of an HTTP client crate.
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n")?.1.to_owned();
        Some((status, body))
    })
    .await
    .ok()?
}

/// One sample of a Prometheus/OpenMetrics text exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses the text format: `# ` lines are metadata, every other line is
/// `name{label="value",...} number`. Panics (failing the test) on anything else.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), Vec::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let mut labels = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, tail) = rest.split_once("=\"").expect("label key");
                    // values here never contain escaped quotes
                    let (value, tail) = tail.split_once('"').expect("label value");
                    labels.push((key.to_owned(), value.to_owned()));
                    rest = tail.strip_prefix(',').unwrap_or(tail);
                }
                (name.to_owned(), labels)
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// The value of the sample `name` whose labels include all of `labels`.
pub fn sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| s.value)
}
