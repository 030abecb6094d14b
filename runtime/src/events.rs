//! Kubernetes events (`events.k8s.io/v1`) published by a controller about the objects it
//! reconciles, visible with `kubectl describe` and `kubectl events`.

use kube::Client;
use kube::Resource;
pub use kube::runtime::events::EventType;
use kube::runtime::events::{Event, Reporter};

/// Publishes events as one controller (the event's reporting controller).
///
/// Failures to publish are logged and otherwise ignored: an event is never worth failing a
/// reconcile for. Repeated identical events are folded into an event series by kube.
///
/// ```no_run
/// use kubesmith_runtime::prelude::*;
/// use k8s_openapi::api::core::v1::ConfigMap;
///
/// # async fn doc(ctx: Context<ConfigMap>, cm: &ConfigMap) {
/// ctx.recorder()
///     .publish(cm, EventType::Normal, "Synced", "Reconcile", "config map is up to date")
///     .await;
/// # }
/// ```
#[derive(Clone)]
pub struct Recorder {
    inner: kube::runtime::events::Recorder,
    controller: String,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("controller", &self.controller)
            .finish()
    }
}

impl Recorder {
    /// A recorder reporting as `controller` (the instance is this host's name).
    pub fn new(client: Client, controller: &str) -> Self {
        Self {
            inner: kube::runtime::events::Recorder::new(client, Reporter::from(controller)),
            controller: controller.to_owned(),
        }
    }

    /// Records an event about `obj`: `reason` is a short UpperCamelCase cause, `action` what
    /// the controller did or failed to do, `note` a human-readable description (empty for none).
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: impl Into<String>,
        action: impl Into<String>,
        note: impl Into<String>,
    ) {
        let note = note.into();
        let event = Event {
            type_,
            reason: reason.into(),
            note: (!note.is_empty()).then_some(note),
            action: action.into(),
            secondary: None,
        };
        let reference = obj.object_ref(&());
        if let Err(err) = self.inner.publish(&event, &reference).await {
            tracing::warn!(
                controller = %self.controller,
                reason = %event.reason,
                object = ?reference.name,
                error = %err,
                "failed to publish event"
            );
        }
    }
}
