//! A small HTTPS webhook server for the webhook tests: a self-signed certificate (rcgen),
//! rustls, hyper; every request is recorded, answered by the test's handler, optionally
//! after a delay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What the handler answers: a JSON body, sent after `delay`.
pub struct Reply {
    pub body: Value,
    pub delay: Duration,
}

impl From<Value> for Reply {
    fn from(body: Value) -> Self {
        Reply {
            body,
            delay: Duration::ZERO,
        }
    }
}

type Handler = Arc<dyn Fn(&str, &Value) -> Reply + Send + Sync>;

pub struct WebhookServer {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// The PEM certificate to trust.
    pub ca_pem: Vec<u8>,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookServer {
    pub async fn start(handler: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> Self {
        let handler: Handler = Arc::new(handler);
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("self-signed certificate");
        let ca_pem = key.cert.pem().into_bytes();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(key.cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der())),
            )
            .expect("TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let recorded = calls.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, handler, recorded) =
                    (acceptor.clone(), handler.clone(), recorded.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (handler, recorded) = (handler.clone(), recorded.clone());
                            async move {
                                let path = req.uri().path().to_string();
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let review: Value =
                                    serde_json::from_slice(&body).unwrap_or_default();
                                recorded
                                    .lock()
                                    .unwrap()
                                    .push((path.clone(), review.clone()));
                                // Off the async workers: a handler may block (on a call back into
                                // the API server, say) without stalling the runtime.
                                let reply = {
                                    let (path, review) = (path.clone(), review.clone());
                                    tokio::task::spawn_blocking(move || handler(&path, &review))
                                        .await
                                        .expect("the handler does not panic")
                                };
                                tokio::time::sleep(reply.delay).await;
                                let bytes = serde_json::to_vec(&reply.body).unwrap();
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(bytes)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        WebhookServer {
            url,
            ca_pem,
            calls,
            task,
        }
    }

    /// The reviews received on `path`, oldest first.
    pub fn calls(&self, path: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `caBundle` as a webhook configuration carries it.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }

    /// A `clientConfig` with the URL of `path` on this server.
    pub fn client_config(&self, path: &str) -> Value {
        json!({ "url": format!("{}{path}", self.url), "caBundle": self.ca_bundle() })
    }
}

/// An AdmissionReview answer for `review`, with `response` fields merged in.
pub fn answer(review: &Value, response: Value) -> Value {
    let mut r = json!({ "uid": review["request"]["uid"], "allowed": true });
    if let (Value::Object(r), Value::Object(extra)) = (&mut r, response) {
        r.extend(extra);
    }
    json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": r })
}

pub fn allow(review: &Value) -> Value {
    answer(review, json!({}))
}

/// Allows with a JSON patch.
pub fn patch(review: &Value, ops: Value) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(ops.to_string());
    answer(
        review,
        json!({ "patch": encoded, "patchType": "JSONPatch" }),
    )
}

/// Denies with a Status of `code` and `message`.
pub fn deny(review: &Value, code: u16, message: &str) -> Value {
    answer(
        review,
        json!({ "allowed": false, "status": { "code": code, "message": message, "reason": if code == 403 { "Forbidden" } else { "" } } }),
    )
}
