//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
//! for the built-in kinds (with their merge keys), and the merge step of server-side apply
//! (ownership and conflicts are in `managed.rs`).

use serde_json::{Map, Value};

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

/// Lists that strategic merge patch merges by key instead of replacing, for the built-in kinds
/// this server serves: (path of field names, merge key; "" = a list of scalars merged as a set).
const MERGE_LISTS: &[(&[&str], &str)] = &[
    (&["metadata", "finalizers"], ""),
    (&["metadata", "ownerReferences"], "uid"),
    (&["spec", "ports"], "port"),
    (&["secrets"], "name"),
    (&["imagePullSecrets"], "name"),
];

/// Where a PodSpec sits in the served kinds: Pods, the workloads' templates, CronJobs' job templates.
const POD_SPEC_AT: &[&[&str]] = &[
    &["spec"],
    &["spec", "template", "spec"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
];

/// PodSpec lists with `patchStrategy:"merge"` (core/v1 types.go), relative to the PodSpec.
const POD_SPEC_LISTS: &[(&[&str], &str)] = &[
    (&["containers"], "name"),
    (&["initContainers"], "name"),
    (&["ephemeralContainers"], "name"),
    (&["volumes"], "name"),
    (&["imagePullSecrets"], "name"),
    (&["hostAliases"], "ip"),
    (&["containers", "env"], "name"),
    (&["containers", "ports"], "containerPort"),
    (&["containers", "volumeMounts"], "mountPath"),
    (&["containers", "volumeDevices"], "devicePath"),
    (&["initContainers", "env"], "name"),
    (&["initContainers", "ports"], "containerPort"),
    (&["initContainers", "volumeMounts"], "mountPath"),
];

/// Other merge lists by absolute path: conditions in the served statuses, webhooks.
const OTHER_MERGE_LISTS: &[(&[&str], &str)] =
    &[(&["status", "conditions"], "type"), (&["webhooks"], "name")];

fn same(p: &[&str], path: &[String]) -> bool {
    p.len() == path.len() && p.iter().zip(path).all(|(a, b)| a == b)
}

fn merge_key(path: &[String]) -> Option<&'static str> {
    if let Some((_, k)) = MERGE_LISTS
        .iter()
        .chain(OTHER_MERGE_LISTS)
        .find(|(p, _)| same(p, path))
    {
        return Some(k);
    }
    POD_SPEC_AT.iter().find_map(|prefix| {
        if path.len() <= prefix.len() || !prefix.iter().zip(path).all(|(a, b)| a == b) {
            return None;
        }
        let rest = &path[prefix.len()..];
        POD_SPEC_LISTS
            .iter()
            .find(|(p, _)| same(p, rest))
            .map(|(_, k)| *k)
    })
}

/// Applies a strategic merge patch. Maps merge recursively, `null` deletes, the known merge lists
/// merge by key, all other lists are replaced (as their Go types declare for the served kinds).
pub(crate) fn strategic_merge(doc: &mut Value, patch: &Value) -> Result<(), String> {
    strategic_at(doc, patch, &mut Vec::new())
}

fn strategic_at(doc: &mut Value, patch: &Value, path: &mut Vec<String>) -> Result<(), String> {
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
        path.push(k.clone());
        match v {
            Value::Null => {
                doc_map.remove(k);
            }
            Value::Object(_) => {
                let entry = doc_map.entry(k.clone()).or_insert(Value::Null);
                strategic_at(entry, v, path)?;
                if entry.is_null() {
                    doc_map.remove(k);
                }
            }
            Value::Array(items) => match merge_key(path) {
                Some(key) => {
                    let entry = doc_map
                        .entry(k.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if !entry.is_array() {
                        *entry = Value::Array(Vec::new());
                    }
                    if let Value::Array(existing) = entry {
                        merge_list(existing, items, key, path)?;
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
        path.pop();
    }
    Ok(())
}

fn merge_list(
    existing: &mut Vec<Value>,
    items: &[Value],
    key: &str,
    path: &mut Vec<String>,
) -> Result<(), String> {
    if key.is_empty() {
        for i in items {
            if !existing.contains(i) {
                existing.push(i.clone());
            }
        }
        return Ok(());
    }
    for item in items {
        let id = item.get(key).cloned().unwrap_or(Value::Null);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        let pos = existing.iter().position(|e| e.get(key) == Some(&id));
        match (pos, delete) {
            (Some(p), true) => {
                existing.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => strategic_at(&mut existing[p], item, path)?,
            (None, false) => existing.push(item.clone()),
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

/// Merges applied fields into an object (maps recursively, everything else replaced): the
/// merge step of server-side apply, whose field ownership lives in `managed.rs`.
pub(crate) fn apply(doc: &mut Value, applied: &Value) {
    match (doc, applied) {
        (Value::Object(d), Value::Object(a)) => {
            for (k, v) in a {
                match d.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => apply(existing, v),
                    _ => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (d, a) => *d = a.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_finalizers_and_replaces_other_lists() {
        let mut doc = json!({ "metadata": { "finalizers": ["a"], "labels": { "x": "1", "y": "2" } }, "data": { "k": "v" }, "list": [1] });
        let patch = json!({ "metadata": { "finalizers": ["b"], "labels": { "y": null } }, "data": { "k2": "v2" }, "list": [2], "$setElementOrder/x": [] });
        strategic_merge(&mut doc, &patch).unwrap();
        assert_eq!(
            doc,
            json!({ "metadata": { "finalizers": ["a", "b"], "labels": { "x": "1" } }, "data": { "k": "v", "k2": "v2" }, "list": [2] })
        );
        let mut doc2 = json!({ "metadata": { "finalizers": ["a", "b"] } });
        strategic_merge(
            &mut doc2,
            &json!({ "metadata": { "$deleteFromPrimitiveList/finalizers": ["a"] } }),
        )
        .unwrap();
        assert_eq!(doc2, json!({ "metadata": { "finalizers": ["b"] } }));
        assert!(strategic_merge(&mut doc2, &json!({ "$retainKeys": ["a"] })).is_err());
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
