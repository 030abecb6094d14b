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
    // CRDs point at a selector string; the workloads' `spec.selector` is a LabelSelector,
    // which kube-apiserver formats into the Scale's string form.
    let selector = match paths.label_selector.as_deref().and_then(|p| lookup(obj, p)) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(sel @ Value::Object(_)) => Some(format_label_selector(sel)),
        _ => None,
    };
    if let Some(sel) = selector {
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

/// A LabelSelector as text (apimachinery `metav1.FormatLabelSelector`): `matchLabels` as
/// `k=v` in key order, then `matchExpressions` (`k in (a,b)`, `k notin (a)`, `k`, `!k`).
pub(crate) fn format_label_selector(selector: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        let mut pairs: Vec<(&String, &Value)> = labels.iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in pairs {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let text = match expr.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_string(),
            Some("DoesNotExist") => format!("!{key}"),
            _ => continue,
        };
        parts.push(text);
    }
    parts.join(",")
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
