//! Server-side Tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), which
//! `kubectl get` asks for: a Name column, then the type's printer columns.

use serde_json::{Value, json};

use crate::registry::{PrinterColumn, Render, ResourceType};

/// `includeObject`: what each row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

#[derive(Debug, Clone)]
pub(crate) struct TableOptions {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`, as negotiated.
    pub api_version: String,
    pub include_object: IncludeObject,
    pub no_headers: bool,
}

/// A `PartialObjectMetadata` of `meta.k8s.io/<version>` for an object.
pub(crate) fn partial_metadata(obj: &Value, api_version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": api_version,
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Renders `objects` (already presented at the request's version) as a `meta.k8s.io` Table.
pub(crate) fn table(
    rt: &ResourceType,
    objects: &[Value],
    opts: &TableOptions,
    list_meta: Value,
) -> Value {
    let mut columns = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        "priority": 0,
    })];
    for c in &rt.columns {
        columns.push(json!({
            "name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority,
        }));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut cells = vec![
                obj.pointer("/metadata/name")
                    .cloned()
                    .unwrap_or(Value::Null),
            ];
            for c in &rt.columns {
                cells.push(cell(obj, c));
            }
            let mut row = json!({ "cells": cells });
            match opts.include_object {
                IncludeObject::None => {}
                IncludeObject::Object => row["object"] = obj.clone(),
                IncludeObject::Metadata => row["object"] = partial_metadata(obj, &opts.api_version),
            }
            row
        })
        .collect();
    let mut t = json!({ "kind": "Table", "apiVersion": opts.api_version, "metadata": list_meta, "rows": rows });
    if !opts.no_headers {
        t["columnDefinitions"] = Value::Array(columns);
    }
    t
}

fn cell(obj: &Value, column: &PrinterColumn) -> Value {
    let found = eval_json_path(obj, &column.json_path);
    match column.render {
        Render::Count => {
            let n = found.first().map_or(0, |v| match v {
                Value::Object(m) => m.len(),
                Value::Array(a) => a.len(),
                _ => 0,
            });
            return json!(n);
        }
        Render::Ports => {
            let ports: Vec<String> = found
                .first()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    let port = p.get("port").map(|v| v.to_string()).unwrap_or_default();
                    let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    format!("{port}/{protocol}")
                })
                .collect();
            return json!(if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            });
        }
        Render::Reference => {
            let kind = found
                .first()
                .and_then(|r| r.get("kind"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = found
                .first()
                .and_then(|r| r.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            return json!(format!("{}/{name}", kind.to_lowercase()));
        }
        Render::KindName => {
            let field = |k: &str| {
                found
                    .first()
                    .and_then(|r| r.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            return json!(format!("{}/{}", field("kind"), field("name")));
        }
        Render::Int => return found.first().cloned().unwrap_or_else(|| json!(0)),
        Render::OfTotal(total_path) => {
            let count = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0);
            let total = eval_json_path(obj, total_path);
            return json!(format!("{}/{}", count(found.first()), count(total.first())));
        }
        Render::Selector => {
            let text = found
                .first()
                .map(crate::scale::format_label_selector)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "<none>".into());
            return json!(text);
        }
        Render::Sum => {
            let total: i64 = found.iter().filter_map(Value::as_i64).sum();
            return json!(total);
        }
        Render::ContainersReady => {
            let ready = found
                .first()
                .and_then(Value::as_array)
                .map_or(0, |statuses| {
                    statuses
                        .iter()
                        .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                        .count()
                });
            let total = eval_json_path(obj, ".spec.containers")
                .first()
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            return json!(format!("{ready}/{total}"));
        }
        Render::Timestamp | Render::Value => {}
    }
    let Some(first) = found.first() else {
        return Value::Null;
    };
    match (column.render, column.type_.as_str()) {
        (Render::Timestamp, _) => first.clone(),
        (_, "integer" | "number" | "boolean") => first.clone(),
        // The server renders ages (apiextensions `cellForJSONValue`); kubectl prints cells as they are.
        (_, "date") => first
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| {
                json!(human_duration(
                    jiff::Timestamp::now().as_second() - t.as_second()
                ))
            })
            .unwrap_or(Value::Null),
        _ => {
            let parts: Vec<String> = found
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            json!(parts.join(","))
        }
    }
}

/// apimachinery `duration.HumanDuration`, as kubectl shows ages.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let d = (hours / 24) % 365;
        return if d == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{d}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter {
        field: String,
        equal: bool,
        value: String,
    },
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut steps = Vec::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if !name.is_empty() {
                    steps.push(if name == "*" {
                        Step::All
                    } else {
                        Step::Field(name)
                    });
                }
            }
            '[' => {
                let end = (i..chars.len()).find(|&j| chars[j] == ']')?;
                let inner: String = chars[i + 1..end].iter().collect();
                i = end + 1;
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Index(n));
                } else if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
                {
                    let (field, equal, value) = if let Some((a, b)) = f.split_once("!=") {
                        (a, false, b)
                    } else {
                        let (a, b) = f.split_once("==")?;
                        (a, true, b)
                    };
                    let value = value
                        .trim()
                        .trim_matches('"')
                        .trim_matches('\'')
                        .to_string();
                    steps.push(Step::Filter {
                        field: field.trim().to_string(),
                        equal,
                        value,
                    });
                } else {
                    let key = inner.trim_matches('\'').trim_matches('"');
                    steps.push(Step::Field(key.to_string()));
                }
            }
            _ => {
                // A path without a leading dot: treat the first segment as a field name.
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                steps.push(Step::Field(chars[start..i].iter().collect()));
            }
        }
    }
    Some(steps)
}

/// The small JSONPath subset printer columns use: `.a.b`, `[n]`, `[*]`, `[?(@.k=="v")]`.
pub(crate) fn eval_json_path(obj: &Value, path: &str) -> Vec<Value> {
    let Some(steps) = parse_path(path) else {
        return Vec::new();
    };
    let mut nodes = vec![obj];
    for step in &steps {
        let mut next = Vec::new();
        for n in nodes {
            match step {
                Step::Field(f) => next.extend(n.get(f)),
                Step::Index(i) => next.extend(n.get(*i)),
                Step::All => match n {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter {
                    field,
                    equal,
                    value,
                } => {
                    for item in n.as_array().into_iter().flatten() {
                        let actual = item.get(field).map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        });
                        if (actual.as_deref() == Some(value.as_str())) == *equal {
                            next.push(item);
                        }
                    }
                }
            }
        }
        nodes = next;
    }
    nodes.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_subset() {
        let o = json!({ "spec": { "replicas": 3 }, "status": { "conditions": [
            { "type": "Ready", "status": "True" }, { "type": "Other", "status": "False" } ] } });
        assert_eq!(eval_json_path(&o, ".spec.replicas"), vec![json!(3)]);
        assert_eq!(
            eval_json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![json!("True")]
        );
        assert_eq!(
            eval_json_path(&o, ".status.conditions[1].type"),
            vec![json!("Other")]
        );
        assert!(eval_json_path(&o, ".spec.missing").is_empty());
    }

    #[test]
    fn ages_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(5 * 3600 + 60), "5h1m");
        assert_eq!(human_duration(3 * 86400), "3d");
    }
}
