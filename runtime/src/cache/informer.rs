//! One list+watch of one resource type, applied to a [`Store`] and fanned out to handlers.

use std::any::Any;
use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use super::store::Objects;
use super::{CacheResource, Cached, EventHandler, Notification, ObjectKey, Running, Store};

/// Where an informer lists and watches: resolved when the informer starts, because a
/// dynamic type may first need discovery.
pub(super) type ApiFactory<K> =
    Box<dyn Fn(Client) -> BoxFuture<'static, Result<Api<K>, kube::Error>> + Send + Sync>;

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
    /// `apiVersion/Kind[ in namespace]`, for logs.
    description: String,
    api: ApiFactory<K>,
    /// Selectors and list/watch settings.
    config: watcher::Config,
    handlers: RwLock<Vec<EventHandler<K>>>,
    started: std::sync::atomic::AtomicBool,
}

impl<K: Cached> Informer<K> {
    pub(super) fn new(
        description: String,
        kind: &str,
        api: ApiFactory<K>,
        config: watcher::Config,
    ) -> Self {
        Self {
            store: Store::new(kind),
            description,
            api,
            config,
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

    /// Resolves the API (retrying discovery failures with backoff), then watches until
    /// stopped.
    async fn run(self: Arc<Self>, client: Client, stop: CancellationToken) {
        let mut retry_in = Duration::from_millis(500);
        let api = loop {
            let resolved = tokio::select! {
                () = stop.cancelled() => return,
                api = (self.api)(client.clone()) => api,
            };
            match resolved {
                Ok(api) => break api,
                Err(err) => {
                    tracing::warn!(informer = %self.description, error = %err, retry_in = ?retry_in, "cannot resolve the resource to watch; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(retry_in) => {}
                    }
                    retry_in = (retry_in * 2).min(Duration::from_secs(30));
                }
            }
        };
        let mut events = pin!(watcher(api, self.config.clone()).default_backoff());
        // Objects of a relist in progress; swapped in whole on InitDone so readers never see a
        // half-listed store.
        let mut relist: Option<Objects<K>> = None;
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => break,
                event = events.next() => event,
            };
            match event {
                Some(Ok(event)) => self.apply(event, &mut relist),
                Some(Err(err)) => {
                    tracing::warn!(informer = %self.description, error = %err, "watch failed; retrying with backoff");
                }
                None => {
                    tracing::error!(informer = %self.description, "watch stream ended unexpectedly");
                    break;
                }
            }
        }
        tracing::debug!(informer = %self.description, "informer stopped");
    }

    fn apply(&self, event: watcher::Event<K>, relist: &mut Option<Objects<K>>) {
        match event {
            watcher::Event::Apply(obj) => {
                let Some((key, new)) = prepare(obj) else {
                    return;
                };
                let old = self.store.write().insert(key, Arc::clone(&new));
                self.dispatch(&[match old {
                    Some(old) => Notification::Updated { old, new },
                    None => Notification::Added(new),
                }]);
            }
            watcher::Event::Delete(obj) => {
                let Some((key, obj)) = prepare(obj) else {
                    return;
                };
                let last = self.store.write().remove(&key).unwrap_or(obj);
                self.dispatch(&[Notification::Deleted(last)]);
            }
            watcher::Event::Init => {
                if self.store.has_synced() {
                    self.store.inner().relists.fetch_add(1, Ordering::Relaxed);
                }
                *relist = Some(HashMap::new());
            }
            watcher::Event::InitApply(obj) => {
                if let Some((key, obj)) = prepare(obj) {
                    relist.get_or_insert_with(HashMap::new).insert(key, obj);
                }
            }
            watcher::Event::InitDone => {
                let listed = relist.take().unwrap_or_default();
                let notifications = {
                    let mut state = self.store.write();
                    let mut previous = state.replace(listed);
                    let objects = state.objects();
                    let mut notifications = Vec::with_capacity(objects.len() + previous.len());
                    for (key, new) in objects {
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
}

/// Keys the object and drops `managedFields`, which are large and never needed by
/// controllers (the last-applied annotation is kept: a PUT from the cache must not lose it).
///
/// The cache keeps a clone, not the decoded object: serde grows every `Vec` by
/// doubling while decoding, and the spare capacity would stay allocated for the object's
/// whole life in the cache (about a fifth of a decoded Pod's heap). A clone allocates each
/// at its exact length; the decoded object is dropped here. This costs a copy per event
/// (sync CPU; BENCHMARKS.md has both figures).
fn prepare<K: Cached>(mut obj: K) -> Option<(Arc<ObjectKey>, Arc<K>)> {
    obj.meta_mut().managed_fields = None;
    let key = ObjectKey::from_object(&obj)?;
    let compact = obj.clone();
    drop(obj);
    Some((Arc::new(key), Arc::new(compact)))
}

impl<K: CacheResource> Informer<K> {
    /// The informer of a statically typed resource, in `namespace` when it is namespaced.
    pub(super) fn typed(namespace: Option<String>, config: watcher::Config) -> Self {
        let kind = K::kind(&());
        let api_version = K::api_version(&());
        let scoped = namespace.filter(|_| <K::Scope as super::ApiScope>::is_namespaced());
        let only = if K::metadata_api() { " (metadata)" } else { "" };
        let mut description = match &scoped {
            Some(ns) => format!("{api_version}/{kind}{only} in {ns}"),
            None => format!("{api_version}/{kind}{only}"),
        };
        for selector in [&config.label_selector, &config.field_selector]
            .into_iter()
            .flatten()
        {
            description.push_str(&format!(" where {selector}"));
        }
        let api: ApiFactory<K> = Box::new(move |client| {
            let api = super::api_for::<K>(client, scoped.as_deref());
            Box::pin(async move { Ok(api) })
        });
        Self::new(description, &kind, api, config)
    }
}

impl<K: Cached> ErasedInformer for Informer<K> {
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
        self.description.clone()
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
        let informer = Informer::<ConfigMap>::typed(None, watcher::Config::default());
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
        let informer = Informer::<ConfigMap>::typed(None, watcher::Config::default());
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

    fn targeting(name: &str, rv: &str, target: &str, owner_uid: Option<&str>) -> ConfigMap {
        let mut obj = cm(name, rv);
        obj.data = Some([("target".to_owned(), target.to_owned())].into());
        obj.metadata.owner_references = owner_uid.map(|uid| {
            vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: "v1".into(),
                    kind: "Owner".into(),
                    name: "owner".into(),
                    uid: uid.into(),
                    controller: Some(true),
                    block_owner_deletion: None,
                },
            ]
        });
        obj
    }

    fn names(objs: Vec<Arc<ConfigMap>>) -> Vec<String> {
        let mut names: Vec<String> = objs
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn indexes_follow_adds_updates_deletes_and_relists() {
        let informer = Informer::<ConfigMap>::typed(None, watcher::Config::default());
        let store = informer.store.clone();
        let by_target: super::super::IndexFn<ConfigMap> = Arc::new(|cm: &ConfigMap| {
            cm.data
                .iter()
                .filter_map(|d| d.get("target").cloned())
                .collect()
        });
        store.add_index("target", Arc::clone(&by_target)).unwrap();
        assert_eq!(
            store.add_index("target", by_target),
            Err(super::super::CacheError::DuplicateIndex {
                kind: "ConfigMap".into(),
                name: "target".into()
            })
        );
        let mut relist = None;
        informer.apply(watcher::Event::Init, &mut relist);
        informer.apply(
            watcher::Event::InitApply(targeting("a", "1", "x", Some("u1"))),
            &mut relist,
        );
        informer.apply(
            watcher::Event::InitApply(targeting("b", "2", "x", None)),
            &mut relist,
        );
        informer.apply(watcher::Event::InitDone, &mut relist);
        assert_eq!(names(store.by_index("target", "x").unwrap()), ["a", "b"]);
        assert_eq!(names(store.owned_by("u1")), ["a"]);

        // an update moves the object between index values, and drops its owner
        informer.apply(
            watcher::Event::Apply(targeting("a", "3", "y", None)),
            &mut relist,
        );
        assert_eq!(names(store.by_index("target", "x").unwrap()), ["b"]);
        assert_eq!(names(store.by_index("target", "y").unwrap()), ["a"]);
        assert!(store.owned_by("u1").is_empty());
        assert_eq!(store.index_values("target").unwrap().len(), 2);

        informer.apply(
            watcher::Event::Delete(targeting("b", "4", "x", None)),
            &mut relist,
        );
        assert!(store.by_index("target", "x").unwrap().is_empty());
        assert_eq!(store.index_values("target").unwrap(), ["y"]);

        // a relist replaces everything: indexes are rebuilt from the new list only
        assert_eq!(store.relists(), 0);
        informer.apply(watcher::Event::Init, &mut relist);
        assert_eq!(store.relists(), 1);
        informer.apply(
            watcher::Event::InitApply(targeting("a", "5", "z", None)),
            &mut relist,
        );
        informer.apply(
            watcher::Event::InitApply(targeting("c", "6", "x", Some("u2"))),
            &mut relist,
        );
        informer.apply(watcher::Event::InitDone, &mut relist);
        assert_eq!(names(store.by_index("target", "x").unwrap()), ["c"]);
        assert!(store.by_index("target", "y").unwrap().is_empty());
        assert_eq!(names(store.by_index("target", "z").unwrap()), ["a"]);
        let mut values = store.index_values("target").unwrap();
        values.sort();
        assert_eq!(values, ["x", "z"]);
        assert_eq!(names(store.owned_by("u2")), ["c"]);
        assert_eq!(names(store.list_namespace("default")), ["a", "c"]);

        // an index added later covers what is cached already
        store
            .add_index(
                "name",
                Arc::new(|cm: &ConfigMap| cm.metadata.name.iter().cloned().collect()),
            )
            .unwrap();
        assert_eq!(names(store.by_index("name", "c").unwrap()), ["c"]);
        assert_eq!(names(store.by_index("name", "a").unwrap()), ["a"]);
        assert!(matches!(
            store.by_index("nmae", "c"),
            Err(super::super::CacheError::UnknownIndex { .. })
        ));
    }

    #[test]
    fn relist_emits_tombstones_for_vanished_objects() {
        let informer = Informer::<ConfigMap>::typed(None, watcher::Config::default());
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
