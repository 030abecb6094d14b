//! Admission webhooks, called as kube-apiserver's `MutatingAdmissionWebhook` and
//! `ValidatingAdmissionWebhook` plugins call them (k8s.io/apiserver
//! `pkg/admission/plugin/webhook`), and the write path that runs them.
//!
//! A write whose resource has matching webhook configurations (or whose CRD converts through
//! a webhook) leaves the synchronous request path: the cluster lock is released while
//! webhooks run, so a webhook may call back into the server. The order follows upstream:
//! mutating webhooks on the decoded object (configurations sorted by name, webhooks in
//! order, reinvoked once when `reinvocationPolicy: IfNeeded` asks), then the server's own
//! defaulting and validation (a dry run of the write), then the validating webhooks on the
//! object that would be stored, then the write itself, retried from the start when an
//! unconditional write lost a race.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use serde_json::{Map, Value, json};

use crate::conversion::Converter;
use crate::objects::{Cluster, Deleted, Part, RvCheck, UpdateMode, WriteOptions, present};
use crate::registry::ResourceType;
use crate::scale;
use crate::server::{self, Params, Patched, Shared};
use crate::status::ApiError;
use crate::store::meta_str;
use crate::webhook_client;

/// How often a write whose object changed while webhooks ran starts over.
const MAX_ATTEMPTS: usize = 5;
/// `timeoutSeconds` when a webhook sets none (admissionregistration v1).
const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

/// The admission operation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// One webhook whose rules match a request, with the version of the resource it matched
/// (another version of the same CRD under `matchPolicy: Equivalent`).
#[derive(Debug, Clone)]
struct Candidate {
    name: String,
    spec: Value,
    version: String,
}

/// The webhooks a request calls, in call order.
#[derive(Debug, Default)]
struct Webhooks {
    mutating: Vec<Candidate>,
    validating: Vec<Candidate>,
}

const CONFIGURATION_KINDS: [(&str, bool); 2] = [
    ("mutatingwebhookconfigurations", true),
    ("validatingwebhookconfigurations", false),
];

impl Webhooks {
    /// The webhooks whose rules match (selectors are checked when they are about to be called).
    fn matching(
        cluster: &Cluster,
        rt: &ResourceType,
        subresource: &str,
        op: Operation,
        namespace: &str,
    ) -> Webhooks {
        let mut out = Webhooks::default();
        // Webhooks are never called for webhook configurations (upstream exempts them so a
        // broken webhook can always be removed).
        if rt.group == "admissionregistration.k8s.io" {
            return out;
        }
        let equivalents: Vec<String> = cluster
            .registry
            .all()
            .filter(|t| {
                t.crd_name.is_some() && t.crd_name == rt.crd_name && t.version != rt.version
            })
            .map(|t| t.version.clone())
            .collect();
        for (plural, mutating) in CONFIGURATION_KINDS {
            let key = (
                "admissionregistration.k8s.io".to_string(),
                plural.to_string(),
            );
            let mut configs: Vec<Value> = cluster.store.list(&key, None).collect();
            configs.sort_by(|a, b| meta_str(a, "name").cmp(meta_str(b, "name")));
            for config in &configs {
                for hook in config
                    .get("webhooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let matches = |version: &str| {
                        rules_match(
                            hook,
                            op,
                            &rt.group,
                            version,
                            &rt.plural,
                            subresource,
                            namespace,
                        )
                    };
                    let version = if matches(&rt.version) {
                        Some(rt.version.clone())
                    } else if hook.get("matchPolicy").and_then(Value::as_str) != Some("Exact") {
                        equivalents.iter().find(|v| matches(v)).cloned()
                    } else {
                        None
                    };
                    let Some(version) = version else { continue };
                    let candidate = Candidate {
                        name: hook
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        spec: hook.clone(),
                        version,
                    };
                    if mutating {
                        out.mutating.push(candidate);
                    } else {
                        out.validating.push(candidate);
                    }
                }
            }
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.mutating.is_empty() && self.validating.is_empty()
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A webhook's `rules` against a request (upstream `rules.Matcher`): operations, groups,
/// versions, `resource`, `resource/sub`, `*`, `*/*`, `res/*`, `*/sub`, and scope.
fn rules_match(
    hook: &Value,
    op: Operation,
    group: &str,
    version: &str,
    resource: &str,
    subresource: &str,
    namespace: &str,
) -> bool {
    let any = |list: &[&str], x: &str| list.iter().any(|s| *s == "*" || *s == x);
    hook.get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|rule| {
            let resources = strings(rule.get("resources"));
            let resource_ok = resources.iter().any(|r| {
                let (res, sub) = r.split_once('/').unwrap_or((r, ""));
                (res == "*" || res == resource) && (sub == "*" || sub == subresource)
            });
            let is_namespace = group.is_empty() && resource == "namespaces";
            let scope_ok = match rule.get("scope").and_then(Value::as_str) {
                Some("Namespaced") => !is_namespace && !namespace.is_empty(),
                Some("Cluster") => is_namespace || namespace.is_empty(),
                _ => true,
            };
            any(&strings(rule.get("operations")), op.as_str())
                && any(&strings(rule.get("apiGroups")), group)
                && any(&strings(rule.get("apiVersions")), version)
                && resource_ok
                && scope_ok
        })
}

fn selector_is_empty(selector: Option<&Value>) -> bool {
    selector.is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    })
}

/// A `metav1.LabelSelector` against a label set.
fn selector_matches(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let labels_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let expressions_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let values = strings(e.get("values"));
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        });
    labels_ok && expressions_ok
}

fn labels_of(obj: Option<&Value>) -> Option<&Map<String, Value>> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
}

/// The attributes of one admission request, at the version of the request.
#[derive(Debug)]
struct Attributes {
    rt: ResourceType,
    subresource: &'static str,
    namespace: String,
    name: String,
    operation: Operation,
    object: Option<Value>,
    old_object: Option<Value>,
    dry_run: bool,
    options: Value,
    /// The kind of the objects when it is not the resource's (`autoscaling/v1` Scale).
    kind: Option<Value>,
    /// Labels of the request's namespace; `None` when it does not exist.
    namespace_labels: Option<Map<String, Value>>,
}

impl Attributes {
    /// Whether a matching webhook's selectors let it see this request (upstream
    /// `ShouldCallHook`); a namespace selector on a missing namespace is a 404, as upstream.
    fn selected(&self, c: &Candidate) -> Result<bool, ApiError> {
        let ns_selector = c.spec.get("namespaceSelector");
        if !selector_is_empty(ns_selector) {
            let selector = ns_selector.cloned().unwrap_or_default();
            let is_namespace = self.rt.group.is_empty() && self.rt.plural == "namespaces";
            let ok = if is_namespace {
                let obj = self.object.as_ref().or(self.old_object.as_ref());
                selector_matches(&selector, labels_of(obj))
            } else if self.namespace.is_empty() {
                true
            } else {
                match &self.namespace_labels {
                    Some(labels) => selector_matches(&selector, Some(labels)),
                    None => return Err(ApiError::not_found("", "namespaces", &self.namespace)),
                }
            };
            if !ok {
                return Ok(false);
            }
        }
        let obj_selector = c.spec.get("objectSelector");
        if !selector_is_empty(obj_selector) {
            let selector = obj_selector.cloned().unwrap_or_default();
            let matches =
                |o: Option<&Value>| o.is_some() && selector_matches(&selector, labels_of(o));
            if !matches(self.object.as_ref()) && !matches(self.old_object.as_ref()) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Why a call did not produce an answer.
enum Failure {
    /// Upstream's `ErrCallingWebhook`: unreachable, timed out or a bad answer; the webhook's
    /// `failurePolicy` decides whether the request fails.
    Call(String),
    /// An error that fails the request whatever the policy.
    Request(ApiError),
}

/// What a webhook answered.
struct Answer {
    allowed: bool,
    patch: Option<Value>,
    warnings: Vec<String>,
    result: Value,
}

/// The `Status` reasons clients branch on; anything else is sent without a reason.
fn known_reason(reason: &str) -> &'static str {
    const REASONS: [&str; 17] = [
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "AlreadyExists",
        "Conflict",
        "Gone",
        "Invalid",
        "ServerTimeout",
        "Timeout",
        "TooManyRequests",
        "BadRequest",
        "MethodNotAllowed",
        "NotAcceptable",
        "RequestEntityTooLarge",
        "UnsupportedMediaType",
        "InternalError",
        "Expired",
    ];
    REASONS.into_iter().find(|r| *r == reason).unwrap_or("")
}

/// Upstream's `ToStatusErr`: the webhook's Status, with a code of at least 400 and the
/// message prefixed by who denied the request.
fn denied(name: &str, result: &Value) -> ApiError {
    let denied_by = format!("admission webhook \"{name}\" denied the request");
    let message = result
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reason = result
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = if !message.is_empty() {
        format!("{denied_by}: {message}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    };
    let code = result
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400)
        .unwrap_or(400);
    let mut e = ApiError::new(code, known_reason(reason), message);
    e.details = result.get("details").cloned();
    e
}

/// `apierrors.NewInternalError` of an error while calling a webhook.
fn internal(message: String) -> ApiError {
    let mut e = ApiError::internal(format!("Internal error occurred: {message}"));
    e.details = Some(json!({ "causes": [{ "message": message }] }));
    e
}

/// The object shown to a webhook that matched another version of the resource.
async fn at_version(
    obj: Option<&Value>,
    version: &str,
    conv: Option<&Converter>,
) -> Result<Option<Value>, ApiError> {
    let (Some(obj), Some(conv)) = (obj, conv) else {
        return Ok(obj.cloned());
    };
    conv.convert_one(obj.clone(), version).await.map(Some)
}

/// Sends one AdmissionReview and checks the answer (upstream `callHook` and
/// `VerifyAdmissionResponse`).
async fn call(
    c: &Candidate,
    attrs: &Attributes,
    object: Option<&Value>,
    old_object: Option<&Value>,
    mutating: bool,
) -> Result<Answer, Failure> {
    let name = &c.name;
    if attrs.dry_run {
        match c.spec.get("sideEffects").and_then(Value::as_str) {
            Some("None") | Some("NoneOnDryRun") => {}
            None => return Err(Failure::Call("Webhook SideEffects is nil".into())),
            Some(_) => {
                return Err(Failure::Request(ApiError::bad_request(format!(
                    "admission webhook \"{name}\" does not support dry run"
                ))));
            }
        }
    }
    let review_version = strings(c.spec.get("admissionReviewVersions"))
        .into_iter()
        .find(|v| *v == "v1" || *v == "v1beta1")
        .ok_or_else(|| {
            Failure::Call("webhook does not accept known AdmissionReview versions".into())
        })?;
    let dest =
        webhook_client::destination(c.spec.get("clientConfig").unwrap_or(&Value::Null), None)
            .map_err(|e| Failure::Call(format!("failed to call webhook: {e}")))?;
    let timeout = c
        .spec
        .get("timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let uid = uuid::Uuid::new_v4().to_string();
    let rt = &attrs.rt;
    let review_api = format!("admission.k8s.io/{review_version}");
    let mut request = json!({
        "uid": uid,
        "kind": { "group": rt.group, "version": c.version, "kind": rt.kind },
        "resource": { "group": rt.group, "version": c.version, "resource": rt.plural },
        "requestKind": { "group": rt.group, "version": rt.version, "kind": rt.kind },
        "requestResource": { "group": rt.group, "version": rt.version, "resource": rt.plural },
        "name": attrs.name,
        "namespace": attrs.namespace,
        "operation": attrs.operation.as_str(),
        "userInfo": { "username": "system:admin", "groups": ["system:masters", "system:authenticated"] },
        "object": object,
        "oldObject": old_object,
        "dryRun": attrs.dry_run,
        "options": attrs.options,
    });
    // As Go's `omitempty`: no name for generateName creates, no namespace for cluster-scoped
    // objects, no object on deletes, no old object on creates.
    if let Value::Object(m) = &mut request {
        m.retain(|k, v| {
            !(matches!(k.as_str(), "object" | "oldObject") && v.is_null()
                || matches!(k.as_str(), "name" | "namespace") && v == "")
        });
    }
    if let Some(kind) = &attrs.kind {
        request["kind"] = kind.clone();
        request["requestKind"] = kind.clone();
    }
    if !attrs.subresource.is_empty() {
        request["subResource"] = json!(attrs.subresource);
        request["requestSubResource"] = json!(attrs.subresource);
    }
    let review = json!({ "apiVersion": review_api, "kind": "AdmissionReview", "request": request });
    let answer = webhook_client::post(&dest, &review, Duration::from_secs(timeout))
        .await
        .map_err(|e| Failure::Call(format!("failed to call webhook: {e}")))?;
    let invalid = |e: String| Failure::Call(format!("received invalid webhook response: {e}"));
    if answer.get("apiVersion").and_then(Value::as_str) != Some(&review_api)
        || answer.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return Err(invalid(format!(
            "expected webhook response of {review_api}, Kind=AdmissionReview, got {}, Kind={}",
            answer
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            answer
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
        )));
    }
    let Some(response) = answer.get("response").filter(|r| r.is_object()) else {
        return Err(invalid("webhook response was absent".into()));
    };
    let got_uid = response
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if got_uid != uid {
        return Err(invalid(format!(
            "expected response.uid=\"{uid}\", got \"{got_uid}\""
        )));
    }
    let patch = match response.get("patch").and_then(Value::as_str) {
        None | Some("") => None,
        Some(encoded) => {
            if !mutating {
                return Err(invalid(
                    "validating webhook may not return response.patch".into(),
                ));
            }
            match response.get("patchType").and_then(Value::as_str) {
                Some("JSONPatch") => {}
                None => {
                    return Err(invalid(
                        "webhook returned response.patch but not response.patchType".into(),
                    ));
                }
                Some(other) => {
                    return Err(invalid(format!(
                        "webhook returned invalid response.patchType of \"{other}\""
                    )));
                }
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| invalid(format!("response.patch is not base64: {e}")))?;
            Some(
                serde_json::from_slice::<Value>(&bytes)
                    .map_err(|e| invalid(format!("response.patch is not JSON: {e}")))?,
            )
        }
    };
    Ok(Answer {
        allowed: response.get("allowed").and_then(Value::as_bool) == Some(true),
        patch,
        warnings: strings(response.get("warnings"))
            .into_iter()
            .map(String::from)
            .collect(),
        result: response.get("status").cloned().unwrap_or_default(),
    })
}

/// Runs `c` and returns its answer, or `None` when its failure is ignored.
async fn invoke(
    c: &Candidate,
    attrs: &Attributes,
    object: Option<&Value>,
    old_object: Option<&Value>,
    mutating: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<Answer>, ApiError> {
    match call(c, attrs, object, old_object, mutating).await {
        Ok(answer) => {
            warnings.extend(answer.warnings.iter().cloned());
            if !answer.allowed {
                return Err(denied(&c.name, &answer.result));
            }
            Ok(Some(answer))
        }
        Err(Failure::Request(e)) => Err(e),
        Err(Failure::Call(reason)) => {
            let message = format!("failed calling webhook \"{}\": {reason}", c.name);
            if c.spec.get("failurePolicy").and_then(Value::as_str) == Some("Ignore") {
                tracing::warn!(webhook = %c.name, %message, "failing open");
                Ok(None)
            } else {
                Err(internal(message))
            }
        }
    }
}

/// Calls one mutating webhook and applies its patch; returns whether the object changed.
async fn mutate_one(
    c: &Candidate,
    attrs: &mut Attributes,
    conv: Option<&Converter>,
    warnings: &mut Vec<String>,
) -> Result<bool, ApiError> {
    let object = at_version(attrs.object.as_ref(), &c.version, conv).await?;
    let old = at_version(attrs.old_object.as_ref(), &c.version, conv).await?;
    let Some(answer) = invoke(c, attrs, object.as_ref(), old.as_ref(), true, warnings).await?
    else {
        return Ok(false);
    };
    let Some(patch) = answer
        .patch
        .filter(|p| p.as_array().is_none_or(|a| !a.is_empty()))
    else {
        return Ok(false);
    };
    let Some(object) = object else {
        return Err(internal(format!(
            "admission webhook \"{}\" attempted to modify the object, which is not supported for this operation",
            c.name
        )));
    };
    let ops: json_patch::Patch =
        serde_json::from_value(patch).map_err(|e| internal(e.to_string()))?;
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &ops).map_err(|e| internal(e.to_string()))?;
    if patched == object {
        return Ok(false);
    }
    let patched = match conv {
        Some(conv) if c.version != attrs.rt.version => {
            conv.convert_one(patched, &attrs.rt.version).await?
        }
        _ => patched,
    };
    attrs.object = Some(patched);
    Ok(true)
}

/// The mutating webhooks in order, then once more those with `reinvocationPolicy: IfNeeded`
/// that ran before a later webhook changed the object.
async fn mutate(
    hooks: &Webhooks,
    attrs: &mut Attributes,
    conv: Option<&Converter>,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    let mut invoked_if_needed: Vec<usize> = Vec::new();
    let mut reinvoke: HashSet<usize> = HashSet::new();
    for (i, c) in hooks.mutating.iter().enumerate() {
        if !attrs.selected(c)? {
            continue;
        }
        if mutate_one(c, attrs, conv, warnings).await? {
            reinvoke.extend(invoked_if_needed.iter().copied());
        }
        if c.spec.get("reinvocationPolicy").and_then(Value::as_str) == Some("IfNeeded") {
            invoked_if_needed.push(i);
        }
    }
    for (i, c) in hooks.mutating.iter().enumerate() {
        if reinvoke.contains(&i) && attrs.selected(c)? {
            mutate_one(c, attrs, conv, warnings).await?;
        }
    }
    Ok(())
}

/// The validating webhooks in order; the first denial or failure fails the request.
async fn validate(
    hooks: &Webhooks,
    attrs: &Attributes,
    conv: Option<&Converter>,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    for c in &hooks.validating {
        if !attrs.selected(c)? {
            continue;
        }
        let object = at_version(attrs.object.as_ref(), &c.version, conv).await?;
        let old = at_version(attrs.old_object.as_ref(), &c.version, conv).await?;
        invoke(c, attrs, object.as_ref(), old.as_ref(), false, warnings).await?;
    }
    Ok(())
}

/// Takes over a request when admission webhooks match it or its CRD converts through a
/// webhook; `None` leaves it to the synchronous path.
pub(crate) async fn intercept(
    shared: &Arc<Shared>,
    parts: &Parts,
    body: &Bytes,
) -> Option<Response> {
    let path = parts.uri.path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return None,
    };
    let params = Params::from_uri(&parts.uri).ok()?;
    let endpoint = shared.webhook_endpoint();
    let next = {
        let cluster = shared.lock();
        let (target, legacy_watch) = server::parse_target(&cluster, group, version, rest).ok()?;
        let rt = target.rt;
        let conv = Converter::for_type(&cluster, &rt, endpoint.as_ref())
            .filter(|c| c.is_webhook_for(&rt.version));
        let rt_store = match &conv {
            Some(c) => cluster
                .registry
                .find(&rt.group, c.storage_version(), &rt.plural)
                .cloned()?,
            None => rt.clone(),
        };
        let method = parts.method.as_str();
        if method == "GET" {
            let watching = legacy_watch || params.flag("watch").unwrap_or(false);
            Next::Read(Box::new((conv?, rt)), watching)
        } else {
            let ns = target.namespace.unwrap_or_default().to_string();
            let subresource = match target.part {
                Part::Main => "",
                Part::Status => "status",
                // A Scale needs no conversion: only the replicas move.
                Part::Scale if conv.is_some() => return None,
                Part::Scale => "scale",
            };
            let ops: &[Operation] = match (method, target.name.is_some()) {
                ("POST", false) if target.part == Part::Main => &[Operation::Create],
                ("PUT", true) => &[Operation::Update],
                ("PATCH", true) if target.part == Part::Scale => &[Operation::Update],
                ("PATCH", true) => &[Operation::Update, Operation::Create],
                ("DELETE", _) if target.part == Part::Main => &[Operation::Delete],
                _ => return None,
            };
            let admitted = ops
                .iter()
                .any(|op| !Webhooks::matching(&cluster, &rt, subresource, *op, &ns).is_empty());
            if !admitted && conv.is_none() {
                return None;
            }
            let verb = server::request_verb(&parts.method, target.name.is_some(), false);
            let resource = if subresource.is_empty() {
                rt.plural.clone()
            } else {
                format!("{}/{subresource}", rt.plural)
            };
            if let Some(e) = shared.take_failure(verb, &resource) {
                return Some(e.into_response());
            }
            Next::Write(Box::new(Flow {
                shared: shared.clone(),
                parts,
                params: &params,
                body,
                rt,
                rt_store,
                url_namespace: target.namespace.map(String::from),
                name: target.name.unwrap_or_default().to_string(),
                part: target.part,
                subresource,
                conv,
            }))
        }
    };
    match next {
        Next::Read(read, watching) => {
            let (conv, rt) = *read;
            Some(crate::conversion::serve_read(shared, parts, &params, &conv, &rt, watching).await)
        }
        Next::Write(flow) => Some(flow.run().await.unwrap_or_else(IntoResponse::into_response)),
    }
}

/// What [`intercept`] does once it has looked at the request under the lock.
enum Next<'a> {
    Read(Box<(Converter, ResourceType)>, bool),
    Write(Box<Flow<'a>>),
}

/// One admitted write.
struct Flow<'a> {
    shared: Arc<Shared>,
    parts: &'a Parts,
    params: &'a Params,
    body: &'a Bytes,
    /// The resource at the request's version.
    rt: ResourceType,
    /// The resource at the version objects are stored at (the same unless a conversion
    /// webhook sits in between).
    rt_store: ResourceType,
    url_namespace: Option<String>,
    name: String,
    part: Part,
    subresource: &'static str,
    conv: Option<Converter>,
}

impl Flow<'_> {
    async fn run(&self) -> Result<Response, ApiError> {
        match self.parts.method.as_str() {
            "POST" => {
                let obj =
                    server::require_object(server::parse_body(&self.parts.headers, self.body)?)?;
                self.create(obj, false).await
            }
            "DELETE" if self.name.is_empty() => self.delete_collection().await,
            "DELETE" => self.delete().await,
            _ if self.part == Part::Scale => self.scale().await,
            _ => self.update().await,
        }
    }

    fn ns(&self) -> &str {
        self.url_namespace.as_deref().unwrap_or_default()
    }

    fn write_options(&self, dry_run: bool, applied: bool) -> Result<WriteOptions, ApiError> {
        let mut w = server::write_options(self.params, &self.parts.headers)?;
        w.dry_run |= dry_run;
        w.applied = applied;
        Ok(w)
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        Ok(self.write_options(false, false)?.dry_run)
    }

    fn options(&self, kind: &str) -> Value {
        let mut o = json!({ "kind": kind, "apiVersion": "meta.k8s.io/v1" });
        if let Some(m) = self.params.get("fieldManager") {
            o["fieldManager"] = json!(m);
        }
        if self.params.get("dryRun").is_some_and(|d| !d.is_empty()) {
            o["dryRun"] = json!(["All"]);
        }
        o
    }

    /// The webhooks for `op` and the labels of the request's namespace.
    fn webhooks(&self, op: Operation) -> (Webhooks, Option<Map<String, Value>>) {
        let cluster = self.shared.lock();
        let hooks = Webhooks::matching(&cluster, &self.rt, self.subresource, op, self.ns());
        let labels = cluster
            .store
            .get(&("".into(), "namespaces".into()), "", self.ns())
            .map(|n| labels_of(Some(&n)).cloned().unwrap_or_default());
        (hooks, labels)
    }

    /// The stored object as served at the request's version.
    async fn current(&self) -> Result<Value, ApiError> {
        let stored = self
            .shared
            .lock()
            .get(&self.rt_store, self.ns(), &self.name)?;
        self.shown(stored).await
    }

    /// A stored-version object (as the cluster presents it) at the request's version.
    async fn shown(&self, obj: Value) -> Result<Value, ApiError> {
        match &self.conv {
            Some(conv) => {
                let converted = conv.convert_one(obj, &self.rt.version).await?;
                Ok(present(&self.rt, &converted))
            }
            None => Ok(obj),
        }
    }

    /// A request-version object at the storage version.
    async fn stored_form(&self, obj: Value) -> Result<Value, ApiError> {
        match &self.conv {
            Some(conv) => conv.convert_one(obj, self.conv_storage()).await,
            None => Ok(obj),
        }
    }

    fn conv_storage(&self) -> &str {
        self.conv
            .as_ref()
            .map(Converter::storage_version)
            .unwrap_or(&self.rt.version)
    }

    fn after_write(cluster: &mut Cluster) {
        if cluster.garbage_collection {
            cluster.collect_garbage();
        }
    }

    async fn create(&self, mut obj: Value, applied: bool) -> Result<Response, ApiError> {
        let dry_run = self.dry_run()?;
        if let Value::Object(m) = &mut obj {
            m.entry("apiVersion")
                .or_insert_with(|| json!(self.rt.api_version()));
            m.entry("kind").or_insert_with(|| json!(self.rt.kind));
            if self.rt.namespaced && !self.ns().is_empty() {
                let meta = m.entry("metadata").or_insert_with(|| json!({}));
                if let Value::Object(meta) = meta {
                    meta.entry("namespace").or_insert_with(|| json!(self.ns()));
                }
            }
        }
        if obj.get("apiVersion").and_then(Value::as_str) != Some(&self.rt.api_version()) {
            // Let the pipeline answer with its own message for a mismatched apiVersion.
            let mut cluster = self.shared.lock();
            let mut w = self.write_options(false, applied)?;
            let created = cluster.create(&self.rt, self.url_namespace.as_deref(), obj, &mut w)?;
            return server::ok_warned(StatusCode::CREATED, &created, &w.warnings);
        }
        let (hooks, namespace_labels) = self.webhooks(Operation::Create);
        let mut warnings = Vec::new();
        let mut attrs = Attributes {
            rt: self.rt.clone(),
            subresource: "",
            namespace: self.ns().to_string(),
            name: meta_str(&obj, "name").to_string(),
            operation: Operation::Create,
            object: Some(obj),
            old_object: None,
            dry_run,
            options: self.options("CreateOptions"),
            kind: None,
            namespace_labels,
        };
        mutate(&hooks, &mut attrs, self.conv.as_ref(), &mut warnings).await?;
        let mut input = self
            .stored_form(attrs.object.take().unwrap_or_default())
            .await?;
        if !hooks.validating.is_empty() {
            let would_be = {
                let mut cluster = self.shared.lock();
                let mut w = self.write_options(true, applied)?;
                cluster.create(
                    &self.rt_store,
                    self.url_namespace.as_deref(),
                    input.clone(),
                    &mut w,
                )?
            };
            // The name a generateName turned into is the one the webhooks approved.
            let name = meta_str(&would_be, "name").to_string();
            if let Some(Value::Object(meta)) = input.get_mut("metadata") {
                meta.insert("name".into(), json!(name));
            }
            attrs.name = name;
            attrs.object = Some(self.shown(would_be).await?);
            validate(&hooks, &attrs, self.conv.as_ref(), &mut warnings).await?;
        }
        let (created, pipeline_warnings) = {
            let mut cluster = self.shared.lock();
            let mut w = self.write_options(false, applied)?;
            let created =
                cluster.create(&self.rt_store, self.url_namespace.as_deref(), input, &mut w)?;
            Self::after_write(&mut cluster);
            (created, w.warnings)
        };
        warnings.extend(pipeline_warnings);
        let created = self.shown(created).await?;
        server::ok_warned(StatusCode::CREATED, &created, &warnings)
    }

    async fn update(&self) -> Result<Response, ApiError> {
        let dry_run = self.dry_run()?;
        let is_put = self.parts.method == http::Method::PUT;
        let rv_check = if is_put && self.rt.custom {
            RvCheck::Required
        } else {
            RvCheck::IfSet
        };
        let mode = UpdateMode {
            part: self.part,
            rv_check,
        };
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.current().await;
            let mut patch_write = self.write_options(false, false)?;
            let mut new = if is_put {
                current.as_ref().map_err(Clone::clone)?;
                server::require_object(server::parse_body(&self.parts.headers, self.body)?)?
            } else {
                let input = server::PatchInput {
                    parts: self.parts,
                    params: self.params,
                    body: self.body,
                };
                let patched = server::apply_patch(
                    &self.rt,
                    self.part,
                    input,
                    &self.name,
                    current.clone(),
                    &mut patch_write,
                )?;
                match patched {
                    Patched::Create(obj) => return self.create(obj, true).await,
                    Patched::Update(obj) => obj,
                }
            };
            let applied = patch_write.applied;
            let old = current?;
            // A write without a resourceVersion must not land on another object than the
            // one the webhooks saw: pin it, and start over when it changed meanwhile.
            let unconditional = new
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            // A patch that kept the current resourceVersion is applied again to a newer
            // object, as kube-apiserver's patcher retries.
            let patch_kept_rv = !is_put
                && new.pointer("/metadata/resourceVersion")
                    == old.pointer("/metadata/resourceVersion");
            let retry = (unconditional && rv_check == RvCheck::IfSet) || patch_kept_rv;
            if unconditional
                && rv_check == RvCheck::IfSet
                && let Some(Value::Object(meta)) = new.get_mut("metadata")
            {
                meta.insert(
                    "resourceVersion".into(),
                    json!(meta_str(&old, "resourceVersion")),
                );
            }
            let (hooks, namespace_labels) = self.webhooks(Operation::Update);
            let mut warnings = Vec::new();
            let mut attrs = Attributes {
                rt: self.rt.clone(),
                subresource: self.subresource,
                namespace: self.ns().to_string(),
                name: self.name.clone(),
                operation: Operation::Update,
                object: Some(new),
                old_object: Some(old),
                dry_run,
                options: self.options("UpdateOptions"),
                kind: None,
                namespace_labels,
            };
            mutate(&hooks, &mut attrs, self.conv.as_ref(), &mut warnings).await?;
            let input = self
                .stored_form(attrs.object.take().unwrap_or_default())
                .await?;
            if !hooks.validating.is_empty() {
                let would_be = {
                    let mut cluster = self.shared.lock();
                    let mut w = self.write_options(true, applied)?;
                    cluster.update(
                        &self.rt_store,
                        self.ns(),
                        &self.name,
                        input.clone(),
                        mode,
                        &mut w,
                    )?
                };
                attrs.object = Some(self.shown(would_be).await?);
                validate(&hooks, &attrs, self.conv.as_ref(), &mut warnings).await?;
            }
            let result = {
                let mut cluster = self.shared.lock();
                let mut w = self.write_options(false, applied)?;
                let result =
                    cluster.update(&self.rt_store, self.ns(), &self.name, input, mode, &mut w);
                if result.is_ok() {
                    Self::after_write(&mut cluster);
                }
                result.map(|r| (r, w.warnings))
            };
            let (updated, pipeline_warnings) = match result {
                Err(e)
                    if e.code == 409
                        && e.reason == "Conflict"
                        && retry
                        && attempt < MAX_ATTEMPTS =>
                {
                    continue;
                }
                other => other?,
            };
            warnings.extend(pipeline_warnings);
            let updated = self.shown(updated).await?;
            return server::ok_warned(StatusCode::OK, &updated, &warnings);
        }
        Err(ApiError::conflict(
            &self.rt.group,
            &self.rt.plural,
            &self.name,
        ))
    }

    /// A write of `/scale`: webhooks see `autoscaling/v1` Scales, the object gets the replicas.
    async fn scale(&self) -> Result<Response, ApiError> {
        let Some(paths) = self.rt.scale.clone() else {
            return Err(ApiError::unknown_path());
        };
        let dry_run = self.dry_run()?;
        let mode = UpdateMode {
            part: Part::Main,
            rv_check: RvCheck::IfSet,
        };
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.current().await?;
            let input = server::PatchInput {
                parts: self.parts,
                params: self.params,
                body: self.body,
            };
            let desired = server::desired_scale(&paths, &current, input)?;
            // Without a resourceVersion the write lands on the object the webhooks saw, or
            // starts over.
            let retry = desired
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            let (hooks, namespace_labels) = self.webhooks(Operation::Update);
            let mut warnings = Vec::new();
            let mut attrs = Attributes {
                rt: self.rt.clone(),
                subresource: "scale",
                namespace: self.ns().to_string(),
                name: self.name.clone(),
                operation: Operation::Update,
                object: Some(desired),
                old_object: Some(scale::to_scale(&paths, &current)),
                dry_run,
                options: self.options("UpdateOptions"),
                kind: Some(json!({ "group": "autoscaling", "version": "v1", "kind": "Scale" })),
                namespace_labels,
            };
            mutate(&hooks, &mut attrs, None, &mut warnings).await?;
            let mut obj = current;
            scale::apply_scale(
                &self.rt,
                &paths,
                &mut obj,
                attrs.object.as_ref().unwrap_or(&Value::Null),
            )?;
            if !hooks.validating.is_empty() {
                let would_be = {
                    let mut cluster = self.shared.lock();
                    let mut w = self.write_options(true, false)?;
                    cluster.update(&self.rt, self.ns(), &self.name, obj.clone(), mode, &mut w)?
                };
                attrs.object = Some(scale::to_scale(&paths, &would_be));
                validate(&hooks, &attrs, None, &mut warnings).await?;
            }
            let result = {
                let mut cluster = self.shared.lock();
                let mut w = self.write_options(false, false)?;
                let result = cluster.update(&self.rt, self.ns(), &self.name, obj, mode, &mut w);
                if result.is_ok() {
                    Self::after_write(&mut cluster);
                }
                result.map(|r| (r, w.warnings))
            };
            let (updated, pipeline_warnings) = match result {
                Err(e)
                    if e.code == 409
                        && e.reason == "Conflict"
                        && retry
                        && attempt < MAX_ATTEMPTS =>
                {
                    continue;
                }
                other => other?,
            };
            warnings.extend(pipeline_warnings);
            return server::ok_warned(
                StatusCode::OK,
                &scale::to_scale(&paths, &updated),
                &warnings,
            );
        }
        Err(ApiError::conflict(
            &self.rt.group,
            &self.rt.plural,
            &self.name,
        ))
    }

    /// DELETE of a collection: every matching object is admitted and deleted on its own, as
    /// kube-apiserver's DeleteCollection does; the first refusal ends it.
    async fn delete_collection(&self) -> Result<Response, ApiError> {
        let opts = server::delete_options(self.params, &self.parts.headers, self.body)?;
        let query = server::list_query(self.params, &self.rt)?;
        let targets: Vec<(String, String)> = {
            let cluster = self.shared.lock();
            let list = cluster.list(&self.rt_store, self.url_namespace.as_deref(), &query, None)?;
            list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    (
                        meta_str(o, "namespace").to_string(),
                        meta_str(o, "name").to_string(),
                    )
                })
                .collect()
        };
        let mut items = Vec::new();
        let mut warnings = Vec::new();
        for (ns, name) in targets {
            let item = Flow {
                shared: self.shared.clone(),
                url_namespace: Some(ns).filter(|n| !n.is_empty()),
                name,
                rt: self.rt.clone(),
                rt_store: self.rt_store.clone(),
                conv: self.conv.clone(),
                ..*self
            };
            match item.delete_one(&opts, &mut warnings).await {
                Ok(Deleted::Pending(obj)) => items.push(obj),
                Ok(Deleted::Gone(_)) => {}
                // Deleted by someone else meanwhile.
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let rv = self.shared.lock().store.current_rv().to_string();
        let list = crate::objects::list_of(&self.rt, json!({ "resourceVersion": rv }), items);
        server::ok_warned(StatusCode::OK, &list, &warnings)
    }

    async fn delete(&self) -> Result<Response, ApiError> {
        let opts = server::delete_options(self.params, &self.parts.headers, self.body)?;
        let mut warnings = Vec::new();
        let body = match self.delete_one(&opts, &mut warnings).await? {
            Deleted::Gone(status) => status,
            Deleted::Pending(obj) => obj,
        };
        server::ok_warned(StatusCode::OK, &body, &warnings)
    }

    /// Admits and deletes one object; a kept object comes back at the request's version.
    async fn delete_one(
        &self,
        opts: &crate::objects::DeleteOptions,
        warnings: &mut Vec<String>,
    ) -> Result<Deleted, ApiError> {
        for _ in 0..MAX_ATTEMPTS {
            let old = self.current().await?;
            let (hooks, namespace_labels) = self.webhooks(Operation::Delete);
            let mut options = self.options("DeleteOptions");
            if let Some(p) = &opts.propagation {
                options["propagationPolicy"] = json!(p);
            }
            let mut attrs = Attributes {
                rt: self.rt.clone(),
                subresource: "",
                namespace: self.ns().to_string(),
                name: self.name.clone(),
                operation: Operation::Delete,
                object: None,
                old_object: Some(old.clone()),
                dry_run: opts.dry_run,
                options,
                kind: None,
                namespace_labels,
            };
            mutate(&hooks, &mut attrs, self.conv.as_ref(), warnings).await?;
            validate(&hooks, &attrs, self.conv.as_ref(), warnings).await?;
            let deleted = {
                let mut cluster = self.shared.lock();
                let seen = meta_str(&old, "resourceVersion");
                let now = cluster
                    .store
                    .peek(&self.rt_store.storage_key(), self.ns(), &self.name)
                    .map(|o| o.meta_str("resourceVersion").to_string());
                if now.as_deref().is_some_and(|rv| rv != seen) {
                    // Changed while the webhooks looked at it: admit the current state.
                    continue;
                }
                let deleted = cluster.delete(&self.rt_store, self.ns(), &self.name, opts)?;
                Self::after_write(&mut cluster);
                deleted
            };
            return Ok(match deleted {
                Deleted::Pending(obj) => Deleted::Pending(self.shown(obj).await?),
                gone => gone,
            });
        }
        Err(ApiError::conflict(
            &self.rt.group,
            &self.rt.plural,
            &self.name,
        ))
    }
}
