//! `#[resource(...)]`: lowers to kube-derive's `CustomResource` after checking
//! every key, so mistakes are reported on the user's token with the valid
//! choices, instead of as a darling error or a CRD the API server rejects.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprPath, Fields, Item, LitStr, Meta, Token};

use crate::rbac::{
    expect_str, expect_str_list, is_dns1035_label, is_dns1123_subdomain, meta_key, meta_value,
};

const KEYS: &[&str] = &[
    "group",
    "version",
    "kind",
    "namespaced",
    "scope",
    "status",
    "plural",
    "singular",
    "shortnames",
    "categories",
    "printcolumn",
    "scale",
    "selectable",
    "storage",
    "served",
    "deprecated",
    "skip",
    "label",
    "annotation",
    "no_spec",
    "validation",
    "doc",
];

/// Keys that may be repeated (each occurrence adds one entry).
const REPEATABLE: &[&str] = &["printcolumn", "label", "annotation", "validation"];

/// Checked arguments of `#[resource(...)]`; literals keep the user's spans so
/// that errors kube-derive or rustc raise later still point at the user's code.
#[derive(Default)]
struct ResourceArgs {
    group: Option<LitStr>,
    version: Option<LitStr>,
    kind: Option<LitStr>,
    namespaced: bool,
    status: Option<LitStr>,
    plural: Option<LitStr>,
    singular: Option<LitStr>,
    shortnames: Vec<LitStr>,
    categories: Vec<LitStr>,
    /// The root type's doc comment and the CRD schema's root `description`.
    doc: Option<LitStr>,
    /// Further `#[kube(...)]` arguments, already checked (printer columns, scale, ...).
    extra: Vec<TokenStream>,
}

fn example(key: &str) -> &'static str {
    match key {
        "group" => "group = \"cache.example.com\"",
        "version" => "version = \"v1alpha1\"",
        "kind" => "kind = \"Memcached\"",
        "scope" => "scope = \"Namespaced\" or scope = \"Cluster\"",
        "status" => "status = \"MemcachedStatus\"",
        "plural" => "plural = \"memcacheds\"",
        "singular" => "singular = \"memcached\"",
        "shortnames" => "shortnames = [\"mc\"]",
        "categories" => "categories = [\"all\"]",
        "printcolumn" => {
            "printcolumn(name = \"Size\", type = \"integer\", json_path = \".spec.size\")"
        }
        "scale" => {
            "scale(spec_replicas_path = \".spec.replicas\", status_replicas_path = \".status.replicas\")"
        }
        "selectable" => "selectable = [\".spec.color\"]",
        "served" => "served = false",
        "deprecated" => "deprecated or deprecated = \"use v2\"",
        "label" => "label(\"app.kubernetes.io/part-of\", \"memcached\")",
        "annotation" => "annotation(\"example.com/owner\", \"team-a\")",
        "storage" => "storage",
        "skip" => "skip",
        "no_spec" => "no_spec",
        "doc" => "doc = \"Memcached is the Schema for the memcacheds API\"",
        "validation" => {
            "validation(rule = \"self.spec.min <= self.status.max\", message = \"...\")"
        }
        _ => "namespaced",
    }
}

/// Expands `#[resource(args)] item`.
pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut item: Item = syn::parse2(item)?;
    let args = parse_args(args)?;
    let strukt = match &item {
        Item::Struct(s) if matches!(s.fields, Fields::Named(_)) => s,
        Item::Struct(s) => {
            return Err(syn::Error::new_spanned(
                &s.fields,
                "#[resource(...)] needs a struct with named fields (the spec), \
                 e.g. `pub struct MemcachedSpec { pub size: i32 }`",
            ));
        }
        other => {
            return Err(syn::Error::new(
                item_keyword_span(other),
                "#[resource(...)] goes on the spec struct (a struct with named fields), \
                 e.g. `pub struct MemcachedSpec { pub size: i32 }`",
            ));
        }
    };

    check_no_custom_resource_derive(&strukt.attrs)?;

    let kind = args.kind.as_ref().expect("checked by parse_args");
    if strukt.ident == kind.value() {
        return Err(syn::Error::new(
            strukt.ident.span(),
            format!(
                "this struct is the spec; kube generates the root type `{k}` from it, \
                 so name it differently, e.g. `{k}Spec`",
                k = kind.value()
            ),
        ));
    }

    let mut kube_args: Vec<TokenStream> = Vec::new();
    let mut kv = |key: &str, lit: &LitStr| {
        let key = syn::Ident::new(key, lit.span());
        kube_args.push(quote!(#key = #lit));
    };
    kv("group", args.group.as_ref().expect("checked by parse_args"));
    kv(
        "version",
        args.version.as_ref().expect("checked by parse_args"),
    );
    kv("kind", kind);
    if let Some(s) = &args.status {
        kv("status", s);
    }
    if let Some(p) = &args.plural {
        kv("plural", p);
    }
    if let Some(s) = &args.singular {
        kv("singular", s);
    }
    for s in &args.shortnames {
        kv("shortname", s);
    }
    for c in &args.categories {
        kv("category", c);
    }
    if args.namespaced {
        kube_args.push(quote!(namespaced));
    }
    let doc = root_doc(&args, kind);
    kube_args.push(quote!(doc = #doc));
    kube_args.extend(args.extra.iter().filter(|t| !t.is_empty()).cloned());
    let checks = crate::schema::lower(&mut item)?;

    // The derive must come before its `kube` helper attribute, and only `::kube`
    // may be named: users may rename or not depend on kubesmith-runtime directly.
    Ok(quote! {
        #[derive(::kube::CustomResource)]
        #[kube(#(#kube_args),*)]
        #item
        #checks
    })
}

/// The root type's doc (rustdoc and the CRD's root `description`, where controller-gen uses
/// the Go root type's comment): the `doc` key, or kubebuilder's scaffolded comment
/// "<Kind> is the Schema for the <plural> API" instead of kube-derive's "Auto-generated
/// derived type for ..." boilerplate. The plural is kube-derive's when not given. `doc = ""`
/// leaves the root without a description, as a Go root type without a comment.
fn root_doc(args: &ResourceArgs, kind: &LitStr) -> LitStr {
    if let Some(doc) = &args.doc {
        if doc.value().trim().is_empty() {
            return LitStr::new("", doc.span());
        }
        return LitStr::new(&format!(" {}", doc.value()), doc.span());
    }
    let plural = match (&args.plural, &args.singular) {
        (Some(p), _) => p.value(),
        (None, Some(s)) => kube_plural(&s.value()),
        (None, None) => kube_plural(&kind.value().to_ascii_lowercase()),
    };
    LitStr::new(
        &format!(" {} is the Schema for the {plural} API", kind.value()),
        kind.span(),
    )
}

/// kube-derive's pluralisation of the singular name (irregular plurals are given explicitly).
fn kube_plural(word: &str) -> String {
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| word.ends_with(e))
    {
        return format!("{word}es");
    }
    if let Some(stem) = word.strip_suffix('y')
        && stem
            .chars()
            .last()
            .is_some_and(|c| !matches!(c, 'a' | 'e' | 'i' | 'o' | 'u'))
    {
        return format!("{stem}ies");
    }
    format!("{word}s")
}

/// A second `CustomResource` derive would generate the root type twice.
fn check_no_custom_resource_derive(attrs: &[syn::Attribute]) -> syn::Result<()> {
    for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let paths = attr.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)?;
        if let Some(p) = paths.iter().find(|p| {
            p.segments
                .last()
                .is_some_and(|s| s.ident == "CustomResource")
        }) {
            return Err(syn::Error::new_spanned(
                p,
                "remove this derive: #[resource(...)] already derives kube's CustomResource",
            ));
        }
    }
    Ok(())
}

fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Enum(e) => e.enum_token.span,
        Item::Union(u) => u.union_token.span,
        Item::Fn(f) => f.sig.fn_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Trait(t) => t.trait_token.span,
        Item::Type(t) => t.type_token.span,
        Item::Mod(m) => m.mod_token.span,
        other => syn::spanned::Spanned::span(other),
    }
}

fn parse_args(args: TokenStream) -> syn::Result<ResourceArgs> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut out = ResourceArgs::default();
    let mut seen: Vec<String> = Vec::new();
    let mut scope_key: Option<(String, Span)> = None;
    let mut scale_span: Option<Span> = None;

    for meta in &metas {
        let (key, key_span) = meta_key(meta, KEYS, "resource")?;
        if seen.contains(&key) && !REPEATABLE.contains(&key.as_str()) {
            return Err(syn::Error::new(
                key_span,
                format!("duplicate key `{key}`: each key may appear once in #[resource(...)]"),
            ));
        }
        seen.push(key.clone());

        if key == "namespaced" {
            if !matches!(meta, Meta::Path(_)) {
                return Err(syn::Error::new_spanned(
                    meta,
                    "`namespaced` is a flag: write `namespaced` without a value \
                     (leave it out for a cluster-scoped resource)",
                ));
            }
            check_scope_once(&mut scope_key, &key, key_span)?;
            out.namespaced = true;
            continue;
        }

        if key == "scale" {
            scale_span = Some(key_span);
        }
        if let Some(tokens) = kube_passthrough(meta, &key, key_span)? {
            out.extra.push(tokens);
            continue;
        }

        let value = meta_value(meta, &key, example(&key))?;
        match key.as_str() {
            "scope" => {
                check_scope_once(&mut scope_key, &key, key_span)?;
                let lit = expect_str(value, &key, example(&key))?;
                out.namespaced = match lit.value().as_str() {
                    "Namespaced" => true,
                    "Cluster" => false,
                    other => {
                        return Err(syn::Error::new(
                            lit.span(),
                            format!(
                                "unknown scope {other:?}; valid scopes: \"Namespaced\", \"Cluster\""
                            ),
                        ));
                    }
                };
            }
            "status" => out.status = Some(status_path(value)?),
            "doc" => {
                out.doc = Some(expect_str(value, &key, example(&key))?);
            }
            "shortnames" | "categories" => {
                let lits = expect_str_list(value, &key, example(&key))?;
                for lit in &lits {
                    check_lower_label(&key, lit)?;
                }
                if key == "shortnames" {
                    out.shortnames = lits;
                } else {
                    out.categories = lits;
                }
            }
            _ => {
                let lit = expect_str(value, &key, example(&key))?;
                check_value(&key, &lit)?;
                let slot = match key.as_str() {
                    "group" => &mut out.group,
                    "version" => &mut out.version,
                    "kind" => &mut out.kind,
                    "plural" => &mut out.plural,
                    _ => &mut out.singular,
                };
                *slot = Some(lit);
            }
        }
    }

    if let Some(span) = scale_span
        && out.status.is_none()
    {
        return Err(syn::Error::new(
            span,
            "the scale subresource needs the status subresource: add `status = \"...\"`",
        ));
    }

    for required in ["group", "version", "kind"] {
        if !seen.iter().any(|k| k == required) {
            return Err(syn::Error::new(
                Span::call_site(),
                format!(
                    "missing required key `{required}` in #[resource(...)], e.g. {}",
                    example(required)
                ),
            ));
        }
    }
    Ok(out)
}

/// Root keys that lower to one `#[kube(...)]` argument each, after checking.
fn kube_passthrough(meta: &Meta, key: &str, key_span: Span) -> syn::Result<Option<TokenStream>> {
    let flag = |meta: &Meta| matches!(meta, Meta::Path(_));
    let tokens = match key {
        "storage" | "skip" => {
            if !flag(meta) {
                return Err(syn::Error::new_spanned(
                    meta,
                    format!("`{key}` is a flag: write `{key}` without a value"),
                ));
            }
            // `storage` is read by `kubesmith generate` when it merges versions (kube-derive
            // marks every single-version CRD as stored); `skip` keeps the version out of the
            // CRD `generate` writes.
            quote!()
        }
        "no_spec" => {
            if !flag(meta) {
                return Err(syn::Error::new_spanned(
                    meta,
                    "`no_spec` is a flag: write `no_spec` without a value",
                ));
            }
            quote_spanned!(key_span=> no_spec)
        }
        "validation" => {
            // kube-derive puts these on the root type (through its KubeSchema derive), where
            // rules can relate spec, status and metadata; `#[kubesmith(validation(...))]` on
            // the spec struct is scoped to `.spec`.
            let Meta::List(list) = meta else {
                return Err(syn::Error::new_spanned(
                    meta,
                    format!("expected `validation(...)`, e.g. {}", example(key)),
                ));
            };
            let inner = list.parse_args_with(crate::schema::meta_list)?;
            let mut rule = None;
            let mut calls = Vec::new();
            for m in &inner {
                let (k, kspan) = meta_key(
                    m,
                    &[
                        "rule",
                        "message",
                        "message_expression",
                        "reason",
                        "field_path",
                        "optional_old_self",
                    ],
                    "validation",
                )?;
                if k == "optional_old_self" {
                    if !flag(m) {
                        return Err(syn::Error::new(kspan, "`optional_old_self` is a flag"));
                    }
                    calls.push(quote!(.optional_old_self(true)));
                    continue;
                }
                let v = expect_str(meta_value(m, &k, example(key))?, &k, example(key))?;
                match k.as_str() {
                    "rule" => rule = Some(v),
                    "message" => {
                        calls.push(quote!(.message(::kube::core::Message::Message(#v.into()))))
                    }
                    "message_expression" => {
                        calls.push(quote!(.message(::kube::core::Message::Expression(#v.into()))))
                    }
                    "reason" => {
                        let reasons = [
                            "FieldValueInvalid",
                            "FieldValueForbidden",
                            "FieldValueRequired",
                            "FieldValueDuplicate",
                        ];
                        if !reasons.contains(&v.value().as_str()) {
                            return Err(syn::Error::new(
                                v.span(),
                                format!(
                                    "unknown `reason` {:?}; valid values: {}",
                                    v.value(),
                                    reasons.join(", ")
                                ),
                            ));
                        }
                        let variant = syn::Ident::new(&v.value(), v.span());
                        calls.push(quote!(.reason(::kube::core::Reason::#variant)));
                    }
                    _ => calls.push(quote!(.field_path(#v))),
                }
            }
            let Some(rule) = rule else {
                return Err(syn::Error::new_spanned(
                    list,
                    format!("`validation` needs a `rule`, e.g. {}", example(key)),
                ));
            };
            quote!(validation = ::kube::core::Rule::new(#rule) #(#calls)*)
        }
        "served" => {
            let value = meta_value(meta, key, example(key))?;
            match value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Bool(b),
                    ..
                }) => quote!(served = #b),
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "`served` expects `true` or `false`, e.g. served = false",
                    ));
                }
            }
        }
        "deprecated" => match meta {
            Meta::Path(_) => quote_spanned!(key_span=> deprecated),
            _ => {
                let warning = expect_str(meta_value(meta, key, example(key))?, key, example(key))?;
                quote!(deprecated = #warning)
            }
        },
        "selectable" => {
            let paths = expect_str_list(meta_value(meta, key, example(key))?, key, example(key))?;
            for p in &paths {
                check_json_path(key, p)?;
            }
            quote!(#(selectable = #paths),*)
        }
        "label" | "annotation" => {
            let Meta::List(list) = meta else {
                return Err(syn::Error::new_spanned(
                    meta,
                    format!(
                        "expected `{key}(\"key\", \"value\")`, e.g. {}",
                        example(key)
                    ),
                ));
            };
            let lits = list.parse_args_with(Punctuated::<LitStr, Token![,]>::parse_terminated)?;
            if lits.len() != 2 {
                return Err(syn::Error::new_spanned(
                    list,
                    format!("`{key}` takes a key and a value, e.g. {}", example(key)),
                ));
            }
            let (k, v) = (&lits[0], &lits[1]);
            let ident = syn::Ident::new(key, key_span);
            quote!(#ident(#k, #v))
        }
        "printcolumn" | "scale" => {
            let Meta::List(list) = meta else {
                return Err(syn::Error::new_spanned(
                    meta,
                    format!("expected `{key}(...)`, e.g. {}", example(key)),
                ));
            };
            let inner = list.parse_args_with(crate::schema::meta_list)?;
            let (valid, required): (&[&str], &[&str]) = if key == "printcolumn" {
                (
                    &[
                        "name",
                        "type",
                        "json_path",
                        "description",
                        "format",
                        "priority",
                    ],
                    &["name", "type", "json_path"],
                )
            } else {
                (
                    &[
                        "spec_replicas_path",
                        "status_replicas_path",
                        "label_selector_path",
                    ],
                    &["spec_replicas_path", "status_replicas_path"],
                )
            };
            let mut args = Vec::new();
            let mut seen = Vec::new();
            for m in &inner {
                let (k, kspan) = meta_key(m, valid, key)?;
                if seen.contains(&k) {
                    return Err(syn::Error::new(
                        kspan,
                        format!("duplicate key `{k}` in {key}(...)"),
                    ));
                }
                seen.push(k.clone());
                let value = meta_value(m, &k, example(key))?;
                if k == "priority" {
                    match value {
                        Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Int(i),
                            ..
                        }) if i.base10_parse::<i32>().is_ok_and(|p| p >= 0) => {
                            args.push(quote!(priority = #i));
                        }
                        other => {
                            return Err(syn::Error::new_spanned(
                                other,
                                "`priority` expects a non-negative integer, e.g. priority = 1 \
                                 (0 shows the column in the standard view, higher only with -o wide)",
                            ));
                        }
                    }
                    continue;
                }
                let lit = expect_str(value, &k, example(key))?;
                match k.as_str() {
                    "type" => {
                        let valid = ["integer", "number", "string", "boolean", "date"];
                        if !valid.contains(&lit.value().as_str()) {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "unknown printer column type {:?}; valid types: {}",
                                    lit.value(),
                                    valid.join(", ")
                                ),
                            ));
                        }
                        args.push(quote!(type_ = #lit));
                    }
                    "format" => {
                        let valid = [
                            "int32",
                            "int64",
                            "float",
                            "double",
                            "byte",
                            "date",
                            "date-time",
                            "password",
                        ];
                        if !valid.contains(&lit.value().as_str()) {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!(
                                    "unknown printer column format {:?}; valid formats: {}",
                                    lit.value(),
                                    valid.join(", ")
                                ),
                            ));
                        }
                        args.push(quote!(format = #lit));
                    }
                    "name" | "description" => {
                        let ident = syn::Ident::new(&k, kspan);
                        args.push(quote!(#ident = #lit));
                    }
                    path_key => {
                        check_json_path(path_key, &lit)?;
                        let ident = syn::Ident::new(path_key, kspan);
                        args.push(quote!(#ident = #lit));
                    }
                }
            }
            for r in required {
                if !seen.iter().any(|k| k == r) {
                    return Err(syn::Error::new_spanned(
                        list,
                        format!("missing `{r}` in {key}(...), e.g. {}", example(key)),
                    ));
                }
            }
            let ident = syn::Ident::new(key, key_span);
            quote!(#ident(#(#args),*))
        }
        _ => return Ok(None),
    };
    Ok(Some(tokens))
}

/// Printer columns, scale paths and selectable fields are simple JSON paths (`.spec.size`).
fn check_json_path(key: &str, lit: &LitStr) -> syn::Result<()> {
    let v = lit.value();
    if v.starts_with('.') && v.len() > 1 && !v.contains(char::is_whitespace) {
        return Ok(());
    }
    Err(syn::Error::new(
        lit.span(),
        format!(
            "`{key}` must be a JSON path starting with '.', e.g. \".spec.replicas\"; found {v:?}"
        ),
    ))
}

fn check_scope_once(seen: &mut Option<(String, Span)>, key: &str, span: Span) -> syn::Result<()> {
    if let Some((first, _)) = seen {
        return Err(syn::Error::new(
            span,
            format!(
                "`{key}` conflicts with `{first}`: give the scope once, as `namespaced` or `scope = \"...\"`"
            ),
        ));
    }
    *seen = Some((key.to_string(), span));
    Ok(())
}

/// `status` takes the status type as a string (`"MemcachedStatus"`, `"crate::status::S"`)
/// or as a bare path (`MemcachedStatus`); kube-derive wants a string, so both become one.
fn status_path(value: &Expr) -> syn::Result<LitStr> {
    match value {
        Expr::Path(ExprPath {
            qself: None, path, ..
        }) => {
            let text = path.to_token_stream().to_string().replace(' ', "");
            Ok(LitStr::new(&text, syn::spanned::Spanned::span(path)))
        }
        _ => {
            let lit = expect_str(value, "status", example("status"))?;
            if lit.parse::<syn::Path>().is_err() {
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "`status` must name the status type, e.g. {}; found {:?}",
                        example("status"),
                        lit.value()
                    ),
                ));
            }
            Ok(lit)
        }
    }
}

fn check_value(key: &str, lit: &LitStr) -> syn::Result<()> {
    let v = lit.value();
    let ok = match key {
        "group" => is_dns1123_subdomain(&v) && v.contains('.'),
        "version" => is_kube_version(&v),
        "kind" => is_pascal_case(&v),
        _ => return check_lower_label(key, lit),
    };
    if ok {
        return Ok(());
    }
    let msg = match key {
        "group" => format!(
            "group {v:?} must be a DNS-1123 subdomain with at least one dot \
             (lowercase letters, digits, '-' and '.'), e.g. \"cache.example.com\""
        ),
        "version" => format!(
            "version {v:?} must look like v<N>, v<N>alpha<M> or v<N>beta<M> (N, M > 0), \
             e.g. \"v1\", \"v1alpha1\", \"v2beta3\""
        ),
        _ => {
            let hint = pascal_case(&v)
                .filter(|p| is_pascal_case(p))
                .map(|p| format!(", e.g. {p:?}"))
                .unwrap_or_default();
            format!(
                "kind {v:?} must be PascalCase: an uppercase ASCII letter followed by ASCII \
                 letters and digits{hint}"
            )
        }
    };
    Err(syn::Error::new(lit.span(), msg))
}

fn check_lower_label(key: &str, lit: &LitStr) -> syn::Result<()> {
    let v = lit.value();
    if is_dns1035_label(&v) {
        return Ok(());
    }
    Err(syn::Error::new(
        lit.span(),
        format!(
            "`{key}` value {v:?} must be a lowercase DNS-1035 label: lowercase letters, digits \
             and '-', starting with a letter, at most 63 characters, e.g. {}",
            example(key)
        ),
    ))
}

/// `v<N>` or `v<N>alpha<M>` / `v<N>beta<M>`, numbers without leading zeros.
fn is_kube_version(v: &str) -> bool {
    fn number(s: &str) -> bool {
        !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())
    }
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (major, tail) = rest.split_at(end);
    if !number(major) {
        return false;
    }
    tail.is_empty()
        || ["alpha", "beta"]
            .iter()
            .any(|p| tail.strip_prefix(p).is_some_and(number))
}

fn is_pascal_case(v: &str) -> bool {
    v.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && v.chars().all(|c| c.is_ascii_alphanumeric())
}

fn pascal_case(v: &str) -> Option<String> {
    let out: String = v
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            let first = cs.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(cs).collect::<String>()
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_err(args: TokenStream, item: TokenStream) -> String {
        expand(args, item).unwrap_err().to_string()
    }

    fn spec() -> TokenStream {
        quote!(
            pub struct MemcachedSpec {
                pub size: i32,
            }
        )
    }

    #[test]
    fn lowers_to_kube_attributes() {
        let out = expand(
            quote!(
                group = "cache.example.com",
                version = "v1alpha1",
                kind = "Memcached",
                namespaced,
                status = "MemcachedStatus",
                plural = "memcacheds",
                singular = "memcached",
                shortnames = ["mc", "mem"],
                categories = ["all"]
            ),
            spec(),
        )
        .unwrap()
        .to_string();
        let want = quote!(
            #[derive(::kube::CustomResource)]
            #[kube(
                group = "cache.example.com",
                version = "v1alpha1",
                kind = "Memcached",
                status = "MemcachedStatus",
                plural = "memcacheds",
                singular = "memcached",
                shortname = "mc",
                shortname = "mem",
                category = "all",
                namespaced,
                doc = " Memcached is the Schema for the memcacheds API"
            )]
            pub struct MemcachedSpec {
                pub size: i32,
            }
        )
        .to_string();
        assert_eq!(out, want);
    }

    #[test]
    fn scope_and_status_forms() {
        let out = expand(
            quote!(
                group = "a.io",
                version = "v1",
                kind = "Foo",
                scope = "Cluster",
                status = crate::x::FooStatus
            ),
            quote!(
                struct FooSpec {}
            ),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("status = \"crate::x::FooStatus\""), "{out}");
        assert!(!out.contains("namespaced"), "{out}");
        let out = expand(
            quote!(
                group = "a.io",
                version = "v1",
                kind = "Foo",
                scope = "Namespaced"
            ),
            quote!(
                struct FooSpec {}
            ),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("namespaced"), "{out}");
    }

    #[test]
    fn rejects_bad_arguments() {
        let base =
            |extra: TokenStream| quote!(group = "a.io", version = "v1", kind = "Foo", #extra);
        let cases: Vec<(TokenStream, &str)> = vec![
            (quote!(grup = "a.io"), "did you mean `group`?"),
            (
                quote!(version = "v1", kind = "Foo"),
                "missing required key `group`",
            ),
            (
                quote!(group = "a.io", kind = "Foo"),
                "missing required key `version`",
            ),
            (quote!(group = 1), "`group` expects a string literal"),
            (quote!(group = "a_b.io"), "DNS-1123 subdomain"),
            (quote!(group = "example"), "at least one dot"),
            (quote!(version = "1"), "must look like v<N>"),
            (quote!(version = "v1gamma1"), "must look like v<N>"),
            (quote!(version = "v0"), "must look like v<N>"),
            (quote!(kind = "memcached"), "PascalCase"),
            (quote!(kind = "mem_cached"), "e.g. \"MemCached\""),
            (base(quote!(plural = "Foos")), "DNS-1035"),
            (base(quote!(singular = "1foo")), "DNS-1035"),
            (base(quote!(shortnames = ["F"])), "DNS-1035"),
            (
                base(quote!(shortnames = "f", shortnames = "g")),
                "duplicate key `shortnames`",
            ),
            (
                base(quote!(namespaced, scope = "Cluster")),
                "conflicts with `namespaced`",
            ),
            (base(quote!(scope = "Global")), "valid scopes"),
            (base(quote!(namespaced = true)), "is a flag"),
            (
                base(quote!(status = "not a path")),
                "must name the status type",
            ),
            (
                base(quote!(shortname = ["f"])),
                "did you mean `shortnames`?",
            ),
        ];
        for (args, want) in cases {
            let e = expand_err(args.clone(), spec());
            assert!(e.contains(want), "{args}: {e}");
        }
    }

    #[test]
    fn rejects_wrong_items() {
        let args = quote!(group = "a.io", version = "v1", kind = "Foo");
        assert!(
            expand_err(
                args.clone(),
                quote!(
                    enum E {
                        A,
                    }
                )
            )
            .contains("goes on the spec struct")
        );
        assert!(
            expand_err(
                args.clone(),
                quote!(
                    struct S(i32);
                )
            )
            .contains("named fields")
        );
        assert!(
            expand_err(
                args,
                quote!(
                    struct Foo {
                        a: i32,
                    }
                )
            )
            .contains("`FooSpec`")
        );
    }

    #[test]
    fn root_doc_is_given_or_kubebuilders_comment() {
        let doc = |extra: TokenStream| {
            let args = parse_args(quote!(group = "a.io", version = "v1", #extra)).unwrap();
            root_doc(&args, args.kind.as_ref().unwrap()).value()
        };
        assert_eq!(
            doc(quote!(kind = "Policy")),
            " Policy is the Schema for the policies API"
        );
        assert_eq!(
            doc(quote!(kind = "Box")),
            " Box is the Schema for the boxes API"
        );
        assert_eq!(
            doc(quote!(kind = "Day")),
            " Day is the Schema for the days API"
        );
        assert_eq!(
            doc(quote!(kind = "Foo", singular = "bar")),
            " Foo is the Schema for the bars API"
        );
        assert_eq!(
            doc(quote!(kind = "Foo", plural = "fooi")),
            " Foo is the Schema for the fooi API"
        );
        assert_eq!(
            doc(quote!(kind = "Foo", doc = "A foo.\nSecond line.")),
            " A foo.\nSecond line."
        );
    }

    #[test]
    fn versions() {
        for ok in ["v1", "v10", "v1alpha1", "v2beta12"] {
            assert!(is_kube_version(ok), "{ok}");
        }
        for bad in ["v", "v01", "v1alpha", "v1alpha0", "V1", "v1beta1x"] {
            assert!(!is_kube_version(bad), "{bad}");
        }
    }
}
