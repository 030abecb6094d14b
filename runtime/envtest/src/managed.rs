//! Field ownership (`metadata.managedFields`, format `FieldsV1`) and server-side apply.
//!
//! Simplifications, documented in the crate docs: every list is atomic (owned and replaced
//! as a whole, like a CRD list without `x-kubernetes-list-type`), and the `.` self-ownership
//! markers are not written.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::status::ApiError;

/// A field path, as field names from the object root.
type Path = Vec<String>;

/// Server-owned metadata that no manager owns.
const UNMANAGED_METADATA: [&str; 11] = [
    "name",
    "namespace",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Which part of an object a write manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource; `status` is excluded when a status subresource owns it.
    Main { status_subresource: bool },
    /// The `/status` subresource: only `status`.
    Status,
}

impl Scope {
    fn subresource(self) -> Option<&'static str> {
        match self {
            Scope::Main { .. } => None,
            Scope::Status => Some("status"),
        }
    }

    fn includes(self, top_level: &str) -> bool {
        match self {
            Scope::Main { status_subresource } => {
                let owned_by_status = status_subresource && top_level == "status";
                !(matches!(top_level, "apiVersion" | "kind") || owned_by_status)
            }
            Scope::Status => top_level == "status",
        }
    }
}

/// Leaf paths of the managed fields of an object: scalars, lists and empty maps.
fn leaves_of_object(obj: &Value, scope: Scope) -> Vec<Path> {
    let mut out = Vec::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        if !scope.includes(k) {
            continue;
        }
        if k == "metadata" {
            for (mk, mv) in v.as_object().into_iter().flatten() {
                if !UNMANAGED_METADATA.contains(&mk.as_str()) && !mv.is_null() {
                    collect(mv, vec![k.clone(), mk.clone()], &mut out);
                }
            }
        } else if !v.is_null() {
            collect(v, vec![k.clone()], &mut out);
        }
    }
    out
}

fn collect(v: &Value, path: Path, out: &mut Vec<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(k.clone());
                collect(child, p, out);
            }
        }
        _ => out.push(path),
    }
}

/// Leaf paths of a `fieldsV1` tree.
fn leaves_of_set(set: &Value) -> Vec<Path> {
    fn walk(set: &Value, path: Path, out: &mut Vec<Path>) {
        let children: Vec<(&String, &Value)> = set
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("f:"))
            .collect();
        if children.is_empty() {
            if !path.is_empty() {
                out.push(path);
            }
            return;
        }
        for (k, child) in children {
            let mut p = path.clone();
            p.push(k[2..].to_string());
            walk(child, p, out);
        }
    }
    let mut out = Vec::new();
    walk(set, Vec::new(), &mut out);
    out
}

fn set_of_leaves(leaves: &[Path]) -> Value {
    let mut root = Map::new();
    for path in leaves {
        let mut cur = &mut root;
        for seg in path {
            let entry = cur.entry(format!("f:{seg}")).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            match entry {
                Value::Object(m) => cur = m,
                // Made an object just above.
                _ => break,
            }
        }
    }
    Value::Object(root)
}

/// Whether two paths overlap: equal, or one inside the other.
fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |cur, seg| cur.get(seg))
}

fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parents {
        match cur.get_mut(seg) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

fn render(path: &[String]) -> String {
    path.iter().map(|s| format!(".{s}")).collect()
}

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    leaves: Vec<Path>,
}

impl Entry {
    fn from_json(v: &Value) -> Option<Entry> {
        Some(Entry {
            manager: v.get("manager")?.as_str()?.to_string(),
            operation: v
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("Update")
                .to_string(),
            api_version: v
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            time: v
                .get("time")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            subresource: v
                .get("subresource")
                .and_then(Value::as_str)
                .map(String::from),
            leaves: v.get("fieldsV1").map(leaves_of_set).unwrap_or_default(),
        })
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": set_of_leaves(&self.leaves),
        });
        if let Some(s) = &self.subresource {
            v["subresource"] = json!(s);
        }
        v
    }

    fn owns(&self, path: &[String]) -> bool {
        self.leaves.iter().any(|l| overlaps(l, path))
    }

    fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }
}

fn entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

fn store_entries(obj: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.leaves.is_empty())
        .map(Entry::to_json)
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Who is writing, for field ownership.
#[derive(Debug, Clone)]
pub(crate) struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub scope: Scope,
    pub now: &'a str,
}

/// Records a non-apply write (create, update, non-apply patch): the writer takes ownership of
/// every field it set or changed, others lose those, and removed fields are owned by no one.
/// `new` carries the ownership to start from (the live list, or one the request replaced it with).
pub(crate) fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer<'_>) {
    let mut all = entries(new);
    let new_leaves = leaves_of_object(new, w.scope);
    let changed: Vec<Path> = new_leaves
        .iter()
        .filter(|p| old.is_none_or(|o| value_at(o, p) != value_at(new, p)))
        .cloned()
        .collect();
    let removed: Vec<Path> = old
        .map(|o| leaves_of_object(o, w.scope))
        .unwrap_or_default()
        .into_iter()
        .filter(|p| value_at(new, p).is_none())
        .collect();
    if changed.is_empty() && removed.is_empty() {
        store_entries(new, all);
        return;
    }
    for e in &mut all {
        e.leaves
            .retain(|l| !changed.iter().chain(&removed).any(|c| overlaps(l, c)));
    }
    let sub = w.scope.subresource();
    match all.iter_mut().find(|e| e.is(w.manager, "Update", sub)) {
        Some(e) => {
            e.leaves.extend(changed);
            e.time = w.now.to_string();
            e.api_version = w.api_version.to_string();
        }
        None if !changed.is_empty() => all.push(Entry {
            manager: w.manager.to_string(),
            operation: "Update".into(),
            api_version: w.api_version.to_string(),
            time: w.now.to_string(),
            subresource: sub.map(String::from),
            leaves: changed,
        }),
        None => {}
    }
    store_entries(new, all);
}

/// Server-side apply of `applied` by `w.manager` onto `live` (an empty object when creating).
/// Conflicts with other managers' differing values are a 409 unless `force`; fields the
/// manager applied before and no longer applies are removed unless someone else owns them.
pub(crate) fn apply(
    live: &Value,
    applied: &Value,
    force: bool,
    w: &Writer<'_>,
) -> Result<Value, ApiError> {
    let mut all = entries(live);
    let sub = w.scope.subresource();
    let applied_leaves = leaves_of_object(applied, w.scope);

    let mut conflicts: BTreeMap<(String, String), Vec<Path>> = BTreeMap::new();
    for e in all.iter().filter(|e| !e.is(w.manager, "Apply", sub)) {
        for p in &applied_leaves {
            if e.owns(p) && value_at(live, p) != value_at(applied, p) {
                conflicts
                    .entry((e.manager.clone(), e.api_version.clone()))
                    .or_default()
                    .push(p.clone());
            }
        }
    }
    if !conflicts.is_empty() && !force && !upgrades_client_side_apply(live, &conflicts, w) {
        return Err(conflict_error(&conflicts));
    }
    for e in &mut all {
        if let Some(paths) = conflicts.get(&(e.manager.clone(), e.api_version.clone())) {
            e.leaves.retain(|l| !paths.iter().any(|p| overlaps(l, p)));
        }
    }

    let mut result = live.clone();
    let previous: Vec<Path> = all
        .iter()
        .find(|e| e.is(w.manager, "Apply", sub))
        .map(|e| e.leaves.clone())
        .unwrap_or_default();
    for gone in previous
        .iter()
        .filter(|p| !applied_leaves.iter().any(|a| overlaps(a, p)))
    {
        let owned_elsewhere = all
            .iter()
            .any(|e| !e.is(w.manager, "Apply", sub) && e.owns(gone));
        if !owned_elsewhere {
            remove_at(&mut result, gone);
        }
    }
    let mut to_merge = applied.clone();
    if let Some(m) = to_merge.as_object_mut() {
        m.retain(|k, _| {
            matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || w.scope.includes(k)
        });
    }
    if let Some(meta) = to_merge.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, _| {
            !UNMANAGED_METADATA.contains(&k.as_str()) || k == "name" || k == "namespace"
        });
    }
    crate::patch::apply(&mut result, &to_merge);

    match all.iter_mut().find(|e| e.is(w.manager, "Apply", sub)) {
        Some(e) => {
            if e.leaves != applied_leaves {
                e.time = w.now.to_string();
            }
            e.leaves = applied_leaves;
            e.api_version = w.api_version.to_string();
        }
        None => all.push(Entry {
            manager: w.manager.to_string(),
            operation: "Apply".into(),
            api_version: w.api_version.to_string(),
            time: w.now.to_string(),
            subresource: sub.map(String::from),
            leaves: applied_leaves,
        }),
    }
    store_entries(&mut result, all);
    Ok(result)
}

/// kube-apiserver's lastAppliedManager: `kubectl apply --server-side` takes over, without
/// conflicts, the fields a previous client-side `kubectl apply` recorded in its annotation.
fn upgrades_client_side_apply(
    live: &Value,
    conflicts: &BTreeMap<(String, String), Vec<Path>>,
    w: &Writer<'_>,
) -> bool {
    if w.manager != "kubectl" {
        return false;
    }
    let Some(last_applied) = live
        .pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return false;
    };
    let allowed = leaves_of_object(&last_applied, w.scope);
    conflicts
        .values()
        .flatten()
        .all(|p| allowed.iter().any(|a| a == p))
}

fn conflict_error(conflicts: &BTreeMap<(String, String), Vec<Path>>) -> ApiError {
    let count: usize = conflicts.values().map(Vec::len).sum();
    let mut parts = Vec::new();
    let mut causes = Vec::new();
    for ((manager, api_version), paths) in conflicts {
        let who = format!("\"{manager}\" using {api_version}");
        if paths.len() == 1 {
            parts.push(format!("conflict with {who}: {}", render(&paths[0])));
        } else {
            let list: Vec<String> = paths.iter().map(|p| format!("- {}", render(p))).collect();
            parts.push(format!("conflicts with {who}:\n{}", list.join("\n")));
        }
        for p in paths {
            causes.push(json!({ "reason": "FieldManagerConflict", "message": format!("conflict with {who}"), "field": render(p) }));
        }
    }
    let plural = if count == 1 { "" } else { "s" };
    let mut e = ApiError::new(
        409,
        "Conflict",
        format!(
            "Apply failed with {count} conflict{plural}: {}",
            parts.join("\n")
        ),
    );
    e.details = Some(json!({ "causes": causes }));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Scope = Scope::Main {
        status_subresource: true,
    };

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "v1",
            scope: MAIN,
            now: "2024-01-01T00:00:00Z",
        }
    }

    #[test]
    fn fields_v1_round_trips() {
        let leaves = vec![
            vec!["spec".to_string(), "x".to_string()],
            vec![
                "metadata".to_string(),
                "labels".to_string(),
                "a".to_string(),
            ],
        ];
        let set = set_of_leaves(&leaves);
        assert_eq!(
            set,
            json!({ "f:spec": { "f:x": {} }, "f:metadata": { "f:labels": { "f:a": {} } } })
        );
        let mut back = leaves_of_set(&set);
        back.sort();
        let mut want = leaves;
        want.sort();
        assert_eq!(back, want);
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let empty = json!({ "metadata": { "name": "o" } });
        let a1 = json!({ "metadata": { "name": "o" }, "spec": { "x": 1, "y": 2 } });
        let live = apply(&empty, &a1, false, &writer("a")).unwrap();
        assert_eq!(live["spec"], json!({ "x": 1, "y": 2 }));
        // Same value: shared ownership, no conflict.
        let live = apply(&live, &json!({ "spec": { "x": 1 } }), false, &writer("b")).unwrap();
        // Different value: conflict naming the owner and the field.
        let err = apply(&live, &json!({ "spec": { "y": 3 } }), false, &writer("b")).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"a\" using v1: .spec.y"
        );
        let live = apply(
            &live,
            &json!({ "spec": { "x": 1, "y": 3 } }),
            true,
            &writer("b"),
        )
        .unwrap();
        assert_eq!(live["spec"]["y"], 3);
        // "a" stops applying x and y: x stays (b owns it too), y is b's now.
        let live = apply(&live, &json!({ "spec": { "z": 0 } }), false, &writer("a")).unwrap();
        assert_eq!(live["spec"], json!({ "x": 1, "y": 3, "z": 0 }));
        // "b" stops applying x: nobody owns it any more, so it goes.
        let live = apply(&live, &json!({ "spec": { "y": 3 } }), false, &writer("b")).unwrap();
        assert_eq!(live["spec"], json!({ "y": 3, "z": 0 }));
    }

    #[test]
    fn kubectl_takes_over_client_side_apply_fields() {
        let annotation =
            r#"{"apiVersion":"v1","data":{"a":"1"},"kind":"ConfigMap","metadata":{"name":"c"}}"#;
        let mut live = json!({ "metadata": { "name": "c", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": annotation } }, "data": { "a": "1" } });
        record_update(None, &mut live, &writer("kubectl-client-side-apply"));
        let applied = json!({ "metadata": { "name": "c" }, "data": { "a": "2" } });
        assert_eq!(
            apply(&live, &applied, false, &writer("someone"))
                .unwrap_err()
                .code,
            409
        );
        let upgraded = apply(&live, &applied, false, &writer("kubectl")).unwrap();
        assert_eq!(upgraded["data"]["a"], "2");
    }

    #[test]
    fn updates_take_ownership() {
        let old = apply(
            &json!({ "metadata": {} }),
            &json!({ "spec": { "x": 1 } }),
            false,
            &writer("a"),
        )
        .unwrap();
        let mut new = old.clone();
        new["spec"]["x"] = json!(2);
        record_update(Some(&old), &mut new, &writer("editor"));
        let managers: Vec<String> = entries(&new)
            .iter()
            .map(|e| format!("{}/{}", e.manager, e.operation))
            .collect();
        assert_eq!(managers, ["editor/Update"], "a lost its only field");
        let err = apply(&new, &json!({ "spec": { "x": 1 } }), false, &writer("a")).unwrap_err();
        assert!(
            err.message.contains("conflict with \"editor\""),
            "{}",
            err.message
        );
    }
}
