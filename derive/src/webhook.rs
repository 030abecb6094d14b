//! Parser and checks for `#[webhook(...)]` arguments.
//!
//! Like `rbac.rs`, this file is compiled twice: by `kubesmith-derive` (the attribute macro)
//! and by the `kubesmith` CLI (`#[path = "../../derive/src/webhook.rs"]`), which scans a
//! project's sources for the same attributes to write `config/webhook/manifests.yaml`. It
//! may only use `syn`, `proc-macro2`, `std` and its sibling module `super::rbac` (the shared
//! key/value helpers).

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Token};

use super::rbac::{
    closest, expect_str, expect_str_list, is_dns1123_subdomain, meta_key, meta_value, ungroup,
};

/// Keys accepted by `#[webhook(...)]`, in the order they are listed in messages.
pub const WEBHOOK_KEYS: &[&str] = &[
    "path",
    "url",
    "mutating",
    "failure_policy",
    "match_policy",
    "side_effects",
    "timeout_seconds",
    "groups",
    "resources",
    "verbs",
    "versions",
    "name",
    "admission_review_versions",
    "reinvocation_policy",
    "webhook_versions",
    "service_name",
    "service_namespace",
    "service_port",
    "namespace_selector",
    "object_selector",
    "configuration_name",
];

/// Operations a webhook rule may match (`verbs`), as written in the attribute.
pub const WEBHOOK_VERBS: &[&str] = &["create", "update", "delete", "connect", "*"];
const FAILURE_POLICIES: &[&str] = &["fail", "ignore"];
const MATCH_POLICIES: &[&str] = &["Exact", "Equivalent"];
const SIDE_EFFECTS: &[&str] = &["None", "NoneOnDryRun"];
const REINVOCATION_POLICIES: &[&str] = &["Never", "IfNeeded"];
const REVIEW_VERSIONS: &[&str] = &["v1", "v1beta1"];

/// One `#[webhook(...)]` attribute: one entry of a Mutating- or ValidatingWebhookConfiguration.
///
/// Enumerated values are stored as the API spells them (`Fail`, `CREATE`), so the
/// manifest writer copies them as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookArgs {
    /// `true`: a MutatingWebhookConfiguration entry; `false`: a validating one.
    pub mutating: bool,
    /// Path on the manager's webhook service (`clientConfig.service.path`).
    pub path: Option<String>,
    /// A URL outside the cluster (`clientConfig.url`), instead of the service.
    pub url: Option<String>,
    /// `Fail` or `Ignore`.
    pub failure_policy: String,
    /// `Exact` or `Equivalent`, when set.
    pub match_policy: Option<String>,
    /// `None` or `NoneOnDryRun`.
    pub side_effects: String,
    /// 1 to 30, when set.
    pub timeout_seconds: Option<u32>,
    /// API groups of the rule (`""` is the core group).
    pub groups: Vec<String>,
    pub resources: Vec<String>,
    /// Operations: `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `*`.
    pub operations: Vec<String>,
    pub versions: Vec<String>,
    /// The webhook's name, a fully qualified domain name (`mmemcached-v1alpha1.kb.io`).
    pub name: String,
    pub admission_review_versions: Vec<String>,
    /// `Never` or `IfNeeded`, mutating webhooks only.
    pub reinvocation_policy: Option<String>,
    /// The service the API server calls, instead of `webhook-service` in `system`.
    pub service_name: Option<String>,
    pub service_namespace: Option<String>,
    pub service_port: Option<u16>,
    pub namespace_selector: Option<LabelSelector>,
    pub object_selector: Option<LabelSelector>,
    /// Name of the configuration object holding this webhook, instead of
    /// `mutating-webhook-configuration` / `validating-webhook-configuration`.
    pub configuration_name: Option<String>,
}

/// A Kubernetes `LabelSelector`, written in the attribute as a kubectl `-l` selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// `key=value` requirements, sorted by key (`matchLabels` is a map).
    pub match_labels: Vec<(String, String)>,
    /// Every other requirement, in the order written.
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorRequirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    pub values: Vec<String>,
}

const REQUIRED: &[&str] = &[
    "mutating",
    "failure_policy",
    "side_effects",
    "groups",
    "resources",
    "verbs",
    "versions",
    "name",
    "admission_review_versions",
];

/// Parses and checks the arguments of one `#[webhook(...)]` attribute, as controller-gen
/// checks a `+kubebuilder:webhook` marker. Every error is spanned on the offending token and
/// names the valid choices.
pub fn parse_webhook_args(args: TokenStream) -> syn::Result<WebhookArgs> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    if metas.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "expected webhook arguments, e.g. #[webhook(path = \"/validate-cache-example-com-v1-memcached\", \
             mutating = false, failure_policy = \"fail\", side_effects = \"None\", groups = [\"cache.example.com\"], \
             resources = [\"memcacheds\"], verbs = [\"create\", \"update\"], versions = [\"v1\"], \
             name = \"vmemcached-v1.kb.io\", admission_review_versions = [\"v1\"])]",
        ));
    }
    let mut out = WebhookArgs::default();
    let mut seen: Vec<(String, Span)> = Vec::new();
    for meta in &metas {
        let (key, key_span) = meta_key(meta, WEBHOOK_KEYS, "webhook")?;
        if seen.iter().any(|(k, _)| *k == key) {
            return Err(syn::Error::new(
                key_span,
                format!("duplicate key `{key}`: each key may appear once per #[webhook(...)]"),
            ));
        }
        seen.push((key.clone(), key_span));
        let example = example(&key);
        let value = meta_value(meta, &key, example)?;
        match key.as_str() {
            "mutating" => out.mutating = expect_bool(value, &key, example)?,
            "timeout_seconds" => {
                let (n, span) = expect_int(value, &key, example)?;
                if !(1..=30).contains(&n) {
                    return Err(syn::Error::new(
                        span,
                        format!("`timeout_seconds` must be between 1 and 30 seconds, found {n}"),
                    ));
                }
                out.timeout_seconds = Some(n as u32);
            }
            "service_port" => {
                let (n, span) = expect_int(value, &key, example)?;
                if !(1..=65535).contains(&n) {
                    return Err(syn::Error::new(
                        span,
                        format!("`service_port` must be a port number from 1 to 65535, found {n}"),
                    ));
                }
                out.service_port = Some(n as u16);
            }
            "groups"
            | "resources"
            | "verbs"
            | "versions"
            | "admission_review_versions"
            | "webhook_versions" => {
                let lits = expect_str_list(value, &key, example)?;
                if lits.is_empty() {
                    return Err(syn::Error::new(
                        key_span,
                        format!("`{key}` must not be empty, e.g. {example}"),
                    ));
                }
                let mut values = Vec::new();
                for lit in &lits {
                    values.push(check_list_value(&key, lit)?);
                }
                match key.as_str() {
                    "groups" => out.groups = values,
                    "resources" => out.resources = values,
                    "verbs" => out.operations = values,
                    "versions" => out.versions = values,
                    "admission_review_versions" => {
                        if !values.iter().any(|v| v == "v1") {
                            return Err(syn::Error::new(
                                key_span,
                                "`admission_review_versions` must include \"v1\": the webhook server speaks admission.k8s.io/v1",
                            ));
                        }
                        out.admission_review_versions = values;
                    }
                    // Only v1 configurations exist; the key is accepted for markers ported as they are.
                    _ => {}
                }
            }
            _ => {
                let lit = expect_str(value, &key, example)?;
                let v = lit.value();
                let one_of = |valid: &[&str]| -> syn::Result<String> {
                    match valid.iter().find(|c| **c == v) {
                        Some(c) => Ok((*c).to_string()),
                        None => Err(bad_choice(&lit, &key, valid)),
                    }
                };
                match key.as_str() {
                    "path" => {
                        if !v.starts_with('/') || v.chars().any(char::is_whitespace) {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "`path` must start with '/' and contain no whitespace, found {v:?}, e.g. {example}"
                                ),
                            ));
                        }
                        out.path = Some(v);
                    }
                    "url" => {
                        if !v.starts_with("https://") || v.chars().any(char::is_whitespace) {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "`url` must be an https:// URL, found {v:?}, e.g. {example}"
                                ),
                            ));
                        }
                        out.url = Some(v);
                    }
                    "failure_policy" => {
                        let lower = v.to_ascii_lowercase();
                        if !FAILURE_POLICIES.contains(&lower.as_str()) {
                            return Err(bad_choice(&lit, &key, FAILURE_POLICIES));
                        }
                        out.failure_policy = if lower == "fail" { "Fail" } else { "Ignore" }.into();
                    }
                    "match_policy" => out.match_policy = Some(one_of(MATCH_POLICIES)?),
                    "side_effects" => {
                        if v == "Some" || v == "Unknown" {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "`side_effects` {v:?} is not allowed in admissionregistration.k8s.io/v1 \
                                     configurations; use \"None\" or \"NoneOnDryRun\""
                                ),
                            ));
                        }
                        out.side_effects = one_of(SIDE_EFFECTS)?;
                    }
                    "reinvocation_policy" => {
                        out.reinvocation_policy = Some(one_of(REINVOCATION_POLICIES)?)
                    }
                    "name" => {
                        if !is_dns1123_subdomain(&v) || v.split('.').count() < 3 {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "webhook name {v:?} must be a fully qualified domain name with at least \
                                     three segments (lowercase letters, digits, '-' and '.'), e.g. {example}"
                                ),
                            ));
                        }
                        out.name = v;
                    }
                    "service_name" | "service_namespace" => {
                        if v.is_empty() || v.chars().any(char::is_whitespace) {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "`{key}` must be a non-empty name without whitespace, e.g. {example}"
                                ),
                            ));
                        }
                        if key == "service_name" {
                            out.service_name = Some(v);
                        } else {
                            out.service_namespace = Some(v);
                        }
                    }
                    "namespace_selector" | "object_selector" => {
                        let selector = parse_selector(&v)
                            .map_err(|e| syn::Error::new(lit.span(), format!("`{key}`: {e}")))?;
                        if key == "namespace_selector" {
                            out.namespace_selector = Some(selector);
                        } else {
                            out.object_selector = Some(selector);
                        }
                    }
                    "configuration_name" => {
                        if !is_dns1123_subdomain(&v) {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "`configuration_name` {v:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"
                                ),
                            ));
                        }
                        out.configuration_name = Some(v);
                    }
                    _ => unreachable!("meta_key only returns known keys"),
                }
            }
        }
    }
    let span_of = |k: &str| seen.iter().find(|(s, _)| s == k).map(|(_, sp)| *sp);
    for key in REQUIRED {
        if span_of(key).is_none() {
            return Err(syn::Error::new(
                Span::call_site(),
                format!("missing required key `{key}`, e.g. {}", example(key)),
            ));
        }
    }
    match (span_of("path"), span_of("url")) {
        (Some(_), Some(url)) => {
            return Err(syn::Error::new(
                url,
                "`path` and `url` cannot both be set: `path` is served by the manager's webhook service, `url` is an external endpoint",
            ));
        }
        (None, None) => {
            return Err(syn::Error::new(
                Span::call_site(),
                "missing `path` (served by the manager's webhook service), e.g. path = \"/validate-cache-example-com-v1-memcached\", or `url` for an external endpoint",
            ));
        }
        _ => {}
    }
    if span_of("url").is_some() {
        for key in ["service_name", "service_namespace", "service_port"] {
            if let Some(span) = span_of(key) {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "`{key}` configures the service of `path`; it cannot be used with `url`"
                    ),
                ));
            }
        }
    }
    if let (false, Some(span)) = (out.mutating, span_of("reinvocation_policy")) {
        return Err(syn::Error::new(
            span,
            "`reinvocation_policy` only applies to mutating webhooks (mutating = true)",
        ));
    }
    Ok(out)
}

fn example(key: &str) -> &'static str {
    match key {
        "path" => "path = \"/mutate-cache-example-com-v1-memcached\"",
        "url" => "url = \"https://my-webhook.example.com:9443/validate\"",
        "mutating" => "mutating = true",
        "failure_policy" => "failure_policy = \"fail\" (or \"ignore\")",
        "match_policy" => "match_policy = \"Equivalent\" (or \"Exact\")",
        "side_effects" => "side_effects = \"None\" (or \"NoneOnDryRun\")",
        "timeout_seconds" => "timeout_seconds = 10 (1 to 30)",
        "groups" => "groups = [\"cache.example.com\"] (\"\" is the core group)",
        "resources" => "resources = [\"memcacheds\"]",
        "verbs" => "verbs = [\"create\", \"update\"]",
        "versions" => "versions = [\"v1\"]",
        "name" => "name = \"mmemcached-v1.kb.io\"",
        "admission_review_versions" => "admission_review_versions = [\"v1\"]",
        "reinvocation_policy" => "reinvocation_policy = \"IfNeeded\" (or \"Never\")",
        "webhook_versions" => "webhook_versions = [\"v1\"]",
        "service_name" => "service_name = \"webhook-service\"",
        "service_namespace" => "service_namespace = \"system\"",
        "service_port" => "service_port = 443",
        "namespace_selector" => "namespace_selector = \"webhook-enabled=true\"",
        "object_selector" => {
            "object_selector = \"tier in (frontend,backend),managed-by=controller\""
        }
        _ => "configuration_name = \"my-mutating-webhook-configuration\"",
    }
}

fn bad_choice(lit: &LitStr, key: &str, valid: &[&str]) -> syn::Error {
    let v = lit.value();
    let hint = closest(&v, valid)
        .map(|c| format!("did you mean \"{c}\"? "))
        .unwrap_or_default();
    let list: Vec<String> = valid.iter().map(|c| format!("\"{c}\"")).collect();
    syn::Error::new(
        lit.span(),
        format!(
            "invalid `{key}` {v:?}; {hint}valid values: {}",
            list.join(", ")
        ),
    )
}

fn check_list_value(key: &str, lit: &LitStr) -> syn::Result<String> {
    let v = lit.value();
    let err = |msg: String| Err(syn::Error::new(lit.span(), msg));
    if v.contains(';') || v.contains(',') {
        return err(format!(
            "one value per string: write [\"a\", \"b\"], not \"a;b\" (`{key}` = {v:?})"
        ));
    }
    if v.chars().any(char::is_whitespace) {
        return err(format!(
            "`{key}` values must not contain whitespace, found {v:?}"
        ));
    }
    if key != "groups" && v.is_empty() {
        return err(format!("`{key}` values must not be empty strings"));
    }
    match key {
        "verbs" => match WEBHOOK_VERBS.iter().find(|c| **c == v.to_ascii_lowercase()) {
            Some(c) => Ok(c.to_ascii_uppercase()),
            None => {
                let hint = closest(&v, WEBHOOK_VERBS)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                err(format!(
                    "unknown verb `{v}`; {hint}valid verbs: {}",
                    WEBHOOK_VERBS.join(", ")
                ))
            }
        },
        "groups" if !(v.is_empty() || v == "*" || is_dns1123_subdomain(&v)) => err(format!(
            "API group {v:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'); \
             use \"\" for the core group"
        )),
        "resources" if v.split('/').any(str::is_empty) || v.matches('/').count() > 1 => err(
            format!("resource {v:?} must be `resource` or `resource/subresource` (or \"*\")"),
        ),
        "admission_review_versions" if !REVIEW_VERSIONS.contains(&v.as_str()) => err(format!(
            "unsupported admission review version {v:?}; valid values: \"v1\", \"v1beta1\""
        )),
        "webhook_versions" if v != "v1" => err(format!(
            "webhook configuration version {v:?} is not supported: only \"v1\" \
             (admissionregistration.k8s.io/v1beta1 was removed in Kubernetes 1.22)"
        )),
        _ => Ok(v),
    }
}

fn expect_bool(value: &Expr, key: &str, example: &str) -> syn::Result<bool> {
    match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` expects `true` or `false`, e.g. {example}"),
        )),
    }
}

fn expect_int(value: &Expr, key: &str, example: &str) -> syn::Result<(i64, Span)> {
    let value = ungroup(value);
    let (negative, inner) = match value {
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => (true, ungroup(&u.expr)),
        other => (false, other),
    };
    match inner {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => {
            let n: i64 = i.base10_parse().map_err(|_| {
                syn::Error::new(i.span(), format!("`{key}` is out of range, e.g. {example}"))
            })?;
            let span = if negative {
                syn::spanned::Spanned::span(value)
            } else {
                i.span()
            };
            Ok((if negative { -n } else { n }, span))
        }
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` expects an integer, e.g. {example}"),
        )),
    }
}

/// Parses a kubectl-style label selector: comma-separated `key=value` (or `key==value`),
/// `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` (exists) and `!key` (does not exist).
/// `key=value` goes to `matchLabels`, everything else to `matchExpressions`.
pub fn parse_selector(text: &str) -> Result<LabelSelector, String> {
    let mut selector = LabelSelector::default();
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    const FORMS: &str = "write `key=value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, \
                         `key` or `!key`, separated by commas";
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("empty requirement in {text:?}; {FORMS}"));
        }
        let requirement = if let Some(key) = part.strip_prefix('!') {
            SelectorRequirement {
                key: check_label_key(key.trim())?,
                operator: "DoesNotExist".into(),
                values: Vec::new(),
            }
        } else if let Some((key, value)) = part.split_once("!=") {
            SelectorRequirement {
                key: check_label_key(key.trim())?,
                operator: "NotIn".into(),
                values: vec![check_label_value(value.trim())?],
            }
        } else if let Some((key, value)) = part.split_once('=') {
            let value = value.strip_prefix('=').unwrap_or(value);
            let key = check_label_key(key.trim())?;
            let value = check_label_value(value.trim())?;
            if selector.match_labels.iter().any(|(k, _)| *k == key) {
                return Err(format!("label `{key}` is given twice in {text:?}"));
            }
            selector.match_labels.push((key, value));
            continue;
        } else if let Some(open) = part.find('(') {
            let head: Vec<&str> = part[..open].split_whitespace().collect();
            let operator = match head.as_slice() {
                [_, "in"] => "In",
                [_, "notin"] => "NotIn",
                _ => return Err(format!("cannot read {part:?}; {FORMS}")),
            };
            let Some(inner) = part[open + 1..].strip_suffix(')') else {
                return Err(format!("missing ')' in {part:?}; {FORMS}"));
            };
            let values = inner
                .split(',')
                .map(|v| check_label_value(v.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            if values.iter().all(String::is_empty) {
                return Err(format!(
                    "`{}` needs at least one value in {part:?}",
                    head[1]
                ));
            }
            SelectorRequirement {
                key: check_label_key(head[0])?,
                operator: operator.into(),
                values,
            }
        } else if part.split_whitespace().count() == 1 {
            SelectorRequirement {
                key: check_label_key(part)?,
                operator: "Exists".into(),
                values: Vec::new(),
            }
        } else {
            return Err(format!("cannot read {part:?}; {FORMS}"));
        };
        selector.match_expressions.push(requirement);
    }
    selector.match_labels.sort();
    Ok(selector)
}

/// A label key: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63
/// characters of letters, digits, '-', '_' and '.', starting and ending alphanumeric.
fn check_label_key(key: &str) -> Result<String, String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(is_dns1123_subdomain);
    if !prefix_ok || !is_label_name(name) || name.is_empty() {
        return Err(format!(
            "{key:?} is not a valid label key (an optional DNS-1123 prefix and '/', then up to 63 \
             letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
        ));
    }
    Ok(key.to_string())
}

fn check_label_value(value: &str) -> Result<String, String> {
    if value.is_empty() || is_label_name(value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "{value:?} is not a valid label value (up to 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit)"
        ))
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn err(ts: TokenStream) -> String {
        parse_webhook_args(ts).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_scaffolded_defaulter() {
        let w = parse_webhook_args(quote!(
            path = "/mutate-cache-example-com-v1alpha1-memcached",
            mutating = true,
            failure_policy = "fail",
            side_effects = "None",
            groups = ["cache.example.com"],
            resources = ["memcacheds"],
            verbs = ["create", "update"],
            versions = ["v1alpha1"],
            name = "mmemcached-v1alpha1.kb.io",
            admission_review_versions = ["v1"],
            timeout_seconds = 10,
            reinvocation_policy = "IfNeeded",
            object_selector = "tier in (frontend, backend),managed-by=controller,!legacy"
        ))
        .unwrap();
        assert!(w.mutating);
        assert_eq!(w.failure_policy, "Fail");
        assert_eq!(w.operations, ["CREATE", "UPDATE"]);
        assert_eq!(w.timeout_seconds, Some(10));
        let sel = w.object_selector.unwrap();
        assert_eq!(
            sel.match_labels,
            [("managed-by".into(), "controller".into())]
        );
        assert_eq!(sel.match_expressions.len(), 2);
        assert_eq!(sel.match_expressions[0].values, ["frontend", "backend"]);
        assert_eq!(sel.match_expressions[1].operator, "DoesNotExist");
    }

    #[test]
    fn rejects_what_controller_gen_rejects() {
        let base = quote!(
            path = "/v",
            mutating = false,
            failure_policy = "fail",
            groups = [""],
            resources = ["pods"],
            verbs = ["create"],
            versions = ["v1"],
            name = "v.pod.io"
        );
        let with = |extra: TokenStream| {
            let mut ts = base.clone();
            ts.extend(quote!(,));
            ts.extend(extra);
            err(ts)
        };
        let e = with(quote!(
            side_effects = "Some",
            admission_review_versions = ["v1"]
        ));
        assert!(
            e.contains("not allowed in admissionregistration.k8s.io/v1"),
            "{e}"
        );
        let e = with(quote!(side_effects = "None"));
        assert!(
            e.contains("missing required key `admission_review_versions`"),
            "{e}"
        );
        let e = with(quote!(
            side_effects = "None",
            admission_review_versions = ["v1"],
            timeout_seconds = 40
        ));
        assert!(e.contains("between 1 and 30"), "{e}");
        let e = with(quote!(
            side_effects = "None",
            admission_review_versions = ["v1"],
            webhook_versions = ["v1beta1"]
        ));
        assert!(e.contains("only \"v1\""), "{e}");
        let e = with(quote!(
            side_effects = "None",
            admission_review_versions = ["v1"],
            url = "https://x/y"
        ));
        assert!(e.contains("`path` and `url` cannot both be set"), "{e}");
        let e = with(quote!(
            side_effects = "None",
            admission_review_versions = ["v1"],
            match_policy = "exact"
        ));
        assert!(e.contains("did you mean \"Exact\"?"), "{e}");
        let e = with(quote!(
            side_effects = "None",
            admission_review_versions = ["v1"],
            verbs2 = ["a"]
        ));
        assert!(e.contains("did you mean `verbs`?"), "{e}");
        let e = with(quote!(
            side_effects = "None",
            admission_review_versions = ["v1"],
            object_selector = "a in b"
        ));
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn selectors() {
        let s = parse_selector("environment in (dev,staging,prod)").unwrap();
        assert_eq!(s.match_expressions[0].operator, "In");
        assert_eq!(s.match_expressions[0].values, ["dev", "staging", "prod"]);
        let s = parse_selector("b=2, a==1, c!=3, d").unwrap();
        assert_eq!(
            s.match_labels,
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(s.match_expressions[0].operator, "NotIn");
        assert_eq!(s.match_expressions[1].operator, "Exists");
        assert!(parse_selector("").is_err());
        assert!(parse_selector("Bad Key=1").is_err());
        assert!(parse_selector("k in (a").is_err());
    }
}
