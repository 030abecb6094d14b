//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod kubectl;
pub mod webhook_server;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

/// Generous: the CI machine is slow and shared.
pub const WAIT: Duration = Duration::from_secs(60);

/// A namespaced `CronTab` CRD with a status subresource and a printer column.
pub fn crontab_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "crontabs.stable.example.com" },
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": { "plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"] },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": { "status": {} },
                "additionalPrinterColumns": [{ "name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec" }],
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } }
            }]
        }
    }))
    .expect("valid CRD")
}

pub fn crontab_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("stable.example.com", "v1", "CronTab"),
        "crontabs",
    )
}

pub fn crontabs(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, ns, &crontab_resource())
}

pub fn crontab(name: &str, spec: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": { "name": name },
        "spec": { "cronSpec": spec }
    }))
    .expect("valid object")
}

/// The API error inside a kube error, or a panic naming what came instead.
pub fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

pub fn generation(o: &DynamicObject) -> i64 {
    o.metadata.generation.expect("generation is set")
}

pub fn rv(o: &DynamicObject) -> String {
    o.metadata
        .resource_version
        .clone()
        .expect("resourceVersion is set")
}
