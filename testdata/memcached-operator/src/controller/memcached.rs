//! The Memcached controller: makes the cluster match each Memcached's spec.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kubesmith_runtime::prelude::*;
use kubesmith_runtime::{apply, owner};

use crate::api::cache::v1alpha1 as api;

/// Put on every Memcached so the controller can clean up before the object is deleted.
pub const FINALIZER: &str = "cache.example.com/finalizer";

/// Reconciles Memcached objects.
#[derive(Clone, Debug, Default)]
pub struct MemcachedReconciler;

#[kubesmith_runtime::rbac(
    groups = ["cache.example.com"],
    resources = ["memcacheds"],
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
)]
#[kubesmith_runtime::rbac(
    groups = ["cache.example.com"],
    resources = ["memcacheds/status"],
    verbs = ["get", "update", "patch"]
)]
#[kubesmith_runtime::rbac(groups = ["cache.example.com"], resources = ["memcacheds/finalizers"], verbs = ["update"])]
#[kubesmith_runtime::rbac(
    groups = [""],
    resources = ["configmaps"],
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
)]
#[kubesmith_runtime::rbac(groups = ["", "events.k8s.io"], resources = ["events"], verbs = ["create", "patch"])]
impl Reconciler<api::Memcached> for MemcachedReconciler {
    async fn reconcile(&self, ctx: Context<api::Memcached>) -> Result<Action, ReconcileError> {
        // Gone from the cache: it was deleted after its finalizer was released.
        let Some(obj) = ctx.get() else {
            return Ok(Action::await_change());
        };
        let api = ctx.api();

        if obj.metadata.deletion_timestamp.is_some() {
            // TODO(user): release what this Memcached holds outside the cluster, then let it go.
            finalizer::remove(&api, &obj, FINALIZER).await?;
            return Ok(Action::await_change());
        }
        if finalizer::add(&api, &obj, FINALIZER).await? {
            // The update brings the object back through the queue with the finalizer in place.
            return Ok(Action::await_change());
        }

        // TODO(user): make the cluster match obj.spec here.

        // An example child: a ConfigMap this Memcached controls. The controller `owns`
        // ConfigMaps, so deleting it brings it back; the garbage collector deletes it with
        // its owner.
        let mut config = ConfigMap::default();
        config.metadata.name = Some(format!("{}-config", obj.name_any()));
        config.metadata.namespace = obj.namespace();
        owner::set_controller_reference(&*obj, &mut config)?;
        let owner_references = config.metadata.owner_references.clone();
        let data = BTreeMap::from([("foo".to_string(), obj.spec.foo.clone().unwrap_or_default())]);
        let configmaps: Api<ConfigMap> =
            Api::namespaced(ctx.client().clone(), &obj.namespace().unwrap_or_default());
        apply::create_or_update(&configmaps, config, |cm| {
            cm.metadata.owner_references = owner_references;
            cm.data = Some(data);
        })
        .await?;

        let mut status = obj.status.clone().unwrap_or_default();
        let ready = conditions::new(
            "Ready",
            "True",
            "Reconciled",
            format!("Memcached {} is reconciled", obj.name_any()),
            obj.metadata.generation,
        );
        if conditions::set(&mut status.conditions, ready) {
            let patch = Patch::Merge(serde_json::json!({ "status": status }));
            api.patch_status(&obj.name_any(), &PatchParams::default(), &patch)
                .await?;
            ctx.recorder()
                .publish(&*obj, EventType::Normal, "Reconciled", "Reconcile", "")
                .await;
        }
        Ok(Action::await_change())
    }
}

/// Registers the memcached controller with the manager.
pub fn add(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    Controller::managed_by(mgr)
        .for_::<api::Memcached>()
        .owns::<ConfigMap>()
        .named("memcached")
        .complete(MemcachedReconciler)
}
