//! The HTTPS server every webhook of a manager is served by (controller-runtime's
//! `webhook.Server`), with controller-runtime's request metrics.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::admission::{self, Handler};
use super::certs::{self, ServingCert};
use super::conversion;
use crate::metrics::Metrics;
use crate::{Error, Options};

/// The path conversion webhooks are served at.
pub(crate) const CONVERT_PATH: &str = "/convert";

/// The largest request body accepted (controller-runtime's limit: an AdmissionReview holds
/// the object twice, and an object may be up to about 3 MiB).
const MAX_BODY: usize = 7 * 1024 * 1024;

/// How long open connections get to finish their requests once the manager stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS handshake that takes longer than this is dropped (slow or hostile client).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle to a manager's webhook server, from
/// [`Manager::webhook_server`](crate::Manager::webhook_server). Cloning gives another handle
/// to the same server.
///
/// The server runs while [`Manager::run`](crate::Manager::run) does, on every replica
/// (webhooks do not wait for leadership), when at least one webhook is registered and
/// [`Options::enable_webhooks`] is set.
///
/// ```no_run
/// # async fn doc(mgr: kubesmith_runtime::Manager) {
/// let server = mgr.webhook_server();
/// tokio::spawn(mgr.clone().run());
/// let addr = server.local_addr().await; // once bound
/// let ca_pem = server.ca_bundle().await; // what a client (or the API server) should trust
/// # let _ = (addr, ca_pem);
/// # }
/// ```
#[derive(Clone)]
pub struct WebhookServer {
    shared: Arc<Shared>,
}

struct Shared {
    routes: RwLock<BTreeMap<String, Route>>,
    conversions: conversion::Registry,
    metrics: RequestMetrics,
    serving: watch::Sender<Option<Serving>>,
}

#[derive(Clone)]
enum Route {
    Admission(Arc<dyn Handler>),
    Conversion,
}

#[derive(Clone)]
struct Serving {
    addr: SocketAddr,
    cert: Arc<ServingCert>,
}

impl std::fmt::Debug for WebhookServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookServer")
            .field("paths", &self.paths())
            .field(
                "addr",
                &self.shared.serving.borrow().as_ref().map(|s| s.addr),
            )
            .finish()
    }
}

impl WebhookServer {
    /// A server with no webhooks yet, recording its metrics in `metrics`.
    pub(crate) fn new(metrics: &Metrics) -> Self {
        Self {
            shared: Arc::new(Shared {
                routes: RwLock::new(BTreeMap::new()),
                conversions: conversion::Registry::default(),
                metrics: RequestMetrics::new(metrics),
                serving: watch::Sender::new(None),
            }),
        }
    }

    /// The address to reach the server at from this host, once
    /// [`Manager::run`](crate::Manager::run) has bound it (with [`Options::webhook_port`] 0,
    /// the port the system chose). A server on all interfaces (the default
    /// [`Options::webhook_host`]) is reached at the loopback address, which the self-signed
    /// certificate names: `https://{local_addr}` is the URL to call. Waits until bound; never
    /// completes if the server is not started (no webhooks registered, or webhooks disabled).
    pub async fn local_addr(&self) -> SocketAddr {
        let addr = self.serving().await.addr;
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
            IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
            _ => addr,
        }
    }

    /// The PEM certificates a client should trust to call this server: the self-signed
    /// certificate, or the `ca.crt` next to the serving certificate if present, else the
    /// serving certificate itself (read again on every call, so it follows rotations).
    /// Waits until the server started, as [`local_addr`](Self::local_addr).
    pub async fn ca_bundle(&self) -> Vec<u8> {
        self.serving().await.cert.ca_bundle()
    }

    /// The paths webhooks are served at, sorted.
    pub fn paths(&self) -> Vec<String> {
        read(&self.shared.routes).keys().cloned().collect()
    }

    async fn serving(&self) -> Serving {
        let mut serving = self.shared.serving.subscribe();
        // The sender lives in `shared`, which this handle keeps alive: waiting cannot fail.
        loop {
            if let Some(serving) = serving.borrow_and_update().clone() {
                return serving;
            }
            if serving.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Whether anything is registered to serve.
    pub(crate) fn has_webhooks(&self) -> bool {
        !read(&self.shared.routes).is_empty()
    }

    /// Whether an admission webhook may be served at `path`; the error says why not.
    pub(crate) fn check_path(&self, path: &str) -> Result<(), String> {
        if !path.starts_with('/') {
            return Err(format!("path {path:?} must start with \"/\""));
        }
        if path == CONVERT_PATH {
            return Err(format!(
                "path {CONVERT_PATH} is reserved for conversion webhooks (with_conversion)"
            ));
        }
        if path
            .chars()
            .any(|c| c.is_whitespace() || c == '?' || c == '#')
        {
            return Err(format!(
                "path {path:?} must not contain whitespace, '?' or '#'"
            ));
        }
        if read(&self.shared.routes).contains_key(path) {
            return Err(format!(
                "another webhook of this manager is served at {path}; choose another path"
            ));
        }
        Ok(())
    }

    /// Registers admission handlers by path, all or none (checked with
    /// [`check_path`](Self::check_path) first).
    pub(crate) fn add_admission(
        &self,
        handlers: Vec<(String, Arc<dyn Handler>)>,
    ) -> Result<(), String> {
        let mut routes = self
            .shared
            .routes
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((path, _)) = handlers.iter().find(|(path, _)| routes.contains_key(path)) {
            return Err(format!(
                "another webhook of this manager is served at {path}; choose another path"
            ));
        }
        for (path, handler) in handlers {
            self.shared.metrics.init(&path);
            routes.insert(path, Route::Admission(handler));
        }
        Ok(())
    }

    /// Stops serving `paths` (undoing [`add_admission`](Self::add_admission)).
    pub(crate) fn remove_admission(&self, paths: &[String]) {
        let mut routes = self
            .shared
            .routes
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for path in paths {
            routes.remove(path);
        }
    }

    pub(crate) fn conversions(&self) -> &conversion::Registry {
        &self.shared.conversions
    }

    /// Serves `/convert` (after registering a convertible kind).
    pub(crate) fn add_conversion_route(&self) {
        let mut routes = self
            .shared
            .routes
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if !routes.contains_key(CONVERT_PATH) {
            self.shared.metrics.init(CONVERT_PATH);
            routes.insert(CONVERT_PATH.to_owned(), Route::Conversion);
        }
    }

    /// Binds the configured address (so a bad address or certificate fails the manager's
    /// start) and serves until `stop`.
    pub(crate) async fn start(
        &self,
        options: &Options,
        stop: CancellationToken,
    ) -> Result<JoinHandle<std::io::Result<()>>, Error> {
        let provider = crate::tls::crypto_provider();
        let cert = Arc::new(ServingCert::from_options(options, Arc::clone(&provider))?);
        let tls = certs::server_config(Arc::clone(&cert), provider, options.enable_http2)?;
        let addr = SocketAddr::new(options.webhook_host, options.webhook_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::WebhookBind { addr, source })?;
        let bound = listener.local_addr().unwrap_or(addr);
        tracing::info!(address = %bound, paths = ?self.paths(), "serving webhooks over HTTPS");
        let app = Router::new()
            .fallback(dispatch)
            .with_state(Arc::clone(&self.shared));
        self.shared
            .serving
            .send_replace(Some(Serving { addr: bound, cert }));
        Ok(tokio::spawn(serve_connections(
            listener,
            TlsAcceptor::from(tls),
            app,
            options.enable_http2,
            stop,
        )))
    }
}

/// Accepts connections until `stop`, each handshaken and served on its own task, then gives
/// open connections [`DRAIN_TIMEOUT`] to finish their requests.
async fn serve_connections(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    http2: bool,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if !http2 {
        builder = builder.http1_only();
    }
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // e.g. EMFILE: back off instead of spinning
                    tracing::warn!(error = %err, "webhook server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "webhook server: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "webhook server: TLS handshake timed out");
                    return;
                }
            };
            let connection = builder
                .serve_connection(TokioIo::new(tls), service)
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %err, "webhook server: connection closed with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("webhook server: dropping connections still open after the drain timeout");
    }
    Ok(())
}

/// Routes a request to the webhook registered at its path, recording the request metrics.
async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let route = read(&shared.routes).get(&path).cloned();
    let Some(route) = route else {
        let served = read(&shared.routes)
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        return (
            StatusCode::NOT_FOUND,
            format!("no webhook is served at {path}; served paths: {served}\n"),
        )
            .into_response();
    };
    let metrics = &shared.metrics;
    // Dropped also when the client goes away mid-request and the request's future with it.
    let _in_flight = InFlight::start(metrics.in_flight(&path));
    let started = std::time::Instant::now();
    // A panicking defaulter or validator fails its request, not the connection (and the
    // in-flight gauge still comes down).
    let response = AssertUnwindSafe(serve(&shared, route, request))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(%path, "webhook panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, "the webhook panicked\n").into_response()
        });
    metrics
        .latency(&path)
        .observe(started.elapsed().as_secs_f64());
    metrics.requests(&path, response.status().as_u16()).inc();
    response
}

async fn serve(shared: &Shared, route: Route, request: Request) -> Response {
    let bad_request = |message: &str| match &route {
        Route::Admission(_) => admission::bad_request(message),
        Route::Conversion => conversion::bad_request(message),
    };
    if request.method() != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(axum::http::header::ALLOW, "POST")],
            format!(
                "{} is not allowed; webhooks are called with POST\n",
                request.method()
            ),
        )
            .into_response();
    }
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return json(bad_request(&format!(
            "contentType={content_type}, expected application/json"
        )));
    }
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY) {
        let (_, body) = bad_request(&format!(
            "the request body is larger than the limit of {MAX_BODY} bytes"
        ));
        return json((StatusCode::PAYLOAD_TOO_LARGE, body));
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(err) => {
            return json(bad_request(&format!("cannot read the request body: {err}")));
        }
    };
    match route {
        Route::Admission(handler) => json(admission::answer(handler.as_ref(), &body).await),
        Route::Conversion => json(shared.conversions.answer(&body)),
    }
}

fn json((code, body): (StatusCode, Vec<u8>)) -> Response {
    (code, [(CONTENT_TYPE, "application/json")], Body::from(body)).into_response()
}

/// Counts a request in `controller_runtime_webhook_requests_in_flight` while it lives.
struct InFlight(Gauge);

impl InFlight {
    fn start(gauge: Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

type Labels = Vec<(&'static str, String)>;

/// controller-runtime's `controller_runtime_webhook_*` metrics (pkg/webhook/internal/metrics).
struct RequestMetrics {
    requests: Family<Labels, Counter>,
    in_flight: Family<Labels, Gauge>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
}

/// Prometheus' default buckets, which controller-runtime's latency histogram uses.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl RequestMetrics {
    fn new(metrics: &Metrics) -> Self {
        let this = Self {
            requests: Family::default(),
            in_flight: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        };
        // prometheus-client appends `_total` to counter names itself.
        metrics.register(
            "controller_runtime_webhook_requests",
            "Total number of admission requests by HTTP status code.",
            this.requests.clone(),
        );
        metrics.register(
            "controller_runtime_webhook_requests_in_flight",
            "Current number of admission requests being served.",
            this.in_flight.clone(),
        );
        metrics.register(
            "controller_runtime_webhook_latency_seconds",
            "Histogram of the latency of processing admission requests",
            this.latency.clone(),
        );
        this
    }

    /// Shows the in-flight gauge of `path` at 0 before its first request.
    fn init(&self, path: &str) {
        self.in_flight(path).set(0);
    }

    fn in_flight(&self, path: &str) -> Gauge {
        self.in_flight
            .get_or_create_owned(&vec![("webhook", path.to_owned())])
    }

    fn latency(&self, path: &str) -> Histogram {
        self.latency
            .get_or_create_owned(&vec![("webhook", path.to_owned())])
    }

    fn requests(&self, path: &str, code: u16) -> Counter {
        self.requests.get_or_create_owned(&vec![
            ("webhook", path.to_owned()),
            ("code", code.to_string()),
        ])
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}
