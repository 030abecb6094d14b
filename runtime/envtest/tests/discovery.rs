//! Discovery as kube's `Discovery` sees it (legacy and aggregated), `/version`, health, OpenAPI
//! and the 404s for what is not served.

mod common;

use common::*;
use kube::discovery::{Discovery, Scope};
use kubesmith_envtest::Environment;

async fn get(env: &Environment, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut req = http::Request::get(path);
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let resp = env
        .client()
        .send(req.body(Vec::new()).unwrap().map(Into::into))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), usize::MAX)
        .await
        .unwrap();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn kube_discovery_legacy_and_aggregated() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    for discovery in [
        Discovery::new(env.client()).run().await.unwrap(),
        Discovery::new(env.client()).run_aggregated().await.unwrap(),
    ] {
        let group = discovery
            .get("stable.example.com")
            .expect("the CRD's group is discovered");
        let (ar, caps) = group
            .recommended_kind("CronTab")
            .expect("CronTab is served");
        assert_eq!(
            (ar.plural.as_str(), ar.version.as_str()),
            ("crontabs", "v1")
        );
        assert_eq!(caps.scope, Scope::Namespaced);
        assert!(
            caps.subresources
                .iter()
                .any(|(sub, _)| sub.plural == "crontabs/status" || sub.plural == "status")
        );
        let core = discovery.get("").expect("the core group");
        let (ns, caps) = core.recommended_kind("Namespace").expect("namespaces");
        assert_eq!(
            (ns.plural.as_str(), caps.scope.clone()),
            ("namespaces", Scope::Cluster)
        );
        assert!(discovery.get("coordination.k8s.io").is_some());
        let apps = discovery.get("apps").expect("workloads are served");
        let (deploy, caps) = apps.recommended_kind("Deployment").expect("deployments");
        assert_eq!(deploy.plural, "deployments");
        let mut subs: Vec<&str> = caps
            .subresources
            .iter()
            .map(|(sub, _)| sub.plural.rsplit('/').next().unwrap_or_default())
            .collect();
        subs.sort();
        assert_eq!(subs, ["scale", "status"]);
        assert!(discovery.get("rbac.authorization.k8s.io").is_some());
        assert!(
            discovery.get("autoscaling").is_none(),
            "no autoscalers are served"
        );
    }
    let info = env.client().apiserver_version().await.unwrap();
    assert_eq!(
        (info.major.as_str(), info.minor.as_str()),
        ("1", "33"),
        "the v1_33 feature selects 1.33"
    );
    assert_eq!(info.git_version, "v1.33.0");
    env.stop().await;
}

#[tokio::test]
async fn raw_endpoints() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    for probe in ["/healthz", "/readyz", "/livez"] {
        let (status, _, body) = get(&env, probe, None).await;
        assert_eq!((status, body.as_str()), (200, "ok"));
    }
    let aggregated =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let (status, ct, body) = get(&env, "/apis", Some(aggregated)).await;
    assert_eq!(status, 200);
    assert_eq!(
        ct,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert!(body.contains("\"singularResource\":\"crontab\""), "{body}");
    let (_, ct, body) = get(&env, "/apis", None).await;
    assert_eq!(ct, "application/json");
    assert!(body.contains("\"kind\":\"APIGroupList\""));

    let (status, _, root) = get(&env, "/openapi/v3", None).await;
    assert_eq!(status, 200);
    let root: serde_json::Value = serde_json::from_str(&root).unwrap();
    let url = root["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, doc) = get(&env, &url, None).await;
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let patch = &doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
        ["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "CronTab");
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    // The CRD's own schema is published (for `kubectl explain`), tagged with its kind.
    let schema = &doc["components"]["schemas"]["stable.example.com.v1.CronTab"];
    assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "CronTab"
    );

    for missing in [
        "/api/v1/replicationcontrollers",
        "/apis/autoscaling/v2/horizontalpodautoscalers",
        "/apis/apps/v1/namespaces/default/deployments/x/y/z",
        "/apis/stable.example.com/v1/crontabs/x",
        "/nothing",
    ] {
        let (status, _, body) = get(&env, missing, None).await;
        assert_eq!(status, 404, "{missing}");
        let st: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(st["kind"], "Status");
        assert_eq!(
            st["message"], "the server could not find the requested resource",
            "{missing}"
        );
    }
    env.stop().await;
}
