//! Built-in objects are checked against their k8s-openapi types, the way kube-apiserver
//! decodes them into Go structs: a body that does not fit is a 400, and fields the type does
//! not have are dropped (reported per `fieldValidation`: Strict fails, Warn warns, Ignore drops).

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as CoreEvent, Namespace, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FieldValidation {
    Strict,
    /// The server default.
    #[default]
    Warn,
    Ignore,
}

fn roundtrip<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// The object as its built-in type sees it, or `None` for kinds without a typed check.
pub(crate) fn decode(group: &str, kind: &str, obj: &Value) -> Option<Result<Value, String>> {
    Some(match (group, kind) {
        ("", "Namespace") => roundtrip::<Namespace>(obj),
        ("", "ConfigMap") => roundtrip::<ConfigMap>(obj),
        ("", "Secret") => roundtrip::<Secret>(obj),
        ("", "ServiceAccount") => roundtrip::<ServiceAccount>(obj),
        ("", "Service") => roundtrip::<Service>(obj),
        ("", "Event") => roundtrip::<CoreEvent>(obj),
        ("events.k8s.io", "Event") => roundtrip::<Event>(obj),
        ("coordination.k8s.io", "Lease") => roundtrip::<Lease>(obj),
        ("", "Pod") => roundtrip::<Pod>(obj),
        ("apps", "Deployment") => roundtrip::<Deployment>(obj),
        ("apps", "ReplicaSet") => roundtrip::<ReplicaSet>(obj),
        ("apps", "StatefulSet") => roundtrip::<StatefulSet>(obj),
        ("apps", "DaemonSet") => roundtrip::<DaemonSet>(obj),
        ("batch", "Job") => roundtrip::<Job>(obj),
        ("batch", "CronJob") => roundtrip::<CronJob>(obj),
        ("rbac.authorization.k8s.io", "Role") => roundtrip::<Role>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => roundtrip::<ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => roundtrip::<RoleBinding>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => roundtrip::<ClusterRoleBinding>(obj),
        ("networking.k8s.io", "NetworkPolicy") => roundtrip::<NetworkPolicy>(obj),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            roundtrip::<MutatingWebhookConfiguration>(obj)
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            roundtrip::<ValidatingWebhookConfiguration>(obj)
        }
        ("policy", "PodDisruptionBudget") => roundtrip::<PodDisruptionBudget>(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            roundtrip::<CustomResourceDefinition>(obj)
        }
        _ => return None,
    })
}

/// Paths (`spec.foo`) present with a value in `original` but absent from `decoded`.
pub(crate) fn unknown_fields(original: &Value, decoded: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(original, decoded, "", &mut out);
    out
}

fn is_empty_collection(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn walk(original: &Value, decoded: &Value, path: &str, out: &mut Vec<String>) {
    match (original, decoded) {
        (Value::Object(o), Value::Object(d)) => {
            for (k, v) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match d.get(k) {
                    Some(dv) => walk(v, dv, &p, out),
                    // An empty list or map the type omits when serializing (as Go's
                    // `omitempty` does) is a known field with no content, not an unknown one.
                    None if is_empty_collection(v) => {}
                    None if !v.is_null() => out.push(p),
                    None => {}
                }
            }
        }
        (Value::Array(o), Value::Array(d)) if o.len() == d.len() => {
            for (i, (ov, dv)) in o.iter().zip(d).enumerate() {
                walk(ov, dv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_found_and_dropped() {
        let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "a", "bogus": 1 }, "data": { "k": "v" }, "extra": { "x": 1 } });
        let decoded = decode("", "ConfigMap", &cm).unwrap().unwrap();
        assert_eq!(
            decoded,
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "a" }, "data": { "k": "v" } })
        );
        assert_eq!(unknown_fields(&cm, &decoded), ["extra", "metadata.bogus"]);
        assert!(
            decode("", "ConfigMap", &json!({ "data": { "k": 1 } }))
                .unwrap()
                .is_err()
        );
        assert!(decode("stable.example.com", "CronTab", &cm).is_none());
    }

    #[test]
    fn micro_time_round_trips_exactly() {
        let lease = json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": { "name": "l" },
            "spec": { "renewTime": "2024-01-01T00:00:00.123456Z", "leaseDurationSeconds": 15 } });
        assert_eq!(
            decode("coordination.k8s.io", "Lease", &lease)
                .unwrap()
                .unwrap(),
            lease
        );
    }
}
