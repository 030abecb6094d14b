//! The objects both sides cache, two sets:
//!
//! - ConfigMaps of about 1 KiB of data, labelled and annotated like an application's, with
//!   `managedFields` from two field managers (a `kubectl apply` client-side manager and a
//!   controller's update);
//! - Pods as a Deployment's ReplicaSet creates them (owner reference, `pod-template-hash`,
//!   two containers with env, resources, probes and mounts, volumes), created by
//!   `kube-controller-manager` and given their status by `kubelet`, so the server records
//!   `managedFields` for both managers, as a real cluster does.

use std::time::Instant;

use anyhow::{Context as _, Result};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

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
    create_namespace(client, namespace).await?;
    load_config_maps(client, namespace, count).await
}

/// Creates a namespace.
pub async fn create_namespace(client: &Client, namespace: &str) -> Result<()> {
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
    Ok(())
}

/// Creates `count` ConfigMaps in an existing namespace; returns creates per second.
pub async fn load_config_maps(client: &Client, namespace: &str, count: usize) -> Result<f64> {
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

/// Bytes of one object as JSON as the server sends it, and how many of them are
/// `metadata.managedFields` (0 when the server keeps none).
pub async fn stored_size(client: &Client, namespace: &str) -> Result<(usize, usize)> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get(&name(0))
        .await
        .context("reading back the first ConfigMap")?;
    sizes(&cm.metadata, &cm)
}

/// Like [`stored_size`], for the first Pod.
pub async fn stored_pod_size(client: &Client, namespace: &str) -> Result<(usize, usize)> {
    let pod = Api::<Pod>::namespaced(client.clone(), namespace)
        .get(&pod_name(0))
        .await
        .context("reading back the first Pod")?;
    sizes(&pod.metadata, &pod)
}

fn sizes(meta: &ObjectMeta, obj: &impl serde::Serialize) -> Result<(usize, usize)> {
    let managed = match &meta.managed_fields {
        Some(m) if !m.is_empty() => serde_json::to_vec(m)?.len(),
        _ => 0,
    };
    Ok((serde_json::to_vec(obj)?.len(), managed))
}

/// Pods per ReplicaSet: 100 Deployments' worth of Pods at 10k.
const PODS_PER_REPLICA_SET: usize = 100;

/// The ReplicaSet a Pod belongs to: its name and `pod-template-hash`.
fn replica_set(i: usize) -> (String, String) {
    let d = i / PODS_PER_REPLICA_SET;
    // Ten characters from kube's safe alphabet, as the Deployment controller writes them.
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = (d as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let hash: String = (0..10)
        .map(|_| {
            let c = SAFE[(h % SAFE.len() as u64) as usize] as char;
            h /= SAFE.len() as u64;
            c
        })
        .collect();
    (format!("web-{d:03}-{hash}"), hash)
}

pub fn pod_name(i: usize) -> String {
    format!("{}-{:05x}", replica_set(i).0, i)
}

/// One Pod as a ReplicaSet's controller creates it (spec and metadata, no status), owned by
/// the ReplicaSet whose uid is `owner_uid`.
pub fn pod(namespace: &str, i: usize, owner_uid: &str) -> Result<Pod> {
    let (rs, hash) = replica_set(i);
    let app = format!("web-{:03}", i / PODS_PER_REPLICA_SET);
    let probe = |path: &str, delay: i32| {
        json!({"httpGet": {"path": path, "port": 8080, "scheme": "HTTP"},
               "initialDelaySeconds": delay, "periodSeconds": 10, "timeoutSeconds": 1,
               "successThreshold": 1, "failureThreshold": 3})
    };
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(i),
            "generateName": format!("{rs}-"),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/component": "frontend",
                "app.kubernetes.io/part-of": "bench",
                "pod-template-hash": hash,
            },
            "annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-11-20T09:14:03Z",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                "uid": owner_uid, "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": format!("registry.example.com/shop/{app}:1.24.3"),
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["--listen=:8080", "--metrics=:9090", "--log-format=json"],
                    "ports": [
                        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                    ],
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
                        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": format!("{app}-db"), "key": "url"}}},
                        {"name": "CACHE_TTL_SECONDS", "value": "300"},
                        {"name": "FEATURE_FLAGS", "value": "checkout-v2,search-suggest"},
                        {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "1"}}},
                    ],
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"},
                    },
                    "livenessProbe": probe("/healthz", 10),
                    "readinessProbe": probe("/readyz", 5),
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/app", "readOnly": true},
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true},
                    ],
                    "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                },
                {
                    "name": "log-shipper",
                    "image": "registry.example.com/infra/fluent-bit:3.1.9",
                    "imagePullPolicy": "IfNotPresent",
                    "env": [{"name": "FLUENT_ELASTICSEARCH_HOST", "value": "logs.example.internal"}],
                    "resources": {
                        "requests": {"cpu": "20m", "memory": "32Mi"},
                        "limits": {"memory": "64Mi"},
                    },
                    "volumeMounts": [
                        {"name": "tmp", "mountPath": "/var/log/app", "readOnly": true},
                        {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true},
                    ],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                },
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": format!("{app}-config"), "defaultMode": 420}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ]}},
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": app,
            "nodeName": format!("node-{:02}", i % 40),
            "securityContext": {"fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
        },
    });
    serde_json::from_value(pod).context("building the benchmark Pod")
}

/// The status the kubelet writes for a running, ready Pod.
pub fn pod_status(i: usize) -> serde_json::Value {
    let t = |s: i64| {
        jiff::Timestamp::from_second(1_750_000_000 + i as i64 + s)
            .unwrap_or_default()
            .to_string()
    };
    let condition = |ty: &str, at: i64| json!({"type": ty, "status": "True", "lastProbeTime": null, "lastTransitionTime": t(at)});
    let ip = format!("10.{}.{}.{}", 244 + i / 65_536 % 10, i / 256 % 256, i % 256);
    let container = |name: &str, image: &str, started: i64| {
        json!({
            "name": name, "ready": true, "restartCount": 0, "started": true,
            "image": image,
            "imageID": format!("{image}@sha256:{:064x}", (i as u128 + 7) * 0x1F2E_3D4C_5B6A),
            "containerID": format!("containerd://{:064x}", (i as u128 + 1) * 0x9E37_79B9_7F4A_7C15),
            "state": {"running": {"startedAt": t(started)}},
            "lastState": {},
            "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true, "recursiveReadOnly": "Disabled"}],
        })
    };
    let app = format!("web-{:03}", i / PODS_PER_REPLICA_SET);
    json!({"status": {
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers", 3),
            condition("Initialized", 1),
            condition("Ready", 14),
            condition("ContainersReady", 14),
            condition("PodScheduled", 0),
        ],
        "hostIP": format!("192.168.10.{}", 10 + i % 40),
        "hostIPs": [{"ip": format!("192.168.10.{}", 10 + i % 40)}],
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": t(1),
        "containerStatuses": [
            container("app", &format!("registry.example.com/shop/{app}:1.24.3"), 4),
            container("log-shipper", "registry.example.com/infra/fluent-bit:3.1.9", 4),
        ],
        "qosClass": "Burstable",
    }})
}

/// The ReplicaSet that owns Pod `i` (and its group of [`PODS_PER_REPLICA_SET`]).
fn replica_set_object(namespace: &str, i: usize) -> Result<ReplicaSet> {
    let (name, hash) = replica_set(i);
    let app = format!("web-{:03}", i / PODS_PER_REPLICA_SET);
    let labels = json!({"app.kubernetes.io/name": app, "pod-template-hash": hash});
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": PODS_PER_REPLICA_SET,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": format!("registry.example.com/shop/{app}:1.24.3")}]},
            },
        },
    }))?)
}

/// Creates `count` Pods as `kube-controller-manager`, then writes each one's status as
/// `kubelet` (the `/status` subresource), so each carries two managers' `managedFields`.
/// Returns Pod writes (creates and status patches) per second.
pub async fn load_pods(client: &Client, namespace: &str, count: usize) -> Result<f64> {
    let api = Api::<Pod>::namespaced(client.clone(), namespace);
    let create = PostParams {
        field_manager: Some("kube-controller-manager".into()),
        ..PostParams::default()
    };
    // A merge patch under the kubelet's manager name: an Update operation on the status
    // subresource, as the kubelet's status manager writes it.
    let status = PatchParams {
        field_manager: Some("kubelet".into()),
        ..PatchParams::default()
    };
    let start = Instant::now();
    // The owning ReplicaSets exist, with their real uids: the API server's garbage collector
    // deletes Pods whose owner is missing, as a cluster's does.
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), namespace);
    let mut owners = Vec::new();
    for first in (0..count).step_by(PODS_PER_REPLICA_SET) {
        let created = replica_sets
            .create(&create, &replica_set_object(namespace, first)?)
            .await
            .with_context(|| format!("creating ReplicaSet {}", replica_set(first).0))?;
        owners.push(created.metadata.uid.unwrap_or_default());
    }
    let owners = &owners;
    futures::stream::iter(0..count)
        .map(|i| {
            let (api, create, status) = (api.clone(), create.clone(), status.clone());
            async move {
                let owner = &owners[i / PODS_PER_REPLICA_SET];
                api.create(&create, &pod(namespace, i, owner)?)
                    .await
                    .with_context(|| format!("creating Pod {}", pod_name(i)))?;
                api.patch_status(&pod_name(i), &status, &Patch::Merge(&pod_status(i)))
                    .await
                    .with_context(|| format!("writing the status of Pod {}", pod_name(i)))?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .try_for_each(|_| futures::future::ready(Ok(())))
        .await?;
    Ok(2.0 * count as f64 / start.elapsed().as_secs_f64().max(1e-9))
}
