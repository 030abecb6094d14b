//! Bad requests get `metav1.Status` errors, never a panic or a hung connection: broken JSON
//! and YAML bodies, bodies over kube-apiserver's 3 MiB limit (declared or chunked), unknown
//! paths and methods a path does not support. The server keeps serving afterwards.

use std::time::Duration;

use kubesmith_envtest::Environment;
use serde_json::Value;
use std::io::{Read as _, Write as _};

/// Sends one request through the environment's kube client; returns status code and parsed body.
async fn send(
    env: &Environment,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(body)
        .unwrap();
    let resp = env.client().send(req.map(Into::into)).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{method} {path}: the answer is not JSON ({e}): {bytes:?}"));
    (status, body)
}

fn assert_status(answer: &(u16, Value), code: u16, reason: &str, what: &str) {
    let (got, body) = answer;
    assert_eq!(*got, code, "{what}: {body}");
    assert_eq!(body["kind"], "Status", "{what}: {body}");
    assert_eq!(body["status"], "Failure", "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["reason"], reason, "{what}: {body}");
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let env = Environment::start().await.unwrap();
    let json = "application/json";
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "truncated JSON",
            json,
            br#"{"apiVersion":"v1","kind":"#.to_vec(),
        ),
        ("JSON array", json, b"[1,2,3]".to_vec()),
        ("JSON string", json, br#""configmap""#.to_vec()),
        ("empty body", json, Vec::new()),
        ("not UTF-8", json, vec![0xff, 0xfe, 0x00, 0x7b]),
        (
            "broken YAML",
            "application/yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n".to_vec(),
        ),
        (
            "YAML scalar",
            "application/yaml",
            b"just a string\n".to_vec(),
        ),
        (
            "ill-typed data",
            json,
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":1}}"#
                .to_vec(),
        ),
    ];
    for (what, ct, body) in cases {
        let answer = send(&env, "POST", CMS, ct, body.clone()).await;
        assert_status(&answer, 400, "BadRequest", what);
        // The same body as an update and as a merge patch of an existing object.
        let answer = send(
            &env,
            "PUT",
            "/api/v1/namespaces/default/services/kubernetes",
            ct,
            body.clone(),
        )
        .await;
        assert!(
            answer.0 == 400 && answer.1["kind"] == "Status",
            "PUT {what}: {answer:?}"
        );
        let answer = send(
            &env,
            "PATCH",
            "/api/v1/namespaces/default/services/kubernetes",
            "application/merge-patch+json",
            body,
        )
        .await;
        assert!(
            answer.0 == 400 && answer.1["kind"] == "Status",
            "PATCH {what}: {answer:?}"
        );
    }
    // Nothing was stored, and the server still answers.
    let (code, list) = send(&env, "GET", CMS, "application/json", Vec::new()).await;
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    env.stop().await;
}

#[tokio::test]
async fn bodies_over_three_mebibytes_are_refused_with_413() {
    let env = Environment::start().await.unwrap();
    let limit = 3 * 1024 * 1024;
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(limit)
    );
    let answer = send(&env, "POST", CMS, "application/json", big.into_bytes()).await;
    assert_status(&answer, 413, "RequestEntityTooLarge", "declared length");
    assert_eq!(
        answer.1["message"],
        format!("Request entity too large: limit is {limit}")
    );

    // Just under the limit is fine (ConfigMaps themselves are not size-checked here).
    let fits = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"fits"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(limit - 200)
    );
    let (code, _) = send(&env, "POST", CMS, "application/json", fits.into_bytes()).await;
    assert_eq!(code, 201);

    // A chunked body without a declared length is cut off at the limit too: the server
    // answers 413 and the connection does not hang, whatever the client is still writing.
    let addr = env
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        // A generous bound: reaching it means the connection hung.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let head = format!(
            "POST {CMS} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b' '; 256 * 1024];
        for _ in 0..16 {
            let framed = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk.clone(),
                b"\r\n".to_vec(),
            ]
            .concat();
            if stream.write_all(&framed).is_err() {
                break; // The server has answered and closed; the answer is still readable.
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    response.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&response).contains("RequestEntityTooLarge") {
                        break;
                    }
                }
            }
        }
        response
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.1 413") && text.contains("RequestEntityTooLarge"),
        "{text}"
    );
    env.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_status_errors() {
    let env = Environment::start().await.unwrap();
    let json = "application/json";
    for path in [
        "/nothing",
        "/api/v2",
        "/apis/nogroup/v1",
        "/apis/apps/v1/widgets",
        "/api/v1/namespaces/default/configmaps/a/b/c/d",
        "/openapi/v3/apis/nogroup/v1",
        "/api/v1/namespaces/default/configmaps/x/exec",
    ] {
        let answer = send(&env, "GET", path, json, Vec::new()).await;
        assert_status(&answer, 404, "NotFound", path);
    }
    for (method, path) in [
        ("DELETE", "/version"),
        ("POST", "/apis"),
        ("PUT", "/openapi/v3"),
        ("PUT", CMS),
        ("POST", "/api/v1/namespaces/default/configmaps/x"),
        ("OPTIONS", CMS),
    ] {
        let answer = send(&env, method, path, json, b"{}".to_vec()).await;
        assert_status(
            &answer,
            405,
            "MethodNotAllowed",
            &format!("{method} {path}"),
        );
    }
    let (code, _) = send(&env, "GET", "/version", json, Vec::new()).await;
    assert_eq!(code, 200);
    env.stop().await;
}
