//! Attributes that turn Rust types into Kubernetes CRDs and RBAC rules, the way
//! kubebuilder's markers do for Go. Use them through `kubesmith_runtime`, which
//! re-exports them as `kubesmith_runtime::{resource, rbac}` (and `schema`).

use proc_macro::TokenStream;

mod rbac;
mod resource;
mod schema;
mod webhook;

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
/// # Root keys
///
/// Each key names the controller-gen marker it replaces and what it writes in the CRD.
///
/// | key | replaces | emits |
/// |---|---|---|
/// | `group = "cache.example.com"` (required) | `+groupName` | `spec.group` |
/// | `version = "v1alpha1"` (required) | package version | `spec.versions[].name` |
/// | `kind = "Memcached"` (required, PascalCase) | the Go type name | `spec.names.kind`; names the root type |
/// | `namespaced` or `scope = "Namespaced" \| "Cluster"` | `+kubebuilder:resource:scope=` | `spec.scope` (default `Cluster`, as kube-derive) |
/// | `status = "MemcachedStatus"` or `status = path::Type` | `+kubebuilder:subresource:status` | `subresources.status: {}` and the `status` schema |
/// | `plural = "memcacheds"`, `singular = "memcached"` | `+kubebuilder:resource:path=,singular=` | `spec.names.plural` / `singular` |
/// | `shortnames = ["mc"]`, `categories = ["all"]` | `+kubebuilder:resource:shortName=,categories=` | `spec.names.shortNames` / `categories` |
/// | `printcolumn(name = "Size", type = "integer", json_path = ".spec.size", description = "...", format = "int32", priority = 1)`, repeatable | `+kubebuilder:printcolumn:name=,type=,JSONPath=,description=,format=,priority=` | one `additionalPrinterColumns[]` entry each, in order; `type` one of integer, number, string, boolean, date; `format` one of int32, int64, float, double, byte, date, date-time, password |
/// | `scale(spec_replicas_path = ".spec.replicas", status_replicas_path = ".status.replicas", label_selector_path = ".status.selector")` | `+kubebuilder:subresource:scale:specpath=,statuspath=,selectorpath=` | `subresources.scale` (needs `status`) |
/// | `selectable = [".spec.color"]` | `+kubebuilder:selectablefield:JSONPath=` | `selectableFields[].jsonPath` |
/// | `storage` (flag) | `+kubebuilder:storageversion` | with several versions of a kind, this one has `storage: true` (exactly one must say so; `generate` names the types otherwise) |
/// | `served = false` | `+kubebuilder:unservedversion` | `served: false` |
/// | `deprecated` or `deprecated = "warning"` | `+kubebuilder:deprecatedversion:warning=` | `deprecated: true`, `deprecationWarning` |
/// | `skip` (flag) | `+kubebuilder:skipversion` | the version is left out of the CRD `generate` writes |
/// | `label("key", "value")`, repeatable | `+kubebuilder:metadata:labels=` | `metadata.labels` of the CRD |
/// | `annotation("key", "value")`, repeatable | `+kubebuilder:metadata:annotations=` | `metadata.annotations` of the CRD |
/// | `validation(rule = "...", message = "...", message_expression = "...", reason = "FieldValueForbidden", field_path = "...", optional_old_self)`, repeatable | `+kubebuilder:validation:XValidation` on the root type | `x-kubernetes-validations[]` on the whole object (rules may relate `self.metadata`, `self.spec`, `self.status`); lowers to kube's `validation = Rule::new(..)` |
/// | `no_spec` (flag) | a Go type without `Spec` | the struct's fields sit at the root of the object (kube's `no_spec`) |
/// | `doc = "Memcached is the Schema for the memcacheds API"` | the Go root type's doc comment | the root type's rustdoc and the schema's root `description` (default: that sentence, kubebuilder's scaffolded comment; `doc = ""` for none) |
///
/// Several versions of one kind (one `#[resource]` struct per version, same `group` and
/// `kind`) become one CRD in `kubesmith generate`, with `Kind::crd()` of each type giving its
/// own version. Their scope, plural, short names and categories must agree.
///
/// # Field and type attributes
///
/// `#[kubesmith(...)]` on the spec's fields and on the spec itself carries the validation
/// markers (see [`macro@schema`] for the keys); nested types and the status take them through
/// `#[schema]`. Optional means `Option<T>` or `#[serde(default)]`; every other field is
/// required. An `Option` field without `skip_serializing_if` (or `with`/`serialize_with`)
/// gets `#[serde(skip_serializing_if = "Option::is_none")]` when the type derives `Serialize`,
/// so a server-side apply patch never sends a `null` that clears another manager's field.
/// Doc comments become descriptions.
///
/// The generated code names only `::kube` (and, through kube-derive, `::k8s_openapi`,
/// `::schemars`, `::serde`, `::serde_json`), which the project must depend on, with
/// kube's `derive` feature. Put `#[resource]` above `#[derive(JsonSchema)]`.
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

/// Declares one admission webhook served by the manager, as controller-gen's
/// `+kubebuilder:webhook` marker; `kubesmith generate` collects every such attribute under
/// `src/` into `config/webhook/manifests.yaml` (a MutatingWebhookConfiguration
/// `mutating-webhook-configuration` and a ValidatingWebhookConfiguration
/// `validating-webhook-configuration`, service `webhook-service` in `system`).
///
/// ```ignore
/// #[webhook(path = "/mutate-cache-example-com-v1alpha1-memcached", mutating = true,
///           failure_policy = "fail", side_effects = "None", groups = ["cache.example.com"],
///           resources = ["memcacheds"], verbs = ["create", "update"], versions = ["v1alpha1"],
///           name = "mmemcached-v1alpha1.kb.io", admission_review_versions = ["v1"])]
/// impl Defaulter<Memcached> for MemcachedCustomDefaulter { /* ... */ }
/// ```
///
/// | key | marker field | emits |
/// |---|---|---|
/// | `mutating = true \| false` (required) | `mutating` | which configuration the webhook goes to |
/// | `path = "/..."` or `url = "https://..."` (one of them) | `path`, `url` | `clientConfig.service.path` / `clientConfig.url` |
/// | `failure_policy = "fail" \| "ignore"` (required) | `failurePolicy` | `failurePolicy: Fail \| Ignore` |
/// | `match_policy = "Exact" \| "Equivalent"` | `matchPolicy` | `matchPolicy` |
/// | `side_effects = "None" \| "NoneOnDryRun"` (required; `Some`/`Unknown` refused) | `sideEffects` | `sideEffects` |
/// | `timeout_seconds = 10` (1 to 30) | `timeoutSeconds` | `timeoutSeconds` |
/// | `groups`, `resources`, `versions` (required string lists; `""` is the core group) | `groups`, `resources`, `versions` | `rules[0]` |
/// | `verbs` (required) from `create update delete connect *` | `verbs` | `rules[0].operations` (upper case) |
/// | `name = "mmemcached-v1.kb.io"` (required, at least three segments) | `name` | `name` |
/// | `admission_review_versions = ["v1"]` (required, must include `v1`) | `admissionReviewVersions` | `admissionReviewVersions` |
/// | `reinvocation_policy = "Never" \| "IfNeeded"` (mutating only) | `reinvocationPolicy` | `reinvocationPolicy` |
/// | `webhook_versions = ["v1"]` (only `v1`) | `webhookVersions` | nothing: v1 configurations only |
/// | `service_name`, `service_namespace`, `service_port` | `serviceName`, `serviceNamespace`, `servicePort` | `clientConfig.service` instead of `webhook-service`/`system` |
/// | `namespace_selector = "env in (dev,prod)"`, `object_selector = "managed-by=me,!legacy"` | `patch={"namespaceSelector":...}` | `namespaceSelector` / `objectSelector`, from a kubectl `-l` selector: `k=v` goes to `matchLabels`; `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k` to `matchExpressions` |
/// | `configuration_name = "my-config"` | `+kubebuilder:webhookconfiguration:name=` | `metadata.name` of the configuration holding the webhook (one name per configuration) |
///
/// The attribute may go on any item and be repeated; the item is emitted unchanged.
#[proc_macro_attribute]
pub fn webhook(args: TokenStream, item: TokenStream) -> TokenStream {
    match webhook::parse_webhook_args(args.into()) {
        Ok(_) => item,
        Err(e) => {
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
/// #[serde(rename_all = "camelCase")]
/// #[kubesmith(exactly_one_of = ["image", "build"])]
/// pub struct Source {
///     #[kubesmith(pattern = "^[a-z0-9./:-]+$", max_length = 255)]
///     pub image: Option<String>,
///     pub build: Option<Build>,
/// }
/// ```
///
/// Each `#[kubesmith(...)]` becomes a `#[schemars(transform = ...)]` on the same field or
/// type, so the keys travel through the schemars pipeline kube-derive uses and
/// `Kind::crd()` is what `kubesmith generate` writes. A misspelt key, a bad value or a key on
/// the wrong kind of field is a compile error on the key (number, string and list keys are
/// checked against the field's type; `Option<T>` and `Box<T>` count as `T`).
///
/// # Field keys (`+kubebuilder:validation:<Marker>` unless noted)
///
/// | key | replaces | emits |
/// |---|---|---|
/// | `minimum = 1`, `maximum = 10` | `Minimum`, `Maximum` | `minimum`, `maximum` |
/// | `exclusive_minimum`, `exclusive_maximum` (flags) | `ExclusiveMinimum`, `ExclusiveMaximum` | `exclusiveMinimum: true` / `exclusiveMaximum: true` |
/// | `multiple_of = 2` | `MultipleOf` | `multipleOf` |
/// | `min_length = 1`, `max_length = 63` | `MinLength`, `MaxLength` | `minLength`, `maxLength` |
/// | `pattern = "^[a-z]+$"` | `Pattern` | `pattern` |
/// | `min_items = 1`, `max_items = 5` | `MinItems`, `MaxItems` | `minItems`, `maxItems` |
/// | `unique_items` (flag) | `UniqueItems` | `x-kubernetes-list-type: set` (the API server rejects `uniqueItems: true`) |
/// | `min_properties = 1`, `max_properties = 3` | `MinProperties`, `MaxProperties` | `minProperties`, `maxProperties` |
/// | `enum = ["A", "B"]` | `Enum` | `enum` (a Rust enum of unit variants gets one without this key) |
/// | `format = "date-time"` | `Format` | `format` |
/// | `type = "string"` | `Type` | `type` |
/// | `preserve_unknown_fields` (flag) | `XPreserveUnknownFields`, `+kubebuilder:pruning:PreserveUnknownFields` | `x-kubernetes-preserve-unknown-fields: true` |
/// | `embedded_resource` (flag) | `XEmbeddedResource` | `type: object`, `x-kubernetes-embedded-resource: true` |
/// | `int_or_string` (flag) | `XIntOrString` | the generated schema replaced by `x-kubernetes-int-or-string: true` |
/// | `nullable` (flag) | `+nullable` | `nullable: true` (`Option` fields get it anyway) |
/// | `default = 3`, `default = "x"`, `default = json!({"a": 1})` | `+kubebuilder:default=` | `default` |
/// | `example = ...` (same forms) | `+kubebuilder:example=` | `example` |
/// | `schemaless` (flag) | `Schemaless` | the generated schema dropped (description kept); combine with `preserve_unknown_fields` |
/// | `title = "..."` | `+kubebuilder:title=` | `title` |
/// | `external_docs(url = "...", description = "...")` | `+kubebuilder:externalDocs:url=,description=` | `externalDocs` |
/// | `list_type = "atomic" \| "set" \| "map"` | `+listType=` | `x-kubernetes-list-type` |
/// | `list_map_keys = ["name"]` | `+listMapKey=` | `x-kubernetes-list-map-keys` |
/// | `map_type = "atomic" \| "granular"` | `+mapType=` | `x-kubernetes-map-type` |
/// | `struct_type = "atomic" \| "granular"` | `+structType=` | `x-kubernetes-map-type` |
/// | `validation(rule = "...", message = "...", message_expression = "...", reason = "FieldValueInvalid", field_path = ".x", optional_old_self)`, repeatable | `XValidation:rule=,message=,messageExpression=,reason=,fieldPath=,optionalOldSelf=` | one `x-kubernetes-validations[]` entry each |
/// | `immutable` (flag) | `+kubebuilder:validation:Immutable` | `x-kubernetes-validations: [{rule: self == oldSelf, message: field is immutable}]`; on an optional field also `!has(oldSelf.f) \|\| has(self.f)` ("field f is immutable once set") on the parent |
/// | `items(...)` with any key above except `items` | `+kubebuilder:validation:items:<Marker>` | the keys on the list's `items` schema |
/// | `required` / `optional` (flags) | `+required`, `+optional`, `+kubebuilder:validation:Required/Optional` | adds the field to / removes it from the parent's `required` |
///
/// # Type keys (on the struct or enum itself)
///
/// `min_properties`, `max_properties`, `preserve_unknown_fields`, `embedded_resource`,
/// `nullable`, `title`, `external_docs`, `map_type`, `struct_type`, `validation(...)`, `type`,
/// `format` as above, and, repeatable, with controller-gen's rules and messages word for word:
///
/// | key | replaces | emits |
/// |---|---|---|
/// | `exactly_one_of = ["a", "b"]` | `+kubebuilder:validation:ExactlyOneOf=a;b` | rule `(has(self.a)?1:0)+(has(self.b)?1:0) == 1` |
/// | `at_most_one_of = ["a", "b"]` | `+kubebuilder:validation:AtMostOneOf=a;b` | rule `(has(self.a)?1:0)+(has(self.b)?1:0) <= 1` |
/// | `at_least_one_of = ["a", "b"]` | `+kubebuilder:validation:AtLeastOneOf=a;b` | rule `has(self.a)\|\|has(self.b)` |
///
/// A newtype (`struct Port(pub i32)`, Rust's Go type alias) takes the field keys too, on the
/// type, and they apply wherever the type is used.
///
/// One-of names are JSON names and must be fields of the struct (checked when serde's
/// `rename_all` is absent, `camelCase`, `snake_case` or `lowercase`).
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
        syn::Item::Enum(e) => {
            keep(&mut e.attrs);
            for v in e.variants.iter_mut() {
                keep(&mut v.attrs);
                v.fields.iter_mut().for_each(|f| keep(&mut f.attrs));
            }
        }
        _ => {}
    }
    quote::quote!(#parsed).into()
}
