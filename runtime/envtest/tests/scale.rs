//! The `/scale` subresource of a CRD that declares one, through kube and kubectl.

mod common;

use common::*;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubesmith_envtest::Environment;
use serde_json::json;

fn widget_crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": { "plural": "widgets", "kind": "Widget" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": { "status": {}, "scale": {
                    "specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size", "labelSelectorPath": ".status.selector" } },
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } }
            }]
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn scale_subresource() {
    let env = Environment::builder()
        .crds([widget_crd()])
        .start()
        .await
        .unwrap();
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<kube::core::DynamicObject> = Api::all_with(env.client(), &ar);
    let w: kube::core::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" }, "spec": { "size": 2 }
    }))
    .unwrap();
    api.create(&PostParams::default(), &w).await.unwrap();
    api.patch_status(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": { "size": 1, "selector": "app=w" } })),
    )
    .await
    .unwrap();

    let scale = api.get_scale("w").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    let status = scale.status.unwrap();
    assert_eq!(
        (status.replicas, status.selector.as_deref()),
        (1, Some("app=w"))
    );

    let scaled = api
        .patch_scale(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 5 } })),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(5));
    let obj = api.get("w").await.unwrap();
    assert_eq!(obj.data["spec"]["size"], 5);
    assert_eq!(obj.metadata.generation, Some(2), "scaling changes the spec");

    // A stale resourceVersion on the Scale conflicts like any update.
    let mut stale = api.get_scale("w").await.unwrap();
    stale.metadata.resource_version = Some("1".into());
    stale.spec.as_mut().unwrap().replicas = Some(7);
    let err = api_error(
        api.replace_scale("w", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);

    // A cluster-scoped kind is not served under a namespace.
    let namespaced: Api<kube::core::DynamicObject> =
        Api::namespaced_with(env.client(), "default", &ar);
    assert_eq!(api_error(namespaced.get("w").await.unwrap_err()).code, 404);
    env.stop().await;
}
