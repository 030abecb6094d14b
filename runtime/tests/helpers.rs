//! Child-writing helpers against the embedded API server.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kubesmith_runtime::apply::{self, CreateOrUpdateError, Outcome};
use kubesmith_runtime::owner;
use kubesmith_runtime::prelude::*;

fn skeleton(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

fn set_color(color: &'static str) -> impl FnOnce(&mut ConfigMap) {
    move |cm| {
        cm.data
            .get_or_insert_with(BTreeMap::new)
            .insert("color".into(), color.into());
    }
}

#[tokio::test]
async fn create_or_update_reports_created_updated_unchanged_and_writes_only_changes() {
    let env = support::env().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");

    let (cm, outcome) = apply::create_or_update(&api, skeleton("web"), set_color("blue"))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Created);
    let rv = cm.resource_version();

    let (same, outcome) = apply::create_or_update(&api, skeleton("web"), set_color("blue"))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(same.resource_version(), rv);
    assert_eq!(api.get("web").await.unwrap().resource_version(), rv);

    let (updated, outcome) = apply::create_or_update(&api, skeleton("web"), set_color("red"))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Updated);
    assert_ne!(updated.resource_version(), rv);
    assert_eq!(api.get("web").await.unwrap().data.unwrap()["color"], "red");

    let err = apply::create_or_update(&api, skeleton("web"), |cm| {
        cm.metadata.name = Some("elsewhere".into());
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, CreateOrUpdateError::IdentityChanged { .. }),
        "{err}"
    );
    assert!(api.get_opt("elsewhere").await.unwrap().is_none());
    env.stop().await;
}

/// Records the URI of every request the client sends (envtest keeps no managedFields, so the
/// field manager is checked on the wire).
#[derive(Clone)]
struct RecordUris<S> {
    inner: S,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl<S, B> tower::Service<http::Request<B>> for RecordUris<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.seen
            .lock()
            .unwrap()
            .push(format!("{} {}", request.method(), request.uri()));
        self.inner.call(request)
    }
}

struct RecordLayer(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S> tower::Layer<S> for RecordLayer {
    type Service = RecordUris<S>;
    fn layer(&self, inner: S) -> RecordUris<S> {
        RecordUris {
            inner,
            seen: self.0.clone(),
        }
    }
}

#[tokio::test]
async fn server_side_apply_uses_the_controllers_field_manager_and_forces_ownership() {
    let env = support::env().await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = kube::client::ClientBuilder::try_from(env.config())
        .unwrap()
        .with_layer(&RecordLayer(seen.clone()))
        .build();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut desired = skeleton("applied");
    set_color("green")(&mut desired);
    // SSA bodies carry apiVersion and kind
    let mut body = serde_json::to_value(&desired).unwrap();
    body["apiVersion"] = "v1".into();
    body["kind"] = "ConfigMap".into();
    let desired: ConfigMap = serde_json::from_value(body).unwrap();

    let applied = apply::apply(&api, &desired, "memcached-controller")
        .await
        .unwrap();
    assert_eq!(applied.data.as_ref().unwrap()["color"], "green");
    let patch = seen
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.starts_with("PATCH"))
        .cloned()
        .expect("a PATCH was sent");
    assert!(
        patch.contains("fieldManager=memcached-controller"),
        "{patch}"
    );
    assert!(patch.contains("force=true"), "{patch}");

    let mut changed = desired.clone();
    set_color("yellow")(&mut changed);
    let reapplied = apply::apply(&api, &changed, "memcached-controller")
        .await
        .unwrap();
    assert_eq!(reapplied.data.unwrap()["color"], "yellow");
    env.stop().await;
}

#[tokio::test]
async fn a_child_with_a_controller_reference_is_stored_with_it() {
    let env = support::env().await;
    // envtest serves apps/v1 now (no workload controllers); the owner only needs its
    // identity, as the API server would have returned it.
    let owner = Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("0b9f3c1e-0000-4000-8000-000000000001".into()),
            ..ObjectMeta::default()
        },
        ..Deployment::default()
    };
    let mut child = skeleton("web-config");
    owner::set_controller_reference(&owner, &mut child).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let stored = cms.create(&PostParams::default(), &child).await.unwrap();
    let refs = stored.metadata.owner_references.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].kind, "Deployment");
    assert_eq!(refs[0].uid, owner.metadata.uid.unwrap());
    assert_eq!(refs[0].controller, Some(true));
    env.stop().await;
}
