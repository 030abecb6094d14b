//! The informer cache: one list+watch per resource type, shared by every controller of a
//! manager, feeding an in-memory [`Store`] and the controllers' event handlers.
//!
//! Modelled on client-go's `tools/cache` shared informers: controllers read objects from the
//! cache instead of the API server, and a type watched by several controllers is watched once.
//! Besides typed objects the cache watches metadata only ([`Cache::metadata_store`], a
//! `PartialObjectMeta<K>` per object) and untyped objects by group/version/kind
//! ([`Cache::dynamic_store`]).

mod dynamic;
mod informer;
mod store;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use kube::api::{Api, DynamicObject};
use kube::core::{ClusterResourceScope, NamespaceResourceScope, PartialObjectMeta};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Error;
pub use dynamic::DynamicResource;
use informer::{ErasedInformer, Informer};
pub use store::{CONTROLLER_OWNER_INDEX, CacheError, IndexFn, NAMESPACE_INDEX, ObjectKey, Store};

/// Anything an informer can hold: typed, metadata-only and dynamic objects alike.
pub(crate) trait Cached:
    Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

impl<K> Cached for K where K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static {}

/// What a type needs to be cached, watched and reconciled: a statically typed Kubernetes
/// resource (every k8s-openapi type and every `#[derive(CustomResource)]` type qualifies).
///
/// Implemented automatically; never implement it by hand.
pub trait CacheResource:
    Resource<DynamicType = (), Scope: ApiScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> CacheResource for K where
    K: Resource<DynamicType = (), Scope: ApiScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// Builds an [`Api`] for an object of a namespaced or cluster-scoped type without knowing which
/// one it is: [`Api::namespaced`] needs the scope at compile time.
///
/// Implemented for kube's two static scopes; not meant to be implemented elsewhere.
pub trait ApiScope {
    /// An [`Api`] for objects in `namespace` (ignored for cluster-scoped types), or for all
    /// namespaces when `None`.
    fn api<K: Resource<Scope = Self, DynamicType = ()>>(
        client: Client,
        namespace: Option<&str>,
    ) -> Api<K>
    where
        Self: Sized;

    /// Whether objects of this scope live in a namespace.
    fn is_namespaced() -> bool;
}

impl ApiScope for NamespaceResourceScope {
    fn api<K: Resource<Scope = Self, DynamicType = ()>>(
        client: Client,
        namespace: Option<&str>,
    ) -> Api<K> {
        match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        }
    }

    fn is_namespaced() -> bool {
        true
    }
}

impl ApiScope for ClusterResourceScope {
    fn api<K: Resource<Scope = Self, DynamicType = ()>>(
        client: Client,
        _namespace: Option<&str>,
    ) -> Api<K> {
        Api::all(client)
    }

    fn is_namespaced() -> bool {
        false
    }
}

/// An [`Api`] for `K` scoped to `namespace` (when `K` is namespaced).
pub fn api_for<K: CacheResource>(client: Client, namespace: Option<&str>) -> Api<K> {
    <K::Scope as ApiScope>::api(client, namespace)
}

/// A change an informer observed, handed to event handlers.
///
/// A relist (after a watch expired) replays every listed object as [`Updated`](Self::Updated)
/// or [`Added`](Self::Added), and reports objects that vanished meanwhile as
/// [`Deleted`](Self::Deleted) with their last known state, so handlers never miss a deletion.
#[derive(Debug)]
pub enum Notification<K> {
    /// An object the cache did not know about.
    Added(Arc<K>),
    /// A new state of a known object.
    Updated {
        /// The state the cache had before.
        old: Arc<K>,
        /// The state it has now.
        new: Arc<K>,
    },
    /// An object was deleted; this is its last known state.
    Deleted(Arc<K>),
}

impl<K> Notification<K> {
    /// The object this notification is about (the new state for updates).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Self::Added(obj) | Self::Deleted(obj) | Self::Updated { new: obj, .. } => obj,
        }
    }
}

/// The handler type of [`Cache::add_event_handler`].
pub type EventHandler<K> = Arc<dyn Fn(&Notification<K>) + Send + Sync>;

/// One informer per Rust type, group/version/kind and namespace scope. The Rust type matters
/// because `PartialObjectMeta<K>` shares K's group/version/kind but is a separate,
/// metadata-only watch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct InformerKey {
    type_id: TypeId,
    group: String,
    version: String,
    kind: String,
    /// `None` watches all namespaces.
    namespace: Option<String>,
}

impl InformerKey {
    fn of<K: CacheResource>(namespace: Option<&str>) -> Self {
        Self {
            type_id: TypeId::of::<K>(),
            group: K::group(&()).into_owned(),
            version: K::version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            namespace: namespace.map(str::to_owned),
        }
    }

    fn dynamic(resource: &DynamicResource, namespace: Option<&str>) -> Self {
        let gvk = resource.gvk();
        Self {
            type_id: TypeId::of::<DynamicObject>(),
            group: gvk.group,
            version: gvk.version,
            kind: gvk.kind,
            namespace: namespace.map(str::to_owned),
        }
    }
}

/// The shared informer cache of a [`Manager`](crate::Manager): at most one informer (one
/// list+watch) per resource type, created the first time anyone asks for the type.
///
/// Cloning gives another handle to the same cache.
///
/// ```no_run
/// # async fn doc(client: kube::Client) -> Result<(), kubesmith_runtime::Error> {
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kubesmith_runtime::cache::Cache;
///
/// let cache = Cache::new(client);
/// let configmaps = cache.store::<ConfigMap>();
/// cache.start()?;
/// cache.wait_for_sync().await;
/// println!("{} config maps", configmaps.len());
/// println!("{} in default", configmaps.list_namespace("default").len());
/// assert_eq!(cache.informer_count(), 1);
/// cache.stop().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    client: Client,
    /// Namespaced types are watched in this namespace only; `None` watches all.
    namespace: Option<String>,
    informers: Mutex<HashMap<InformerKey, Arc<dyn ErasedInformer>>>,
    /// Watch settings per Rust type (`watch_config`); always locked after `informers`.
    watch_configs: Mutex<HashMap<TypeId, watcher::Config>>,
    /// Set once started; informers created later start right away.
    running: Mutex<Option<Running>>,
}

#[derive(Clone)]
pub(crate) struct Running {
    pub(crate) tasks: TaskTracker,
    pub(crate) stop: CancellationToken,
    /// Informers created from any thread after the start run on the runtime of the start.
    pub(crate) runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let informers: Vec<String> = self.informers().iter().map(|i| i.describe()).collect();
        f.debug_struct("Cache")
            .field("informers", &informers)
            .finish()
    }
}

impl Cache {
    /// An empty cache reading through `client`; nothing is watched until [`start`](Self::start).
    pub fn new(client: Client) -> Self {
        Self::with_namespace(client, None)
    }

    /// A cache that watches namespaced types only in `namespace` (cluster-scoped types are
    /// watched cluster-wide), for operators whose RBAC is a Role in one namespace.
    pub fn with_namespace(client: Client, namespace: Option<String>) -> Self {
        Self {
            inner: Arc::new(CacheInner {
                client,
                namespace,
                informers: Mutex::new(HashMap::new()),
                watch_configs: Mutex::new(HashMap::new()),
                running: Mutex::new(None),
            }),
        }
    }

    /// The namespace namespaced types are watched in; `None` for all namespaces.
    pub fn namespace(&self) -> Option<&str> {
        self.inner.namespace.as_deref()
    }

    /// The store of all `K` objects in the cache's namespace (all namespaces by default), creating (and, if the cache runs,
    /// starting) its informer on first use.
    pub fn store<K: CacheResource>(&self) -> Store<K> {
        self.informer::<K>().store.clone()
    }

    /// The store of the metadata of all `K` objects: a metadata-only watch
    /// (`PartialObjectMeta<K>`, as controller-runtime's `OnlyMetadata`), which costs a fraction
    /// of the memory of full objects. It is a separate watch from [`store`](Self::store)'s, shared
    /// by everyone asking for `K`'s metadata.
    ///
    /// ```no_run
    /// # async fn doc(cache: kubesmith_runtime::cache::Cache) {
    /// use k8s_openapi::api::core::v1::Secret;
    /// use kube::ResourceExt;
    ///
    /// let secrets = cache.metadata_store::<Secret>();
    /// secrets.wait_for_sync().await;
    /// for meta in secrets.list() {
    ///     println!("{} (no data was transferred)", meta.name_any());
    /// }
    /// # }
    /// ```
    pub fn metadata_store<K: CacheResource>(&self) -> Store<PartialObjectMeta<K>> {
        self.store::<PartialObjectMeta<K>>()
    }

    /// The store of untyped objects of `resource` (a group/version/kind resolved through
    /// discovery when the informer starts, or an already resolved `ApiResource`), for types
    /// without a Rust struct. One watch per group/version/kind, shared like typed ones.
    ///
    /// ```no_run
    /// # async fn doc(cache: kubesmith_runtime::cache::Cache) {
    /// use kube::api::GroupVersionKind;
    ///
    /// let certs = cache.dynamic_store(GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"));
    /// certs.wait_for_sync().await;
    /// println!("{} certificates", certs.len());
    /// # }
    /// ```
    pub fn dynamic_store(&self, resource: impl Into<DynamicResource>) -> Store<DynamicObject> {
        self.dynamic_informer(resource.into()).store.clone()
    }

    /// Registers `handler` for changes of untyped objects of `resource` (see
    /// [`dynamic_store`](Self::dynamic_store) and [`add_event_handler`](Self::add_event_handler)).
    pub fn add_dynamic_event_handler(
        &self,
        resource: impl Into<DynamicResource>,
        handler: impl Fn(&Notification<DynamicObject>) + Send + Sync + 'static,
    ) {
        self.dynamic_informer(resource.into())
            .add_handler(Arc::new(handler));
    }

    /// Adds a field index to the store of `K`, as controller-runtime's
    /// `FieldIndexer.IndexField`: `extract` returns the values an object is filed under, and
    /// [`Store::by_index`] finds the objects filed under a value. Register indexes before the
    /// manager runs (objects already cached are indexed at once if not). Fails if the store
    /// already has an index of this name.
    ///
    /// ```no_run
    /// # fn doc(cache: &kubesmith_runtime::cache::Cache) -> Result<(), kubesmith_runtime::cache::CacheError> {
    /// use k8s_openapi::api::core::v1::Pod;
    ///
    /// // which pods mount a given config map
    /// cache.index_field::<Pod>("spec.volumes.configMap", |pod| {
    ///     pod.spec.iter()
    ///         .flat_map(|spec| spec.volumes.iter().flatten())
    ///         .filter_map(|v| v.config_map.as_ref().map(|cm| cm.name.clone()))
    ///         .collect()
    /// })?;
    /// let users = cache.store::<Pod>().by_index("spec.volumes.configMap", "settings")?;
    /// # let _ = users;
    /// # Ok(())
    /// # }
    /// ```
    pub fn index_field<K: CacheResource>(
        &self,
        name: &str,
        extract: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
    ) -> Result<(), CacheError> {
        self.store::<K>().add_index(name, Arc::new(extract))
    }

    /// Sets how `K` is listed and watched, as controller-runtime's cache `ByObject` options:
    /// most often a label or field selector, so the cache (and every controller reading it)
    /// holds only the matching objects, which saves memory when a type is numerous but only
    /// a few objects matter. Applies to the one shared watch of `K`, so it must be set before
    /// anything asks for `K` (a store, an event handler, a controller); later it is an error.
    ///
    /// ```no_run
    /// # fn doc(cache: &kubesmith_runtime::cache::Cache) -> Result<(), kubesmith_runtime::cache::CacheError> {
    /// use k8s_openapi::api::core::v1::Secret;
    /// use kube::runtime::watcher;
    ///
    /// // only the secrets this operator manages are cached
    /// cache.watch_config::<Secret>(watcher::Config::default().labels("app.kubernetes.io/managed-by=my-operator"))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn watch_config<K: CacheResource>(
        &self,
        config: watcher::Config,
    ) -> Result<(), CacheError> {
        let informers = lock(&self.inner.informers);
        let type_id = TypeId::of::<K>();
        if informers.keys().any(|key| key.type_id == type_id) {
            return Err(CacheError::AlreadyWatched {
                kind: K::kind(&()).into_owned(),
            });
        }
        lock(&self.inner.watch_configs).insert(type_id, config);
        Ok(())
    }

    /// Registers `handler` for changes of `K` objects. It is called synchronously on the
    /// informer's task, so it must not block (enqueueing a key is the intended use).
    ///
    /// A handler added after the informer synced first receives every cached object as
    /// [`Notification::Added`], as with client-go's shared informers.
    pub fn add_event_handler<K: CacheResource>(
        &self,
        handler: impl Fn(&Notification<K>) + Send + Sync + 'static,
    ) {
        self.informer::<K>().add_handler(Arc::new(handler));
    }

    /// Number of informers, i.e. of watches this cache keeps open (one per type).
    pub fn informer_count(&self) -> usize {
        lock(&self.inner.informers).len()
    }

    /// Whether every informer has loaded its first complete list.
    pub fn has_synced(&self) -> bool {
        self.informers().iter().all(|i| i.has_synced())
    }

    /// Waits until every informer created so far has loaded its first complete list.
    pub async fn wait_for_sync(&self) {
        for informer in self.informers() {
            informer.wait_for_sync().await;
        }
    }

    /// Starts every informer (and informers created from now on) on the current tokio runtime.
    /// Calling it again does nothing; calling it outside a tokio runtime is an error.
    pub fn start(&self) -> Result<(), Error> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime("Cache::start"))?;
        let running = {
            let mut running = lock(&self.inner.running);
            if running.is_some() {
                return Ok(());
            }
            let r = Running {
                tasks: TaskTracker::new(),
                stop: CancellationToken::new(),
                runtime,
            };
            *running = Some(r.clone());
            r
        };
        for informer in self.informers() {
            informer.start(self.inner.client.clone(), &running);
        }
        Ok(())
    }

    /// Tells every informer to stop, without waiting (for drop guards).
    pub(crate) fn cancel(&self) {
        if let Some(running) = lock(&self.inner.running).as_ref() {
            running.stop.cancel();
        }
    }

    /// Stops every informer and waits for their watches to end. The stores keep their
    /// contents; the cache cannot be started again.
    pub async fn stop(&self) {
        let running = lock(&self.inner.running).clone();
        if let Some(running) = running {
            running.stop.cancel();
            running.tasks.close();
            running.tasks.wait().await;
        }
    }

    /// The client the informers watch through.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    fn informers(&self) -> Vec<Arc<dyn ErasedInformer>> {
        lock(&self.inner.informers).values().cloned().collect()
    }

    fn informer<K: CacheResource>(&self) -> Arc<Informer<K>> {
        let namespace = self.inner.namespace.clone();
        self.informer_with(InformerKey::of::<K>(namespace.as_deref()), || {
            let config = lock(&self.inner.watch_configs)
                .get(&TypeId::of::<K>())
                .cloned()
                .unwrap_or_default();
            Informer::<K>::typed(namespace.clone(), config)
        })
    }

    fn dynamic_informer(&self, resource: DynamicResource) -> Arc<Informer<DynamicObject>> {
        let namespace = self.inner.namespace.clone();
        let key = InformerKey::dynamic(&resource, namespace.as_deref());
        self.informer_with(key, || {
            dynamic::informer(resource.clone(), namespace.clone())
        })
    }

    /// The informer under `key`, created with `create` (and started if the cache runs) when
    /// there is none yet.
    fn informer_with<K: Cached>(
        &self,
        key: InformerKey,
        create: impl Fn() -> Informer<K>,
    ) -> Arc<Informer<K>> {
        let (informer, created) = {
            let mut informers = lock(&self.inner.informers);
            match informers.get(&key) {
                Some(existing) => (Arc::clone(existing), false),
                None => {
                    let informer: Arc<dyn ErasedInformer> = Arc::new(create());
                    informers.insert(key, Arc::clone(&informer));
                    (informer, true)
                }
            }
        };
        if created {
            let running = lock(&self.inner.running).clone();
            if let Some(running) = running {
                Arc::clone(&informer).start(self.inner.client.clone(), &running);
            }
        }
        let any: Arc<dyn Any + Send + Sync> = informer.as_any();
        // Cannot fail: the key contains K's TypeId (DynamicObject's for dynamic informers). A fresh informer is a harmless fallback.
        any.downcast::<Informer<K>>()
            .unwrap_or_else(|_| Arc::new(create()))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
