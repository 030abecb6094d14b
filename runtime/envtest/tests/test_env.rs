//! `TestEnv`: the same test code on the embedded server, or on a real cluster named by
//! `KUBESMITH_TEST_KUBECONFIG`. There is no real cluster here: a second embedded server,
//! reached only through a kubeconfig file, stands in for one.

mod common;

use std::time::Duration;

use common::*;
use futures::TryStreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kubesmith_envtest::{
    Environment, Fault, TEST_FIELD_MANAGER, TEST_KUBECONFIG_VAR, TEST_NAMESPACE_LABEL, TestEnv,
};
use serde_json::json;

const MARKER: &str = "from-the-same-test";

/// The test a user writes. It passes on the embedded server (as nextest runs it here) and,
/// unchanged, on a cluster: `env_var_switches_the_same_test_to_a_cluster` runs it again with
/// `KUBESMITH_TEST_KUBECONFIG` set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_test_code_on_either_target() {
    let env = TestEnv::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .expect("a test environment");
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), env.namespace());
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(MARKER.into());
    cms.create(&PostParams::default(), &cm).await.unwrap();

    let gvk = GroupVersionKind::gvk("stable.example.com", "v1", "CronTab");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "crontabs");
    let crontabs: Api<DynamicObject> = Api::namespaced_with(env.client(), env.namespace(), &ar);
    let mut ct = DynamicObject::new("nightly", &ar);
    ct.data = json!({ "spec": { "cronSpec": "0 0 * * *" } });
    crontabs.create(&PostParams::default(), &ct).await.unwrap();

    match env.faults() {
        Some(faults) => {
            assert!(!env.is_external());
            faults.inject(Fault::new(500).verb("get").resource("configmaps"));
            assert!(cms.get(MARKER).await.is_err());
            assert_eq!(faults.injected_failures().len(), 1);
        }
        None => {
            assert!(
                env.is_external(),
                "faults are only unavailable on a cluster"
            );
            assert!(env.embedded().is_none());
            println!("fault injection is not available on a real cluster: skipped");
        }
    }
    env.stop().await;
}

/// The stand-in "cluster": an embedded server the test only knows by its kubeconfig file.
async fn stand_in() -> (Environment, tempfile::TempDir, std::path::PathBuf) {
    let cluster = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&path).unwrap();
    (cluster, dir, path)
}

/// Every ConfigMap ADDED on `cluster` since it started (its watch history).
async fn configmaps_added(cluster: &Environment) -> Vec<ConfigMap> {
    let api: Api<ConfigMap> = Api::all(cluster.client());
    let events: Vec<_> = api
        .watch(&WatchParams::default().timeout(1), "1")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    events
        .into_iter()
        .filter_map(|e| match e {
            WatchEvent::Added(cm) => Some(cm),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_var_switches_the_same_test_to_a_cluster() {
    let (cluster, _dir, kubeconfig) = stand_in().await;
    let exe = std::env::current_exe().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe)
            .args(["same_test_code_on_either_target", "--exact", "--nocapture"])
            .env(TEST_KUBECONFIG_VAR, &kubeconfig)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the test ran: {stdout}");
    assert!(
        stdout.contains("fault injection is not available on a real cluster: skipped"),
        "{stdout}"
    );

    // Its objects went to the "cluster", in a test namespace that is gone again.
    let added = configmaps_added(&cluster).await;
    let marker = added
        .iter()
        .find(|cm| cm.metadata.name.as_deref() == Some(MARKER))
        .expect("the test's ConfigMap was created on the cluster");
    let ns = marker.metadata.namespace.clone().unwrap();
    assert!(ns.starts_with("test-"), "{ns}");
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    assert!(
        namespaces.get_opt(&ns).await.unwrap().is_none(),
        "the test's namespace was deleted at the end"
    );
    // The CRD was applied server-side and stays installed.
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let crd = crds.get("crontabs.stable.example.com").await.unwrap();
    let managers: Vec<_> = crd
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&(TEST_FIELD_MANAGER.to_string(), "Apply".to_string())),
        "{managers:?}"
    );
    cluster.stop().await;
}

#[tokio::test]
async fn embedded_by_default_with_a_labelled_namespace() {
    let env = TestEnv::builder().kubeconfig(None).start().await.unwrap();
    assert!(!env.is_external());
    assert!(env.faults().is_some());
    let namespaces: Api<Namespace> = Api::all(env.client());
    let ns = namespaces.get(env.namespace()).await.unwrap();
    assert_eq!(
        ns.metadata.labels.unwrap()[TEST_NAMESPACE_LABEL.0],
        TEST_NAMESPACE_LABEL.1
    );
    // The embedded server's options still apply: envtest-like, without garbage collection.
    let env2 = TestEnv::builder()
        .kubeconfig(None)
        .embedded(Environment::builder().garbage_collection(false))
        .start()
        .await
        .unwrap();
    assert!(env2.embedded().is_some());
    env2.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_helpers_wait_for_the_cluster_and_namespaces_are_deleted() {
    let (cluster, _dir, kubeconfig) = stand_in().await;
    let env = TestEnv::builder()
        .kubeconfig(Some(kubeconfig.clone()))
        .start()
        .await
        .unwrap();
    assert_eq!(env.external_kubeconfig(), Some(kubeconfig.as_path()));
    assert!(env.faults().is_none());
    let extra = env.create_namespace().await.unwrap();

    // deployment_ready waits for the cluster's controllers, here played by the stand-in's helper.
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": { "replicas": 2, "selector": { "matchLabels": { "app": "web" } },
                  "template": { "metadata": { "labels": { "app": "web" } },
                                "spec": { "containers": [{ "name": "web", "image": "nginx" }] } } }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(env.client(), env.namespace())
        .create(&PostParams::default(), &deploy)
        .await
        .unwrap();
    let waiting = env.deployment_ready(env.namespace(), "web");
    let ns = env.namespace().to_string();
    let controllers = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.mark_deployment_ready(&ns, "web").await.unwrap();
    };
    let (ready, ()) = tokio::join!(waiting, controllers);
    assert_eq!(ready.unwrap().status.unwrap().available_replicas, Some(2));

    let namespaces: Api<Namespace> = Api::all(cluster.client());
    assert!(namespaces.get_opt(&ns).await.unwrap().is_some());
    env.stop().await;
    for name in [&ns, &extra] {
        assert!(namespaces.get_opt(name).await.unwrap().is_none(), "{name}");
    }

    // A test that panics never calls stop: dropping the TestEnv still cleans up.
    let env = TestEnv::builder()
        .kubeconfig(Some(kubeconfig.clone()))
        .start()
        .await
        .unwrap();
    let ns = env.namespace().to_string();
    drop(env);
    assert!(namespaces.get_opt(&ns).await.unwrap().is_none());
    cluster.stop().await;
}

#[tokio::test]
async fn a_bad_kubeconfig_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-kubeconfig");
    let err = TestEnv::builder()
        .kubeconfig(Some(path.clone()))
        .start()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(TEST_KUBECONFIG_VAR), "{message}");
}
