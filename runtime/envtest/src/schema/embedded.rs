//! `x-kubernetes-embedded-resource` objects must say what they are: apiextensions'
//! `objectmeta.Validate` (`validateEmbeddedResource`) requires a non-empty `apiVersion` that
//! parses as a group/version and a `kind` that is a DNS-1035 label once lower-cased, beside
//! the OpenAPI value validation. (Their `metadata` is pruned to ObjectMeta by `prune`.)

use serde_json::Value;

use super::{additional, child, flag, go_value, index, properties};
use crate::status::Cause;

/// Every embedded resource in `v` (at `path`, described by `s`) missing or misnaming its type.
pub(super) fn validate(v: &Value, s: &Value, path: &str, out: &mut Vec<Cause>) {
    match v {
        Value::Object(m) => {
            if flag(s, "x-kubernetes-embedded-resource") {
                type_meta(m, path, out);
            }
            let props = properties(s);
            let extra = additional(s).flatten();
            for (k, v) in m {
                if let Some(prop) = props.and_then(|p| p.get(k)).or(extra) {
                    validate(v, prop, &child(path, k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = s.get("items") {
                for (i, v) in items.iter().enumerate() {
                    validate(v, item, &index(path, i), out);
                }
            }
        }
        _ => {}
    }
}

fn type_meta(m: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<Cause>) {
    for key in ["apiVersion", "kind"] {
        let at = child(path, key);
        match m.get(key) {
            None => out.push(cause(
                "FieldValueRequired",
                &at,
                "Required value: must not be empty".into(),
            )),
            Some(Value::String(s)) if s.is_empty() => {
                out.push(invalid(&at, &Value::from(""), "must not be empty"))
            }
            Some(Value::String(s)) => {
                let problem = if key == "apiVersion" {
                    group_version_problem(s)
                } else {
                    kind_problem(s)
                };
                if let Some(problem) = problem {
                    out.push(invalid(&at, &Value::from(s.as_str()), &problem));
                }
            }
            Some(other) => out.push(invalid(&at, other, "must be a string")),
        }
    }
}

/// `schema.ParseGroupVersion`: `v1` or `group/version`, nothing more.
fn group_version_problem(s: &str) -> Option<String> {
    match s.split('/').count() {
        1 | 2 if !s.starts_with('/') && !s.ends_with('/') => None,
        _ => Some(format!("unexpected GroupVersion string: {s}")),
    }
}

/// `utilvalidation.IsDNS1035Label(strings.ToLower(kind))`.
fn kind_problem(kind: &str) -> Option<String> {
    let lower = kind.to_ascii_lowercase();
    let ok = lower.len() <= 63
        && lower.starts_with(|c: char| c.is_ascii_lowercase())
        && !lower.ends_with('-')
        && lower
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (!ok).then(|| {
        "may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string()
    })
}

fn cause(reason: &'static str, path: &str, message: String) -> Cause {
    Cause {
        reason,
        field: path.to_string(),
        message,
    }
}

/// `field.Invalid(path, value, detail)`: `Invalid value: <v>: <detail>`.
fn invalid(path: &str, value: &Value, detail: &str) -> Cause {
    cause(
        "FieldValueInvalid",
        path,
        format!("Invalid value: {}: {detail}", go_value(value)),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn messages(obj: serde_json::Value) -> Vec<String> {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "x-kubernetes-preserve-unknown-fields": true},
            "list": {"type": "array", "items": {"type": "object",
                     "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}},
        }}}});
        let mut out = Vec::new();
        super::validate(&obj, &schema, "", &mut out);
        out.iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn embedded_resources_need_api_version_and_kind() {
        assert_eq!(
            messages(json!({"spec": {"template": {"metadata": {"name": "c"}}}})),
            [
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty"
            ]
        );
        assert!(
            messages(
                json!({"spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment"}}})
            )
            .is_empty()
        );
        assert_eq!(
            messages(
                json!({"spec": {"list": [{"apiVersion": "v1", "kind": "ConfigMap"},
                                              {"apiVersion": "a/b/c", "kind": 3}]}})
            ),
            [
                "spec.list[1].apiVersion: Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c",
                "spec.list[1].kind: Invalid value: 3: must be a string"
            ]
        );
        let bad_kind =
            messages(json!({"spec": {"template": {"apiVersion": "v1", "kind": "Config_Map"}}}));
        assert!(
            bad_kind[0].starts_with(
                "spec.template.kind: Invalid value: \"Config_Map\": may have mixed case"
            ),
            "{bad_kind:?}"
        );
    }
}
