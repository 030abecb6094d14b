//! One list+watch of one resource type, applied to a [`Store`] and fanned out to handlers.

use std::any::Any;
use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::Client;
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;

use super::{CacheResource, EventHandler, Notification, ObjectKey, Running, Store, api_for};

/// The type-erased face of an [`Informer`], so the cache can hold informers of many types.
pub(super) trait ErasedInformer: Send + Sync {
    fn start(self: Arc<Self>, client: Client, running: &Running);
    fn has_synced(&self) -> bool;
    fn wait_for_sync(&self) -> BoxFuture<'static, ()>;
    fn describe(&self) -> String;
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

pub(super) struct Informer<K> {
    pub(super) store: Store<K>,
    namespace: Option<String>,
    handlers: RwLock<Vec<EventHandler<K>>>,
    started: std::sync::atomic::AtomicBool,
}

impl<K: CacheResource> Informer<K> {
    pub(super) fn new(namespace: Option<String>) -> Self {
        Self {
            store: Store::new(),
            namespace,
            handlers: RwLock::new(Vec::new()),
            started: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(super) fn add_handler(&self, handler: EventHandler<K>) {
        // Holding the write lock while replaying keeps a concurrent dispatch from slipping
        // between the snapshot and the registration (see `dispatch`).
        let mut handlers = self
            .handlers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.store.has_synced() {
            for obj in self.store.list() {
                handler(&Notification::Added(obj));
            }
        }
        handlers.push(handler);
    }

    async fn run(self: Arc<Self>, client: Client, stop: CancellationToken) {
        let api = api_for::<K>(client, self.namespace.as_deref());
        let mut events = pin!(watcher(api, watcher::Config::default()).default_backoff());
        // Objects of a relist in progress; swapped in whole on InitDone so readers never see a
        // half-listed store.
        let mut relist: Option<HashMap<ObjectKey, Arc<K>>> = None;
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => break,
                event = events.next() => event,
            };
            match event {
                Some(Ok(event)) => self.apply(event, &mut relist),
                Some(Err(err)) => {
                    tracing::warn!(informer = %self.describe(), error = %err, "watch failed; retrying with backoff");
                }
                None => {
                    tracing::error!(informer = %self.describe(), "watch stream ended unexpectedly");
                    break;
                }
            }
        }
        tracing::debug!(informer = %self.describe(), "informer stopped");
    }

    fn apply(&self, event: watcher::Event<K>, relist: &mut Option<HashMap<ObjectKey, Arc<K>>>) {
        match event {
            watcher::Event::Apply(obj) => {
                let Some((key, new)) = prepare(obj) else {
                    return;
                };
                let old = self.write().insert(key, Arc::clone(&new));
                self.dispatch(&[match old {
                    Some(old) => Notification::Updated { old, new },
                    None => Notification::Added(new),
                }]);
            }
            watcher::Event::Delete(obj) => {
                let Some((key, obj)) = prepare(obj) else {
                    return;
                };
                let last = self.write().remove(&key).unwrap_or(obj);
                self.dispatch(&[Notification::Deleted(last)]);
            }
            watcher::Event::Init => *relist = Some(HashMap::new()),
            watcher::Event::InitApply(obj) => {
                if let Some((key, obj)) = prepare(obj) {
                    relist.get_or_insert_with(HashMap::new).insert(key, obj);
                }
            }
            watcher::Event::InitDone => {
                let listed = relist.take().unwrap_or_default();
                let notifications = {
                    let mut objects = self.write();
                    let mut previous = std::mem::replace(&mut *objects, listed);
                    let mut notifications = Vec::with_capacity(objects.len() + previous.len());
                    for (key, new) in objects.iter() {
                        notifications.push(match previous.remove(key) {
                            Some(old) => Notification::Updated {
                                old,
                                new: Arc::clone(new),
                            },
                            None => Notification::Added(Arc::clone(new)),
                        });
                    }
                    // Whatever was cached but not relisted was deleted while the watch was down.
                    notifications.extend(previous.into_values().map(Notification::Deleted));
                    notifications
                };
                // Marked synced before dispatching, so a handler registered concurrently either
                // gets this dispatch or the replay in `add_handler`.
                self.store.inner().synced.send_replace(true);
                self.dispatch(&notifications);
            }
        }
    }

    fn dispatch(&self, notifications: &[Notification<K>]) {
        let handlers = self
            .handlers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for notification in notifications {
            for handler in handlers.iter() {
                handler(notification);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ObjectKey, Arc<K>>> {
        self.store
            .inner()
            .objects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Keys the object and drops `managedFields`, which are large and never needed by
/// controllers (the last-applied annotation is kept: a PUT from the cache must not lose it).
fn prepare<K: CacheResource>(mut obj: K) -> Option<(ObjectKey, Arc<K>)> {
    obj.meta_mut().managed_fields = None;
    let key = ObjectKey::from_object(&obj)?;
    Some((key, Arc::new(obj)))
}

impl<K: CacheResource> ErasedInformer for Informer<K> {
    fn start(self: Arc<Self>, client: Client, running: &Running) {
        if self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        running
            .tasks
            .spawn_on(self.run(client, running.stop.clone()), &running.runtime);
    }

    fn has_synced(&self) -> bool {
        self.store.has_synced()
    }

    fn wait_for_sync(&self) -> BoxFuture<'static, ()> {
        let store = self.store.clone();
        Box::pin(async move { store.wait_for_sync().await })
    }

    fn describe(&self) -> String {
        let kind = K::kind(&());
        let api_version = K::api_version(&());
        match &self.namespace {
            Some(ns) => format!("{api_version}/{kind} in {ns}"),
            None => format!("{api_version}/{kind}"),
        }
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use kube::core::ObjectMeta;

    use super::*;

    fn cm(name: &str, rv: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                annotations: Some(
                    [(
                        "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                        "{}".to_owned(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    /// Records notifications as `kind:name@rv`.
    fn recorder(informer: &Informer<ConfigMap>) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        informer.add_handler(Arc::new(move |n: &Notification<ConfigMap>| {
            let what = match n {
                Notification::Added(_) => "add",
                Notification::Updated { .. } => "update",
                Notification::Deleted(_) => "delete",
            };
            let obj = n.object();
            let entry = format!(
                "{what}:{}@{}",
                obj.metadata.name.as_deref().unwrap_or_default(),
                obj.metadata.resource_version.as_deref().unwrap_or_default()
            );
            sink.lock().unwrap().push(entry);
        }));
        seen
    }

    fn drain(seen: &Mutex<Vec<String>>) -> Vec<String> {
        let mut v = std::mem::take(&mut *seen.lock().unwrap());
        v.sort();
        v
    }

    #[test]
    fn initial_list_is_swapped_in_at_init_done() {
        let informer = Informer::<ConfigMap>::new(None);
        let seen = recorder(&informer);
        let mut relist = None;
        informer.apply(watcher::Event::Init, &mut relist);
        informer.apply(watcher::Event::InitApply(cm("a", "1")), &mut relist);
        // readers never see a half-listed store
        assert_eq!(informer.store.len(), 0);
        assert!(!informer.store.has_synced());
        informer.apply(watcher::Event::InitApply(cm("b", "2")), &mut relist);
        informer.apply(watcher::Event::InitDone, &mut relist);
        assert!(informer.store.has_synced());
        assert_eq!(informer.store.len(), 2);
        assert_eq!(drain(&seen), ["add:a@1", "add:b@2"]);

        let a = informer
            .store
            .get(&ObjectKey::namespaced("default", "a"))
            .unwrap();
        assert!(
            a.metadata.managed_fields.is_none(),
            "managedFields are stripped"
        );
        assert!(
            a.metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key("kubectl.kubernetes.io/last-applied-configuration")
        );
    }

    #[test]
    fn watch_events_update_store_and_notify() {
        let informer = Informer::<ConfigMap>::new(None);
        let mut relist = None;
        informer.apply(watcher::Event::Init, &mut relist);
        informer.apply(watcher::Event::InitDone, &mut relist);
        let seen = recorder(&informer);
        informer.apply(watcher::Event::Apply(cm("a", "1")), &mut relist);
        informer.apply(watcher::Event::Apply(cm("a", "2")), &mut relist);
        informer.apply(watcher::Event::Delete(cm("a", "3")), &mut relist);
        assert_eq!(
            *seen.lock().unwrap(),
            ["add:a@1", "update:a@2", "delete:a@2"]
        );
        assert!(informer.store.is_empty());
    }

    #[test]
    fn relist_emits_tombstones_for_vanished_objects() {
        let informer = Informer::<ConfigMap>::new(None);
        let mut relist = None;
        informer.apply(watcher::Event::Init, &mut relist);
        informer.apply(watcher::Event::InitApply(cm("stays", "1")), &mut relist);
        informer.apply(watcher::Event::InitApply(cm("vanishes", "2")), &mut relist);
        informer.apply(watcher::Event::InitDone, &mut relist);
        let seen = recorder(&informer);
        // the late handler got the current contents replayed
        assert_eq!(drain(&seen), ["add:stays@1", "add:vanishes@2"]);

        // the watch expired (410); the relist misses one object and has a new one
        informer.apply(watcher::Event::Init, &mut relist);
        informer.apply(watcher::Event::InitApply(cm("stays", "5")), &mut relist);
        informer.apply(watcher::Event::InitApply(cm("new", "6")), &mut relist);
        // during the relist the old state is still served
        assert!(
            informer
                .store
                .get(&ObjectKey::namespaced("default", "vanishes"))
                .is_some()
        );
        informer.apply(watcher::Event::InitDone, &mut relist);
        assert_eq!(
            drain(&seen),
            ["add:new@6", "delete:vanishes@2", "update:stays@5"]
        );
        assert_eq!(informer.store.len(), 2);
        assert_eq!(informer.store.list_namespace("default").len(), 2);
        assert!(informer.store.list_namespace("other").is_empty());
    }
}
