//! The runtime every kubesmith operator links: an informer [`cache`], a client-go style work
//! [`queue`], [`controller`]s with a builder, a [`manager`] that runs them (with
//! [`leaderelection`], Prometheus [`metrics`] and health probes), and helpers for
//! [`finalizer`]s, status [`conditions`], [`events`], [`owner`] references, writing children
//! ([`apply`]) and CRD [`manifests`].
//!
//! Data flows one way: API server → watch → cache → queue → reconcile → API server.
//! Start from [`prelude`], [`Manager`] and [`Controller`]:
//!
//! ```no_run
//! use kubesmith_runtime::prelude::*;
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! struct Labeler;
//!
//! impl Reconciler<ConfigMap> for Labeler {
//!     async fn reconcile(&self, ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
//!         let Some(cm) = ctx.get() else { return Ok(Action::await_change()) };
//!         if cm.labels().contains_key("example.com/seen") {
//!             return Ok(Action::await_change());
//!         }
//!         let patch = serde_json::json!({ "metadata": { "labels": { "example.com/seen": "true" } } });
//!         ctx.api().patch(&cm.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
//!         Ok(Action::requeue(Duration::from_secs(3600)))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), kubesmith_runtime::Error> {
//!     let mgr = Manager::from_env(Options::default()).await?;
//!     Controller::managed_by(&mgr).for_::<ConfigMap>().complete(Labeler)?;
//!     mgr.run().await
//! }
//! ```

pub mod apply;
pub mod cache;
pub mod conditions;
pub mod controller;
pub mod events;
pub mod finalizer;
pub mod leaderelection;
pub mod manager;
pub mod manifests;
pub mod metrics;
pub mod owner;
pub mod predicate;
pub mod prelude;
pub mod queue;
mod tls;
pub mod webhook;

use std::net::SocketAddr;
use std::time::Duration;

pub use controller::{Context, Controller, ReconcileError, Reconciler, Request};
pub use kube::runtime::controller::Action;
/// `#[resource(...)]` turns a Spec struct into a CRD root type; `#[rbac(...)]` declares the
/// permissions a controller needs; `#[webhook(...)]` declares an admission webhook. See the
/// `kubesmith-derive` crate.
pub use kubesmith_derive::{rbac, resource, schema, webhook};
pub use manager::{Manager, Options};

/// Errors of the runtime's setup, run and helper functions (reconcile errors are
/// [`ReconcileError`]s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable Kubernetes client configuration was found.
    #[error("no Kubernetes client configuration: {tried}: {source}")]
    ClientConfig {
        /// Which configuration sources were looked at.
        tried: String,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
    /// A command-line flag has an invalid value.
    #[error("invalid value {value:?} for flag --{flag}: {reason}")]
    InvalidFlag {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// An environment variable has an invalid value.
    #[error("invalid value {value:?} for ${name}: {reason}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// A controller could not be registered.
    #[error("invalid controller {name:?}: {reason}")]
    InvalidController {
        /// The controller's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The health probe address could not be bound.
    #[error("cannot serve health probes on {addr}: {source}")]
    ProbeBind {
        /// The address from [`Options::health_probe_bind_address`].
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// The metrics address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsBind {
        /// The address from [`Options::metrics_bind_address`].
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// The metrics server's TLS setup failed (unreadable certificate or key, say).
    #[error("cannot serve metrics over HTTPS: {0}")]
    MetricsTls(String),
    /// A health or readiness check could not be added.
    #[error("invalid {endpoint} check {name:?}: {reason}")]
    InvalidCheck {
        /// `healthz` or `readyz`.
        endpoint: &'static str,
        /// The check's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The leader election settings are inconsistent.
    #[error("invalid leader election settings: {0}")]
    InvalidLeaderElection(String),
    /// The leader lease could not be renewed within the renew deadline; controllers were
    /// stopped at once because another replica may be leading already.
    #[error(
        "leader election lost: could not renew lease {namespace}/{lease} within the renew deadline"
    )]
    LeaderElectionLost {
        /// The Lease's name.
        lease: String,
        /// The Lease's namespace.
        namespace: String,
    },
    /// The signal handlers for SIGTERM/SIGINT could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signal(#[source] std::io::Error),
    /// [`Manager::run`] or [`Manager::run_until`] was called on a manager that already ran.
    #[error("the manager is already running (or has run); a manager runs once")]
    AlreadyRunning,
    /// In-flight reconciles did not finish within [`Options::graceful_shutdown_timeout`] and
    /// were abandoned.
    #[error("in-flight reconciles did not finish within the graceful shutdown timeout of {0:?}")]
    GracefulShutdownTimeout(Duration),
    /// A function that spawns tasks was called outside a tokio runtime.
    #[error("{0} must be called within a tokio runtime")]
    NoRuntime(&'static str),
    /// A Kubernetes API call failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// Serializing manifests failed.
    #[error("cannot serialize manifests: {0}")]
    Serialize(#[source] serde_json::Error),
    /// Writing output failed.
    #[error("cannot write output: {0}")]
    Io(#[source] std::io::Error),
    /// A webhook could not be registered.
    #[error("invalid webhook for {kind}: {reason}")]
    InvalidWebhook {
        /// The webhook's kind, as `Kind.group/version`.
        kind: String,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// The webhook server's address could not be bound.
    #[error("cannot serve webhooks on {addr}: {source}")]
    WebhookBind {
        /// From [`Options::webhook_host`] and [`Options::webhook_port`].
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// The webhook server's TLS setup failed (unreadable certificate or key, say).
    #[error("cannot serve webhooks over HTTPS: {0}")]
    WebhookTls(String),
}

/// The runtime guide (`docs/runtime.md`), compiled here so its examples cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../docs/runtime.md")]
struct RuntimeGuide;

/// The testing guide (`docs/testing.md`), compiled here so its examples cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../docs/testing.md")]
struct TestingGuide;

/// The attributes reference (`docs/attributes.md`), compiled here so its examples cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../docs/attributes.md")]
struct AttributesReference;

/// The CronJob tutorial (`docs/tutorial.md`), compiled here so its examples cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tutorial.md")]
struct Tutorial;
