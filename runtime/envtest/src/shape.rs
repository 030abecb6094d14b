//! The shape of an object's fields as server-side apply and strategic merge patch see it:
//! which objects are structs (declared fields) and which are maps (free keys), which are
//! atomic, and how each list merges. Built-in kinds read it from their k8s-openapi schemas
//! plus the list table of [`crate::list_meta`]; custom resources from their CRD's structural
//! schema (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`);
//! anything without a schema is "deduced" as structured-merge-diff does: maps whose every key
//! is owned on its own, and atomic lists.

use std::sync::{Arc, LazyLock};

use serde_json::{Map, Value};

use crate::list_meta::{self, ListMeta, ListType};
use crate::registry::ResourceType;
use crate::typed::TypeSchemas;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The ObjectMeta schema, which custom resources' `metadata` follows too.
static META_SCHEMAS: LazyLock<Option<Arc<TypeSchemas>>> =
    LazyLock::new(|| crate::typed::schemas("", "ConfigMap"));

/// The schema of one kind.
#[derive(Debug, Clone)]
pub(crate) enum Schema<'a> {
    Deduced,
    Crd(&'a Value),
    Typed(Arc<TypeSchemas>),
}

impl<'a> Schema<'a> {
    pub fn of(rt: &'a ResourceType) -> Schema<'a> {
        if rt.custom {
            return rt.schema.as_ref().map_or(Schema::Deduced, Schema::Crd);
        }
        crate::typed::schemas(&rt.group, &rt.kind).map_or(Schema::Deduced, Schema::Typed)
    }

    /// The node of the whole object.
    pub fn root(&self) -> Node<'_> {
        match self {
            Schema::Deduced => Node::DEDUCED,
            Schema::Crd(s) => Node {
                kind: Kind::Crd {
                    node: s,
                    root: true,
                },
                meta: None,
            },
            Schema::Typed(t) => typed_def(&t.schemas, &t.name),
        }
    }
}

/// How a list merges, with its keys for map lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListKind<'a> {
    Atomic,
    Set,
    Map(Vec<&'a str>),
}

#[derive(Debug, Clone, Copy)]
enum Kind<'a> {
    Deduced,
    Crd {
        node: &'a Value,
        root: bool,
    },
    Typed {
        defs: &'a Map<String, Value>,
        /// The definition this node is, if it is one.
        def: Option<&'a str>,
        node: &'a Value,
    },
}

/// A place in a schema: the type of one value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'a> {
    kind: Kind<'a>,
    /// For built-ins, the list metadata of the property that led here.
    meta: Option<&'static ListMeta>,
}

fn resolve<'a>(defs: &'a Map<String, Value>, node: &'a Value) -> (Option<&'a str>, &'a Value) {
    let reference = node.get("$ref").or_else(|| match node.get("allOf") {
        Some(Value::Array(all)) if all.len() == 1 => all[0].get("$ref"),
        _ => None,
    });
    let name = reference
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next());
    match name.and_then(|n| defs.get_key_value(n)) {
        Some((n, d)) => (Some(n.as_str()), d),
        None => (None, node),
    }
}

fn typed_def<'a>(defs: &'a Map<String, Value>, name: &str) -> Node<'a> {
    match defs.get_key_value(name) {
        Some((n, node)) => Node {
            kind: Kind::Typed {
                defs,
                def: Some(n.as_str()),
                node,
            },
            meta: None,
        },
        None => Node::DEDUCED,
    }
}

impl<'a> Node<'a> {
    pub const DEDUCED: Node<'static> = Node {
        kind: Kind::Deduced,
        meta: None,
    };

    /// The type of `key` in this object, and whether it is a declared (struct) field rather
    /// than a map entry.
    pub fn child(&self, key: &str) -> (Node<'a>, bool) {
        match self.kind {
            Kind::Deduced => (Node::DEDUCED, false),
            Kind::Crd { node, root } => {
                if root && key == "metadata" {
                    let meta = META_SCHEMAS
                        .as_ref()
                        .map_or(Node::DEDUCED, |t| typed_def(&t.schemas, OBJECT_META));
                    return (meta, true);
                }
                if let Some(p) = node.get("properties").and_then(|p| p.get(key)) {
                    return (crd(p), true);
                }
                match node.get("additionalProperties") {
                    Some(ap @ Value::Object(_)) => (crd(ap), false),
                    _ => (Node::DEDUCED, false),
                }
            }
            Kind::Typed { defs, def, node } => {
                if let Some(p) = node.get("properties").and_then(|p| p.get(key)) {
                    let (d, n) = resolve(defs, p);
                    let meta = def.and_then(|def| list_meta::lookup(def, key));
                    return (
                        Node {
                            kind: Kind::Typed {
                                defs,
                                def: d,
                                node: n,
                            },
                            meta,
                        },
                        true,
                    );
                }
                match node.get("additionalProperties") {
                    Some(ap @ Value::Object(_)) => {
                        let (d, n) = resolve(defs, ap);
                        let kind = Kind::Typed {
                            defs,
                            def: d,
                            node: n,
                        };
                        (Node { kind, meta: None }, false)
                    }
                    _ => (Node::DEDUCED, false),
                }
            }
        }
    }

    /// The type of this list's items.
    pub fn items(&self) -> Node<'a> {
        match self.kind {
            Kind::Deduced => Node::DEDUCED,
            Kind::Crd { node, .. } => node.get("items").map_or(Node::DEDUCED, crd),
            Kind::Typed { defs, node, .. } => match node.get("items") {
                Some(items) => {
                    let (def, node) = resolve(defs, items);
                    Node {
                        kind: Kind::Typed { defs, def, node },
                        meta: None,
                    }
                }
                None => Node::DEDUCED,
            },
        }
    }

    /// How this list merges under server-side apply.
    pub fn list_kind(&self) -> ListKind<'a> {
        match self.kind {
            Kind::Deduced => ListKind::Atomic,
            Kind::Crd { node, .. } => {
                match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListKind::Set,
                    Some("map") => ListKind::Map(
                        node.get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default(),
                    ),
                    _ => ListKind::Atomic,
                }
            }
            Kind::Typed { .. } => match self.meta.map(|m| m.list_type) {
                Some(ListType::Set) => ListKind::Set,
                Some(ListType::Map(keys)) => ListKind::Map(keys.to_vec()),
                _ => ListKind::Atomic,
            },
        }
    }

    /// Whether this object is owned and replaced as a whole.
    pub fn atomic_map(&self) -> bool {
        match self.kind {
            Kind::Deduced => false,
            Kind::Crd { node, .. } => {
                node.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
            }
            Kind::Typed { def, .. } => def.is_some_and(list_meta::atomic_struct),
        }
    }

    /// The default of a key field of this (list item) type, which identifies items that
    /// omit it.
    pub fn key_default(&self, key: &str) -> Option<Value> {
        match self.kind {
            Kind::Deduced => None,
            Kind::Crd { node, .. } => node
                .get("properties")
                .and_then(|p| p.get(key))
                .and_then(|p| p.get("default"))
                .cloned(),
            Kind::Typed { def, .. } => def
                .and_then(|d| list_meta::key_default(d, key))
                .map(|v| Value::String(v.into())),
        }
    }

    /// How strategic merge patch merges this list: `Some(key)` to merge by that key (`""` for
    /// a set of scalars), `None` to replace it. Only built-in kinds take strategic patches.
    pub fn patch_merge_key(&self) -> Option<&'static str> {
        self.meta
            .filter(|m| m.patch_strategy.split(',').any(|s| s == "merge"))
            .map(|m| m.patch_merge_key)
    }
}

fn crd(node: &Value) -> Node<'_> {
    Node {
        kind: Kind::Crd { node, root: false },
        meta: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn built_in_lists_follow_the_table() {
        let registry = Registry::new();
        let rt = registry.find("apps", "v1", "deployments").unwrap();
        let schema = Schema::of(rt);
        let spec = schema.root().child("spec").0;
        let pod = spec.child("template").0.child("spec").0;
        let containers = pod.child("containers").0;
        assert_eq!(containers.list_kind(), ListKind::Map(vec!["name"]));
        assert_eq!(containers.patch_merge_key(), Some("name"));
        let ports = containers.items().child("ports").0;
        assert_eq!(
            ports.list_kind(),
            ListKind::Map(vec!["containerPort", "protocol"])
        );
        assert_eq!(
            ports.items().key_default("protocol"),
            Some(Value::String("TCP".into()))
        );
        assert!(spec.child("selector").0.atomic_map());
        let (labels, declared) = schema.root().child("metadata").0.child("labels");
        assert!(declared);
        assert!(!labels.child("app").1, "label keys are map entries");
        assert_eq!(pod.child("tolerations").0.list_kind(), ListKind::Atomic);
    }
}
