//! Value validation of a custom resource against its schema, with kube-openapi's messages as
//! apiextensions turns them into field errors (`kubeOpenAPIResultToFieldErrors`): e.g.
//! `spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1`.
//! Then the `x-kubernetes-list-type` rules (apiextensions' `listtype` package).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use serde_json::{Map, Value};

use super::{additional, child, flag, go_quote, go_value, index, properties};
use crate::status::Cause;

/// `old` is the stored object on updates: validation ratchets (kube-apiserver 1.30+,
/// KEP-4008), so a node whose value is unchanged from its correlated old value is not
/// rejected for what was already wrong with it.
pub(super) fn validate(obj: &Value, old: Option<&Value>, schema: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    node(obj, old, schema, "", &mut out);
    out
}

fn cause(reason: &'static str, path: &str, message: String) -> Cause {
    Cause {
        reason,
        // A nil `field.Path` prints as `<nil>`, which is what errors about the root show.
        field: if path.is_empty() {
            "<nil>".into()
        } else {
            path.to_string()
        },
        message,
    }
}

/// `Invalid value: <v>: <path> in body <detail>`.
fn invalid(path: &str, value: &Value, detail: String) -> Cause {
    cause(
        "FieldValueInvalid",
        path,
        format!(
            "Invalid value: {}: {path} in body {detail}",
            go_value(value)
        ),
    )
}

fn type_invalid(path: &str, expected: &str, found: &str) -> Cause {
    cause(
        "FieldValueTypeInvalid",
        path,
        format!(
            "Invalid value: {q}: {path} in body must be of type {expected}: {q}",
            q = go_quote(found)
        ),
    )
}

/// The OpenAPI type name of a JSON value.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// Whether `v` has the type the node asks for (`x-kubernetes-int-or-string` is either); the
/// expected type name if not.
fn type_matches<'a>(v: &Value, s: &'a Value) -> Result<(), &'a str> {
    let found = type_of(v);
    let expected = if flag(s, "x-kubernetes-int-or-string") {
        "integer,string"
    } else {
        match s.get("type").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t,
            _ => return Ok(()),
        }
    };
    let ok = match expected {
        "integer,string" => matches!(found, "integer" | "string"),
        "number" => matches!(found, "integer" | "number"),
        t => t == found,
    };
    if ok { Ok(()) } else { Err(expected) }
}

/// One schema node. `old` is the correlated old value (through object properties and
/// `listType: map` keys), `None` on create or where nothing correlates.
fn node(v: &Value, old: Option<&Value>, s: &Value, path: &str, out: &mut Vec<Cause>) {
    if !s.is_object() {
        return;
    }
    if v.is_null() && flag(s, "nullable") {
        return;
    }
    // Ratcheting: an unchanged value keeps the errors it already had, except under
    // allOf/anyOf/oneOf/not, which upstream does not ratchet (junctors get no old value).
    let unchanged = old == Some(v);
    if let Err(expected) = type_matches(v, s) {
        if !unchanged {
            out.push(type_invalid(path, expected, type_of(v)));
        }
        return;
    }
    junctors(v, s, path, out);
    let mut own = Vec::new();
    match v {
        Value::String(text) => string(text, v, s, path, &mut own),
        Value::Number(n) => number(n, v, s, path, &mut own),
        Value::Array(items) => array(items, old, s, path, out, &mut own),
        Value::Object(m) => object(m, old, s, path, out, &mut own),
        _ => {}
    }
    if !unchanged {
        out.extend(own);
    }
    if !unchanged
        && let Some(values) = s.get("enum").and_then(Value::as_array)
        && !values.contains(v)
    {
        let allowed: Vec<String> = values
            .iter()
            .map(|a| match a {
                Value::String(s) => go_quote(s),
                other => go_quote(&other.to_string()),
            })
            .collect();
        out.push(cause(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                go_value(v),
                allowed.join(", ")
            ),
        ));
    }
}

/// allOf, anyOf, oneOf and not. A failed anyOf/oneOf also reports the errors of its closest
/// alternative, as go-openapi merges its "best failure".
fn junctors(v: &Value, s: &Value, path: &str, out: &mut Vec<Cause>) {
    let branches = |key: &str| -> Vec<Vec<Cause>> {
        s.get(key)
            .and_then(Value::as_array)
            .map(|bs| {
                bs.iter()
                    .map(|b| {
                        let mut errs = Vec::new();
                        node(v, None, b, path, &mut errs);
                        errs
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let composite = |msg: String| {
        cause(
            "FieldValueInvalid",
            "",
            format!("Invalid value: \"\": {msg}"),
        )
    };
    for errs in branches("allOf") {
        out.extend(errs);
    }
    let any = branches("anyOf");
    if !any.is_empty() && !any.iter().any(Vec::is_empty) {
        out.push(composite(format!(
            "{} must validate at least one schema (anyOf)",
            go_quote(path)
        )));
        if let Some(best) = any.into_iter().min_by_key(Vec::len) {
            out.extend(best);
        }
    }
    let one = branches("oneOf");
    if !one.is_empty() {
        let valid = one.iter().filter(|e| e.is_empty()).count();
        if valid != 1 {
            let found = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            out.push(composite(format!(
                "{} must validate one and only one schema (oneOf). {found}",
                go_quote(path)
            )));
            if valid == 0
                && let Some(best) = one.into_iter().min_by_key(Vec::len)
            {
                out.extend(best);
            }
        }
    }
    if let Some(not) = s.get("not") {
        let mut errs = Vec::new();
        node(v, None, not, path, &mut errs);
        if errs.is_empty() {
            out.push(composite(format!(
                "{} must not validate the schema (not)",
                go_quote(path)
            )));
        }
    }
}

fn number_of(s: &Value, key: &str) -> Option<f64> {
    s.get(key).and_then(Value::as_f64)
}

fn string(text: &str, v: &Value, s: &Value, path: &str, out: &mut Vec<Cause>) {
    let chars = text.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && chars > max
    {
        out.push(cause(
            "FieldValueTooLong",
            path,
            format!("Too long: may not be more than {max} bytes"),
        ));
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && chars < min
    {
        out.push(invalid(
            path,
            v,
            format!("should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str)
        && matches_pattern(pattern, text) == Some(false)
    {
        out.push(invalid(path, v, format!("should match '{pattern}'")));
    }
    if let Some(format) = s.get("format").and_then(Value::as_str)
        && !format_ok(format, text)
    {
        out.push(type_invalid(path, format, text));
    }
}

/// Compiled patterns, shared: the same CRD's patterns are checked on every write.
static PATTERNS: LazyLock<Mutex<HashMap<String, regex::Regex>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether `text` matches `pattern` (unanchored, as Go's `regexp.MatchString`); `None` for a
/// pattern that does not compile, which CRD validation refuses before it gets here.
fn matches_pattern(pattern: &str, text: &str) -> Option<bool> {
    let mut cache = PATTERNS.lock().unwrap_or_else(|e| e.into_inner());
    if !cache.contains_key(pattern) {
        let re = regex::Regex::new(pattern).ok()?;
        cache.insert(pattern.to_string(), re);
    }
    cache.get(pattern).map(|re| re.is_match(text))
}

/// The string formats kube-apiserver checks for CRDs (apiextensions `formats.go`) that can be
/// told apart cheaply; formats it does not know (and `password`, `int32`, ...) pass.
fn format_ok(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => s.parse::<jiff::Timestamp>().is_ok(),
        "date" => s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok(),
        "uuid" | "uuid3" | "uuid4" | "uuid5" => uuid::Uuid::try_parse(s).is_ok() && s.len() == 36,
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => s.split_once('/').is_some_and(|(ip, bits)| {
            let max = if ip.parse::<std::net::Ipv4Addr>().is_ok() {
                32
            } else if ip.parse::<std::net::Ipv6Addr>().is_ok() {
                128
            } else {
                return false;
            };
            bits.parse::<u8>().is_ok_and(|b| b <= max)
        }),
        "byte" => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        "hostname" => {
            !s.is_empty()
                && s.len() <= 253
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                })
        }
        "mac" => {
            let parts: Vec<&str> = s.split([':', '-']).collect();
            matches!(parts.len(), 6 | 8 | 20)
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        }
        _ => true,
    }
}

fn number(n: &serde_json::Number, v: &Value, s: &Value, path: &str, out: &mut Vec<Cause>) {
    let Some(x) = n.as_f64() else {
        return;
    };
    let bound = |b: f64| super::go_float(b);
    if let Some(max) = number_of(s, "maximum") {
        let exclusive = flag(s, "exclusiveMaximum");
        if (exclusive && x >= max) || (!exclusive && x > max) {
            let op = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            out.push(invalid(path, v, format!("should be {op} {}", bound(max))));
        }
    }
    if let Some(min) = number_of(s, "minimum") {
        let exclusive = flag(s, "exclusiveMinimum");
        if (exclusive && x <= min) || (!exclusive && x < min) {
            let op = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.push(invalid(path, v, format!("should be {op} {}", bound(min))));
        }
    }
    if let Some(factor) = number_of(s, "multipleOf")
        && factor > 0.0
        && (x / factor).fract() != 0.0
    {
        out.push(invalid(
            path,
            v,
            format!("should be a multiple of {}", bound(factor)),
        ));
    }
}

/// The array's own checks go to `own` (ratcheted with it), its items' to `out`.
fn array(
    items: &[Value],
    old: Option<&Value>,
    s: &Value,
    path: &str,
    out: &mut Vec<Cause>,
    own: &mut Vec<Cause>,
) {
    let len = items.len() as u64;
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
        && len > max
    {
        own.push(cause(
            "FieldValueTooMany",
            path,
            format!("Too many: {len}: must have at most {max} items"),
        ));
    }
    if let Some(min) = s.get("minItems").and_then(Value::as_u64)
        && len < min
    {
        own.push(invalid(
            path,
            &Value::from(len),
            format!("should have at least {min} items"),
        ));
    }
    if flag(s, "uniqueItems") {
        let duplicated = items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].contains(a));
        if duplicated {
            own.push(invalid(
                path,
                &Value::from(""),
                "shouldn't contain duplicates".into(),
            ));
        }
    }
    if let Some(item_schema) = s.get("items") {
        // Items correlate by `listType: map` keys; any list unchanged as a whole ratchets all.
        let unchanged = old.and_then(Value::as_array).is_some_and(|o| o == items);
        for (i, item) in items.iter().enumerate() {
            let before = if unchanged {
                Some(item)
            } else {
                old.and_then(|o| super::cel::correlate(item, o, s))
            };
            node(item, before, item_schema, &index(path, i), out);
        }
    }
}

/// The object's own checks go to `own` (ratcheted with it), its properties' to `out`.
fn object(
    m: &Map<String, Value>,
    old: Option<&Value>,
    s: &Value,
    path: &str,
    out: &mut Vec<Cause>,
    own: &mut Vec<Cause>,
) {
    let count = m.len() as u64;
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        own.push(cause(
            "FieldValueTooMany",
            path,
            format!("Too many: {count}: must have at most {max} items"),
        ));
    }
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        own.push(invalid(
            path,
            &Value::from(min),
            format!("should have at least {min} properties"),
        ));
    }
    for req in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !m.contains_key(req) {
            own.push(cause(
                "FieldValueRequired",
                &child(path, req),
                "Required value".into(),
            ));
        }
    }
    let props = properties(s);
    let extra = additional(s).flatten();
    let old_m = old.and_then(Value::as_object);
    for (k, v) in m {
        // Errors in the object's metadata are never ratcheted.
        let before = if path.is_empty() && k == "metadata" {
            None
        } else {
            old_m.and_then(|o| o.get(k))
        };
        if let Some(prop) = props.and_then(|p| p.get(k)) {
            node(v, before, prop, &child(path, k), out);
        } else if let Some(extra) = extra {
            node(v, before, extra, &child(path, k), out);
        }
    }
}

/// `x-kubernetes-list-type: set` items and `map` keys must be unique: each repeat is a
/// `Duplicate value` at its index.
pub(super) fn list_types(v: &Value, s: &Value, path: &str, out: &mut Vec<Cause>) {
    match v {
        Value::Object(m) => {
            let props = properties(s);
            let extra = additional(s).flatten();
            for (k, v) in m {
                if let Some(fs) = props.and_then(|p| p.get(k)).or(extra) {
                    list_types(v, fs, &child(path, k), out);
                }
            }
        }
        Value::Array(items) => {
            let list_type = s.get("x-kubernetes-list-type").and_then(Value::as_str);
            let keys: Vec<&str> = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut seen: Vec<Value> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let identity = match list_type {
                    Some("set") => Some(item.clone()),
                    Some("map") => item.as_object().map(|o| {
                        Value::Object(
                            keys.iter()
                                .filter_map(|k| o.get(*k).map(|v| (k.to_string(), v.clone())))
                                .collect(),
                        )
                    }),
                    _ => None,
                };
                if let Some(id) = identity {
                    if seen.contains(&id) {
                        out.push(cause(
                            "FieldValueDuplicate",
                            &index(path, i),
                            format!("Duplicate value: {}", go_value(&id)),
                        ));
                    } else {
                        seen.push(id);
                    }
                }
                if let Some(item_schema) = s.get("items") {
                    list_types(item, item_schema, &index(path, i), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(obj: Value, schema: Value) -> Vec<String> {
        let mut causes = validate(&obj, None, &schema);
        list_types(&obj, &schema, "", &mut causes);
        // Fields come in map order; kube-apiserver's order is not part of its contract either.
        let mut out: Vec<String> = causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        out.sort();
        out
    }

    fn spec(props: Value) -> Value {
        json!({ "type": "object", "properties": { "spec": { "type": "object", "properties": props } } })
    }

    fn ratcheted(obj: Value, old: Value, schema: Value) -> Vec<String> {
        validate(&obj, Some(&old), &schema)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn unchanged_values_ratchet_through_properties_and_map_keys() {
        let s = spec(json!({
            "size": { "type": "integer", "minimum": 1 },
            "name": { "type": "string", "maxLength": 3 },
            "ports": { "type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": { "type": "object", "properties": {
                    "name": { "type": "string" }, "port": { "type": "integer", "maximum": 100 } } } },
            "tags": { "type": "array", "items": { "type": "string", "maxLength": 2 } },
        }));
        let old = json!({ "spec": { "size": 0, "name": "long", "tags": ["abc"],
            "ports": [{ "name": "a", "port": 500 }, { "name": "b", "port": 1 }] } });
        // Unchanged invalid values pass, even when siblings change or map items move.
        let moved = json!({ "spec": { "size": 0, "name": "long", "tags": ["abc"],
            "ports": [{ "name": "b", "port": 2 }, { "name": "a", "port": 500 }] } });
        assert_eq!(
            ratcheted(moved, old.clone(), s.clone()),
            Vec::<String>::new()
        );
        // A changed value is validated, as is an item of a list that is not a map, once the
        // list changes (its items do not correlate).
        let changed = json!({ "spec": { "size": -1, "name": "long", "tags": ["abc", "x"],
            "ports": [{ "name": "a", "port": 501 }, { "name": "b", "port": 1 }] } });
        assert_eq!(
            ratcheted(changed, old, s),
            [
                "spec.ports[0].port: Invalid value: 501: spec.ports[0].port in body should be less than or equal to 100",
                "spec.size: Invalid value: -1: spec.size in body should be greater than or equal to 1",
                "spec.tags[0]: Too long: may not be more than 2 bytes",
            ]
        );
    }

    #[test]
    fn junctors_are_not_ratcheted() {
        let s = spec(json!({ "size": { "type": "integer", "not": { "minimum": 5 } } }));
        let old = json!({ "spec": { "size": 7 } });
        assert_eq!(
            ratcheted(old.clone(), old, s),
            ["<nil>: Invalid value: \"\": \"spec.size\" must not validate the schema (not)"]
        );
    }

    #[test]
    fn minimum_reads_like_kube_apiserver() {
        assert_eq!(
            messages(
                json!({ "spec": { "size": 0 } }),
                spec(json!({ "size": { "type": "integer", "minimum": 1 } }))
            ),
            ["spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"]
        );
    }

    #[test]
    fn numeric_bounds_and_multiple_of() {
        let s = spec(
            json!({ "n": { "type": "number", "maximum": 10, "exclusiveMaximum": true, "multipleOf": 2.5 },
                             "m": { "type": "integer", "minimum": 0, "exclusiveMinimum": true } }),
        );
        assert_eq!(
            messages(json!({ "spec": { "n": 10, "m": 0 } }), s.clone()),
            [
                "spec.m: Invalid value: 0: spec.m in body should be greater than 0",
                "spec.n: Invalid value: 10: spec.n in body should be less than 10",
            ]
        );
        assert_eq!(
            messages(json!({ "spec": { "n": 3 } }), s),
            ["spec.n: Invalid value: 3: spec.n in body should be a multiple of 2.5"]
        );
    }

    #[test]
    fn types_including_int_or_string_and_nullable() {
        let s = spec(
            json!({ "size": { "type": "integer" }, "port": { "x-kubernetes-int-or-string": true },
                             "note": { "type": "string", "nullable": true } }),
        );
        assert!(
            messages(
                json!({ "spec": { "size": 1, "port": "http", "note": null } }),
                s.clone()
            )
            .is_empty()
        );
        assert!(messages(json!({ "spec": { "port": 8080 } }), s.clone()).is_empty());
        assert_eq!(
            messages(json!({ "spec": { "size": "big", "port": true } }), s),
            [
                r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
                r#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#,
            ]
        );
    }

    #[test]
    fn strings_length_pattern_enum_and_format() {
        let s = spec(json!({
            "name": { "type": "string", "minLength": 3, "maxLength": 5, "pattern": "^[a-z]+$" },
            "mode": { "type": "string", "enum": ["fast", "slow"] },
            "when": { "type": "string", "format": "date-time" }
        }));
        assert_eq!(
            messages(
                json!({ "spec": { "name": "A", "mode": "medium", "when": "yesterday" } }),
                s.clone()
            ),
            [
                r#"spec.mode: Unsupported value: "medium": supported values: "fast", "slow""#,
                r#"spec.name: Invalid value: "A": spec.name in body should be at least 3 chars long"#,
                r#"spec.name: Invalid value: "A": spec.name in body should match '^[a-z]+$'"#,
                r#"spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday""#,
            ]
        );
        assert_eq!(
            messages(json!({ "spec": { "name": "abcdef" } }), s.clone()),
            ["spec.name: Too long: may not be more than 5 bytes"]
        );
        assert!(
            messages(
                json!({ "spec": { "name": "abc", "when": "2024-01-02T03:04:05Z" } }),
                s
            )
            .is_empty()
        );
    }

    #[test]
    fn arrays_objects_and_required() {
        let s = spec(json!({
            "items": { "type": "array", "minItems": 2, "maxItems": 3, "items": { "type": "string" } },
            "labels": { "type": "object", "maxProperties": 1, "minProperties": 1, "additionalProperties": { "type": "string" } },
            "inner": { "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } }
        }));
        assert_eq!(
            messages(
                json!({ "spec": { "items": ["a"], "labels": { "a": "1", "b": 2 }, "inner": {} } }),
                s.clone()
            ),
            [
                "spec.inner.id: Required value",
                "spec.items: Invalid value: 1: spec.items in body should have at least 2 items",
                r#"spec.labels.b: Invalid value: "integer": spec.labels.b in body must be of type string: "integer""#,
                "spec.labels: Too many: 2: must have at most 1 items",
            ]
        );
        assert_eq!(
            messages(json!({ "spec": { "items": ["a", "b", "c", 4] } }), s),
            [
                "spec.items: Too many: 4: must have at most 3 items",
                r#"spec.items[3]: Invalid value: "integer": spec.items[3] in body must be of type string: "integer""#,
            ]
        );
    }

    #[test]
    fn junctors_report_like_go_openapi() {
        let s = spec(
            json!({ "x": { "type": "integer", "anyOf": [{ "minimum": 10 }, { "maximum": 0 }],
                                     "not": { "enum": [42] } } }),
        );
        let got = messages(json!({ "spec": { "x": 5 } }), s.clone());
        assert_eq!(
            got[0],
            r#"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            messages(json!({ "spec": { "x": 42 } }), s),
            [r#"<nil>: Invalid value: "": "spec.x" must not validate the schema (not)"#]
        );
        let one = spec(
            json!({ "x": { "type": "integer", "oneOf": [{ "minimum": 0 }, { "maximum": 10 }] } }),
        );
        assert_eq!(
            messages(json!({ "spec": { "x": 5 } }), one),
            [
                r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
            ]
        );
    }

    #[test]
    fn list_type_set_and_map_keys_must_be_unique() {
        let s = spec(json!({
            "tags": { "type": "array", "x-kubernetes-list-type": "set", "items": { "type": "string" } },
            "ports": { "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                       "items": { "type": "object", "properties": { "name": { "type": "string" }, "port": { "type": "integer" } } } }
        }));
        assert_eq!(
            messages(
                json!({ "spec": { "tags": ["a", "b", "a"],
                "ports": [{ "name": "http", "port": 80 }, { "name": "http", "port": 8080 }] } }),
                s
            ),
            [
                r#"spec.ports[1]: Duplicate value: map[string]interface {}{"name":"http"}"#,
                r#"spec.tags[2]: Duplicate value: "a""#,
            ]
        );
    }
}
