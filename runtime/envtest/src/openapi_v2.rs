//! OpenAPI v2 (`/openapi/v2`): one Swagger 2.0 document for everything served, converted from
//! the same schemas as the v3 documents, as JSON or as gnostic's `openapi.v2.Document`
//! protobuf (what client-go's `discovery.OpenAPISchema()` asks for; kubectl reads it for
//! client-side apply patches and `kubectl explain --output=plaintext-openapiv2`).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::openapi::{add_patch_meta, gv_path, schema_for};
use crate::registry::{Registry, ResourceType};

/// The media type client-go asks for (kube-openapi still accepts it, "deprecated").
const PROTOBUF_DEPRECATED: &str = "com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The media type kube-openapi answers protobuf with: `@` is not valid in a media type, and
/// client-go fails on a Content-Type that `mime.ParseMediaType` rejects.
const PROTOBUF: &str = "com.github.proto-openapi.spec.v2.v1.0+protobuf";

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The definition name of a kind's schema, as kube-apiserver names it: k8s-openapi's names
/// (which are kube-apiserver's) for built-ins; for a CRD its `group/version.kind` with the
/// group's labels reversed, as kube-openapi's `ToRESTFriendlyName` makes it
/// (`stable.example.com/v1.CronTab` -> `com.example.stable.v1.CronTab`).
pub(crate) fn definition_name(t: &ResourceType) -> String {
    if !t.custom
        && let Some(typed) = crate::typed::schemas(&t.group, &t.kind)
    {
        return typed.name.clone();
    }
    let group: Vec<&str> = if t.group.is_empty() {
        vec!["core"]
    } else {
        t.group.split('.').rev().collect()
    };
    format!("{}.{}.{}", group.join("."), t.version, t.kind)
}

fn gvk(t: &ResourceType) -> Value {
    json!({ "group": t.group, "version": t.version, "kind": t.kind })
}

/// A v3 schema as Swagger 2.0 has it, the way kube-openapi converts: references point into
/// `#/definitions`, a single-element `allOf` around a reference becomes the reference itself
/// (keeping its description and extensions, as kube-apiserver's v2 does), `nullable` goes,
/// `oneOf`/`anyOf`/`not` (absent from Swagger 2.0) go, and int-or-string is
/// `type: string, format: int-or-string`.
pub(crate) fn to_v2(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match k.as_str() {
                    "$ref" => {
                        let r = v.as_str().unwrap_or_default();
                        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
                        out.insert(k.clone(), json!(format!("#/definitions/{name}")));
                    }
                    "nullable" | "oneOf" | "anyOf" | "not" => {}
                    "properties" | "patternProperties" => {
                        let props = v
                            .as_object()
                            .map(|p| p.iter().map(|(n, s)| (n.clone(), to_v2(s))).collect())
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    // Data, not schemas.
                    "default" | "enum" | "example" => {
                        out.insert(k.clone(), v.clone());
                    }
                    _ if k.starts_with("x-") => {
                        out.insert(k.clone(), v.clone());
                    }
                    _ => {
                        out.insert(k.clone(), to_v2(v));
                    }
                }
            }
            if let Some(Value::Array(all)) = out.get("allOf")
                && let [only] = all.as_slice()
                && only.get("$ref").is_some()
                && !out.contains_key("properties")
                && !out.contains_key("type")
            {
                let only = only.clone();
                out.remove("allOf");
                // A reference with a default is how Go zero-value defaults appear; v2
                // references carry no default.
                out.remove("default");
                if let Value::Object(inner) = only {
                    out.extend(inner);
                }
            }
            if out.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                && !out.contains_key("type")
            {
                out.insert("type".into(), json!("string"));
                out.insert("format".into(), json!("int-or-string"));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_v2).collect()),
        other => other.clone(),
    }
}

/// Every served kind's schema and what it references, named as kube-apiserver names them.
fn definitions(registry: &Registry) -> Map<String, Value> {
    let mut defs = Map::new();
    let typed = |t: &ResourceType| crate::typed::schemas(&t.group, &t.kind).filter(|_| !t.custom);
    for t in registry.all() {
        if let Some(typed) = typed(t) {
            for (name, schema) in &typed.schemas {
                defs.entry(name.clone()).or_insert_with(|| to_v2(schema));
            }
            if let Some(own) = defs.get_mut(&typed.name) {
                add_gvk(own, t);
            }
        }
    }
    add_patch_meta(&mut defs);
    // CRDs, and any built-in without a typed schema (an open object, as in v3).
    for t in registry.all().filter(|t| typed(t).is_none()) {
        let mut schema = to_v2(&schema_for(t));
        // kube-apiserver publishes a custom resource's metadata as the full ObjectMeta.
        if defs.contains_key(OBJECT_META)
            && let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut)
        {
            props.insert(
                "metadata".into(),
                json!({ "$ref": format!("#/definitions/{OBJECT_META}"), "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata" }),
            );
        }
        defs.insert(definition_name(t), schema);
    }
    defs
}

fn add_gvk(schema: &mut Value, t: &ResourceType) {
    match schema.get_mut("x-kubernetes-group-version-kind") {
        Some(Value::Array(list)) if !list.contains(&gvk(t)) => list.push(gvk(t)),
        Some(Value::Array(_)) => {}
        _ => schema["x-kubernetes-group-version-kind"] = json!([gvk(t)]),
    }
}

/// kube-openapi's operation ids: verb, the group in CamelCase without `.k8s.io` (`Core` for
/// the core group), the version, `Namespaced` for namespaced kinds, the kind.
fn operation_id(verb: &str, t: &ResourceType) -> String {
    let group = if t.group.is_empty() {
        "core"
    } else {
        t.group.strip_suffix(".k8s.io").unwrap_or(&t.group)
    };
    let camel: String = group
        .split(['.', '-'])
        .chain(std::iter::once(t.version.as_str()))
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    let ns = if t.namespaced { "Namespaced" } else { "" };
    format!("{verb}{camel}{ns}{}", t.kind)
}

fn query(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "description": description, "type": "string", "uniqueItems": true })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "description": description, "required": true, "type": "string", "uniqueItems": true })
}

fn write_params() -> Vec<Value> {
    vec![
        query(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        query(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        query(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
        ),
    ]
}

fn operation(t: &ResourceType, action: &str, id: String, mut params: Vec<Value>) -> Value {
    let schema = json!({ "$ref": format!("#/definitions/{}", definition_name(t)) });
    let consumes = match action {
        // kube-apiserver accepts strategic merge patches for built-in kinds only.
        "patch" if t.custom => json!([
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml"
        ]),
        "patch" => json!([
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml"
        ]),
        _ => json!(["*/*"]),
    };
    if matches!(action, "post" | "put" | "patch") {
        let body_schema = if action == "patch" {
            json!({ "type": "object" })
        } else {
            schema.clone()
        };
        params.insert(
            0,
            json!({ "name": "body", "in": "body", "required": true, "schema": body_schema }),
        );
    }
    let ok = match action {
        "list" | "delete" => json!({ "description": "OK" }),
        _ => json!({ "description": "OK", "schema": schema }),
    };
    json!({
        "description": format!("{action} {}", t.kind),
        "consumes": consumes,
        "produces": ["application/json", "application/yaml"],
        "schemes": ["https"],
        "tags": [gv_path(&t.group, &t.version).replace(['/', '.'], "_")],
        "operationId": id,
        "parameters": params,
        "responses": { "200": ok, "401": { "description": "Unauthorized" } },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(t),
    })
}

fn paths(registry: &Registry) -> Map<String, Value> {
    let mut paths = Map::new();
    for t in registry.all() {
        let prefix = format!("/{}", gv_path(&t.group, &t.version));
        let ns = if t.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let collection = format!("{prefix}{ns}/{}", t.plural);
        let item = format!("{collection}/{{name}}");
        let mut scope = Vec::new();
        if t.namespaced {
            scope.push(path_param(
                "namespace",
                "object name and auth scope, such as for teams and projects",
            ));
        }
        let mut item_scope = scope.clone();
        item_scope.insert(0, path_param("name", &format!("name of the {}", t.kind)));
        let mut patch_params = write_params();
        patch_params.push(query(
            "force",
            "Force is going to \"force\" Apply requests.",
        ));
        let list_params = vec![
            query(
                "labelSelector",
                "A selector to restrict the list of returned objects by their labels.",
            ),
            query(
                "fieldSelector",
                "A selector to restrict the list of returned objects by their fields.",
            ),
        ];
        paths.insert(
            collection,
            json!({
                "get": operation(t, "list", operation_id("list", t), list_params),
                "post": operation(t, "post", operation_id("create", t), write_params()),
                "parameters": scope,
            }),
        );
        paths.insert(
            item,
            json!({
                "get": operation(t, "get", operation_id("read", t), vec![]),
                "put": operation(t, "put", operation_id("replace", t), write_params()),
                "patch": operation(t, "patch", operation_id("patch", t), patch_params),
                "delete": operation(t, "delete", operation_id("delete", t), vec![query("dryRun", "When present, indicates that modifications should not be persisted.")]),
                "parameters": item_scope,
            }),
        );
    }
    paths
}

/// The Swagger 2.0 document of everything the registry serves.
pub(crate) fn document(registry: &Registry) -> Value {
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": format!("v1.{}.0", crate::discovery::kubernetes_minor()) },
        "paths": paths(registry),
        "definitions": definitions(registry),
    })
}

/// One built document in both encodings.
#[derive(Debug)]
struct Built {
    json: Bytes,
    protobuf: Bytes,
    etag: String,
}

/// What the document depends on: the served types, and each CRD's schema.
fn fingerprint(registry: &Registry) -> u64 {
    let mut h = DefaultHasher::new();
    for t in registry.all() {
        (
            &t.group,
            &t.version,
            &t.kind,
            &t.plural,
            t.namespaced,
            t.custom,
        )
            .hash(&mut h);
        t.schema.as_ref().map(Value::to_string).hash(&mut h);
    }
    h.finish()
}

/// Built documents by registry fingerprint: building one converts every built-in schema, so
/// it is done once per set of installed CRDs (a CRD change changes the fingerprint).
fn built(registry: &Registry) -> Arc<Built> {
    /// A bound on distinct CRD sets remembered (tests install many); beyond it, start over.
    const KEEP: usize = 16;
    static CACHE: LazyLock<Mutex<HashMap<u64, Arc<Built>>>> = LazyLock::new(Mutex::default);
    let key = fingerprint(registry);
    if let Some(found) = CACHE.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return found;
    }
    let doc = document(registry);
    let json = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    let protobuf = Bytes::from(pb::document(&doc));
    let mut h = DefaultHasher::new();
    json.hash(&mut h);
    let built = Arc::new(Built {
        etag: format!("\"{:016X}\"", h.finish()),
        json,
        protobuf,
    });
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= KEEP {
            cache.clear();
        }
        cache.insert(key, built.clone());
    }
    built
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Protobuf,
}

/// Content negotiation as kube-openapi's handler: clauses by quality (then specificity), the
/// first one JSON or protobuf satisfies wins; a missing Accept is `*/*` (JSON).
fn negotiate(accept: &str) -> Option<Format> {
    let accept = if accept.trim().is_empty() {
        "*/*"
    } else {
        accept
    };
    let mut clauses: Vec<(f32, u8, &str, &str)> = accept
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';');
            let media = parts.next()?.trim();
            let (ty, sub) = media.split_once('/')?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let specificity = u8::from(ty != "*") + u8::from(sub != "*");
            Some((q, specificity, ty.trim(), sub.trim()))
        })
        .filter(|(q, ..)| *q > 0.0)
        .collect();
    clauses.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    let offered = [
        ("json", Format::Json),
        (PROTOBUF_DEPRECATED, Format::Protobuf),
        (PROTOBUF, Format::Protobuf),
    ];
    clauses.iter().find_map(|(_, _, ty, sub)| {
        if *ty != "application" && *ty != "*" {
            return None;
        }
        offered
            .iter()
            .find(|(s, _)| sub == s || *sub == "*")
            .map(|(_, f)| *f)
    })
}

/// `GET /openapi/v2`: JSON or protobuf by Accept, 406 (empty, as kube-openapi) otherwise,
/// with an ETag and 304 for a matching `If-None-Match`.
pub(crate) fn serve(registry: &Registry, headers: &HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(format) = negotiate(accept) else {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    };
    let built = built(registry);
    let (body, content_type) = match format {
        Format::Json => (built.json.clone(), "application/json".to_string()),
        Format::Protobuf => (built.protobuf.clone(), format!("application/{PROTOBUF}")),
    };
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim() == built.etag));
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, Body::from(body)).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&built.etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// The gnostic `openapi.v2` protobuf encoding (field numbers of gnostic's
/// `openapiv2/OpenAPIv2.proto`) of a Swagger 2.0 JSON document, as gnostic's `ParseDocument`
/// followed by `proto.Marshal` produces it: JSON values of `default`, `enum`, `example` and
/// vendor extensions travel as `Any { yaml }` (JSON is YAML), proto3 defaults are omitted.
mod pb {
    use serde_json::{Map, Value};

    /// A protobuf message being written.
    #[derive(Default)]
    pub(super) struct Msg(pub Vec<u8>);

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    impl Msg {
        fn key(&mut self, field: u32, wire: u8) {
            varint(&mut self.0, (u64::from(field) << 3) | u64::from(wire));
        }
        fn bytes(&mut self, field: u32, b: &[u8]) {
            self.key(field, 2);
            varint(&mut self.0, b.len() as u64);
            self.0.extend_from_slice(b);
        }
        /// A string field; proto3 omits the empty string.
        fn str(&mut self, field: u32, s: &str) {
            if !s.is_empty() {
                self.bytes(field, s.as_bytes());
            }
        }
        fn msg(&mut self, field: u32, m: Msg) {
            self.bytes(field, &m.0);
        }
        fn bool(&mut self, field: u32, b: bool) {
            if b {
                self.key(field, 0);
                varint(&mut self.0, 1);
            }
        }
        fn int64(&mut self, field: u32, v: i64) {
            if v != 0 {
                self.key(field, 0);
                // Negative int64s are their two's complement, ten bytes long.
                varint(&mut self.0, v as u64);
            }
        }
        fn double(&mut self, field: u32, v: f64) {
            if v != 0.0 {
                self.key(field, 1);
                self.0.extend_from_slice(&v.to_le_bytes());
            }
        }
        fn str_field(&mut self, field: u32, obj: &Map<String, Value>, name: &str) {
            if let Some(s) = obj.get(name).and_then(Value::as_str) {
                self.str(field, s);
            }
        }
        fn bool_field(&mut self, field: u32, obj: &Map<String, Value>, name: &str) {
            if let Some(b) = obj.get(name).and_then(Value::as_bool) {
                self.bool(field, b);
            }
        }
        fn int_field(&mut self, field: u32, obj: &Map<String, Value>, name: &str) {
            if let Some(i) = obj.get(name).and_then(Value::as_i64) {
                self.int64(field, i);
            }
        }
        fn double_field(&mut self, field: u32, obj: &Map<String, Value>, name: &str) {
            if let Some(d) = obj.get(name).and_then(Value::as_f64) {
                self.double(field, d);
            }
        }
        fn strings_field(&mut self, field: u32, obj: &Map<String, Value>, name: &str) {
            for s in strings(obj.get(name)) {
                self.str(field, s);
            }
        }
        fn any_field(&mut self, field: u32, obj: &Map<String, Value>, name: &str) {
            if let Some(v) = obj.get(name) {
                self.msg(field, any(v));
            }
        }
        /// `repeated NamedAny vendor_extension`: every `x-` key.
        fn extensions(&mut self, field: u32, obj: &Map<String, Value>) {
            for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
                let mut named = Msg::default();
                named.str(1, k);
                named.msg(2, any(v));
                self.msg(field, named);
            }
        }
    }

    fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    fn empty() -> Map<String, Value> {
        Map::new()
    }

    /// `Any { yaml = 2 }`.
    fn any(v: &Value) -> Msg {
        let mut m = Msg::default();
        m.str(2, &v.to_string());
        m
    }

    pub(super) fn document(doc: &Value) -> Vec<u8> {
        let e = empty();
        let d = doc.as_object().unwrap_or(&e);
        let mut m = Msg::default();
        m.str_field(1, d, "swagger");
        if let Some(Value::Object(info)) = d.get("info") {
            let mut i = Msg::default();
            i.str_field(1, info, "title");
            i.str_field(2, info, "version");
            i.str_field(3, info, "description");
            i.extensions(7, info);
            m.msg(2, i);
        }
        m.str_field(3, d, "host");
        m.str_field(4, d, "basePath");
        m.strings_field(5, d, "schemes");
        m.strings_field(6, d, "consumes");
        m.strings_field(7, d, "produces");
        if let Some(Value::Object(paths)) = d.get("paths") {
            let mut p = Msg::default();
            p.extensions(1, paths);
            for (name, item) in paths.iter().filter(|(k, _)| !k.starts_with("x-")) {
                let mut named = Msg::default();
                named.str(1, name);
                named.msg(2, path_item(item.as_object().unwrap_or(&e)));
                p.msg(2, named);
            }
            m.msg(8, p);
        }
        if let Some(Value::Object(defs)) = d.get("definitions") {
            m.msg(9, named_schemas(defs));
        }
        m.extensions(16, d);
        m.0
    }

    /// `Definitions` and `Properties` alike: `repeated NamedSchema additional_properties = 1`.
    fn named_schemas(map: &Map<String, Value>) -> Msg {
        let mut m = Msg::default();
        for (name, s) in map {
            let mut named = Msg::default();
            named.str(1, name);
            named.msg(2, schema(s));
            m.msg(1, named);
        }
        m
    }

    fn path_item(p: &Map<String, Value>) -> Msg {
        let mut m = Msg::default();
        m.str_field(1, p, "$ref");
        for (field, verb) in [
            (2, "get"),
            (3, "put"),
            (4, "post"),
            (5, "delete"),
            (6, "options"),
            (7, "head"),
            (8, "patch"),
        ] {
            if let Some(Value::Object(op)) = p.get(verb) {
                m.msg(field, operation(op));
            }
        }
        for param in p
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            m.msg(9, parameters_item(param));
        }
        m.extensions(10, p);
        m
    }

    fn operation(o: &Map<String, Value>) -> Msg {
        let mut m = Msg::default();
        m.strings_field(1, o, "tags");
        m.str_field(2, o, "summary");
        m.str_field(3, o, "description");
        m.str_field(5, o, "operationId");
        m.strings_field(6, o, "produces");
        m.strings_field(7, o, "consumes");
        for param in o
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            m.msg(8, parameters_item(param));
        }
        if let Some(Value::Object(responses)) = o.get("responses") {
            let mut r = Msg::default();
            for (code, resp) in responses.iter().filter(|(k, _)| !k.starts_with("x-")) {
                let Value::Object(resp) = resp else { continue };
                let mut response = Msg::default();
                response.str_field(1, resp, "description");
                if let Some(s) = resp.get("schema") {
                    // `SchemaItem { schema = 1 }`.
                    let mut item = Msg::default();
                    item.msg(1, schema(s));
                    response.msg(2, item);
                }
                response.extensions(5, resp);
                // `ResponseValue { response = 1 }` named by its code.
                let mut value = Msg::default();
                value.msg(1, response);
                let mut named = Msg::default();
                named.str(1, code);
                named.msg(2, value);
                r.msg(1, named);
            }
            r.extensions(2, responses);
            m.msg(9, r);
        }
        m.strings_field(10, o, "schemes");
        m.bool_field(11, o, "deprecated");
        m.extensions(13, o);
        m
    }

    /// `ParametersItem { Parameter parameter = 1; JsonReference json_reference = 2 }`, a
    /// `Parameter` being `{ BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2 }`.
    fn parameters_item(v: &Value) -> Msg {
        let e = empty();
        let p = v.as_object().unwrap_or(&e);
        let mut item = Msg::default();
        if let Some(r) = p.get("$ref").and_then(Value::as_str) {
            let mut reference = Msg::default();
            reference.str(1, r);
            reference.str_field(2, p, "description");
            item.msg(2, reference);
            return item;
        }
        let mut parameter = Msg::default();
        match p.get("in").and_then(Value::as_str).unwrap_or_default() {
            "body" => {
                let mut b = Msg::default();
                b.str_field(1, p, "description");
                b.str_field(2, p, "name");
                b.str_field(3, p, "in");
                b.bool_field(4, p, "required");
                if let Some(s) = p.get("schema") {
                    b.msg(5, schema(s));
                }
                b.extensions(6, p);
                parameter.msg(1, b);
            }
            location => {
                // NonBodyParameter's oneof: header = 1, formData = 2, query = 3, path = 4.
                // Query and formData carry `allow_empty_value = 5`, shifting later fields by one.
                let (which, shift) = match location {
                    "header" => (1, 0),
                    "formData" => (2, 1),
                    "path" => (4, 0),
                    _ => (3, 1),
                };
                let mut s = Msg::default();
                s.bool_field(1, p, "required");
                s.str_field(2, p, "in");
                s.str_field(3, p, "description");
                s.str_field(4, p, "name");
                if shift == 1 {
                    s.bool_field(5, p, "allowEmptyValue");
                }
                s.str_field(5 + shift, p, "type");
                s.str_field(6 + shift, p, "format");
                s.str_field(8 + shift, p, "collectionFormat");
                s.any_field(9 + shift, p, "default");
                s.double_field(10 + shift, p, "maximum");
                s.bool_field(11 + shift, p, "exclusiveMaximum");
                s.double_field(12 + shift, p, "minimum");
                s.bool_field(13 + shift, p, "exclusiveMinimum");
                s.int_field(14 + shift, p, "maxLength");
                s.int_field(15 + shift, p, "minLength");
                s.str_field(16 + shift, p, "pattern");
                s.int_field(17 + shift, p, "maxItems");
                s.int_field(18 + shift, p, "minItems");
                s.bool_field(19 + shift, p, "uniqueItems");
                for v in p
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    s.msg(20 + shift, any(v));
                }
                s.double_field(21 + shift, p, "multipleOf");
                s.extensions(22 + shift, p);
                let mut non_body = Msg::default();
                non_body.msg(which, s);
                parameter.msg(2, non_body);
            }
        }
        item.msg(1, parameter);
        item
    }

    pub(super) fn schema(v: &Value) -> Msg {
        let e = empty();
        let s = v.as_object().unwrap_or(&e);
        let mut m = Msg::default();
        m.str_field(1, s, "$ref");
        m.str_field(2, s, "format");
        m.str_field(3, s, "title");
        m.str_field(4, s, "description");
        m.any_field(5, s, "default");
        m.double_field(6, s, "multipleOf");
        m.double_field(7, s, "maximum");
        m.bool_field(8, s, "exclusiveMaximum");
        m.double_field(9, s, "minimum");
        m.bool_field(10, s, "exclusiveMinimum");
        m.int_field(11, s, "maxLength");
        m.int_field(12, s, "minLength");
        m.str_field(13, s, "pattern");
        m.int_field(14, s, "maxItems");
        m.int_field(15, s, "minItems");
        m.bool_field(16, s, "uniqueItems");
        m.int_field(17, s, "maxProperties");
        m.int_field(18, s, "minProperties");
        m.strings_field(19, s, "required");
        for v in s
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            m.msg(20, any(v));
        }
        // `AdditionalPropertiesItem { Schema schema = 1; bool boolean = 2 }`.
        match s.get("additionalProperties") {
            Some(Value::Bool(b)) => {
                let mut a = Msg::default();
                // A oneof member is written even when it holds the default `false`.
                a.key(2, 0);
                varint(&mut a.0, u64::from(*b));
                m.msg(21, a);
            }
            Some(sub @ Value::Object(_)) => {
                let mut a = Msg::default();
                a.msg(1, schema(sub));
                m.msg(21, a);
            }
            _ => {}
        }
        // `TypeItem { repeated string value = 1 }`, from a string or a list of them.
        match s.get("type") {
            Some(Value::String(t)) => {
                let mut ty = Msg::default();
                ty.str(1, t);
                m.msg(22, ty);
            }
            Some(list @ Value::Array(_)) => {
                let mut ty = Msg::default();
                for t in strings(Some(list)) {
                    ty.str(1, t);
                }
                m.msg(22, ty);
            }
            _ => {}
        }
        // `ItemsItem { repeated Schema schema = 1 }`, from a schema or a list of them.
        match s.get("items") {
            Some(Value::Array(list)) => {
                let mut items = Msg::default();
                for sub in list {
                    items.msg(1, schema(sub));
                }
                m.msg(23, items);
            }
            Some(sub @ Value::Object(_)) => {
                let mut items = Msg::default();
                items.msg(1, schema(sub));
                m.msg(23, items);
            }
            _ => {}
        }
        for sub in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            m.msg(24, schema(sub));
        }
        if let Some(Value::Object(props)) = s.get("properties") {
            m.msg(25, named_schemas(props));
        }
        m.str_field(26, s, "discriminator");
        m.bool_field(27, s, "readOnly");
        m.any_field(30, s, "example");
        m.extensions(31, s);
        m
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A decoded protobuf field: a varint, a fixed64, or length-delimited bytes.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum Wire {
        Varint(u64),
        Fixed64(u64),
        Bytes(Vec<u8>),
    }

    /// Decodes one message level into (field, value) pairs, failing on malformed input.
    pub(crate) fn decode(mut b: &[u8]) -> Vec<(u64, Wire)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            for shift in (0..64).step_by(7) {
                let (&byte, rest) = b.split_first().expect("truncated varint");
                *b = rest;
                v |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    return v;
                }
            }
            panic!("varint too long")
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            let value = match key & 7 {
                0 => Wire::Varint(varint(&mut b)),
                1 => {
                    let (x, rest) = b.split_at(8);
                    b = rest;
                    Wire::Fixed64(u64::from_le_bytes(x.try_into().unwrap()))
                }
                2 => {
                    let len = varint(&mut b) as usize;
                    let (x, rest) = b.split_at(len);
                    b = rest;
                    Wire::Bytes(x.to_vec())
                }
                w => panic!("unexpected wire type {w}"),
            };
            out.push((key >> 3, value));
        }
        out
    }

    fn bytes(fields: &[(u64, Wire)], n: u64) -> Vec<&[u8]> {
        fields
            .iter()
            .filter(|(f, _)| *f == n)
            .map(|(_, w)| match w {
                Wire::Bytes(b) => b.as_slice(),
                other => panic!("field {n} is {other:?}"),
            })
            .collect()
    }

    fn one(fields: &[(u64, Wire)], n: u64) -> Vec<(u64, Wire)> {
        let found = bytes(fields, n);
        assert_eq!(found.len(), 1, "field {n}: {fields:?}");
        decode(found[0])
    }

    fn string(fields: &[(u64, Wire)], n: u64) -> String {
        let found = bytes(fields, n);
        assert_eq!(found.len(), 1, "field {n}");
        String::from_utf8(found[0].to_vec()).unwrap()
    }

    /// (name, value) of a repeated Named* message field.
    fn named(fields: &[(u64, Wire)], n: u64) -> Vec<(String, Vec<(u64, Wire)>)> {
        bytes(fields, n)
            .into_iter()
            .map(|b| {
                let entry = decode(b);
                (string(&entry, 1), one(&entry, 2))
            })
            .collect()
    }

    /// The vendor extensions of a message, their YAML (`Any.yaml`) parsed as JSON.
    fn extensions(fields: &[(u64, Wire)], n: u64) -> Map<String, Value> {
        named(fields, n)
            .into_iter()
            .map(|(k, any)| (k, serde_json::from_str(&string(&any, 2)).unwrap()))
            .collect()
    }

    #[test]
    fn conversion_follows_kube_openapi() {
        let v3 = json!({
            "description": "d",
            "nullable": true,
            "properties": {
                "meta": { "allOf": [{ "$ref": "#/components/schemas/io.k8s.X" }], "description": "m", "default": {} },
                "port": { "x-kubernetes-int-or-string": true, "anyOf": [{ "type": "integer" }, { "type": "string" }] },
                "list": { "type": "array", "items": { "$ref": "#/components/schemas/io.k8s.Y" } },
                "default": { "type": "string", "default": "a", "enum": ["a", "b"] },
            },
        });
        let v2 = to_v2(&v3);
        assert_eq!(
            v2,
            json!({
                "description": "d",
                "properties": {
                    "meta": { "$ref": "#/definitions/io.k8s.X", "description": "m" },
                    "port": { "x-kubernetes-int-or-string": true, "type": "string", "format": "int-or-string" },
                    "list": { "type": "array", "items": { "$ref": "#/definitions/io.k8s.Y" } },
                    "default": { "type": "string", "default": "a", "enum": ["a", "b"] },
                },
            })
        );
    }

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn document_is_self_contained_and_carries_kube_extensions() {
        let registry = Registry::new();
        let doc = document(&registry);
        let defs = doc["definitions"].as_object().unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/definitions/").expect(&r);
            assert!(defs.contains_key(name), "{r}");
        }
        assert!(!doc.to_string().contains("#/components/"));
        for t in registry.all() {
            let own = &defs[&definition_name(t)];
            let gvks = own["x-kubernetes-group-version-kind"].as_array().unwrap();
            assert!(gvks.contains(&gvk(t)), "{}", t.kind);
        }
        let containers = &defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(
            defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
            "int-or-string"
        );
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-action"], "patch");
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({ "group": "apps", "version": "v1", "kind": "Deployment" })
        );
        assert!(
            patch["consumes"]
                .as_array()
                .unwrap()
                .contains(&json!("application/strategic-merge-patch+json"))
        );
        assert_eq!(
            doc["paths"]["/api/v1/namespaces"]["get"]["operationId"],
            "listCoreV1Namespace"
        );
    }

    #[test]
    fn custom_resources_get_reversed_group_names_and_no_strategic_merge() {
        let mut registry = Registry::new();
        let crd = json!({
            "metadata": { "name": "crontabs.stable.example.com" },
            "spec": {
                "group": "stable.example.com",
                "names": { "plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList" },
                "scope": "Namespaced",
                "versions": [{ "name": "v1", "served": true, "storage": true, "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": { "spec": { "type": "object", "properties": {
                        "cronSpec": { "type": "string", "nullable": true },
                        "port": { "x-kubernetes-int-or-string": true, "anyOf": [{ "type": "integer" }, { "type": "string" }] },
                    } } },
                } } }],
            },
        });
        registry.set_crd_types(
            "crontabs.stable.example.com",
            crate::registry::types_from_crd(&crd),
        );
        let doc = document(&registry);
        let own = &doc["definitions"]["com.example.stable.v1.CronTab"];
        assert_eq!(
            own["x-kubernetes-group-version-kind"],
            json!([{ "group": "stable.example.com", "version": "v1", "kind": "CronTab" }])
        );
        let spec = &own["properties"]["spec"]["properties"];
        assert_eq!(spec["cronSpec"], json!({ "type": "string" }));
        assert_eq!(spec["port"]["format"], "int-or-string");
        assert_eq!(
            own["properties"]["metadata"]["$ref"],
            format!("#/definitions/{OBJECT_META}")
        );
        let patch = &doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
            ["patch"];
        assert_eq!(
            patch["operationId"],
            "patchStableExampleComV1NamespacedCronTab"
        );
        assert!(
            !patch["consumes"]
                .as_array()
                .unwrap()
                .contains(&json!("application/strategic-merge-patch+json"))
        );
        // A changed CRD set is a different document.
        assert_ne!(fingerprint(&registry), fingerprint(&Registry::new()));
    }

    #[test]
    fn protobuf_has_gnostic_field_numbers() {
        let registry = Registry::new();
        let doc = document(&registry);
        let encoded = pb::document(&doc);
        let d = decode(&encoded);
        assert_eq!(string(&d, 1), "2.0");
        let info = one(&d, 2);
        assert_eq!(string(&info, 1), "Kubernetes");
        // Paths { repeated NamedPathItem path = 2 }
        let paths = named(&one(&d, 8), 2);
        assert_eq!(paths.len(), doc["paths"].as_object().unwrap().len());
        let (_, item) = paths
            .iter()
            .find(|(n, _)| n == "/api/v1/namespaces/{namespace}/configmaps/{name}")
            .unwrap();
        // PathItem.patch = 8; Operation.consumes = 7, operation_id = 5, vendor_extension = 13
        let patch = one(item, 8);
        assert_eq!(string(&patch, 5), "patchCoreV1NamespacedConfigMap");
        let consumes: Vec<_> = bytes_strings(&patch, 7);
        assert!(consumes.contains(&"application/strategic-merge-patch+json".to_string()));
        let ext = extensions(&patch, 13);
        assert_eq!(
            ext["x-kubernetes-group-version-kind"],
            json!({ "group": "", "version": "v1", "kind": "ConfigMap" })
        );
        assert_eq!(ext["x-kubernetes-action"], "patch");
        // PathItem.parameters = 9: ParametersItem.parameter = 1 -> Parameter.non_body = 2 ->
        // NonBodyParameter.path = 4 -> PathParameterSubSchema { required = 1, in = 2, name = 4 }
        let params = bytes(item, 9);
        let names: Vec<String> = params
            .iter()
            .map(|p| {
                let sub = one(&one(&one(&decode(p), 1), 2), 4);
                assert_eq!(sub[0], (1, Wire::Varint(1)));
                assert_eq!(string(&sub, 2), "path");
                string(&sub, 4)
            })
            .collect();
        assert_eq!(names, ["name", "namespace"]);
        // Definitions { repeated NamedSchema additional_properties = 1 }
        let defs = named(&one(&d, 9), 1);
        assert_eq!(defs.len(), doc["definitions"].as_object().unwrap().len());
        let (_, cm) = defs
            .iter()
            .find(|(n, _)| n == "io.k8s.api.core.v1.ConfigMap")
            .unwrap();
        assert_eq!(
            extensions(cm, 31)["x-kubernetes-group-version-kind"],
            json!([{ "group": "", "version": "v1", "kind": "ConfigMap" }])
        );
        // Schema.type = 22 (TypeItem.value = 1), properties = 25, additional_properties = 21
        assert_eq!(bytes_strings(&one(cm, 22), 1), ["object"]);
        let props = named(&one(cm, 25), 1);
        let (_, data) = props.iter().find(|(n, _)| n == "data").unwrap();
        let additional = one(data, 21);
        assert_eq!(bytes_strings(&one(&one(&additional, 1), 22), 1), ["string"]);
        let (_, meta) = props.iter().find(|(n, _)| n == "metadata").unwrap();
        assert_eq!(string(meta, 1), format!("#/definitions/{OBJECT_META}"));
        // Schema.items = 23 (ItemsItem.schema = 1), vendor extensions on a property.
        let (_, pod_spec) = defs
            .iter()
            .find(|(n, _)| n == "io.k8s.api.core.v1.PodSpec")
            .unwrap();
        let props = named(&one(pod_spec, 25), 1);
        let (_, containers) = props.iter().find(|(n, _)| n == "containers").unwrap();
        let items_item = one(containers, 23);
        let items = bytes(&items_item, 1);
        assert_eq!(items.len(), 1);
        assert_eq!(
            string(&decode(items[0]), 1),
            "#/definitions/io.k8s.api.core.v1.Container"
        );
        let ext = extensions(containers, 31);
        assert_eq!(ext["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(ext["x-kubernetes-patch-strategy"], "merge");
    }

    fn bytes_strings(fields: &[(u64, Wire)], n: u64) -> Vec<String> {
        bytes(fields, n)
            .into_iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn scalar_encodings() {
        let s = pb::schema(&json!({
            "maximum": 2.5, "minLength": 3, "minimum": -1, "additionalProperties": false,
            "enum": ["a", 1], "uniqueItems": false, "default": { "k": [1] },
        }));
        let f = decode(&s.0);
        assert!(f.contains(&(7, Wire::Fixed64(2.5f64.to_bits()))));
        assert!(f.contains(&(9, Wire::Fixed64((-1.0f64).to_bits()))));
        assert!(f.contains(&(12, Wire::Varint(3))));
        // proto3 leaves out a false bool, but not a oneof member holding false.
        assert!(!f.iter().any(|(n, _)| *n == 16));
        assert_eq!(one(&f, 21), [(2, Wire::Varint(0))]);
        let enums: Vec<String> = bytes(&f, 20)
            .into_iter()
            .map(|b| string(&decode(b), 2))
            .collect();
        assert_eq!(enums, ["\"a\"", "1"]);
        assert_eq!(string(&one(&f, 5), 2), r#"{"k":[1]}"#);
        let negative = decode(&pb::schema(&json!({ "maxLength": -2 })).0);
        assert_eq!(negative, [(11, Wire::Varint((-2i64) as u64))]);
    }

    #[test]
    fn negotiation_matches_kube_openapi() {
        assert_eq!(negotiate(""), Some(Format::Json));
        assert_eq!(negotiate("*/*"), Some(Format::Json));
        assert_eq!(negotiate("application/json"), Some(Format::Json));
        assert_eq!(
            negotiate("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(
            negotiate("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(
            negotiate(
                "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
            ),
            Some(Format::Protobuf)
        );
        assert_eq!(negotiate("text/html, */*;q=0.1"), Some(Format::Json));
        assert_eq!(negotiate("application/yaml"), None);
        assert_eq!(negotiate("text/plain"), None);
        assert_eq!(negotiate("application/json;q=0"), None);
    }
}
