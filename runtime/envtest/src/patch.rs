//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
//! for the built-in kinds (with their merge keys), and the merge step of server-side apply
//! (ownership and conflicts are in `managed.rs`).

use serde_json::{Map, Value};

use crate::shape::Node;
use crate::status::ApiError;

/// The patch types the server accepts, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

pub(crate) const ACCEPTED_CUSTOM: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";
pub(crate) const ACCEPTED_BUILTIN: &str = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml";

impl PatchType {
    pub fn from_content_type(ct: &str, custom: bool) -> Result<Self, ApiError> {
        // Parameters such as `;charset=utf-8` do not change the patch type.
        let base = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let accepted = if custom {
            ACCEPTED_CUSTOM
        } else {
            ACCEPTED_BUILTIN
        };
        let unsupported = || {
            ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ))
        };
        match base.as_str() {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" if !custom => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" => Ok(PatchType::Apply),
            _ => Err(unsupported()),
        }
    }
}

/// Applies a strategic merge patch. Maps merge recursively, `null` deletes, lists with a
/// `merge` patch strategy ([`crate::list_meta`]) merge by their patch merge key, all other
/// lists are replaced (as their Go types declare for the served kinds).
pub(crate) fn strategic_merge(
    doc: &mut Value,
    patch: &Value,
    node: Node<'_>,
) -> Result<(), String> {
    strategic_at(doc, patch, node)
}

fn strategic_at(doc: &mut Value, patch: &Value, node: Node<'_>) -> Result<(), String> {
    let Value::Object(patch_map) = patch else {
        *doc = patch.clone();
        return Ok(());
    };
    if let Some(directive) = patch_map.get("$patch") {
        match directive.as_str() {
            Some("replace") => {
                let mut replaced = patch_map.clone();
                replaced.remove("$patch");
                *doc = Value::Object(replaced);
                return Ok(());
            }
            Some("delete") => {
                *doc = Value::Null;
                return Ok(());
            }
            other => {
                return Err(format!(
                    "strategic merge patch directive $patch: {other:?} is not supported yet"
                ));
            }
        }
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Value::Object(doc_map) = doc else {
        return Ok(());
    };
    for (k, v) in patch_map {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            // Only about ordering; the merged list keeps the existing order plus appended items.
            let _ = field;
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove: Vec<Value> = v.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = doc_map.get_mut(field) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if k.starts_with('$') {
            return Err(format!(
                "strategic merge patch directive {k} is not supported yet"
            ));
        }
        let child = node.child(k).0;
        match v {
            Value::Null => {
                doc_map.remove(k);
            }
            Value::Object(_) => {
                let entry = doc_map.entry(k.clone()).or_insert(Value::Null);
                strategic_at(entry, v, child)?;
                if entry.is_null() {
                    doc_map.remove(k);
                }
            }
            Value::Array(items) => match child.patch_merge_key() {
                Some(key) => {
                    let entry = doc_map
                        .entry(k.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if !entry.is_array() {
                        *entry = Value::Array(Vec::new());
                    }
                    if let Value::Array(existing) = entry {
                        merge_list(existing, items, key, child.items())?;
                    }
                }
                None => {
                    doc_map.insert(k.clone(), v.clone());
                }
            },
            _ => {
                doc_map.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

fn merge_list(
    existing: &mut Vec<Value>,
    items: &[Value],
    key: &str,
    item: Node<'_>,
) -> Result<(), String> {
    if key.is_empty() {
        for i in items {
            if !existing.contains(i) {
                existing.push(i.clone());
            }
        }
        return Ok(());
    }
    for patch_item in items {
        let id = patch_item.get(key).cloned().unwrap_or(Value::Null);
        let delete = patch_item.get("$patch").and_then(Value::as_str) == Some("delete");
        let pos = existing.iter().position(|e| e.get(key) == Some(&id));
        match (pos, delete) {
            (Some(p), true) => {
                existing.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => strategic_at(&mut existing[p], patch_item, item)?,
            (None, false) => existing.push(patch_item.clone()),
        }
    }
    Ok(())
}

/// Applies a JSON merge patch (RFC 7386).
pub(crate) fn merge(doc: &mut Value, patch: &Value) {
    json_patch::merge(doc, patch);
}

/// Applies a JSON patch (RFC 6902) atomically: 400 if it does not parse, 422 if it does not apply.
///
/// Like kube-apiserver's implementation (evanphx/json-patch), a `test` for `null` passes when
/// the member is absent but its parent exists: kube's finalizer helper relies on that to add
/// the first finalizer.
pub(crate) fn json(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: Vec<json_patch::PatchOperation> = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("the JSON patch is not valid: {e}")))?;
    let mut work = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        if let json_patch::PatchOperation::Test(t) = op {
            let path = t.path.as_str();
            if t.value.is_null() && work.pointer(path).is_none() {
                let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                if work.pointer(parent).is_some() {
                    continue;
                }
            }
        }
        json_patch::patch(&mut work, std::slice::from_ref(op)).map_err(|e| {
            // kube-apiserver answers a patch that does not apply with 422.
            ApiError::new(
                422,
                "Invalid",
                format!("JSON patch operation {i} failed: {e}"),
            )
        })?;
    }
    *doc = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::registry::Registry;
    use crate::shape::Schema;

    #[test]
    fn strategic_merges_finalizers_and_replaces_other_lists() {
        let registry = Registry::new();
        let schema = Schema::of(registry.find("", "v1", "configmaps").unwrap());
        let meta = || schema.root();
        let mut doc = json!({ "metadata": { "finalizers": ["a"], "labels": { "x": "1", "y": "2" } }, "data": { "k": "v" }, "list": [1] });
        let patch = json!({ "metadata": { "finalizers": ["b"], "labels": { "y": null } }, "data": { "k2": "v2" }, "list": [2], "$setElementOrder/x": [] });
        strategic_merge(&mut doc, &patch, meta()).unwrap();
        assert_eq!(
            doc,
            json!({ "metadata": { "finalizers": ["a", "b"], "labels": { "x": "1" } }, "data": { "k": "v", "k2": "v2" }, "list": [2] })
        );
        let mut doc2 = json!({ "metadata": { "finalizers": ["a", "b"] } });
        strategic_merge(
            &mut doc2,
            &json!({ "metadata": { "$deleteFromPrimitiveList/finalizers": ["a"] } }),
            meta(),
        )
        .unwrap();
        assert_eq!(doc2, json!({ "metadata": { "finalizers": ["b"] } }));
        assert!(strategic_merge(&mut doc2, &json!({ "$retainKeys": ["a"] }), meta()).is_err());
    }

    /// PodSpec's `imagePullSecrets` merge by name; a ServiceAccount's are atomic and replaced
    /// (k8s.io/api core/v1 types.go), while its `secrets` merge by name.
    #[test]
    fn merge_keys_follow_the_type() {
        let registry = Registry::new();
        let pods = Schema::of(registry.find("", "v1", "pods").unwrap());
        let mut pod = json!({ "spec": { "containers": [{ "name": "a", "image": "1" }, { "name": "b", "image": "1" }],
            "imagePullSecrets": [{ "name": "x" }] } });
        let patch = json!({ "spec": { "containers": [{ "name": "b", "image": "2" }], "imagePullSecrets": [{ "name": "y" }] } });
        strategic_merge(&mut pod, &patch, pods.root()).unwrap();
        assert_eq!(
            pod,
            json!({ "spec": { "containers": [{ "name": "a", "image": "1" }, { "name": "b", "image": "2" }],
                "imagePullSecrets": [{ "name": "x" }, { "name": "y" }] } })
        );
        let accounts = Schema::of(registry.find("", "v1", "serviceaccounts").unwrap());
        let mut sa =
            json!({ "secrets": [{ "name": "s1" }], "imagePullSecrets": [{ "name": "x" }] });
        let patch = json!({ "secrets": [{ "name": "s2" }], "imagePullSecrets": [{ "name": "y" }] });
        strategic_merge(&mut sa, &patch, accounts.root()).unwrap();
        assert_eq!(
            sa,
            json!({ "secrets": [{ "name": "s1" }, { "name": "s2" }], "imagePullSecrets": [{ "name": "y" }] })
        );
    }

    #[test]
    fn json_patch_test_null_matches_a_missing_member() {
        let mut doc = json!({ "metadata": { "name": "a" } });
        let add_first = json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": ["f"] }
        ]);
        json(&mut doc, &add_first).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["f"]));
        // Now present and not null: the same test fails and nothing changes.
        assert!(json(&mut doc, &add_first).is_err());
        assert_eq!(doc["metadata"]["finalizers"], json!(["f"]));
        assert!(
            json(
                &mut doc,
                &json!([{ "op": "test", "path": "/missing/x", "value": null }])
            )
            .is_err()
        );
    }

    #[test]
    fn patch_types_by_content_type() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8", true)
                .unwrap(),
            PatchType::Merge
        );
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json", true)
                .unwrap_err()
                .code,
            415
        );
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json", false).unwrap(),
            PatchType::Strategic
        );
    }
}
