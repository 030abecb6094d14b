//! The deployment controller: acts on every Deployment (apps/v1, a built-in kind).

use k8s_openapi::api::apps::v1::Deployment;
use kubesmith_runtime::prelude::*;

/// Reconciles Deployment objects.
#[derive(Clone, Debug, Default)]
pub struct DeploymentReconciler;

#[kubesmith_runtime::rbac(
    groups = ["apps"],
    resources = ["deployments"],
    verbs = ["get", "list", "watch", "update", "patch"], namespace = "namespaced-operator-system"
)]
#[kubesmith_runtime::rbac(groups = ["", "events.k8s.io"], resources = ["events"], verbs = ["create", "patch"], namespace = "namespaced-operator-system")]
impl Reconciler<Deployment> for DeploymentReconciler {
    async fn reconcile(&self, ctx: Context<Deployment>) -> Result<Action, ReconcileError> {
        // Gone from the cache: it was deleted.
        let Some(obj) = ctx.get() else {
            return Ok(Action::await_change());
        };

        // TODO(user): act on the Deployment here. Its spec and status belong to Kubernetes' own
        // controllers; an operator usually manages other objects from what it reads, or
        // labels and annotations on it.
        ctx.recorder()
            .publish(&*obj, EventType::Normal, "Reconciled", "Reconcile", "")
            .await;
        Ok(Action::await_change())
    }
}

/// Registers the deployment controller with the manager.
pub fn add(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    Controller::managed_by(mgr)
        .for_::<Deployment>()
        .named("deployment")
        .complete(DeploymentReconciler)
}
