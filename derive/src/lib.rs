//! Attributes that turn Rust types into Kubernetes CRDs and RBAC rules, the way
//! kubebuilder's markers do for Go. Use them through `kubesmith_runtime`, which
//! re-exports them as `kubesmith_runtime::{resource, rbac}`.

use proc_macro::TokenStream;

mod rbac;
mod resource;
mod schema;

/// Makes the annotated spec struct a Kubernetes custom resource: lowers to
/// kube-derive's `#[derive(kube::CustomResource)]` with a `#[kube(...)]` attribute,
/// so the generated root type (named after `kind`) implements `kube::Resource` and
/// `kube::CustomResourceExt`, and `Kind::crd()` is the CRD `kubesmith generate` writes.
///
/// ```ignore
/// #[resource(group = "cache.example.com", version = "v1alpha1", kind = "Memcached",
///            namespaced, status = "MemcachedStatus", plural = "memcacheds")]
/// #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
/// pub struct MemcachedSpec { pub size: i32 }
/// ```
///
/// Keys:
/// - `group` (required): API group, a DNS-1123 subdomain with a dot (`"cache.example.com"`).
/// - `version` (required): `"v1"`, `"v1alpha1"`, `"v2beta3"`, ...
/// - `kind` (required): PascalCase kind; also the name of the generated root type.
/// - `namespaced` (flag) or `scope = "Namespaced" | "Cluster"` (not both): without
///   either the resource is cluster-scoped, as with kube-derive.
/// - `status`: the status type, as a string (`"MemcachedStatus"`, `"crate::x::Status"`)
///   or a bare path (`MemcachedStatus`); enables the status subresource.
/// - `plural`, `singular`: lowercase names (kube-derive infers them from `kind` if omitted).
/// - `shortnames = ["mc"]`, `categories = ["all"]`: lists of lowercase names (a single
///   string is read as a one-item list).
///
/// The generated code names only `::kube` (and, through kube-derive, `::k8s_openapi`,
/// `::schemars`, `::serde`, `::serde_json`), which the project must depend on, with
/// kube's `derive` feature. Further `#[kube(...)]` attributes (e.g. `printcolumn`,
/// `scale`) may be written on the struct and are passed through to kube-derive.
#[proc_macro_attribute]
pub fn resource(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    match resource::expand(args.into(), item2) {
        Ok(out) => out.into(),
        Err(e) => {
            // Keep the struct so the error is the only one reported for it.
            let mut out: TokenStream = e.to_compile_error().into();
            out.extend(without_helper_attrs(item));
            out
        }
    }
}

/// Declares one RBAC rule the controller needs; `kubesmith generate` collects every
/// such attribute under `src/` into `config/rbac/role.yaml`.
///
/// ```ignore
/// #[rbac(groups = ["cache.example.com"], resources = ["memcacheds"],
///        verbs = ["get", "list", "watch", "create", "update", "patch", "delete"])]
/// #[rbac(groups = ["cache.example.com"], resources = ["memcacheds/status"], verbs = ["get", "update", "patch"])]
/// #[rbac(groups = [""], resources = ["events"], verbs = ["create", "patch"])]
/// #[rbac(urls = ["/metrics"], verbs = ["get"])]
/// impl Reconciler<Memcached> for MemcachedReconciler { /* ... */ }
/// ```
///
/// Keys (lists take string arrays; a single string is read as a one-item list):
/// - `groups`: API groups; `""` (or `"core"`) is the core group. Required with `resources`.
/// - `resources`: resources, `resource/subresource` for subresources. Required with `groups`.
/// - `resource_names`: restricts the rule to these object names.
/// - `verbs` (required): from `get list watch create update patch delete deletecollection
///   impersonate bind escalate use proxy *`.
/// - `urls`: non-resource URLs (`/metrics`); not together with `groups`, `resources`,
///   `resource_names` or `namespace`.
/// - `namespace`: put the rule in a `Role` in this namespace instead of the `ClusterRole`.
/// - `role_name`: name of the (Cluster)Role instead of `manager-role`.
///
/// The attribute may go on any item and be repeated; the item is emitted unchanged.
#[proc_macro_attribute]
pub fn rbac(args: TokenStream, item: TokenStream) -> TokenStream {
    match rbac::parse_rbac_args(args.into()) {
        Ok(_) => item,
        Err(e) => {
            // Keep the item so one bad rule does not cascade into "not found" errors.
            let mut out: TokenStream = e.to_compile_error().into();
            out.extend(item);
            out
        }
    }
}

/// Applies `#[kubesmith(...)]` field and type attributes to a struct or enum that is not the
/// spec (nested types, the status); `#[resource]` does the same for the spec itself. Put it
/// above `#[derive(JsonSchema)]`, which must see the attributes it writes.
///
/// ```ignore
/// #[kubesmith_runtime::schema]
/// #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
/// #[kubesmith(exactly_one_of = ["image", "build"])]
/// pub struct Source {
///     #[kubesmith(pattern = "^[a-z0-9./:-]+$", max_length = 255)]
///     pub image: Option<String>,
///     pub build: Option<Build>,
/// }
/// ```
///
/// See [`resource`] for the keys.
#[proc_macro_attribute]
pub fn schema(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    let expanded = (|| {
        if !args.is_empty() {
            return Err(syn::Error::new(
                proc_macro2::TokenStream::from(args)
                    .into_iter()
                    .next()
                    .map_or_else(proc_macro2::Span::call_site, |t| t.span()),
                "#[schema] takes no arguments; put the keys in #[kubesmith(...)] on the type or its fields",
            ));
        }
        let mut parsed: syn::Item = syn::parse2(item2)?;
        if !matches!(parsed, syn::Item::Struct(_) | syn::Item::Enum(_)) {
            return Err(syn::Error::new_spanned(
                &parsed,
                "#[schema] goes on a struct or enum that derives JsonSchema",
            ));
        }
        let checks = schema::lower(&mut parsed)?;
        Ok(quote::quote!(#parsed #checks))
    })();
    match expanded {
        Ok(out) => out.into(),
        Err(e) => {
            let mut out: TokenStream = e.to_compile_error().into();
            out.extend(without_helper_attrs(item));
            out
        }
    }
}

/// The item without its `#[kubesmith(...)]` attributes, emitted after an error so that the
/// error is not followed by "cannot find attribute `kubesmith`" for each of them.
fn without_helper_attrs(item: TokenStream) -> TokenStream {
    let Ok(mut parsed) = syn::parse::<syn::Item>(item.clone()) else {
        return item;
    };
    let keep = |attrs: &mut Vec<syn::Attribute>| attrs.retain(|a| !a.path().is_ident("kubesmith"));
    match &mut parsed {
        syn::Item::Struct(s) => {
            keep(&mut s.attrs);
            s.fields.iter_mut().for_each(|f| keep(&mut f.attrs));
        }
        syn::Item::Enum(e) => keep(&mut e.attrs),
        _ => {}
    }
    quote::quote!(#parsed).into()
}
