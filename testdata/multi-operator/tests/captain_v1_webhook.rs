//! The Captain v1 webhooks through the embedded API server: it calls the manager's
//! webhook server (HTTPS, self-signed certificate) as a cluster's API server would.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kubesmith_envtest::{Environment, WebhookEndpoint, eventually};
use kubesmith_runtime::{Manager, Options};
use multi_operator::api::crew::v1 as api;

/// What `kubesmith generate` writes from the `#[webhook]` attributes.
const MANIFESTS: &str = include_str!("../config/webhook/manifests.yaml");

/// Generous, because a loaded CI machine is slow; the test ends as soon as the condition holds.
const DEADLINE: Duration = Duration::from_secs(60);

/// The CRDs of config/crd/bases, with the conversion webhook patches of config/crd/patches
/// applied as `kubectl kustomize config/crd` would.
fn crds() -> Vec<CustomResourceDefinition> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut crds = Vec::new();
    let bases = std::fs::read_dir(root.join("config/crd/bases"))
        .expect("config/crd/bases (run `kubesmith generate` first)");
    for entry in bases {
        let path = entry.expect("a CRD file").path();
        let text = std::fs::read_to_string(&path).expect("a readable CRD");
        let mut crd: serde_json::Value = serde_yaml::from_str(&text).expect("a CRD in YAML");
        let plural = crd["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let patch = root.join(format!("config/crd/patches/webhook_in_{plural}.yaml"));
        if let Ok(patch) = std::fs::read_to_string(patch) {
            let patch: serde_json::Value =
                serde_yaml::from_str(&patch).expect("a CRD patch in YAML");
            crd["spec"]["conversion"] = patch["spec"]["conversion"].clone();
        }
        crds.push(serde_json::from_value(crd).expect("a CustomResourceDefinition"));
    }
    crds
}

#[tokio::test]
async fn captain_v1_webhooks_through_the_api_server() {
    let env = Environment::start()
        .await
        .expect("start the embedded API server");
    let mgr = Manager::new(
        env.client(),
        Options {
            webhook_host: "127.0.0.1".parse().expect("an IP address"),
            webhook_port: 0,
            ..Options::default()
        },
    );
    multi_operator::add_webhooks(&mgr).expect("register the webhooks");
    let server = mgr.webhook_server();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let manager = tokio::spawn(mgr.run_until(async {
        let _ = stopped.await;
    }));
    let endpoint = WebhookEndpoint {
        url: format!("https://{}", server.local_addr().await),
        ca_bundle: server.ca_bundle().await,
    };
    env.install_webhooks(MANIFESTS, &endpoint)
        .await
        .expect("install config/webhook/manifests.yaml");
    env.install_crds(crds()).await.expect("install the CRDs");

    let objects: Api<api::Captain> = Api::namespaced(env.client(), "default");

    // The defaulter fills in `foo` when it is left out.
    let created = eventually(DEADLINE, || async {
        objects
            .create(
                &PostParams::default(),
                &api::Captain::new("defaulted", api::CaptainSpec::default()),
            )
            .await
    })
    .await
    .expect("create an object without foo");
    assert_eq!(created.spec.foo.as_deref(), Some("default"));

    // The validator denies an empty `foo`, with its message.
    let bad = api::Captain::new(
        "invalid",
        api::CaptainSpec {
            foo: Some(String::new()),
        },
    );
    let denied = objects
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("an empty foo is denied");
    assert!(
        denied.to_string().contains("spec.foo must not be empty"),
        "{denied}"
    );

    // An object written as v2 is stored as v1 (the hub) through /convert.
    let spokes: Api<multi_operator::api::crew::v2::Captain> =
        Api::namespaced(env.client(), "default");
    let spoke = multi_operator::api::crew::v2::Captain::new(
        "converted",
        multi_operator::api::crew::v2::CaptainSpec {
            foo: Some("bar".to_string()),
        },
    );
    eventually(DEADLINE, || async {
        spokes.create(&PostParams::default(), &spoke).await
    })
    .await
    .expect("create an object of the spoke version");
    let hub = objects.get("converted").await.expect("read it as v1");
    assert_eq!(hub.spec.foo.as_deref(), Some("bar"));

    let _ = stop.send(());
    manager
        .await
        .expect("the manager task")
        .expect("the manager stops cleanly");
    env.stop().await;
}
