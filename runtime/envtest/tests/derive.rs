//! A kube-derive custom resource (what kubesmith's `#[resource]` lowers to), end to end:
//! its generated CRD installs, and typed create / status / watch work.

mod common;

use common::WAIT;
use futures::{StreamExt, TryStreamExt};
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kubesmith_envtest::Environment;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(
    kube::CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "cache.example.com",
    version = "v1alpha1",
    kind = "Memcached",
    namespaced
)]
#[kube(status = "MemcachedStatus", shortname = "mc")]
#[kube(printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#)]
pub struct MemcachedSpec {
    pub size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemcachedStatus {
    #[serde(default)]
    pub ready: bool,
}

#[tokio::test]
async fn derived_custom_resource() {
    let env = Environment::start().await.unwrap();
    env.install_crds([Memcached::crd()]).await.unwrap();
    // Installing again replaces it (idempotent for test setup).
    env.install_crds([Memcached::crd()]).await.unwrap();

    let api: Api<Memcached> = Api::namespaced(env.client(), "default");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mc = Memcached::new(
        "cache",
        MemcachedSpec {
            size: 3,
            image: None,
        },
    );
    let created = api.create(&PostParams::default(), &mc).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.spec, mc.spec);

    let patched = api
        .patch_status(
            "cache",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "ready": true } })),
        )
        .await
        .unwrap();
    assert_eq!(patched.status, Some(MemcachedStatus { ready: true }));
    assert_eq!(patched.metadata.generation, Some(1));

    // The watcher sees the object become ready.
    loop {
        let ev = tokio::time::timeout(WAIT, events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let watcher::Event::Apply(m) | watcher::Event::InitApply(m) = ev
            && m.status.as_ref().is_some_and(|s| s.ready)
        {
            break;
        }
    }
    env.stop().await;
}
