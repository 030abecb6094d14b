use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use kube::Resource;
use tokio::sync::watch;

/// The key of an object in a [`Store`]: its namespace (`None` for cluster-scoped objects) and name.
///
/// Displays as `namespace/name`, or just `name` for cluster-scoped objects, like client-go's
/// `MetaNamespaceKeyFunc`.
///
/// ```
/// use kubesmith_runtime::cache::ObjectKey;
/// assert_eq!(ObjectKey::namespaced("default", "web").to_string(), "default/web");
/// assert_eq!(ObjectKey::cluster("node-1").to_string(), "node-1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// The key of a namespaced object.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// The key of a cluster-scoped object.
    pub fn cluster(name: impl Into<String>) -> Self {
        Self {
            namespace: None,
            name: name.into(),
        }
    }

    /// The key of `obj`, or `None` when it has no name (which the API server never sends).
    pub fn from_object<K: Resource>(obj: &K) -> Option<Self> {
        let meta = obj.meta();
        Some(Self {
            namespace: meta.namespace.clone(),
            name: meta.name.clone()?,
        })
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A read-only view of every object of type `K`, kept current by the informer's watch (so it
/// lags the API server by the watch latency, and a write is visible here only once its watch
/// event arrived).
///
/// Cloning is cheap and gives another view of the same store. Objects are shared as `Arc<K>`:
/// reading never copies an object, and `metadata.managedFields` is stripped to save memory.
///
/// ```no_run
/// # async fn doc(cache: kubesmith_runtime::cache::Cache) {
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kubesmith_runtime::cache::ObjectKey;
///
/// let store = cache.store::<ConfigMap>();
/// store.wait_for_sync().await;
/// if let Some(cm) = store.get(&ObjectKey::namespaced("default", "settings")) {
///     println!("{:?}", cm.data);
/// }
/// # }
/// ```
pub struct Store<K> {
    inner: Arc<StoreInner<K>>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> fmt::Debug for Store<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("len", &self.len())
            .field("synced", &self.has_synced())
            .finish()
    }
}

pub(crate) struct StoreInner<K> {
    pub(crate) objects: RwLock<HashMap<ObjectKey, Arc<K>>>,
    pub(crate) synced: watch::Sender<bool>,
}

impl<K> Store<K> {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(StoreInner {
                objects: RwLock::new(HashMap::new()),
                synced: watch::Sender::new(false),
            }),
        }
    }

    pub(crate) fn inner(&self) -> &StoreInner<K> {
        &self.inner
    }

    /// The object with this key, if the informer has seen it and not seen its deletion.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.read().get(key).cloned()
    }

    /// Every object in the store, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().values().cloned().collect()
    }

    /// Every object in namespace `namespace`.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read()
            .iter()
            .filter(|(key, _)| key.namespace.as_deref() == Some(namespace))
            .map(|(_, obj)| Arc::clone(obj))
            .collect()
    }

    /// Number of objects in the store.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store holds no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the first complete list has been loaded.
    pub fn has_synced(&self) -> bool {
        *self.inner.synced.borrow()
    }

    /// Waits until the first complete list has been loaded (returns at once afterwards).
    pub async fn wait_for_sync(&self) {
        let mut rx = self.inner.synced.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|synced| *synced).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ObjectKey, Arc<K>>> {
        self.inner
            .objects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
