//! The Memcached controller against the embedded Kubernetes API server, or against a real
//! cluster when KUBESMITH_TEST_KUBECONFIG names a kubeconfig (same test, a fresh namespace).

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kubesmith_envtest::TestEnv;
use kubesmith_runtime::{Manager, Options};
use memcached_operator::api::cache::v1alpha1 as api;
use memcached_operator::controller::memcached::FINALIZER;

const SAMPLE: &str = include_str!("../config/samples/cache_v1alpha1_memcached.yaml");

/// Generous, because a loaded CI machine is slow; the test ends as soon as the condition holds.
const DEADLINE: Duration = Duration::from_secs(60);

fn is_ready(obj: &api::Memcached) -> bool {
    let observed = obj.status.as_ref().and_then(|status| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.status == "True")
            .map(|c| c.observed_generation)
    });
    obj.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER)
        && observed == Some(obj.metadata.generation)
}

#[tokio::test]
async fn sample_is_reconciled_and_released_on_delete() {
    // The CRDs `kubesmith generate` wrote, with every version of a kind merged into one.
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/crd/bases");
    let mut env = TestEnv::builder().crd_dir(crds);
    // Third-party CRDs of kinds the project watches (`create api --from-crd`).
    let external = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/crd/external");
    if external.exists() {
        env = env.crd_dir(external);
    }
    let env = env
        .start()
        .await
        .expect("start the API server and install config/crd (run `kubesmith generate` first)");

    let mgr = Manager::new(env.client(), Options::default());
    memcached_operator::add_controllers(&mgr).expect("register the controllers");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let manager = tokio::spawn(mgr.run_until(async {
        let _ = stopped.await;
    }));

    let sample: api::Memcached = serde_yaml::from_str(SAMPLE).expect("the sample parses");
    let objects: Api<api::Memcached> = Api::namespaced(env.client(), env.namespace());
    let created = objects
        .create(&PostParams::default(), &sample)
        .await
        .expect("create the sample");
    let name = created.metadata.name.clone().expect("a name");
    let uid = created.metadata.uid.clone().expect("a uid");

    let ready = await_condition(objects.clone(), &name, |obj: Option<&api::Memcached>| {
        obj.is_some_and(is_ready)
    });
    tokio::time::timeout(DEADLINE, ready)
        .await
        .expect("the sample becomes Ready with the finalizer in time")
        .expect("watching the sample");

    // A new spec: the Ready condition follows the new generation.
    let patch = serde_json::json!({ "spec": { "foo": "baz" } });
    objects
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("change the spec");
    let updated = await_condition(objects.clone(), &name, |obj: Option<&api::Memcached>| {
        obj.is_some_and(|obj| obj.metadata.generation == Some(2) && is_ready(obj))
    });
    tokio::time::timeout(DEADLINE, updated)
        .await
        .expect("Ready follows generation 2 in time")
        .expect("watching the sample");

    // The owned ConfigMap comes back when deleted.
    let configmaps: Api<ConfigMap> = Api::namespaced(env.client(), env.namespace());
    let child = format!("{name}-config");
    let old = configmaps
        .get(&child)
        .await
        .expect("the owned ConfigMap exists");
    configmaps
        .delete(&child, &DeleteParams::default())
        .await
        .expect("delete the owned ConfigMap");
    let old_uid = old.metadata.uid.clone();
    let recreated = await_condition(configmaps.clone(), &child, move |cm: Option<&ConfigMap>| {
        cm.is_some_and(|cm| cm.metadata.uid != old_uid)
    });
    tokio::time::timeout(DEADLINE, recreated)
        .await
        .expect("the owned ConfigMap is re-created in time")
        .expect("watching the ConfigMap");

    objects
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete the sample");
    let gone = await_condition(objects.clone(), &name, conditions::is_deleted(&uid));
    tokio::time::timeout(DEADLINE, gone)
        .await
        .expect("the finalizer is released and the sample is gone in time")
        .expect("watching the sample");

    // The garbage collector deletes the ConfigMap with its owner, as on a cluster.
    let collected = await_condition(configmaps.clone(), &child, |cm: Option<&ConfigMap>| {
        cm.is_none()
    });
    tokio::time::timeout(DEADLINE, collected)
        .await
        .expect("the owned ConfigMap is garbage-collected in time")
        .expect("watching the ConfigMap");

    let _ = stop.send(());
    manager
        .await
        .expect("the manager task")
        .expect("the manager stops cleanly");
    env.stop().await;
}
