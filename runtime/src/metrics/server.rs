//! The `/metrics` endpoint.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use kube::Client;

use super::Metrics;
use crate::{Error, Options};

/// The content type of prometheus-client's text encoding.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How to serve `/metrics`, from the manager's options.
#[derive(Clone)]
pub(crate) struct ServeOptions {
    secure: bool,
    client: Client,
}

impl ServeOptions {
    pub(crate) fn from_manager(options: &Options, client: &Client) -> Self {
        Self {
            secure: options.metrics_secure,
            client: client.clone(),
        }
    }
}

/// Binds `addr` (so a bad address fails the manager's start) and serves `/metrics` until
/// `stop`.
pub(crate) async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    options: ServeOptions,
    stop: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<std::io::Result<()>>), Error> {
    if options.secure {
        let _ = &options.client;
        return Err(Error::MetricsSecureUnavailable);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::MetricsBind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(address = %bound, secure = false, "serving metrics");
    let app = router(metrics);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    Ok((bound, task))
}

pub(super) fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(CONTENT_TYPE, OPENMETRICS)], metrics.encode())
}
