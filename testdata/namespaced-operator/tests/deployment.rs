//! The deployment controller against the embedded Kubernetes API server, or against a
//! real cluster when KUBESMITH_TEST_KUBECONFIG names a kubeconfig (same test, a fresh namespace).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use kubesmith_envtest::TestEnv;
use kubesmith_runtime::{Manager, Options};

/// Generous, because a loaded CI machine is slow; the test ends as soon as the condition holds.
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_deployment_is_reconciled() {
    // The project's own CRDs, if it has any: the manager starts controllers only once the
    // caches of every watched kind have synced.
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/crd/bases");
    let mut env = TestEnv::builder();
    if crds.exists() {
        env = env.crd_dir(crds);
    }
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
    namespaced_operator::add_controllers(&mgr).expect("register the controllers");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let manager = tokio::spawn(mgr.run_until(async {
        let _ = stopped.await;
    }));

    // TODO(user): fill in the fields your controller reads. The embedded server stores
    // built-in kinds without checking their specs; a real cluster refuses an empty spec.
    let mut sample = Deployment::default();
    sample.metadata.name = Some("sample".into());
    let objects: Api<Deployment> = Api::namespaced(env.client(), env.namespace());
    let created = objects
        .create(&PostParams::default(), &sample)
        .await
        .expect("create the sample");
    let uid = created.metadata.uid.clone();

    // The controller reports each reconcile with a "Reconciled" event about the object.
    let events: Api<Event> = Api::all(env.client());
    kubesmith_envtest::eventually(DEADLINE, || async {
        let found = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .any(|e| {
                e.reason.as_deref() == Some("Reconciled")
                    && e.regarding.as_ref().and_then(|r| r.uid.clone()) == uid
            });
        if found {
            Ok(())
        } else {
            Err("no Reconciled event about the sample yet".to_string())
        }
    })
    .await
    .expect("the sample is reconciled in time");

    let _ = stop.send(());
    manager
        .await
        .expect("the manager task")
        .expect("the manager stops cleanly");
    env.stop().await;
}
