//! CRD version conversion as kube-apiserver's apiextensions server does it: `None` only
//! rewrites `apiVersion`; `Webhook` sends a ConversionReview to the CRD's
//! `spec.conversion.webhook.clientConfig` and keeps the converted objects' metadata as it was
//! (only labels and annotations may change). Objects are stored at the CRD's storage
//! version; requests at another served version are converted on the way in and out.

use std::time::Duration;

use serde_json::{Value, json};

use crate::objects::Cluster;
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::webhook_client;

/// kube-apiserver's fixed timeout for conversion webhook calls.
const CONVERSION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Strategy {
    None,
    Webhook {
        client_config: Value,
        review_version: Option<String>,
    },
}

/// How the objects of one CRD convert between its versions.
#[derive(Debug, Clone)]
pub(crate) struct Converter {
    group: String,
    kind: String,
    storage_version: String,
    strategy: Strategy,
    endpoint: Option<crate::WebhookEndpoint>,
}

impl Converter {
    /// The converter of a custom resource type (`None` for built-ins and unknown CRDs).
    pub fn for_type(
        cluster: &Cluster,
        rt: &ResourceType,
        endpoint: Option<&crate::WebhookEndpoint>,
    ) -> Option<Converter> {
        let crd_name = rt.crd_name.as_deref()?;
        let crd = cluster.store.get(
            &(
                "apiextensions.k8s.io".to_string(),
                "customresourcedefinitions".to_string(),
            ),
            "",
            crd_name,
        )?;
        let storage_version = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .and_then(|v| v.get("name").and_then(Value::as_str))?
            .to_string();
        let strategy = match crd
            .pointer("/spec/conversion/strategy")
            .and_then(Value::as_str)
        {
            Some("Webhook") => {
                let webhook = crd
                    .pointer("/spec/conversion/webhook")
                    .cloned()
                    .unwrap_or_default();
                let versions: Vec<&str> = webhook
                    .get("conversionReviewVersions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                Strategy::Webhook {
                    client_config: webhook.get("clientConfig").cloned().unwrap_or_default(),
                    review_version: versions
                        .into_iter()
                        .find(|v| *v == "v1" || *v == "v1beta1")
                        .map(String::from),
                }
            }
            _ => Strategy::None,
        };
        Some(Converter {
            group: rt.group.clone(),
            kind: rt.kind.clone(),
            storage_version,
            strategy,
            endpoint: endpoint.cloned(),
        })
    }

    pub fn storage_version(&self) -> &str {
        &self.storage_version
    }

    /// Whether requests at `version` need a webhook call to reach the stored objects.
    pub fn is_webhook_for(&self, version: &str) -> bool {
        matches!(self.strategy, Strategy::Webhook { .. }) && version != self.storage_version
    }

    fn api_version(&self, version: &str) -> String {
        format!("{}/{version}", self.group)
    }

    /// Converts `objects` to `version`; objects already there are left alone.
    pub async fn convert(
        &self,
        mut objects: Vec<Value>,
        version: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let desired = self.api_version(version);
        let pending: Vec<usize> = (0..objects.len())
            .filter(|&i| objects[i].get("apiVersion").and_then(Value::as_str) != Some(&desired))
            .collect();
        if pending.is_empty() {
            return Ok(objects);
        }
        let Strategy::Webhook {
            client_config,
            review_version,
        } = &self.strategy
        else {
            for i in pending {
                objects[i]["apiVersion"] = json!(desired);
            }
            return Ok(objects);
        };
        let from = objects[pending[0]]
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let failed = |reason: String| {
            ApiError::new(
                500,
                "",
                format!(
                    "conversion webhook for {from}, Kind={} failed: {reason}",
                    self.kind
                ),
            )
        };
        let Some(review_version) = review_version else {
            return Err(failed(
                "none of the conversionReviewVersions is supported (v1, v1beta1)".into(),
            ));
        };
        let dest = webhook_client::destination(client_config, self.endpoint.as_ref())
            .map_err(|e| failed(e.clone()))?;
        let uid = uuid::Uuid::new_v4().to_string();
        let review_api = format!("apiextensions.k8s.io/{review_version}");
        let sent: Vec<Value> = pending.iter().map(|&i| objects[i].clone()).collect();
        let review = json!({
            "apiVersion": review_api,
            "kind": "ConversionReview",
            "request": { "uid": uid, "desiredAPIVersion": desired, "objects": sent },
        });
        let answer = webhook_client::post(&dest, &review, CONVERSION_TIMEOUT)
            .await
            .map_err(failed)?;
        if answer.get("apiVersion").and_then(Value::as_str) != Some(&review_api)
            || answer.get("kind").and_then(Value::as_str) != Some("ConversionReview")
        {
            return Err(failed(format!(
                "expected webhook response of {review_api}, Kind=ConversionReview, got {}, Kind={}",
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
            return Err(failed("no response provided".into()));
        };
        let got_uid = response
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if got_uid != uid {
            return Err(failed(format!(
                "expected response.uid=\"{uid}\", got \"{got_uid}\""
            )));
        }
        let result = response.get("result").cloned().unwrap_or_default();
        let status = result
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if status != "Success" {
            let message = result
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(failed(if message.is_empty() {
                format!("response.result.status was '{status}', not 'Success'")
            } else {
                message.to_string()
            }));
        }
        let converted = response
            .get("convertedObjects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if converted.len() != pending.len() {
            return Err(ApiError::new(
                500,
                "",
                format!(
                    "conversion webhook for {from}, Kind={} returned {} objects, expected {}",
                    self.kind,
                    converted.len(),
                    pending.len()
                ),
            ));
        }
        for (i, mut out) in pending.into_iter().zip(converted) {
            if out.get("apiVersion").and_then(Value::as_str) != Some(&desired) {
                return Err(ApiError::new(
                    500,
                    "",
                    format!(
                        "conversion webhook for {from}, Kind={} returned invalid converted object at index {i}: invalid apiVersion \"{}\", desired was \"{desired}\"",
                        self.kind,
                        out.get("apiVersion")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    ),
                ));
            }
            restore_metadata(&objects[i], &mut out);
            objects[i] = out;
        }
        Ok(objects)
    }

    /// Converts one object to `version`.
    pub async fn convert_one(&self, obj: Value, version: &str) -> Result<Value, ApiError> {
        Ok(self
            .convert(vec![obj], version)
            .await?
            .into_iter()
            .next()
            .unwrap_or_default())
    }
}

/// kube-apiserver keeps the original metadata of a converted object, except labels and
/// annotations, which a webhook may change.
fn restore_metadata(original: &Value, converted: &mut Value) {
    let mut meta = original
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    for field in ["labels", "annotations"] {
        match converted.pointer(&format!("/metadata/{field}")) {
            Some(v) => meta[field] = v.clone(),
            None => {
                if let Value::Object(m) = &mut meta {
                    m.remove(field);
                }
            }
        }
    }
    if converted.is_object() {
        converted["metadata"] = meta;
    }
}

/// A GET, list or watch at a version that needs the conversion webhook: served from the
/// storage version by the usual path, each object converted on the way out (a list in one
/// ConversionReview, a watch event by event).
pub(crate) async fn serve_read(
    shared: &std::sync::Arc<crate::server::Shared>,
    parts: &http::request::Parts,
    params: &crate::server::Params,
    conv: &Converter,
    rt: &ResourceType,
    watching: bool,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match read(shared, parts, params, conv, rt, watching).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn read(
    shared: &std::sync::Arc<crate::server::Shared>,
    parts: &http::request::Parts,
    params: &crate::server::Params,
    conv: &Converter,
    rt: &ResourceType,
    watching: bool,
) -> Result<axum::response::Response, ApiError> {
    use crate::server::Representation;
    let rep = crate::server::negotiate(&parts.headers, params)?;
    // The same request at the storage version, asking for plain objects.
    let prefix = format!("/apis/{}/{}/", rt.group, rt.version);
    let path = parts.uri.path();
    let Some(tail) = path.strip_prefix(&prefix) else {
        return Err(ApiError::unknown_path());
    };
    let mut uri = format!("/apis/{}/{}/{tail}", rt.group, conv.storage_version());
    if let Some(q) = parts.uri.query() {
        uri.push('?');
        uri.push_str(q);
    }
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(uri);
    for (k, v) in &parts.headers {
        if k != http::header::ACCEPT {
            builder = builder.header(k, v);
        }
    }
    let (inner, ()) = builder
        .header(http::header::ACCEPT, "application/json")
        .body(())
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .into_parts();
    let response = crate::server::route(shared, &inner, bytes::Bytes::new())?;
    if !response.status().is_success() {
        return Ok(response);
    }
    if watching {
        return Ok(watch(response, conv.clone(), rt.clone(), rep));
    }
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut v: Value =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
    let is_list = v.get("items").is_some();
    if is_list {
        let items = v["items"].as_array().cloned().unwrap_or_default();
        let converted = conv.convert(items, &rt.version).await?;
        v["items"] = Value::Array(
            converted
                .iter()
                .map(|o| crate::objects::present(rt, o))
                .collect(),
        );
        v["apiVersion"] = json!(rt.api_version());
    } else {
        v = crate::objects::present(rt, &conv.convert_one(v, &rt.version).await?);
    }
    if let Representation::Json = rep {
        return crate::server::ok_json(http::StatusCode::OK, &v);
    }
    crate::server::respond_objects(&rep, rt, v, is_list)
}

/// Converts the events of a storage-version watch stream to `rt`'s version and view.
fn watch(
    response: axum::response::Response,
    conv: Converter,
    rt: ResourceType,
    rep: crate::server::Representation,
) -> axum::response::Response {
    use futures::StreamExt as _;
    let mut headers = response.headers().clone();
    headers.remove(http::header::CONTENT_LENGTH);
    let upstream = response.into_body().into_data_stream();
    let state = (upstream, Vec::<u8>::new(), conv, rt, rep, false);
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.5 {
                return None;
            }
            if let Some(pos) = st.1.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = st.1.drain(..=pos).collect();
                let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let (out, end) = convert_event(event, &st.2, &st.3, &st.4).await;
                st.5 = end;
                let mut bytes = serde_json::to_vec(&out).unwrap_or_default();
                bytes.push(b'\n');
                return Some((
                    Ok::<_, std::convert::Infallible>(bytes::Bytes::from(bytes)),
                    st,
                ));
            }
            match st.0.next().await {
                Some(Ok(chunk)) => st.1.extend_from_slice(&chunk),
                _ => return None,
            }
        }
    });
    let mut out = axum::response::Response::new(axum::body::Body::from_stream(stream));
    *out.headers_mut() = headers;
    out
}

/// One watch event at the storage version, as the watcher of `rt` sees it; a conversion
/// failure ends the watch with an ERROR event.
async fn convert_event(
    mut event: Value,
    conv: &Converter,
    rt: &ResourceType,
    rep: &crate::server::Representation,
) -> (Value, bool) {
    use crate::server::Representation;
    let type_ = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match type_.as_str() {
        "ADDED" | "MODIFIED" | "DELETED" => {}
        "BOOKMARK" => {
            event["object"]["apiVersion"] = json!(rt.api_version());
            return (event, false);
        }
        _ => return (event, false),
    }
    let obj = event.get("object").cloned().unwrap_or_default();
    let obj = match conv.convert_one(obj, &rt.version).await {
        Ok(o) => crate::objects::present(rt, &o),
        Err(e) => return (json!({ "type": "ERROR", "object": e.to_json() }), true),
    };
    let object = match rep {
        Representation::Json => obj,
        Representation::Table(opts) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or_default();
            crate::table::table(
                rt,
                std::slice::from_ref(&obj),
                opts,
                json!({ "resourceVersion": rv }),
            )
        }
        Representation::Metadata(api_version) => crate::table::partial_metadata(&obj, api_version),
    };
    (json!({ "type": type_, "object": object }), false)
}

/// apiextensions validation of `spec.conversion`: the strategy, and a webhook exactly when
/// the strategy is `Webhook`, with a review version the server speaks. Errors are
/// (field, cause reason, message).
pub(crate) fn validate_crd_conversion(
    conversion: &Value,
) -> Result<(), (&'static str, &'static str, String)> {
    let webhook = conversion.get("webhook").filter(|w| !w.is_null());
    match conversion.get("strategy").and_then(Value::as_str) {
        Some("None") if webhook.is_some() => Err((
            "spec.conversion.webhook",
            "FieldValueForbidden",
            "Forbidden: should not be set when strategy is not set to Webhook".into(),
        )),
        Some("None") => Ok(()),
        Some("Webhook") => {
            let Some(webhook) = webhook.filter(|w| w.get("clientConfig").is_some()) else {
                return Err((
                    "spec.conversion.webhook",
                    "FieldValueRequired",
                    "Required value: required when strategy is set to Webhook".into(),
                ));
            };
            let versions = webhook
                .get("conversionReviewVersions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !versions.iter().any(|v| v == "v1" || v == "v1beta1") {
                return Err((
                    "spec.conversion.webhook.conversionReviewVersions",
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: {}: must include at least one of v1, v1beta1",
                        Value::Array(versions)
                    ),
                ));
            }
            Ok(())
        }
        other => Err((
            "spec.conversion.strategy",
            "FieldValueNotSupported",
            format!(
                "Unsupported value: \"{}\": supported values: \"None\", \"Webhook\"",
                other.unwrap_or_default()
            ),
        )),
    }
}
