//! The checks kube-apiserver makes on a CRD's schemas before it accepts the CRD: every
//! version has a schema, and each is structural (apiextensions `schema/validation.go`
//! `ValidateStructural`) and uses only what CRDs support (apiextensions `validation.go`
//! `ValidateCustomResourceDefinitionOpenAPISchema`), with kube-apiserver's field paths and
//! messages, such as `spec.versions[0].schema.openAPIV3Schema.properties[spec].type:
//! Required value: must not be empty for specified object fields`.

use serde_json::Value;

use super::{flag, go_quote, go_value, properties};
use crate::status::Cause;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Every problem with the schemas of a CRD (as JSON), as 422 causes.
pub(crate) fn check_crd(crd: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, v) in versions.iter().enumerate() {
        let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
        match v.pointer("/schema/openAPIV3Schema") {
            Some(s) if s.is_object() => {
                let mut errs = Vec::new();
                node(s, Level::Root, &path, &mut errs);
                super::cel::check_rules(s, &path, &mut errs);
                errs.sort_by(|a, b| (&a.field, &a.message).cmp(&(&b.field, &b.message)));
                out.extend(errs);
            }
            _ => out.push(required(&path, "schemas are required")),
        }
    }
    out
}

fn required(path: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired",
        field: path.to_string(),
        message: format!("Required value: {detail}"),
    }
}

fn forbidden(path: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden",
        field: path.to_string(),
        message: format!("Forbidden: {detail}"),
    }
}

fn invalid(path: &str, value: &Value, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: path.to_string(),
        message: format!("Invalid value: {}: {detail}", go_value(value)),
    }
}

fn type_of(s: &Value) -> &str {
    s.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// One node of the structural skeleton (outside allOf/anyOf/oneOf/not).
fn node(s: &Value, level: Level, path: &str, out: &mut Vec<Cause>) {
    if !s.is_object() {
        return;
    }
    supported(s, path, out);
    let t = type_of(s);
    let int_or_string = flag(s, "x-kubernetes-int-or-string");
    let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
    let embedded = flag(s, "x-kubernetes-embedded-resource");

    if t == "array" && s.get("items").is_none() {
        out.push(required(&format!("{path}.items"), "must be specified"));
    }
    if let Some(items) = s.get("items").filter(|i| i.is_object()) {
        node(items, Level::Item, &format!("{path}.items"), out);
    }
    if let Some(props) = properties(s) {
        for (k, p) in props {
            node(p, Level::Field, &format!("{path}.properties[{k}]"), out);
        }
    }
    if let Some(extra) = s.get("additionalProperties") {
        if level == Level::Root {
            out.push(forbidden(
                &format!("{path}.additionalProperties"),
                "must not be used at the root",
            ));
        }
        if extra.is_object() {
            node(
                extra,
                Level::Field,
                &format!("{path}.additionalProperties"),
                out,
            );
        }
    }
    if int_or_string && preserve {
        out.push(invalid(
            &format!("{path}.x-kubernetes-preserve-unknown-fields"),
            &Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        out.push(invalid(
            &format!("{path}.x-kubernetes-embedded-resource"),
            &Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    value_validation(s, int_or_string, path, out);

    if embedded && t != "object" {
        let msg = "must be object if x-kubernetes-embedded-resource is true";
        if t.is_empty() {
            out.push(required(&format!("{path}.type"), msg));
        } else {
            out.push(invalid(&format!("{path}.type"), &Value::from(t), msg));
        }
    } else if t.is_empty() && !int_or_string && !preserve {
        let msg = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(required(&format!("{path}.type"), msg));
    }
    if embedded && s.get("additionalProperties").is_some() {
        out.push(forbidden(
            &format!("{path}.additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if level == Level::Root && !t.is_empty() && t != "object" {
        out.push(invalid(
            &format!("{path}.type"),
            &Value::from(t),
            "must be object at the root",
        ));
    }
    let check_meta = level == Level::Root || embedded;
    if check_meta {
        for key in ["kind", "apiVersion"] {
            if let Some(p) = properties(s).and_then(|p| p.get(key))
                && type_of(p) != "string"
            {
                out.push(invalid(
                    &format!("{path}.properties[{key}].type"),
                    &Value::from(type_of(p)),
                    "must be string",
                ));
            }
        }
    }
    if let Some(meta) = properties(s).and_then(|p| p.get("metadata")) {
        metadata(
            meta,
            check_meta,
            level,
            &format!("{path}.properties[metadata]"),
            out,
        );
    }
    if embedded && !preserve && properties(s).is_none_or(|p| p.is_empty()) {
        out.push(required(
            &format!("{path}.properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
    list_type(s, path, out);
    if level != Level::Root
        && let Some(default) = s.get("default")
    {
        defaults(default, s, &format!("{path}.default"), out);
    }
}

/// A `default` must itself be valid at its node: an invalid one would make every object
/// that omits the field invalid. Causes name `<node>.default`, as kube-apiserver's do.
fn defaults(default: &Value, s: &Value, path: &str, out: &mut Vec<Cause>) {
    let mut causes = super::validate::validate(default, None, s);
    super::validate::list_types(default, s, "", &mut causes);
    for mut c in causes {
        c.field = if c.field == "<nil>" {
            path.to_string()
        } else {
            format!("{path}.{}", c.field)
        };
        out.push(c);
    }
}

/// metadata at the root may only restrict `name` and `generateName`.
fn metadata(s: &Value, check_meta: bool, level: Level, path: &str, out: &mut Vec<Cause>) {
    let t = type_of(s);
    if check_meta && t != "object" {
        out.push(invalid(
            &format!("{path}.type"),
            &Value::from(t),
            "must be object",
        ));
    }
    if level != Level::Root {
        return;
    }
    let allowed = ["type", "properties", "description", "default"];
    let props_ok =
        properties(s).is_none_or(|p| p.keys().all(|k| k == "name" || k == "generateName"));
    let keys_ok = s
        .as_object()
        .is_some_and(|m| m.keys().all(|k| allowed.contains(&k.as_str())));
    if !props_ok || !keys_ok {
        out.push(forbidden(
            path,
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
}

/// Keywords CRD schemas do not support at all.
fn supported(s: &Value, path: &str, out: &mut Vec<Cause>) {
    for (key, detail) in [
        ("$ref", "$ref is not supported"),
        ("definitions", "definitions are not supported"),
        ("dependencies", "dependencies are not supported"),
        ("patternProperties", "patternProperties is not supported"),
    ] {
        if s.get(key).is_some_and(|v| !v.is_null()) {
            out.push(forbidden(&format!("{path}.{key}"), detail));
        }
    }
    if flag(s, "uniqueItems") {
        out.push(forbidden(
            &format!("{path}.uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if s.get("additionalProperties") == Some(&Value::Bool(false)) {
        out.push(forbidden(
            &format!("{path}.additionalProperties"),
            "additionalProperties cannot be set to false",
        ));
    }
    if s.get("additionalProperties").is_some() && properties(s).is_some_and(|p| !p.is_empty()) {
        out.push(forbidden(
            &format!("{path}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if s.get("items").is_some_and(Value::is_array) {
        out.push(forbidden(
            &format!("{path}.items"),
            "items must be a schema object and not an array",
        ));
    }
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str)
        && let Err(e) = regex::Regex::new(pattern)
    {
        out.push(invalid(
            &format!("{path}.pattern"),
            &Value::from(pattern),
            &format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
}

/// `x-kubernetes-list-type` and `x-kubernetes-list-map-keys` must fit together.
fn list_type(s: &Value, path: &str, out: &mut Vec<Cause>) {
    let list_type = s.get("x-kubernetes-list-type").and_then(Value::as_str);
    let keys: Vec<&str> = s
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(lt) = list_type {
        if !matches!(lt, "atomic" | "set" | "map") {
            out.push(Cause {
                reason: "FieldValueNotSupported",
                field: format!("{path}.x-kubernetes-list-type"),
                message: format!(
                    "Unsupported value: {}: supported values: \"atomic\", \"set\", \"map\"",
                    go_quote(lt)
                ),
            });
        }
        if type_of(s) != "array" {
            out.push(invalid(
                &format!("{path}.x-kubernetes-list-type"),
                &Value::from(lt),
                "must only be used if type == array",
            ));
        }
    }
    if list_type == Some("map") {
        if keys.is_empty() {
            out.push(required(
                &format!("{path}.x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        let items = s.get("items");
        if items.is_some_and(|i| type_of(i) != "object") {
            out.push(invalid(
                &format!("{path}.items.type"),
                &Value::from(items.map(type_of).unwrap_or_default()),
                "must be object if parent array's x-kubernetes-list-type is map",
            ));
        }
        let item_props = items.and_then(properties);
        if !keys
            .iter()
            .all(|k| item_props.is_some_and(|p| p.contains_key(*k)))
        {
            out.push(invalid(
                &format!("{path}.x-kubernetes-list-map-keys"),
                &Value::from(keys.iter().map(|k| Value::from(*k)).collect::<Vec<_>>()),
                "entries must all be names of item properties",
            ));
        }
    } else if !keys.is_empty() {
        out.push(forbidden(
            &format!("{path}.x-kubernetes-list-map-keys"),
            "must only be used if x-kubernetes-list-type is map",
        ));
    }
}

/// allOf/anyOf/oneOf/not may only add value validations: no types, defaults, descriptions,
/// extensions or metadata, except kube-apiserver's int-or-string patterns.
fn value_validation(s: &Value, int_or_string: bool, path: &str, out: &mut Vec<Cause>) {
    let skip_any_of = int_or_string && is_int_or_string_any_of(s.get("anyOf"));
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, b) in s
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if key == "anyOf" && skip_any_of {
                continue;
            }
            let skip = key == "allOf"
                && i == 0
                && int_or_string
                && is_int_or_string_any_of(b.get("anyOf"));
            nested(b, skip, &format!("{path}.{key}[{i}]"), out);
        }
    }
    if let Some(not) = s.get("not") {
        nested(not, false, &format!("{path}.not"), out);
    }
}

fn is_int_or_string_any_of(any_of: Option<&Value>) -> bool {
    any_of.and_then(Value::as_array).is_some_and(|a| {
        a.len() == 2
            && a[0] == serde_json::json!({ "type": "integer" })
            && a[1] == serde_json::json!({ "type": "string" })
    })
}

fn nested(s: &Value, skip_any_of: bool, path: &str, out: &mut Vec<Cause>) {
    if !s.is_object() {
        return;
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if key == "anyOf" && skip_any_of {
            continue;
        }
        for (i, b) in s
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            nested(b, false, &format!("{path}.{key}[{i}]"), out);
        }
    }
    if let Some(not) = s.get("not") {
        nested(not, false, &format!("{path}.not"), out);
    }
    if let Some(items) = s.get("items") {
        nested(items, false, &format!("{path}.items"), out);
    }
    if let Some(props) = properties(s) {
        for (k, p) in props {
            nested(p, false, &format!("{path}.properties[{k}]"), out);
        }
        if props.contains_key("metadata") {
            out.push(forbidden(
                &format!("{path}.properties[metadata]"),
                "must not be specified in a nested context",
            ));
        }
    }
    let rules: [(&str, &str); 12] = [
        ("type", "must be empty to be structural"),
        ("additionalProperties", "must be undefined to be structural"),
        ("default", "must be undefined to be structural"),
        ("title", "must be empty to be structural"),
        ("description", "must be empty to be structural"),
        ("nullable", "must be false to be structural"),
        ("externalDocs", "must be undefined to be structural"),
        (
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        ),
        (
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        ),
    ];
    for (key, detail) in rules {
        let set = match s.get(key) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::String(t)) => !t.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        if set {
            out.push(forbidden(&format!("{path}.{key}"), detail));
        }
    }
    for (key, detail) in [
        (
            "x-kubernetes-map-type",
            "must be undefined to be structural",
        ),
        ("x-kubernetes-validations", "must be empty to be structural"),
    ] {
        if s.get(key)
            .is_some_and(|v| !v.is_null() && v != &Value::Array(vec![]))
        {
            out.push(forbidden(&format!("{path}.{key}"), detail));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(schema: Value) -> Vec<String> {
        let crd = json!({ "spec": { "versions": [{ "name": "v1", "schema": { "openAPIV3Schema": schema } }] } });
        check_crd(&crd)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    const P: &str = "spec.versions[0].schema.openAPIV3Schema";

    #[test]
    fn a_structural_schema_passes() {
        let schema = json!({ "type": "object", "properties": {
            "metadata": { "type": "object", "properties": { "name": { "type": "string", "maxLength": 20 } } },
            "spec": { "type": "object", "required": ["size"], "properties": {
                "size": { "type": "integer", "minimum": 1, "default": 1 },
                "port": { "x-kubernetes-int-or-string": true, "anyOf": [{ "type": "integer" }, { "type": "string" }] },
                "mode": { "type": "string", "anyOf": [{ "enum": ["a"] }, { "pattern": "^b" }] },
                "free": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                "ports": { "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                           "items": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" } } } }
            } },
            "status": { "type": "object", "additionalProperties": { "type": "string" } }
        } });
        assert_eq!(problems(schema), Vec::<String>::new());
    }

    #[test]
    fn missing_types_name_the_level() {
        let schema = json!({ "properties": { "spec": { "properties": { "list": { "type": "array", "items": {} } } } } });
        assert_eq!(
            problems(schema),
            [
                format!(
                    "{P}.properties[spec].properties[list].items.type: Required value: must not be empty for specified array items"
                ),
                format!(
                    "{P}.properties[spec].type: Required value: must not be empty for specified object fields"
                ),
                format!("{P}.type: Required value: must not be empty at the root"),
            ]
        );
    }

    #[test]
    fn unsupported_keywords_are_refused() {
        let schema = json!({ "type": "object", "additionalProperties": { "type": "string" }, "properties": {
            "tags": { "type": "array", "uniqueItems": true, "items": { "type": "string" } },
            "closed": { "type": "object", "additionalProperties": false },
            "name": { "type": "string", "pattern": "(" },
            "x": { "type": "string", "anyOf": [{ "type": "string" }] }
        } });
        let got = problems(schema);
        for expected in [
            format!("{P}.additionalProperties: Forbidden: must not be used at the root"),
            format!(
                "{P}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            ),
            format!(
                "{P}.properties[closed].additionalProperties: Forbidden: additionalProperties cannot be set to false"
            ),
            format!(
                "{P}.properties[tags].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            ),
            format!("{P}.properties[x].anyOf[0].type: Forbidden: must be empty to be structural"),
        ] {
            assert!(got.contains(&expected), "{expected} not in {got:#?}");
        }
        assert!(got.iter().any(|g| g.starts_with(&format!(
            "{P}.properties[name].pattern: Invalid value: \"(\": must be a valid regular expression, but isn't:"
        ))));
    }

    #[test]
    fn metadata_may_only_restrict_name_and_generate_name() {
        let schema = json!({ "type": "object", "properties": { "metadata": { "type": "object",
            "properties": { "labels": { "type": "object" } } } } });
        assert_eq!(
            problems(schema),
            [format!(
                "{P}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
            )]
        );
    }

    #[test]
    fn list_map_needs_keys_that_are_item_properties() {
        let schema = json!({ "type": "object", "properties": { "l": { "type": "array", "x-kubernetes-list-type": "map",
            "items": { "type": "object", "properties": { "a": { "type": "string" } } } } } });
        assert_eq!(
            problems(schema),
            [format!(
                "{P}.properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"
            )]
        );
    }

    #[test]
    fn defaults_must_be_valid_for_their_schema() {
        let schema = json!({ "type": "object", "properties": { "spec": { "type": "object", "properties": {
            "size": { "type": "integer", "minimum": 1, "default": 0 },
            "mode": { "type": "string", "default": 3 }
        } } } });
        assert_eq!(
            problems(schema),
            [
                format!(
                    "{P}.properties[spec].properties[mode].default: Invalid value: \"integer\":  in body must be of type string: \"integer\""
                ),
                format!(
                    "{P}.properties[spec].properties[size].default: Invalid value: 0:  in body should be greater than or equal to 1"
                ),
            ]
        );
    }

    #[test]
    fn every_version_needs_a_schema() {
        let crd = json!({ "spec": { "versions": [{ "name": "v1" }] } });
        let got: Vec<String> = check_crd(&crd)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(got, [format!("{P}: Required value: schemas are required")]);
    }
}
