//! Test helpers: a namespace per test, `eventually`, marking Deployments ready, and fault
//! injection filtered by verb and resource, counted.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubesmith_envtest::{Environment, Error, Fault, InjectedFailure, eventually};
use serde_json::json;

/// A plain HTTP/1.1 GET, without kube's retries: the response head and body.
async fn raw_get(env: &Environment, path: &str) -> (String, String) {
    let addr = env
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (format!("{head}\r\n"), body.to_string())
    })
    .await
    .unwrap()
}

fn configmap(name: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm
}

#[tokio::test]
async fn namespaces_per_test_are_fresh_and_isolated() {
    let env = Environment::start().await.unwrap();
    let a = env.create_namespace().await.unwrap();
    let b = env.create_namespace().await.unwrap();
    assert_ne!(a, b);
    assert!(a.starts_with("test-") && b.starts_with("test-"));
    let in_a: Api<ConfigMap> = Api::namespaced(env.client(), &a);
    let in_b: Api<ConfigMap> = Api::namespaced(env.client(), &b);
    in_a.create(&PostParams::default(), &configmap("same"))
        .await
        .unwrap();
    in_b.create(&PostParams::default(), &configmap("same"))
        .await
        .unwrap();
    assert_eq!(in_a.list(&Default::default()).await.unwrap().items.len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn eventually_waits_for_what_another_task_does() {
    let env = Environment::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let writer = cms.clone();
    // Stands in for a controller that acts some time later.
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer
            .create(&PostParams::default(), &configmap("late"))
            .await
            .unwrap();
    });
    let found = eventually(Duration::from_secs(30), || {
        let cms = cms.clone();
        async move {
            cms.get_opt("late")
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "not created yet".to_string())
        }
    })
    .await
    .unwrap();
    assert_eq!(found.metadata.name.as_deref(), Some("late"));
    task.await.unwrap();

    // Out of time: the error carries the last failure.
    let err = eventually(Duration::from_millis(100), || {
        let cms = cms.clone();
        async move {
            cms.get_opt("never")
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "configmap never is missing".to_string())
        }
    })
    .await
    .unwrap_err();
    match err {
        Error::Eventually { attempts, last, .. } => {
            assert!(attempts >= 1);
            assert_eq!(last, "configmap never is missing");
        }
        other => panic!("expected Eventually, got {other:?}"),
    }
    env.stop().await;
}

#[tokio::test]
async fn deployments_are_marked_ready_through_status() {
    let env = Environment::start().await.unwrap();
    let ns = env.create_namespace().await.unwrap();
    let deploys: Api<Deployment> = Api::namespaced(env.client(), &ns);
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "web" } },
                  "template": { "metadata": { "labels": { "app": "web" } },
                                "spec": { "containers": [{ "name": "web", "image": "nginx" }] } } }
    }))
    .unwrap();
    deploys
        .create(&PostParams::default(), &deploy)
        .await
        .unwrap();
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 4 } })),
        )
        .await
        .unwrap();
    let ready = env.mark_deployment_ready(&ns, "web").await.unwrap();
    let status = ready.status.unwrap();
    assert_eq!(ready.metadata.generation, Some(2));
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (Some(4), Some(4), Some(4), Some(4))
    );
    let conditions: Vec<(String, String)> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    assert_eq!(
        conditions,
        [
            ("Available".to_string(), "True".to_string()),
            ("Progressing".to_string(), "True".to_string())
        ]
    );
    let err = env.mark_deployment_ready(&ns, "missing").await.unwrap_err();
    assert!(
        matches!(&err, Error::Request { action, .. } if action.contains("missing")),
        "{err:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn faults_hit_only_their_verb_and_resource_and_are_counted() {
    let env = Environment::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    env.inject(Fault::new(500).verb("create").resource("configmaps"));
    // Other verbs and resources are untouched.
    assert!(cms.get_opt("x").await.unwrap().is_none());
    let err = cms
        .create(&PostParams::default(), &configmap("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 500),
        "{err:?}"
    );
    // Spent after one use.
    cms.create(&PostParams::default(), &configmap("x"))
        .await
        .unwrap();
    let failures = env.injected_failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let first: &InjectedFailure = &failures[0];
    assert_eq!(
        (first.verb.as_str(), first.resource.as_str(), first.code),
        ("create", "configmaps", 500)
    );

    // 429 carries Retry-After, as kube-apiserver's priority and fairness does.
    env.inject(
        Fault::new(429)
            .verb("list")
            .resource("configmaps")
            .retry_after(7),
    );
    // Raw HTTP: kube's client would honour Retry-After and retry by itself.
    let (head, body) = raw_get(&env, "/api/v1/namespaces/default/configmaps").await;
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("\r\nretry-after: 7\r\n"),
        "{head}"
    );
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["details"]["retryAfterSeconds"], 7);

    // kube's client retries a 429 after its Retry-After and succeeds.
    env.inject(Fault::new(429).verb("get").resource("configmaps"));
    assert!(cms.get_opt("x").await.unwrap().is_some());

    // Subresources are named `plural/subresource`.
    env.inject(Fault::new(503).resource("configmaps/status").times(5));
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "a": "b" } })),
    )
    .await
    .unwrap();
    let failures = env.injected_failures();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert_eq!((failures[1].verb.as_str(), failures[1].code), ("list", 429));
    assert_eq!((failures[2].verb.as_str(), failures[2].code), ("get", 429));
    env.stop().await;
}
