//! The Match controller: makes the cluster match each Match's spec.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kubesmith_runtime::prelude::*;
use kubesmith_runtime::{apply, owner};

use crate::api::sea_creatures::v1beta2 as api;

/// Put on every Match so the controller can clean up before the object is deleted.
pub const FINALIZER: &str = "sea-creatures.testproject.org/finalizer";

/// Reconciles Match objects.
#[derive(Clone, Debug, Default)]
pub struct MatchReconciler;

#[kubesmith_runtime::rbac(
    groups = ["sea-creatures.testproject.org"],
    resources = ["matches"],
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
)]
#[kubesmith_runtime::rbac(
    groups = ["sea-creatures.testproject.org"],
    resources = ["matches/status"],
    verbs = ["get", "update", "patch"]
)]
#[kubesmith_runtime::rbac(groups = ["sea-creatures.testproject.org"], resources = ["matches/finalizers"], verbs = ["update"])]
#[kubesmith_runtime::rbac(
    groups = [""],
    resources = ["configmaps"],
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
)]
#[kubesmith_runtime::rbac(groups = ["", "events.k8s.io"], resources = ["events"], verbs = ["create", "patch"])]
impl Reconciler<api::Match> for MatchReconciler {
    async fn reconcile(&self, ctx: Context<api::Match>) -> Result<Action, ReconcileError> {
        // Gone from the cache: it was deleted after its finalizer was released.
        let Some(obj) = ctx.get() else {
            return Ok(Action::await_change());
        };
        let api = ctx.api();

        if obj.metadata.deletion_timestamp.is_some() {
            // TODO(user): release what this Match holds outside the cluster, then let it go.
            finalizer::remove(&api, &obj, FINALIZER).await?;
            return Ok(Action::await_change());
        }
        if finalizer::add(&api, &obj, FINALIZER).await? {
            // The update brings the object back through the queue with the finalizer in place.
            return Ok(Action::await_change());
        }

        // TODO(user): make the cluster match obj.spec here.

        // An example child: a ConfigMap this Match controls. The controller `owns`
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
            format!("Match {} is reconciled", obj.name_any()),
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

/// Registers the match controller with the manager.
pub fn add(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    Controller::managed_by(mgr)
        .for_::<api::Match>()
        .owns::<ConfigMap>()
        .named("match")
        .complete(MatchReconciler)
}
