//! `/openapi/v2`: the Swagger 2.0 document (JSON and gnostic protobuf), its content
//! negotiation and caching, and the real kubectl using it (and the v3 documents' patch
//! metadata) for client-side apply, diff and `explain --output=plaintext-openapiv2`.
//! The kubectl tests are skipped, loudly, when kubectl is not on PATH.

mod common;

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kubesmith_envtest::Environment;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

struct Got {
    status: u16,
    content_type: String,
    etag: String,
    body: Vec<u8>,
}

async fn get(env: &Environment, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = http::Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = env
        .client()
        .send(req.body(Vec::new()).unwrap().map(Into::into))
        .await
        .unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (status, content_type, etag) = (
        resp.status().as_u16(),
        header("content-type"),
        header("etag"),
    );
    let body = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), usize::MAX)
        .await
        .unwrap();
    Got {
        status,
        content_type,
        etag,
        body: body.to_vec(),
    }
}

async fn document(env: &Environment) -> Value {
    let got = get(env, "/openapi/v2", &[("Accept", "application/json")]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "application/json");
    serde_json::from_slice(&got.body).unwrap()
}

/// A CRD with a described schema, so that explain has something to show.
fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.shop.example.com" },
        "spec": {
            "group": "shop.example.com",
            "scope": "Namespaced",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "description": "A Widget is sold in the shop.",
                    "properties": { "spec": {
                        "type": "object",
                        "description": "What the widget looks like.",
                        "properties": {
                            "color": { "type": "string", "description": "The widget's paint." },
                            "size": { "x-kubernetes-int-or-string": true, "anyOf": [{ "type": "integer" }, { "type": "string" }] },
                            "parts": { "type": "array", "nullable": true, "items": { "type": "string" } },
                        },
                    } },
                } },
            }],
        },
    }))
    .expect("valid CRD")
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn json_document_has_builtins_and_crds() {
    let env = Environment::builder()
        .crds([widget_crd()])
        .start()
        .await
        .unwrap();
    let doc = document(&env).await;
    assert_eq!(doc["swagger"], "2.0");
    let defs = doc["definitions"].as_object().unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for r in &found {
        let name = r
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(defs.contains_key(name), "dangling {r}");
    }
    for (name, group, version, kind) in [
        ("io.k8s.api.core.v1.ConfigMap", "", "v1", "ConfigMap"),
        ("io.k8s.api.apps.v1.Deployment", "apps", "v1", "Deployment"),
        (
            "com.example.shop.v1.Widget",
            "shop.example.com",
            "v1",
            "Widget",
        ),
    ] {
        assert_eq!(
            defs[name]["x-kubernetes-group-version-kind"],
            json!([{ "group": group, "version": version, "kind": kind }]),
            "{name}"
        );
    }
    let widget = &defs["com.example.shop.v1.Widget"];
    assert_eq!(widget["description"], "A Widget is sold in the shop.");
    let spec = &widget["properties"]["spec"]["properties"];
    assert_eq!(
        spec["size"],
        json!({ "type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": true })
    );
    assert_eq!(
        spec["parts"],
        json!({ "type": "array", "items": { "type": "string" } })
    );
    let containers = &defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");

    let cm_patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    assert_eq!(cm_patch["x-kubernetes-action"], "patch");
    assert_eq!(
        cm_patch["x-kubernetes-group-version-kind"],
        json!({ "group": "", "version": "v1", "kind": "ConfigMap" })
    );
    assert!(
        cm_patch["consumes"]
            .as_array()
            .unwrap()
            .contains(&json!("application/strategic-merge-patch+json"))
    );
    let widget_item =
        &doc["paths"]["/apis/shop.example.com/v1/namespaces/{namespace}/widgets/{name}"];
    for (verb, action) in [
        ("get", "get"),
        ("put", "put"),
        ("patch", "patch"),
        ("delete", "delete"),
    ] {
        assert_eq!(widget_item[verb]["x-kubernetes-action"], action);
    }
    assert!(
        !widget_item["patch"]["consumes"]
            .as_array()
            .unwrap()
            .contains(&json!("application/strategic-merge-patch+json"))
    );
    let widgets = &doc["paths"]["/apis/shop.example.com/v1/namespaces/{namespace}/widgets"];
    assert_eq!(widgets["get"]["x-kubernetes-action"], "list");
    assert_eq!(widgets["post"]["x-kubernetes-action"], "post");
}

#[tokio::test]
async fn negotiation_protobuf_etag_and_crd_changes() {
    let env = Environment::builder().start().await.unwrap();
    let pb = get(&env, "/openapi/v2", &[("Accept", PROTOBUF)]).await;
    assert_eq!(pb.status, 200);
    // kube-openapi answers with the `.v1.0` spelling: client-go cannot parse an `@` in it.
    assert_eq!(
        pb.content_type,
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    // Document.swagger (field 1, length-delimited) comes first: "2.0".
    assert_eq!(&pb.body[..5], b"\x0a\x032.0");

    let default = get(&env, "/openapi/v2", &[]).await;
    assert_eq!(
        (default.status, default.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(
        get(&env, "/openapi/v2", &[("Accept", "application/yaml")])
            .await
            .status,
        406
    );
    let same = get(
        &env,
        "/openapi/v2",
        &[
            ("Accept", "application/json"),
            ("If-None-Match", &default.etag),
        ],
    )
    .await;
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());

    // Installing a CRD changes the document (and its ETag); removing it changes it back.
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(env.client());
    crds.create(&Default::default(), &widget_crd())
        .await
        .unwrap();
    let with_crd = get(&env, "/openapi/v2", &[]).await;
    assert_ne!(with_crd.etag, default.etag);
    let doc: Value = serde_json::from_slice(&with_crd.body).unwrap();
    assert!(
        doc["definitions"]
            .get("com.example.shop.v1.Widget")
            .is_some()
    );
    assert_eq!(
        get(&env, "/openapi/v2", &[("If-None-Match", &default.etag)])
            .await
            .status,
        200
    );
    crds.delete("widgets.shop.example.com", &Default::default())
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        let doc = document(&env).await;
        if doc["definitions"]
            .get("com.example.shop.v1.Widget")
            .is_none()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "the deleted CRD's schema is still published");
    assert_eq!(get(&env, "/openapi/v2", &[]).await.etag, default.etag);
}

fn kubectl_available() -> bool {
    common::kubectl::available()
}

async fn kubectl_env(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    common::kubectl::run(dir, vars, args, None).await
}

async fn ok(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> String {
    let (success, out) = kubectl_env(dir, vars, args).await;
    assert!(success, "kubectl {args:?} failed:\n{out}");
    out
}

/// kubectl computes client-side apply patches from OpenAPI v3 by default, and from v2 with
/// `KUBECTL_OPENAPIV3_PATCH=false`.
const V3: &[(&str, &str)] = &[];
const V2: &[(&str, &str)] = &[("KUBECTL_OPENAPIV3_PATCH", "false")];

async fn serve() -> (Environment, tempfile::TempDir) {
    let env = Environment::builder()
        .crds([widget_crd()])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    env.write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    (env, dir)
}

/// `kubectl diff` finds the OpenAPI it needs (no 404, no "does not support strategic merge
/// patch"), in both the v3 and the v2 patch modes, and shows the right change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_diff_uses_openapi() {
    if !kubectl_available() {
        return;
    }
    let (_env, dir) = serve().await;
    let d = dir.path();
    let file = d.join("cm.yaml");
    let file = file.to_str().unwrap();
    std::fs::write(
        file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\ndata:\n  a: \"1\"\n",
    )
    .unwrap();
    ok(d, V3, &["apply", "-f", file]).await;
    std::fs::write(
        file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\ndata:\n  a: \"2\"\n",
    )
    .unwrap();
    for (vars, fetches_v2) in [(V3, false), (V2, true)] {
        // `kubectl diff` exits 1 when there are differences.
        let (_, out) = kubectl_env(d, vars, &["diff", "-f", file, "-v=6"]).await;
        assert!(
            out.contains("-  a: \"1\"") && out.contains("+  a: \"2\""),
            "{out}"
        );
        assert!(
            !out.contains("does not support strategic merge patch"),
            "{out}"
        );
        assert!(!out.contains("error calculating patch"), "{out}");
        let openapi: Vec<&str> = out.lines().filter(|l| l.contains("/openapi/")).collect();
        assert!(openapi.iter().all(|l| l.contains("200 OK")), "{openapi:#?}");
        assert_eq!(
            openapi.iter().any(|l| l.contains("/openapi/v2")),
            fetches_v2,
            "{openapi:#?}"
        );
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx
        env:
        - {name: A, value: \"1\"}
        - {name: B, value: \"2\"}
        ports:
        - {containerPort: 80}
        - {containerPort: 443}
      - name: side
        image: busybox
";

/// `kubectl apply` twice, the second time with an env var, a port and a container removed:
/// kubectl's strategic merge patch, computed from the published patch metadata (merge keys),
/// deletes exactly those, whether it reads OpenAPI v3 or v2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_removes_list_elements_by_merge_key() {
    if !kubectl_available() {
        return;
    }
    let (_env, dir) = serve().await;
    let d = dir.path();
    let file = d.join("deploy.yaml");
    let file = file.to_str().unwrap();
    let trimmed = DEPLOYMENT
        .replace("        - {name: B, value: \"2\"}\n", "")
        .replace("        - {containerPort: 443}\n", "")
        .replace("      - name: side\n        image: busybox\n", "");
    for (mode, vars) in [("v3", V3), ("v2", V2)] {
        std::fs::write(file, DEPLOYMENT).unwrap();
        ok(d, vars, &["apply", "-f", file]).await;
        std::fs::write(file, &trimmed).unwrap();
        let out = ok(d, vars, &["apply", "-f", file, "-v=6"]).await;
        assert!(
            out.contains("deployment.apps/web configured"),
            "{mode}: {out}"
        );
        assert!(!out.contains("warning"), "{mode}: {out}");
        assert_eq!(out.contains("/openapi/v2"), mode == "v2", "{mode}: {out}");
        let got: Value =
            serde_json::from_str(&ok(d, V3, &["get", "deployment", "web", "-o", "json"]).await)
                .unwrap();
        let containers = &got["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            containers.as_array().unwrap().len(),
            1,
            "{mode}: {containers}"
        );
        assert_eq!(
            containers[0]["env"],
            json!([{ "name": "A", "value": "1" }]),
            "{mode}"
        );
        assert_eq!(
            containers[0]["ports"],
            json!([{ "containerPort": 80, "protocol": "TCP" }]),
            "{mode}"
        );
        ok(d, V3, &["delete", "deployment", "web"]).await;
    }
}

/// `kubectl explain --output=plaintext-openapiv2` reads the protobuf v2 document: built-in
/// schemas, and a CRD's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_plaintext_openapiv2() {
    if !kubectl_available() {
        return;
    }
    let (_env, dir) = serve().await;
    let d = dir.path();
    let v2 = ["--output=plaintext-openapiv2"];
    let cm = ok(d, V3, &[&["explain", "configmap"][..], &v2].concat()).await;
    assert!(cm.contains("KIND:     ConfigMap"), "{cm}");
    assert!(cm.contains("data\t<map[string]string>"), "{cm}");
    assert!(cm.contains("ConfigMap holds configuration data"), "{cm}");
    let containers = ok(
        d,
        V3,
        &[
            &["explain", "deployment.spec.template.spec.containers.env"][..],
            &v2,
        ]
        .concat(),
    )
    .await;
    assert!(
        containers.contains("RESOURCE: env <[]Object>"),
        "{containers}"
    );
    let widget = ok(d, V3, &[&["explain", "widget.spec"][..], &v2].concat()).await;
    assert!(widget.contains("VERSION:  shop.example.com/v1"), "{widget}");
    assert!(widget.contains("What the widget looks like."), "{widget}");
    assert!(widget.contains("color\t<string>"), "{widget}");
    assert!(widget.contains("The widget's paint."), "{widget}");
    assert!(widget.contains("parts\t<[]string>"), "{widget}");
    let root = ok(d, V3, &[&["explain", "widget"][..], &v2].concat()).await;
    assert!(root.contains("A Widget is sold in the shop."), "{root}");
    assert!(root.contains("metadata\t<Object>"), "{root}");
}
