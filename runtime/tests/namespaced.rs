//! A manager with `watch_namespace` (`$WATCH_NAMESPACE`) sees only its namespace.

mod support;

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kubesmith_runtime::prelude::*;
use support::{Running, eventually};

struct Seen(Arc<Mutex<Vec<String>>>);

impl Reconciler<ConfigMap> for Seen {
    async fn reconcile(&self, ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        self.0.lock().unwrap().push(ctx.request().to_string());
        Ok(Action::await_change())
    }
}

fn configmap(ns: &str, name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn a_namespaced_manager_reconciles_only_its_namespace() {
    let env = support::env().await;
    let client = env.client();
    let team = Namespace {
        metadata: ObjectMeta {
            name: Some("team-a".into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &team)
        .await
        .unwrap();
    for (ns, name) in [("default", "outside"), ("team-a", "inside")] {
        Api::<ConfigMap>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &configmap(ns, name))
            .await
            .unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mgr = support::manager(
        &env,
        Options {
            watch_namespace: Some("team-a".into()),
            ..Options::default()
        },
    );
    assert_eq!(mgr.cache().namespace(), Some("team-a"));
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(Seen(seen.clone()))
        .unwrap();
    let running = Running::start(&mgr);
    eventually("team-a/inside reconciled", || async {
        seen.lock()
            .unwrap()
            .contains(&"team-a/inside".to_owned())
            .then_some(())
    })
    .await;
    // The cache never held the other namespace's object, so nothing could queue it.
    let store = mgr.cache().store::<ConfigMap>();
    assert!(
        store
            .list()
            .iter()
            .all(|cm| cm.namespace().as_deref() == Some("team-a"))
    );
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.starts_with("default/"))
    );
    running.stop().await.unwrap();
    env.stop().await;
}
