//! `kubesmith envtest serve --webhooks`: the embedded server calls the webhooks of a
//! manifests file at --webhook-url, as it would call a local `cargo run` operator.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MANIFESTS: &str = r#"---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: validating-webhook-configuration
webhooks:
- admissionReviewVersions:
  - v1
  clientConfig:
    service:
      name: webhook-service
      namespace: system
      path: /validate--v1-configmap
  failurePolicy: Fail
  name: vconfigmap-v1.kb.io
  rules:
  - apiGroups:
    - ""
    apiVersions:
    - v1
    operations:
    - CREATE
    resources:
    - configmaps
  sideEffects: None
"#;

fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl is on PATH");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn envtest_serve_calls_the_webhooks_of_a_manifests_file() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("manifests.yaml");
    std::fs::write(&manifests, MANIFESTS).unwrap();
    let ca = tmp.path().join("ca.crt");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    // Stands in for the operator's webhook server: it counts connections and hangs up,
    // so the (failurePolicy: Fail) webhook fails after reaching this address.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut [0u8; 512]);
        }
    });
    let url = format!("https://127.0.0.1:{port}");
    let kubeconfig = tmp.path().join("kubeconfig");
    let mut server = Command::new(env!("CARGO_BIN_EXE_kubesmith"))
        .args(["envtest", "serve", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--webhooks")
        .arg(&manifests)
        .args(["--webhook-url", &url, "--webhook-ca"])
        .arg(&ca)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start envtest serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !kubeconfig.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(kubeconfig.exists(), "the kubeconfig is written");

    let (ok, stored) = kubectl(
        &kubeconfig,
        &[
            "get",
            "validatingwebhookconfigurations",
            "-o",
            "jsonpath={.items[0].webhooks[0].clientConfig.url}",
        ],
    );
    assert!(ok, "{stored}");
    assert_eq!(stored, format!("{url}/validate--v1-configmap"));

    let (ok, out) = kubectl(
        &kubeconfig,
        &["create", "configmap", "blocked", "--from-literal=k=v"],
    );
    assert!(
        !ok,
        "a failing webhook with failurePolicy Fail refuses the create: {out}"
    );
    assert!(
        out.contains(&format!(
            "failed calling webhook \"vconfigmap-v1.kb.io\": failed to call webhook: Post \"{url}/validate--v1-configmap?timeout=10s\""
        )),
        "{out}"
    );
    assert!(
        connections.load(Ordering::SeqCst) >= 1,
        "the webhook URL was dialled"
    );
    // Other kinds are not admitted by it.
    let (ok, out) = kubectl(
        &kubeconfig,
        &["create", "secret", "generic", "free", "--from-literal=k=v"],
    );
    assert!(ok, "{out}");

    let _ = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn envtest_serve_refuses_bad_webhook_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("manifests.yaml");
    std::fs::write(&manifests, MANIFESTS).unwrap();
    let not_a_cert = tmp.path().join("ca.crt");
    std::fs::write(&not_a_cert, "hello").unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kubesmith"))
            .current_dir(tmp.path())
            .args(["envtest", "serve", "--kubeconfig", "kc"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--webhooks", "missing.yaml", "--webhook-ca", "ca.crt"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--webhooks missing.yaml"), "{err}");

    let out = run(&["--webhooks", "manifests.yaml", "--webhook-ca", "ca.crt"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--webhook-ca ca.crt: no PEM certificate"),
        "{err}"
    );

    let out = run(&["--webhook-url", "https://127.0.0.1:9443"]);
    assert_ne!(out.status.code(), Some(0), "--webhook-url needs --webhooks");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--webhooks"));
    assert!(!tmp.path().join("kc").exists(), "nothing was started");
}
