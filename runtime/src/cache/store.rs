use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use kube::Resource;
use tokio::sync::watch;

/// The built-in index of every store: objects by `metadata.namespace` (cluster-scoped objects
/// are not in it), as client-go's `cache.NamespaceIndex`. [`Store::list_namespace`] reads it.
pub const NAMESPACE_INDEX: &str = "namespace";

/// The built-in index of every store: objects by the UID of their controller owner reference
/// (the one with `controller: true`). [`Store::owned_by`] reads it.
pub const CONTROLLER_OWNER_INDEX: &str = "controller-owner-uid";

/// What an index function returns for an object: the values it is found under (none, one or
/// several), as client-go's `IndexFunc` and controller-runtime's `IndexerFunc`.
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// Errors of configuring a [`Cache`](super::Cache) and reading [`Store`] indexes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheError {
    /// An index of this name already exists on the store (built-in names included).
    #[error("the store of {kind} already has an index named {name:?}")]
    DuplicateIndex {
        /// The object kind of the store.
        kind: String,
        /// The index name.
        name: String,
    },
    /// No index of this name was registered (see `Cache::index_field`).
    #[error("the store of {kind} has no index named {name:?}")]
    UnknownIndex {
        /// The object kind of the store.
        kind: String,
        /// The index name.
        name: String,
    },
    /// The watch of this type was configured after the type was first asked for, when its
    /// watch already had its settings.
    #[error(
        "{kind} is watched already; configure its watch (Cache::watch_config) before anything asks for it"
    )]
    AlreadyWatched {
        /// The object kind.
        kind: String,
    },
}

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
/// Every store is indexed by namespace ([`list_namespace`](Self::list_namespace)) and by
/// controller owner UID ([`owned_by`](Self::owned_by)); field indexes registered with
/// [`Cache::index_field`](super::Cache::index_field) are read with
/// [`by_index`](Self::by_index). Indexes change together with the objects, under one lock, so
/// a lookup never sees an index and objects that disagree.
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
/// println!("{} in kube-system", store.list_namespace("kube-system").len());
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
        let state = self.read();
        let mut indexes: Vec<&str> = state.indexes.keys().map(String::as_str).collect();
        indexes.sort_unstable();
        f.debug_struct("Store")
            .field("len", &state.objects.len())
            .field("indexes", &indexes)
            .field("synced", &*self.inner.synced.borrow())
            .finish()
    }
}

pub(crate) struct StoreInner<K> {
    pub(crate) state: RwLock<StoreState<K>>,
    pub(crate) synced: watch::Sender<bool>,
    /// Lists after the first one (relists after a 410 or a failed watch).
    pub(crate) relists: AtomicU64,
    kind: String,
}

/// Objects by key. Keys are `Arc`s so the indexes can share them.
pub(crate) type Objects<K> = HashMap<Arc<ObjectKey>, Arc<K>>;

/// The objects and their indexes; only ever changed through its methods, which keep both in
/// step.
pub(crate) struct StoreState<K> {
    objects: Objects<K>,
    indexes: HashMap<String, Index<K>>,
}

struct Index<K> {
    func: IndexFn<K>,
    /// Keys are shared with the objects map: indexing an object costs a pointer per value.
    entries: HashMap<String, HashSet<Arc<ObjectKey>>>,
}

impl<K> Index<K> {
    fn new(func: IndexFn<K>) -> Self {
        Self {
            func,
            entries: HashMap::new(),
        }
    }

    fn add(&mut self, key: &Arc<ObjectKey>, obj: &K) {
        for value in (self.func)(obj) {
            self.entries
                .entry(value)
                .or_default()
                .insert(Arc::clone(key));
        }
    }

    fn remove(&mut self, key: &ObjectKey, obj: &K) {
        for value in (self.func)(obj) {
            if let Some(keys) = self.entries.get_mut(&value) {
                keys.remove(key);
                if keys.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }
}

impl<K> StoreState<K> {
    /// Inserts or replaces the object, returning the previous state.
    pub(crate) fn insert(&mut self, key: Arc<ObjectKey>, obj: Arc<K>) -> Option<Arc<K>> {
        let old = self.objects.insert(Arc::clone(&key), Arc::clone(&obj));
        for index in self.indexes.values_mut() {
            if let Some(old) = &old {
                index.remove(&key, old);
            }
            index.add(&key, &obj);
        }
        old
    }

    /// Removes the object, returning its last state.
    pub(crate) fn remove(&mut self, key: &ObjectKey) -> Option<Arc<K>> {
        let old = self.objects.remove(key)?;
        for index in self.indexes.values_mut() {
            index.remove(key, &old);
        }
        Some(old)
    }

    /// Replaces every object (a relist), rebuilding the indexes; returns the previous objects.
    pub(crate) fn replace(&mut self, objects: Objects<K>) -> Objects<K> {
        let previous = std::mem::replace(&mut self.objects, objects);
        for index in self.indexes.values_mut() {
            index.entries.clear();
            for (key, obj) in &self.objects {
                index.add(key, obj);
            }
        }
        previous
    }

    pub(crate) fn objects(&self) -> &Objects<K> {
        &self.objects
    }

    fn lookup(&self, index: &str, value: &str) -> Option<Vec<Arc<K>>> {
        let keys = self.indexes.get(index)?.entries.get(value);
        Some(
            keys.into_iter()
                .flatten()
                .filter_map(|key| self.objects.get(key).cloned())
                .collect(),
        )
    }
}

impl<K: Resource> Store<K> {
    pub(crate) fn new(kind: &str) -> Self {
        let mut indexes = HashMap::new();
        indexes.insert(
            NAMESPACE_INDEX.to_owned(),
            Index::new(
                Arc::new(|obj: &K| obj.meta().namespace.iter().cloned().collect()) as IndexFn<K>,
            ),
        );
        indexes.insert(
            CONTROLLER_OWNER_INDEX.to_owned(),
            Index::new(Arc::new(|obj: &K| {
                obj.meta()
                    .owner_references
                    .iter()
                    .flatten()
                    .filter(|r| r.controller == Some(true))
                    .map(|r| r.uid.clone())
                    .collect()
            }) as IndexFn<K>),
        );
        Self {
            inner: Arc::new(StoreInner {
                state: RwLock::new(StoreState {
                    objects: HashMap::new(),
                    indexes,
                }),
                synced: watch::Sender::new(false),
                relists: AtomicU64::new(0),
                kind: kind.to_owned(),
            }),
        }
    }
}

impl<K> Store<K> {
    pub(crate) fn inner(&self) -> &StoreInner<K> {
        &self.inner
    }

    /// Adds an index; objects already in the store are indexed at once, under the same lock
    /// the informer writes with.
    pub(crate) fn add_index(&self, name: &str, func: IndexFn<K>) -> Result<(), CacheError> {
        let mut state = self.write();
        if state.indexes.contains_key(name) {
            return Err(CacheError::DuplicateIndex {
                kind: self.inner.kind.clone(),
                name: name.to_owned(),
            });
        }
        let mut index = Index::new(func);
        for (key, obj) in &state.objects {
            index.add(key, obj);
        }
        state.indexes.insert(name.to_owned(), index);
        Ok(())
    }

    /// The object with this key, if the informer has seen it and not seen its deletion.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.read().objects.get(key).cloned()
    }

    /// Every object in the store, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().objects.values().cloned().collect()
    }

    /// Every object in namespace `namespace` (read from the namespace index, not a scan).
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read()
            .lookup(NAMESPACE_INDEX, namespace)
            .unwrap_or_default()
    }

    /// Every object whose controller owner reference has this UID: the children a controller
    /// created for one owner (`owner.metadata.uid`).
    pub fn owned_by(&self, uid: &str) -> Vec<Arc<K>> {
        self.read()
            .lookup(CONTROLLER_OWNER_INDEX, uid)
            .unwrap_or_default()
    }

    /// Every object the index `index` files under `value`, in no particular order; an error
    /// if no index of that name was registered (a typo would otherwise look like "no objects").
    ///
    /// ```no_run
    /// # fn doc(cache: &kubesmith_runtime::cache::Cache) -> Result<(), kubesmith_runtime::cache::CacheError> {
    /// use k8s_openapi::api::core::v1::Pod;
    ///
    /// cache.index_field::<Pod>("spec.nodeName", |pod| {
    ///     pod.spec.iter().filter_map(|s| s.node_name.clone()).collect()
    /// })?;
    /// let on_node = cache.store::<Pod>().by_index("spec.nodeName", "node-1")?;
    /// # let _ = on_node;
    /// # Ok(())
    /// # }
    /// ```
    pub fn by_index(&self, index: &str, value: &str) -> Result<Vec<Arc<K>>, CacheError> {
        self.read()
            .lookup(index, value)
            .ok_or_else(|| CacheError::UnknownIndex {
                kind: self.inner.kind.clone(),
                name: index.to_owned(),
            })
    }

    /// The values the index `index` has objects under, in no particular order (client-go's
    /// `ListIndexFuncValues`).
    pub fn index_values(&self, index: &str) -> Result<Vec<String>, CacheError> {
        let state = self.read();
        let index_entries = state
            .indexes
            .get(index)
            .ok_or_else(|| CacheError::UnknownIndex {
                kind: self.inner.kind.clone(),
                name: index.to_owned(),
            })?;
        Ok(index_entries.entries.keys().cloned().collect())
    }

    /// Number of objects in the store.
    pub fn len(&self) -> usize {
        self.read().objects.len()
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

    /// How many times the informer listed everything again after its first list: a watch
    /// that could not resume (410 Gone after the API server compacted its history) forces a
    /// relist, whose vanished objects are reported as deletes. For tests and diagnostics.
    pub fn relists(&self) -> u64 {
        self.inner.relists.load(Ordering::Relaxed)
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, StoreState<K>> {
        self.inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, StoreState<K>> {
        self.inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
