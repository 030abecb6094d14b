//! Rust types from a third-party CRD's OpenAPI schema (`create api --from-crd`), as kopium
//! generates them: one struct per object schema, `Option` + `skip_serializing_if` for fields
//! that are not required, serde renames for camelCase, Rust enums for string enums, and
//! `IntOrString`, `serde_json::Value` and `BTreeMap` where the schema says so. The root type
//! comes from `kube::CustomResource` with the schema disabled: the CRD is not this project's,
//! so `kubesmith generate` never writes it.
//!
//! Known losses, as in kopium: properties outside `properties` of an object that also has
//! `properties` (`x-kubernetes-preserve-unknown-fields` next to `properties`) are dropped on
//! deserialization; a CRD without a `spec` property is refused (kube's derive needs one);
//! fields outside `spec` and `status` at the top level are not kept.
//!
//! The same module derives a minimal object the CRD's validation accepts (required fields
//! only), for the scaffolded test.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value, json};

use crate::names;

/// What kubesmith needs to know about a CRD to scaffold a controller for its kind.
#[derive(Debug, Clone)]
pub struct ExternalCrd {
    /// The whole CRD as it was read, installed as it is by the scaffolded test.
    pub document: Value,
    /// `spec.group`, e.g. `cert-manager.io`.
    pub group: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    /// The chosen version and its `openAPIV3Schema`.
    pub version: String,
    pub schema: Value,
}

/// Reads the CRD in `text` (YAML or JSON; the first CustomResourceDefinition of a multi-document
/// file) and picks `version`, or its storage version. `source` names the file in errors.
pub fn parse(text: &str, source: &str, version: Option<&str>) -> Result<ExternalCrd> {
    let mut found = None;
    for document in serde_yaml::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document)
            .with_context(|| format!("{source} is not valid YAML or JSON"))?;
        if value.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
            found = Some(value);
            break;
        }
    }
    let Some(document) = found else {
        bail!(
            "{source} holds no CustomResourceDefinition (kind: CustomResourceDefinition, apiVersion: apiextensions.k8s.io/v1)"
        );
    };
    let api_version = document.get("apiVersion").and_then(Value::as_str);
    if api_version != Some("apiextensions.k8s.io/v1") {
        bail!(
            "{source}: apiVersion {api_version:?} is not supported; only apiextensions.k8s.io/v1 CRDs (with a schema per version) are"
        );
    }
    let field = |pointer: &str| -> Result<String> {
        document
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("{source}: the CRD has no {pointer}"))
    };
    let group = field("/spec/group")?;
    let kind = field("/spec/names/kind")?;
    let plural = field("/spec/names/plural")?;
    let namespaced = match field("/spec/scope")?.as_str() {
        "Namespaced" => true,
        "Cluster" => false,
        other => bail!("{source}: spec.scope {other:?} is neither Namespaced nor Cluster"),
    };
    names::validate_kind(&kind).with_context(|| format!("{source}: spec.names.kind"))?;
    let versions = document
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .with_context(|| format!("{source}: the CRD has no spec.versions"))?;
    let names: Vec<&str> = versions
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    let chosen = match version {
        Some(wanted) => versions
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(wanted))
            .with_context(|| {
                format!(
                    "{source} has no version {wanted:?}; its versions: {}",
                    names.join(", ")
                )
            })?,
        None => versions
            .iter()
            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .or(versions.first())
            .with_context(|| format!("{source}: spec.versions is empty"))?,
    };
    let version = chosen
        .get("name")
        .and_then(Value::as_str)
        .with_context(|| format!("{source}: a version without a name"))?
        .to_string();
    names::validate_version(&version).with_context(|| format!("{source}: version {version:?}"))?;
    let schema = chosen
        .pointer("/schema/openAPIV3Schema")
        .cloned()
        .with_context(|| format!("{source}: version {version} has no schema.openAPIV3Schema"))?;
    if schema.pointer("/properties/spec").is_none() {
        bail!(
            "{source}: version {version} of {kind} has no `spec` property; kubesmith's generated types (kube::CustomResource) need one"
        );
    }
    Ok(ExternalCrd {
        document,
        group,
        kind,
        plural,
        namespaced,
        version,
        schema,
    })
}

/// The Rust source of the kind's types: the spec, the status if the schema has one, and every
/// nested struct and enum.
pub fn rust_types(crd: &ExternalCrd) -> String {
    let mut generator = Generator {
        kind: crd.kind.clone(),
        items: Vec::new(),
        taken: BTreeSet::from([crd.kind.clone()]),
    };
    let spec_name = format!("{}Spec", crd.kind);
    let status_name = format!("{}Status", crd.kind);
    let spec = &crd.schema["properties"]["spec"];
    let status = crd.schema.pointer("/properties/status");
    // A status that is not a plain object schema (rare) is kept as free-form JSON.
    let status_is_struct = status.is_some_and(|s| s.get("properties").is_some());
    let mut kube_args = vec![
        format!("group = {:?}", crd.group),
        format!("version = {:?}", crd.version),
        format!("kind = {:?}", crd.kind),
        format!("plural = {:?}", crd.plural),
    ];
    if crd.namespaced {
        kube_args.push("namespaced".into());
    }
    match status {
        Some(_) if status_is_struct => kube_args.push(format!("status = {status_name:?}")),
        Some(_) => kube_args.push("status = \"serde_json::Value\"".into()),
        None => {}
    }
    // The CRD belongs to its own project: no schema to derive, no CRD to generate.
    kube_args.push("schema = \"disabled\"".into());
    let header = format!(
        "#[derive(kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]\n#[kube({})]",
        kube_args.join(", ")
    );
    generator.taken.insert(spec_name.clone());
    generator.struct_item(&spec_name, spec, &header);
    if status_is_struct && let Some(status) = status {
        generator.taken.insert(status_name.clone());
        let derive = "#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]";
        generator.struct_item(&status_name, status, derive);
    }
    let mut out = format!(
        "//! Types of {kind} ({group}/{version}), generated by `kubesmith create api --from-crd` from\n\
         //! the kind's CustomResourceDefinition, which belongs to the project that publishes it:\n\
         //! `kubesmith generate` writes no CRD for it. Re-run `create api --from-crd ... --force`\n\
         //! when that CRD changes.\n",
        kind = crd.kind,
        group = crd.group,
        version = crd.version,
    );
    for item in generator.items {
        out.push('\n');
        out.push_str(&item);
    }
    out
}

struct Generator {
    kind: String,
    /// Generated items, in the order they were named (parents before children).
    items: Vec<String>,
    /// Type names in use, so nested names never clash.
    taken: BTreeSet<String>,
}

impl Generator {
    /// A fresh type name for the schema of `field` inside the type `parent`.
    fn child_name(&mut self, parent: &str, field: &str) -> String {
        // Children of the spec read better without "Spec" (kopium's `CertificatePrivateKey`).
        let prefix = if parent == format!("{}Spec", self.kind) {
            self.kind.as_str()
        } else {
            parent
        };
        let base = format!("{prefix}{}", type_case(field));
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// A struct for an object schema with `properties`, preceded by `attributes`.
    fn struct_item(&mut self, name: &str, schema: &Value, attributes: &str) {
        let index = self.items.len();
        self.items.push(String::new());
        let required: BTreeSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut body = String::new();
        let mut idents = BTreeSet::new();
        for (property, child) in properties {
            let rust_type = self.rust_type(name, property, child);
            let nullable = child.get("nullable").and_then(Value::as_bool) == Some(true);
            let optional = !required.contains(property.as_str()) || nullable;
            let mut ident = field_ident(property);
            let mut n = 2;
            while !idents.insert(ident.clone()) {
                ident = format!("{}_{n}", field_ident(property));
                n += 1;
            }
            body.push_str(&doc_comment(child, "    "));
            let mut serde = Vec::new();
            if names::module_file(&ident) != property {
                serde.push(format!("rename = {property:?}"));
            }
            if optional {
                serde.push("default, skip_serializing_if = \"Option::is_none\"".into());
            }
            if !serde.is_empty() {
                body.push_str(&format!("    #[serde({})]\n", serde.join(", ")));
            }
            let rust_type = if optional {
                format!("Option<{rust_type}>")
            } else {
                rust_type
            };
            body.push_str(&format!("    pub {ident}: {rust_type},\n"));
        }
        self.items[index] = format!(
            "{}{attributes}\npub struct {name} {{\n{body}}}\n",
            doc_comment(schema, "")
        );
    }

    /// The Rust type of `schema`, the property `field` of the type `parent`, generating the
    /// nested structs and enums it needs.
    fn rust_type(&mut self, parent: &str, field: &str, schema: &Value) -> String {
        let flag = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
        if flag("x-kubernetes-int-or-string") {
            return "k8s_openapi::apimachinery::pkg::util::intstr::IntOrString".into();
        }
        let has_properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        if (flag("x-kubernetes-preserve-unknown-fields") || flag("x-kubernetes-embedded-resource"))
            && !has_properties
        {
            return "serde_json::Value".into();
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => {
                if has_properties {
                    let name = self.child_name(parent, field);
                    let derive =
                        "#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]";
                    self.struct_item(&name, schema, derive);
                    return name;
                }
                let value = match schema.get("additionalProperties") {
                    Some(values @ Value::Object(_)) => self.rust_type(parent, field, values),
                    _ => "serde_json::Value".into(),
                };
                format!("std::collections::BTreeMap<String, {value}>")
            }
            Some("array") => {
                let item = match schema.get("items") {
                    Some(items @ Value::Object(_)) => self.rust_type(parent, field, items),
                    _ => "serde_json::Value".into(),
                };
                format!("Vec<{item}>")
            }
            Some("string") => match string_enum(schema) {
                Some(values) => self.enum_item(parent, field, schema, &values),
                None => "String".into(),
            },
            Some("integer") => match schema.get("format").and_then(Value::as_str) {
                Some("int32") => "i32".into(),
                _ => "i64".into(),
            },
            Some("number") => "f64".into(),
            Some("boolean") => "bool".into(),
            // No type: anything (anyOf/oneOf of several types, or nothing said).
            _ => "serde_json::Value".into(),
        }
    }

    /// A Rust enum for a string enum schema; `String` when the values do not make distinct
    /// variant names.
    fn enum_item(
        &mut self,
        parent: &str,
        field: &str,
        schema: &Value,
        values: &[String],
    ) -> String {
        let variants: Vec<String> = values.iter().map(|v| variant_ident(v)).collect();
        let distinct: BTreeSet<&String> = variants.iter().collect();
        if distinct.len() != variants.len() || variants.iter().any(String::is_empty) {
            return "String".into();
        }
        let name = self.child_name(parent, field);
        let mut body = String::new();
        for (value, variant) in values.iter().zip(&variants) {
            if variant != value {
                body.push_str(&format!("    #[serde(rename = {value:?})]\n"));
            }
            body.push_str(&format!("    {variant},\n"));
        }
        self.items.push(format!(
            "{}#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]\n\
             #[allow(clippy::enum_variant_names)]\npub enum {name} {{\n{body}}}\n",
            doc_comment(schema, "")
        ));
        name
    }
}

/// The values of a string enum, if the schema is one.
fn string_enum(schema: &Value) -> Option<Vec<String>> {
    let values = schema.get("enum")?.as_array()?;
    values
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .filter(|v| !v.is_empty())
}

/// Words of a name: split at non-alphanumerics and at lower-to-upper case changes
/// (`ipAddresses` -> ip, Addresses; `ECDSA` -> ECDSA; `TLSConfig` -> TLS, Config).
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !current.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// PascalCase with acronyms as words (`ECDSA` -> `Ecdsa`), as clippy's `upper_case_acronyms` wants.
fn type_case(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// An enum variant for a string value; empty if the value has no letters or digits.
fn variant_ident(value: &str) -> String {
    let mut ident = type_case(value);
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, 'V');
    }
    if ident == "Self" {
        ident.push('_');
    }
    ident
}

/// A snake_case field identifier for a property name, safe for Rust keywords.
fn field_ident(property: &str) -> String {
    let snake = words(property)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if snake.is_empty() {
        return "field".into();
    }
    names::module_ident(&snake)
}

/// `///` lines for a schema's description: each paragraph on one line, so that no Markdown
/// in it (lists continued lazily, indented or fenced code that rustdoc would run as a test)
/// changes its meaning or trips clippy's doc lints.
fn doc_comment(schema: &Value, indent: &str) -> String {
    let Some(description) = schema.get("description").and_then(Value::as_str) else {
        return String::new();
    };
    let mut paragraphs: Vec<String> = vec![String::new()];
    for line in description.lines() {
        let line = line.trim().replace('\t', " ").replace("```", "'''");
        let last = paragraphs.last_mut().expect("never empty");
        if line.is_empty() {
            if !last.is_empty() {
                paragraphs.push(String::new());
            }
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(&line);
        }
    }
    paragraphs
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| format!("{indent}/// {p}\n"))
        .collect::<Vec<_>>()
        .join(&format!("{indent}///\n"))
}

/// A small object the CRD's schema accepts: the required fields, each with the least value
/// its schema allows (first enum value, minimum, minItems items...). Patterns and CEL rules
/// are not solved: the scaffolded test says to adjust the sample for those.
pub fn minimal_object(schema: &Value) -> Value {
    let flag = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if flag("x-kubernetes-int-or-string") {
        return json!(1);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut object = Map::new();
            let required = schema.get("required").and_then(Value::as_array);
            for name in required.into_iter().flatten().filter_map(Value::as_str) {
                if let Some(child) = schema.pointer(&format!(
                    "/properties/{}",
                    name.replace('~', "~0").replace('/', "~1")
                )) {
                    object.insert(name.to_string(), minimal_object(child));
                }
            }
            Value::Object(object)
        }
        Some("array") => {
            let count = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let item = schema
                .get("items")
                .map(minimal_object)
                .unwrap_or(Value::Null);
            Value::Array((0..count).map(|_| item.clone()).collect())
        }
        Some("string") => {
            let value = match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => "2024-01-01T00:00:00Z".to_string(),
                Some("date") => "2024-01-01".to_string(),
                Some("duration") => "1h".to_string(),
                Some("byte") => "c2FtcGxl".to_string(),
                _ => {
                    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
                    let max = schema
                        .get("maxLength")
                        .and_then(Value::as_u64)
                        .map(|m| m as usize);
                    let sample = "sample".to_string();
                    match max {
                        Some(max) if max < sample.len() => "s".repeat(min.max(1).min(max)),
                        _ if min > sample.len() => "s".repeat(min),
                        _ => sample,
                    }
                }
            };
            Value::String(value)
        }
        Some("integer") | Some("number") => {
            let min = schema.get("minimum").and_then(Value::as_i64);
            let max = schema.get("maximum").and_then(Value::as_i64);
            let exclusive = flag("exclusiveMinimum");
            let value = match min {
                Some(min) if exclusive => min + 1,
                Some(min) => min,
                None => max.map_or(1, |m| m.min(1)),
            };
            json!(value)
        }
        Some("boolean") => json!(false),
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rust_conventions() {
        assert_eq!(field_ident("ipAddresses"), "ip_addresses");
        assert_eq!(field_ident("type"), "r#type");
        assert_eq!(field_ident("self"), "self_");
        assert_eq!(field_ident("x-forwarded-for"), "x_forwarded_for");
        assert_eq!(field_ident("TLSConfig"), "tls_config");
        assert_eq!(field_ident("$ref"), "r#ref");
        assert_eq!(type_case("ECDSA"), "Ecdsa");
        assert_eq!(type_case("privateKey"), "PrivateKey");
        assert_eq!(variant_ident("PKCS1"), "Pkcs1");
        assert_eq!(variant_ident("1h"), "V1h");
        assert_eq!(variant_ident(""), "");
    }

    #[test]
    fn minimal_objects_satisfy_the_obvious_constraints() {
        let schema = json!({
            "type": "object",
            "required": ["name", "size", "kind", "tags", "port"],
            "properties": {
                "name": {"type": "string", "maxLength": 3},
                "size": {"type": "integer", "minimum": 3},
                "kind": {"type": "string", "enum": ["A", "B"]},
                "tags": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "port": {"x-kubernetes-int-or-string": true},
                "optional": {"type": "string"}
            }
        });
        assert_eq!(
            minimal_object(&schema),
            json!({"name": "s", "size": 3, "kind": "A", "tags": ["sample"], "port": 1})
        );
    }
}
