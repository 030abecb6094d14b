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
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FieldValidation {
    Strict,
    /// The server default.
    #[default]
    Warn,
    Ignore,
}

/// Something done with a built-in kind's k8s-openapi type, chosen by (group, kind) in
/// [`with_type`], so that the list of typed kinds exists once.
trait TypeVisitor {
    type Out;
    fn visit<T: DeserializeOwned + Serialize + JsonSchema>(self) -> Self::Out;
}

/// Calls `v` with the k8s-openapi type of a built-in (group, kind); `None` for other kinds.
fn with_type<V: TypeVisitor>(group: &str, kind: &str, v: V) -> Option<V::Out> {
    Some(match (group, kind) {
        ("", "Namespace") => v.visit::<Namespace>(),
        ("", "ConfigMap") => v.visit::<ConfigMap>(),
        ("", "Secret") => v.visit::<Secret>(),
        ("", "ServiceAccount") => v.visit::<ServiceAccount>(),
        ("", "Service") => v.visit::<Service>(),
        ("", "Event") => v.visit::<CoreEvent>(),
        ("", "Pod") => v.visit::<Pod>(),
        ("events.k8s.io", "Event") => v.visit::<Event>(),
        ("coordination.k8s.io", "Lease") => v.visit::<Lease>(),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            v.visit::<CustomResourceDefinition>()
        }
        ("apps", "Deployment") => v.visit::<Deployment>(),
        ("apps", "ReplicaSet") => v.visit::<ReplicaSet>(),
        ("apps", "StatefulSet") => v.visit::<StatefulSet>(),
        ("apps", "DaemonSet") => v.visit::<DaemonSet>(),
        ("batch", "Job") => v.visit::<Job>(),
        ("batch", "CronJob") => v.visit::<CronJob>(),
        ("rbac.authorization.k8s.io", "Role") => v.visit::<Role>(),
        ("rbac.authorization.k8s.io", "ClusterRole") => v.visit::<ClusterRole>(),
        ("rbac.authorization.k8s.io", "RoleBinding") => v.visit::<RoleBinding>(),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => v.visit::<ClusterRoleBinding>(),
        ("networking.k8s.io", "NetworkPolicy") => v.visit::<NetworkPolicy>(),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            v.visit::<MutatingWebhookConfiguration>()
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            v.visit::<ValidatingWebhookConfiguration>()
        }
        ("policy", "PodDisruptionBudget") => v.visit::<PodDisruptionBudget>(),
        _ => return None,
    })
}

/// Decodes into the type and serializes back: what the type keeps of the object.
struct Roundtrip<'a>(&'a Value);

impl TypeVisitor for Roundtrip<'_> {
    type Out = Result<Value, String>;
    fn visit<T: DeserializeOwned + Serialize + JsonSchema>(self) -> Self::Out {
        let typed: T = serde_json::from_value(self.0.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(&typed).map_err(|e| e.to_string())
    }
}

/// The object as its built-in type sees it, or `None` for kinds without a typed check.
pub(crate) fn decode(group: &str, kind: &str, obj: &Value) -> Option<Result<Value, String>> {
    with_type(group, kind, Roundtrip(obj))
}

/// A built-in kind's OpenAPI v3 component schemas: the kind's own schema name
/// (`io.k8s.api.apps.v1.Deployment`, as kube-apiserver names them) and every schema it
/// references, with `#/components/schemas/...` references.
#[derive(Debug)]
pub(crate) struct TypeSchemas {
    pub name: String,
    pub schemas: Map<String, Value>,
}

struct Schemas;

impl TypeVisitor for Schemas {
    type Out = TypeSchemas;
    fn visit<T: DeserializeOwned + Serialize + JsonSchema>(self) -> Self::Out {
        let mut generator = SchemaSettings::openapi3().into_generator();
        // Registers T itself as a component, so it is referenced like every other schema.
        generator.subschema_for::<T>();
        TypeSchemas {
            name: T::schema_name().into_owned(),
            schemas: generator.take_definitions(true),
        }
    }
}

/// The OpenAPI schemas of a built-in kind (see [`TypeSchemas`]), generated once per kind.
pub(crate) fn schemas(group: &str, kind: &str) -> Option<Arc<TypeSchemas>> {
    /// (group, kind) to its generated schemas.
    type Cache = HashMap<(String, String), Arc<TypeSchemas>>;
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);
    let key = (group.to_string(), kind.to_string());
    if let Some(found) = CACHE.lock().ok()?.get(&key) {
        return Some(found.clone());
    }
    let built = Arc::new(with_type(group, kind, Schemas)?);
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(key, built.clone());
    }
    Some(built)
}

/// Paths (`spec.foo`) present with a value in `original` but absent from `decoded`.
pub(crate) fn unknown_fields(original: &Value, decoded: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(original, decoded, "", &mut out);
    out
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
