//! Defaulting from `default:` in the schema (apiextensions' `defaulting` package): a property
//! that is absent (or `null` without `nullable`) takes its default, and defaulting goes on
//! inside it, so nested defaults apply wherever their parent exists. Then `null`s of
//! non-nullable fields without a default are dropped.

use serde_json::Value;

use super::{additional, flag, properties};

pub(super) fn default(obj: &mut Value, schema: &Value) {
    apply(obj, Some(schema));
    prune_nulls(obj, Some(schema));
}

fn non_nullable_null(v: &Value, s: Option<&Value>) -> bool {
    v.is_null() && !s.is_some_and(|s| flag(s, "nullable"))
}

fn apply(v: &mut Value, s: Option<&Value>) {
    let Some(s) = s else {
        return;
    };
    match v {
        Value::Object(m) => {
            if let Some(props) = properties(s) {
                for (k, prop) in props {
                    let Some(default) = prop.get("default") else {
                        continue;
                    };
                    match m.get(k) {
                        Some(existing) if !non_nullable_null(existing, Some(prop)) => {}
                        _ => {
                            m.insert(k.clone(), default.clone());
                        }
                    }
                }
            }
            let props = properties(s);
            let extra = additional(s).flatten();
            for (k, v) in m.iter_mut() {
                if let Some(prop) = props.and_then(|p| p.get(k)) {
                    apply(v, Some(prop));
                } else if let Some(extra) = extra {
                    if non_nullable_null(v, Some(extra))
                        && let Some(d) = extra.get("default")
                    {
                        *v = d.clone();
                    }
                    apply(v, Some(extra));
                }
            }
        }
        Value::Array(items) => {
            let item_schema = s.get("items");
            for item in items.iter_mut() {
                if non_nullable_null(item, item_schema)
                    && let Some(d) = item_schema.and_then(|i| i.get("default"))
                {
                    *item = d.clone();
                }
                apply(item, item_schema);
            }
        }
        _ => {}
    }
}

/// `PruneNonNullableNullsWithoutDefaults`: a `null` where the schema allows none and has no
/// default to put there is removed rather than failing validation.
fn prune_nulls(v: &mut Value, s: Option<&Value>) {
    let Some(s) = s else {
        return;
    };
    match v {
        Value::Object(m) => {
            let props = properties(s);
            let extra = additional(s).flatten();
            m.retain(|k, v| {
                let field_schema = props.and_then(|p| p.get(k)).or(extra);
                match field_schema {
                    Some(fs) => {
                        !(v.is_null() && !flag(fs, "nullable") && fs.get("default").is_none())
                    }
                    None => true,
                }
            });
            for (k, v) in m.iter_mut() {
                prune_nulls(v, props.and_then(|p| p.get(k)).or(extra));
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                prune_nulls(item, s.get("items"));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({ "type": "object", "properties": { "spec": { "type": "object", "properties": {
            "size": { "type": "integer", "default": 1 },
            "opt": { "type": "string" },
            "maybe": { "type": "string", "nullable": true },
            "tls": { "type": "object", "properties": { "enabled": { "type": "boolean", "default": false } } },
            "probe": { "type": "object", "default": {}, "properties": { "period": { "type": "integer", "default": 10 } } },
            "ports": { "type": "array", "items": { "type": "object", "properties": { "protocol": { "type": "string", "default": "TCP" } } } }
        } } } })
    }

    #[test]
    fn defaults_fill_absent_fields_and_nested_fields_of_existing_parents() {
        let mut obj = json!({ "spec": { "ports": [{}, { "protocol": "UDP" }] } });
        default(&mut obj, &schema());
        assert_eq!(
            obj["spec"],
            json!({ "size": 1, "probe": { "period": 10 }, "ports": [{ "protocol": "TCP" }, { "protocol": "UDP" }] })
        );
        // `tls` has no default of its own: its nested default waits for the parent to exist.
        let mut obj = json!({ "spec": { "tls": {} } });
        default(&mut obj, &schema());
        assert_eq!(obj["spec"]["tls"], json!({ "enabled": false }));
    }

    #[test]
    fn nulls_take_defaults_or_go_unless_nullable() {
        let mut obj = json!({ "spec": { "size": null, "opt": null, "maybe": null } });
        default(&mut obj, &schema());
        assert_eq!(obj["spec"]["size"], 1);
        assert!(obj["spec"].get("opt").is_none());
        assert_eq!(obj["spec"]["maybe"], Value::Null);
    }
}
