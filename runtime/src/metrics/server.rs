//! The `/metrics` endpoint: plain HTTP, or (the default) HTTPS where only callers whose bearer
//! token passes a TokenReview and whose SubjectAccessReview allows the request get an answer,
//! as controller-runtime's `filters.WithAuthenticationAndAuthorization`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::ResolvesServerCert;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::{Error, Options, tls};

/// The content type of prometheus-client's text encoding.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long open connections get to finish their requests once the manager stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS handshake that takes longer than this is dropped (slow or hostile client).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to serve `/metrics`, from the manager's options.
#[derive(Clone)]
pub(crate) struct ServeOptions {
    secure: bool,
    cert_dir: Option<PathBuf>,
    cert_name: String,
    key_name: String,
    http2: bool,
    client: Client,
}

impl ServeOptions {
    pub(crate) fn from_manager(options: &Options, client: &Client) -> Self {
        Self {
            secure: options.metrics_secure,
            cert_dir: options.metrics_cert_path.clone(),
            cert_name: options.metrics_cert_name.clone(),
            key_name: options.metrics_cert_key.clone(),
            http2: options.enable_http2,
            client: client.clone(),
        }
    }
}

/// Binds `addr` (so a bad address or certificate fails the manager's start) and serves
/// `/metrics` until `stop`.
pub(crate) async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    options: ServeOptions,
    stop: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<std::io::Result<()>>), Error> {
    let tls = if options.secure {
        Some(tls_config(&options)?)
    } else {
        None
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::MetricsBind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics);
    let task = match tls {
        None => {
            tracing::info!(address = %bound, secure = false, http2 = options.http2, "serving metrics over HTTP");
            tokio::spawn(serve_connections(listener, app, options.http2, stop))
        }
        Some(tls) => {
            tracing::info!(address = %bound, secure = true, http2 = options.http2, "serving metrics over HTTPS with authentication and authorization");
            let authorizer = Authorizer::new(options.client.clone());
            let app = app.layer(axum::middleware::from_fn_with_state(authorizer, authorize));
            let listener =
                TlsListener::spawn(listener, TlsAcceptor::from(tls), stop.clone(), bound);
            tokio::spawn(serve_connections(listener, app, options.http2, stop))
        }
    };
    Ok((bound, task))
}

/// Serves `app` on every connection `listener` accepts until `stop`, then gives open
/// connections [`DRAIN_TIMEOUT`] to finish their requests.
///
/// HTTP/2 only when `http2` is set: kubebuilder turns it off by default because of the HTTP/2
/// Stream Cancellation and Rapid Reset vulnerabilities (GHSA-qppj-fm5r-hxr3,
/// GHSA-4374-p667-p6c8). Off means off: a client that sends the HTTP/2 preface anyway (prior
/// knowledge, ignoring ALPN) is refused, not served.
async fn serve_connections<L>(
    mut listener: L,
    app: Router,
    http2: bool,
    stop: CancellationToken,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Io: Unpin,
{
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if !http2 {
        builder = builder.http1_only();
    }
    loop {
        let io = tokio::select! {
            () = stop.cancelled() => break,
            (io, _peer) = listener.accept() => io,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(
            builder
                .serve_connection(TokioIo::new(io), service)
                .into_owned(),
        );
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "metrics server: connection closed with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("metrics server: dropping connections still open after the drain timeout");
    }
    Ok(())
}

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(CONTENT_TYPE, OPENMETRICS)], metrics.encode())
}

/// The certificate from `--metrics-cert-path` (read again when its files change), or a fresh
/// self-signed one.
fn tls_config(options: &ServeOptions) -> Result<Arc<rustls::ServerConfig>, Error> {
    let provider = crate::tls::crypto_provider();
    let certs: Arc<dyn ResolvesServerCert> = match &options.cert_dir {
        Some(dir) => {
            let paths = tls::CertPaths {
                cert: dir.join(&options.cert_name),
                key: dir.join(&options.key_name),
                server: "metrics server",
                flags: "--metrics",
            };
            Arc::new(tls::CertFiles::load(paths, Arc::clone(&provider)).map_err(Error::MetricsTls)?)
        }
        None => {
            let made = tls::self_signed(&provider).map_err(Error::MetricsTls)?;
            Arc::new(rustls::sign::SingleCertAndKey::from(made.certified))
        }
    };
    tls::server_config(certs, provider, options.http2).map_err(Error::MetricsTls)
}

/// Accepts TCP connections and completes TLS handshakes on their own tasks, so one slow
/// client cannot hold up the others.
struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    fn spawn(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        stop: CancellationToken,
        local: SocketAddr,
    ) -> Self {
        let (tx, accepted) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(err) => {
                            // e.g. EMFILE: back off instead of spinning
                            tracing::warn!(error = %err, "metrics server: accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "metrics server: TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "metrics server: TLS handshake timed out"),
                    }
                });
            }
        });
        Self { accepted, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The acceptor stopped: no more connections; graceful shutdown ends the server.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Asks the API server who the caller is and whether they may make the request, and
/// remembers the answers as controller-runtime's metrics filter does
/// (`pkg/metrics/filters`: the delegating authenticator caches token reviews for 1 minute,
/// the delegating authorizer caches allowed decisions for 5 minutes and denied ones for 30
/// seconds), so a scrape every few seconds does not cost the API server two requests each.
/// Failed reviews are not remembered: the next request asks again.
#[derive(Clone)]
struct Authorizer {
    client: Client,
    /// By SHA-256 of the token (tokens themselves are not kept): who it authenticates, if anyone.
    tokens: Arc<Remembered<Option<UserInfo>>>,
    /// By the SubjectAccessReview spec as JSON: whether it was allowed.
    decisions: Arc<Remembered<bool>>,
}

const TOKEN_TTL: Duration = Duration::from_secs(60);
const ALLOWED_TTL: Duration = Duration::from_secs(5 * 60);
const DENIED_TTL: Duration = Duration::from_secs(30);

/// What the reviews decided.
enum Decision {
    Allowed,
    Unauthenticated,
    Denied { user: String },
}

impl Authorizer {
    fn new(client: Client) -> Self {
        Self {
            client,
            tokens: Arc::new(Remembered::default()),
            decisions: Arc::new(Remembered::default()),
        }
    }

    async fn review(&self, token: &str, path: &str, verb: &str) -> Result<Decision, kube::Error> {
        let Some(user) = self.authenticate(token).await? else {
            return Ok(Decision::Unauthenticated);
        };
        let spec = SubjectAccessReviewSpec {
            user: user.username.clone(),
            groups: user.groups,
            uid: user.uid,
            extra: user.extra,
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(path.to_owned()),
                verb: Some(verb.to_owned()),
            }),
            ..SubjectAccessReviewSpec::default()
        };
        // A spec that cannot be serialized (it always can) is simply not remembered.
        let key = serde_json::to_string(&spec).ok();
        let allowed = match key.as_deref().and_then(|key| self.decisions.get(key)) {
            Some(allowed) => allowed,
            None => {
                let access = SubjectAccessReview {
                    spec,
                    ..SubjectAccessReview::default()
                };
                let decided = Api::<SubjectAccessReview>::all(self.client.clone())
                    .create(&PostParams::default(), &access)
                    .await?;
                let allowed = decided.status.is_some_and(|s| s.allowed);
                let ttl = if allowed { ALLOWED_TTL } else { DENIED_TTL };
                if let Some(key) = key {
                    self.decisions.insert(key, allowed, ttl);
                }
                allowed
            }
        };
        if allowed {
            Ok(Decision::Allowed)
        } else {
            Ok(Decision::Denied {
                user: user.username.unwrap_or_default(),
            })
        }
    }

    /// The user `token` belongs to, or `None` when the TokenReview does not authenticate it.
    async fn authenticate(&self, token: &str) -> Result<Option<UserInfo>, kube::Error> {
        let key = token_key(token);
        if let Some(user) = self.tokens.get(&key) {
            return Ok(user);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await?;
        let user = reviewed
            .status
            .filter(|s| s.authenticated == Some(true))
            .map(|s| s.user.unwrap_or_default());
        self.tokens.insert(key, user.clone(), TOKEN_TTL);
        Ok(user)
    }
}

fn token_key(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Answers kept until they expire, at most [`Remembered::CAPACITY`] of them (the size of
/// the apiserver's webhook authorizer cache), so a flood of distinct tokens cannot grow memory
/// without bound.
struct Remembered<V> {
    entries: std::sync::Mutex<HashMap<String, (Instant, V)>>,
}

impl<V> Default for Remembered<V> {
    fn default() -> Self {
        Self {
            entries: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> Remembered<V> {
    const CAPACITY: usize = 8192;

    fn get(&self, key: &str) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((expires, value)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&self, key: String, value: V, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if entries.len() >= Self::CAPACITY {
            entries.retain(|_, (expires, _)| *expires > now);
        }
        if entries.len() >= Self::CAPACITY {
            let soonest = entries
                .iter()
                .min_by_key(|(_, (expires, _))| *expires)
                .map(|(key, _)| key.clone());
            if let Some(soonest) = soonest {
                entries.remove(&soonest);
            }
        }
        entries.insert(key, (now + ttl, value));
    }
}

/// 401 without a valid bearer token, 403 when the SubjectAccessReview denies, as
/// controller-runtime's filter.
async fn authorize(State(auth): State<Authorizer>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
    };
    let verb = non_resource_verb(request.method());
    let path = request.uri().path().to_owned();
    match auth.review(token, &path, verb).await {
        Ok(Decision::Allowed) => next.run(request).await,
        Ok(Decision::Unauthenticated) => {
            (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response()
        }
        Ok(Decision::Denied { user }) => {
            tracing::debug!(%user, %path, verb, "metrics request denied");
            (
                StatusCode::FORBIDDEN,
                format!("Authorization denied for user {user}\n"),
            )
                .into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "metrics request: TokenReview/SubjectAccessReview failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Authentication or authorization failed\n",
            )
                .into_response()
        }
    }
}

/// The RBAC verb of a non-resource request (the apiserver's `RequestInfoFactory`).
fn non_resource_verb(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        "HEAD" => "head",
        "OPTIONS" => "options",
        _ => "get",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn remembered_answers_expire_after_their_ttl() {
        let remembered = Remembered::default();
        remembered.insert("allowed".into(), true, ALLOWED_TTL);
        remembered.insert("denied".into(), false, DENIED_TTL);
        tokio::time::advance(DENIED_TTL).await;
        assert_eq!(remembered.get("allowed"), Some(true));
        assert_eq!(remembered.get("denied"), None);
        tokio::time::advance(ALLOWED_TTL).await;
        assert_eq!(remembered.get("allowed"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn remembered_answers_stay_within_capacity() {
        let remembered = Remembered::default();
        for i in 0..Remembered::<bool>::CAPACITY + 10 {
            remembered.insert(format!("token-{i}"), true, TOKEN_TTL);
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        let entries = remembered.entries.lock().unwrap();
        assert_eq!(entries.len(), Remembered::<bool>::CAPACITY);
        // The ones closest to expiry made room.
        assert!(!entries.contains_key("token-0"));
        assert!(entries.contains_key(&format!("token-{}", Remembered::<bool>::CAPACITY + 9)));
    }

    #[test]
    fn tokens_are_kept_as_digests() {
        let key = token_key("secret-token");
        assert_eq!(key.len(), 64);
        assert!(!key.contains("secret"));
        assert_eq!(key, token_key("secret-token"));
        assert_ne!(key, token_key("other-token"));
    }
}
