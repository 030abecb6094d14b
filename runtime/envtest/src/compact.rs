//! The form the store keeps objects in. A `serde_json::Value` tree spends a B-tree node
//! (about 630 bytes) on every object map however few keys it has, and a Pod's managedFields
//! are hundreds of one- and two-key maps: a 10 KB Pod took 107 KB as a `Value`, which kept
//! a 100k-Pod server out of 24 GiB. Maps here are exact-sized sorted slices, and every
//! string is exactly as long as its text.

use serde_json::{Map, Number, Value};

use crate::store::ObjectKey;

/// A JSON value stored in as little memory as it can take. Read by turning it back into a
/// [`Value`] ([`Compact::to_value`]), or through the few accessors the store's own
/// bookkeeping needs without a copy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Compact {
    Null,
    Bool(bool),
    Number(Number),
    String(Box<str>),
    Array(Box<[Compact]>),
    /// Sorted by key, as a `serde_json::Map` (a `BTreeMap`) iterates.
    Object(Box<[(Box<str>, Compact)]>),
}

impl Compact {
    pub fn new(v: &Value) -> Self {
        match v {
            Value::Null => Compact::Null,
            Value::Bool(b) => Compact::Bool(*b),
            Value::Number(n) => Compact::Number(n.clone()),
            Value::String(s) => Compact::String(s.as_str().into()),
            Value::Array(a) => Compact::Array(a.iter().map(Compact::new).collect()),
            Value::Object(m) => Compact::Object(
                m.iter()
                    .map(|(k, v)| (k.as_str().into(), Compact::new(v)))
                    .collect(),
            ),
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Compact::Null => Value::Null,
            Compact::Bool(b) => Value::Bool(*b),
            Compact::Number(n) => Value::Number(n.clone()),
            Compact::String(s) => Value::String(s.to_string()),
            Compact::Array(a) => Value::Array(a.iter().map(Compact::to_value).collect()),
            Compact::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Compact> {
        match self {
            Compact::Object(m) => m
                .binary_search_by(|(k, _)| (**k).cmp(key))
                .ok()
                .map(|i| &m[i].1),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Compact::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Compact]> {
        match self {
            Compact::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A string field of `metadata` ("" when absent), as [`crate::store::meta_str`].
    pub fn meta_str(&self, field: &str) -> &str {
        self.get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Compact::as_str)
            .unwrap_or_default()
    }

    /// `metadata.ownerReferences` (empty when absent), as [`crate::store::owner_refs`].
    pub fn owner_refs(&self) -> &[Compact] {
        self.get("metadata")
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Compact::as_array)
            .unwrap_or_default()
    }

    /// Whether `metadata.deletionTimestamp` is set.
    pub fn is_deleting(&self) -> bool {
        self.get("metadata")
            .and_then(|m| m.get("deletionTimestamp"))
            .is_some_and(|t| *t != Compact::Null)
    }

    /// Whether `metadata.finalizers` holds `name`.
    pub fn has_finalizer(&self, name: &str) -> bool {
        self.get("metadata")
            .and_then(|m| m.get("finalizers"))
            .and_then(Compact::as_array)
            .is_some_and(|f| f.iter().any(|v| v.as_str() == Some(name)))
    }

    /// (namespace, name), as [`crate::store::object_key`].
    pub fn object_key(&self) -> ObjectKey {
        (
            self.meta_str("namespace").to_string(),
            self.meta_str("name").to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-0", "namespace": "ns", "uid": "u1",
                "deletionTimestamp": "2026-12-05T00:00:00Z",
                "finalizers": ["foregroundDeletion"],
                "ownerReferences": [{ "uid": "rs-1", "kind": "ReplicaSet" }],
                "managedFields": [{ "manager": "kubelet", "fieldsV1": { "f:status": { "f:phase": {} } } }],
            },
            "spec": { "containers": [{ "name": "app", "ports": [{ "containerPort": 8080 }] }],
                      "zed": null, "enableServiceLinks": true, "priority": -1, "ratio": 0.5 },
        })
    }

    #[test]
    fn a_value_comes_back_as_it_went_in() {
        let v = pod();
        assert_eq!(Compact::new(&v).to_value(), v);
        for scalar in [
            json!(null),
            json!(true),
            json!(u64::MAX),
            json!(-3),
            json!(1.5),
            json!(""),
        ] {
            assert_eq!(Compact::new(&scalar).to_value(), scalar);
        }
    }

    #[test]
    fn the_store_reads_metadata_without_a_copy() {
        let c = Compact::new(&pod());
        assert_eq!(c.object_key(), ("ns".to_string(), "web-0".to_string()));
        assert_eq!(c.meta_str("uid"), "u1");
        assert_eq!(c.meta_str("missing"), "");
        assert_eq!(c.owner_refs().len(), 1);
        assert!(c.is_deleting());
        assert!(c.has_finalizer("foregroundDeletion"));
        assert!(!c.has_finalizer("orphan"));
        assert_eq!(
            c.get("spec").and_then(|s| s.get("zed")),
            Some(&Compact::Null)
        );
        assert_eq!(c.get("nope"), None);

        let bare = Compact::new(&json!({ "metadata": { "deletionTimestamp": null } }));
        assert!(!bare.is_deleting());
        assert!(bare.owner_refs().is_empty());
        assert_eq!(bare.object_key(), (String::new(), String::new()));
    }
}
