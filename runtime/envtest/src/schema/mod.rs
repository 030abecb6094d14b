//! Custom resources against their CRD's `openAPIV3Schema`, as kube-apiserver's apiextensions
//! server treats them: the CRD's schema must be structural ([`check_crd`]); a request's object
//! is pruned of unknown fields and defaulted when it is decoded ([`decode`]), then validated
//! with kube-openapi's messages and the list-type rules ([`validate`]).
//!
//! Schemas are read straight from the CRD's JSON: every node is a `serde_json::Value` object,
//! so the checks see exactly what the client sent (after k8s-openapi decoding).

mod cel;
mod cel_library;
mod default;
mod embedded;
mod prune;
mod structural;
mod validate;

use serde_json::{Map, Value};

use crate::status::Cause;

pub(crate) use structural::check_crd;

/// What decoding an object against its schema did: the fields it dropped, as field paths
/// (`spec.foo`, `spec.items[0].bar`), for `fieldValidation`.
pub(crate) fn decode(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut pruned = prune::prune(obj, schema);
    pruned.sort();
    default::default(obj, schema);
    pruned
}

/// What reading a stored object does, as kube-apiserver's storage decoder: pruned and
/// defaulted against the schema of the version read, so that objects stored before a CRD
/// gained a default (or lost a field) read as a fresh write would store them.
pub(crate) fn on_read(obj: &mut Value, schema: &Value) {
    decode(obj, schema);
}

/// Every way `obj` breaks `schema` (value validations and list types; then, if those pass,
/// the CEL rules, with `old` for transition rules), as 422 causes.
///
/// On updates (`old` is the stored object) validation ratchets as kube-apiserver's does since
/// 1.30 (KEP-4008, CRDValidationRatcheting): a value unchanged from its correlated old value
/// (through object properties and `listType: map` keys) is not rejected for what was already
/// wrong with it — value validations and CEL rules without `oldSelf`; allOf/anyOf/oneOf/not,
/// list types, transition rules and metadata are always checked.
pub(crate) fn validate(obj: &Value, old: Option<&Value>, schema: &Value) -> Vec<Cause> {
    // The old object as the schema reads it now (pruned and defaulted), so that a field the
    // update did not touch compares equal even after the CRD gained a default.
    let old = old.map(|o| {
        let mut o = o.clone();
        decode(&mut o, schema);
        o
    });
    let old = old.as_ref();
    let mut causes = validate::validate(obj, old, schema);
    validate::list_types(obj, schema, "", &mut causes);
    embedded::validate(obj, schema, "", &mut causes);
    if causes.is_empty() {
        // As kube-apiserver: rules run on objects that fit the schema, so `self` has its types.
        causes = cel::validate(obj, old, schema);
    }
    causes
}

/// The schema node's properties, if any.
fn properties(s: &Value) -> Option<&Map<String, Value>> {
    s.get("properties").and_then(Value::as_object)
}

/// A boolean vendor extension (or keyword) that is set to `true`.
fn flag(s: &Value, key: &str) -> bool {
    s.get(key).and_then(Value::as_bool) == Some(true)
}

/// The schema of values of an object that are not in `properties`: `Some(None)` for
/// `additionalProperties: true` (anything, with nothing known inside), `None` when absent.
fn additional(s: &Value) -> Option<Option<&Value>> {
    match s.get("additionalProperties") {
        Some(Value::Object(_)) => Some(s.get("additionalProperties")),
        Some(Value::Bool(true)) => Some(None),
        _ => None,
    }
}

/// `field.Path` as kube-apiserver prints it: `spec.items[0].name`; the root is empty.
fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A value as Go's `%v`/`%q`/`%#v` renders it in a `field.Error` (strings quoted, numbers and
/// booleans plain, maps and slices in Go syntax), so messages read like kube-apiserver's.
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_value).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        Value::Object(m) => {
            // Go prints map keys sorted, as serde_json's (ordered) map iterates them.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_quote(k), go_value(&m[k])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", items.join(", "))
        }
    }
}

fn go_number(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (_, Some(u), _) => u.to_string(),
        (_, _, Some(f)) => go_float(f),
        _ => n.to_string(),
    }
}

/// Go's `%v` of a float64: the shortest representation, with no `.0` for whole numbers.
fn go_float(f: f64) -> String {
    format!("{f}")
}

/// Go's `%q`: a double-quoted string with Go escapes (which match JSON's for common text).
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The fields of `metav1.ObjectMeta`: what `metadata` of a custom resource (and of an embedded
/// resource) is pruned to, whatever the schema says.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_values_render_like_field_errors() {
        assert_eq!(go_value(&json!("a\"b")), r#""a\"b""#);
        assert_eq!(go_value(&json!(3)), "3");
        assert_eq!(go_value(&json!(1.5)), "1.5");
        assert_eq!(
            go_value(&json!({ "port": 80, "name": "a" })),
            r#"map[string]interface {}{"name":"a", "port":80}"#
        );
    }
}
