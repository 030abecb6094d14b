//! OpenAPI v3 discovery (`/openapi/v3`) and per-group-version documents. kubectl's default
//! `--validate=strict` reads them to learn that the server supports `fieldValidation`, and
//! `kubectl explain` reads the schemas: a CRD's own, or for the built-in kinds the schemas
//! k8s-openapi derives from kube-apiserver's own OpenAPI (under the same `io.k8s.*` names).

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceType};

pub(crate) fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The component name of a kind's schema: k8s-openapi's (kube-apiserver's) for built-ins,
/// `group.version.kind` for CRDs. (kube-apiserver reverses a CRD's group labels,
/// `com.example.stable.v1.CronTab`, as the v2 document does; the v3 name is kept as published
/// so far.)
pub(crate) fn schema_name(t: &ResourceType) -> String {
    if !t.custom
        && let Some(typed) = crate::typed::schemas(&t.group, &t.kind)
    {
        return typed.name.clone();
    }
    let group = if t.group.is_empty() {
        "core".to_string()
    } else {
        t.group.clone()
    };
    format!("{group}.{}.{}", t.version, t.kind)
}

/// Adds the list metadata of [`crate::list_meta`] to the schemas present, as kube-apiserver
/// publishes it: `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key` (kubectl
/// computes client-side apply patches from them once the PATCH operation accepts strategic
/// merge patches), `x-kubernetes-list-type`/`x-kubernetes-list-map-keys`, and
/// `x-kubernetes-map-type: atomic` on atomic structs. k8s-openapi's schemas carry none of them.
pub(crate) fn add_patch_meta(schemas: &mut Map<String, Value>) {
    use crate::list_meta::{ATOMIC_STRUCTS, LISTS, ListType};
    for m in LISTS {
        let Some(prop) = schemas
            .get_mut(m.definition)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(m.property))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if !m.patch_strategy.is_empty() {
            prop.insert(
                "x-kubernetes-patch-strategy".into(),
                json!(m.patch_strategy),
            );
        }
        if !m.patch_merge_key.is_empty() {
            prop.insert(
                "x-kubernetes-patch-merge-key".into(),
                json!(m.patch_merge_key),
            );
        }
        if prop.get("type").and_then(Value::as_str) == Some("array") {
            match m.list_type {
                ListType::Atomic => {
                    prop.insert("x-kubernetes-list-type".into(), json!("atomic"));
                }
                ListType::Set => {
                    prop.insert("x-kubernetes-list-type".into(), json!("set"));
                }
                ListType::Map(keys) => {
                    prop.insert("x-kubernetes-list-type".into(), json!("map"));
                    prop.insert("x-kubernetes-list-map-keys".into(), json!(keys));
                }
            }
        }
    }
    for name in ATOMIC_STRUCTS {
        if let Some(Value::Object(def)) = schemas.get_mut(*name) {
            def.insert("x-kubernetes-map-type".into(), json!("atomic"));
        }
    }
}

fn query_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": { "type": "string", "uniqueItems": true } })
}

fn operation(
    t: &ResourceType,
    action: &str,
    id: String,
    params: Vec<Value>,
    with_body: bool,
) -> Value {
    let schema_ref = json!({ "$ref": format!("#/components/schemas/{}", schema_name(t)) });
    let mut op = json!({
        "operationId": id,
        "tags": [gv_path(&t.group, &t.version).replace('/', "_")],
        "parameters": params,
        "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": schema_ref } } } },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": { "group": t.group, "version": t.version, "kind": t.kind },
    });
    if with_body {
        let content = if action == "patch" {
            let mut types = json!({
                "application/json-patch+json": { "schema": { "type": "object" } },
                "application/merge-patch+json": { "schema": { "type": "object" } },
                "application/apply-patch+yaml": { "schema": { "type": "object" } },
            });
            // kubectl computes client-side apply patches from this document's schemas (and
            // their patch metadata) when the kind accepts strategic merge patches, which
            // kube-apiserver does for built-in kinds only.
            if !t.custom {
                types["application/strategic-merge-patch+json"] =
                    json!({ "schema": { "type": "object" } });
            }
            types
        } else {
            json!({ "application/json": { "schema": schema_ref } })
        };
        op["requestBody"] = json!({ "content": content, "required": true });
    }
    op
}

/// A CRD's own schema when it has one (so `kubectl explain` shows its fields), else a
/// placeholder object that accepts anything (a CRD version without a schema).
pub(crate) fn schema_for(t: &ResourceType) -> Value {
    let gvk = json!([{ "group": t.group, "version": t.version, "kind": t.kind }]);
    let mut schema = match &t.schema {
        Some(Value::Object(s)) => Value::Object(s.clone()),
        _ => json!({
            "type": "object",
            "description": format!("{} ({}). The schema is not published by this test server.", t.kind, t.api_version()),
            "x-kubernetes-preserve-unknown-fields": true,
        }),
    };
    if !schema.get("properties").is_some_and(Value::is_object) {
        schema["properties"] = json!({});
    }
    let defaults = [
        (
            "apiVersion",
            json!({ "type": "string", "description": "APIVersion defines the versioned schema of this representation of an object." }),
        ),
        (
            "kind",
            json!({ "type": "string", "description": "Kind is a string value representing the REST resource this object represents." }),
        ),
        (
            "metadata",
            json!({ "type": "object", "description": "Standard object's metadata.", "x-kubernetes-preserve-unknown-fields": true }),
        ),
    ];
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, default) in defaults {
            props.entry(name).or_insert(default);
        }
    }
    schema["x-kubernetes-group-version-kind"] = gvk;
    schema
}

/// The OpenAPI v3 document of one group-version, or `None` if nothing is served there.
pub(crate) fn gv_doc(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types = registry.types_in(group, version);
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for t in types {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let (collection, item) = if t.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", t.plural),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural),
            )
        } else {
            (
                format!("{prefix}/{}", t.plural),
                format!("{prefix}/{}/{{name}}", t.plural),
            )
        };
        let write_params = || {
            vec![
                query_param(
                    "dryRun",
                    "When present, indicates that modifications should not be persisted.",
                ),
                query_param(
                    "fieldManager",
                    "fieldManager is a name associated with the actor or entity that is making these changes.",
                ),
                query_param(
                    "fieldValidation",
                    "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
                ),
            ]
        };
        let mut patch_params = write_params();
        patch_params.push(query_param(
            "force",
            "Force is going to \"force\" Apply requests.",
        ));
        let kind = &t.kind;
        paths.insert(
            collection,
            json!({
                "get": operation(t, "list", format!("list{kind}"), vec![
                    query_param("labelSelector", "A selector to restrict the list of returned objects by their labels."),
                    query_param("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
                ], false),
                "post": operation(t, "post", format!("create{kind}"), write_params(), true),
            }),
        );
        paths.insert(
            item,
            json!({
                "get": operation(t, "get", format!("read{kind}"), vec![], false),
                "put": operation(t, "put", format!("replace{kind}"), write_params(), true),
                "patch": operation(t, "patch", format!("patch{kind}"), patch_params, true),
                "delete": operation(t, "delete", format!("delete{kind}"), vec![query_param("dryRun", "")], false),
            }),
        );
        match crate::typed::schemas(&t.group, &t.kind).filter(|_| !t.custom) {
            // A built-in: its k8s-openapi schema and everything it references.
            Some(typed) => {
                for (name, schema) in &typed.schemas {
                    schemas.insert(name.clone(), schema.clone());
                }
                if let Some(own) = schemas.get_mut(&typed.name) {
                    own["x-kubernetes-group-version-kind"] =
                        json!([{ "group": t.group, "version": t.version, "kind": t.kind }]);
                }
            }
            None => {
                schemas.insert(schema_name(t), schema_for(t));
            }
        }
    }
    add_patch_meta(&mut schemas);
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": format!("v1.{}.0", crate::discovery::kubernetes_minor()) },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}

pub(crate) fn doc_hash(doc: &Value) -> String {
    let mut h = DefaultHasher::new();
    doc.to_string().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// `/openapi/v3`: where each group-version's document lives, with a content hash for caching.
pub(crate) fn root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            if let Some(doc) = gv_doc(registry, &group, &version) {
                let p = gv_path(&group, &version);
                paths.insert(p.clone(), json!({ "serverRelativeURL": format!("/openapi/v3/{p}?hash={}", doc_hash(&doc)) }));
            }
        }
    }
    json!({ "paths": paths })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    /// Every built-in group-version document is self-contained: each `$ref` names a component
    /// of the same document, and each kind's schema carries its group-version-kind.
    #[test]
    fn builtin_documents_resolve_every_reference() {
        let registry = Registry::new();
        for (group, versions) in registry.groups() {
            for version in versions {
                let doc = gv_doc(&registry, &group, &version).unwrap();
                let schemas = doc["components"]["schemas"].as_object().unwrap();
                let mut found = Vec::new();
                refs(&doc, &mut found);
                for r in found {
                    let name = r.strip_prefix("#/components/schemas/").unwrap();
                    assert!(schemas.contains_key(name), "{group}/{version}: {r}");
                }
                for t in registry.types_in(&group, &version) {
                    let own = &schemas[&schema_name(t)];
                    assert_eq!(
                        own["x-kubernetes-group-version-kind"][0]["kind"], t.kind,
                        "{group}/{version}"
                    );
                }
            }
        }
        let apps = gv_doc(&registry, "apps", "v1").unwrap();
        let spec = &apps["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"];
        assert_eq!(spec["properties"]["replicas"]["type"], "integer");
    }
}
