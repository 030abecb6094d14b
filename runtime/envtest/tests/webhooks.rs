//! Admission and conversion webhooks called by the embedded server, against a real HTTPS
//! webhook server (tests/common/webhook_server.rs).

mod common;

use std::time::Duration;

use common::webhook_server::{Reply, WebhookServer, allow, answer, deny, patch};
use common::{WAIT, api_error};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kubesmith_envtest::{Environment, WebhookEndpoint};
use serde_json::{Value, json};

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name }, "data": { "k": "v" } })).unwrap()
}

fn rule(ops: &[&str], resources: &[&str]) -> Value {
    json!({ "apiGroups": [""], "apiVersions": ["v1"], "operations": ops, "resources": resources })
}

/// A webhook entry calling `path` on `server`.
fn hook(server: &WebhookServer, name: &str, path: &str, rules: Value) -> Value {
    json!({
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": server.client_config(path),
        "rules": rules,
    })
}

async fn install(env: &Environment, kind: &str, name: &str, webhooks: Vec<Value>) {
    let plural = format!("{}s", kind.to_lowercase());
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind),
        &plural,
    );
    let api: Api<DynamicObject> = Api::all_with(env.client(), &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
        "metadata": { "name": name }, "webhooks": webhooks,
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .expect("webhook configuration created");
}

async fn mutating(env: &Environment, name: &str, webhooks: Vec<Value>) {
    install(env, "MutatingWebhookConfiguration", name, webhooks).await;
}

async fn validating(env: &Environment, name: &str, webhooks: Vec<Value>) {
    install(env, "ValidatingWebhookConfiguration", name, webhooks).await;
}

#[tokio::test]
async fn mutating_patch_is_applied_and_validating_webhooks_see_the_result() {
    let server = WebhookServer::start(|path, review| match path {
        "/mutate" => patch(
            review,
            json!([{ "op": "add", "path": "/metadata/labels", "value": { "defaulted": "yes" } }]),
        )
        .into(),
        _ => allow(review).into(),
    })
    .await;
    let env = Environment::start().await.unwrap();
    mutating(
        &env,
        "m",
        vec![hook(
            &server,
            "m.example.com",
            "/mutate",
            json!([rule(&["CREATE"], &["configmaps"])]),
        )],
    )
    .await;
    validating(
        &env,
        "v",
        vec![hook(
            &server,
            "v.example.com",
            "/validate",
            json!([rule(&["CREATE"], &["configmaps"])]),
        )],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let created = cms
        .create(&PostParams::default(), &configmap("mutated"))
        .await
        .unwrap();
    assert_eq!(created.metadata.labels.unwrap()["defaulted"], "yes");
    let read = cms.get("mutated").await.unwrap();
    assert_eq!(read.metadata.labels.as_ref().unwrap()["defaulted"], "yes");

    let mutate = server.calls("/mutate");
    assert_eq!(mutate.len(), 1);
    let req = &mutate[0]["request"];
    assert_eq!(mutate[0]["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(req["operation"], "CREATE");
    assert_eq!(
        req["kind"],
        json!({ "group": "", "version": "v1", "kind": "ConfigMap" })
    );
    assert_eq!(
        req["resource"],
        json!({ "group": "", "version": "v1", "resource": "configmaps" })
    );
    assert_eq!(req["requestKind"], req["kind"]);
    assert_eq!(req["name"], "mutated");
    assert_eq!(req["namespace"], "default");
    assert_eq!(req["dryRun"], false);
    assert_eq!(req["options"]["kind"], "CreateOptions");
    assert!(req["userInfo"]["username"].is_string());
    assert_eq!(req["object"]["data"]["k"], "v");
    assert!(req.get("oldObject").is_none(), "no oldObject on create");
    // The validating webhook sees the mutated object as it would be stored (uid and all).
    let validate = server.calls("/validate");
    assert_eq!(validate.len(), 1);
    let seen = &validate[0]["request"]["object"];
    assert_eq!(seen["metadata"]["labels"]["defaulted"], "yes");
    assert!(seen["metadata"]["uid"].is_string());
    assert!(validate[0]["request"]["uid"] != mutate[0]["request"]["uid"]);

    // Updates carry the old object.
    let mut changed = read.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    mutating(
        &env,
        "m2",
        vec![hook(
            &server,
            "m2.example.com",
            "/mutate-update",
            json!([rule(&["UPDATE"], &["configmaps"])]),
        )],
    )
    .await;
    cms.replace("mutated", &PostParams::default(), &changed)
        .await
        .unwrap();
    let update = server.calls("/mutate-update");
    assert_eq!(update.len(), 1);
    assert_eq!(update[0]["request"]["operation"], "UPDATE");
    assert_eq!(update[0]["request"]["oldObject"]["data"]["k"], "v");
    assert_eq!(update[0]["request"]["object"]["data"]["k"], "w");
    assert_eq!(update[0]["request"]["options"]["kind"], "UpdateOptions");
}

#[tokio::test]
async fn validating_denial_answers_with_the_webhooks_message_and_code() {
    let server = WebhookServer::start(|path, review| {
        let name = review["request"]["name"].as_str().unwrap_or_default().to_string();
        match (path, name.as_str()) {
            ("/validate", "forbidden") => deny(review, 403, "forbidden names are forbidden").into(),
            ("/validate", "nocode") => deny(review, 0, "").into(),
            ("/validate", "invalid") => answer(review, json!({ "allowed": false, "status": {
                "code": 422, "reason": "Invalid", "message": "spec.size: Invalid value: 9: too big",
                "details": { "causes": [{ "field": "spec.size", "message": "too big", "reason": "FieldValueInvalid" }] } } })).into(),
            _ => allow(review).into(),
        }
    })
    .await;
    let env = Environment::start().await.unwrap();
    validating(
        &env,
        "v",
        vec![hook(
            &server,
            "deny.example.com",
            "/validate",
            json!([rule(&["CREATE"], &["configmaps"])]),
        )],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");

    let e = api_error(
        cms.create(&PostParams::default(), &configmap("forbidden"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    assert_eq!(e.reason, "Forbidden");
    assert_eq!(
        e.message,
        "admission webhook \"deny.example.com\" denied the request: forbidden names are forbidden"
    );
    assert!(
        cms.get_opt("forbidden").await.unwrap().is_none(),
        "a denied object is not stored"
    );

    let e = api_error(
        cms.create(&PostParams::default(), &configmap("nocode"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e.code, 400,
        "a denial without a code of at least 400 is a 400"
    );
    assert_eq!(
        e.message,
        "admission webhook \"deny.example.com\" denied the request without explanation"
    );

    let e = api_error(
        cms.create(&PostParams::default(), &configmap("invalid"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert_eq!(e.reason, "Invalid");
    let causes = e.details.unwrap().causes;
    assert_eq!(causes[0].field, "spec.size");

    cms.create(&PostParams::default(), &configmap("fine"))
        .await
        .unwrap();
}

#[tokio::test]
async fn warnings_reach_the_client_as_warning_headers() {
    let server = WebhookServer::start(|_, review| {
        answer(
            review,
            json!({ "warnings": ["spec.size is deprecated", "a \"quoted\" word"] }),
        )
        .into()
    })
    .await;
    let env = Environment::start().await.unwrap();
    validating(
        &env,
        "v",
        vec![hook(
            &server,
            "warn.example.com",
            "/validate",
            json!([rule(&["CREATE"], &["configmaps"])]),
        )],
    )
    .await;
    let body = serde_json::to_vec(&json!({ "metadata": { "name": "warned" } })).unwrap();
    let request = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let response = env.client().send(request.map(Into::into)).await.unwrap();
    assert_eq!(response.status(), 201);
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        warnings,
        vec![
            "299 - \"spec.size is deprecated\"".to_string(),
            "299 - \"a \\\"quoted\\\" word\"".to_string()
        ]
    );
}

#[tokio::test]
async fn rules_and_selectors_that_do_not_match_are_not_called() {
    let server = WebhookServer::start(|_, review| allow(review).into()).await;
    let env = Environment::start().await.unwrap();
    let ns = env.create_namespace().await.unwrap();
    let mut object_selected = hook(
        &server,
        "objsel.example.com",
        "/objsel",
        json!([rule(&["*"], &["configmaps"])]),
    );
    object_selected["objectSelector"] = json!({ "matchLabels": { "team": "a" } });
    let mut ns_selected = hook(
        &server,
        "nssel.example.com",
        "/nssel",
        json!([rule(&["*"], &["configmaps"])]),
    );
    ns_selected["namespaceSelector"] =
        json!({ "matchExpressions": [{ "key": "env", "operator": "In", "values": ["prod"] }] });
    let cluster_scoped = {
        let mut r = rule(&["*"], &["*"]);
        r["scope"] = json!("Cluster");
        hook(&server, "cluster.example.com", "/cluster", json!([r]))
    };
    validating(&env, "v", vec![
        hook(&server, "secrets.example.com", "/secrets", json!([rule(&["*"], &["secrets"])])),
        hook(&server, "delete.example.com", "/delete", json!([rule(&["DELETE"], &["configmaps"])])),
        hook(&server, "status.example.com", "/status", json!([rule(&["*"], &["configmaps/status", "pods/*"])])),
        hook(&server, "apps.example.com", "/apps", json!([{ "apiGroups": ["apps"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"] }])),
        object_selected,
        ns_selected,
        cluster_scoped,
        hook(&server, "all.example.com", "/all", json!([rule(&["*"], &["*"])])),
    ]).await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), &ns);
    cms.create(&PostParams::default(), &configmap("plain"))
        .await
        .unwrap();
    for path in [
        "/secrets", "/delete", "/status", "/apps", "/objsel", "/nssel", "/cluster",
    ] {
        assert_eq!(server.calls(path).len(), 0, "{path} must not be called");
    }
    assert_eq!(server.calls("/all").len(), 1);

    // Now the selectors match: the object's labels, then the namespace's.
    let mut labelled = configmap("labelled");
    labelled.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
    cms.create(&PostParams::default(), &labelled).await.unwrap();
    assert_eq!(server.calls("/objsel").len(), 1);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client());
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "env": "prod" } } })),
        )
        .await
        .unwrap();
    assert_eq!(
        server.calls("/cluster").len(),
        1,
        "a namespace is cluster-scoped"
    );
    cms.create(&PostParams::default(), &configmap("in-prod"))
        .await
        .unwrap();
    assert_eq!(server.calls("/nssel").len(), 1);
    // Deleting a labelled object matches through its old object.
    cms.delete("labelled", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(server.calls("/objsel").len(), 2);
    assert_eq!(server.calls("/delete").len(), 1);
    assert_eq!(server.calls("/secrets").len(), 0);
}

async fn failure_policy_case(client_config: Value, timeout: Option<u64>, expected: &str) {
    let env = Environment::start().await.unwrap();
    let make = |name: &str, policy: &str, resources: &str| {
        let mut h = json!({
            "name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": policy, "clientConfig": client_config,
            "rules": [rule(&["CREATE"], &[resources])],
        });
        if let Some(t) = timeout {
            h["timeoutSeconds"] = json!(t);
        }
        h
    };
    validating(
        &env,
        "v",
        vec![
            make("fail.example.com", "Fail", "configmaps"),
            make("ignore.example.com", "Ignore", "secrets"),
        ],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let e = api_error(
        cms.create(&PostParams::default(), &configmap("c"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 500, "{e:?}");
    assert_eq!(e.reason, "InternalError");
    assert!(
        e.message.starts_with("Internal error occurred: failed calling webhook \"fail.example.com\": failed to call webhook: Post \""),
        "{}",
        e.message
    );
    assert!(
        e.message.contains(expected),
        "{} should mention {expected}",
        e.message
    );
    assert!(cms.get_opt("c").await.unwrap().is_none());
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client(), "default");
    let mut s = k8s_openapi::api::core::v1::Secret::default();
    s.metadata.name = Some("s".into());
    secrets
        .create(&PostParams::default(), &s)
        .await
        .expect("failurePolicy Ignore admits");
}

#[tokio::test]
async fn failure_policy_with_an_unreachable_webhook() {
    // Port 1 on loopback: nothing listens there.
    failure_policy_case(
        json!({ "url": "https://127.0.0.1:1/validate" }),
        None,
        "Post \"https://127.0.0.1:1/validate?timeout=10s\": dial tcp 127.0.0.1:1: connect: connection refused",
    )
    .await;
    // A service reference nobody rewrote cannot be reached either.
    failure_policy_case(
        json!({ "service": { "name": "webhook-service", "namespace": "system", "path": "/validate" } }),
        None,
        "service \"webhook-service\" not found",
    )
    .await;
}

#[tokio::test]
async fn failure_policy_with_a_webhook_that_times_out() {
    let server = WebhookServer::start(|_, review| Reply {
        body: allow(review),
        delay: Duration::from_secs(4),
    })
    .await;
    failure_policy_case(
        server.client_config("/slow"),
        Some(1),
        "context deadline exceeded",
    )
    .await;
}

#[tokio::test]
async fn dry_run_needs_webhooks_without_side_effects() {
    let server = WebhookServer::start(|_, review| allow(review).into()).await;
    let env = Environment::start().await.unwrap();
    let mut unknown = hook(
        &server,
        "unknown.example.com",
        "/unknown",
        json!([rule(&["CREATE"], &["secrets"])]),
    );
    unknown["sideEffects"] = json!("Unknown");
    validating(
        &env,
        "v",
        vec![
            hook(
                &server,
                "none.example.com",
                "/none",
                json!([rule(&["CREATE"], &["configmaps"])]),
            ),
            unknown,
        ],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    cms.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &configmap("dry"),
    )
    .await
    .unwrap();
    let calls = server.calls("/none");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["request"]["dryRun"], true);
    assert!(
        cms.get_opt("dry").await.unwrap().is_none(),
        "a dry run stores nothing"
    );

    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client(), "default");
    let mut s = k8s_openapi::api::core::v1::Secret::default();
    s.metadata.name = Some("s".into());
    let e = api_error(
        secrets
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &s,
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        "admission webhook \"unknown.example.com\" does not support dry run"
    );
    assert!(server.calls("/unknown").is_empty());
    secrets
        .create(&PostParams::default(), &s)
        .await
        .expect("without dry run it is called");
    assert_eq!(server.calls("/unknown").len(), 1);
}

#[tokio::test]
async fn delete_admission_sees_the_old_object() {
    let server = WebhookServer::start(|_, review| {
        if review["request"]["oldObject"]["metadata"]["labels"]["protected"] == "true" {
            deny(review, 403, "protected objects stay").into()
        } else {
            allow(review).into()
        }
    })
    .await;
    let env = Environment::start().await.unwrap();
    validating(
        &env,
        "v",
        vec![hook(
            &server,
            "delete.example.com",
            "/delete",
            json!([rule(&["DELETE"], &["configmaps"])]),
        )],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let mut protected = configmap("protected");
    protected.metadata.labels = Some([("protected".to_string(), "true".to_string())].into());
    cms.create(&PostParams::default(), &protected)
        .await
        .unwrap();
    cms.create(&PostParams::default(), &configmap("free"))
        .await
        .unwrap();

    let e = api_error(
        cms.delete("protected", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    assert_eq!(
        e.message,
        "admission webhook \"delete.example.com\" denied the request: protected objects stay"
    );
    assert!(cms.get_opt("protected").await.unwrap().is_some());
    cms.delete("free", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("free").await.unwrap().is_none());

    // A collection delete admits each object: the unprotected go, the protected one refuses.
    cms.create(&PostParams::default(), &configmap("free-again"))
        .await
        .unwrap();
    let e = api_error(
        cms.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403, "{e:?}");
    assert!(cms.get_opt("free-again").await.unwrap().is_none());
    assert!(cms.get_opt("protected").await.unwrap().is_some());

    let calls = server.calls("/delete");
    assert_eq!(calls.len(), 4);
    let req = &calls[1]["request"];
    assert_eq!(req["operation"], "DELETE");
    assert_eq!(req["name"], "free");
    assert!(req.get("object").is_none(), "no object on delete");
    assert_eq!(req["oldObject"]["data"]["k"], "v");
    assert_eq!(req["options"]["kind"], "DeleteOptions");
}

#[tokio::test]
async fn mutating_webhooks_run_in_configuration_order_and_are_reinvoked_if_needed() {
    // Each appends its letter to the `order` annotation.
    let server = WebhookServer::start(|path, review| {
        let letter = path.trim_start_matches('/');
        let order = review["request"]["object"]["metadata"]["annotations"]["order"]
            .as_str()
            .unwrap_or_default();
        let value = if order.is_empty() {
            letter.to_string()
        } else {
            format!("{order},{letter}")
        };
        patch(
            review,
            json!([{ "op": "add", "path": "/metadata/annotations", "value": { "order": value } }]),
        )
        .into()
    })
    .await;
    let env = Environment::start().await.unwrap();
    let mut a = hook(
        &server,
        "a.example.com",
        "/a",
        json!([rule(&["CREATE"], &["configmaps"])]),
    );
    a["reinvocationPolicy"] = json!("IfNeeded");
    // Created in reverse order: the configuration name decides, not creation time.
    mutating(
        &env,
        "zz-second",
        vec![hook(
            &server,
            "c.example.com",
            "/c",
            json!([rule(&["CREATE"], &["configmaps"])]),
        )],
    )
    .await;
    mutating(
        &env,
        "aa-first",
        vec![
            a,
            hook(
                &server,
                "b.example.com",
                "/b",
                json!([rule(&["CREATE"], &["configmaps"])]),
            ),
        ],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let created = cms
        .create(&PostParams::default(), &configmap("ordered"))
        .await
        .unwrap();
    assert_eq!(created.metadata.annotations.unwrap()["order"], "a,b,c,a");
    assert_eq!(
        server.calls("/a").len(),
        2,
        "a is reinvoked once after b and c changed the object"
    );
    assert_eq!(server.calls("/b").len(), 1);
    assert_eq!(server.calls("/c").len(), 1);
}

#[tokio::test]
async fn status_subresource_writes_are_admitted_when_rules_name_the_subresource() {
    let server =
        WebhookServer::start(|_, review| deny(review, 403, "no status for you").into()).await;
    let env = Environment::builder()
        .crds([common::crontab_crd()])
        .start()
        .await
        .unwrap();
    validating(&env, "v", vec![{
        let mut h = hook(&server, "status.example.com", "/status", json!([]));
        h["rules"] = json!([{ "apiGroups": ["stable.example.com"], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["crontabs/status"] }]);
        h
    }]).await;
    let crontabs = common::crontabs(env.client(), "default");
    crontabs
        .create(&PostParams::default(), &common::crontab("ct", "* * * * *"))
        .await
        .unwrap();
    crontabs
        .patch(
            "ct",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "cronSpec": "0 * * * *" } })),
        )
        .await
        .expect("the main resource is not matched");
    let e = api_error(
        crontabs
            .patch_status(
                "ct",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "ok": true } })),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    let calls = server.calls("/status");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["request"]["subResource"], "status");
    assert_eq!(
        calls[0]["request"]["oldObject"]["spec"]["cronSpec"],
        "0 * * * *"
    );
}

#[tokio::test]
async fn install_webhooks_rewrites_service_references() {
    let server = WebhookServer::start(|path, review| match path {
        "/mutate--v1-configmap" => patch(
            review,
            json!([{ "op": "add", "path": "/data/defaulted", "value": "true" }]),
        )
        .into(),
        _ => allow(review).into(),
    })
    .await;
    let env = Environment::builder()
        .crds([widget_crd()])
        .start()
        .await
        .unwrap();
    let manifests = r#"
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mutating-webhook-configuration
webhooks:
- admissionReviewVersions: ["v1"]
  clientConfig:
    service:
      name: webhook-service
      namespace: system
      path: /mutate--v1-configmap
  failurePolicy: Fail
  name: mconfigmap-v1.kb.io
  rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["configmaps"]
  sideEffects: None
"#;
    let endpoint = WebhookEndpoint {
        url: server.url.clone(),
        ca_bundle: server.ca_pem.clone(),
    };
    env.install_webhooks(manifests, &endpoint).await.unwrap();
    // Installing again replaces instead of failing.
    env.install_webhooks(manifests, &endpoint).await.unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
        ),
        "mutatingwebhookconfigurations",
    );
    let stored = Api::<DynamicObject>::all_with(env.client(), &ar)
        .get("mutating-webhook-configuration")
        .await
        .unwrap();
    let cc = &stored.data["webhooks"][0]["clientConfig"];
    assert_eq!(cc["url"], format!("{}/mutate--v1-configmap", server.url));
    assert_eq!(cc["caBundle"], server.ca_bundle());
    assert!(cc.get("service").is_none());

    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let created = cms
        .create(&PostParams::default(), &configmap("via-install"))
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["defaulted"], "true");

    // A CRD installed before is pointed at the endpoint too.
    let crds: Api<CustomResourceDefinition> = Api::all(env.client());
    let crd = crds.get("widgets.conv.example.com").await.unwrap();
    let cc = crd
        .spec
        .conversion
        .unwrap()
        .webhook
        .unwrap()
        .client_config
        .unwrap();
    assert_eq!(
        cc.url.as_deref(),
        Some(format!("{}/convert", server.url).as_str())
    );
    assert!(cc.service.is_none());

    let bad = "apiVersion: admissionregistration.k8s.io/v1beta1\nkind: ValidatingWebhookConfiguration\nmetadata: { name: old }\n";
    let err = env.install_webhooks(bad, &endpoint).await.unwrap_err();
    assert!(
        matches!(
            err,
            kubesmith_envtest::Error::WebhookManifest { index: 1, .. }
        ),
        "{err}"
    );
}

// ---- conversion ----

/// Widget v1 keeps `spec.size`, v2 calls it `spec.replicas`; v1 is stored.
/// Its conversion webhook is a service reference: install_webhooks points it at the server.
fn widget_crd() -> CustomResourceDefinition {
    let version = |name: &str, storage: bool, field: &str| {
        json!({
            "name": name, "served": true, "storage": storage,
            "schema": { "openAPIV3Schema": { "type": "object", "properties": {
                "spec": { "type": "object", "properties": { field: { "type": "integer" } } } } } },
        })
    };
    serde_json::from_value(json!({
        "metadata": { "name": "widgets.conv.example.com" },
        "spec": {
            "group": "conv.example.com", "scope": "Namespaced",
            "names": { "plural": "widgets", "kind": "Widget" },
            "versions": [version("v1", true, "size"), version("v2", false, "replicas")],
            "conversion": { "strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": { "service": { "name": "webhook-service", "namespace": "system", "path": "/convert" } } } },
        }
    }))
    .unwrap()
}

/// The conversion webhook: renames the field, refuses size 13.
fn convert(review: &Value) -> Value {
    let request = &review["request"];
    let desired = request["desiredAPIVersion"].as_str().unwrap().to_string();
    let mut converted = Vec::new();
    for obj in request["objects"].as_array().unwrap() {
        let mut o = obj.clone();
        let spec = o["spec"].as_object_mut().unwrap();
        if spec.get("size") == Some(&json!(13)) || spec.get("replicas") == Some(&json!(13)) {
            return json!({ "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                "response": { "uid": request["uid"], "result": { "status": "Failure", "message": "13 is unlucky" } } });
        }
        if desired.ends_with("/v2") {
            if let Some(v) = spec.remove("size") {
                spec.insert("replicas".into(), v);
            }
        } else if let Some(v) = spec.remove("replicas") {
            spec.insert("size".into(), v);
        }
        o["apiVersion"] = json!(desired);
        converted.push(o);
    }
    json!({ "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "response": { "uid": request["uid"], "convertedObjects": converted, "result": { "status": "Success" } } })
}

fn widgets(env: &Environment, version: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("conv.example.com", version, "Widget"),
        "widgets",
    );
    Api::namespaced_with(env.client(), "default", &ar)
}

fn widget(version: &str, name: &str, field: &str, n: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": format!("conv.example.com/{version}"), "kind": "Widget",
        "metadata": { "name": name }, "spec": { field: n },
    }))
    .unwrap()
}

async fn conversion_env() -> (WebhookServer, Environment) {
    let server = WebhookServer::start(|path, review| match path {
        "/convert" => convert(review).into(),
        _ => allow(review).into(),
    })
    .await;
    let env = Environment::start().await.unwrap();
    let endpoint = WebhookEndpoint {
        url: server.url.clone(),
        ca_bundle: server.ca_pem.clone(),
    };
    env.install_webhooks("", &endpoint).await.unwrap();
    // Installed after install_webhooks: pointed at the endpoint on the way in.
    env.install_crds([widget_crd()]).await.unwrap();
    (server, env)
}

#[tokio::test]
async fn conversion_webhook_between_crd_versions() {
    let (server, env) = conversion_env().await;
    let (v1, v2) = (widgets(&env, "v1"), widgets(&env, "v2"));
    v1.create(&PostParams::default(), &widget("v1", "one", "size", 3))
        .await
        .unwrap();
    assert!(
        server.calls("/convert").is_empty(),
        "storage-version writes need no conversion"
    );

    let read = v2.get("one").await.unwrap();
    assert_eq!(
        read.types.as_ref().unwrap().api_version,
        "conv.example.com/v2"
    );
    assert_eq!(read.data["spec"], json!({ "replicas": 3 }));
    let review = &server.calls("/convert")[0];
    assert_eq!(review["apiVersion"], "apiextensions.k8s.io/v1");
    assert_eq!(
        review["request"]["desiredAPIVersion"],
        "conv.example.com/v2"
    );

    // Written at v2, stored at v1.
    v2.create(&PostParams::default(), &widget("v2", "two", "replicas", 5))
        .await
        .unwrap();
    assert_eq!(
        v1.get("two").await.unwrap().data["spec"],
        json!({ "size": 5 })
    );
    v2.patch(
        "two",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "replicas": 6 } })),
    )
    .await
    .unwrap();
    assert_eq!(
        v1.get("two").await.unwrap().data["spec"],
        json!({ "size": 6 })
    );

    let list = v2.list(&ListParams::default()).await.unwrap();
    let specs: Vec<Value> = list.items.iter().map(|o| o.data["spec"].clone()).collect();
    assert_eq!(
        specs,
        vec![json!({ "replicas": 3 }), json!({ "replicas": 6 })]
    );
    assert!(
        list.items
            .iter()
            .all(|o| o.types.as_ref().unwrap().api_version == "conv.example.com/v2")
    );

    let mut events = v2
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(WAIT, events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(o)) => seen.push(o.data["spec"].clone()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![json!({ "replicas": 3 }), json!({ "replicas": 6 })]
    );
    v1.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "size": 4 } })),
    )
    .await
    .unwrap();
    match tokio::time::timeout(WAIT, events.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Modified(o)) => assert_eq!(o.data["spec"], json!({ "replicas": 4 })),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_failing_conversion_is_a_500_with_upstreams_message() {
    let (_server, env) = conversion_env().await;
    let (v1, v2) = (widgets(&env, "v1"), widgets(&env, "v2"));
    v1.create(&PostParams::default(), &widget("v1", "unlucky", "size", 13))
        .await
        .unwrap();
    let e = api_error(v2.get("unlucky").await.unwrap_err());
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        "conversion webhook for conv.example.com/v1, Kind=Widget failed: 13 is unlucky"
    );
    let e = api_error(v2.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(e.code, 500);
    let e = api_error(
        v2.create(&PostParams::default(), &widget("v2", "new", "replicas", 13))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        "conversion webhook for conv.example.com/v2, Kind=Widget failed: 13 is unlucky"
    );
    assert!(v1.get_opt("new").await.unwrap().is_none());
}

// ---- kubectl ----

#[tokio::test]
async fn kubectl_shows_webhook_denials_and_warnings() {
    if !common::kubectl::available() {
        return;
    }
    let server = WebhookServer::start(|_, review| {
        if review["request"]["object"]["data"]["bad"].is_string() {
            deny(review, 403, "data.bad is not allowed")
        } else {
            answer(
                review,
                json!({ "warnings": ["configmaps are old-fashioned"] }),
            )
        }
        .into()
    })
    .await;
    let env = Environment::start().await.unwrap();
    validating(
        &env,
        "v",
        vec![hook(
            &server,
            "v.example.com",
            "/validate",
            json!([rule(&["CREATE", "UPDATE"], &["configmaps"])]),
        )],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    env.write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    let manifest = |data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  {data}: \"1\"\n"
        )
    };

    let (ok, out) = common::kubectl::run(
        dir.path(),
        &[],
        &["apply", "-f", "-"],
        Some(manifest("bad")),
    )
    .await;
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "admission webhook \"v.example.com\" denied the request: data.bad is not allowed"
        ),
        "{out}"
    );

    let (ok, out) = common::kubectl::run(
        dir.path(),
        &[],
        &["apply", "-f", "-"],
        Some(manifest("good")),
    )
    .await;
    assert!(ok, "{out}");
    assert!(
        out.contains("Warning: configmaps are old-fashioned"),
        "{out}"
    );
    assert!(out.contains("configmap/settings created"), "{out}");
}

#[tokio::test]
async fn kubectl_reads_an_object_in_another_version_than_it_was_written() {
    if !common::kubectl::available() {
        return;
    }
    let (_server, env) = conversion_env().await;
    let dir = tempfile::tempdir().unwrap();
    env.write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    let manifest = "apiVersion: conv.example.com/v2\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n  replicas: 7\n";
    let (ok, out) = common::kubectl::run(
        dir.path(),
        &[],
        &["apply", "-f", "-"],
        Some(manifest.into()),
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = common::kubectl::run(
        dir.path(),
        &[],
        &[
            "get",
            "widgets.v1.conv.example.com",
            "w",
            "-o",
            "jsonpath={.spec.size}",
        ],
        None,
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out, "7");
    let (ok, out) = common::kubectl::run(
        dir.path(),
        &[],
        &[
            "get",
            "widgets.v2.conv.example.com",
            "-o",
            "jsonpath={.items[0].spec.replicas}",
        ],
        None,
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out, "7");
}

#[tokio::test]
async fn a_webhook_conversion_needs_its_webhook() {
    let env = Environment::start().await.unwrap();
    let mut crd = serde_json::to_value(widget_crd()).unwrap();
    crd["spec"]["conversion"] = json!({ "strategy": "Webhook" });
    let crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(env.client());
    let e = api_error(api.create(&PostParams::default(), &crd).await.unwrap_err());
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains(
            "spec.conversion.webhook: Required value: required when strategy is set to Webhook"
        ),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn scale_subresource_writes_are_admitted_as_scales() {
    let server = WebhookServer::start(|path, review| match path {
        "/cap" if review["request"]["object"]["spec"]["replicas"].as_i64() > Some(5) => patch(
            review,
            json!([{ "op": "replace", "path": "/spec/replicas", "value": 5 }]),
        )
        .into(),
        _ => allow(review).into(),
    })
    .await;
    let env = Environment::start().await.unwrap();
    let scale_rule = json!([{ "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["deployments/scale"] }]);
    mutating(
        &env,
        "m",
        vec![hook(&server, "cap.example.com", "/cap", scale_rule.clone())],
    )
    .await;
    validating(
        &env,
        "v",
        vec![hook(&server, "see.example.com", "/see", scale_rule)],
    )
    .await;
    let deploy: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": { "replicas": 1, "selector": { "matchLabels": { "app": "web" } },
                  "template": { "metadata": { "labels": { "app": "web" } },
                                "spec": { "containers": [{ "name": "web", "image": "nginx" }] } } }
    }))
    .unwrap();
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.client(), "default");
    deployments
        .create(&PostParams::default(), &deploy)
        .await
        .unwrap();
    assert!(
        server.calls("/cap").is_empty(),
        "creating the Deployment is not a scale write"
    );
    let scale = deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 10 } })),
        )
        .await
        .unwrap();
    assert_eq!(
        scale.spec.unwrap().replicas,
        Some(5),
        "the mutating webhook capped the replicas"
    );
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(5)
    );
    let cap = server.calls("/cap");
    assert_eq!(cap.len(), 1);
    let req = &cap[0]["request"];
    assert_eq!(
        req["kind"],
        json!({ "group": "autoscaling", "version": "v1", "kind": "Scale" })
    );
    assert_eq!(
        req["resource"],
        json!({ "group": "apps", "version": "v1", "resource": "deployments" })
    );
    assert_eq!(req["subResource"], "scale");
    assert_eq!(req["object"]["spec"]["replicas"], 10);
    assert_eq!(req["oldObject"]["spec"]["replicas"], 1);
    let see = server.calls("/see");
    assert_eq!(see[0]["request"]["object"]["spec"]["replicas"], 5);
}

#[tokio::test]
async fn equivalent_match_policy_converts_to_the_webhooks_version() {
    let (server, env) = conversion_env().await;
    let rule = |versions: Value| json!([{ "apiGroups": ["conv.example.com"], "apiVersions": versions, "operations": ["CREATE"], "resources": ["widgets"] }]);
    let mut exact = hook(&server, "exact.example.com", "/exact", rule(json!(["v1"])));
    exact["matchPolicy"] = json!("Exact");
    validating(
        &env,
        "v",
        vec![
            hook(
                &server,
                "equivalent.example.com",
                "/equivalent",
                rule(json!(["v1"])),
            ),
            exact,
        ],
    )
    .await;
    widgets(&env, "v2")
        .create(&PostParams::default(), &widget("v2", "w", "replicas", 2))
        .await
        .unwrap();
    assert!(
        server.calls("/exact").is_empty(),
        "Exact does not match a v2 request"
    );
    let calls = server.calls("/equivalent");
    assert_eq!(calls.len(), 1);
    let req = &calls[0]["request"];
    assert_eq!(req["kind"]["version"], "v1");
    assert_eq!(req["requestKind"]["version"], "v2");
    assert_eq!(req["object"]["apiVersion"], "conv.example.com/v1");
    assert_eq!(req["object"]["spec"], json!({ "size": 2 }));
}

/// A plain blocking GET, as a webhook handler with its own client would make.
fn blocking_get(base: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn a_webhook_can_read_from_the_server_while_it_is_called() {
    let base: std::sync::Arc<std::sync::Mutex<String>> = Default::default();
    let seen = base.clone();
    let server = WebhookServer::start(move |_, review| {
        // Refuse a second ConfigMap with the same `owner` data, looking at the server's
        // current content: the request being admitted must not hold the server up.
        let url = seen.lock().unwrap().clone();
        let listing = blocking_get(&url, "/api/v1/namespaces/default/configmaps");
        let owner = review["request"]["object"]["data"]["owner"]
            .as_str()
            .unwrap_or_default();
        if listing.contains(&format!("\"owner\":\"{owner}\"")) {
            deny(
                review,
                409,
                &format!("owner {owner} already has a ConfigMap"),
            )
        } else {
            allow(review)
        }
        .into()
    })
    .await;
    let env = Environment::start().await.unwrap();
    *base.lock().unwrap() = env.url();
    validating(
        &env,
        "v",
        vec![hook(
            &server,
            "unique.example.com",
            "/unique",
            json!([rule(&["CREATE"], &["configmaps"])]),
        )],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let owned = |name: &str| -> ConfigMap {
        serde_json::from_value(json!({ "metadata": { "name": name }, "data": { "owner": "ann" } }))
            .unwrap()
    };
    tokio::time::timeout(WAIT, cms.create(&PostParams::default(), &owned("first")))
        .await
        .expect("no deadlock")
        .unwrap();
    let e = api_error(
        cms.create(&PostParams::default(), &owned("second"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "admission webhook \"unique.example.com\" denied the request: owner ann already has a ConfigMap"
    );
}

#[tokio::test]
async fn bad_webhook_answers_follow_the_failure_policy() {
    let server = WebhookServer::start(|path, review| match path {
        "/wrong-uid" => json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": { "uid": "not-the-request", "allowed": true } })
        .into(),
        "/patch-on-delete" => patch(
            review,
            json!([{ "op": "add", "path": "/metadata/labels", "value": {} }]),
        )
        .into(),
        "/v1beta1" => {
            let mut a = allow(review);
            a["apiVersion"] = json!("admission.k8s.io/v1beta1");
            a.into()
        }
        _ => allow(review).into(),
    })
    .await;
    let env = Environment::start().await.unwrap();
    let mut beta = hook(
        &server,
        "beta.example.com",
        "/v1beta1",
        json!([rule(&["CREATE"], &["secrets"])]),
    );
    beta["admissionReviewVersions"] = json!(["v1beta1"]);
    validating(
        &env,
        "v",
        vec![
            hook(
                &server,
                "uid.example.com",
                "/wrong-uid",
                json!([rule(&["CREATE"], &["configmaps"])]),
            ),
            beta,
        ],
    )
    .await;
    mutating(
        &env,
        "m",
        vec![hook(
            &server,
            "del.example.com",
            "/patch-on-delete",
            json!([rule(&["DELETE"], &["secrets"])]),
        )],
    )
    .await;

    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let e = api_error(
        cms.create(&PostParams::default(), &configmap("c"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 500);
    assert!(
        e.message.starts_with("Internal error occurred: failed calling webhook \"uid.example.com\": received invalid webhook response: expected response.uid="),
        "{}",
        e.message
    );

    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client(), "default");
    let mut s = k8s_openapi::api::core::v1::Secret::default();
    s.metadata.name = Some("s".into());
    secrets
        .create(&PostParams::default(), &s)
        .await
        .expect("a v1beta1-only webhook gets a v1beta1 review");
    assert_eq!(
        server.calls("/v1beta1")[0]["apiVersion"],
        "admission.k8s.io/v1beta1"
    );

    let e = api_error(
        secrets
            .delete("s", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 500);
    assert!(
        e.message.contains("admission webhook \"del.example.com\" attempted to modify the object, which is not supported for this operation"),
        "{}",
        e.message
    );
}
