//! `#[kubesmith(...)]` field and type attributes: controller-gen's validation markers.
//!
//! Each attribute becomes one `#[schemars(transform = ...)]` closure on the same field or
//! type, so the constraints travel through the one schemars pipeline kube-derive uses and
//! `Kind::crd()` is exactly what `generate` writes. The keys are checked here (spanned errors
//! naming the valid keys); whether a key fits the field's Rust type is checked by the compiler
//! through small traits carrying `#[diagnostic::on_unimplemented]` messages.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Fields, Item, Lit, LitStr, Meta, Token, UnOp};

use crate::rbac::{expect_str, expect_str_list, meta_key, meta_value, ungroup};

/// Parses `key`, `key = value`, `key(...)` items like `Punctuated<Meta, Token![,]>`, but also
/// accepts keywords as keys (`type = "string"`, `enum = [...]`), as controller-gen's marker
/// names are; syn's `Meta` parser only does that inside its own nested-meta API.
pub fn meta_list(input: syn::parse::ParseStream<'_>) -> syn::Result<Punctuated<Meta, Token![,]>> {
    use syn::ext::IdentExt;
    let mut out = Punctuated::new();
    while !input.is_empty() {
        let path = syn::Path::from(syn::Ident::parse_any(input)?);
        let meta = if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            Meta::List(syn::MetaList {
                path,
                delimiter: syn::MacroDelimiter::Paren(paren),
                tokens: content.parse()?,
            })
        } else if input.peek(Token![=]) {
            Meta::NameValue(syn::MetaNameValue {
                path,
                eq_token: input.parse()?,
                value: input.parse()?,
            })
        } else {
            Meta::Path(path)
        };
        out.push_value(meta);
        if input.is_empty() {
            break;
        }
        out.push_punct(input.parse()?);
    }
    Ok(out)
}

/// Keys allowed on a field (and, the ones that make sense there, inside `items(...)`).
pub const FIELD_KEYS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusive_minimum",
    "exclusive_maximum",
    "multiple_of",
    "min_length",
    "max_length",
    "pattern",
    "min_items",
    "max_items",
    "unique_items",
    "min_properties",
    "max_properties",
    "enum",
    "format",
    "type",
    "preserve_unknown_fields",
    "embedded_resource",
    "int_or_string",
    "nullable",
    "default",
    "example",
    "schemaless",
    "title",
    "external_docs",
    "list_type",
    "list_map_keys",
    "map_type",
    "struct_type",
    "validation",
    "immutable",
    "items",
    "required",
    "optional",
];

/// Keys allowed on a struct or enum (the type's own schema).
pub const TYPE_KEYS: &[&str] = &[
    "min_properties",
    "max_properties",
    "preserve_unknown_fields",
    "embedded_resource",
    "nullable",
    "title",
    "external_docs",
    "map_type",
    "struct_type",
    "validation",
    "exactly_one_of",
    "at_most_one_of",
    "at_least_one_of",
    "type",
    "format",
];

/// What a key requires of the field's Rust type, checked at compile time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Needs {
    Number,
    Text,
    List,
    Object,
}

/// One change to a schema object, applied in order by the generated closure.
enum Op {
    /// `obj[key] = json!(value)`
    Set(&'static str, TokenStream),
    /// Appends a rule object to `x-kubernetes-validations`.
    Rule(TokenStream),
    /// `schemaless`: drop everything schemars generated except the description.
    Clear,
    /// `int_or_string`: the int-or-string shape controller-gen emits.
    IntOrString,
    /// `items(...)`: the same operations on the `items` subschema.
    Items(Vec<Op>),
}

/// Checked contents of one or more `#[kubesmith(...)]` attributes on one field or type.
#[derive(Default)]
struct Parsed {
    ops: Vec<Op>,
    needs: Vec<(Needs, Span, &'static str)>,
    required: Option<(bool, Span)>,
    /// `immutable` on the field itself (not its items): optional fields also get a rule on
    /// the parent so that, once set, they cannot be unset.
    immutable: bool,
    /// `exactly_one_of` etc.: (marker, JSON field names, span) for name checks.
    one_ofs: Vec<(&'static str, Vec<LitStr>)>,
}

fn example(key: &str) -> &'static str {
    match key {
        "minimum" | "maximum" => "minimum = 1",
        "multiple_of" => "multiple_of = 2",
        "min_length" | "max_length" | "min_items" | "max_items" | "min_properties"
        | "max_properties" => "max_length = 63",
        "pattern" => "pattern = \"^[a-z]+$\"",
        "enum" => "enum = [\"Always\", \"Never\"]",
        "format" => "format = \"date-time\"",
        "type" => "type = \"string\"",
        "default" | "example" => "default = 3, default = \"x\" or default = json!({\"a\": 1})",
        "title" => "title = \"Replicas\"",
        "external_docs" => "external_docs(url = \"https://example.com\", description = \"...\")",
        "list_type" => "list_type = \"map\"",
        "list_map_keys" => "list_map_keys = [\"name\"]",
        "map_type" | "struct_type" => "map_type = \"atomic\"",
        "validation" => {
            "validation(rule = \"self.min <= self.max\", message = \"min must not exceed max\")"
        }
        "items" => "items(max_length = 10)",
        "exactly_one_of" | "at_most_one_of" | "at_least_one_of" => {
            "exactly_one_of = [\"foo\", \"bar\"]"
        }
        _ => "unique_items",
    }
}

/// Flags: keys written without a value.
const FLAGS: &[&str] = &[
    "exclusive_minimum",
    "exclusive_maximum",
    "unique_items",
    "preserve_unknown_fields",
    "embedded_resource",
    "int_or_string",
    "nullable",
    "schemaless",
    "immutable",
    "required",
    "optional",
];

fn parse_metas(
    metas: &Punctuated<Meta, Token![,]>,
    valid: &[&'static str],
    what: &str,
    out: &mut Parsed,
    ops: &mut Vec<Op>,
    in_items: bool,
) -> syn::Result<()> {
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let (key, span) = meta_key(meta, valid, what)?;
        let repeatable = matches!(
            key.as_str(),
            "validation" | "exactly_one_of" | "at_most_one_of" | "at_least_one_of"
        );
        if !repeatable && seen.contains(&key) {
            return Err(syn::Error::new(
                span,
                format!("duplicate key `{key}` in #[{what}(...)]"),
            ));
        }
        seen.push(key.clone());
        let key: &'static str = valid
            .iter()
            .copied()
            .find(|k| *k == key)
            .expect("meta_key checked it");
        let need = |out: &mut Parsed, n: Needs| {
            // Inside `items(...)` the field's own type is a list; its items are not checked.
            if !in_items {
                out.needs.push((n, span, key));
            }
        };

        if FLAGS.contains(&key) {
            if !matches!(meta, Meta::Path(_)) {
                return Err(syn::Error::new_spanned(
                    meta,
                    format!("`{key}` is a flag: write `{key}` without a value"),
                ));
            }
            match key {
                "exclusive_minimum" => {
                    need(out, Needs::Number);
                    ops.push(Op::Set("exclusiveMinimum", quote!(true)));
                }
                "exclusive_maximum" => {
                    need(out, Needs::Number);
                    ops.push(Op::Set("exclusiveMaximum", quote!(true)));
                }
                "unique_items" => {
                    need(out, Needs::List);
                    // The API server rejects `uniqueItems: true` (quadratic to check) and kube
                    // strips it; a set-typed list is how Kubernetes says "unique items".
                    if seen.iter().any(|k| k == "list_type") {
                        return Err(syn::Error::new(
                            span,
                            "`unique_items` is `list_type = \"set\"`; give only one of them",
                        ));
                    }
                    ops.push(Op::Set("x-kubernetes-list-type", quote!("set")));
                }
                "preserve_unknown_fields" => ops.push(Op::Set(
                    "x-kubernetes-preserve-unknown-fields",
                    quote!(true),
                )),
                "embedded_resource" => {
                    // The API server requires `type: object` with it (controller-gen writes
                    // both); an untyped field such as `serde_json::Value` gets it here.
                    ops.push(Op::Set("type", quote!("object")));
                    ops.push(Op::Set("x-kubernetes-embedded-resource", quote!(true)));
                }
                "int_or_string" => ops.push(Op::IntOrString),
                "nullable" => ops.push(Op::Set("nullable", quote!(true))),
                "schemaless" => ops.push(Op::Clear),
                "immutable" => {
                    // controller-gen's `+kubebuilder:validation:Immutable`, word for word.
                    ops.push(Op::Rule(
                        quote!({"rule": "self == oldSelf", "message": "field is immutable"}),
                    ));
                    out.immutable |= !in_items;
                }
                "required" | "optional" => {
                    if in_items || out.required.is_some() {
                        return Err(syn::Error::new(
                            span,
                            "`required` and `optional` apply to a field, once",
                        ));
                    }
                    out.required = Some((key == "required", span));
                }
                _ => unreachable!("every flag is handled"),
            }
            continue;
        }

        if matches!(key, "validation" | "external_docs" | "items") {
            let Meta::List(list) = meta else {
                return Err(syn::Error::new_spanned(
                    meta,
                    format!("expected `{key}(...)`, e.g. {}", example(key)),
                ));
            };
            let inner = list.parse_args_with(meta_list)?;
            match key {
                "validation" => ops.push(Op::Rule(rule(&inner, list.span())?)),
                "external_docs" => {
                    let mut url = None;
                    let mut description = None;
                    for m in &inner {
                        let (k, _) = meta_key(m, &["url", "description"], "external_docs")?;
                        let v = expect_str(meta_value(m, &k, example(key))?, &k, example(key))?;
                        if k == "url" {
                            url = Some(v);
                        } else {
                            description = Some(v);
                        }
                    }
                    let Some(url) = url else {
                        return Err(syn::Error::new(
                            list.span(),
                            format!("`external_docs` needs a `url`, e.g. {}", example(key)),
                        ));
                    };
                    let d = description.map(|d| quote!("description": #d,));
                    ops.push(Op::Set("externalDocs", quote!({ #d "url": #url })));
                }
                _ => {
                    if in_items {
                        return Err(syn::Error::new(span, "`items(...)` cannot be nested"));
                    }
                    need(out, Needs::List);
                    let item_keys: Vec<&'static str> = FIELD_KEYS
                        .iter()
                        .copied()
                        .filter(|k| !matches!(*k, "items" | "required" | "optional"))
                        .collect();
                    let mut item_ops = Vec::new();
                    parse_metas(&inner, &item_keys, "items", out, &mut item_ops, true)?;
                    ops.push(Op::Items(item_ops));
                }
            }
            continue;
        }

        let value = meta_value(meta, key, example(key))?;
        match key {
            "minimum" | "maximum" | "multiple_of" => {
                need(out, Needs::Number);
                let n = number(value, key)?;
                let name = match key {
                    "minimum" => "minimum",
                    "maximum" => "maximum",
                    _ => "multipleOf",
                };
                ops.push(Op::Set(name, n));
            }
            "min_length" | "max_length" | "min_items" | "max_items" | "min_properties"
            | "max_properties" => {
                let (n, name) = match key {
                    "min_length" => (Needs::Text, "minLength"),
                    "max_length" => (Needs::Text, "maxLength"),
                    "min_items" => (Needs::List, "minItems"),
                    "max_items" => (Needs::List, "maxItems"),
                    "min_properties" => (Needs::Object, "minProperties"),
                    _ => (Needs::Object, "maxProperties"),
                };
                need(out, n);
                let v = count(value, key)?;
                ops.push(Op::Set(name, v));
            }
            "pattern" => {
                need(out, Needs::Text);
                let p = expect_str(value, key, example(key))?;
                ops.push(Op::Set("pattern", p.into_token_stream()));
            }
            "format" | "title" => {
                let s = expect_str(value, key, example(key))?;
                ops.push(Op::Set(key, s.into_token_stream()));
            }
            "type" => {
                let s = expect_str(value, key, example(key))?;
                one_of_values(
                    &s,
                    key,
                    &["string", "integer", "number", "boolean", "object", "array"],
                )?;
                ops.push(Op::Set("type", s.into_token_stream()));
            }
            "enum" => {
                let Expr::Array(arr) = ungroup(value) else {
                    return Err(syn::Error::new_spanned(
                        value,
                        format!("`enum` expects an array of values, e.g. {}", example(key)),
                    ));
                };
                let elems: Vec<TokenStream> = arr.elems.iter().map(json_value).collect();
                ops.push(Op::Set("enum", quote!([#(#elems),*])));
            }
            "default" | "example" => ops.push(Op::Set(key, json_value(value))),
            "list_type" => {
                let s = expect_str(value, key, example(key))?;
                one_of_values(&s, key, &["atomic", "set", "map"])?;
                if seen.iter().any(|k| k == "unique_items") {
                    return Err(syn::Error::new(
                        span,
                        "`unique_items` is `list_type = \"set\"`; give only one of them",
                    ));
                }
                need(out, Needs::List);
                ops.push(Op::Set("x-kubernetes-list-type", s.into_token_stream()));
            }
            "list_map_keys" => {
                let keys = expect_str_list(value, key, example(key))?;
                need(out, Needs::List);
                ops.push(Op::Set("x-kubernetes-list-map-keys", quote!([#(#keys),*])));
            }
            "map_type" | "struct_type" => {
                let s = expect_str(value, key, example(key))?;
                one_of_values(&s, key, &["atomic", "granular"])?;
                ops.push(Op::Set("x-kubernetes-map-type", s.into_token_stream()));
            }
            "exactly_one_of" | "at_most_one_of" | "at_least_one_of" => {
                let names = expect_str_list(value, key, example(key))?;
                if names.len() < 2 {
                    return Err(syn::Error::new_spanned(
                        value,
                        format!("`{key}` needs at least two field names"),
                    ));
                }
                ops.push(Op::Rule(one_of_rule(key, &names)));
                out.one_ofs.push((key, names));
            }
            _ => unreachable!("every key is handled"),
        }
    }
    Ok(())
}

/// controller-gen's `ExactlyOneOf` / `AtMostOneOf` / `AtLeastOneOf` rule and message, word
/// for word, so CRDs moved from kubebuilder keep their validation messages.
fn one_of_rule(key: &str, names: &[LitStr]) -> TokenStream {
    let names: Vec<String> = names.iter().map(LitStr::value).collect();
    let count = names
        .iter()
        .map(|n| format!("(has(self.{n})?1:0)"))
        .collect::<Vec<_>>()
        .join("+");
    let list = names.join(" ");
    let (rule, message) = match key {
        "exactly_one_of" => (
            format!("{count} == 1"),
            format!("exactly one of the fields in [{list}] must be set"),
        ),
        "at_most_one_of" => (
            format!("{count} <= 1"),
            format!("at most one of the fields in [{list}] may be set"),
        ),
        _ => (
            names
                .iter()
                .map(|n| format!("has(self.{n})"))
                .collect::<Vec<_>>()
                .join("||"),
            format!("at least one of the fields in [{list}] must be set"),
        ),
    };
    quote!({"rule": #rule, "message": #message})
}

/// `validation(rule = "...", message = "...", message_expression = "...", reason = "...",
/// field_path = "...", optional_old_self)`: one `x-kubernetes-validations` entry.
fn rule(inner: &Punctuated<Meta, Token![,]>, span: Span) -> syn::Result<TokenStream> {
    const KEYS: &[&str] = &[
        "rule",
        "message",
        "message_expression",
        "reason",
        "field_path",
        "optional_old_self",
    ];
    let mut fields = Vec::new();
    let mut has_rule = false;
    for m in inner {
        let (k, kspan) = meta_key(m, KEYS, "validation")?;
        if k == "optional_old_self" {
            if !matches!(m, Meta::Path(_)) {
                return Err(syn::Error::new(kspan, "`optional_old_self` is a flag"));
            }
            fields.push(quote!("optionalOldSelf": true));
            continue;
        }
        let v = expect_str(
            meta_value(m, &k, example("validation"))?,
            &k,
            example("validation"),
        )?;
        let name = match k.as_str() {
            "rule" => {
                has_rule = true;
                "rule"
            }
            "message" => "message",
            "message_expression" => "messageExpression",
            "reason" => {
                one_of_values(
                    &v,
                    "reason",
                    &[
                        "FieldValueInvalid",
                        "FieldValueForbidden",
                        "FieldValueRequired",
                        "FieldValueDuplicate",
                    ],
                )?;
                "reason"
            }
            _ => "fieldPath",
        };
        fields.push(quote!(#name: #v));
    }
    if !has_rule {
        return Err(syn::Error::new(
            span,
            format!(
                "`validation` needs a `rule`, e.g. {}",
                example("validation")
            ),
        ));
    }
    Ok(quote!({ #(#fields),* }))
}

fn one_of_values(lit: &LitStr, key: &str, valid: &[&str]) -> syn::Result<()> {
    let v = lit.value();
    if valid.contains(&v.as_str()) {
        return Ok(());
    }
    let list: Vec<String> = valid.iter().map(|v| format!("{v:?}")).collect();
    Err(syn::Error::new(
        lit.span(),
        format!("unknown `{key}` {v:?}; valid values: {}", list.join(", ")),
    ))
}

fn number(value: &Expr, key: &str) -> syn::Result<TokenStream> {
    let value = ungroup(value);
    let ok = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(_) | Lit::Float(_),
            ..
        }) => true,
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => matches!(
            &**expr,
            Expr::Lit(ExprLit {
                lit: Lit::Int(_) | Lit::Float(_),
                ..
            })
        ),
        _ => false,
    };
    if !ok {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` expects a number literal, e.g. {}", example(key)),
        ));
    }
    Ok(value.to_token_stream())
}

fn count(value: &Expr, key: &str) -> syn::Result<TokenStream> {
    let value = ungroup(value);
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(i), ..
    }) = value
        && i.base10_parse::<u64>().is_ok()
    {
        let n = i.base10_parse::<u64>()?;
        return Ok(quote!(#n));
    }
    Err(syn::Error::new_spanned(
        value,
        format!(
            "`{key}` expects a non-negative integer literal, e.g. {}",
            example(key)
        ),
    ))
}

/// A value for `default`, `example` or `enum`: a Rust literal or array (anything `json!`
/// takes), or `json!(...)` for objects, whose tokens are passed through.
fn json_value(value: &Expr) -> TokenStream {
    let value = ungroup(value);
    if let Expr::Macro(m) = value
        && m.mac
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "json")
    {
        let tokens = &m.mac.tokens;
        return quote!(#tokens);
    }
    value.to_token_stream()
}

/// Statements applying `ops` to `obj: &mut serde_json::Map<String, Value>`.
fn emit(ops: &[Op], obj: &TokenStream) -> TokenStream {
    // Replacing the generated schema (`schemaless`, `int_or_string`) comes first, so the
    // other keys of the same field survive it whatever order they are written in.
    let replaces = |op: &&Op| matches!(op, Op::Clear | Op::IntOrString);
    let ordered = ops
        .iter()
        .filter(replaces)
        .chain(ops.iter().filter(|op| !replaces(op)));
    let stmts = ordered.map(|op| match op {
        Op::Set(key, value) => {
            quote!(#obj.insert(::std::string::String::from(#key), ::serde_json::json!(#value));)
        }
        Op::Rule(rule) => quote! {
            if let ::serde_json::Value::Array(rules) = #obj
                .entry("x-kubernetes-validations")
                .or_insert_with(|| ::serde_json::Value::Array(::std::vec::Vec::new()))
            {
                rules.push(::serde_json::json!(#rule));
            }
        },
        Op::Clear => quote! {
            #obj.retain(|k, _| k == "description");
        },
        Op::IntOrString => quote! {
            // kube's structural rewriting empties the `anyOf` branches controller-gen writes;
            // the flag alone is what kube emits for `IntOrString` and the API server accepts.
            #obj.retain(|k, _| k == "description" || k == "nullable");
            #obj.insert(::std::string::String::from("x-kubernetes-int-or-string"),
                ::serde_json::json!(true));
        },
        Op::Items(inner) => {
            let items = quote!(items);
            let body = emit(inner, &items);
            quote! {
                if let ::std::option::Option::Some(::serde_json::Value::Object(#items)) = #obj.get_mut("items") {
                    #body
                }
            }
        }
    });
    quote!(#(#stmts)*)
}

fn transform_attr(body: TokenStream) -> Attribute {
    syn::parse_quote! {
        #[schemars(transform = |schema: &mut ::schemars::Schema| {
            let obj = schema.ensure_object();
            #body
        })]
    }
}

fn take_kubesmith_attrs(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let (ours, rest): (Vec<_>, Vec<_>) = attrs
        .drain(..)
        .partition(|a| a.path().is_ident("kubesmith"));
    *attrs = rest;
    ours
}

fn parse_attrs(
    attrs: &[Attribute],
    valid: &[&'static str],
    parsed: &mut Parsed,
) -> syn::Result<()> {
    for attr in attrs {
        let metas = attr.parse_args_with(meta_list)?;
        let mut ops = Vec::new();
        parse_metas(&metas, valid, "kubesmith", parsed, &mut ops, false)?;
        parsed.ops.extend(ops);
    }
    Ok(())
}

/// The JSON name serde gives a field, when it can be told from the attributes.
fn json_name(field: &syn::Field, rename_all: Option<&str>) -> Option<String> {
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let metas = attr
            .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            .ok()?;
        for m in metas {
            if let Meta::NameValue(nv) = &m
                && nv.path.is_ident("rename")
                && let Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) = &nv.value
            {
                return Some(s.value());
            }
        }
    }
    let name = field.ident.as_ref()?.to_string();
    let name = name.trim_start_matches("r#").to_string();
    match rename_all {
        None | Some("snake_case") => Some(name),
        Some("camelCase") => {
            let mut out = String::new();
            let mut upper = false;
            for c in name.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    out.extend(c.to_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
            Some(out)
        }
        Some("lowercase") => Some(name.to_lowercase()),
        _ => None,
    }
}

/// `Option<T>` or `#[serde(default)]`: serde may leave the field out.
fn is_optional(field: &syn::Field) -> bool {
    is_option(field) || serde_flag(field, "default")
}

/// Whether the field's type is written `Option<...>`.
fn is_option(field: &syn::Field) -> bool {
    matches!(&field.ty, syn::Type::Path(p)
        if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// Whether the item derives `name` (`Serialize`, `serde::Serialize`, ...).
fn derives(attrs: &[Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .filter_map(|a| {
            a.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
                .ok()
        })
        .any(|paths| {
            paths
                .iter()
                .any(|p| p.segments.last().is_some_and(|s| s.ident == name))
        })
}

/// Whether the struct has `#[serde(default)]`, which makes every field default.
fn serde_container_default(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .filter_map(|a| {
            a.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                .ok()
        })
        .any(|metas| metas.iter().any(|m| m.path().is_ident("default")))
}

/// Whether the field has `#[serde(name)]` or `#[serde(name = ...)]`.
fn serde_flag(field: &syn::Field, name: &str) -> bool {
    field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .filter_map(|a| {
            a.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                .ok()
        })
        .any(|metas| metas.iter().any(|m| m.path().is_ident(name)))
}

/// `#[kubesmith(...)]` where it has no schema of its own to change: enum variants and the
/// fields of tuple structs with several fields.
fn reject_misplaced(item: &Item) -> syn::Result<()> {
    let misplaced = |attrs: &[Attribute], what: &str| -> syn::Result<()> {
        match attrs.iter().find(|a| a.path().is_ident("kubesmith")) {
            Some(a) => Err(syn::Error::new_spanned(
                a,
                format!(
                    "#[kubesmith(...)] is not supported on {what}; put it on the type, \
                     or on a named field of a struct"
                ),
            )),
            None => Ok(()),
        }
    };
    match item {
        Item::Enum(e) => {
            for v in &e.variants {
                misplaced(&v.attrs, "enum variants")?;
                for f in &v.fields {
                    misplaced(&f.attrs, "fields of enum variants")?;
                }
            }
        }
        Item::Struct(s) if matches!(s.fields, Fields::Unnamed(_)) => {
            for f in &s.fields {
                misplaced(
                    &f.attrs,
                    "the fields of a tuple struct (for a newtype, put it on the type)",
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// serde's `rename_all` of a container: `Some(None)` without one, `Some(Some(rule))` with a
/// plain one, `None` when the names cannot be told (e.g. `rename_all(serialize = ...)`).
fn rename_all(attrs: &[Attribute]) -> Option<Option<String>> {
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let Ok(metas) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        else {
            return None;
        };
        for m in metas {
            if let Meta::List(l) = &m
                && l.path.is_ident("rename_all")
            {
                return None;
            }
            if let Meta::NameValue(nv) = &m
                && nv.path.is_ident("rename_all")
            {
                if let Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) = &nv.value
                {
                    return Some(Some(s.value()));
                }
                return None;
            }
        }
    }
    Some(None)
}

/// Rewrites `#[kubesmith(...)]` on `item` (a struct or enum, and the struct's named fields)
/// into schemars transforms, and appends compile-time type checks after it.
pub fn lower(item: &mut Item) -> syn::Result<TokenStream> {
    // A newtype (`struct Port(pub i32)`) is Rust's Go type alias: its schema is the inner
    // type's, so it takes the field keys too, checked against the inner type.
    let newtype = match &*item {
        Item::Struct(s) => match &s.fields {
            Fields::Unnamed(f) if f.unnamed.len() == 1 => f.unnamed.first().map(|f| f.ty.clone()),
            _ => None,
        },
        _ => None,
    };
    let (attrs, generics, ident) = match item {
        Item::Struct(s) => (&mut s.attrs, s.generics.clone(), s.ident.clone()),
        Item::Enum(e) => (&mut e.attrs, e.generics.clone(), e.ident.clone()),
        _ => return Ok(TokenStream::new()),
    };
    let type_attrs = take_kubesmith_attrs(attrs);
    reject_misplaced(item)?;
    let attrs = match item {
        Item::Struct(s) => &mut s.attrs,
        Item::Enum(e) => &mut e.attrs,
        _ => unreachable!("matched above"),
    };
    let mut container = Parsed::default();
    let valid: Vec<&'static str> = if newtype.is_some() {
        let mut keys: Vec<&'static str> = FIELD_KEYS
            .iter()
            .copied()
            .filter(|k| !matches!(*k, "required" | "optional"))
            .collect();
        keys.extend(TYPE_KEYS.iter().filter(|k| !FIELD_KEYS.contains(k)));
        keys
    } else {
        TYPE_KEYS.to_vec()
    };
    parse_attrs(&type_attrs, &valid, &mut container)?;
    let serde_rename_all = rename_all(attrs);

    let mut checks = Vec::new();
    if let Some(inner) = &newtype {
        for (needs, span, key) in std::mem::take(&mut container.needs) {
            checks.push(type_check(needs, span, key, inner));
        }
    }
    let mut required: Vec<(bool, String)> = Vec::new();
    let mut json_names: Option<Vec<String>> = Some(Vec::new());
    let mut once_set: Vec<String> = Vec::new();
    // Fields serde fills in when absent: (JSON name, the `default` key's value, if any).
    let mut serde_defaults: Vec<(String, Option<TokenStream>)> = Vec::new();

    if let Item::Struct(s) = item {
        let serializes = derives(&s.attrs, "Serialize");
        let container_default = serde_container_default(&s.attrs);
        if let Fields::Named(named) = &mut s.fields {
            for field in named.named.iter_mut() {
                if serializes
                    && is_option(field)
                    && !serde_flag(field, "skip_serializing_if")
                    && !serde_flag(field, "with")
                    && !serde_flag(field, "serialize_with")
                {
                    // An absent optional field must stay absent on the wire: a `null` in a
                    // server-side apply patch would clear what another manager set.
                    field.attrs.push(syn::parse_quote!(
                        #[serde(skip_serializing_if = "::std::option::Option::is_none")]
                    ));
                }
                if serde_flag(field, "flatten") {
                    // The flattened type's fields are the parent's too; names are not knowable here.
                    json_names = None;
                }
                match (&serde_rename_all, &mut json_names) {
                    (Some(ra), Some(names)) => match json_name(field, ra.as_deref()) {
                        Some(n) => names.push(n),
                        None => json_names = None,
                    },
                    _ => json_names = None,
                }
                let ours = take_kubesmith_attrs(&mut field.attrs);
                let mut parsed = Parsed::default();
                parse_attrs(&ours, FIELD_KEYS, &mut parsed)?;
                if (container_default || serde_flag(field, "default"))
                    && let Some(name) =
                        json_name(field, serde_rename_all.clone().flatten().as_deref())
                {
                    let given = parsed.ops.iter().find_map(|op| match op {
                        Op::Set("default", v) => Some(v.clone()),
                        _ => None,
                    });
                    serde_defaults.push((name, given));
                }
                if ours.is_empty() {
                    continue;
                }
                if let Some((req, span)) = parsed.required {
                    let Some(name) =
                        json_name(field, serde_rename_all.clone().flatten().as_deref())
                    else {
                        return Err(syn::Error::new(
                            span,
                            "cannot tell this field's JSON name (unsupported serde rename_all); \
                             give it #[serde(rename = \"...\")]",
                        ));
                    };
                    required.push((req, name));
                }
                if !parsed.ops.is_empty() {
                    let obj = quote!(obj);
                    field.attrs.push(transform_attr(emit(&parsed.ops, &obj)));
                }
                if parsed.immutable && is_optional(field) {
                    // A rule on the field is not evaluated when the field is absent, so the
                    // parent keeps it from being removed once set.
                    if let Some(name) =
                        json_name(field, serde_rename_all.clone().flatten().as_deref())
                    {
                        once_set.push(name);
                    }
                }
                let ty = &field.ty;
                for (needs, span, key) in parsed.needs {
                    checks.push(type_check(needs, span, key, ty));
                }
            }
        } else {
            json_names = None;
        }
    } else {
        json_names = None;
    }

    for (key, names) in &container.one_ofs {
        if let Some(known) = &json_names {
            for n in names {
                if !known.contains(&n.value()) {
                    return Err(syn::Error::new(
                        n.span(),
                        format!(
                            "`{key}` names {:?}, which is not a field of `{ident}`; fields (JSON names): {}",
                            n.value(),
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
    }

    for name in &once_set {
        let rule = format!("!has(oldSelf.{name}) || has(self.{name})");
        let message = format!("field {name} is immutable once set");
        container
            .ops
            .push(Op::Rule(quote!({"rule": #rule, "message": #message})));
    }
    let has_type_ops =
        !container.ops.is_empty() || !required.is_empty() || !serde_defaults.is_empty();
    let mut body = emit(&container.ops, &quote!(obj));
    if !serde_defaults.is_empty() {
        // schemars writes a `#[serde(default)]` field's Rust default into the schema (after
        // the field's own transforms, so over a `default` key). controller-gen writes no
        // default for an optional field, and the API server would store it in every object
        // (and refuses the CRD when it breaks the field's own rules, e.g. `[]` with
        // `min_items`), so only the `default` key's value stays.
        let fixes = serde_defaults.iter().map(|(name, given)| {
            let set = match given {
                Some(v) => quote! {
                    p.insert(::std::string::String::from("default"), ::serde_json::json!(#v));
                },
                None => quote!(p.remove("default");),
            };
            quote! {
                if let ::std::option::Option::Some(::serde_json::Value::Object(p)) = props.get_mut(#name) {
                    #set
                }
            }
        });
        body.extend(quote! {
            if let ::std::option::Option::Some(::serde_json::Value::Object(props)) = obj.get_mut("properties") {
                #(#fixes)*
            }
        });
    }
    if !required.is_empty() {
        // serde's view of optional fields decides `required`; these flags override it, as
        // controller-gen's `+required` / `+optional` markers do.
        let adds = required.iter().filter(|(r, _)| *r).map(|(_, n)| n);
        let removes = required.iter().filter(|(r, _)| !*r).map(|(_, n)| n);
        body.extend(quote! {
            {
                let mut required: ::std::vec::Vec<::serde_json::Value> = match obj.remove("required") {
                    ::std::option::Option::Some(::serde_json::Value::Array(r)) => r,
                    _ => ::std::vec::Vec::new(),
                };
                #( if !required.iter().any(|r| r == #adds) { required.push(::serde_json::json!(#adds)); } )*
                #( required.retain(|r| r != #removes); )*
                if !required.is_empty() {
                    obj.insert(::std::string::String::from("required"), ::serde_json::Value::Array(required));
                }
            }
        });
    }
    if has_type_ops {
        let attrs = match item {
            Item::Struct(s) => &mut s.attrs,
            Item::Enum(e) => &mut e.attrs,
            _ => unreachable!("checked above"),
        };
        attrs.push(transform_attr(body));
    }

    // Type checks need concrete types; generic types are left unchecked.
    if checks.is_empty() || !generics.params.is_empty() {
        return Ok(TokenStream::new());
    }
    Ok(quote! {
        #[allow(dead_code, non_camel_case_types)]
        const _: () = {
            #[diagnostic::on_unimplemented(
                message = "`{Self}` is not a number: this #[kubesmith(...)] key applies to integer and float fields",
                label = "not a number",
                note = "number keys: minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of; for a newtype, put the key on the type: #[kubesmith_runtime::schema] #[kubesmith(...)] struct Port(i32)"
            )]
            trait KubesmithNumber {}
            #[diagnostic::on_unimplemented(
                message = "`{Self}` is not a string: this #[kubesmith(...)] key applies to String fields",
                label = "not a string",
                note = "string keys: min_length, max_length, pattern; for a newtype, put the key on the type: #[kubesmith_runtime::schema] #[kubesmith(...)] struct Port(i32)"
            )]
            trait KubesmithString {}
            #[diagnostic::on_unimplemented(
                message = "`{Self}` is not a list: this #[kubesmith(...)] key applies to Vec and set fields",
                label = "not a list",
                note = "list keys: min_items, max_items, unique_items, items(...), list_type, list_map_keys; for a newtype, put the key on the type: #[kubesmith_runtime::schema] #[kubesmith(...)] struct Port(i32)"
            )]
            trait KubesmithList {}
            #[diagnostic::on_unimplemented(
                message = "`{Self}` is not a map: this #[kubesmith(...)] key applies to map and struct fields",
                label = "not a map or struct",
                note = "object keys: min_properties, max_properties"
            )]
            trait KubesmithObject {}
            macro_rules! each { ($tr:ident: $($t:ty),*) => { $(impl $tr for $t {})* } }
            each!(KubesmithNumber: i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64,
                ::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString);
            each!(KubesmithString: ::std::string::String, &str, ::std::borrow::Cow<'_, str>,
                ::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString);
            impl<T> KubesmithList for ::std::vec::Vec<T> {}
            impl<T> KubesmithList for ::std::collections::BTreeSet<T> {}
            impl<T, S> KubesmithList for ::std::collections::HashSet<T, S> {}
            impl<T, const N: usize> KubesmithList for [T; N] {}
            impl<K, V> KubesmithObject for ::std::collections::BTreeMap<K, V> {}
            impl<K, V, S> KubesmithObject for ::std::collections::HashMap<K, V, S> {}
            impl KubesmithObject for ::serde_json::Value {}
            impl<T: KubesmithNumber> KubesmithNumber for ::std::option::Option<T> {}
            impl<T: KubesmithString> KubesmithString for ::std::option::Option<T> {}
            impl<T: KubesmithList> KubesmithList for ::std::option::Option<T> {}
            impl<T: KubesmithObject> KubesmithObject for ::std::option::Option<T> {}
            impl<T: KubesmithNumber> KubesmithNumber for ::std::boxed::Box<T> {}
            impl<T: KubesmithString> KubesmithString for ::std::boxed::Box<T> {}
            impl<T: KubesmithList> KubesmithList for ::std::boxed::Box<T> {}
            impl<T: KubesmithObject> KubesmithObject for ::std::boxed::Box<T> {}
            #(#checks)*
        };
    })
}

fn type_check(needs: Needs, span: Span, key: &str, ty: &syn::Type) -> TokenStream {
    let tr = match needs {
        Needs::Number => quote!(KubesmithNumber),
        Needs::Text => quote!(KubesmithString),
        Needs::List => quote!(KubesmithList),
        // Structs get an object schema too; only known non-objects are worth rejecting, and
        // a trait cannot say "any struct", so object keys are not type-checked.
        Needs::Object => return TokenStream::new(),
    };
    let check = syn::Ident::new(&format!("check_{key}"), span);
    // The bound is spanned on the key, so the error points at the attribute.
    // The field type re-spanned on the key, so the error's main span is the attribute key.
    let ty = respan(ty.to_token_stream(), span);
    let call = quote_spanned! {span=> #check::<#ty> };
    quote! {
        const _: () = {
            fn #check<T: #tr + ?Sized>() {}
            let _ = #call;
        };
    }
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
