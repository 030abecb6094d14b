//! `rest_client_requests_total{code,method,host}`: a tower layer on the kube client's stack.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response};
use tower::{Layer, Service};

use super::Metrics;

/// Counts every request the wrapped client sends in `rest_client_requests_total`, labelled as
/// client-go's: the status `code` (`<error>` when no response came), the `method`, and the
/// API server's `host` (host:port).
///
/// [`Manager::from_env`](crate::Manager::from_env) installs it; for a client of your own:
///
/// ```no_run
/// use kubesmith_runtime::metrics::{Metrics, RestClientMetricsLayer};
/// use kubesmith_runtime::{Manager, Options};
///
/// # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
/// let config = kube::Config::infer().await?;
/// let metrics = Metrics::new();
/// let layer = RestClientMetricsLayer::new(metrics.clone(), &config.cluster_url);
/// let client = kube::client::ClientBuilder::try_from(config)?.with_layer(&layer).build();
/// let mgr = Manager::with_metrics(client, Options::default(), metrics);
/// # let _ = mgr; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RestClientMetricsLayer {
    metrics: Metrics,
    host: String,
}

impl RestClientMetricsLayer {
    /// Records into `metrics`, with `host` taken from the API server's URL.
    pub fn new(metrics: Metrics, cluster_url: &http::Uri) -> Self {
        let host = cluster_url
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        Self { metrics, host }
    }
}

impl<S> Layer<S> for RestClientMetricsLayer {
    type Service = RestClientMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RestClientMetrics {
            inner,
            metrics: self.metrics.clone(),
            host: self.host.clone(),
        }
    }
}

/// The service [`RestClientMetricsLayer`] wraps around a client stack.
#[derive(Clone, Debug)]
pub struct RestClientMetrics<S> {
    inner: S,
    metrics: Metrics,
    host: String,
}

impl<S, B, R> Service<Request<B>> for RestClientMetrics<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method().as_str().to_owned();
        let metrics = self.metrics.clone();
        let host = self.host.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "<error>".to_owned(),
            };
            metrics.rest_request(&code, &method, &host);
            result
        })
    }
}
