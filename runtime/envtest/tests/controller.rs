//! A kube-runtime `Controller` with kube's finalizer helper, end to end: the JSON patches it
//! sends (with `test` operations), the deletionTimestamp flow and the final DELETED event.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use kubesmith_envtest::Environment;
use serde_json::json;

const FINALIZER: &str = "example.com/cleanup";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReconcileError(String);

async fn reconcile(cm: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>) -> Result<Action, ReconcileError> {
    finalizer(&api, FINALIZER, cm, |event| async {
        match event {
            Event::Apply(cm) => {
                let name = cm.metadata.name.clone().unwrap_or_default();
                let patch =
                    Patch::Merge(json!({ "metadata": { "annotations": { "reconciled": "yes" } } }));
                api.patch(&name, &PatchParams::default(), &patch)
                    .await
                    .map_err(|e| ReconcileError(e.to_string()))?;
                Ok::<_, ReconcileError>(Action::await_change())
            }
            Event::Cleanup(_) => Ok(Action::await_change()),
        }
    })
    .await
    .map_err(|e| ReconcileError(e.to_string()))
}

/// Polls until `check` holds, failing after the generous shared timeout.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn controller_with_finalizer() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let ctx = Arc::new(api.clone());
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_millis(200)),
            ctx,
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    let cm: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "watched" } })).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    eventually("the finalizer and the annotation", || async {
        let cm = api.get("watched").await.unwrap();
        let annotated = cm
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.get("reconciled").is_some_and(|v| v == "yes"));
        annotated && cm.metadata.finalizers.as_deref() == Some(&[FINALIZER.to_string()][..])
    })
    .await;

    api.delete("watched", &Default::default()).await.unwrap();
    eventually("the object to be gone", || async {
        api.get_opt("watched").await.unwrap().is_none()
    })
    .await;
    handle.abort();
    env.stop().await;
}

#[tokio::test]
async fn event_recorder_and_leases() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::events::v1::Event as EventV1;
    use kube::runtime::events::{Event as RecordedEvent, EventType, Recorder, Reporter};

    let env = Environment::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "subject" } })).unwrap();
    let cm = cms.create(&PostParams::default(), &cm).await.unwrap();
    let reference = kube::Resource::object_ref(&cm, &());

    let recorder = Recorder::new(
        env.client(),
        Reporter {
            controller: "test-controller".into(),
            instance: None,
        },
    );
    let event = RecordedEvent {
        type_: EventType::Normal,
        reason: "Reconciled".into(),
        note: Some("all good".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<EventV1> = Api::namespaced(env.client(), "default");
    let list = events.list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 1, "a repeated event becomes a series");
    let recorded = &list.items[0];
    assert_eq!(recorded.reason.as_deref(), Some("Reconciled"));
    assert_eq!(recorded.series.as_ref().map(|s| s.count), Some(2));
    let by_regarding = events
        .list(&kube::api::ListParams::default().fields("regarding.name=subject,reason=Reconciled"))
        .await
        .unwrap();
    assert_eq!(by_regarding.items.len(), 1);
    // Both Event APIs share one storage: core/v1 sees the same event (what `kubectl describe` lists).
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(env.client(), "default");
    let described = core
        .list(
            &kube::api::ListParams::default()
                .fields("involvedObject.name=subject,involvedObject.kind=ConfigMap"),
        )
        .await
        .unwrap();
    assert_eq!(described.items.len(), 1);
    assert_eq!(described.items[0].message.as_deref(), Some("all good"));
    assert_eq!(
        described.items[0].reporting_component.as_deref(),
        Some("test-controller")
    );

    // Leases round-trip MicroTime exactly; built-ins allow unconditional updates.
    let leases: Api<Lease> = Api::namespaced(env.client(), "default");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": { "name": "leader" },
        "spec": { "holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "2024-01-01T00:00:00.123456Z" }
    }))
    .unwrap();
    leases.create(&PostParams::default(), &lease).await.unwrap();
    let raw = env
        .client()
        .request_text(
            http::Request::get("/apis/coordination.k8s.io/v1/namespaces/default/leases/leader")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(raw.contains("2024-01-01T00:00:00.123456Z"), "{raw}");
    let mut unconditional = leases.get("leader").await.unwrap();
    unconditional.metadata.resource_version = None;
    unconditional.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let replaced = leases
        .replace("leader", &PostParams::default(), &unconditional)
        .await
        .unwrap();
    assert_eq!(replaced.spec.unwrap().holder_identity.as_deref(), Some("b"));
    env.stop().await;
}

#[tokio::test]
async fn injected_failures() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    // 503 with Retry-After: kube's client retries by itself and succeeds.
    env.fail_requests(1, 503);
    assert!(api.get_opt("nothing").await.unwrap().is_none());
    // 500 reaches the caller as an API error.
    env.fail_requests(1, 500);
    match api.get_opt("nothing").await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (500, "InternalError")),
        other => panic!("expected the injected 500, got {other:?}"),
    }
    // Only the requested number of requests fail.
    assert!(api.get_opt("nothing").await.unwrap().is_none());
    env.set_latency(Duration::from_millis(10));
    assert!(api.get_opt("nothing").await.unwrap().is_none());
    env.set_latency(Duration::ZERO);
    env.stop().await;
}
