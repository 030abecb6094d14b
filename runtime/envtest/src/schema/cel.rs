//! CEL `x-kubernetes-validations` rules, evaluated with the `cel` crate (cel-rust) the way
//! apiextensions' `schema/cel` package does: `self` is the value at the rule's schema node,
//! `oldSelf` the correlated old value on updates (rules that use it are transition rules,
//! skipped when there is no old value), from the root only `apiVersion`, `kind`,
//! `metadata.name` and `metadata.generateName` of metadata are visible. A failed rule is a
//! cause `<path>: Invalid value: "<type>": <message>` (or the error type its `reason` names),
//! with `messageExpression` and `fieldPath` honoured.
//!
//! Fail closed: a rule that does not compile rejects the CRD; a rule that cannot be evaluated
//! (a function cel-rust lacks, such as Kubernetes' `quantity` or `isURL`, or any evaluation
//! error) rejects the object with the evaluator's message, which names the function.

use std::collections::HashMap;
use std::sync::Arc;

use ::cel::{Context, Env, Program};
use serde_json::Value;

use super::{additional, child, go_quote, index, properties};
use crate::status::Cause;

const RULES: &str = "x-kubernetes-validations";

/// One entry of `x-kubernetes-validations`.
struct Rule<'a> {
    rule: &'a str,
    message: Option<&'a str>,
    message_expression: Option<&'a str>,
    reason: Option<&'a str>,
    field_path: Option<&'a str>,
    optional_old_self: bool,
}

fn rules(s: &Value) -> Vec<Rule<'_>> {
    s.get(RULES)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| Rule {
            rule: r.get("rule").and_then(Value::as_str).unwrap_or_default(),
            message: r
                .get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty()),
            message_expression: r
                .get("messageExpression")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty()),
            reason: r.get("reason").and_then(Value::as_str),
            field_path: r
                .get("fieldPath")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty()),
            optional_old_self: r.get("optionalOldSelf").and_then(Value::as_bool) == Some(true),
        })
        .collect()
}

thread_local! {
    /// Kubernetes' CRD environment as far as it is implemented: the standard library, the
    /// strings extension (`lowerAscii`, `split`, `indexOf`, `replace`, `trim`, `join`, ...),
    /// and Kubernetes' lists and regex libraries ([`super::cel_library`]). Its other libraries
    /// (`quantity`, `url`, `ip`, `cidr`, `format`, ...) and timestamps/durations are not there,
    /// and fail closed when a rule calls them.
    static ENV: Arc<Env> = {
        let mut env = Env::stdlib();
        // Cannot clash: a fresh standard environment has none of the extensions' names.
        if let Err(e) = env
            .add_extension(::cel::extensions::strings)
            .and_then(|()| env.add_extension(super::cel_library::extension))
        {
            tracing::error!(error = %e, "could not declare the CEL libraries");
        }
        Arc::new(env)
    };
}

fn context() -> Context<'static, 'static> {
    Context::with_env(ENV.with(Arc::clone))
}

fn compile(source: &str) -> Result<Program, String> {
    // The parser is generated code that may panic on input it does not expect; a panic here
    // must become a refusal, not a dead server.
    let env = ENV.with(Arc::clone);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.compile(source))) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the CEL parser failed on this expression".into()),
    }
}

/// Checks every rule of a CRD version's schema (`path` is where the schema sits in the CRD):
/// each must compile, and what this evaluator cannot do is refused up front.
pub(super) fn check_rules(s: &Value, path: &str, out: &mut Vec<Cause>) {
    if !s.is_object() {
        return;
    }
    for (i, r) in rules(s).iter().enumerate() {
        let at = format!("{path}.{RULES}[{i}]");
        if r.rule.trim().is_empty() {
            out.push(Cause {
                reason: "FieldValueRequired",
                field: format!("{at}.rule"),
                message: "Required value".into(),
            });
            continue;
        }
        match compile(r.rule) {
            Err(e) => out.push(compile_failure(&format!("{at}.rule"), r.rule, &e)),
            // kube-apiserver's CRD validation: the flag only means something to a transition rule.
            Ok(program) if r.optional_old_self && !program.references().has_variable("oldSelf") => {
                out.push(Cause {
                    reason: "FieldValueInvalid",
                    field: format!("{at}.optionalOldSelf"),
                    message: "Invalid value: true: may not be set if oldSelf is not used in rule"
                        .into(),
                });
            }
            Ok(_) => {}
        }
        if let Some(expr) = r.message_expression
            && let Err(e) = compile(expr)
        {
            out.push(compile_failure(
                &format!("{at}.messageExpression"),
                expr,
                &e,
            ));
        }
        if let Some(reason) = r.reason
            && !matches!(
                reason,
                "FieldValueInvalid"
                    | "FieldValueForbidden"
                    | "FieldValueRequired"
                    | "FieldValueDuplicate"
            )
        {
            out.push(Cause {
                reason: "FieldValueNotSupported",
                field: format!("{at}.reason"),
                message: format!(
                    "Unsupported value: {}: supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"",
                    go_quote(reason)
                ),
            });
        }
    }
    if let Some(items) = s.get("items") {
        check_rules(items, &format!("{path}.items"), out);
    }
    if let Some(props) = properties(s) {
        for (k, p) in props {
            check_rules(p, &format!("{path}.properties[{k}]"), out);
        }
    }
    if let Some(Some(extra)) = additional(s) {
        check_rules(extra, &format!("{path}.additionalProperties"), out);
    }
}

fn compile_failure(field: &str, source: &str, error: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: field.to_string(),
        message: format!(
            "Invalid value: {}: compilation failed: {error}",
            go_quote(source)
        ),
    }
}

/// Evaluates every rule of `schema` against `obj` (and `old` for transition rules).
pub(super) fn validate(obj: &Value, old: Option<&Value>, schema: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    node(obj, old, schema, "", true, &mut out);
    out
}

/// A JSON value as CEL sees it; at the root, metadata shows only name and generateName.
fn to_cel(v: &Value) -> ::cel::Value {
    match v {
        Value::Null => ::cel::Value::Null,
        Value::Bool(b) => ::cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => ::cel::Value::Int(i),
            (_, Some(u), _) => ::cel::Value::UInt(u),
            (_, _, Some(f)) => ::cel::Value::Float(f),
            _ => ::cel::Value::Null,
        },
        Value::String(s) => ::cel::Value::String(Arc::new(s.clone())),
        Value::Array(a) => ::cel::Value::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<String, ::cel::Value> =
                m.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            ::cel::Value::Map(map.into())
        }
    }
}

fn root_view(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        meta.retain(|k, _| k == "name" || k == "generateName");
    }
    v
}

fn node(v: &Value, old: Option<&Value>, s: &Value, path: &str, root: bool, out: &mut Vec<Cause>) {
    if !s.is_object() || v.is_null() {
        return;
    }
    let found = rules(s);
    if !found.is_empty() {
        let (this, before) = if root {
            (root_view(v), old.map(root_view))
        } else {
            (v.clone(), old.cloned())
        };
        for r in &found {
            evaluate(r, &this, before.as_ref(), s, path, out);
        }
    }
    match v {
        Value::Object(m) => {
            let props = properties(s);
            let extra = additional(s).flatten();
            let old_m = old.and_then(Value::as_object);
            for (k, fv) in m {
                let Some(fs) = props.and_then(|p| p.get(k)).or(extra) else {
                    continue;
                };
                node(
                    fv,
                    old_m.and_then(|o| o.get(k)),
                    fs,
                    &child(path, k),
                    false,
                    out,
                );
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = s.get("items") else {
                return;
            };
            // A list unchanged as a whole ratchets the rules of its items too.
            let unchanged = old.and_then(Value::as_array).is_some_and(|o| o == items);
            for (i, item) in items.iter().enumerate() {
                let before = if unchanged {
                    Some(item)
                } else {
                    old.and_then(|o| correlate(item, o, s))
                };
                node(item, before, item_schema, &index(path, i), false, out);
            }
        }
        _ => {}
    }
}

/// The old item a new one corresponds to: only `x-kubernetes-list-type: map` lists have item
/// identity (their keys), as for kube-apiserver's transition rules.
pub(super) fn correlate<'a>(item: &Value, old_list: &'a Value, s: &Value) -> Option<&'a Value> {
    if s.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return None;
    }
    let keys: Vec<&str> = s
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let key_of =
        |o: &Value| -> Vec<Option<Value>> { keys.iter().map(|k| o.get(*k).cloned()).collect() };
    let want = key_of(item);
    old_list.as_array()?.iter().find(|o| key_of(o) == want)
}

fn evaluate(
    r: &Rule<'_>,
    this: &Value,
    old: Option<&Value>,
    s: &Value,
    path: &str,
    out: &mut Vec<Cause>,
) {
    let type_name = s.get("type").and_then(Value::as_str).unwrap_or_default();
    let program = match compile(r.rule) {
        Ok(p) => p,
        // The CRD check refuses rules that do not compile; a CRD stored before is refused here.
        Err(e) => {
            out.push(invalid(path, type_name, format!("compilation failed: {e}")));
            return;
        }
    };
    let transition = program.references().has_variable("oldSelf");
    // A transition rule runs only on updates, unless optionalOldSelf makes `oldSelf` an
    // optional (`optional.none()` on create and for new list entries), as upstream.
    if transition && old.is_none() && !r.optional_old_self {
        return;
    }
    // Ratcheting: a rule without oldSelf does not reject a value it already saw unchanged.
    if !transition && old.is_some_and(|o| o == this) {
        return;
    }
    let mut ctx = context();
    ctx.add_variable_from_value("self", to_cel(this));
    if r.optional_old_self {
        let optional = match old {
            Some(old) => ::cel::objects::OptionalValue::of(to_cel(old)),
            None => ::cel::objects::OptionalValue::none(),
        };
        ctx.add_variable_from_value(
            "oldSelf",
            ::cel::Value::Opaque(std::sync::Arc::new(optional)),
        );
    } else if let Some(old) = old {
        ctx.add_variable_from_value("oldSelf", to_cel(old));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(&ctx)));
    let field = match r.field_path {
        Some(fp) => {
            let fp = fp.trim_start_matches('.');
            if path.is_empty() {
                fp.to_string()
            } else {
                format!("{path}.{fp}")
            }
        }
        None => path.to_string(),
    };
    match result {
        Ok(Ok(::cel::Value::Bool(true))) => {}
        Ok(Ok(::cel::Value::Bool(false))) => {
            let detail = message(r, &ctx);
            out.push(failure(&field, type_name, r.reason, detail));
        }
        Ok(Ok(other)) => out.push(invalid(
            &field,
            type_name,
            format!(
                "rule {} evaluated to {other:?}, not a boolean",
                go_quote(r.rule.trim())
            ),
        )),
        Ok(Err(e)) => out.push(invalid(
            &field,
            type_name,
            format!(
                "rule {} could not be evaluated: {e}",
                go_quote(r.rule.trim())
            ),
        )),
        Err(_) => out.push(invalid(
            &field,
            type_name,
            format!("rule {} could not be evaluated", go_quote(r.rule.trim())),
        )),
    }
}

/// The message of a failed rule: `messageExpression` if it yields a non-empty string, else
/// `message`, else `failed rule: <rule>`.
fn message(r: &Rule<'_>, ctx: &Context<'_, '_>) -> String {
    if let Some(expr) = r.message_expression
        && let Ok(p) = compile(expr)
        && let Ok(Ok(::cel::Value::String(s))) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.execute(ctx)))
        && !s.trim().is_empty()
    {
        return s.to_string();
    }
    match r.message {
        Some(m) => m.to_string(),
        None => format!("failed rule: {}", r.rule.trim()),
    }
}

fn field_name(path: &str) -> String {
    if path.is_empty() {
        "<nil>".into()
    } else {
        path.to_string()
    }
}

fn invalid(path: &str, type_name: &str, detail: String) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: field_name(path),
        message: format!("Invalid value: {}: {detail}", go_quote(type_name)),
    }
}

/// `fieldErrorForReason`: the rule's `reason` picks the error type.
fn failure(path: &str, type_name: &str, reason: Option<&str>, detail: String) -> Cause {
    let field = field_name(path);
    match reason {
        Some("FieldValueForbidden") => Cause {
            reason: "FieldValueForbidden",
            field,
            message: format!("Forbidden: {detail}"),
        },
        Some("FieldValueRequired") => Cause {
            reason: "FieldValueRequired",
            field,
            message: format!("Required value: {detail}"),
        },
        Some("FieldValueDuplicate") => Cause {
            reason: "FieldValueDuplicate",
            field,
            message: format!("Duplicate value: {}", go_quote(type_name)),
        },
        _ => invalid(path, type_name, detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(obj: Value, old: Option<Value>, schema: Value) -> Vec<String> {
        validate(&obj, old.as_ref(), &schema)
            .into_iter()
            .map(|c| format!("{} [{}]: {}", c.field, c.reason, c.message))
            .collect()
    }

    fn spec_rules(rules: Value) -> Value {
        json!({ "type": "object", "properties": { "spec": { "type": "object", RULES: rules,
            "properties": { "min": { "type": "integer" }, "max": { "type": "integer" },
                            "name": { "type": "string" } } } } })
    }

    #[test]
    fn self_rules_pass_and_fail_with_message_or_default() {
        let s = spec_rules(
            json!([{ "rule": "self.min <= self.max", "message": "min must not exceed max" },
                                   { "rule": "self.name.startsWith('w')" }]),
        );
        assert!(
            run(
                json!({ "spec": { "min": 1, "max": 2, "name": "web" } }),
                None,
                s.clone()
            )
            .is_empty()
        );
        assert_eq!(
            run(
                json!({ "spec": { "min": 3, "max": 2, "name": "db" } }),
                None,
                s
            ),
            [
                "spec [FieldValueInvalid]: Invalid value: \"object\": min must not exceed max",
                "spec [FieldValueInvalid]: Invalid value: \"object\": failed rule: self.name.startsWith('w')",
            ]
        );
    }

    #[test]
    fn message_expression_reason_and_field_path() {
        let s = spec_rules(
            json!([{ "rule": "self.min <= self.max", "messageExpression": "'min ' + string(self.min) + ' is over max'",
                                    "reason": "FieldValueForbidden", "fieldPath": ".min" }]),
        );
        assert_eq!(
            run(json!({ "spec": { "min": 3, "max": 2 } }), None, s),
            ["spec.min [FieldValueForbidden]: Forbidden: min 3 is over max"]
        );
    }

    #[test]
    fn transition_rules_need_old_self() {
        let s = spec_rules(
            json!([{ "rule": "self.name == oldSelf.name", "message": "name is immutable" }]),
        );
        assert!(run(json!({ "spec": { "name": "a" } }), None, s.clone()).is_empty());
        assert!(
            run(
                json!({ "spec": { "name": "a" } }),
                Some(json!({ "spec": { "name": "a" } })),
                s.clone()
            )
            .is_empty()
        );
        assert_eq!(
            run(
                json!({ "spec": { "name": "b" } }),
                Some(json!({ "spec": { "name": "a" } })),
                s
            ),
            ["spec [FieldValueInvalid]: Invalid value: \"object\": name is immutable"]
        );
    }

    #[test]
    fn root_rules_see_only_name_and_generate_name_of_metadata() {
        let s = json!({ "type": "object", RULES: [{ "rule": "!has(self.metadata.labels) && self.metadata.name.size() < 5" }] });
        assert!(
            run(
                json!({ "metadata": { "name": "abc", "labels": { "a": "b" } } }),
                None,
                s.clone()
            )
            .is_empty()
        );
        assert_eq!(
            run(json!({ "metadata": { "name": "abcdef" } }), None, s),
            [
                "<nil> [FieldValueInvalid]: Invalid value: \"object\": failed rule: !has(self.metadata.labels) && self.metadata.name.size() < 5"
            ]
        );
    }

    #[test]
    fn kubernetes_lists_and_regex_libraries() {
        let s = json!({ "type": "object", "properties": { "spec": { "type": "object",
            "properties": {
                "xs": { "type": "array", "items": { "type": "integer" } },
                "ds": { "type": "array", "items": { "type": "number" } },
                "names": { "type": "array", "items": { "type": "string" } },
                "text": { "type": "string" } },
            RULES: [
                { "rule": "self.xs.isSorted()", "message": "xs sorted" },
                { "rule": "self.xs.sum() == 6", "message": "xs sum" },
                { "rule": "self.xs.min() == 1 && self.xs.max() == 3", "message": "xs bounds" },
                { "rule": "self.ds.sum() == 1.5", "message": "ds sum" },
                { "rule": "self.names.indexOf('b') == 1 && self.names.lastIndexOf('b') == 2 && self.names.indexOf('z') == -1", "message": "positions" },
                { "rule": "self.names.isSorted()", "message": "names sorted" },
                { "rule": "self.text.find('[0-9]+') == '42' && self.text.findAll('[a-z]+') == ['ab', 'cd'] && self.text.findAll('[a-z]+', 1) == ['ab']", "message": "regex" },
                { "rule": "self.text.indexOf('4') == 2", "message": "the strings indexOf still works" },
            ] } } });
        let ok = json!({ "spec": { "xs": [1, 2, 3], "ds": [0.5, 1.0], "names": ["a", "b", "b"],
            "text": "ab42cd" } });
        assert_eq!(run(ok, None, s.clone()), Vec::<String>::new());
        let bad = json!({ "spec": { "xs": [3, 1, 2], "ds": [0.5], "names": ["b", "a", "b"],
            "text": "ab42cd" } });
        assert_eq!(
            run(bad, None, s.clone()),
            [
                "spec [FieldValueInvalid]: Invalid value: \"object\": xs sorted",
                "spec [FieldValueInvalid]: Invalid value: \"object\": ds sum",
                "spec [FieldValueInvalid]: Invalid value: \"object\": positions",
                "spec [FieldValueInvalid]: Invalid value: \"object\": names sorted",
            ]
        );
        // min() and max() of an empty list are errors, which reject the object.
        let empty = json!({ "spec": { "xs": [], "ds": [1.5], "names": ["a", "b", "b"], "text": "ab42cd" } });
        let out = run(empty, None, s);
        assert!(
            out.iter().any(|m| m.contains("called on empty list")),
            "{out:?}"
        );
    }

    #[test]
    fn the_strings_extension_is_available() {
        let s = spec_rules(json!([{ "rule": "self.name.lowerAscii().split('-').size() == 2" }]));
        assert!(run(json!({ "spec": { "name": "Web-A" } }), None, s.clone()).is_empty());
        assert_eq!(run(json!({ "spec": { "name": "web" } }), None, s).len(), 1);
    }

    #[test]
    fn unknown_functions_fail_closed_naming_the_function() {
        let s = spec_rules(json!([{ "rule": "isURL(self.name)" }]));
        let got = run(json!({ "spec": { "name": "x" } }), None, s);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].contains("could not be evaluated") && got[0].contains("isURL"),
            "{got:?}"
        );
    }

    #[test]
    fn rules_that_do_not_compile_are_refused_on_the_crd() {
        let s = spec_rules(
            json!([{ "rule": "self.min <" }, { "rule": "true", "optionalOldSelf": true }]),
        );
        let mut out = Vec::new();
        check_rules(&s, "x", &mut out);
        let got: Vec<String> = out
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("x.properties[spec].x-kubernetes-validations[0].rule: Invalid value: \"self.min <\": compilation failed: "), "{got:?}");
        assert_eq!(
            got[1],
            "x.properties[spec].x-kubernetes-validations[1].optionalOldSelf: Invalid value: true: may not be set if oldSelf is not used in rule"
        );
    }

    #[test]
    fn optional_old_self_rules_run_on_create_with_an_empty_optional() {
        let s = spec_rules(json!([{
            "rule": "!oldSelf.hasValue() || self.name == oldSelf.value().name",
            "message": "name is immutable once set",
            "optionalOldSelf": true,
        }]));
        let mut out = Vec::new();
        check_rules(&s, "x", &mut out);
        assert!(out.is_empty(), "the CRD is accepted");
        let created = run(json!({ "spec": { "name": "a" } }), None, s.clone());
        assert!(created.is_empty(), "{created:?}");
        let kept = run(
            json!({ "spec": { "name": "a" } }),
            Some(json!({ "spec": { "name": "a" } })),
            s.clone(),
        );
        assert!(kept.is_empty(), "{kept:?}");
        let changed = run(
            json!({ "spec": { "name": "b" } }),
            Some(json!({ "spec": { "name": "a" } })),
            s,
        );
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(
            changed[0].contains("name is immutable once set"),
            "{changed:?}"
        );
    }
}
