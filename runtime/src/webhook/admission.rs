//! Admission webhooks: [`Defaulter`] and [`Validator`] (controller-runtime's `CustomDefaulter`
//! and `CustomValidator`), and how an `AdmissionReview` is answered with them.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use futures::future::BoxFuture;
use http::StatusCode;
use kube::Resource;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::response::{StatusCause, StatusDetails};
use kube::core::{DynamicObject, GroupVersionKind, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Messages for the client that made the API request, shown by `kubectl` as `Warning: ...`.
pub type Warnings = Vec<String>;

/// Sets defaults on an object before it is stored: controller-runtime's `CustomDefaulter`.
///
/// Mutate `obj`; the webhook answers with the JSON patch from the object the API server sent to
/// the mutated one (no patch when nothing changed). An `Err` denies the request.
///
/// ```
/// use kubesmith_runtime::webhook::{AdmissionError, Defaulter};
/// use k8s_openapi::api::core::v1::ConfigMap;
///
/// struct ColorDefaulter;
///
/// impl Defaulter<ConfigMap> for ColorDefaulter {
///     async fn default(&self, cm: &mut ConfigMap) -> Result<(), AdmissionError> {
///         cm.data.get_or_insert_default().entry("color".into()).or_insert_with(|| "blue".into());
///         Ok(())
///     }
/// }
/// ```
///
/// A type that also implements `Default` needs `<T as Default>::default()` where both traits
/// are in scope (they share the name `default`).
pub trait Defaulter<K>: Send + Sync + 'static {
    /// Sets the defaults on `obj`. Called for CREATE and UPDATE requests.
    fn default(&self, obj: &mut K) -> impl Future<Output = Result<(), AdmissionError>> + Send;
}

/// Admits or denies changes to objects: controller-runtime's `CustomValidator`.
///
/// `Ok(warnings)` admits (the warnings reach the client); `Err` denies with the error's
/// message, code and field causes.
///
/// ```
/// use kubesmith_runtime::webhook::{AdmissionError, Validator, Warnings};
/// use k8s_openapi::api::core::v1::ConfigMap;
///
/// struct ImmutableColor;
///
/// impl Validator<ConfigMap> for ImmutableColor {
///     async fn validate_create(&self, _cm: &ConfigMap) -> Result<Warnings, AdmissionError> {
///         Ok(Warnings::new())
///     }
///     async fn validate_update(&self, old: &ConfigMap, new: &ConfigMap) -> Result<Warnings, AdmissionError> {
///         let color = |cm: &ConfigMap| cm.data.as_ref().and_then(|d| d.get("color").cloned());
///         if color(old) != color(new) {
///             return Err(AdmissionError::invalid("data.color", "is immutable"));
///         }
///         Ok(Warnings::new())
///     }
///     async fn validate_delete(&self, _cm: &ConfigMap) -> Result<Warnings, AdmissionError> {
///         Ok(vec!["deleting a colored config map".into()])
///     }
/// }
/// ```
pub trait Validator<K>: Send + Sync + 'static {
    /// Validates a new object.
    fn validate_create(
        &self,
        obj: &K,
    ) -> impl Future<Output = Result<Warnings, AdmissionError>> + Send;
    /// Validates a change from `old` to `new`.
    fn validate_update(
        &self,
        old: &K,
        new: &K,
    ) -> impl Future<Output = Result<Warnings, AdmissionError>> + Send;
    /// Validates the deletion of `obj` (the object as stored, the request's `oldObject`).
    fn validate_delete(
        &self,
        obj: &K,
    ) -> impl Future<Output = Result<Warnings, AdmissionError>> + Send;
}

/// The reason of a field cause made by [`AdmissionError::invalid`] and
/// [`AdmissionError::with_cause`] (apimachinery's `field.ErrorTypeInvalid`).
const FIELD_VALUE_INVALID: &str = "FieldValueInvalid";

/// Why a request is denied: a message, an HTTP code and field causes, answered as the
/// `status` of the `AdmissionResponse` (the API server passes it on to the client).
///
/// ```
/// use kubesmith_runtime::webhook::AdmissionError;
///
/// let err = AdmissionError::forbidden("memcacheds may not be created in kube-system");
/// assert_eq!(err.code(), 403);
///
/// let err = AdmissionError::invalid("spec.size", "must be between 1 and 10")
///     .with_cause("spec.image", "must not be empty");
/// assert_eq!(err.code(), 422);
/// assert_eq!(err.to_string(), "[spec.size: must be between 1 and 10, spec.image: must not be empty]");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionError {
    /// Set by `forbidden`; `invalid` errors describe their causes instead.
    message: Option<String>,
    code: u16,
    reason: String,
    causes: Vec<StatusCause>,
    warnings: Warnings,
}

impl AdmissionError {
    /// A denial with `message`, code 403 (reason `Forbidden`): controller-runtime's
    /// `admission.Denied`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            code: 403,
            reason: "Forbidden".to_owned(),
            causes: Vec::new(),
            warnings: Warnings::new(),
        }
    }

    /// An invalid object: code 422 (reason `Invalid`) with one field cause, as apimachinery's
    /// `NewInvalid`. The message names the object: `Memcached.cache.example.com "foo" is
    /// invalid: spec.size: must be between 1 and 10`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: None,
            code: 422,
            reason: "Invalid".to_owned(),
            causes: Vec::new(),
            warnings: Warnings::new(),
        }
        .with_cause(field, message)
    }

    /// Adds a field cause (reason `FieldValueInvalid`), shown in `status.details.causes`.
    pub fn with_cause(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.causes.push(StatusCause {
            reason: FIELD_VALUE_INVALID.to_owned(),
            message: message.into(),
            field: field.into(),
        });
        self
    }

    /// Adds a warning returned with the denial (controller-runtime returns a validator's
    /// warnings with its error).
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// The HTTP code of the denial: 403 for [`forbidden`](Self::forbidden), 422 for
    /// [`invalid`](Self::invalid).
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The status the API server passes on to the client, naming `name` of `kind` as
    /// apimachinery's `NewInvalid` does.
    fn to_status(&self, kind: &GroupVersionKind, name: &str) -> Status {
        let message = match &self.message {
            Some(message) => message.clone(),
            None => format!("{} {name:?} is invalid: {self}", qualified_kind(kind)),
        };
        let details = (!self.causes.is_empty()).then(|| StatusDetails {
            name: name.to_owned(),
            group: kind.group.clone(),
            kind: kind.kind.clone(),
            uid: String::new(),
            causes: self.causes.clone(),
            retry_after_seconds: 0,
        });
        Status {
            details,
            ..Status::failure(&message, &self.reason).with_code(self.code)
        }
    }
}

impl fmt::Display for AdmissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(message) = &self.message {
            return f.write_str(message);
        }
        let causes: Vec<String> = self
            .causes
            .iter()
            .map(|cause| format!("{}: {}", cause.field, cause.message))
            .collect();
        match causes.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

impl std::error::Error for AdmissionError {}

/// A validator that calls the API server can return its errors with `?`: an API error keeps
/// its code and message, any other is a 403 denial with the error's text.
impl From<kube::Error> for AdmissionError {
    fn from(err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => Self {
                message: Some(status.message.clone()),
                code: status.code,
                reason: status.reason.clone(),
                causes: status.details.map(|d| d.causes).unwrap_or_default(),
                warnings: Warnings::new(),
            },
            other => Self::forbidden(other.to_string()),
        }
    }
}

/// `Memcached.cache.example.com`, or just `Pod` for the core group (apimachinery's
/// `GroupKind.String`).
fn qualified_kind(kind: &GroupVersionKind) -> String {
    if kind.group.is_empty() {
        kind.kind.clone()
    } else {
        format!("{}.{}", kind.kind, kind.group)
    }
}

/// Answers the `AdmissionReview`s of one webhook path.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle<'a>(&'a self, review: Review) -> BoxFuture<'a, AdmissionResponse>;
}

/// A parsed `AdmissionReview` request with its objects kept as the API server sent them, so
/// a defaulting patch is computed against exactly those bytes.
pub(crate) struct Review {
    pub(crate) request: AdmissionRequest<DynamicObject>,
    pub(crate) object: Option<Value>,
    pub(crate) old_object: Option<Value>,
}

/// The answer to a request body: the HTTP status and the JSON body.
pub(crate) type Answer = (StatusCode, Vec<u8>);

/// Answers an `AdmissionReview` body with `handler`. A body that is not an `AdmissionReview`
/// is answered with 400 and a review whose response says why.
pub(crate) async fn answer(handler: &dyn Handler, body: &[u8]) -> Answer {
    let review = match parse(body) {
        Ok(review) => review,
        Err(message) => {
            tracing::debug!(%message, "webhook: bad AdmissionReview");
            return bad_request(&message);
        }
    };
    let mut response = handler.handle(review).await;
    // kube's type writes the patch as an array of numbers; the API's `[]byte` is base64, as
    // Go (and so controller-runtime) writes it.
    let patch = response.patch.take();
    let json = serde_json::to_value(response.into_review()).and_then(|mut review| {
        if let (Some(patch), Some(response)) = (patch, review.get_mut("response")) {
            response["patch"] = Value::from(BASE64_STANDARD.encode(patch));
        }
        serde_json::to_vec(&review)
    });
    match json {
        Ok(json) => (StatusCode::OK, json),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialize the AdmissionReview response: {err}").into_bytes(),
        ),
    }
}

/// A 400 answer with an `AdmissionReview` that denies with `message` (there is no request
/// uid to copy).
pub(crate) fn bad_request(message: &str) -> Answer {
    let mut response = AdmissionResponse::invalid(message);
    response.result.code = 400;
    response.result.reason = "BadRequest".to_owned();
    let json = serde_json::to_vec(&response.into_review()).unwrap_or_default();
    (StatusCode::BAD_REQUEST, json)
}

fn parse(body: &[u8]) -> Result<Review, String> {
    if body.is_empty() {
        return Err("request body is empty".to_owned());
    }
    let mut value: Value =
        serde_json::from_slice(body).map_err(|err| format!("request body is not JSON: {err}"))?;
    // The objects are decoded into the webhook's type later, so that one that does not fit
    // is denied with the request's uid rather than failing the whole review.
    let (object, old_object) = match value.get_mut("request").and_then(Value::as_object_mut) {
        Some(request) => (
            request.remove("object").filter(|v| !v.is_null()),
            request.remove("oldObject").filter(|v| !v.is_null()),
        ),
        None => return Err("request body is not an AdmissionReview: it has no request".into()),
    };
    let review: AdmissionReview<DynamicObject> = serde_json::from_value(value)
        .map_err(|err| format!("request body is not an AdmissionReview: {err}"))?;
    let kind = &review.types.kind;
    if kind != "AdmissionReview" {
        return Err(format!(
            "request body is a {kind:?}, expected an AdmissionReview (admission.k8s.io/v1)"
        ));
    }
    let request: AdmissionRequest<DynamicObject> = review
        .try_into()
        .map_err(|_| "request body is not an AdmissionReview: it has no request".to_owned())?;
    Ok(Review {
        request,
        object,
        old_object,
    })
}

/// controller-runtime's `admission.Allowed("")`.
fn allowed(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    response.result = Status {
        code: 200,
        ..Status::default()
    };
    response
}

/// controller-runtime's `admission.Errored(code, err)`.
fn errored(
    request: &AdmissionRequest<DynamicObject>,
    code: u16,
    message: String,
) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    response.allowed = false;
    response.result = Status {
        code,
        message,
        ..Status::default()
    };
    response
}

fn denied(request: &AdmissionRequest<DynamicObject>, err: AdmissionError) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    response.allowed = false;
    response.result = err.to_status(&request.kind, &request.name);
    if !err.warnings.is_empty() {
        response.warnings = Some(err.warnings);
    }
    response
}

/// Decodes one of the request's objects into `K`; the error is the denial message.
fn decode<K: Resource<DynamicType = ()> + DeserializeOwned>(
    raw: Option<&Value>,
    which: &str,
) -> Result<K, String> {
    let Some(raw) = raw else {
        return Err(missing::<K>(which));
    };
    serde_json::from_value(raw.clone()).map_err(|err| {
        format!(
            "cannot decode the request's {which} as {}: {err}",
            type_name::<K>()
        )
    })
}

fn missing<K: Resource<DynamicType = ()>>(which: &str) -> String {
    format!(
        "the AdmissionReview request has no {which}, which a {} webhook needs",
        K::kind(&())
    )
}

/// `Memcached.cache.example.com/v1alpha1`.
pub(crate) fn type_name<K: Resource<DynamicType = ()>>() -> String {
    let kind = GroupVersionKind::gvk(&K::group(&()), &K::version(&()), &K::kind(&()));
    format!("{}/{}", qualified_kind(&kind), kind.version)
}

/// Serves a [`Defaulter`].
pub(crate) struct DefaulterHandler<K, D> {
    pub(crate) defaulter: D,
    pub(crate) _kind: PhantomData<fn() -> K>,
}

impl<K, D> Handler for DefaulterHandler<K, D>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
    D: Defaulter<K>,
{
    fn handle<'a>(&'a self, review: Review) -> BoxFuture<'a, AdmissionResponse> {
        Box::pin(async move {
            let request = &review.request;
            // As controller-runtime: nothing to default on DELETE (or CONNECT).
            if matches!(request.operation, Operation::Delete | Operation::Connect) {
                return allowed(request);
            }
            let Some(raw) = review.object.as_ref() else {
                return errored(request, 400, missing::<K>("object"));
            };
            let mut obj: K = match decode(Some(raw), "object") {
                Ok(obj) => obj,
                Err(message) => return errored(request, 400, message),
            };
            let original = serde_json::to_value(&obj);
            if let Err(err) = self.defaulter.default(&mut obj).await {
                return denied(request, err);
            }
            let (original, defaulted) = match (original, serde_json::to_value(&obj)) {
                (Ok(original), Ok(defaulted)) => (original, defaulted),
                (Err(err), _) | (_, Err(err)) => {
                    return errored(
                        request,
                        500,
                        format!("cannot serialize the {}: {err}", type_name::<K>()),
                    );
                }
            };
            let patch = defaulting_patch(raw, &original, &defaulted);
            if patch.0.is_empty() {
                return allowed(request);
            }
            match allowed(request).with_patch(patch) {
                Ok(response) => response,
                Err(err) => errored(request, 500, err.to_string()),
            }
        })
    }
}

/// The patch that turns the object the API server sent (`raw`) into the `defaulted` one,
/// without the changes that only come from decoding into the Rust type and encoding again
/// (`original` is the undefaulted object after that round trip): fields the type does not
/// know, or that it writes differently, are left as they were. controller-runtime drops the
/// round trip's removals the same way (`dropSchemeRemovals`).
pub(crate) fn defaulting_patch(
    raw: &Value,
    original: &Value,
    defaulted: &Value,
) -> json_patch::Patch {
    let round_trip = json_patch::diff(raw, original);
    let mut patch = json_patch::diff(raw, defaulted);
    patch.0.retain(|op| !round_trip.0.contains(op));
    patch
}

/// Serves a [`Validator`].
pub(crate) struct ValidatorHandler<K, V> {
    pub(crate) validator: V,
    pub(crate) _kind: PhantomData<fn() -> K>,
}

impl<K, V> Handler for ValidatorHandler<K, V>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Send + Sync + 'static,
    V: Validator<K>,
{
    fn handle<'a>(&'a self, review: Review) -> BoxFuture<'a, AdmissionResponse> {
        Box::pin(async move {
            let request = &review.request;
            let object = review.object.as_ref();
            let old_object = review.old_object.as_ref();
            let result = match request.operation {
                Operation::Create => match decode::<K>(object, "object") {
                    Ok(obj) => self.validator.validate_create(&obj).await,
                    Err(message) => return errored(request, 400, message),
                },
                Operation::Update => {
                    let new = decode::<K>(object, "object");
                    let old = decode::<K>(old_object, "oldObject");
                    match (old, new) {
                        (Ok(old), Ok(new)) => self.validator.validate_update(&old, &new).await,
                        (Err(message), _) | (_, Err(message)) => {
                            return errored(request, 400, message);
                        }
                    }
                }
                // The object being deleted is the request's oldObject (kubernetes#76346).
                Operation::Delete => match decode::<K>(old_object, "oldObject") {
                    Ok(obj) => self.validator.validate_delete(&obj).await,
                    Err(message) => return errored(request, 400, message),
                },
                Operation::Connect => Ok(Warnings::new()),
            };
            match result {
                Ok(warnings) => {
                    let mut response = allowed(request);
                    if !warnings.is_empty() {
                        response.warnings = Some(warnings);
                    }
                    response
                }
                Err(err) => denied(request, err),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaulting_patch_applies_to_the_raw_object() {
        let raw = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "a"}, "data": {"x": "1"}});
        let mut defaulted = raw.clone();
        defaulted["data"]["color"] = json!("blue");
        let patch = defaulting_patch(&raw, &raw, &defaulted);
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!([{"op": "add", "path": "/data/color", "value": "blue"}])
        );
        let mut applied = raw.clone();
        json_patch::patch(&mut applied, &patch).unwrap();
        assert_eq!(applied, defaulted);
    }

    #[test]
    fn no_change_gives_an_empty_patch() {
        let raw = json!({"metadata": {"name": "a"}, "spec": {"size": 1}});
        assert!(defaulting_patch(&raw, &raw, &raw).0.is_empty());
    }

    #[test]
    fn round_trip_differences_are_not_patched() {
        // The type does not know `spec.legacy` and writes `status: {}` where none was sent.
        let raw = json!({"metadata": {"name": "a"}, "spec": {"size": 1, "legacy": true}});
        let original = json!({"metadata": {"name": "a"}, "spec": {"size": 1}, "status": {}});
        let mut defaulted = original.clone();
        assert!(defaulting_patch(&raw, &original, &defaulted).0.is_empty());

        defaulted["spec"]["size"] = json!(3);
        let patch = defaulting_patch(&raw, &original, &defaulted);
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!([{"op": "replace", "path": "/spec/size", "value": 3}])
        );
        let mut applied = raw.clone();
        json_patch::patch(&mut applied, &patch).unwrap();
        assert_eq!(
            applied,
            json!({"metadata": {"name": "a"}, "spec": {"size": 3, "legacy": true}})
        );
    }

    #[test]
    fn defaults_into_a_missing_parent_add_the_parent() {
        let raw = json!({"metadata": {"name": "a"}});
        let original = json!({"metadata": {"name": "a"}, "spec": {}});
        let defaulted = json!({"metadata": {"name": "a"}, "spec": {"size": 1}});
        let patch = defaulting_patch(&raw, &original, &defaulted);
        let mut applied = raw.clone();
        json_patch::patch(&mut applied, &patch).unwrap();
        assert_eq!(applied, defaulted);
    }

    #[test]
    fn invalid_errors_name_the_object_and_carry_causes() {
        let kind = GroupVersionKind::gvk("cache.example.com", "v1alpha1", "Memcached");
        let status =
            AdmissionError::invalid("spec.size", "must be at most 10").to_status(&kind, "m");
        assert_eq!(status.code, 422);
        assert_eq!(status.reason, "Invalid");
        assert_eq!(
            status.message,
            "Memcached.cache.example.com \"m\" is invalid: spec.size: must be at most 10"
        );
        let details = status.details.unwrap();
        assert_eq!(details.kind, "Memcached");
        assert_eq!(details.causes[0].field, "spec.size");
        assert_eq!(details.causes[0].reason, "FieldValueInvalid");

        let pod = GroupVersionKind::gvk("", "v1", "Pod");
        let status = AdmissionError::forbidden("no").to_status(&pod, "p");
        assert_eq!((status.code, status.message.as_str()), (403, "no"));
        assert!(status.details.is_none());
    }

    #[test]
    fn a_body_that_is_not_a_review_is_a_bad_request() {
        for body in [
            &b""[..],
            b"not json",
            b"{}",
            br#"{"kind":"Pod","request":{}}"#,
        ] {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let (code, json) = bad_request("broken");
        assert_eq!(code, StatusCode::BAD_REQUEST);
        let review: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(review["response"]["allowed"], json!(false));
        assert_eq!(review["response"]["status"]["code"], json!(400));
        assert_eq!(review["response"]["status"]["message"], json!("broken"));
    }
}
