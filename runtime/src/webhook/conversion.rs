//! Conversion webhooks: [`Convertible`] spokes convert to and from their hub (controller-runtime's
//! `conversion.Convertible` and `Hub`), and `/convert` answers `ConversionReview`s with them.

use std::collections::BTreeMap;
use std::sync::RwLock;

use http::StatusCode;
use kube::Resource;
use kube::core::Status;
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A spoke version of a kind that converts to and from the hub, the version every other one
/// converts through (usually the storage version). Conversion between two spokes goes
/// spoke → hub → spoke.
///
/// Copy `metadata` over in both directions (the API server refuses conversions that change
/// it except for labels and annotations; the webhook keeps the request's metadata when a
/// conversion leaves it empty).
///
/// ```
/// use kubesmith_runtime::webhook::{ConversionError, Convertible};
/// # mod v1 { #[derive(Clone, Default, serde::Serialize, serde::Deserialize)] pub struct Memcached { pub metadata: kube::api::ObjectMeta, pub replicas: i32 } }
/// # mod v1alpha1 { #[derive(Clone, Default, serde::Serialize, serde::Deserialize)] pub struct Memcached { pub metadata: kube::api::ObjectMeta, pub size: i32 } }
///
/// impl Convertible<v1::Memcached> for v1alpha1::Memcached {
///     fn convert_to(&self) -> Result<v1::Memcached, ConversionError> {
///         Ok(v1::Memcached { metadata: self.metadata.clone(), replicas: self.size })
///     }
///     fn convert_from(hub: &v1::Memcached) -> Result<Self, ConversionError> {
///         if hub.replicas < 0 {
///             return Err(ConversionError::new("spec.replicas must not be negative"));
///         }
///         Ok(Self { metadata: hub.metadata.clone(), size: hub.replicas })
///     }
/// }
/// ```
pub trait Convertible<Hub>: Sized {
    /// Converts this spoke to the hub version.
    fn convert_to(&self) -> Result<Hub, ConversionError>;
    /// Converts the hub version to this spoke.
    fn convert_from(hub: &Hub) -> Result<Self, ConversionError>;
}

/// Why an object could not be converted; answered as a `Failure` with this message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConversionError {
    message: String,
}

impl ConversionError {
    /// A conversion failure saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl From<serde_json::Error> for ConversionError {
    fn from(err: serde_json::Error) -> Self {
        Self::new(err.to_string())
    }
}

/// Converts one version's JSON to or from the hub's JSON.
type Convert = fn(&Value) -> Result<Value, ConversionError>;

/// How one version converts: identity for the hub.
#[derive(Clone, Copy)]
pub(crate) struct Version {
    role: &'static str,
    to_hub: Convert,
    from_hub: Convert,
}

impl Version {
    /// The hub `H` itself.
    pub(crate) fn hub<H: Resource<DynamicType = ()>>() -> (String, Self) {
        (
            H::version(&()).into_owned(),
            Self {
                role: "hub",
                to_hub: |v| Ok(v.clone()),
                from_hub: |v| Ok(v.clone()),
            },
        )
    }

    /// The spoke `S` of hub `H`.
    pub(crate) fn spoke<H, S>() -> (String, Self)
    where
        H: Serialize + DeserializeOwned,
        S: Convertible<H> + Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        (
            S::version(&()).into_owned(),
            Self {
                role: "spoke",
                to_hub: |v| {
                    let spoke: S = decode(v)?;
                    Ok(serde_json::to_value(spoke.convert_to()?)?)
                },
                from_hub: |v| {
                    let hub: H = decode(v)?;
                    Ok(serde_json::to_value(S::convert_from(&hub)?)?)
                },
            },
        )
    }
}

fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, ConversionError> {
    T::deserialize(value).map_err(|err| {
        ConversionError::new(format!(
            "cannot decode {} {:?}: {err}",
            value["apiVersion"].as_str().unwrap_or_default(),
            value["metadata"]["name"].as_str().unwrap_or_default()
        ))
    })
}

/// The versions of one kind.
struct Kind {
    hub: String,
    versions: BTreeMap<String, Version>,
}

/// Every convertible kind of a manager, by (group, kind).
#[derive(Default)]
pub(crate) struct Registry {
    kinds: RwLock<BTreeMap<(String, String), Kind>>,
}

impl Registry {
    /// Adds hub `hub` and its `spokes` of `group`/`kind`; merges with an earlier registration
    /// of the same hub. The error says what is wrong.
    pub(crate) fn register(
        &self,
        group: &str,
        kind: &str,
        hub: (String, Version),
        spokes: Vec<(String, Version)>,
    ) -> Result<(), String> {
        let mut kinds = self.kinds.write().unwrap_or_else(|e| e.into_inner());
        let key = (group.to_owned(), kind.to_owned());
        if let Some(existing) = kinds.get(&key)
            && existing.hub != hub.0
        {
            return Err(format!(
                "{kind}.{group} already converts through hub version {}; a kind has one hub",
                existing.hub
            ));
        }
        let mut versions = kinds
            .get(&key)
            .map(|k| k.versions.clone())
            .unwrap_or_default();
        versions.insert(hub.0.clone(), hub.1);
        for (version, spoke) in spokes {
            if versions.insert(version.clone(), spoke).is_some() {
                return Err(format!(
                    "version {version} of {kind}.{group} is already registered for conversion"
                ));
            }
        }
        kinds.insert(
            key,
            Kind {
                hub: hub.0,
                versions,
            },
        );
        Ok(())
    }

    /// Answers a `ConversionReview` body. A body that is not a `ConversionReview` is
    /// answered with 400.
    pub(crate) fn answer(&self, body: &[u8]) -> (StatusCode, Vec<u8>) {
        let review: ConversionReview = match serde_json::from_slice(body) {
            Ok(review) => review,
            Err(err) => {
                return bad_request(&format!("request body is not a ConversionReview: {err}"));
            }
        };
        if review.types.kind != "ConversionReview" {
            return bad_request(&format!(
                "request body is a {:?}, expected a ConversionReview (apiextensions.k8s.io/v1)",
                review.types.kind
            ));
        }
        let request = match ConversionRequest::try_from(review) {
            Ok(request) => request,
            Err(err) => {
                return bad_request(&format!("request body is not a ConversionReview: {err}"));
            }
        };
        let converted: Result<Vec<Value>, ConversionError> = request
            .objects
            .iter()
            .map(|obj| self.convert(obj, &request.desired_api_version))
            .collect();
        let desired = request.desired_api_version.clone();
        let response = ConversionResponse::for_request(request);
        let response = match converted {
            Ok(objects) => response.success(objects),
            Err(err) => {
                tracing::debug!(error = %err, %desired, "conversion webhook: conversion failed");
                response.failure(Status::failure(&err.to_string(), ""))
            }
        };
        match serde_json::to_vec(&response.into_review()) {
            Ok(json) => (StatusCode::OK, json),
            Err(err) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot serialize the ConversionReview response: {err}").into_bytes(),
            ),
        }
    }

    /// Converts `obj` to `desired` (`group/version`) through the hub.
    fn convert(&self, obj: &Value, desired: &str) -> Result<Value, ConversionError> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        if api_version.is_empty() || kind.is_empty() {
            return Err(ConversionError::new(format!(
                "object {:?} has no apiVersion or kind",
                obj["metadata"]["name"].as_str().unwrap_or_default()
            )));
        }
        let (group, version) = split_api_version(api_version);
        let (desired_group, desired_version) = split_api_version(desired);
        if group != desired_group {
            return Err(ConversionError::new(format!(
                "cannot convert {kind} from group {group:?} to {desired:?}: conversion stays within a group"
            )));
        }
        let kinds = read(&self.kinds);
        let Some(registered) = kinds.get(&(group.to_owned(), kind.to_owned())) else {
            let known: Vec<String> = kinds.keys().map(|(g, k)| format!("{k}.{g}")).collect();
            return Err(ConversionError::new(format!(
                "no conversion is registered for {kind}.{group}; registered kinds: {}",
                list_or_none(&known)
            )));
        };
        let version_of = |v: &str| {
            registered.versions.get(v).ok_or_else(|| {
                let known: Vec<String> = registered
                    .versions
                    .iter()
                    .map(|(name, version)| format!("{name} ({})", version.role))
                    .collect();
                ConversionError::new(format!(
                    "version {v:?} of {kind}.{group} is not registered for conversion; registered versions: {}",
                    known.join(", ")
                ))
            })
        };
        let source = version_of(version)?;
        let target = version_of(desired_version)?;
        if version == desired_version {
            return Ok(obj.clone());
        }
        let hub = (source.to_hub)(obj)?;
        let mut converted = (target.from_hub)(&hub)?;
        let Some(fields) = converted.as_object_mut() else {
            return Err(ConversionError::new(format!(
                "converting {kind} to {desired} gave {converted}, not an object"
            )));
        };
        fields.insert("apiVersion".to_owned(), Value::from(desired));
        fields.insert("kind".to_owned(), Value::from(kind));
        let metadata = keep_metadata(&obj["metadata"], fields.get("metadata"));
        fields.insert("metadata".to_owned(), metadata);
        Ok(converted)
    }
}

/// The converted object's metadata: the request's, with the labels and annotations the
/// conversion set (a conversion may only change those). A conversion that left the metadata
/// empty (did not copy it) gets the request's unchanged.
fn keep_metadata(source: &Value, converted: Option<&Value>) -> Value {
    let mut metadata = source.clone();
    let Some(converted) = converted
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    else {
        return metadata;
    };
    if let Some(fields) = metadata.as_object_mut() {
        for key in ["labels", "annotations"] {
            match converted.get(key) {
                Some(value) if !value.is_null() => {
                    fields.insert(key.to_owned(), value.clone());
                }
                _ => {
                    fields.remove(key);
                }
            }
        }
    }
    metadata
}

/// `("cache.example.com", "v1")` from `cache.example.com/v1`; `("", "v1")` from `v1`.
fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

pub(crate) fn bad_request(message: &str) -> (StatusCode, Vec<u8>) {
    tracing::debug!(%message, "conversion webhook: bad ConversionReview");
    let response =
        ConversionResponse::invalid(Status::failure(message, "BadRequest").with_code(400));
    let json = serde_json::to_vec(&response.into_review()).unwrap_or_default();
    (StatusCode::BAD_REQUEST, json)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_is_kept_except_labels_and_annotations() {
        let source = json!({"name": "a", "uid": "1", "labels": {"x": "1"}});
        assert_eq!(keep_metadata(&source, None), source);
        assert_eq!(keep_metadata(&source, Some(&json!({}))), source);
        assert_eq!(
            keep_metadata(
                &source,
                Some(&json!({"name": "b", "annotations": {"stash": "2"}}))
            ),
            json!({"name": "a", "uid": "1", "annotations": {"stash": "2"}})
        );
    }

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(
            split_api_version("cache.example.com/v1"),
            ("cache.example.com", "v1")
        );
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }

    #[test]
    fn unknown_kinds_and_bodies_are_failures() {
        let registry = Registry::default();
        let (code, _) = registry.answer(b"{");
        assert_eq!(code, StatusCode::BAD_REQUEST);
        let err = registry
            .convert(&json!({"apiVersion": "a.io/v1", "kind": "K"}), "a.io/v2")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("no conversion is registered for K.a.io"),
            "{err}"
        );
    }
}
