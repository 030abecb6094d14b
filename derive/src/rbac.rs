//! Parser and checks for `#[rbac(...)]` arguments.
//!
//! This file is compiled twice: by `kubesmith-derive` (the attribute macro) and
//! by the `kubesmith` CLI (`#[path = "../../derive/src/rbac.rs"] mod rbac_args;`),
//! which scans a project's sources for the same attributes. One parser means the
//! compiler and `kubesmith generate` can never disagree about what a rule says.
//! So it may only use `syn`, `proc-macro2` and `std`: no `proc_macro` types and
//! no `crate::` paths.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, ExprLit, Lit, LitStr, Meta, Token};

/// Keys accepted by `#[rbac(...)]`, in the order they are listed in messages.
pub const RBAC_KEYS: &[&str] = &[
    "groups",
    "resources",
    "resource_names",
    "verbs",
    "urls",
    "namespace",
    "role_name",
];

/// Verbs Kubernetes RBAC understands (`*` grants all of them).
pub const RBAC_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "impersonate",
    "bind",
    "escalate",
    "use",
    "proxy",
    "*",
];

/// One `#[rbac(...)]` attribute: a Kubernetes `PolicyRule` plus where it goes.
///
/// Values are kept as written (the group `core` is not yet rewritten to `""`);
/// normalisation happens when rules are merged into a role, as controller-gen does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RbacRule {
    /// API groups (`apiGroups`); `""` or `"core"` is the core group.
    pub groups: Vec<String>,
    /// Resources, optionally with a subresource (`"memcacheds/status"`).
    pub resources: Vec<String>,
    /// Object names the rule is restricted to (`resourceNames`).
    pub resource_names: Vec<String>,
    /// Verbs granted.
    pub verbs: Vec<String>,
    /// Non-resource URLs (`nonResourceURLs`), e.g. `"/metrics"`.
    pub urls: Vec<String>,
    /// When set, the rule goes to a `Role` in this namespace instead of the `ClusterRole`.
    pub namespace: Option<String>,
    /// Name of the role the rule goes to, instead of the generator's default (`manager-role`).
    pub role_name: Option<String>,
}

/// Parses and checks the arguments of one `#[rbac(...)]` attribute.
///
/// Syntax: `groups = ["apps"], resources = ["deployments"], verbs = ["get", "list"]`,
/// plus optional `resource_names = [..]`, `urls = [..]`, `namespace = ".."`,
/// `role_name = ".."`. A list key also accepts a single string. Every error is
/// spanned on the offending token.
pub fn parse_rbac_args(args: TokenStream) -> syn::Result<RbacRule> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    if metas.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "expected RBAC rule arguments, e.g. \
             #[rbac(groups = [\"apps\"], resources = [\"deployments\"], verbs = [\"get\", \"list\"])]",
        ));
    }

    let mut rule = RbacRule::default();
    let mut seen: Vec<(String, Span)> = Vec::new();
    let mut values: Vec<(String, Span, Vec<LitStr>)> = Vec::new();

    for meta in &metas {
        let (name, name_span) = meta_key(meta, RBAC_KEYS, "rbac")?;
        if find_key(&seen, &name).is_some() {
            return Err(syn::Error::new(
                name_span,
                format!("duplicate key `{name}`: each key may appear once per #[rbac(...)]"),
            ));
        }
        let value = meta_value(meta, &name, rbac_example(&name))?;
        let lits = if name == "namespace" || name == "role_name" {
            vec![expect_str(value, &name, rbac_example(&name))?]
        } else {
            expect_str_list(value, &name, rbac_example(&name))?
        };
        seen.push((name.clone(), name_span));
        values.push((name, name_span, lits));
    }

    for (name, name_span, lits) in values {
        for lit in &lits {
            check_rbac_value(&name, lit)?;
        }
        let strings: Vec<String> = lits.iter().map(LitStr::value).collect();
        match name.as_str() {
            "verbs" if strings.is_empty() => {
                return Err(syn::Error::new(
                    name_span,
                    "`verbs` must not be empty, e.g. verbs = [\"get\", \"list\", \"watch\"]",
                ));
            }
            "groups" => rule.groups = strings,
            "resources" => rule.resources = strings,
            "resource_names" => rule.resource_names = strings,
            "verbs" => rule.verbs = strings,
            "urls" => rule.urls = strings,
            "namespace" => rule.namespace = strings.into_iter().next(),
            "role_name" => rule.role_name = strings.into_iter().next(),
            _ => unreachable!("meta_key only returns known keys"),
        }
    }

    check_combination(&rule, &seen)?;
    Ok(rule)
}

/// Rejects rules the API server would refuse, before they reach a cluster.
fn check_combination(rule: &RbacRule, seen: &[(String, Span)]) -> syn::Result<()> {
    let key_span = |name: &str| find_key(seen, name);
    let span = |name: &str| key_span(name).unwrap_or_else(Span::call_site);
    if key_span("verbs").is_none() {
        return Err(syn::Error::new(
            Span::call_site(),
            "missing required key `verbs`, e.g. verbs = [\"get\", \"list\", \"watch\"]",
        ));
    }
    if key_span("urls").is_some() {
        for other in ["resources", "groups", "resource_names"] {
            if key_span(other).is_some() {
                return Err(syn::Error::new(
                    span("urls"),
                    format!(
                        "`urls` (nonResourceURLs) and `{other}` cannot be in one rule; \
                         write a separate #[rbac(...)] for each"
                    ),
                ));
            }
        }
        if key_span("namespace").is_some() {
            return Err(syn::Error::new(
                span("namespace"),
                "`urls` (nonResourceURLs) only apply to a ClusterRole: remove `namespace`",
            ));
        }
        if rule.urls.is_empty() {
            return Err(syn::Error::new(
                span("urls"),
                "`urls` must not be empty, e.g. urls = [\"/metrics\"]",
            ));
        }
        return Ok(());
    }
    match (key_span("groups"), key_span("resources")) {
        (None, None) => Err(syn::Error::new(
            Span::call_site(),
            "a rule needs `groups` and `resources` (or `urls` for non-resource URLs), \
             e.g. #[rbac(groups = [\"\"], resources = [\"events\"], verbs = [\"create\"])]",
        )),
        (None, Some(s)) => Err(syn::Error::new(
            s,
            "`resources` needs `groups` (use groups = [\"\"] for the core group)",
        )),
        (Some(s), None) => Err(syn::Error::new(
            s,
            "`groups` needs `resources`, e.g. resources = [\"deployments\"]",
        )),
        (Some(g), Some(r)) => {
            if rule.groups.is_empty() {
                Err(syn::Error::new(
                    g,
                    "`groups` must not be empty (use groups = [\"\"] for the core group)",
                ))
            } else if rule.resources.is_empty() {
                Err(syn::Error::new(r, "`resources` must not be empty"))
            } else {
                Ok(())
            }
        }
    }
}

fn find_key(seen: &[(String, Span)], name: &str) -> Option<Span> {
    seen.iter().find(|(k, _)| k == name).map(|(_, s)| *s)
}

fn rbac_example(key: &str) -> &'static str {
    match key {
        "groups" => "groups = [\"apps\"] (\"\" is the core group)",
        "resources" => "resources = [\"deployments\", \"deployments/status\"]",
        "resource_names" => "resource_names = [\"my-config\"]",
        "verbs" => "verbs = [\"get\", \"list\", \"watch\"]",
        "urls" => "urls = [\"/metrics\"]",
        "namespace" => "namespace = \"my-namespace\"",
        _ => "role_name = \"my-role\"",
    }
}

fn check_rbac_value(key: &str, lit: &LitStr) -> syn::Result<()> {
    let v = lit.value();
    let err = |msg: String| Err(syn::Error::new(lit.span(), msg));
    if key != "groups" && v.is_empty() {
        return err(format!("`{key}` values must not be empty strings"));
    }
    if v.contains(';') || v.contains(',') {
        return err(format!(
            "one value per string: write [\"a\", \"b\"], not \"a;b\" (`{key}` = {:?})",
            v
        ));
    }
    if v.chars().any(char::is_whitespace) {
        return err(format!(
            "`{key}` values must not contain whitespace, found {v:?}"
        ));
    }
    match key {
        "verbs" if !RBAC_VERBS.contains(&v.as_str()) => {
            let hint = closest(&v, RBAC_VERBS)
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            err(format!(
                "unknown verb `{v}`; {hint}valid verbs: {}",
                RBAC_VERBS.join(", ")
            ))
        }
        "groups" if !(v.is_empty() || v == "*" || is_dns1123_subdomain(&v)) => err(format!(
            "API group {v:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'); \
             use \"\" for the core group"
        )),
        "urls" if !(v == "*" || v.starts_with('/')) => err(format!(
            "non-resource URL {v:?} must start with '/', e.g. \"/metrics\" or \"/healthz/*\""
        )),
        "namespace" if !is_dns1123_label(&v) => err(format!(
            "namespace {v:?} is not a DNS-1123 label (lowercase letters, digits and '-', \
             at most 63 characters, starting and ending with a letter or digit)"
        )),
        "role_name" if v == "." || v == ".." || v.contains('/') || v.contains('%') => err(format!(
            "role name {v:?} is not valid: it must not be \".\" or \"..\" nor contain '/' or '%'"
        )),
        "resources" if v.split('/').any(str::is_empty) || v.matches('/').count() > 1 => err(
            format!("resource {v:?} must be `resource` or `resource/subresource`"),
        ),
        _ => Ok(()),
    }
}

/// Returns the key name of one argument, with its span; rejects keys not in `valid`.
///
/// `what` names the attribute in messages (`rbac`, `resource`).
pub fn meta_key(meta: &Meta, valid: &[&str], what: &str) -> syn::Result<(String, Span)> {
    let path = meta.path();
    let Some(ident) = path.get_ident() else {
        return Err(syn::Error::new_spanned(
            path,
            format!(
                "expected a key of #[{what}(...)]; valid keys: {}",
                valid.join(", ")
            ),
        ));
    };
    let name = ident.to_string();
    if !valid.contains(&name.as_str()) {
        let hint = closest(&name, valid)
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        return Err(syn::Error::new(
            ident.span(),
            format!(
                "unknown key `{name}` in #[{what}(...)]; {hint}valid keys: {}",
                valid.join(", ")
            ),
        ));
    }
    Ok((name, ident.span()))
}

/// Returns the value of a `key = value` argument; `example` shows the expected form.
pub fn meta_value<'a>(meta: &'a Meta, key: &str, example: &str) -> syn::Result<&'a Expr> {
    match meta {
        Meta::NameValue(nv) => Ok(&nv.value),
        Meta::Path(p) => Err(syn::Error::new_spanned(
            p,
            format!("`{key}` needs a value, e.g. {example}"),
        )),
        Meta::List(l) => Err(syn::Error::new_spanned(
            l,
            format!("expected `{key} = ...`, e.g. {example}"),
        )),
    }
}

/// The expression inside the invisible groups `macro_rules!` puts around `$x:literal` and
/// `$x:expr` fragments, so attributes written by a user's macro read like written ones.
pub fn ungroup(mut value: &Expr) -> &Expr {
    while let Expr::Group(g) = value {
        value = &g.expr;
    }
    value
}

/// Expects a string literal.
pub fn expect_str(value: &Expr, key: &str, example: &str) -> syn::Result<LitStr> {
    match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` expects a string literal, e.g. {example}"),
        )),
    }
}

/// Expects an array of string literals (or a single string literal, read as a one-item list).
pub fn expect_str_list(value: &Expr, key: &str, example: &str) -> syn::Result<Vec<LitStr>> {
    match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(vec![s.clone()]),
        Expr::Array(ExprArray { elems, .. }) => elems
            .iter()
            .map(|e| match ungroup(e) {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Ok(s.clone()),
                other => Err(syn::Error::new_spanned(
                    other,
                    format!("`{key}` expects an array of string literals, e.g. {example}"),
                )),
            })
            .collect(),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` expects an array of string literals, e.g. {example}"),
        )),
    }
}

/// The candidate `input` most probably is a misspelling of, if any.
///
/// Case and underscores are ignored first (`resourceNames` → `resource_names`),
/// then an edit distance of at most 2 (or 1 for short words) counts as a match.
pub fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let wanted = squash(input);
    if let Some(c) = candidates.iter().find(|c| squash(c) == wanted) {
        return Some(c);
    }
    let limit = if wanted.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .iter()
        .map(|c| (edit_distance(&wanted, &squash(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance counting a swap of two neighbours as one edit (`gte` → `get`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A DNS-1035 label: like a DNS-1123 label but starting with a letter.
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn err(ts: TokenStream) -> String {
        parse_rbac_args(ts).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_full_rule() {
        let r = parse_rbac_args(quote!(
            groups = ["cache.example.com"],
            resources = ["memcacheds", "memcacheds/status"],
            resource_names = ["one"],
            verbs = ["get", "*"],
            namespace = "ns",
            role_name = "my-role"
        ))
        .unwrap();
        assert_eq!(r.groups, ["cache.example.com"]);
        assert_eq!(r.resources, ["memcacheds", "memcacheds/status"]);
        assert_eq!(r.resource_names, ["one"]);
        assert_eq!(r.verbs, ["get", "*"]);
        assert_eq!(r.namespace.as_deref(), Some("ns"));
        assert_eq!(r.role_name.as_deref(), Some("my-role"));
    }

    #[test]
    fn single_strings_core_group_and_urls() {
        let r =
            parse_rbac_args(quote!(groups = "", resources = "events", verbs = "create")).unwrap();
        assert_eq!(r.groups, [""]);
        let r = parse_rbac_args(quote!(urls = ["/metrics"], verbs = ["get"])).unwrap();
        assert_eq!(r.urls, ["/metrics"]);
        assert!(r.groups.is_empty());
    }

    #[test]
    fn rejects_bad_keys_and_values() {
        assert!(err(quote!(grups = ["a"])).contains("did you mean `groups`?"));
        assert!(err(quote!(resourceNames = ["a"])).contains("did you mean `resource_names`?"));
        assert!(err(quote!(zzz = ["a"])).contains("valid keys: groups, resources"));
        let e = err(quote!(groups = [""], resources = ["a"], verbs = ["gte"]));
        assert!(e.contains("unknown verb `gte`; did you mean `get`?"), "{e}");
        assert!(e.contains("deletecollection"), "{e}");
        assert!(err(quote!(verbs = [get])).contains("array of string literals"));
        assert!(err(quote!(verbs = 1)).contains("array of string literals"));
        assert!(err(quote!(namespace = ["a"])).contains("string literal"));
        assert!(err(quote!(verbs)).contains("needs a value"));
        assert!(err(quote!(verbs = ["get"], verbs = ["list"])).contains("duplicate key `verbs`"));
        assert!(
            err(quote!(
                groups = ["Apps"],
                resources = ["a"],
                verbs = ["get"]
            ))
            .contains("DNS-1123 subdomain")
        );
        assert!(
            err(quote!(
                groups = ["a"],
                resources = ["a"],
                verbs = ["get;list"]
            ))
            .contains("one value per string")
        );
        assert!(err(quote!(urls = ["metrics"], verbs = ["get"])).contains("start with '/'"));
        assert!(
            err(quote!(
                groups = [""],
                resources = ["a"],
                verbs = ["get"],
                namespace = "Bad"
            ))
            .contains("DNS-1123 label")
        );
    }

    #[test]
    fn rejects_bad_combinations() {
        assert!(err(quote!()).contains("expected RBAC rule arguments"));
        assert!(
            err(quote!(groups = [""], resources = ["a"])).contains("missing required key `verbs`")
        );
        assert!(
            err(quote!(groups = [""], resources = ["a"], verbs = [])).contains("must not be empty")
        );
        assert!(
            err(quote!(urls = ["/m"], resources = ["a"], verbs = ["get"]))
                .contains("`urls` (nonResourceURLs) and `resources`")
        );
        assert!(
            err(quote!(urls = ["/m"], verbs = ["get"], namespace = "a"))
                .contains("only apply to a ClusterRole")
        );
        assert!(err(quote!(resources = ["a"], verbs = ["get"])).contains("needs `groups`"));
        assert!(err(quote!(groups = ["a"], verbs = ["get"])).contains("needs `resources`"));
        assert!(err(quote!(verbs = ["get"])).contains("needs `groups` and `resources`"));
    }

    #[test]
    fn name_checks() {
        assert!(is_dns1123_subdomain("cache.example.com"));
        assert!(!is_dns1123_subdomain("cache..example.com"));
        assert!(!is_dns1123_subdomain("-a.com"));
        assert!(is_dns1035_label("mc"));
        assert!(!is_dns1035_label("1mc"));
        assert_eq!(closest("grup", &["group", "version"]), Some("group"));
        assert_eq!(closest("xyz", &["group", "version"]), None);
    }
}
