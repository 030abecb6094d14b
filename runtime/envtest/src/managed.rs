//! Field ownership (`metadata.managedFields`, format `FieldsV1`) and server-side apply, as
//! kube-apiserver's field manager does with structured-merge-diff (SMD):
//!
//! - Lists merge by their list type ([`crate::shape`]): items of `map` lists are owned one by
//!   one (`k:{"name":"app"}`, key fields sorted by name), values of `set` lists too
//!   (`v:"a"`), `atomic` lists (and atomic structs) as a whole.
//! - An apply owns what its configuration sets (SMD `ToFieldSet`): scalars, atomic values,
//!   list items, and the entries of maps with free keys; an update owns what it added or
//!   changed (SMD `Compare`), including every object or list it added. A path owned itself
//!   and through children is written with the `.` self marker.
//! - Applying without something the manager applied before removes it unless some manager
//!   still owns that path (SMD `Updater.prune`): a list item goes as a whole even if an updater
//!   owns a field inside it, as upstream.
//! - Conflicts are per path: another manager's owned path whose value the apply changes or adds.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::shape::{ListKind, Node, Schema};
use crate::status::ApiError;

/// One step of a field path (SMD `PathElement`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Pe {
    Field(String),
    /// A `map` list item by its key fields, as canonical JSON (sorted, compact).
    Key(String),
    /// A `set` list item, as JSON.
    Value(String),
    /// A list item by position: never written here, but read if a client sends it.
    Index(usize),
}

impl Pe {
    fn encode(&self) -> String {
        match self {
            Pe::Field(f) => format!("f:{f}"),
            Pe::Key(k) => format!("k:{k}"),
            Pe::Value(v) => format!("v:{v}"),
            Pe::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Option<Pe> {
        let canonical = |j: &str| serde_json::from_str::<Value>(j).ok().map(|v| v.to_string());
        if let Some(f) = s.strip_prefix("f:") {
            Some(Pe::Field(f.to_string()))
        } else if let Some(k) = s.strip_prefix("k:") {
            canonical(k).map(Pe::Key)
        } else if let Some(v) = s.strip_prefix("v:") {
            canonical(v).map(Pe::Value)
        } else {
            s.strip_prefix("i:")?.parse().ok().map(Pe::Index)
        }
    }

    /// As SMD's `PathElement.String()`, for conflict messages: `.name`,
    /// `[name="app",port=80]`, `[=value]`, `[3]`.
    fn render(&self) -> String {
        match self {
            Pe::Field(f) => format!(".{f}"),
            Pe::Key(k) => {
                let fields: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                    .unwrap_or_default()
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect();
                format!("[{}]", fields.join(","))
            }
            Pe::Value(v) => format!("[={v}]"),
            Pe::Index(i) => format!("[{i}]"),
        }
    }
}

/// A field path from the object root.
type Path = Vec<Pe>;
/// A set of owned paths (SMD `fieldpath.Set`, flattened: a path and its children may both be
/// members).
type Set = BTreeSet<Path>;

fn field(path: &[Pe], name: &str) -> Path {
    let mut p = path.to_vec();
    p.push(Pe::Field(name.to_string()));
    p
}

fn with(path: &[Pe], pe: Pe) -> Path {
    let mut p = path.to_vec();
    p.push(pe);
    p
}

fn render(path: &[Pe]) -> String {
    path.iter().map(Pe::render).collect()
}

/// Server-owned metadata that no manager owns (the field manager strips these).
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

/// The managed top-level values of an object (metadata's managed fields one by one, as the
/// field manager strips `metadata` itself and its server-owned fields): (path, value, type).
fn managed_roots<'v, 's>(
    obj: &'v Value,
    root: Node<'s>,
    scope: Scope,
) -> Vec<(Path, &'v Value, Node<'s>)> {
    let mut out = Vec::new();
    for (k, v) in obj.as_object().into_iter().flatten() {
        if !scope.includes(k) || v.is_null() {
            continue;
        }
        let node = root.child(k).0;
        if k == "metadata" {
            for (mk, mv) in v.as_object().into_iter().flatten() {
                if !UNMANAGED_METADATA.contains(&mk.as_str()) && !mv.is_null() {
                    out.push((
                        vec![Pe::Field(k.clone()), Pe::Field(mk.clone())],
                        mv,
                        node.child(mk).0,
                    ));
                }
            }
        } else {
            out.push((vec![Pe::Field(k.clone())], v, node));
        }
    }
    out
}

/// The path element of a list item, or why it has none.
fn item_pe(item: &Value, kind: &ListKind<'_>, items: &Node<'_>) -> Result<Pe, String> {
    match kind {
        ListKind::Set => Ok(Pe::Value(item.to_string())),
        ListKind::Map(keys) => {
            let mut key = Map::new();
            for k in keys {
                match item.get(*k).filter(|v| !v.is_null()) {
                    Some(v) => key.insert((*k).to_string(), v.clone()),
                    None => match items.key_default(k) {
                        Some(d) => key.insert((*k).to_string(), d),
                        None => {
                            return Err(format!(
                                "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                            ));
                        }
                    },
                };
            }
            Ok(Pe::Key(Value::Object(key).to_string()))
        }
        ListKind::Atomic => Err("atomic list".into()),
    }
}

/// The item path elements of a non-atomic list, or `None` if it is atomic (or an item cannot
/// be identified, which makes it atomic for ownership).
fn item_pes(items: &[Value], node: &Node<'_>) -> Option<Vec<Pe>> {
    let kind = node.list_kind();
    if kind == ListKind::Atomic || kind == ListKind::Map(Vec::new()) {
        return None;
    }
    let item_node = node.items();
    items
        .iter()
        .map(|i| item_pe(i, &kind, &item_node).ok())
        .collect()
}

/// Every path of an object with its value and whether it is a leaf (scalar, atomic or empty).
type Index<'v> = BTreeMap<Path, (&'v Value, bool)>;

fn index<'v>(obj: &'v Value, root: Node<'_>, scope: Scope) -> Index<'v> {
    fn walk<'v>(v: &'v Value, node: Node<'_>, path: Path, out: &mut Index<'v>) {
        match v {
            Value::Object(m) if !m.is_empty() && !node.atomic_map() => {
                for (k, c) in m {
                    if !c.is_null() {
                        walk(c, node.child(k).0, field(&path, k), out);
                    }
                }
                out.insert(path, (v, false));
            }
            Value::Array(items) if !items.is_empty() => match item_pes(items, &node) {
                Some(pes) => {
                    let item_node = node.items();
                    for (item, pe) in items.iter().zip(pes) {
                        walk(item, item_node, with(&path, pe), out);
                    }
                    out.insert(path, (v, false));
                }
                None => {
                    out.insert(path, (v, true));
                }
            },
            _ => {
                out.insert(path, (v, true));
            }
        }
    }
    let mut out = Index::new();
    for (path, v, node) in managed_roots(obj, root, scope) {
        walk(v, node, path, &mut out);
    }
    out
}

/// What an update changed (SMD `Compare`): paths added or with a new leaf value, and paths
/// removed.
fn compare(old: &Index<'_>, new: &Index<'_>) -> (Set, Set) {
    let changed = new
        .iter()
        .filter(|(p, (v, leaf))| match old.get(*p) {
            None => true,
            Some((ov, old_leaf)) => (*leaf || *old_leaf) && ov != v,
        })
        .map(|(p, _)| p.clone())
        .collect();
    let removed = old
        .keys()
        .filter(|p| !new.contains_key(*p))
        .cloned()
        .collect();
    (changed, removed)
}

/// The paths an applied configuration sets (SMD `ToFieldSet`).
fn applied_set(applied: &Value, root: Node<'_>, scope: Scope) -> Result<Set, String> {
    fn walk(v: &Value, node: Node<'_>, path: Path, out: &mut Set) -> Result<(), String> {
        match v {
            Value::Object(m) if !m.is_empty() && !node.atomic_map() => {
                for (k, c) in m {
                    if c.is_null() {
                        continue;
                    }
                    let (child, declared) = node.child(k);
                    let p = field(&path, k);
                    walk(c, child, p.clone(), out)?;
                    if !declared {
                        out.insert(p);
                    }
                }
            }
            Value::Array(items) => {
                let kind = node.list_kind();
                if kind == ListKind::Atomic || kind == ListKind::Map(Vec::new()) {
                    out.insert(path);
                    return Ok(());
                }
                let item_node = node.items();
                for (i, item) in items.iter().enumerate() {
                    let pe = item_pe(item, &kind, &item_node)
                        .map_err(|e| format!("{}: element {i}: {e}", render(&path)))?;
                    let p = with(&path, pe);
                    walk(item, item_node, p.clone(), out)?;
                    out.insert(p);
                }
            }
            _ => {
                out.insert(path);
            }
        }
        Ok(())
    }
    let mut out = Set::new();
    for (path, v, node) in managed_roots(applied, root, scope) {
        walk(v, node, path, &mut out)?;
    }
    Ok(out)
}

/// Removes the values at `paths` (whole subtrees; a list or map left empty goes too).
fn remove_paths(obj: &mut Value, root: Node<'_>, paths: &Set) {
    fn walk(v: &mut Value, node: Node<'_>, path: &[Pe], paths: &Set) {
        let below = |p: &Path| {
            paths
                .range(p.clone()..)
                .next()
                .is_some_and(|q| q.starts_with(p))
        };
        match v {
            Value::Object(m) if !node.atomic_map() => {
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    let p = field(path, &k);
                    if paths.contains(&p) {
                        m.remove(&k);
                    } else if below(&p) {
                        let child = node.child(&k).0;
                        if let Some(c) = m.get_mut(&k) {
                            walk(c, child, &p, paths);
                            if is_emptied(c) {
                                m.remove(&k);
                            }
                        }
                    }
                }
            }
            Value::Array(items) => {
                let Some(pes) = item_pes(items, &node) else {
                    return;
                };
                let item_node = node.items();
                let mut kept = Vec::new();
                for (mut item, pe) in std::mem::take(items).into_iter().zip(pes) {
                    let p = with(path, pe);
                    if paths.contains(&p) {
                        continue;
                    }
                    if below(&p) {
                        walk(&mut item, item_node, &p, paths);
                    }
                    kept.push(item);
                }
                *items = kept;
            }
            _ => {}
        }
    }
    fn is_emptied(v: &Value) -> bool {
        matches!(v, Value::Object(m) if m.is_empty())
            || matches!(v, Value::Array(a) if a.is_empty())
    }
    walk(obj, root, &[], paths);
}

/// Merges an applied configuration into an object (SMD `Merge`): maps recursively, `map` and
/// `set` lists item by item, atomic values replaced.
fn merge(live: &mut Value, applied: &Value, node: Node<'_>) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !node.atomic_map() => {
            for (k, v) in a {
                let child = node.child(k).0;
                match l.get_mut(k) {
                    Some(existing) if !existing.is_null() && !v.is_null() => {
                        merge(existing, v, child)
                    }
                    _ => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) => {
            let (Some(lpes), Some(rpes)) = (item_pes(l, &node), item_pes(a, &node)) else {
                *l = a.clone();
                return;
            };
            *l = merge_list(l, &lpes, a, &rpes, node.items());
        }
        (l, a) => *l = a.clone(),
    }
}

/// SMD's list merge order: the applied items in their order, live items not applied kept where
/// they were relative to the applied ones they share the list with.
fn merge_list(
    lhs: &[Value],
    lpes: &[Pe],
    rhs: &[Value],
    rpes: &[Pe],
    item: Node<'_>,
) -> Vec<Value> {
    let in_lhs: BTreeMap<&Pe, usize> = lpes.iter().enumerate().map(|(i, p)| (p, i)).collect();
    let in_rhs: BTreeMap<&Pe, usize> = rpes.iter().enumerate().map(|(i, p)| (p, i)).collect();
    let shared: Vec<&Pe> = rpes.iter().filter(|p| in_lhs.contains_key(p)).collect();
    let mut next_shared = 0;
    let mut merged: BTreeSet<&Pe> = BTreeSet::new();
    let mut out = Vec::new();
    let merge_item = |pe: &Pe, r: &Value| {
        let mut base = in_lhs
            .get(pe)
            .map(|&i| lhs[i].clone())
            .unwrap_or(Value::Null);
        if base.is_null() {
            r.clone()
        } else {
            merge(&mut base, r, item);
            base
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lpes[li];
            if *pe == rpes[ri] {
                merged.insert(pe);
                out.push(merge_item(pe, &rhs[ri]));
                if shared.get(next_shared) == Some(&pe) {
                    next_shared += 1;
                }
                li += 1;
                ri += 1;
                continue;
            }
            if in_rhs.contains_key(pe) && shared.get(next_shared).is_some_and(|s| *s != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lpes[li];
            if !in_rhs.contains_key(pe) {
                out.push(lhs[li].clone());
                li += 1;
                continue;
            } else if merged.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let pe = &rpes[ri];
            if merged.insert(pe) {
                out.push(merge_item(pe, &rhs[ri]));
            }
            if shared.get(next_shared) == Some(&pe) {
                next_shared += 1;
            }
            ri += 1;
        } else {
            li += 1;
        }
    }
    out
}

/// Decodes a `fieldsV1` tree into the set of paths it holds.
fn set_of_fields(fields: &Value) -> Set {
    fn walk(node: &Value, path: Path, out: &mut Set) {
        let Some(m) = node.as_object() else {
            return;
        };
        if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in m {
            if let Some(pe) = Pe::decode(k) {
                walk(child, with(&path, pe), out);
            }
        }
    }
    let mut out = Set::new();
    walk(fields, Vec::new(), &mut out);
    out
}

/// Encodes a set of paths as a `fieldsV1` tree, with `.` where a path is owned and has
/// owned children.
fn fields_of_set(set: &Set) -> Value {
    /// The tree node of `path`, made on the way (every node is an object).
    fn node<'m>(
        mut cur: &'m mut Map<String, Value>,
        path: &[Pe],
    ) -> Option<&'m mut Map<String, Value>> {
        for pe in path {
            cur = cur
                .entry(pe.encode())
                .or_insert_with(|| json!({}))
                .as_object_mut()?;
        }
        Some(cur)
    }
    let mut root = Map::new();
    for path in set {
        node(&mut root, path);
    }
    for path in set {
        if let Some(n) = node(&mut root, path)
            && !n.is_empty()
        {
            n.insert(".".into(), json!({}));
        }
    }
    Value::Object(root)
}

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    set: Set,
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
            set: v.get("fieldsV1").map(set_of_fields).unwrap_or_default(),
        })
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_of_set(&self.set),
        });
        if let Some(s) = &self.subresource {
            v["subresource"] = json!(s);
        }
        v
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
        .filter(|e| !e.set.is_empty())
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
    /// The kind's schema: how its lists merge and which objects are structs.
    pub schema: Schema<'a>,
}

/// Objects a built-in kind's Go zero value already has (non-pointer structs, and `containers`
/// which encodes as `null`): kube-apiserver compares a created object with that zero value,
/// so these get no `.` marker on create. Custom resources start from an empty object.
const ZERO_PRESENT: &[&[&str]] = &[
    &["spec"],
    &["status"],
    &["spec", "containers"],
    &["spec", "strategy"],
    &["spec", "updateStrategy"],
    &["spec", "template"],
    &["spec", "template", "metadata"],
    &["spec", "template", "spec"],
    &["spec", "template", "spec", "containers"],
    &["spec", "jobTemplate"],
    &["spec", "jobTemplate", "spec"],
    &["spec", "jobTemplate", "spec", "template"],
    &["spec", "jobTemplate", "spec", "template", "metadata"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
    &[
        "spec",
        "jobTemplate",
        "spec",
        "template",
        "spec",
        "containers",
    ],
];

static ZERO_OBJECT: Value = Value::Null;

/// The index a create compares with: the zero value's objects that the new object has too.
fn zero_index<'v>(new: &Index<'v>, w: &Writer<'_>) -> Index<'v> {
    if !matches!(w.schema, Schema::Typed(_)) {
        return Index::new();
    }
    ZERO_PRESENT
        .iter()
        .map(|p| {
            p.iter()
                .map(|s| Pe::Field((*s).to_string()))
                .collect::<Path>()
        })
        .filter_map(|p| match new.get(&p) {
            Some((_, false)) => Some((p, (&ZERO_OBJECT, false))),
            _ => None,
        })
        .collect()
}

/// Records a non-apply write (create, update, non-apply patch): the writer takes ownership of
/// every path it added or changed, others lose those, and removed paths are owned by no one.
/// `new` carries the ownership to start from (the live list, or one the request replaced it with).
pub(crate) fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer<'_>) {
    let mut all = entries(new);
    let root = w.schema.root();
    let (changed, removed) = {
        let new_index = index(new, root, w.scope);
        let old_index = match old {
            Some(o) => index(o, root, w.scope),
            None => zero_index(&new_index, w),
        };
        compare(&old_index, &new_index)
    };
    if changed.is_empty() && removed.is_empty() {
        store_entries(new, all);
        return;
    }
    let sub = w.scope.subresource();
    for e in all.iter_mut().filter(|e| !e.is(w.manager, "Update", sub)) {
        e.set
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    match all.iter_mut().find(|e| e.is(w.manager, "Update", sub)) {
        Some(e) => {
            e.set.retain(|p| !removed.contains(p));
            e.set.extend(changed);
            e.time = w.now.to_string();
            e.api_version = w.api_version.to_string();
        }
        None if !changed.is_empty() => all.push(Entry {
            manager: w.manager.to_string(),
            operation: "Update".into(),
            api_version: w.api_version.to_string(),
            time: w.now.to_string(),
            subresource: sub.map(String::from),
            set: changed,
        }),
        None => {}
    }
    store_entries(new, all);
}

/// Server-side apply of `applied` by `w.manager` onto `live` (an empty object when creating).
/// Conflicts with other managers' differing values are a 409 unless `force`; what the
/// manager applied before and no longer applies is removed unless a manager still owns it.
pub(crate) fn apply(
    live: &Value,
    applied: &Value,
    force: bool,
    w: &Writer<'_>,
) -> Result<Value, ApiError> {
    let root = w.schema.root();
    let mut all = entries(live);
    let sub = w.scope.subresource();
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
    let applied_paths = applied_set(&to_merge, root, w.scope).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("failed to create typed patch object: {e}"),
        )
    })?;

    let mut result = live.clone();
    merge(&mut result, &to_merge, root);

    let mine = match all.iter().position(|e| e.is(w.manager, "Apply", sub)) {
        Some(i) => i,
        None => {
            all.push(Entry {
                manager: w.manager.to_string(),
                operation: "Apply".into(),
                api_version: w.api_version.to_string(),
                time: w.now.to_string(),
                subresource: sub.map(String::from),
                set: Set::new(),
            });
            all.len() - 1
        }
    };
    let last = std::mem::replace(&mut all[mine].set, applied_paths);
    if all[mine].set != last {
        all[mine].time = w.now.to_string();
    }
    all[mine].api_version = w.api_version.to_string();

    // Prune: what this manager applied last time and nobody owns now goes. A struct field
    // stays while something below it is owned (SMD `EnsureNamedFieldsAreMembers`); a list
    // item only while the item itself is owned.
    let owned: Set = all.iter().flat_map(|e| e.set.iter().cloned()).collect();
    let gone: Set = last
        .into_iter()
        .filter(|p| {
            let owned_below = || {
                owned
                    .range(p.clone()..)
                    .next()
                    .is_some_and(|q| q.starts_with(p))
            };
            let kept =
                owned.contains(p) || (matches!(p.last(), Some(Pe::Field(_))) && owned_below());
            !kept
        })
        .collect();
    if !gone.is_empty() {
        remove_paths(&mut result, root, &gone);
    }

    let (changed, removed) = compare(&index(live, root, w.scope), &index(&result, root, w.scope));
    let mut conflicts: BTreeMap<(String, String), Vec<Path>> = BTreeMap::new();
    for (i, e) in all.iter().enumerate() {
        if i == mine {
            continue;
        }
        for p in e.set.intersection(&changed) {
            conflicts
                .entry((e.manager.clone(), e.api_version.clone()))
                .or_default()
                .push(p.clone());
        }
    }
    if !conflicts.is_empty() && !force && !upgrades_client_side_apply(live, &conflicts, w) {
        return Err(conflict_error(&conflicts));
    }
    for (i, e) in all.iter_mut().enumerate() {
        if i != mine {
            e.set
                .retain(|p| !changed.contains(p) && !removed.contains(p));
        }
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
    let allowed = index(&last_applied, w.schema.root(), w.scope);
    conflicts
        .values()
        .flatten()
        .all(|p| allowed.contains_key(p))
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
            schema: Schema::Deduced,
        }
    }

    #[test]
    fn fields_v1_round_trips_with_self_markers() {
        let fields = json!({
            "f:metadata": { "f:labels": { "f:a": {} } },
            "f:spec": { "f:containers": { "k:{\"name\":\"app\"}": { ".": {}, "f:name": {}, "f:ports": {
                "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": { ".": {}, "f:containerPort": {} } } } } },
            "f:finalizers": { "v:\"x\"": {} },
        });
        let set = set_of_fields(&fields);
        assert!(set.contains(&vec![
            Pe::Field("spec".into()),
            Pe::Field("containers".into()),
            Pe::Key(r#"{"name":"app"}"#.into())
        ]));
        assert_eq!(fields_of_set(&set), fields);
        assert_eq!(
            render(&[
                Pe::Field("spec".into()),
                Pe::Key(r#"{"containerPort":80,"protocol":"TCP"}"#.into()),
                Pe::Value("\"x\"".into())
            ]),
            r#".spec[containerPort=80,protocol="TCP"][="x"]"#
        );
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
