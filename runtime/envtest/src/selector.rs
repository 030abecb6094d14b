//! Label and field selectors (apimachinery `labels/selector.go`, `fields/selector.go`).

use serde_json::Value;

use crate::store::meta_str;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed `labelSelector`; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for raw in split_terms(s) {
            let term = raw.trim();
            let bad = || {
                format!(
                    "unable to parse requirement: found '{term}', expected: a valid label selector term"
                )
            };
            if let Some(key) = term.strip_prefix('!') {
                let key = key.trim();
                if !valid_key(key) {
                    return Err(bad());
                }
                reqs.push(Requirement {
                    key: key.into(),
                    op: Op::NotExists,
                });
                continue;
            }
            let key_end = term
                .find(|c: char| c.is_whitespace() || "=!<>(".contains(c))
                .unwrap_or(term.len());
            let key = &term[..key_end];
            if !valid_key(key) {
                return Err(bad());
            }
            let rest = term[key_end..].trim_start();
            let op = if rest.is_empty() {
                Op::Exists
            } else if let Some(v) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
                let v = v.trim();
                if !valid_value(v) {
                    return Err(bad());
                }
                Op::Eq(v.into())
            } else if let Some(v) = rest.strip_prefix("!=") {
                let v = v.trim();
                if !valid_value(v) {
                    return Err(bad());
                }
                Op::NotEq(v.into())
            } else if let Some(v) = rest.strip_prefix('>') {
                Op::Gt(v.trim().parse().map_err(|_| bad())?)
            } else if let Some(v) = rest.strip_prefix('<') {
                Op::Lt(v.trim().parse().map_err(|_| bad())?)
            } else {
                let (negate, list) = if let Some(l) = rest.strip_prefix("notin") {
                    (true, l)
                } else if let Some(l) = rest.strip_prefix("in") {
                    (false, l)
                } else {
                    return Err(bad());
                };
                let list = list.trim();
                let inner = list
                    .strip_prefix('(')
                    .and_then(|l| l.strip_suffix(')'))
                    .ok_or_else(bad)?;
                let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
                if values.iter().any(|v| !valid_value(v)) {
                    return Err(bad());
                }
                if negate {
                    Op::NotIn(values)
                } else {
                    Op::In(values)
                }
            };
            reqs.push(Requirement {
                key: key.into(),
                op,
            });
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.get("metadata").and_then(|m| m.get("labels"));
        self.0.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match &r.op {
                Op::Eq(v) => value == Some(v.as_str()),
                Op::NotEq(v) => value != Some(v.as_str()),
                Op::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
                Op::NotIn(vs) => value.is_none_or(|x| !vs.iter().any(|v| v == x)),
                Op::Exists => value.is_some(),
                Op::NotExists => value.is_none(),
                Op::Gt(n) => value
                    .and_then(|x| x.parse::<i64>().ok())
                    .is_some_and(|x| x > *n),
                Op::Lt(n) => value
                    .and_then(|x| x.parse::<i64>().ok())
                    .is_some_and(|x| x < *n),
            }
        })
    }
}

/// A parsed `fieldSelector` over the fields every resource supports.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
            cur.push(c);
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

impl FieldSelector {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a field selector over `metadata.name`, (for namespaced kinds) `metadata.namespace`,
    /// and the type's own selectable fields (`extra`, dotted paths).
    pub fn parse(s: &str, namespaced: bool, extra: &[String]) -> Result<Self, String> {
        let mut terms = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector(terms));
        }
        for term in split_unescaped(s, ',') {
            let (key, eq, value) = if let Some(i) = term.find("!=") {
                (&term[..i], false, &term[i + 2..])
            } else if let Some(i) = term.find("==") {
                (&term[..i], true, &term[i + 2..])
            } else if let Some(i) = term.find('=') {
                (&term[..i], true, &term[i + 1..])
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ));
            };
            let key = key.trim();
            let supported = key == "metadata.name"
                || (namespaced && key == "metadata.namespace")
                || extra.iter().any(|f| f == key);
            if !supported {
                return Err(format!("field label not supported: {key}"));
            }
            terms.push((key.to_string(), eq, unescape(value)));
        }
        Ok(FieldSelector(terms))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0
            .iter()
            .all(|(key, eq, value)| (field_value(obj, key) == *value) == *eq)
    }
}

/// A selectable field's value as a string ("" when absent), as field label conversion produces it.
fn field_value(obj: &Value, key: &str) -> String {
    match key {
        "metadata.name" => return meta_str(obj, "name").to_string(),
        "metadata.namespace" => return meta_str(obj, "namespace").to_string(),
        // core/v1 Events expose `source` as the source component.
        "source" => {
            return obj
                .pointer("/source/component")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
        }
        _ => {}
    }
    let mut cur = obj;
    for part in key.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({ "metadata": { "name": "a", "namespace": "ns", "labels": labels } })
    }

    #[test]
    fn label_operators() {
        let o = obj(json!({ "app": "web", "tier": "front", "n": "5" }));
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier=back", false),
            ("n>4", true),
            ("n<4", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        assert!(
            FieldSelector::parse("metadata.name=a", true, &[])
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=a", true, &[])
                .unwrap()
                .matches(&o)
        );
        assert!(
            FieldSelector::parse("metadata.namespace==ns", true, &[])
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.x=1", true, &[]).unwrap_err(),
            "field label not supported: spec.x"
        );
        assert!(FieldSelector::parse("metadata.name", true, &[]).is_err());
        let ev = json!({ "metadata": { "name": "e" }, "involvedObject": { "name": "pod-1", "kind": "Pod" }, "count": 2 });
        let extra = vec![
            "involvedObject.name".to_string(),
            "involvedObject.kind".to_string(),
            "count".to_string(),
        ];
        let sel = |s: &str| FieldSelector::parse(s, true, &extra).unwrap();
        assert!(sel("involvedObject.name=pod-1,involvedObject.kind=Pod").matches(&ev));
        assert!(sel("count=2").matches(&ev));
        assert!(!sel("involvedObject.name=other").matches(&ev));
    }
}
