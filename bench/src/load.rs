//! The objects both sides cache: ConfigMaps of about 1 KiB of data, labelled and annotated
//! like an application's, with `managedFields` from two field managers as a real cluster
//! records them (a `kubectl apply` client-side manager and a controller's update).

use std::time::Instant;

use anyhow::{Context as _, Result};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

pub fn name(i: usize) -> String {
    format!("app-config-{i:06}")
}

/// One benchmark object. The data is deterministic so both sides see identical bytes.
pub fn config_map(namespace: &str, i: usize) -> ConfigMap {
    // 8 entries of ~128 bytes: ~1 KiB of data, the size of a typical application config.
    let data = (0..8)
        .map(|k| {
            let value = format!("key{k}=value-{i:06}-{k}-")
                .chars()
                .cycle()
                .take(120)
                .collect::<String>();
            (format!("setting-{k}.properties"), value)
        })
        .collect();
    let time = Time(jiff::Timestamp::from_second(1_750_000_000 + i as i64).unwrap_or_default());
    let managed = |manager: &str, operation: &str, fields: serde_json::Value| ManagedFieldsEntry {
        api_version: Some("v1".into()),
        fields_type: Some("FieldsV1".into()),
        fields_v1: Some(FieldsV1(fields)),
        manager: Some(manager.into()),
        operation: Some(operation.into()),
        time: Some(time.clone()),
        subresource: None,
    };
    let data_fields: serde_json::Map<String, serde_json::Value> = (0..8)
        .map(|k| (format!("f:setting-{k}.properties"), serde_json::json!({})))
        .collect();
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name(i)),
            namespace: Some(namespace.into()),
            labels: Some(
                [
                    (
                        "app.kubernetes.io/name".to_owned(),
                        format!("app-{}", i % 50),
                    ),
                    ("app.kubernetes.io/part-of".to_owned(), "bench".to_owned()),
                    (
                        "app.kubernetes.io/managed-by".to_owned(),
                        "kubectl".to_owned(),
                    ),
                ]
                .into(),
            ),
            annotations: Some(
                [(
                    "example.com/owner-team".to_owned(),
                    format!("team-{}", i % 7),
                )]
                .into(),
            ),
            managed_fields: Some(vec![
                managed(
                    "kubectl-client-side-apply",
                    "Update",
                    serde_json::json!({"f:data": data_fields, "f:metadata": {"f:labels": {
                        "f:app.kubernetes.io/name": {}, "f:app.kubernetes.io/part-of": {},
                        "f:app.kubernetes.io/managed-by": {}}}}),
                ),
                managed(
                    "config-controller",
                    "Update",
                    serde_json::json!({"f:metadata": {"f:annotations": {"f:example.com/owner-team": {}}}}),
                ),
            ]),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// Creates the namespace and `count` ConfigMaps; returns creates per second.
pub async fn load(client: &Client, namespace: &str, count: usize) -> Result<f64> {
    let namespaces = Api::<Namespace>::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {namespace}"))?;
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let start = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &config_map(namespace, i))
                    .await
                    .with_context(|| format!("creating ConfigMap {}", name(i)))
            }
        })
        // A few requests in flight, as a deployment pipeline would send them.
        .buffer_unordered(8)
        .try_for_each(|_| futures::future::ready(Ok(())))
        .await?;
    Ok(count as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// Bytes of one object as JSON, as the server stores and sends it (without managedFields
/// when the server drops them).
pub async fn stored_size(client: &Client, namespace: &str) -> Result<(usize, bool)> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get(&name(0))
        .await
        .context("reading back the first ConfigMap")?;
    let has_managed_fields = cm
        .metadata
        .managed_fields
        .as_ref()
        .is_some_and(|m| !m.is_empty());
    Ok((serde_json::to_vec(&cm)?.len(), has_managed_fields))
}
