//! How the server reaches webhooks (admission and conversion): a webhook `clientConfig`
//! resolved to a URL and CA bundle, and one JSON POST over HTTPS (rustls, trusting only the
//! `caBundle`) or plain HTTP, bounded by the webhook's timeout. Errors read like client-go's
//! (`Post "URL": dial tcp ...`, `context deadline exceeded`), because kube-apiserver puts
//! them in the messages clients see.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Where a webhook is called: its URL and the PEM bundle its certificate must chain to.
#[derive(Debug, Clone)]
pub(crate) struct Destination {
    pub url: String,
    pub ca_bundle: Option<Vec<u8>>,
}

/// A `clientConfig` (admissionregistration or apiextensions): `url`, or a `service` that
/// `service_base` (the endpoint [`crate::Environment::install_webhooks`] remembered, for CRD
/// conversion) stands in for. A service nothing stands in for cannot be reached, as on a
/// cluster without that Service: the error is what the call fails with.
pub(crate) fn destination(
    client_config: &Value,
    service_base: Option<&crate::WebhookEndpoint>,
) -> Result<Destination, String> {
    let ca_bundle = client_config
        .get("caBundle")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| base64::engine::general_purpose::STANDARD.decode(s))
        .transpose()
        .map_err(|e| format!("caBundle is not valid base64: {e}"))?;
    if let Some(url) = client_config.get("url").and_then(Value::as_str) {
        return Ok(Destination {
            url: url.to_string(),
            ca_bundle,
        });
    }
    let Some(service) = client_config.get("service") else {
        return Err("the webhook's clientConfig has neither url nor service".into());
    };
    let field = |k: &str| service.get(k).and_then(Value::as_str).unwrap_or_default();
    let path = field("path");
    if let Some(base) = service_base {
        return Ok(Destination {
            url: format!("{}{path}", base.url.trim_end_matches('/')),
            ca_bundle: Some(base.ca_bundle.clone()),
        });
    }
    let port = service.get("port").and_then(Value::as_i64).unwrap_or(443);
    let (name, namespace) = (field("name"), field("namespace"));
    Err(format!(
        "Post \"https://{name}.{namespace}.svc:{port}{path}\": service \"{name}\" not found"
    ))
}

/// POSTs `body` as JSON to `dest` (with client-go's `?timeout=` parameter) and parses the
/// JSON answer. The error is the text client-go would report.
pub(crate) async fn post(
    dest: &Destination,
    body: &Value,
    timeout: Duration,
) -> Result<Value, String> {
    let sep = if dest.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}timeout={}s", dest.url, timeout.as_secs().max(1));
    let payload = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let call = call(&url, dest.ca_bundle.as_deref(), payload);
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(reason)) => Err(format!("Post \"{url}\": {reason}")),
        Err(_) => Err(format!("Post \"{url}\": context deadline exceeded")),
    }
}

async fn call(url: &str, ca_bundle: Option<&[u8]>, payload: Vec<u8>) -> Result<Value, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => {
            return Err(format!(
                "unsupported protocol scheme \"{}\"",
                other.unwrap_or_default()
            ));
        }
    };
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let bare_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addr = format!("{host}:{port}");
    let tcp = tokio::net::TcpStream::connect((bare_host.as_str(), port))
        .await
        .map_err(|e| format!("dial tcp {addr}: connect: {}", io_reason(&e)))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or(addr);
    if !tls {
        return exchange(tcp, &authority, &path, payload).await;
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_bundle.unwrap_or_default()) {
        let cert = cert.map_err(|e| format!("caBundle is not valid PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("caBundle holds an unusable certificate: {e}"))?;
    }
    // rustls 0.23.48 deprecated the *ring* provider for aws-lc-rs, which needs cmake and a C
    // compiler; *ring* keeps the test server building with cargo alone.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name =
        ServerName::try_from(bare_host).map_err(|e| format!("invalid host name: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("tls: failed to verify certificate: {e}"))?;
    exchange(stream, &authority, &path, payload).await
}

/// Go's wording for the usual connection failures.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

async fn exchange<S>(io: S, authority: &str, path: &str, payload: Vec<u8>) -> Result<Value, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = http::Request::post(path)
        .header(http::header::HOST, authority)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, */*")
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(format!(
            "an error on the server (\"{}\") has prevented the request from succeeding (status {})",
            text.trim(),
            status.as_u16()
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("the webhook's answer is not JSON: {e}"))
}
