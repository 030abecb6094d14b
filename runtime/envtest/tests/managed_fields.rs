//! Field ownership per list item (`metadata.managedFields`, FieldsV1) and server-side apply of
//! `map`/`set` lists, as kube-apiserver records them with structured-merge-diff.
//!
//! The expected FieldsV1 below follow upstream's rules (kubernetes-sigs/structured-merge-diff):
//! `fieldpath/serialize.go` writes `f:<field>`, `k:<key fields as JSON, sorted by name>`,
//! `v:<value>` and the `.` marker for a path owned itself that also has owned children;
//! `typed/tofieldset.go` gives an apply's set (scalars, list items, map entries; no struct
//! fields); `typed/compare.go` gives an update's (every added or changed path, objects and
//! lists included), compared with the Go zero value on create (where `spec` and `status`
//! exist, and `containers` is `null`). The field manager strips `metadata` itself and its
//! server-owned fields (`managedfields/internal/stripmeta.go`), and a Pod's main resource does
//! not own `status` (its status subresource resets it).

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kubesmith_envtest::Environment;
use serde_json::{Value, json};

/// `(manager, operation, subresource) -> fieldsV1` of an object's managedFields.
fn fields(obj: &impl serde::Serialize) -> Vec<(String, String, String, Value)> {
    let v = serde_json::to_value(obj).unwrap();
    v["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or_default().to_string(),
                e["operation"].as_str().unwrap_or_default().to_string(),
                e["subresource"].as_str().unwrap_or_default().to_string(),
                e["fieldsV1"].clone(),
            )
        })
        .collect()
}

fn fields_of(obj: &impl serde::Serialize, manager: &str) -> Value {
    fields(obj)
        .into_iter()
        .find(|(m, ..)| m == manager)
        .map(|(.., f)| f)
        .unwrap_or_else(|| panic!("no managedFields entry for {manager}"))
}

#[tokio::test]
async fn pod_create_and_status_update_record_ownership_per_item() {
    let env = Environment::start().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(env.client(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "p", "labels": { "app": "web" } },
        "spec": { "containers": [{
            "name": "app", "image": "nginx:1",
            "ports": [{ "containerPort": 80 }],
            "env": [{ "name": "X", "value": "1" }],
        }] }
    }))
    .unwrap();
    let created = pods
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..Default::default()
            },
            &pod,
        )
        .await
        .unwrap();
    // As kube-apiserver writes for a Pod created by `kubectl run` (which also owns what
    // defaulting added): the labels map and each list item carry `.`; `spec` and
    // `containers` exist in the zero Pod and do not; `ports` and `env` were added and do.
    assert_eq!(
        fields(&created),
        [(
            "creator".to_string(),
            "Update".to_string(),
            String::new(),
            json!({
                "f:metadata": { "f:labels": { ".": {}, "f:app": {} } },
                "f:spec": {
                    "f:containers": { "k:{\"name\":\"app\"}": {
                        ".": {},
                        "f:env": { ".": {}, "k:{\"name\":\"X\"}": { ".": {}, "f:name": {}, "f:value": {} } },
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:ports": { ".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:containerPort": {}, "f:protocol": {} } },
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                    } },
                    "f:dnsPolicy": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {},
                }
            })
        )]
    );
    let updated = pods
        .patch_status(
            "p",
            &PatchParams {
                field_manager: Some("kubelet".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({ "status": {
                "phase": "Running",
                "podIP": "10.0.0.1",
                "conditions": [{ "type": "Ready", "status": "True" }],
            } })),
        )
        .await
        .unwrap();
    // The status writer owns what it set, under `subresource: status`; the creator keeps
    // its fields.
    let entries = fields(&updated);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0].3, fields_of(&created, "creator"));
    assert_eq!(
        (&entries[1].0[..], &entries[1].1[..], &entries[1].2[..]),
        ("kubelet", "Update", "status")
    );
    assert_eq!(
        entries[1].3,
        json!({ "f:status": {
            "f:conditions": { ".": {}, "k:{\"type\":\"Ready\"}": { ".": {}, "f:status": {}, "f:type": {} } },
            "f:phase": {},
            "f:podIP": {},
        } })
    );
}

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" },
        "spec": {
            "selector": { "matchLabels": { "app": "web" } },
            "template": { "metadata": { "labels": { "app": "web" } }, "spec": { "containers": containers } },
        }
    })
}

/// A partial Deployment that only names containers, as a second applier sends it.
fn containers_only(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" },
        "spec": { "template": { "spec": { "containers": containers } } }
    })
}

fn container_names(d: &Deployment) -> Vec<String> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn two_appliers_own_one_container_each() {
    let env = Environment::start().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(env.client(), "default");
    let apply = |manager: &str, body: Value| {
        let deployments = deployments.clone();
        let params = PatchParams::apply(manager);
        async move { deployments.patch("web", &params, &Patch::Apply(body)).await }
    };
    apply(
        "alice",
        deployment(json!([{ "name": "a", "image": "a:1" }])),
    )
    .await
    .unwrap();
    let both = apply(
        "bob",
        containers_only(json!([{ "name": "b", "image": "b:1" }])),
    )
    .await
    .unwrap();
    assert_eq!(container_names(&both), ["a", "b"]);
    // An apply owns what it sent: list items (with `.`), their fields, label entries and the
    // atomic selector; not the structs around them.
    assert_eq!(
        fields_of(&both, "alice"),
        json!({ "f:spec": {
            "f:selector": {},
            "f:template": {
                "f:metadata": { "f:labels": { "f:app": {} } },
                "f:spec": { "f:containers": { "k:{\"name\":\"a\"}": { ".": {}, "f:image": {}, "f:name": {} } } },
            },
        } })
    );
    assert_eq!(
        fields_of(&both, "bob"),
        json!({ "f:spec": { "f:template": { "f:spec": { "f:containers": {
            "k:{\"name\":\"b\"}": { ".": {}, "f:image": {}, "f:name": {} } } } } } })
    );

    // A different value for a field inside alice's item conflicts on that field alone.
    let err = api_error(
        apply(
            "bob",
            containers_only(
                json!([{ "name": "b", "image": "b:1" }, { "name": "a", "image": "a:9" }]),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"alice\" using apps/v1: .spec.template.spec.containers[name=\"a\"].image"
    );
    // The same value is shared ownership. Items both lists have take the applied order (SMD
    // merge): "b" now comes before "a".
    let shared = apply(
        "bob",
        containers_only(json!([{ "name": "b", "image": "b:1" }, { "name": "a", "image": "a:1" }])),
    )
    .await
    .unwrap();
    assert_eq!(container_names(&shared), ["b", "a"]);

    // alice stops applying "a": bob still owns it, so it stays.
    let kept = apply(
        "alice",
        deployment(json!([{ "name": "c", "image": "c:1" }])),
    )
    .await
    .unwrap();
    assert_eq!(container_names(&kept), ["b", "a", "c"]);
    assert_eq!(
        fields_of(&kept, "alice")["f:spec"]["f:template"]["f:spec"],
        json!({ "f:containers": { "k:{\"name\":\"c\"}": { ".": {}, "f:image": {}, "f:name": {} } } })
    );
    // bob stops applying it too: its last owner let go, so it is removed; the others stay.
    let removed = apply(
        "bob",
        containers_only(json!([{ "name": "b", "image": "b:1" }])),
    )
    .await
    .unwrap();
    assert_eq!(container_names(&removed), ["b", "c"]);
    env.stop().await;
}

fn keyed_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": { "plural": "widgets", "kind": "Widget" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "properties": { "spec": {
                    "type": "object",
                    "properties": {
                        "items": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": { "type": "object", "required": ["name"], "properties": {
                                "name": { "type": "string" }, "value": { "type": "string" } } }
                        },
                        "tags": { "type": "array", "x-kubernetes-list-type": "set", "items": { "type": "string" } },
                        "atomic": { "type": "array", "items": { "type": "string" } }
                    }
                } } } }
            }]
        }
    }))
    .expect("valid CRD")
}

fn widget(spec: Value) -> Value {
    json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" }, "spec": spec })
}

#[tokio::test]
async fn custom_resource_map_and_set_lists_are_owned_per_item() {
    let env = Environment::builder()
        .crds([keyed_crd()])
        .start()
        .await
        .unwrap();
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        env.client(),
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Widget"),
            "widgets",
        ),
    );
    let apply = |manager: &str, spec: Value| {
        let widgets = widgets.clone();
        let params = PatchParams::apply(manager);
        async move {
            widgets
                .patch("w", &params, &Patch::Apply(widget(spec)))
                .await
        }
    };
    apply(
        "alice",
        json!({ "items": [{ "name": "x", "value": "1" }], "tags": ["a"], "atomic": ["p"] }),
    )
    .await
    .unwrap();
    let both = apply(
        "bob",
        json!({ "items": [{ "name": "y", "value": "2" }], "tags": ["b"] }),
    )
    .await
    .unwrap();
    assert_eq!(
        both.data["spec"],
        json!({ "items": [{ "name": "x", "value": "1" }, { "name": "y", "value": "2" }], "tags": ["a", "b"], "atomic": ["p"] })
    );
    // CRD structs are declared fields (no `.`); map items have `.`; set values are `v:`;
    // the list without a list type is atomic.
    assert_eq!(
        fields_of(&both, "alice"),
        json!({ "f:spec": {
            "f:atomic": {},
            "f:items": { "k:{\"name\":\"x\"}": { ".": {}, "f:name": {}, "f:value": {} } },
            "f:tags": { "v:\"a\"": {} },
        } })
    );
    assert_eq!(
        fields_of(&both, "bob"),
        json!({ "f:spec": {
            "f:items": { "k:{\"name\":\"y\"}": { ".": {}, "f:name": {}, "f:value": {} } },
            "f:tags": { "v:\"b\"": {} },
        } })
    );
    let err = api_error(
        apply("bob", json!({ "items": [{ "name": "x", "value": "9" }, { "name": "y", "value": "2" }], "tags": ["b"] }))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"alice\" using example.com/v1: .spec.items[name=\"x\"].value"
    );
    // The atomic list conflicts as a whole.
    let err = api_error(apply("bob", json!({ "atomic": ["q"] })).await.unwrap_err());
    assert!(err.message.ends_with(": .spec.atomic"), "{}", err.message);
    // alice stops applying her item and tag: she owned them alone, so they go.
    let after = apply("alice", json!({ "atomic": ["p"] })).await.unwrap();
    assert_eq!(
        after.data["spec"],
        json!({ "items": [{ "name": "y", "value": "2" }], "tags": ["b"], "atomic": ["p"] })
    );

    // A create (an Update operation) compares with an empty custom resource: `spec` and
    // the list it added carry `.` too, as on a cluster (`f:spec: {".": {}, ...}`).
    let created = widgets
        .create(
            &PostParams {
                field_manager: Some("maker".into()),
                ..Default::default()
            },
            &serde_json::from_value(json!({ "apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": { "name": "made" }, "spec": { "items": [{ "name": "x" }], "tags": ["t"] } }))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        fields_of(&created, "maker"),
        json!({ "f:spec": {
            ".": {},
            "f:items": { ".": {}, "k:{\"name\":\"x\"}": { ".": {}, "f:name": {} } },
            "f:tags": { ".": {}, "v:\"t\"": {} },
        } })
    );
    env.stop().await;
}
