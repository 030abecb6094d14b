//! `/metrics` scraped over HTTP and parsed as Prometheus text, and user health checks.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kubesmith_runtime::metrics::{Metrics, RestClientMetricsLayer};
use kubesmith_runtime::prelude::*;
use support::{Running, eventually, free_addr, http_get_with, parse_exposition, sample};

/// Fails for config maps named `fail-*`, succeeds for the others.
struct FailSome;

impl Reconciler<ConfigMap> for FailSome {
    async fn reconcile(&self, ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        if ctx.request().name.starts_with("fail") {
            return Err(ReconcileError::msg("told to fail"));
        }
        Ok(Action::await_change())
    }
}

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn a_scrape_shows_controller_workqueue_and_rest_client_counters_moving() {
    let env = support::env().await;
    let config = env.config();
    let host = config
        .cluster_url
        .authority()
        .map(|a| a.to_string())
        .unwrap();
    let metrics = Metrics::new();
    let layer = RestClientMetricsLayer::new(metrics.clone(), &config.cluster_url);
    let client = kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build();
    let addr = free_addr();
    let mgr = Manager::with_metrics(
        client.clone(),
        Options {
            metrics_bind_address: Some(addr),
            metrics_secure: false,
            ..Options::default()
        },
        metrics,
    );
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .named("configmaps")
        .complete(FailSome)
        .unwrap();
    let running = Running::start(&mgr);

    // Before any object: the result series exist at 0 (dashboards divide by them).
    let samples = eventually("first scrape", || async {
        let (status, body) = http_get_with(addr, "/metrics", &[]).await?;
        assert_eq!(status, 200, "{body}");
        Some(parse_exposition(&body))
    })
    .await;
    for result in ["success", "error", "requeue", "requeue_after"] {
        assert!(
            sample(
                &samples,
                "controller_runtime_reconcile_total",
                &[("controller", "configmaps"), ("result", result)],
            )
            .is_some(),
            "no {result} series"
        );
    }
    assert_eq!(
        sample(
            &samples,
            "controller_runtime_max_concurrent_reconciles",
            &[("controller", "configmaps")]
        ),
        Some(1.0)
    );

    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &configmap("ok-1"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &configmap("fail-1"))
        .await
        .unwrap();

    let c = [("controller", "configmaps")];
    let q = [("controller", "configmaps"), ("name", "configmaps")];
    let samples = eventually("counters moved", || async {
        let (_, body) = http_get_with(addr, "/metrics", &[]).await?;
        let samples = parse_exposition(&body);
        let success = sample(
            &samples,
            "controller_runtime_reconcile_total",
            &[("controller", "configmaps"), ("result", "success")],
        )?;
        // the failing one is retried with backoff: at least two attempts
        let errors = sample(&samples, "controller_runtime_reconcile_errors_total", &c)?;
        (success >= 1.0 && errors >= 2.0).then_some(samples)
    })
    .await;
    let get = |name: &str, labels: &[(&str, &str)]| {
        sample(&samples, name, labels).unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    };
    assert!(
        get(
            "controller_runtime_reconcile_total",
            &[("controller", "configmaps"), ("result", "error")]
        ) >= 2.0
    );
    assert_eq!(
        get("controller_runtime_terminal_reconcile_errors_total", &c),
        0.0
    );
    assert_eq!(get("controller_runtime_reconcile_panics_total", &c), 0.0);
    assert!(get("controller_runtime_reconcile_time_seconds_count", &c) >= 3.0);
    assert_eq!(get("controller_runtime_active_workers", &c), 0.0);
    assert!(get("workqueue_adds_total", &q) >= 2.0);
    assert!(get("workqueue_retries_total", &q) >= 2.0);
    assert!(get("workqueue_queue_duration_seconds_count", &q) >= 2.0);
    assert!(get("workqueue_work_duration_seconds_count", &q) >= 2.0);
    assert!(sample(&samples, "workqueue_depth", &q).is_some());
    assert!(sample(&samples, "workqueue_unfinished_work_seconds", &q).is_some());
    assert!(sample(&samples, "workqueue_longest_running_processor_seconds", &q).is_some());
    assert!(
        get(
            "rest_client_requests_total",
            &[("code", "200"), ("method", "GET"), ("host", host.as_str())]
        ) >= 1.0
    );
    assert!(
        get(
            "rest_client_requests_total",
            &[("code", "201"), ("method", "POST"), ("host", host.as_str())]
        ) >= 2.0
    );

    // controller-runtime's exact reconcile time buckets, then +Inf
    let buckets: Vec<String> = samples
        .iter()
        .filter(|s| s.name == "controller_runtime_reconcile_time_seconds_bucket")
        .filter_map(|s| {
            s.labels
                .iter()
                .find(|(k, _)| k == "le")
                .map(|(_, v)| v.clone())
        })
        .collect();
    let expected = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
        0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0,
        15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
    ];
    assert_eq!(buckets.len(), expected.len() + 1, "{buckets:?}");
    for (le, want) in buckets.iter().zip(expected) {
        assert_eq!(le.parse::<f64>().unwrap(), want);
    }
    assert_eq!(buckets.last().map(String::as_str), Some("+Inf"));
    // workqueue histograms: ExponentialBuckets(10e-9, 10, 12)
    let wq: Vec<f64> = samples
        .iter()
        .filter(|s| {
            s.name == "workqueue_work_duration_seconds_bucket"
                && s.labels
                    .iter()
                    .any(|(k, v)| k == "name" && v == "configmaps")
        })
        .filter_map(|s| s.labels.iter().find(|(k, _)| k == "le")?.1.parse().ok())
        .filter(|v: &f64| v.is_finite())
        .collect();
    assert_eq!(wq.len(), 12, "{wq:?}");
    assert!(
        (wq[0] - 1e-8).abs() < 1e-20 && (wq[11] - 1e3).abs() < 1e-9,
        "{wq:?}"
    );

    running.stop().await.unwrap();
    assert!(http_get_with(addr, "/metrics", &[]).await.is_none());
    env.stop().await;
}

#[tokio::test]
async fn user_checks_join_the_probes() {
    let env = support::env().await;
    let addr = free_addr();
    let mgr = support::manager(
        &env,
        Options {
            health_probe_bind_address: Some(addr),
            ..Options::default()
        },
    );
    let db_up = std::sync::Arc::new(AtomicBool::new(false));
    let flag = db_up.clone();
    mgr.add_readyz_check("db", move || {
        if flag.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("database unreachable")
        }
    })
    .unwrap();
    mgr.add_healthz_check("heartbeat", || Ok::<(), String>(()))
        .unwrap();
    let err = mgr
        .add_readyz_check("informer-sync", || Ok::<(), String>(()))
        .unwrap_err();
    assert!(err.to_string().contains("exists already"), "{err}");
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(FailSome)
        .unwrap();
    let running = Running::start(&mgr);

    // Synced but the user's check fails: not ready, reason withheld on the aggregate.
    let body = eventually("informer-sync ok, db failing", || async {
        let (status, body) = http_get_with(addr, "/readyz", &[]).await?;
        (status == 500 && body.contains("[+]informer-sync ok")).then_some(body)
    })
    .await;
    assert_eq!(
        body,
        "[+]ping ok\n[+]informer-sync ok\n[-]db failed: reason withheld\nreadyz check failed\n"
    );
    assert_eq!(
        http_get_with(addr, "/readyz/db", &[]).await,
        Some((500, "internal server error: database unreachable\n".into()))
    );
    assert_eq!(
        http_get_with(addr, "/readyz?exclude=db", &[]).await,
        Some((200, "ok".into()))
    );
    assert_eq!(
        http_get_with(addr, "/healthz?verbose", &[]).await,
        Some((
            200,
            "[+]ping ok\n[+]heartbeat ok\nhealthz check passed\n".into()
        ))
    );
    assert_eq!(
        http_get_with(addr, "/healthz/heartbeat", &[]).await,
        Some((200, "ok".into()))
    );
    assert_eq!(
        http_get_with(addr, "/healthz/nope", &[]).await.map(|r| r.0),
        Some(404)
    );

    db_up.store(true, Ordering::SeqCst);
    assert_eq!(
        http_get_with(addr, "/readyz", &[]).await,
        Some((200, "ok".into()))
    );
    running.stop().await.unwrap();
    env.stop().await;
}

/// A TLS connection to the metrics server, trusting any certificate (the server's is
/// self-signed), offering the ALPN protocols `alpn`.
async fn tls_connect(
    addr: std::net::SocketAddr,
    alpn: &[&[u8]],
) -> Option<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use tokio_rustls::rustls;
    #[derive(Debug)]
    struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
    connector.connect(name, tcp).await.ok()
}

/// `GET /metrics` over HTTPS (HTTP/1.1).
async fn https_get(addr: std::net::SocketAddr, token: Option<&str>) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut tls = tls_connect(addr, &[]).await?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n");
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    // A peer closing without close_notify is fine for this test.
    let _ = tls.read_to_end(&mut response).await;
    let response = String::from_utf8(response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

async fn create_json<K>(api: &Api<K>, obj: serde_json::Value) -> K
where
    K: kube::Resource + serde::de::DeserializeOwned + serde::Serialize + Clone + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap()
}

/// Reviews judged by RBAC, and two service accounts with tokens, "good-token" for `prometheus` (bound to the
/// metrics-reader role, as the scaffolded config/rbac/metrics_reader_role.yaml and a binding
/// would do) and "nosy-token" for `nosy` (bound to nothing).
async fn reviewers(env: &kubesmith_envtest::Environment) {
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::api::rbac::v1::ClusterRole;
    use serde_json::json;

    env.set_reviews(kubesmith_envtest::Reviews::Rbac);
    let client = env.client();
    for (sa, token) in [("prometheus", "good-token"), ("nosy", "nosy-token")] {
        create_json(
            &Api::<Secret>::namespaced(client.clone(), "default"),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": format!("{sa}-token"), "namespace": "default",
                              "annotations": { "kubernetes.io/service-account.name": sa } },
                "type": "kubernetes.io/service-account-token",
                "data": { "token": base64_encode(token) },
            }),
        )
        .await;
    }
    create_json(
        &Api::<ClusterRole>::all(client.clone()),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": { "name": "metrics-reader" },
            "rules": [{ "nonResourceURLs": ["/metrics"], "verbs": ["get"] }],
        }),
    )
    .await;
    bind_metrics_reader(env, "prometheus").await;
}

async fn bind_metrics_reader(env: &kubesmith_envtest::Environment, sa: &str) {
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    use serde_json::json;

    create_json(
        &Api::<ClusterRoleBinding>::all(env.client()),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": format!("{sa}-metrics-reader") },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "metrics-reader" },
            "subjects": [{ "kind": "ServiceAccount", "name": sa, "namespace": "default" }],
        }),
    )
    .await;
}

#[tokio::test]
async fn review_answers_are_remembered_as_controller_runtime_does() {
    use kubesmith_envtest::Fault;

    let env = support::env().await;
    reviewers(&env).await;
    let addr = free_addr();
    let mgr = support::manager(
        &env,
        Options {
            metrics_bind_address: Some(addr),
            ..Options::default()
        },
    );
    let running = Running::start(&mgr);
    let (status, body) = eventually("HTTPS answers with 200", || async {
        https_get(addr, Some("good-token"))
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        https_get(addr, Some("nosy-token")).await.map(|r| r.0),
        Some(403)
    );

    // A denial is remembered for 30 seconds: granting access does not take effect at once.
    bind_metrics_reader(&env, "nosy").await;
    assert_eq!(
        https_get(addr, Some("nosy-token")).await.map(|r| r.0),
        Some(403)
    );

    // With the review APIs failing, a remembered answer still serves; an unseen token cannot
    // be reviewed (500), and that failure is not remembered.
    env.inject(
        Fault::new(500)
            .verb("create")
            .resource("tokenreviews")
            .times(1),
    );
    env.inject(
        Fault::new(500)
            .verb("create")
            .resource("subjectaccessreviews")
            .times(1),
    );
    let (status, body) = https_get(addr, Some("good-token")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        env.injected_failures().is_empty(),
        "{:?}",
        env.injected_failures()
    );
    assert_eq!(
        https_get(addr, Some("unseen-token")).await.map(|r| r.0),
        Some(500)
    );
    assert_eq!(
        env.injected_failures()
            .iter()
            .map(|f| f.resource.as_str())
            .collect::<Vec<_>>(),
        ["tokenreviews"]
    );
    assert_eq!(
        https_get(addr, Some("unseen-token")).await.map(|r| r.0),
        Some(401)
    );
    running.stop().await.unwrap();
    env.stop().await;
}

/// An HTTP/2 `GET /metrics` over `io` (prior knowledge: no upgrade, no ALPN check).
async fn h2_get<IO>(io: IO, token: Option<&str>) -> Result<u16, hyper::Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::Empty;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
    tokio::spawn(connection);
    let mut request = hyper::Request::get("/metrics");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(Empty::<bytes::Bytes>::new())
        .expect("a valid request");
    Ok(sender.send_request(request).await?.status().as_u16())
}

#[tokio::test]
async fn http2_is_served_only_with_enable_http2() {
    let env = support::env().await;
    for (secure, http2) in [(true, false), (true, true), (false, false), (false, true)] {
        let addr = free_addr();
        let mgr = support::manager(
            &env,
            Options {
                metrics_bind_address: Some(addr),
                metrics_secure: secure,
                enable_http2: http2,
                ..Options::default()
            },
        );
        let running = Running::start(&mgr);
        let case = format!("secure={secure} enable_http2={http2}");
        if secure {
            let tls =
                eventually("HTTPS answers", || tls_connect(addr, &[b"h2", b"http/1.1"])).await;
            let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let expected: &[u8] = if http2 { b"h2" } else { b"http/1.1" };
            assert_eq!(negotiated.as_deref(), Some(expected), "{case}");
            // No token: the authorization filter answers 401 whichever protocol carries it.
            let answer = h2_get(tls, None).await.ok();
            assert_eq!(answer, http2.then_some(401), "{case}");
        } else {
            let tcp = eventually("HTTP answers", || async {
                tokio::net::TcpStream::connect(addr).await.ok()
            })
            .await;
            let answer = h2_get(tcp, None).await.ok();
            assert_eq!(answer, http2.then_some(200), "{case}");
        }
        running.stop().await.unwrap();
    }
    env.stop().await;
}

#[tokio::test]
async fn secure_metrics_need_a_token_that_passes_review_and_rbac() {
    let env = support::env().await;
    reviewers(&env).await;
    let addr = free_addr();
    let mgr = support::manager(
        &env,
        Options {
            metrics_bind_address: Some(addr),
            // metrics_secure: true is the default
            ..Options::default()
        },
    );
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(FailSome)
        .unwrap();
    let running = Running::start(&mgr);

    let (status, body) = eventually("HTTPS answers", || https_get(addr, None)).await;
    assert_eq!((status, body.as_str()), (401, "Unauthorized\n"));
    assert_eq!(
        https_get(addr, Some("forged-token")).await.map(|r| r.0),
        Some(401)
    );
    let (status, body) = https_get(addr, Some("nosy-token")).await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("system:serviceaccount:default:nosy"),
        "{body}"
    );
    let (status, body) = https_get(addr, Some("good-token")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let samples = parse_exposition(&body);
    assert!(
        sample(
            &samples,
            "controller_runtime_reconcile_total",
            &[("controller", "configmap"), ("result", "success")]
        )
        .is_some(),
        "{body}"
    );
    // plain HTTP is not served on the secure port
    assert_ne!(
        http_get_with(addr, "/metrics", &[]).await.map(|r| r.0),
        Some(200)
    );
    running.stop().await.unwrap();
    env.stop().await;
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn an_unreadable_metrics_certificate_is_a_clear_startup_error() {
    let env = support::env().await;
    let dir = tempfile::tempdir().unwrap();
    let mgr = support::manager(
        &env,
        Options {
            metrics_bind_address: Some(free_addr()),
            metrics_cert_path: Some(dir.path().to_owned()),
            ..Options::default()
        },
    );
    let err = mgr.run_until(async {}).await.unwrap_err().to_string();
    assert!(err.contains("tls.crt"), "{err}");
    assert!(err.contains("--metrics-cert-path"), "{err}");
    env.stop().await;
}

/// The DER of the certificate the server at `addr` presents.
async fn presented_certificate(addr: std::net::SocketAddr) -> Option<Vec<u8>> {
    use tokio_rustls::rustls;

    #[derive(Debug)]
    struct Record(
        Arc<rustls::crypto::CryptoProvider>,
        Arc<Mutex<Option<Vec<u8>>>>,
    );
    impl rustls::client::danger::ServerCertVerifier for Record {
        fn verify_server_cert(
            &self,
            cert: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            *self.1.lock().unwrap() = Some(cert.as_ref().to_vec());
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let seen = Arc::new(Mutex::new(None));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Record(provider, seen.clone())))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .ok()?;
    seen.lock().unwrap().take()
}

/// Writes a fresh self-signed certificate for `name` as tls.crt/tls.key in `dir`, with
/// modification times of `when`; returns the certificate's DER.
fn write_certificate(dir: &std::path::Path, name: &str, when: std::time::SystemTime) -> Vec<u8> {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    for (file, pem) in [
        ("tls.crt", certified.cert.pem()),
        ("tls.key", certified.signing_key.serialize_pem()),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, pem).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    certified.cert.der().to_vec()
}

#[tokio::test]
async fn a_rotated_metrics_certificate_is_served_without_a_restart() {
    let env = support::env().await;
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::SystemTime::now();
    let first = write_certificate(dir.path(), "first.example", start);
    let addr = free_addr();
    let mgr = support::manager(
        &env,
        Options {
            metrics_bind_address: Some(addr),
            metrics_cert_path: Some(dir.path().to_owned()),
            ..Options::default()
        },
    );
    let running = Running::start(&mgr);
    let served = eventually("HTTPS answers", || presented_certificate(addr)).await;
    assert_eq!(served, first);

    let second = write_certificate(
        dir.path(),
        "second.example",
        start + Duration::from_secs(60),
    );
    assert_ne!(first, second);
    assert_eq!(presented_certificate(addr).await, Some(second));
    running.stop().await.unwrap();
    env.stop().await;
}
