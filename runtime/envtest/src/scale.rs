//! The `/scale` subresource of custom resources (`subresources.scale` in a CRD version):
//! an `autoscaling/v1` Scale view of the replica fields the CRD points at.

use serde_json::{Value, json};

use crate::registry::ResourceType;
use crate::status::ApiError;

/// Where a CRD keeps its replica counts and selector (JSON paths like `.spec.replicas`).
#[derive(Debug, Clone)]
pub(crate) struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
}

fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).try_fold(obj, |cur, seg| cur.get(seg))
}

/// The Scale of an object (presented at any version).
pub(crate) fn to_scale(paths: &ScalePaths, obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut metadata = json!({});
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(key) {
            metadata[key] = v.clone();
        }
    }
    let replicas = lookup(obj, &paths.spec_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut status = json!({ "replicas": lookup(obj, &paths.status_replicas).and_then(Value::as_i64).unwrap_or(0) });
    if let Some(sel) = paths
        .label_selector
        .as_deref()
        .and_then(|p| lookup(obj, p))
        .and_then(Value::as_str)
    {
        status["selector"] = json!(sel);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": { "replicas": replicas },
        "status": status,
    })
}

/// Writes a Scale's `spec.replicas` (and its resourceVersion precondition) into the object.
pub(crate) fn apply_scale(
    rt: &ResourceType,
    paths: &ScalePaths,
    obj: &mut Value,
    scale: &Value,
) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid_field(
            "Scale",
            "autoscaling",
            &name,
            "FieldValueInvalid",
            "spec.replicas",
            format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    let segs: Vec<&str> = segments(&paths.spec_replicas).collect();
    let Some((last, parents)) = segs.split_last() else {
        return Err(ApiError::internal(format!(
            "{} has an empty specReplicasPath",
            rt.kind
        )));
    };
    let mut cur = &mut *obj;
    for seg in parents {
        if !cur.get(*seg).is_some_and(Value::is_object) {
            cur[*seg] = json!({});
        }
        cur = &mut cur[*seg];
    }
    cur[*last] = json!(replicas);
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        // Stored objects always have object metadata.
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(rv));
        }
    }
    Ok(())
}
