//! The object verbs (create, get, list, update, patch, delete) with kube-apiserver's
//! rules (apiserver.md A.6-A.12), as one generic path over `serde_json::Value` objects.
//! Per-type facts come from the [`ResourceType`]; the few built-in special cases are
//! the [`Special`] hooks.

use base64::Engine as _;
use rand::seq::IndexedRandom as _;
use serde_json::{Map, Value, json};

use crate::compact::Compact;
use crate::managed::{self, Scope, Writer};
use crate::registry::{self, Conversion, Registry, ResourceType, Special};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError};
use crate::store::{ObjectKey, Store, meta_str};
use crate::typed::{self, FieldValidation};

/// Everything the server holds, guarded by one lock.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub registry: Registry,
    pub store: Store,
    /// Run the owner-reference garbage collector after every write.
    pub garbage_collection: bool,
    /// The next service cluster IP to hand out, as an offset in 10.96.0.0/16.
    next_service_ip: u32,
}

/// Held by a deleting CRD until all its objects are gone.
const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Where a CRD's objects are stored: (spec.group, spec.names.plural).
fn crd_storage_key(crd: &Value) -> (String, String) {
    let field = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (field("/spec/group"), field("/spec/names/plural"))
}

/// Sets (or replaces) a `status.conditions` entry, keeping lastTransitionTime if unchanged.
fn set_condition(obj: &mut Value, type_: &str, status: &str, reason: &str, message: &str) {
    let status_obj = object_field(obj, "status");
    let conditions = status_obj.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    let since = list
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now()));
    list.retain(|c| c["type"] != type_);
    list.push(json!({ "type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": since }));
}

/// Namespaces that exist from the start, like on a fresh cluster.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];
const UNDELETABLE_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// RFC 3339 with whole seconds, as `metav1.Time` serialises.
pub(crate) fn now() -> String {
    let ts = jiff::Timestamp::now();
    jiff::Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}

/// Which part of an object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Main,
    Status,
    /// Reads and writes go through the Scale view; the object itself is written as `Main`.
    Scale,
}

/// Whether a write without `metadata.resourceVersion` is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RvCheck {
    /// PUT of a custom resource: an empty resourceVersion is 422.
    Required,
    /// PUT of built-ins and all patches: empty means unconditional.
    IfSet,
}

/// How an update is applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpdateMode {
    pub part: Part,
    pub rv_check: RvCheck,
}

/// Options every write takes, and the warnings it produced (for `Warning` headers).
#[derive(Debug, Default)]
pub(crate) struct WriteOptions {
    pub dry_run: bool,
    pub validation: FieldValidation,
    pub warnings: Vec<String>,
    /// The field manager (`fieldManager`, or the User-Agent's product name).
    pub manager: String,
    /// `managedFields` were already computed by server-side apply.
    pub applied: bool,
}

impl WriteOptions {
    pub fn writer<'a>(
        &'a self,
        rt: &'a ResourceType,
        part: Part,
        api_version: &'a str,
        now: &'a str,
    ) -> Writer<'a> {
        let scope = match part {
            Part::Status => Scope::Status,
            Part::Main | Part::Scale => Scope::Main {
                status_subresource: rt.status_subresource,
            },
        };
        Writer {
            manager: &self.manager,
            api_version,
            scope,
            now,
            schema: crate::shape::Schema::of(rt),
        }
    }
}

/// Query parameters of a list (or the list part of a watch).
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

impl ListQuery {
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// No label or field selector: every object matches.
    pub fn selects_all(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// DeleteOptions, from the body or the query.
#[derive(Debug, Default)]
pub(crate) struct DeleteOptions {
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// What a DELETE did.
#[derive(Debug)]
pub(crate) enum Deleted {
    /// Removed at once: answer with a Status Success.
    Gone(Value),
    /// Kept alive by finalizers (or a terminating namespace): answer with the object.
    Pending(Value),
}

/// A `<Kind>List` of `items`. The items are moved in: `json!` would copy each through
/// `serde_json::to_value`, which was a third of the server's time for a list of Pods.
pub(crate) fn list_of(rt: &ResourceType, metadata: Value, items: Vec<Value>) -> Value {
    let mut list = Map::new();
    list.insert("apiVersion".into(), json!(rt.api_version()));
    list.insert("kind".into(), json!(rt.list_kind));
    list.insert("metadata".into(), metadata);
    list.insert("items".into(), Value::Array(items));
    Value::Object(list)
}

/// The object as served at `rt`'s version (storage is shared across versions; conversion is `None`).
pub(crate) fn present(rt: &ResourceType, obj: &Value) -> Value {
    present_owned(rt, obj.clone())
}

/// [`present`] for an object the caller has no further use for.
pub(crate) fn present_owned(rt: &ResourceType, mut o: Value) -> Value {
    if let Value::Object(m) = &mut o {
        if rt.conversion == Conversion::EventsV1 {
            rename_fields(m, true);
        }
        m.insert("apiVersion".into(), json!(rt.api_version()));
        m.insert("kind".into(), json!(rt.kind));
    }
    if let (true, Some(schema)) = (rt.custom, &rt.schema) {
        crate::schema::on_read(&mut o, schema);
    }
    o
}

/// events.k8s.io/v1 field names and their core/v1 counterparts (events/v1 `conversion.go`).
const EVENT_FIELDS: [(&str, &str); 8] = [
    ("note", "message"),
    ("regarding", "involvedObject"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("related", "related"),
];

/// Renames Event fields from the core form to events.k8s.io (`to_v1`) or back.
fn rename_fields(m: &mut Map<String, Value>, to_v1: bool) {
    for (v1, core) in EVENT_FIELDS {
        let (from, to) = if to_v1 { (core, v1) } else { (v1, core) };
        if let Some(v) = m.remove(from) {
            m.insert(to.into(), v);
        }
    }
}

/// The stored form of a served object (the inverse of [`present`] for converted types).
fn to_storage(rt: &ResourceType, obj: &mut Value) {
    if rt.conversion == Conversion::EventsV1
        && let Value::Object(m) = obj
    {
        rename_fields(m, false);
        m.insert("apiVersion".into(), json!("v1"));
    }
}

/// The object under `key` of a stored object, replacing whatever non-object was there.
fn object_field<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    if !obj.get(key).is_some_and(Value::is_object) {
        obj[key] = json!({});
    }
    match obj.get_mut(key) {
        Some(Value::Object(m)) => m,
        // Both levels were made objects just above.
        _ => unreachable!("{key} was just set to an object"),
    }
}

fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    object_field(obj, "metadata")
}

/// Rejects metadata fields of the wrong JSON type, as decoding into ObjectMeta would.
fn check_metadata_types(obj: &Value) -> Result<(), ApiError> {
    let Some(meta) = obj.get("metadata").and_then(Value::as_object) else {
        return Ok(());
    };
    let bad = |field: &str, want: &str| {
        Err(ApiError::bad_request(format!(
            "metadata.{field} must be {want} (the request body cannot be decoded into ObjectMeta)"
        )))
    };
    for field in [
        "name",
        "generateName",
        "namespace",
        "uid",
        "resourceVersion",
    ] {
        if meta
            .get(field)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            return bad(field, "a string");
        }
    }
    for field in ["labels", "annotations"] {
        match meta.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) if m.values().all(Value::is_string) => {}
            Some(_) => return bad(field, "a map of strings"),
        }
    }
    match meta.get("finalizers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(_) => return bad("finalizers", "a list of strings"),
    }
    match meta.get("ownerReferences") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_object) => {}
        Some(_) => return bad("ownerReferences", "a list of objects"),
    }
    Ok(())
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn without_metadata(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Value::Object(m) = &mut o {
        m.remove("metadata");
    }
    o
}

/// DNS-1123 subdomain: what most object names must be.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && is_dns_subdomain(s)
}

fn generate_name(base: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .filter_map(|_| ALPHANUMS.choose(&mut rng).map(|&b| b as char))
        .collect();
    let cut = base
        .char_indices()
        .nth(58)
        .map(|(i, _)| i)
        .unwrap_or(base.len());
    format!("{}{suffix}", &base[..cut])
}

fn invalid(
    rt: &ResourceType,
    name: &str,
    reason: &'static str,
    field: &str,
    message: String,
) -> ApiError {
    ApiError::invalid_field(&rt.kind, &rt.group, name, reason, field, message)
}

/// Checks (or fills in) the body's apiVersion and kind against the URL's resource.
fn check_type_meta(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let Value::Object(m) = obj else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let want_av = rt.api_version();
    match m.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
    }
    match m.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("kind".into(), json!(rt.kind));
        }
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({}) of {}",
                rt.kind,
                status::group_resource(&rt.group, &rt.plural)
            )));
        }
    }
    match m.get("metadata") {
        None | Some(Value::Object(_)) => check_metadata_types(obj),
        Some(_) => Err(ApiError::bad_request("metadata must be a JSON object")),
    }
}

/// Decodes a built-in object through its k8s-openapi type (see [`typed`]).
fn check_typed(
    rt: &ResourceType,
    obj: &mut Value,
    opts: &mut WriteOptions,
) -> Result<(), ApiError> {
    let Some(decoded) = typed::decode(&rt.group, &rt.kind, obj) else {
        return Ok(());
    };
    let decoded = decoded.map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
            kind = rt.kind,
            version = rt.version
        ))
    })?;
    let unknown: Vec<String> = typed::unknown_fields(obj, &decoded)
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    if !unknown.is_empty() {
        match opts.validation {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "strict decoding error: {}",
                    unknown.join(", ")
                )));
            }
            FieldValidation::Warn => opts.warnings.extend(unknown),
            FieldValidation::Ignore => {}
        }
    }
    *obj = decoded;
    Ok(())
}

/// Prunes and defaults a custom resource against its version's schema, as kube-apiserver's
/// decoder does, reporting dropped fields as `fieldValidation` asks (Strict fails with 400).
fn decode_custom(
    rt: &ResourceType,
    obj: &mut Value,
    opts: &mut WriteOptions,
) -> Result<(), ApiError> {
    let (true, Some(schema)) = (rt.custom, &rt.schema) else {
        return Ok(());
    };
    let unknown: Vec<String> = crate::schema::decode(obj, schema)
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    match opts.validation {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            unknown.join(", ")
        ))),
        FieldValidation::Warn => {
            opts.warnings.extend(unknown);
            Ok(())
        }
        FieldValidation::Ignore => Ok(()),
    }
}

/// Validates a custom resource against its version's schema and CEL rules (`old` is the
/// stored object on updates): 422 with every cause.
fn validate_custom(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let (true, Some(schema)) = (rt.custom, &rt.schema) else {
        return Ok(());
    };
    let causes = crate::schema::validate(obj, old, schema);
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &rt.kind,
        &rt.group,
        meta_str(obj, "name"),
        causes,
    ))
}

/// Fills a built-in's absent defaulted fields (see [`ResourceType::defaults`]), creating the
/// objects on the way; a field present with any value, even `null`, is left to validation.
fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    for (pointer, value) in &rt.defaults {
        set_default(obj, pointer, value);
    }
    // Defaults that depend on another (already defaulted) field, such as rolling-update
    // parameters only for the RollingUpdate strategy.
    for (condition, expected, pointer, value) in &rt.conditional_defaults {
        if obj.pointer(condition).and_then(Value::as_str) == Some(*expected) {
            set_default(obj, pointer, value);
        }
    }
    if let Some(spec) = rt.pod_spec_at.and_then(|p| obj.pointer_mut(p)) {
        default_pod_spec(spec);
    }
}

/// Sets the field at `pointer` to `value` if it is absent, creating the objects on the way;
/// stops at anything that is not an object (validation owns such values).
fn set_default(obj: &mut Value, pointer: &str, value: &Value) {
    let segments: Vec<&str> = pointer.split('/').filter(|s| !s.is_empty()).collect();
    let mut parent = String::new();
    for (i, seg) in segments.iter().enumerate() {
        let Some(Value::Object(m)) = obj.pointer_mut(&parent) else {
            return;
        };
        if i + 1 == segments.len() {
            m.entry(seg.to_string()).or_insert_with(|| value.clone());
            return;
        }
        m.entry(seg.to_string()).or_insert_with(|| json!({}));
        parent.push('/');
        parent.push_str(seg);
    }
}

/// core/v1 `SetDefaults_PodSpec`, `SetDefaults_Container` and `SetDefaults_ContainerPort`:
/// the fields a controller comparing its desired pod template with the stored one sees
/// appear (a classic cause of update loops, so tests should see them too).
fn default_pod_spec(spec: &mut Value) {
    let Value::Object(spec) = spec else {
        return;
    };
    for (field, value) in [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
    ] {
        spec.entry(field).or_insert(value);
    }
    for list in ["containers", "initContainers"] {
        let Some(Value::Array(containers)) = spec.get_mut(list) else {
            continue;
        };
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            // `:latest` (or no tag) is pulled every time, anything else if not present.
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let tag = image
                .rsplit('/')
                .next()
                .and_then(|last| last.split_once(':'))
                .map(|(_, t)| t);
            let pull = if !image.contains('@') && tag.is_none_or(|t| t == "latest") {
                "Always"
            } else {
                "IfNotPresent"
            };
            c.entry("imagePullPolicy").or_insert_with(|| json!(pull));
            c.entry("terminationMessagePath")
                .or_insert_with(|| json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy")
                .or_insert_with(|| json!("File"));
            if let Some(Value::Array(ports)) = c.get_mut("ports") {
                for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                    port.entry("protocol").or_insert_with(|| json!("TCP"));
                }
            }
        }
    }
}

fn default_secret(obj: &mut Value) {
    fold_string_data(obj);
    if obj
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        obj["type"] = json!("Opaque");
    }
}

/// Folds a Secret's write-only `stringData` into base64 `data`, as the Secret strategy does.
fn fold_string_data(obj: &mut Value) {
    let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData"))
    else {
        return;
    };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = json!({});
    }
    for (k, v) in string_data {
        let text = v.as_str().unwrap_or_default();
        obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Checks that an update targets the object it names (name, namespace, uid) and carries
/// an acceptable resourceVersion; returns the current resourceVersion.
fn check_identity(
    rt: &ResourceType,
    ns: &str,
    name: &str,
    old: &Value,
    new: &mut Value,
    rv_check: RvCheck,
) -> Result<String, ApiError> {
    let meta = metadata_mut(new);
    let body_name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
    if body_name.is_empty() {
        meta.insert("name".into(), json!(name));
    } else if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_ns = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if rt.namespaced {
        if body_ns.is_empty() {
            meta.insert("namespace".into(), json!(ns));
        } else if body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    } else {
        meta.remove("namespace");
    }
    let current_rv = meta_str(old, "resourceVersion").to_string();
    let sent_rv = meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if sent_rv.is_empty() || sent_rv == "0" {
        if rv_check == RvCheck::Required {
            return Err(invalid(
                rt,
                name,
                "FieldValueInvalid",
                "metadata.resourceVersion",
                "Invalid value: 0: must be specified for an update".into(),
            ));
        }
    } else if sent_rv != current_rv {
        return Err(ApiError::conflict(&rt.group, &rt.plural, name));
    }
    if let Some(uid) = meta.get("uid").and_then(Value::as_str)
        && !uid.is_empty()
        && uid != meta_str(old, "uid")
    {
        return Err(invalid(
            rt,
            name,
            "FieldValueInvalid",
            "metadata.uid",
            format!("Invalid value: \"{uid}\": field is immutable"),
        ));
    }
    Ok(current_rv)
}

/// The namespace a create goes to: the URL's, which the body may repeat but not contradict.
fn namespace_for_create(
    rt: &ResourceType,
    url_ns: Option<&str>,
    meta: &mut Map<String, Value>,
) -> Result<String, ApiError> {
    let body_ns = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ns = if rt.namespaced {
        let url_ns = url_ns.unwrap_or_default();
        if url_ns.is_empty() {
            return Err(ApiError::method_not_allowed(format!(
                "create is not allowed on the all-namespaces collection of {}; POST to /namespaces/<namespace>/{}",
                status::group_resource(&rt.group, &rt.plural),
                rt.plural
            )));
        }
        if !body_ns.is_empty() && body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        url_ns.to_string()
    } else {
        String::new()
    };
    if ns.is_empty() {
        meta.remove("namespace");
    } else {
        meta.insert("namespace".into(), json!(ns));
    }
    if meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|rv| !rv.is_empty())
    {
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    Ok(ns)
}

/// The object an update would store before defaulting: the request's object with the
/// server-owned fields of `old` (or, for `/status`, `old` with the request's status).
/// Returns it and whether the request reset `managedFields`.
fn with_server_fields(
    rt: &ResourceType,
    part: Part,
    old: &Value,
    mut new: Value,
    applied: bool,
) -> (Value, bool) {
    let mut reset_managed = false;
    let result = match part {
        Part::Status => {
            let mut r = old.clone();
            match new.get("status") {
                Some(s) => r["status"] = s.clone(),
                None => {
                    if let Value::Object(m) = &mut r {
                        m.remove("status");
                    }
                }
            }
            if applied {
                match new.pointer("/metadata/managedFields") {
                    Some(mf) => metadata_mut(&mut r).insert("managedFields".into(), mf.clone()),
                    None => metadata_mut(&mut r).remove("managedFields"),
                };
            }
            r
        }
        Part::Main | Part::Scale => {
            let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
            let meta = metadata_mut(&mut new);
            // `managedFields: [{}]` resets ownership; a list with entries replaces it (how
            // kubectl migrates client-side apply ownership); otherwise the live list stays.
            let sent = meta.get("managedFields").and_then(Value::as_array);
            let replaces = sent.is_some_and(|a| a.iter().any(|e| e.get("manager").is_some()));
            if meta.get("managedFields") == Some(&json!([{}])) {
                reset_managed = true;
                meta.remove("managedFields");
            } else if !applied && !replaces {
                match old_meta.get("managedFields") {
                    Some(v) => meta.insert("managedFields".into(), v.clone()),
                    None => meta.remove("managedFields"),
                };
            }
            for kept in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_meta.get(kept) {
                    Some(v) => meta.insert(kept.into(), v.clone()),
                    None => meta.remove(kept),
                };
            }
            meta.remove("selfLink");
            if rt.status_subresource
                && let Value::Object(m) = &mut new
            {
                match old.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
            }
            new
        }
    };
    (result, reset_managed)
}

impl Cluster {
    pub fn new() -> Self {
        let mut c = Cluster {
            registry: Registry::new(),
            store: Store::new(),
            garbage_collection: false,
            next_service_ip: 1,
        };
        let ns_key = ("".to_string(), "namespaces".to_string());
        for ns in INITIAL_NAMESPACES {
            let obj = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now(),
                    "labels": { "kubernetes.io/metadata.name": ns },
                },
                "spec": { "finalizers": ["kubernetes"] },
                "status": { "phase": "Active" },
            });
            c.store.insert(&ns_key, obj);
        }
        // The apiserver's own Service, present in every cluster (and in envtest).
        let mut kubernetes = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": now(),
                "labels": { "component": "apiserver", "provider": "kubernetes" },
            },
            "spec": { "ports": [{ "name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443 }] },
            "status": { "loadBalancer": {} },
        });
        c.default_service(&mut kubernetes, None);
        c.store.insert(&("".into(), "services".into()), kubernetes);
        c
    }

    /// Service defaults (core/v1 `SetDefaults_Service`) and cluster IP allocation; an update
    /// that leaves the cluster IP out keeps the allocated one.
    fn default_service(&mut self, svc: &mut Value, old: Option<&Value>) {
        let spec = object_field(svc, "spec");
        let type_ = spec
            .entry("type")
            .or_insert_with(|| json!("ClusterIP"))
            .clone();
        spec.entry("sessionAffinity")
            .or_insert_with(|| json!("None"));
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.entry("protocol").or_insert_with(|| json!("TCP"));
                if let Some(p) = port.get("port").cloned() {
                    port.entry("targetPort").or_insert(p);
                }
            }
        }
        if type_ == "ExternalName" {
            return;
        }
        let unset = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
        if unset(spec.get("clusterIP")) {
            let ip = match old
                .and_then(|o| o.pointer("/spec/clusterIP"))
                .filter(|v| !unset(Some(v)))
            {
                Some(v) => v.clone(),
                None => {
                    let n = self.next_service_ip;
                    self.next_service_ip += 1;
                    json!(format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff))
                }
            };
            spec.insert("clusterIP".into(), ip);
        }
        if spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            let ip = spec.get("clusterIP").cloned().unwrap_or_default();
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
        spec.entry("ipFamilyPolicy")
            .or_insert_with(|| json!("SingleStack"));
        spec.entry("internalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }

    fn namespace(&self, ns: &str) -> Option<Value> {
        self.store.get(&("".into(), "namespaces".into()), "", ns)
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.store
            .get(&rt.storage_key(), ns, name)
            .map(|o| present_owned(rt, o))
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// A `<Kind>List`; all pages of one paged list report the same resourceVersion.
    /// A `<Kind>List` at the current revision, or at `at` (an exact resourceVersion, rebuilt
    /// from the history). All pages of one paged list are read at the first page's revision.
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        q: &ListQuery,
        at: Option<u64>,
    ) -> Result<Value, ApiError> {
        let current = self.store.current_rv();
        let mut list_rv = at.unwrap_or(current);
        let mut after: Option<(String, String)> = None;
        if let Some(token) = &q.continue_token {
            let (rv, ns_name) = decode_continue(token)?;
            list_rv = rv;
            after = Some(ns_name);
        }
        let snapshot;
        let objects: Box<dyn Iterator<Item = (&ObjectKey, &Compact)>> = if list_rv == current {
            Box::new(self.store.list_after(&rt.storage_key(), ns, after.as_ref()))
        } else {
            snapshot = self.store.snapshot(&rt.storage_key(), ns, list_rv).ok_or_else(|| {
                if q.continue_token.is_some() {
                    ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    )
                } else {
                    ApiError::expired(format!("too old resource version: {list_rv} ({})", self.store.compacted_rv()))
                }
            })?;
            Box::new(crate::store::range_after(&snapshot, after.as_ref()).map(|(k, v)| (k, &**v)))
        };
        // Past the limit, kube-apiserver reports how many items remain only when nothing is
        // filtered (ListMeta.remainingItemCount); with a selector it only says there is more.
        let selects_all = q.selects_all();
        let mut items = Vec::new();
        let mut next: Option<&ObjectKey> = None;
        let mut remaining = 0usize;
        let mut more = false;
        for (key, obj) in objects {
            if q.limit.is_some_and(|l| items.len() >= l) {
                if selects_all {
                    more = true;
                    remaining += 1;
                    continue;
                }
                if q.matches(&present_owned(rt, obj.to_value())) {
                    more = true;
                    break;
                }
                continue;
            }
            let shown = present_owned(rt, obj.to_value());
            if !q.matches(&shown) {
                continue;
            }
            items.push(shown);
            next = Some(key);
        }
        let mut metadata = json!({ "resourceVersion": list_rv.to_string() });
        if let (true, Some(last)) = (more, next) {
            metadata["continue"] = json!(encode_continue(list_rv, last));
            if selects_all {
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
        Ok(list_of(rt, metadata, items))
    }

    /// The name of a new object: `metadata.name`, or one generated from `generateName`
    /// (retried on collisions like kube-apiserver), checked to be a valid name.
    fn name_for_create(
        &self,
        rt: &ResourceType,
        ns: &str,
        meta: &mut Map<String, Value>,
    ) -> Result<String, ApiError> {
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let generate = meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() && generate.is_empty() {
            return Err(invalid(
                rt,
                "",
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required".into(),
            ));
        }
        if name.is_empty() {
            name = generate_name(&generate);
            for _ in 0..8 {
                if !self.store.contains(&rt.storage_key(), ns, &name) {
                    break;
                }
                name = generate_name(&generate);
            }
        }
        let name_ok = if rt.special == Special::Namespace {
            is_dns_label(&name)
        } else {
            is_dns_subdomain(&name)
        };
        if !name_ok {
            return Err(invalid(
                rt,
                &name,
                "FieldValueInvalid",
                "metadata.name",
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
        Ok(name)
    }

    /// Creates are refused in terminating namespaces and for terminating CRDs, and need the
    /// namespace to exist (NamespaceLifecycle admission).
    fn check_open_for_create(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        if let Some(crd_name) = &rt.crd_name {
            let crd_key = (
                "apiextensions.k8s.io".to_string(),
                "customresourcedefinitions".to_string(),
            );
            if self
                .store
                .peek(&crd_key, "", crd_name)
                .is_some_and(Compact::is_deleting)
            {
                return Err(ApiError::method_not_allowed(
                    "create not allowed while custom resource definition is terminating",
                ));
            }
        }
        if rt.namespaced {
            match self.namespace(ns) {
                None => return Err(ApiError::not_found("", "namespaces", ns)),
                Some(n) if is_deleting(&n) => {
                    let mut e = ApiError::forbidden(format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        status::group_resource(&rt.group, &rt.plural)
                    ));
                    e.details = Some(
                        json!({ "name": name, "group": rt.group, "kind": rt.plural, "causes": [{
                        "reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace" }] }),
                    );
                    return Err(e);
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// POST: stores a new object with the server-set fields (uid, creationTimestamp,
    /// resourceVersion, generation) and the type's defaults.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        url_ns: Option<&str>,
        mut obj: Value,
        opts: &mut WriteOptions,
    ) -> Result<Value, ApiError> {
        let dry_run = opts.dry_run;
        check_type_meta(rt, &mut obj)?;
        check_typed(rt, &mut obj, opts)?;
        decode_custom(rt, &mut obj, opts)?;
        to_storage(rt, &mut obj);
        let ns = namespace_for_create(rt, url_ns, metadata_mut(&mut obj))?;
        let name = self.name_for_create(rt, &ns, metadata_mut(&mut obj))?;
        let meta = metadata_mut(&mut obj);
        meta.insert("name".into(), json!(name));
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now()));
        for server_owned in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(server_owned);
        }
        if !opts.applied {
            meta.remove("managedFields");
        }
        if rt.tracks_generation {
            meta.insert("generation".into(), json!(1));
        }
        self.check_open_for_create(rt, &ns, &name)?;
        if self.store.contains(&rt.storage_key(), &ns, &name) {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        if rt.status_subresource && rt.custom {
            // The status subresource owns status; a create cannot set it.
            if let Value::Object(m) = &mut obj {
                m.remove("status");
            }
        }
        if let (Some(status), Value::Object(m)) = (&rt.initial_status, &mut obj) {
            m.insert("status".into(), status.clone());
        }
        apply_defaults(rt, &mut obj);
        match rt.special {
            Special::Namespace => {
                obj["spec"] = json!({ "finalizers": ["kubernetes"] });
                obj["status"] = json!({ "phase": "Active" });
                let labels = metadata_mut(&mut obj)
                    .entry("labels")
                    .or_insert_with(|| json!({}));
                if labels.is_object() {
                    labels["kubernetes.io/metadata.name"] = json!(name);
                }
            }
            Special::Secret => default_secret(&mut obj),
            Special::Service => self.default_service(&mut obj, None),
            Special::Crd => self.prepare_crd(&mut obj, None)?,
            Special::None => {}
        }
        validate_custom(rt, &obj, None)?;
        if !opts.applied {
            let (api_version, now) = (rt.api_version(), now());
            managed::record_update(
                None,
                &mut obj,
                &opts.writer(rt, Part::Main, &api_version, &now),
            );
        }
        if dry_run {
            return Ok(present(rt, &obj));
        }
        let stored = self.store.insert(&rt.storage_key(), obj);
        if rt.special == Special::Crd {
            self.register_crd(&stored);
        }
        Ok(present(rt, &stored))
    }

    /// Defaults and validates a CRD and computes its status (names accepted, established).
    fn prepare_crd(&self, crd: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
        registry::default_and_validate_crd(crd)?;
        let name = meta_str(crd, "name").to_string();
        let causes = crate::schema::check_crd(crd);
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                &name,
                causes,
            ));
        }
        if let Some(old) = old {
            let (before, after) = (old.pointer("/spec/scope"), crd.pointer("/spec/scope"));
            if before != after {
                let scope = after.and_then(Value::as_str).unwrap_or_default();
                return Err(ApiError::invalid_field(
                    "CustomResourceDefinition",
                    "apiextensions.k8s.io",
                    &name,
                    "FieldValueInvalid",
                    "spec.scope",
                    format!("Invalid value: \"{scope}\": field is immutable"),
                ));
            }
        }
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let plural = spec["names"]["plural"].as_str().unwrap_or_default();
        let kind = spec["names"]["kind"].as_str().unwrap_or_default();
        let conflict = self.registry.name_conflict(&name, group, plural, kind);
        let status = registry::crd_status(
            crd,
            old.and_then(|o| o.get("status")),
            conflict.as_ref(),
            &now(),
        );
        crd["status"] = status;
        Ok(())
    }

    fn register_crd(&mut self, crd: &Value) {
        let name = meta_str(crd, "name").to_string();
        let established = crd
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "NamesAccepted" && c["status"] == "True")
            });
        if established && !is_deleting(crd) {
            self.registry
                .set_crd_types(&name, registry::types_from_crd(crd));
        } else if !established {
            self.registry.remove_crd(&name);
        }
    }

    /// PUT (whole object) or the common tail of PATCH: the update pipeline of A.7-A.10.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        mut new: Value,
        mode: UpdateMode,
        opts: &mut WriteOptions,
    ) -> Result<Value, ApiError> {
        let UpdateMode { part, rv_check } = mode;
        let dry_run = opts.dry_run;
        let key = rt.storage_key();
        let old = self
            .store
            .get(&key, ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        check_type_meta(rt, &mut new)?;
        check_typed(rt, &mut new, opts)?;
        decode_custom(rt, &mut new, opts)?;
        to_storage(rt, &mut new);
        let current_rv = check_identity(rt, ns, name, &old, &mut new, rv_check)?;
        let (mut result, reset_managed) = with_server_fields(rt, part, &old, new, opts.applied);
        if part != Part::Status {
            apply_defaults(rt, &mut result);
        }
        match rt.special {
            Special::Secret => default_secret(&mut result),
            Special::Service if part != Part::Status => {
                self.default_service(&mut result, Some(&old))
            }
            _ => {}
        }
        if is_deleting(&old) {
            let before = finalizers(&old);
            let added: Vec<String> = finalizers(&result)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(invalid(
                    rt,
                    name,
                    "FieldValueForbidden",
                    "metadata.finalizers",
                    format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                    ),
                ));
            }
        }
        if rt.tracks_generation
            && part != Part::Status
            && without_metadata(&result) != without_metadata(&old)
        {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            metadata_mut(&mut result).insert("generation".into(), json!(generation + 1));
        }
        if rt.special == Special::Crd && part != Part::Status {
            self.prepare_crd(&mut result, Some(&old))?;
        }
        validate_custom(rt, &result, Some(&old))?;
        if !opts.applied && !reset_managed {
            let (api_version, now) = (rt.api_version(), now());
            managed::record_update(
                Some(&old),
                &mut result,
                &opts.writer(rt, part, &api_version, &now),
            );
        }
        metadata_mut(&mut result).insert("resourceVersion".into(), json!(current_rv));
        if result == old {
            // No-op writes keep the resourceVersion and emit no event.
            return Ok(present(rt, &old));
        }
        if dry_run {
            return Ok(present(rt, &result));
        }
        if is_deleting(&result)
            && finalizers(&result).is_empty()
            && rt.special != Special::Namespace
        {
            let last = self
                .store
                .remove(&key, ns, name, Some(result))
                .unwrap_or_default();
            self.after_remove(rt, &last);
            return Ok(present(rt, &last));
        }
        let stored = self.store.replace(&key, result);
        if rt.special == Special::Crd {
            self.register_crd(&stored);
        }
        Ok(present(rt, &stored))
    }

    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let key = rt.storage_key();
        let old = self
            .store
            .get(&key, ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if let Some(uid) = &opts.precondition_uid
            && uid != meta_str(&old, "uid")
        {
            return Err(ApiError::precondition_failed(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&old, "uid")
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && rv != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::precondition_failed(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta_str(&old, "resourceVersion")
                ),
            ));
        }
        if rt.special == Special::Namespace {
            return self.delete_namespace(rt, old, opts.dry_run);
        }
        if rt.special == Special::Crd && finalizers(&old).is_empty() {
            return self.delete_crd(rt, old, opts.dry_run);
        }
        let mut fins = finalizers(&old);
        match opts.propagation.as_deref() {
            Some("Orphan") if !fins.iter().any(|f| f == "orphan") => fins.push("orphan".into()),
            Some("Foreground") if !fins.iter().any(|f| f == "foregroundDeletion") => {
                fins.push("foregroundDeletion".into())
            }
            Some("Background") => fins.retain(|f| f != "orphan" && f != "foregroundDeletion"),
            _ => {}
        }
        if is_deleting(&old) && fins != finalizers(&old) {
            // Deleting again with another propagation policy changes the GC finalizers, as
            // upstream's updateForGracefulDeletionAndFinalizers does; none left deletes it.
            let mut changed = old.clone();
            metadata_mut(&mut changed).insert("finalizers".into(), json!(fins));
            if opts.dry_run {
                return Ok(Deleted::Pending(present(rt, &changed)));
            }
            if !fins.is_empty() {
                let stored = self.store.replace(&key, changed);
                return Ok(Deleted::Pending(present(rt, &stored)));
            }
        }
        if !fins.is_empty() {
            if is_deleting(&old) {
                return Ok(Deleted::Pending(present(rt, &old)));
            }
            let mut marked = old.clone();
            let meta = metadata_mut(&mut marked);
            meta.insert("finalizers".into(), json!(fins));
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if let Some(g) = meta.get("generation").and_then(Value::as_i64)
                && g > 0
            {
                meta.insert("generation".into(), json!(g + 1));
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(present(rt, &marked)));
            }
            let stored = self.store.replace(&key, marked);
            return Ok(Deleted::Pending(present(rt, &stored)));
        }
        let uid = meta_str(&old, "uid").to_string();
        if !opts.dry_run {
            let last = self.store.remove(&key, ns, name, None).unwrap_or_default();
            self.after_remove(rt, &last);
        }
        Ok(Deleted::Gone(status::success(
            &rt.group, &rt.plural, name, &uid,
        )))
    }

    /// Namespaces go Terminating, their content is deleted (objects with finalizers wait
    /// for them), and the namespace disappears once it is empty.
    fn delete_namespace(
        &mut self,
        rt: &ResourceType,
        old: Value,
        dry_run: bool,
    ) -> Result<Deleted, ApiError> {
        let name = meta_str(&old, "name").to_string();
        if UNDELETABLE_NAMESPACES.contains(&name.as_str()) {
            let mut e = ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            ));
            e.details = Some(json!({ "name": name, "kind": "namespaces" }));
            return Err(e);
        }
        if is_deleting(&old) {
            return Ok(Deleted::Pending(present(rt, &old)));
        }
        let mut marked = old.clone();
        metadata_mut(&mut marked).insert("deletionTimestamp".into(), json!(now()));
        metadata_mut(&mut marked).insert("deletionGracePeriodSeconds".into(), json!(0));
        object_field(&mut marked, "status").insert("phase".into(), json!("Terminating"));
        if dry_run {
            return Ok(Deleted::Pending(present(rt, &marked)));
        }
        let marked = self.store.replace(&rt.storage_key(), marked);
        for key in self.store.keys_with_objects_in(&name) {
            let Some(child_rt) = self.registry.find_any_version(&key.0, &key.1).cloned() else {
                continue;
            };
            let names: Vec<String> = self
                .store
                .list_after(&key, Some(&name), None)
                .map(|((_, n), _)| n.clone())
                .collect();
            for child in names {
                // Objects with finalizers stay until their controllers remove them.
                let _ = self.delete(&child_rt, &name, &child, &DeleteOptions::default());
            }
        }
        match self.finish_namespace(&name) {
            Some(last) => Ok(Deleted::Pending(present(rt, &last))),
            None => Ok(Deleted::Pending(present(rt, &marked))),
        }
    }

    /// Removes a terminating namespace once nothing is left in it; returns its last state.
    fn finish_namespace(&mut self, ns: &str) -> Option<Value> {
        let ns_obj = self.namespace(ns)?;
        if !is_deleting(&ns_obj) || !self.store.keys_with_objects_in(ns).is_empty() {
            return None;
        }
        let mut last = ns_obj;
        object_field(&mut last, "spec").insert("finalizers".into(), json!([]));
        self.store
            .remove(&("".into(), "namespaces".into()), "", ns, Some(last))
    }

    /// CRDs go Terminating with the `customresourcecleanup.apiextensions.k8s.io` finalizer
    /// while their objects are deleted (objects with finalizers are waited for), then go.
    fn delete_crd(
        &mut self,
        rt: &ResourceType,
        old: Value,
        dry_run: bool,
    ) -> Result<Deleted, ApiError> {
        let mut marked = old.clone();
        let meta = metadata_mut(&mut marked);
        meta.insert("finalizers".into(), json!([CRD_CLEANUP_FINALIZER]));
        meta.insert("deletionTimestamp".into(), json!(now()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
        meta.insert("generation".into(), json!(generation + 1));
        set_condition(
            &mut marked,
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
        );
        if dry_run {
            return Ok(Deleted::Pending(present(rt, &marked)));
        }
        let crd_name = meta_str(&marked, "name").to_string();
        let marked = self.store.replace(&rt.storage_key(), marked);
        let key = crd_storage_key(&marked);
        if let Some(cr_rt) = self.registry.find_any_version(&key.0, &key.1).cloned() {
            let objects: Vec<(String, String)> = self
                .store
                .list_after(&key, None, None)
                .map(|(k, _)| k.clone())
                .collect();
            for (ns, name) in objects {
                // Objects with finalizers stay until their controllers remove them.
                let _ = self.delete(&cr_rt, &ns, &name, &DeleteOptions::default());
            }
        }
        match self.finish_crd(&crd_name) {
            Some(last) => Ok(Deleted::Pending(present(rt, &last))),
            None => Ok(Deleted::Pending(present(rt, &marked))),
        }
    }

    /// Removes a terminating CRD once none of its objects is left; returns its last state.
    fn finish_crd(&mut self, crd_name: &str) -> Option<Value> {
        let crd_key = (
            "apiextensions.k8s.io".to_string(),
            "customresourcedefinitions".to_string(),
        );
        let crd = self.store.get(&crd_key, "", crd_name)?;
        if !is_deleting(&crd) || !finalizers(&crd).iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
            return None;
        }
        if self
            .store
            .list_after(&crd_storage_key(&crd), None, None)
            .next()
            .is_some()
        {
            return None;
        }
        let mut last = crd;
        if let Some(f) = last
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            f.retain(|v| v != CRD_CLEANUP_FINALIZER);
        }
        set_condition(
            &mut last,
            "Terminating",
            "True",
            "InstanceDeletionCompleted",
            "removed all instances",
        );
        let rt = self
            .registry
            .find_any_version(&crd_key.0, &crd_key.1)
            .cloned()?;
        if finalizers(&last).is_empty() {
            let last = self.store.remove(&crd_key, "", crd_name, Some(last))?;
            self.after_remove(&rt, &last);
            Some(last)
        } else {
            Some(self.store.replace(&crd_key, last))
        }
    }

    fn after_remove(&mut self, rt: &ResourceType, last: &Value) {
        if let Some(crd_name) = &rt.crd_name {
            self.finish_crd(crd_name);
        }
        if rt.special == Special::Crd {
            // Normally empty by now; a CRD that had its own finalizers takes its objects along.
            self.registry.remove_crd(meta_str(last, "name"));
            let key = crd_storage_key(last);
            let leftovers: Vec<(String, String)> = self
                .store
                .list_after(&key, None, None)
                .map(|(k, _)| k.clone())
                .collect();
            for (ns, n) in leftovers {
                self.store.remove(&key, &ns, &n, None);
            }
        }
        let ns = meta_str(last, "namespace");
        if rt.namespaced && !ns.is_empty() {
            let ns = ns.to_string();
            self.finish_namespace(&ns);
        }
    }

    /// DELETE on a collection: deletes every matching object, answering with the list of them.
    pub fn delete_collection(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        q: &ListQuery,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let targets: Vec<(String, String)> = self
            .store
            .list_after(&rt.storage_key(), ns, None)
            .filter(|(_, o)| q.matches(&present_owned(rt, o.to_value())))
            .map(|(k, _)| k.clone())
            .collect();
        let mut items = Vec::new();
        for (o_ns, name) in targets {
            match self.delete(rt, &o_ns, &name, opts)? {
                Deleted::Gone(_) => {}
                Deleted::Pending(obj) => items.push(obj),
            }
        }
        let metadata = json!({ "resourceVersion": self.store.current_rv().to_string() });
        Ok(list_of(rt, metadata, items))
    }
}

fn encode_continue(rv: u64, last: &(String, String)) -> String {
    let token =
        json!({ "v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}\u{0}", last.0, last.1) });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .trim_end_matches('\u{0}');
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, (ns.to_string(), name.to_string())))
}
