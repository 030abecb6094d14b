//! The HTTP layer: one axum fallback handler that parses a request into
//! (group, version, resource, namespace, name, subresource) plus options, and
//! dispatches to discovery, OpenAPI, the object verbs or a watch.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::discovery;
use crate::faults::{Fault, InjectedFailure};
use crate::managed;
use crate::objects::{
    Cluster, DeleteOptions, Deleted, ListQuery, Part, RvCheck, UpdateMode, WriteOptions,
};
use crate::openapi;
use crate::patch::{self, PatchType};
use crate::registry::ResourceType;
use crate::scale::{self, ScalePaths};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, Cause, json_response, json_response_typed};
use crate::table::{self, IncludeObject, TableOptions};
use crate::typed::FieldValidation;
use crate::watch::{self, Start, View, WatchRequest};

/// kube-apiserver's request body limit (`--max-request-bytes`' default, 3 MiB); larger bodies
/// get 413 RequestEntityTooLarge before anything is decoded.
const MAX_BODY: usize = 3 * 1024 * 1024;
/// The default watch timeout when the client sends none (kube-apiserver: minRequestTimeout 1800 s).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Failures and latency tests ask for.
#[derive(Debug, Default)]
struct Faults {
    /// Pending failure rules, consulted in order; exhausted ones are removed.
    rules: Vec<Fault>,
    /// Every failure injected so far, in order.
    injected: Vec<InjectedFailure>,
    latency: Duration,
}

/// The Status an injected failure answers with, shaped like kube-apiserver's for that code.
fn injected(code: u16, retry_after: u64) -> ApiError {
    let (reason, message) = match code {
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        _ => (
            "InternalError",
            "Internal error occurred: injected by the test",
        ),
    };
    let mut e = ApiError::new(code, reason, message);
    if matches!(code, 429 | 503 | 504) {
        e.details = Some(serde_json::json!({ "retryAfterSeconds": retry_after }));
    }
    e
}

/// State shared by every request of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cluster: Mutex<Cluster>,
    pub shutdown: CancellationToken,
    /// Cancelled (and replaced) to end every open watch; a child of `shutdown`.
    watches: Mutex<CancellationToken>,
    /// Injected failures and latency (test hooks).
    faults: Mutex<Faults>,
    /// `127.0.0.1:PORT`, reported in `/api`.
    pub address: String,
    /// How TokenReviews and SubjectAccessReviews are answered.
    pub reviews: Mutex<crate::Reviews>,
    /// Where webhook service references point (set by `Environment::install_webhooks`).
    pub webhook_endpoint: Mutex<Option<crate::WebhookEndpoint>>,
}

impl Shared {
    pub fn new(address: String, garbage_collection: bool) -> Self {
        let mut cluster = Cluster::new();
        cluster.set_garbage_collection(garbage_collection);
        let shutdown = CancellationToken::new();
        Shared {
            cluster: Mutex::new(cluster),
            watches: Mutex::new(shutdown.child_token()),
            faults: Mutex::new(Faults::default()),
            shutdown,
            address,
            reviews: Mutex::new(crate::Reviews::default()),
            webhook_endpoint: Mutex::new(None),
        }
    }

    /// Adds a failure rule (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.rules.retain(|r| r.times > 0);
        if fault.times > 0 {
            f.rules.push(fault);
        }
    }

    /// Replaces every pending rule with `count` failures of any request.
    pub fn fail_requests(&self, count: usize, code: u16) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.rules.clear();
        if count > 0 {
            f.rules.push(Fault::new(code).times(count));
        }
    }

    /// The failures injected so far.
    pub fn injected_failures(&self) -> Vec<InjectedFailure> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .injected
            .clone()
    }

    pub fn set_latency(&self, latency: Duration) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .latency = latency;
    }

    fn latency(&self) -> Duration {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .latency
    }

    /// Consumes one use of the first rule matching this request, if any.
    pub(crate) fn take_failure(&self, verb: &str, resource: &str) -> Option<ApiError> {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let rule = f
            .rules
            .iter_mut()
            .find(|r| r.times > 0 && r.matches(verb, resource))?;
        rule.times -= 1;
        let (code, retry_after) = (rule.code, rule.retry_after_seconds);
        f.injected.push(InjectedFailure {
            verb: verb.to_string(),
            resource: resource.to_string(),
            code,
        });
        Some(injected(code, retry_after))
    }

    fn watch_token(&self) -> CancellationToken {
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Ends every open watch stream (clients see a clean end of stream and re-watch).
    pub fn drop_watches(&self) {
        let mut current = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        current.cancel();
        *current = self.shutdown.child_token();
    }

    /// The endpoint webhook service references resolve to, if one was installed.
    pub fn webhook_endpoint(&self) -> Option<crate::WebhookEndpoint> {
        self.webhook_endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The cluster, even if a previous holder panicked: every write completes before it can panic.
    pub fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return ApiError::too_large(MAX_BODY).into_response();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            // A chunked body that outgrows the limit fails the same way as a declared one.
            let source = e.into_inner();
            if source.is::<http_body_util::LengthLimitError>() {
                return ApiError::too_large(MAX_BODY).into_response();
            }
            return ApiError::bad_request(format!("could not read the request body: {source}"))
                .into_response();
        }
    };
    tracing::debug!(method = %parts.method, uri = %parts.uri, "request");
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(resp) = crate::admission::intercept(&shared, &parts, &body).await {
        return resp;
    }
    route(&shared, &parts, body).unwrap_or_else(IntoResponse::into_response)
}

/// Query parameters in order; the last value of a repeated key wins.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// The query parameters of `uri`.
    pub(crate) fn from_uri(uri: &http::Uri) -> Result<Params, ApiError> {
        Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad_request(format!("could not parse the query string: {e}")))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid value for {key}: \"{other}\": must be true or false"
            ))),
        }
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value for {key}: \"{v}\": must be a non-negative integer"
                ))
            }),
        }
    }
}

fn text(body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// One media range of an Accept header, with its parameters.
struct MediaRange {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaRange {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn accept(headers: &HeaderMap) -> Vec<MediaRange> {
    let raw = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    raw.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let mut pieces = item.split(';');
            let essence = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let params = pieces
                .filter_map(|p| {
                    p.split_once('=')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                })
                .collect();
            MediaRange { essence, params }
        })
        .collect()
}

fn wants_aggregated_discovery(headers: &HeaderMap) -> bool {
    accept(headers).iter().any(|m| {
        m.essence == "application/json"
            && m.param("as") == Some("APIGroupDiscoveryList")
            && m.param("g") == Some("apidiscovery.k8s.io")
            && m.param("v") == Some("v2")
    })
}

/// What representation of objects the client accepts.
pub(crate) enum Representation {
    Json,
    Table(TableOptions),
    /// `as=PartialObjectMetadata(List)`: metadata only (kube's `metadata_watcher`), with the
    /// `meta.k8s.io` apiVersion to use.
    Metadata(String),
}

pub(crate) fn negotiate(headers: &HeaderMap, params: &Params) -> Result<Representation, ApiError> {
    let ranges = accept(headers);
    if ranges.is_empty() {
        return Ok(Representation::Json);
    }
    let include_object = match params.get("includeObject") {
        None | Some("") | Some("Metadata") => IncludeObject::Metadata,
        Some("Object") => IncludeObject::Object,
        Some("None") => IncludeObject::None,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "includeObject: Unsupported value: \"{other}\": supported values: \"Metadata\", \"None\", \"Object\""
            )));
        }
    };
    for m in &ranges {
        match (m.essence.as_str(), m.param("as")) {
            ("application/json", Some("Table")) => {
                let v = m.param("v").unwrap_or_default();
                if m.param("g") == Some("meta.k8s.io") && (v == "v1" || v == "v1beta1") {
                    return Ok(Representation::Table(TableOptions {
                        api_version: format!("meta.k8s.io/{v}"),
                        include_object,
                        no_headers: params.get("noHeaders") == Some("true"),
                    }));
                }
            }
            ("application/json", Some("PartialObjectMetadata" | "PartialObjectMetadataList")) => {
                let v = m.param("v").unwrap_or_default();
                if m.param("g") == Some("meta.k8s.io") && (v == "v1" || v == "v1beta1") {
                    return Ok(Representation::Metadata(format!("meta.k8s.io/{v}")));
                }
            }
            ("application/json", None) | ("application/*", None) | ("*/*", None) => {
                return Ok(Representation::Json);
            }
            _ => {}
        }
    }
    let asked: Vec<String> = ranges.iter().map(|m| m.essence.clone()).collect();
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata[List];v=v1;g=meta.k8s.io (asked for {})",
        asked.join(", ")
    )))
}

/// Decodes a create/update body: JSON (the default) or YAML. Protobuf and CBOR are refused by name.
pub(crate) fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let base = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "" | "application/json" | "*/*" => parse_json_body(body),
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(body).map_err(|e| {
            ApiError::unsupported_media_type(format!("{e}; send application/json instead"))
        }),
        "application/yaml" => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}"))),
        other => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (for the built-in kinds kubectl's typed commands create); got {other}"
        ))),
    }
}

fn parse_json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; expected a JSON object",
        ));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
    Ok(v)
}

pub(crate) fn require_object(v: Value) -> Result<Value, ApiError> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ))
    }
}

pub(crate) fn ok_json(code: StatusCode, v: &Value) -> Result<Response, ApiError> {
    Ok(json_response(code, v))
}

pub(crate) fn route(shared: &Shared, parts: &Parts, body: Bytes) -> Result<Response, ApiError> {
    let path = parts.uri.path();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let params = Params::from_uri(&parts.uri)?;
    if let ["healthz" | "readyz" | "livez", ..] = segs.as_slice() {
        return Ok(text("ok"));
    }
    if let Some(review) = crate::auth::route(shared, parts, &body) {
        return review;
    }
    let is_get = parts.method == Method::GET;
    let get_only = || {
        if is_get {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(format!(
                "{} is not allowed on {path}",
                parts.method
            )))
        }
    };
    match segs.as_slice() {
        ["version"] => {
            get_only()?;
            ok_json(StatusCode::OK, &discovery::version())
        }
        ["api"] | ["apis"] => {
            get_only()?;
            let cluster = shared.lock();
            let core = segs[0] == "api";
            if wants_aggregated_discovery(&parts.headers) {
                let doc = discovery::aggregated(&cluster.registry, core);
                Ok(json_response_typed(
                    StatusCode::OK,
                    &doc,
                    discovery::AGGREGATED_V2,
                ))
            } else if core {
                ok_json(StatusCode::OK, &discovery::api_versions(&shared.address))
            } else {
                ok_json(StatusCode::OK, &discovery::group_list(&cluster.registry))
            }
        }
        ["api", version] => {
            get_only()?;
            let cluster = shared.lock();
            discovery::resource_list(&cluster.registry, "", version)
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or_else(ApiError::unknown_path)
        }
        ["apis", group] => {
            get_only()?;
            let cluster = shared.lock();
            discovery::group(&cluster.registry, group)
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or_else(ApiError::unknown_path)
        }
        ["apis", group, version] => {
            get_only()?;
            let cluster = shared.lock();
            discovery::resource_list(&cluster.registry, group, version)
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or_else(ApiError::unknown_path)
        }
        ["openapi", "v2"] => {
            get_only()?;
            Ok(crate::openapi_v2::serve(
                &shared.lock().registry,
                &parts.headers,
            ))
        }
        ["openapi", "v3"] => {
            get_only()?;
            ok_json(StatusCode::OK, &openapi::root(&shared.lock().registry))
        }
        ["openapi", "v3", "api", version] => {
            get_only()?;
            openapi::gv_doc(&shared.lock().registry, "", version)
                .map(|d| json_response(StatusCode::OK, &d))
                .ok_or_else(ApiError::unknown_path)
        }
        ["openapi", "v3", "apis", group, version] => {
            get_only()?;
            openapi::gv_doc(&shared.lock().registry, group, version)
                .map(|d| json_response(StatusCode::OK, &d))
                .ok_or_else(ApiError::unknown_path)
        }
        ["api", version, rest @ ..] => resource(shared, parts, &params, body, "", version, rest),
        ["apis", group, version, rest @ ..] => {
            resource(shared, parts, &params, body, group, version, rest)
        }
        _ => Err(ApiError::unknown_path()),
    }
}

/// A parsed resource path.
pub(crate) struct Target<'a> {
    pub rt: ResourceType,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    pub part: Part,
}

pub(crate) fn parse_target<'a>(
    cluster: &Cluster,
    group: &str,
    version: &str,
    rest: &'a [&'a str],
) -> Result<(Target<'a>, bool), ApiError> {
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let (namespace, rest) = match rest {
        // `/api/v1/namespaces/<name>/status` is the namespace's own subresource.
        ["namespaces", _, "status" | "finalize"] if group.is_empty() => (None, rest),
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(*ns), tail),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Err(ApiError::unknown_path()),
    };
    let rt = cluster
        .registry
        .find(group, version, plural)
        .cloned()
        .ok_or_else(ApiError::unknown_path)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(ApiError::unknown_path());
    }
    if namespace.is_none() && rt.namespaced && name.is_some() {
        return Err(ApiError::unknown_path());
    }
    let part = match sub {
        None => Part::Main,
        Some("status") if rt.status_subresource => Part::Status,
        Some("scale") if rt.scale.is_some() => Part::Scale,
        Some(other) => {
            let mut e = ApiError::unknown_path();
            e.message = format!(
                "the server could not find the requested resource (subresource \"{other}\" of {} is not served)",
                crate::status::group_resource(&rt.group, &rt.plural)
            );
            return Err(e);
        }
    };
    Ok((
        Target {
            rt,
            namespace,
            name,
            part,
        },
        legacy_watch,
    ))
}

fn dry_run(params: &Params) -> Result<bool, ApiError> {
    match params.get("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::invalid(
            "Status",
            "",
            "",
            vec![Cause {
                reason: "FieldValueNotSupported",
                field: "dryRun".into(),
                message: format!("Unsupported value: \"{other}\": supported values: \"All\""),
            }],
        )),
    }
}

/// `dryRun` and `fieldValidation` of a write.
pub(crate) fn write_options(
    params: &Params,
    headers: &HeaderMap,
) -> Result<WriteOptions, ApiError> {
    // kube-apiserver's managerOrUserAgent: the explicit manager, else the client's product name.
    let manager = match params.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) if m.chars().count() > 128 => {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![Cause {
                    reason: "FieldValueTooLong",
                    field: "fieldManager".into(),
                    message: "Too long: may not be more than 128 bytes".into(),
                }],
            ));
        }
        Some(m) => m.to_string(),
        None => headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|p| !p.is_empty())
            .unwrap_or("unknown")
            .to_string(),
    };
    let validation = match params.get("fieldValidation") {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
        )))?,
    };
    Ok(WriteOptions {
        dry_run: dry_run(params)?,
        validation,
        warnings: Vec::new(),
        manager,
        applied: false,
    })
}

/// A JSON response with one `Warning: 299 - "..."` header per warning.
pub(crate) fn ok_warned(
    code: StatusCode,
    v: &Value,
    warnings: &[String],
) -> Result<Response, ApiError> {
    let mut resp = json_response(code, v);
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, value);
        }
    }
    Ok(resp)
}

pub(crate) fn list_query(params: &Params, rt: &ResourceType) -> Result<ListQuery, ApiError> {
    let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(
        params.get("fieldSelector").unwrap_or_default(),
        rt.namespaced,
        &rt.selectable_fields,
    )
    .map_err(ApiError::bad_request)?;
    Ok(ListQuery {
        labels,
        fields,
        limit: params.number::<usize>("limit")?.filter(|l| *l > 0),
        continue_token: params
            .get("continue")
            .filter(|c| !c.is_empty())
            .map(String::from),
    })
}

fn list_options_invalid(field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "ListOptions",
        "meta.k8s.io",
        "",
        vec![Cause {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {message}"),
        }],
    )
}

fn parse_rv(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: \"{raw}\"")))
}

pub(crate) fn delete_options(
    params: &Params,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions {
        dry_run: dry_run(params)?,
        ..Default::default()
    };
    opts.propagation = params.get("propagationPolicy").map(String::from);
    if !body.is_empty() {
        let b = parse_body(headers, body)?;
        if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation = Some(p.to_string());
        }
        if b.get("orphanDependents").and_then(Value::as_bool) == Some(true)
            && opts.propagation.is_none()
        {
            opts.propagation = Some("Orphan".into());
        }
        opts.precondition_uid = b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from);
        opts.precondition_rv = b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from);
        if let Some(d) = b.get("dryRun").and_then(Value::as_array) {
            if d.iter().any(|v| v != "All") {
                return Err(ApiError::bad_request(
                    "dryRun: Unsupported value: supported values: \"All\"",
                ));
            }
            opts.dry_run |= !d.is_empty();
        }
    }
    match opts.propagation.as_deref() {
        None | Some("Orphan") | Some("Background") | Some("Foreground") => Ok(opts),
        Some(other) => Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}

pub(crate) fn respond_objects(
    rep: &Representation,
    rt: &ResourceType,
    v: Value,
    is_list: bool,
) -> Result<Response, ApiError> {
    match rep {
        Representation::Json => ok_json(StatusCode::OK, &v),
        Representation::Table(opts) => {
            let (items, meta) = if is_list {
                (
                    v.get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                    v.get("metadata").cloned().unwrap_or_default(),
                )
            } else {
                let rv = v
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or_default();
                (vec![v], serde_json::json!({ "resourceVersion": rv }))
            };
            ok_json(StatusCode::OK, &table::table(rt, &items, opts, meta))
        }
        Representation::Metadata(api_version) if is_list => {
            let items: Vec<Value> = v
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|o| table::partial_metadata(o, api_version))
                .collect();
            let mut list = serde_json::json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": api_version,
                "metadata": v.get("metadata").cloned().unwrap_or_default(),
            });
            // Moved in, not copied through `json!`'s `to_value`.
            list["items"] = Value::Array(items);
            ok_json(StatusCode::OK, &list)
        }
        Representation::Metadata(api_version) => {
            ok_json(StatusCode::OK, &table::partial_metadata(&v, api_version))
        }
    }
}

/// One request on a resource path, parsed.
struct Call<'a> {
    parts: &'a Parts,
    params: &'a Params,
    body: &'a Bytes,
    target: Target<'a>,
}

impl Call<'_> {
    fn rt(&self) -> &ResourceType {
        &self.target.rt
    }

    /// The namespace of the URL, "" for cluster-scoped paths.
    fn ns(&self) -> &str {
        self.target.namespace.unwrap_or_default()
    }
}

/// The Kubernetes verb of a resource request (as in audit logs and RBAC).
pub(crate) fn request_verb(method: &Method, named: bool, watching: bool) -> &'static str {
    match (method.as_str(), named) {
        ("GET", _) if watching => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

fn resource(
    shared: &Shared,
    parts: &Parts,
    params: &Params,
    body: Bytes,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let mut cluster = shared.lock();
    let (target, legacy_watch) = parse_target(&cluster, group, version, rest)?;
    let method = &parts.method;
    let watching = legacy_watch || params.flag("watch")?;
    let verb = request_verb(method, target.name.is_some(), watching);
    let resource = match target.part {
        Part::Main => target.rt.plural.clone(),
        Part::Status => format!("{}/status", target.rt.plural),
        Part::Scale => format!("{}/scale", target.rt.plural),
    };
    if let Some(e) = shared.take_failure(verb, &resource) {
        return Err(e);
    }
    let call = Call {
        parts,
        params,
        body: &body,
        target,
    };
    if watching && *method != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "watch is only allowed with GET, not {method}"
        )));
    }
    let rt = call.rt().clone();
    let ns = call.ns();
    if let (Part::Scale, Some(name), Some(paths)) = (call.target.part, call.target.name, &rt.scale)
    {
        return scale_request(&mut cluster, &call, name, paths);
    }
    let response = match (method.as_str(), call.target.name) {
        ("GET", _) if watching => watch_request(shared, &cluster, call),
        ("GET", None) => list_request(&cluster, &call),
        ("GET", Some(name)) => {
            let rep = negotiate(&parts.headers, params)?;
            let obj = cluster.get(&rt, ns, name)?;
            respond_objects(&rep, &rt, obj, false)
        }
        ("POST", None) => {
            if call.target.part != Part::Main {
                return Err(ApiError::method_not_allowed(
                    "create is not allowed on a subresource collection",
                ));
            }
            let mut write = write_options(params, &call.parts.headers)?;
            let obj = require_object(parse_body(&parts.headers, &body)?)?;
            let created = cluster.create(&rt, call.target.namespace, obj, &mut write)?;
            ok_warned(StatusCode::CREATED, &created, &write.warnings)
        }
        ("PUT", Some(name)) => {
            let mut write = write_options(params, &call.parts.headers)?;
            let obj = require_object(parse_body(&parts.headers, &body)?)?;
            let rv_check = if rt.custom {
                RvCheck::Required
            } else {
                RvCheck::IfSet
            };
            let mode = UpdateMode {
                part: call.target.part,
                rv_check,
            };
            let updated = cluster.update(&rt, ns, name, obj, mode, &mut write)?;
            ok_warned(StatusCode::OK, &updated, &write.warnings)
        }
        ("PATCH", Some(name)) => patch_request(&mut cluster, &call, name),
        ("DELETE", Some(name)) => {
            if call.target.part != Part::Main {
                return Err(ApiError::method_not_allowed(
                    "delete is not allowed on a subresource",
                ));
            }
            let opts = delete_options(params, &parts.headers, &body)?;
            match cluster.delete(&rt, ns, name, &opts)? {
                Deleted::Gone(status) => ok_json(StatusCode::OK, &status),
                Deleted::Pending(obj) => ok_json(StatusCode::OK, &obj),
            }
        }
        ("DELETE", None) => {
            let opts = delete_options(params, &parts.headers, &body)?;
            let query = list_query(params, &rt)?;
            let list = cluster.delete_collection(&rt, call.target.namespace, &query, &opts)?;
            ok_json(StatusCode::OK, &list)
        }
        (m, None) => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on the collection {}; use GET, POST or DELETE",
            crate::status::group_resource(&rt.group, &rt.plural)
        ))),
        (m, Some(_)) => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on a single {}; use GET, PUT, PATCH or DELETE",
            crate::status::group_resource(&rt.group, &rt.plural)
        ))),
    };
    // Also after failed requests: a delete collection may have deleted some objects first.
    if *method != Method::GET {
        cluster.collect_garbage();
    }
    response
}

fn too_large_rv(requested: u64, current: u64) -> ApiError {
    let mut e = ApiError::new(
        504,
        "Timeout",
        format!("Too large resource version: {requested}, current: {current}"),
    );
    e.details = Some(serde_json::json!({
        "causes": [{ "reason": "ResourceVersionTooLarge", "message": "Too large resource version" }],
        "retryAfterSeconds": 1,
    }));
    e
}

/// A list, with kube-apiserver's resourceVersion / resourceVersionMatch / continue rules.
fn list_request(cluster: &Cluster, call: &Call<'_>) -> Result<Response, ApiError> {
    let (rt, params) = (call.rt(), call.params);
    let rep = negotiate(&call.parts.headers, params)?;
    let query = list_query(params, rt)?;
    if params.get("sendInitialEvents").is_some() {
        return Err(list_options_invalid(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    let rv = params.get("resourceVersion").unwrap_or_default();
    let rv_match = params.get("resourceVersionMatch").unwrap_or_default();
    if !matches!(rv_match, "" | "Exact" | "NotOlderThan") {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            vec![Cause {
                reason: "FieldValueNotSupported",
                field: "resourceVersionMatch".into(),
                message: format!(
                    "Unsupported value: \"{rv_match}\": supported values: \"Exact\", \"NotOlderThan\""
                ),
            }],
        ));
    }
    if !rv_match.is_empty() && rv.is_empty() {
        return Err(list_options_invalid(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    if query.continue_token.is_some() && !matches!(rv, "" | "0") {
        return Err(list_options_invalid(
            "resourceVersion",
            "specifying resource version is not allowed when using continue",
        ));
    }
    let mut at = None;
    if !matches!(rv, "" | "0") {
        let n = parse_rv(rv)?;
        let current = cluster.store.current_rv();
        if n > current {
            return Err(too_large_rv(n, current));
        }
        // With a limit and no match, an RV means "exactly this revision" (legacy paging).
        if rv_match == "Exact" || (rv_match.is_empty() && query.limit.is_some()) {
            at = Some(n);
        }
    }
    let list = cluster.list(rt, call.target.namespace, &query, at)?;
    respond_objects(&rep, rt, list, true)
}

/// A watch: validates the options under the lock, then streams.
fn watch_request(shared: &Shared, cluster: &Cluster, call: Call<'_>) -> Result<Response, ApiError> {
    let (rt, params) = (call.rt(), call.params);
    let rep = negotiate(&call.parts.headers, params)?;
    let mut query = list_query(params, rt)?;
    if let Some(name) = call.target.name {
        // Watching a single object is a watch filtered on its name.
        query.fields = FieldSelector::parse(&format!("metadata.name={name}"), rt.namespaced, &[])
            .map_err(ApiError::bad_request)?;
    }
    let send_initial = match params.get("sendInitialEvents") {
        None | Some("") => None,
        Some(_) => Some(params.flag("sendInitialEvents")?),
    };
    let rv_match = params.get("resourceVersionMatch").unwrap_or_default();
    if send_initial.is_some() && rv_match != "NotOlderThan" {
        return Err(list_options_invalid(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
        ));
    }
    if send_initial.is_none() && !rv_match.is_empty() {
        return Err(list_options_invalid(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let start = match (
        send_initial,
        params.get("resourceVersion").unwrap_or_default(),
    ) {
        (Some(true), _) => Start::WithInitialEvents,
        (Some(false), "" | "0") => Start::Now,
        (None, "" | "0") => Start::WithInitialEvents,
        (_, n) => Start::After(parse_rv(n)?),
    };
    let timeout = params
        .number::<u64>("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let req = WatchRequest {
        rt: rt.clone(),
        namespace: call.target.namespace.map(String::from),
        query,
        start,
        streaming_list: send_initial == Some(true),
        bookmarks: params.flag("allowWatchBookmarks")?,
        timeout,
        view: match rep {
            Representation::Table(t) => View::Table(t),
            Representation::Metadata(api_version) => View::Metadata(api_version),
            Representation::Json => View::Object,
        },
    };
    let stream = watch::open(cluster, req, shared.watch_token());
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn content_type(parts: &Parts) -> &str {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn patch_options_invalid(reason: &'static str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "PatchOptions",
        "meta.k8s.io",
        "",
        vec![Cause {
            reason,
            field: field.into(),
            message: message.into(),
        }],
    )
}

/// What a PATCH asks for once applied to the current object.
pub(crate) enum Patched {
    /// Server-side apply of an object that does not exist yet: create this.
    Create(Value),
    /// The patched object, to go through the update pipeline.
    Update(Value),
}

/// The parts of a PATCH request the patch is computed from.
pub(crate) struct PatchInput<'a> {
    pub parts: &'a Parts,
    pub params: &'a Params,
    pub body: &'a Bytes,
}

/// Applies a PATCH body to `current` (the object at the request's version, or the error
/// reading it), as kube-apiserver's patcher does; server-side apply creates missing objects.
/// `write` learns whether managedFields were computed by apply.
pub(crate) fn apply_patch(
    rt: &ResourceType,
    part: Part,
    input: PatchInput<'_>,
    name: &str,
    current: Result<Value, ApiError>,
    write: &mut WriteOptions,
) -> Result<Patched, ApiError> {
    let PatchInput {
        parts,
        params,
        body,
    } = input;
    let patch_type = PatchType::from_content_type(content_type(parts), rt.custom)?;
    let force = params.flag("force")?;
    if params.get("force").is_some() && patch_type != PatchType::Apply {
        return Err(patch_options_invalid(
            "FieldValueForbidden",
            "force",
            "Forbidden: may not be specified for non-apply patch",
        ));
    }
    let patch_body: Value = if patch_type == PatchType::Apply {
        if params.get("fieldManager").unwrap_or_default().is_empty() {
            return Err(patch_options_invalid(
                "FieldValueRequired",
                "fieldManager",
                "Required value: is required for apply patch",
            ));
        }
        serde_yaml::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the apply patch is not valid YAML or JSON: {e}"))
        })?
    } else {
        parse_json_body(body)?
    };
    let current = match current {
        Ok(c) => c,
        Err(_) if patch_type == PatchType::Apply && part == Part::Main => {
            // Apply creates what does not exist yet (the only error here is NotFound).
            let obj = require_object(patch_body)?;
            let body_name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if body_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
            let (api_version, now) = (rt.api_version(), crate::objects::now());
            let writer = write.writer(rt, Part::Main, &api_version, &now);
            let obj = managed::apply(&serde_json::json!({ "metadata": {} }), &obj, force, &writer)?;
            write.applied = true;
            return Ok(Patched::Create(obj));
        }
        Err(e) => return Err(e),
    };
    let mut patched = current;
    let failed = |msg: String| ApiError::new(422, "Invalid", msg);
    match patch_type {
        PatchType::Merge => patch::merge(&mut patched, &require_object(patch_body)?),
        PatchType::Json => patch::json(&mut patched, &patch_body)?,
        PatchType::Strategic => {
            let schema = crate::shape::Schema::of(rt);
            patch::strategic_merge(&mut patched, &require_object(patch_body)?, schema.root())
                .map_err(ApiError::unsupported_media_type)?
        }
        PatchType::Apply => {
            let (api_version, now) = (rt.api_version(), crate::objects::now());
            let writer = write.writer(rt, part, &api_version, &now);
            patched = managed::apply(&patched, &require_object(patch_body)?, force, &writer)?;
            write.applied = true;
        }
    }
    if !patched.is_object() {
        return Err(failed(
            "the patch turned the object into something that is not a JSON object".into(),
        ));
    }
    Ok(Patched::Update(patched))
}

/// PATCH of an object or its status: the patch is applied to the current object, and the
/// result goes through the update pipeline. Server-side apply creates missing objects.
fn patch_request(cluster: &mut Cluster, call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let (rt, params, ns) = (call.rt(), call.params, call.ns());
    let mut write = write_options(params, &call.parts.headers)?;
    let current = cluster.get(rt, ns, name);
    let input = PatchInput {
        parts: call.parts,
        params,
        body: call.body,
    };
    let patched = apply_patch(rt, call.target.part, input, name, current, &mut write)?;
    let patched = match patched {
        Patched::Create(obj) => {
            let created = cluster.create(rt, call.target.namespace, obj, &mut write)?;
            return ok_warned(StatusCode::CREATED, &created, &write.warnings);
        }
        Patched::Update(obj) => obj,
    };
    let mode = UpdateMode {
        part: call.target.part,
        rv_check: RvCheck::IfSet,
    };
    let updated = cluster.update(rt, ns, name, patched, mode, &mut write)?;
    ok_warned(StatusCode::OK, &updated, &write.warnings)
}

/// GET/PUT/PATCH of `/scale`: the object seen and written through its Scale view.
fn scale_request(
    cluster: &mut Cluster,
    call: &Call<'_>,
    name: &str,
    paths: &ScalePaths,
) -> Result<Response, ApiError> {
    let (rt, ns) = (call.rt(), call.ns());
    let current = cluster.get(rt, ns, name)?;
    if call.parts.method == Method::GET {
        return ok_json(StatusCode::OK, &scale::to_scale(paths, &current));
    }
    let input = PatchInput {
        parts: call.parts,
        params: call.params,
        body: call.body,
    };
    let desired = desired_scale(paths, &current, input)?;
    let mut write = write_options(call.params, &call.parts.headers)?;
    let mut obj = current;
    scale::apply_scale(rt, paths, &mut obj, &desired)?;
    let mode = UpdateMode {
        part: Part::Main,
        rv_check: RvCheck::IfSet,
    };
    let updated = cluster.update(rt, ns, name, obj, mode, &mut write)?;
    ok_warned(
        StatusCode::OK,
        &scale::to_scale(paths, &updated),
        &write.warnings,
    )
}

/// The Scale a PUT or PATCH of `/scale` asks for, given the object's current state.
pub(crate) fn desired_scale(
    paths: &ScalePaths,
    current: &Value,
    input: PatchInput<'_>,
) -> Result<Value, ApiError> {
    let PatchInput { parts, body, .. } = input;
    let desired = match parts.method.as_str() {
        "PUT" => require_object(parse_body(&parts.headers, body)?)?,
        "PATCH" => {
            let mut view = scale::to_scale(paths, current);
            match PatchType::from_content_type(content_type(parts), false)? {
                PatchType::Merge => {
                    patch::merge(&mut view, &require_object(parse_json_body(body)?)?)
                }
                PatchType::Strategic => {
                    // Scale has no merge lists.
                    let view_body = require_object(parse_json_body(body)?)?;
                    patch::strategic_merge(&mut view, &view_body, crate::shape::Node::DEDUCED)
                        .map_err(ApiError::unsupported_media_type)?
                }
                PatchType::Json => patch::json(&mut view, &parse_json_body(body)?)?,
                PatchType::Apply => {
                    return Err(ApiError::unsupported_media_type(
                        "server-side apply to the scale subresource is not supported yet",
                    ));
                }
            }
            view
        }
        other => {
            return Err(ApiError::method_not_allowed(format!(
                "{other} is not supported on the scale subresource; use GET, PUT or PATCH"
            )));
        }
    };
    Ok(desired)
}
