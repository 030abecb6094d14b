//! The owner-reference garbage collector, on by default as on a cluster (kube-controller-manager's
//! garbage collector; reference apiserver.md A.10 and upstream's
//! pkg/controller/garbagecollector/garbagecollector.go). Every cascade completes before the
//! request that caused it answers, so these tests check results right away.

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kubesmith_envtest::Environment;
use serde_json::{Value, json};

/// An ownerReference to `owner` (any kind), as a controller would set it.
fn owner_ref(owner: &Value, block: bool) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"],
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": block,
    })
}

fn cm(name: &str, owners: Vec<Value>, finalizers: &[&str]) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": {
        "name": name, "ownerReferences": owners, "finalizers": finalizers,
    } }))
    .unwrap()
}

struct Fixture {
    env: Environment,
    api: Api<ConfigMap>,
}

impl Fixture {
    async fn start(gc: Option<bool>) -> Fixture {
        let mut builder = Environment::builder();
        if let Some(on) = gc {
            builder = builder.garbage_collection(on);
        }
        let env = builder.start().await.unwrap();
        let api = Api::namespaced(env.client(), "default");
        Fixture { env, api }
    }

    /// Creates a ConfigMap and returns it as JSON (with apiVersion and kind for owner refs).
    async fn create(&self, name: &str, owners: Vec<Value>, finalizers: &[&str]) -> Value {
        let created = self
            .api
            .create(&PostParams::default(), &cm(name, owners, finalizers))
            .await
            .unwrap();
        let mut v = serde_json::to_value(created).unwrap();
        v["apiVersion"] = json!("v1");
        v["kind"] = json!("ConfigMap");
        v
    }

    async fn exists(&self, name: &str) -> bool {
        self.api.get_opt(name).await.unwrap().is_some()
    }

    async fn finalizers(&self, name: &str) -> Vec<String> {
        self.api
            .get(name)
            .await
            .unwrap()
            .metadata
            .finalizers
            .unwrap_or_default()
    }

    async fn delete(&self, name: &str, policy: Option<PropagationPolicy>) {
        let params = DeleteParams {
            propagation_policy: policy,
            ..Default::default()
        };
        self.api.delete(name, &params).await.unwrap();
    }

    async fn release(&self, name: &str) {
        let patch = json!({ "metadata": { "finalizers": null } });
        self.api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
}

/// Upstream: "Background: the owner disappears immediately and the GC later deletes
/// dependents whose ownerReferences (matched by UID) all point to absent owners" — here
/// before the DELETE answers, and transitively.
#[tokio::test]
async fn background_deletion_collects_dependents_and_theirs() {
    let f = Fixture::start(None).await;
    let owner = f.create("owner", vec![], &[]).await;
    let child = f.create("child", vec![owner_ref(&owner, false)], &[]).await;
    f.create("grandchild", vec![owner_ref(&child, false)], &[])
        .await;
    let other = f.create("other-owner", vec![], &[]).await;
    f.create(
        "shared",
        vec![owner_ref(&owner, false), owner_ref(&other, false)],
        &[],
    )
    .await;

    // The default policy for every kind here is Background.
    f.delete("owner", None).await;
    assert!(!f.exists("owner").await);
    assert!(!f.exists("child").await);
    assert!(!f.exists("grandchild").await);
    // attemptToDeleteItem: a dependent with a remaining ("solid") owner is kept, and the
    // reference to the absent owner is removed.
    let shared = f.api.get("shared").await.unwrap();
    let refs = shared.metadata.owner_references.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].name, "other-owner");

    // An explicit Background behaves the same.
    f.delete("other-owner", Some(PropagationPolicy::Background))
        .await;
    assert!(!f.exists("shared").await);
    f.env.stop().await;
}

/// Upstream `isDangling`: an owner is looked up by kind, name and the dependent's namespace,
/// then compared by uid. A reference to a missing owner, or to an owner of another uid, or a
/// namespaced owner in another namespace ("treated as absent") makes the dependent garbage as
/// soon as it is written. A kind the server does not serve cannot be looked up, and a
/// cluster-scoped dependent naming a namespaced owner is unresolvable: neither is collected.
#[tokio::test]
async fn dangling_references_are_collected_unresolvable_ones_are_not() {
    let f = Fixture::start(None).await;
    let owner = f.create("owner", vec![], &[]).await;

    let mut wrong_uid = owner_ref(&owner, false);
    wrong_uid["uid"] = json!("00000000-0000-0000-0000-000000000000");
    f.create("wrong-uid", vec![wrong_uid], &[]).await;
    assert!(!f.exists("wrong-uid").await);

    let mut missing = owner_ref(&owner, false);
    missing["name"] = json!("nobody");
    f.create("missing", vec![missing], &[]).await;
    assert!(!f.exists("missing").await);

    // Same name and uid, but the owner lives in `default` and the dependent elsewhere.
    let namespaces: Api<Namespace> = Api::all(f.env.client());
    let ns: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": "elsewhere" } })).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let elsewhere: Api<ConfigMap> = Api::namespaced(f.env.client(), "elsewhere");
    elsewhere
        .create(
            &PostParams::default(),
            &cm("cross", vec![owner_ref(&owner, false)], &[]),
        )
        .await
        .unwrap();
    assert!(elsewhere.get_opt("cross").await.unwrap().is_none());

    let unknown_kind = json!({ "apiVersion": "example.com/v1", "kind": "Nothing",
        "name": "n", "uid": "11111111-1111-1111-1111-111111111111" });
    f.create("unknown-kind", vec![unknown_kind], &[]).await;
    assert!(f.exists("unknown-kind").await);

    let roles: Api<ClusterRole> = Api::all(f.env.client());
    let role: ClusterRole = serde_json::from_value(json!({ "metadata": {
        "name": "owned-by-a-configmap", "ownerReferences": [owner_ref(&owner, false)],
    } }))
    .unwrap();
    roles.create(&PostParams::default(), &role).await.unwrap();
    f.delete("owner", None).await;
    assert!(
        roles
            .get_opt("owned-by-a-configmap")
            .await
            .unwrap()
            .is_some()
    );
    f.env.stop().await;
}

/// Upstream: "Foreground: the owner stays visible with deletionTimestamp + foregroundDeletion
/// until the GC has deleted all dependents. Only dependents with blockOwnerDeletion=true block
/// the owner's removal."
#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let f = Fixture::start(None).await;
    let owner = f.create("owner", vec![], &[]).await;
    f.create("leaf", vec![owner_ref(&owner, true)], &[]).await;
    f.create("held", vec![owner_ref(&owner, true)], &["example.com/hold"])
        .await;
    f.create(
        "not-blocking",
        vec![owner_ref(&owner, false)],
        &["example.com/hold"],
    )
    .await;

    f.delete("owner", Some(PropagationPolicy::Foreground)).await;
    let waiting = f.api.get("owner").await.unwrap();
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert_eq!(
        waiting.metadata.finalizers.unwrap(),
        vec!["foregroundDeletion"]
    );
    assert!(
        !f.exists("leaf").await,
        "a dependent without finalizers goes at once"
    );
    for name in ["held", "not-blocking"] {
        let dep = f.api.get(name).await.unwrap();
        assert!(
            dep.metadata.deletion_timestamp.is_some(),
            "{name} is deleted"
        );
        // Leaves are deleted in the background: only their own finalizer holds them.
        assert_eq!(dep.metadata.finalizers.unwrap(), vec!["example.com/hold"]);
    }

    // The non-blocking dependent does not hold the owner up; the blocking one does.
    f.release("not-blocking").await;
    assert!(f.exists("owner").await);
    f.release("held").await;
    assert!(!f.exists("held").await);
    assert!(
        !f.exists("owner").await,
        "the owner goes once its last blocking dependent is gone"
    );
    f.env.stop().await;
}

/// Upstream `attemptToDeleteItem`: a dependent of an owner waiting in the foreground that has
/// dependents of its own is deleted in the foreground too, so the whole chain is removed
/// bottom-up; a dependent that also has another, solid owner only loses its reference.
#[tokio::test]
async fn foreground_deletion_cascades_bottom_up() {
    let f = Fixture::start(None).await;
    let owner = f.create("owner", vec![], &[]).await;
    let middle = f.create("middle", vec![owner_ref(&owner, true)], &[]).await;
    f.create(
        "bottom",
        vec![owner_ref(&middle, true)],
        &["example.com/hold"],
    )
    .await;
    let other = f.create("other", vec![], &[]).await;
    f.create(
        "kept",
        vec![owner_ref(&owner, true), owner_ref(&other, false)],
        &[],
    )
    .await;

    f.delete("owner", Some(PropagationPolicy::Foreground)).await;
    assert_eq!(f.finalizers("owner").await, vec!["foregroundDeletion"]);
    assert_eq!(f.finalizers("middle").await, vec!["foregroundDeletion"]);
    let kept = f.api.get("kept").await.unwrap();
    assert!(kept.metadata.deletion_timestamp.is_none());
    let refs = kept.metadata.owner_references.unwrap();
    assert_eq!(
        refs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec!["other"]
    );

    f.release("bottom").await;
    for name in ["bottom", "middle", "owner"] {
        assert!(!f.exists(name).await, "{name} is gone");
    }
    assert!(f.exists("kept").await);
    f.env.stop().await;
}

/// Upstream: "Orphan: the GC strips the ownerReferences from dependents and then removes the
/// orphan finalizer"; other owners' references stay.
#[tokio::test]
async fn orphan_deletion_strips_owner_references() {
    let f = Fixture::start(None).await;
    let owner = f.create("owner", vec![], &[]).await;
    let other = f.create("other", vec![], &[]).await;
    f.create("orphan", vec![owner_ref(&owner, true)], &[]).await;
    f.create(
        "two-owners",
        vec![owner_ref(&owner, false), owner_ref(&other, false)],
        &[],
    )
    .await;

    f.delete("owner", Some(PropagationPolicy::Orphan)).await;
    assert!(!f.exists("owner").await);
    let orphan = f.api.get("orphan").await.unwrap();
    assert!(
        orphan
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    let two = f.api.get("two-owners").await.unwrap();
    let refs = two.metadata.owner_references.unwrap();
    assert_eq!(
        refs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec!["other"]
    );
    f.env.stop().await;
}

/// Upstream `deletionFinalizersForGarbageCollection`: deleting an object that is already being
/// deleted with another policy swaps the GC finalizer; Background removes it, and the owner
/// goes (its dependents with it).
#[tokio::test]
async fn deleting_again_changes_the_propagation_policy() {
    let f = Fixture::start(None).await;
    let owner = f.create("owner", vec![], &[]).await;
    f.create("held", vec![owner_ref(&owner, true)], &["example.com/hold"])
        .await;
    f.delete("owner", Some(PropagationPolicy::Foreground)).await;
    assert_eq!(f.finalizers("owner").await, vec!["foregroundDeletion"]);

    f.delete("owner", Some(PropagationPolicy::Background)).await;
    assert!(!f.exists("owner").await);
    let held = f.api.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    f.env.stop().await;
}

/// The collector works across kinds: a custom resource owns ConfigMaps, and deleting its
/// namespace's content or the CR itself takes them along.
#[tokio::test]
async fn custom_resources_own_built_ins() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let gvk = GroupVersionKind::gvk("stable.example.com", "v1", "CronTab");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "crontabs");
    let crontabs: Api<DynamicObject> = Api::namespaced_with(env.client(), "default", &ar);
    let mut ct = DynamicObject::new("nightly", &ar);
    ct.data = json!({ "spec": { "cronSpec": "0 0 * * *" } });
    let ct = crontabs.create(&PostParams::default(), &ct).await.unwrap();
    let owner = serde_json::to_value(&ct).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    for name in ["a", "b"] {
        cms.create(
            &PostParams::default(),
            &cm(name, vec![owner_ref(&owner, true)], &[]),
        )
        .await
        .unwrap();
    }
    crontabs
        .delete("nightly", &DeleteParams::default())
        .await
        .unwrap();
    for name in ["a", "b"] {
        assert!(cms.get_opt(name).await.unwrap().is_none());
    }
    env.stop().await;
}

/// `garbage_collection(false)` is controller-runtime's envtest: a kube-apiserver without
/// kube-controller-manager stores ownerReferences, but nothing deletes dependents, and the
/// foregroundDeletion finalizer stays until someone removes it.
#[tokio::test]
async fn garbage_collection_can_be_turned_off() {
    let f = Fixture::start(Some(false)).await;
    let owner = f.create("owner", vec![], &[]).await;
    f.create("child", vec![owner_ref(&owner, false)], &[]).await;
    f.create(
        "dangling",
        vec![json!({ "apiVersion": "v1", "kind": "ConfigMap",
        "name": "nobody", "uid": "22222222-2222-2222-2222-222222222222" })],
        &[],
    )
    .await;
    f.delete("owner", None).await;
    assert!(f.exists("child").await);
    assert!(f.exists("dangling").await);

    let fg = f.create("fg-owner", vec![], &[]).await;
    f.create("fg-child", vec![owner_ref(&fg, true)], &[]).await;
    f.delete("fg-owner", Some(PropagationPolicy::Foreground))
        .await;
    assert_eq!(f.finalizers("fg-owner").await, vec!["foregroundDeletion"]);
    assert!(f.exists("fg-child").await);
    f.env.stop().await;
}
