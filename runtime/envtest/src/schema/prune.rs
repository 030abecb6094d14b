//! Pruning: fields the schema does not specify are dropped, as apiextensions' `pruning`
//! package does on every decode, except under `x-kubernetes-preserve-unknown-fields`. At the
//! root and in `x-kubernetes-embedded-resource` objects, `apiVersion` and `kind` stay and
//! `metadata` is pruned to ObjectMeta's fields.

use serde_json::{Map, Value};

use super::{OBJECT_META_FIELDS, additional, child, flag, index, properties};

/// Prunes `obj` (a whole custom resource) and returns the paths of what was dropped.
pub(super) fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Value::Object(m) = obj {
        prune_meta(m, "", &mut pruned);
        if flag(schema, "x-kubernetes-preserve-unknown-fields") {
            // Unknown top-level fields stay; `metadata` is ObjectMeta's whatever the schema.
            let meta = m.remove("metadata");
            skip_prune(obj, schema, "", &mut pruned);
            if let (Some(meta), Value::Object(m)) = (meta, obj) {
                m.insert("metadata".into(), meta);
            }
        } else {
            prune_object(m, Some(schema), "", true, &mut pruned);
        }
    }
    pruned
}

/// `metadata` keeps ObjectMeta's fields only (the coercion kube-apiserver does on decode).
fn prune_meta(m: &mut Map<String, Value>, path: &str, pruned: &mut Vec<String>) {
    let Some(Value::Object(meta)) = m.get_mut("metadata") else {
        return;
    };
    let meta_path = child(path, "metadata");
    meta.retain(|k, _| {
        let keep = OBJECT_META_FIELDS.contains(&k.as_str());
        if !keep {
            pruned.push(child(&meta_path, k));
        }
        keep
    });
}

fn prune_value(v: &mut Value, s: Option<&Value>, path: &str, pruned: &mut Vec<String>) {
    if let Some(s) = s
        && flag(s, "x-kubernetes-preserve-unknown-fields")
    {
        skip_prune(v, s, path, pruned);
        return;
    }
    match v {
        Value::Object(m) => {
            let embedded = s.is_some_and(|s| flag(s, "x-kubernetes-embedded-resource"));
            if embedded {
                prune_meta(m, path, pruned);
            }
            prune_object(m, s, path, embedded, pruned);
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.get("items"));
            for (i, item) in items.iter_mut().enumerate() {
                prune_value(item, item_schema, &index(path, i), pruned);
            }
        }
        _ => {}
    }
}

/// The fields of an object node; `keeps_type_meta` for the root and embedded resources.
fn prune_object(
    m: &mut Map<String, Value>,
    s: Option<&Value>,
    path: &str,
    keeps_type_meta: bool,
    pruned: &mut Vec<String>,
) {
    let props = s.and_then(properties);
    let extra = s.and_then(additional);
    let mut dropped = Vec::new();
    for (k, v) in m.iter_mut() {
        if keeps_type_meta && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let key_path = child(path, k);
        if let Some(prop) = props.and_then(|p| p.get(k)) {
            prune_value(v, Some(prop), &key_path, pruned);
        } else if let Some(extra) = extra {
            prune_value(v, extra, &key_path, pruned);
        } else {
            dropped.push(k.clone());
        }
    }
    for k in dropped {
        m.remove(&k);
        pruned.push(child(path, &k));
    }
}

/// Under `x-kubernetes-preserve-unknown-fields` unknown fields stay, but the specified ones
/// are still pruned inside.
fn skip_prune(v: &mut Value, s: &Value, path: &str, pruned: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let embedded = flag(s, "x-kubernetes-embedded-resource");
            if embedded {
                prune_meta(m, path, pruned);
            }
            let props = properties(s);
            let extra = additional(s);
            for (k, v) in m.iter_mut() {
                if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let key_path = child(path, k);
                if let Some(prop) = props.and_then(|p| p.get(k)) {
                    prune_value(v, Some(prop), &key_path, pruned);
                } else if let Some(extra) = extra {
                    prune_value(v, extra, &key_path, pruned);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    skip_prune(item, item_schema, &index(path, i), pruned);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({ "type": "object", "properties": {
            "spec": { "type": "object", "properties": {
                "size": { "type": "integer" },
                "items": { "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string" } } } },
                "labels": { "type": "object", "additionalProperties": { "type": "string" } },
                "free": { "type": "object", "x-kubernetes-preserve-unknown-fields": true,
                          "properties": { "known": { "type": "object", "properties": { "a": { "type": "string" } } } } },
                "template": { "type": "object", "x-kubernetes-embedded-resource": true,
                              "properties": { "spec": { "type": "object", "properties": { "x": { "type": "string" } } } } }
            } }
        } })
    }

    #[test]
    fn unknown_fields_are_pruned_with_their_paths() {
        let mut obj = json!({ "apiVersion": "a/v1", "kind": "K", "metadata": { "name": "n", "bogus": 1 },
            "spec": { "size": 1, "foo": 2, "items": [{ "name": "a", "extra": true }], "labels": { "x": "y" } },
            "status": { "phase": "x" } });
        let mut pruned = prune(&mut obj, &schema());
        pruned.sort();
        assert_eq!(
            pruned,
            [
                "metadata.bogus",
                "spec.foo",
                "spec.items[0].extra",
                "status"
            ]
        );
        assert_eq!(
            obj,
            json!({ "apiVersion": "a/v1", "kind": "K", "metadata": { "name": "n" },
                "spec": { "size": 1, "items": [{ "name": "a" }], "labels": { "x": "y" } } })
        );
    }

    #[test]
    fn preserve_unknown_fields_keeps_unknown_but_prunes_known_subtrees() {
        let mut obj = json!({ "spec": { "free": { "anything": { "deep": 1 }, "known": { "a": "x", "b": "y" } } } });
        assert_eq!(prune(&mut obj, &schema()), ["spec.free.known.b"]);
        assert_eq!(
            obj,
            json!({ "spec": { "free": { "anything": { "deep": 1 }, "known": { "a": "x" } } } })
        );
    }

    #[test]
    fn a_root_that_preserves_unknown_fields_keeps_them() {
        let schema = json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": { "spec": { "type": "object", "properties": { "a": { "type": "string" } } } } });
        let mut obj = json!({ "apiVersion": "a/v1", "kind": "K", "metadata": { "name": "n", "junk": 1 },
            "spec": { "a": "x", "b": "y" }, "other": { "deep": 1 } });
        let mut pruned = prune(&mut obj, &schema);
        pruned.sort();
        assert_eq!(pruned, ["metadata.junk", "spec.b"]);
        assert_eq!(
            obj,
            json!({ "apiVersion": "a/v1", "kind": "K", "metadata": { "name": "n" },
                "spec": { "a": "x" }, "other": { "deep": 1 } })
        );
    }

    #[test]
    fn embedded_resources_keep_type_meta_and_prune_metadata_to_object_meta() {
        let mut obj = json!({ "spec": { "template": { "apiVersion": "v1", "kind": "Pod",
            "metadata": { "labels": { "a": "b" }, "junk": 1 }, "spec": { "x": "1", "y": "2" }, "other": 1 } } });
        let mut pruned = prune(&mut obj, &schema());
        pruned.sort();
        assert_eq!(
            pruned,
            [
                "spec.template.metadata.junk",
                "spec.template.other",
                "spec.template.spec.y"
            ]
        );
        assert_eq!(
            obj["spec"]["template"],
            json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "labels": { "a": "b" } }, "spec": { "x": "1" } })
        );
    }
}
