//! Controllers: watch a resource type, queue a [`Request`] for every change, and call a
//! [`Reconciler`] for each request, as controller-runtime's `builder` and `reconcile` packages do.
//!
//! ```no_run
//! use kubesmith_runtime::prelude::*;
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! struct Printer;
//!
//! impl Reconciler<ConfigMap> for Printer {
//!     async fn reconcile(&self, ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
//!         let Some(cm) = ctx.get() else {
//!             return Ok(Action::await_change()); // deleted
//!         };
//!         tracing::info!(name = %cm.name_any(), "config map changed");
//!         Ok(Action::requeue(Duration::from_secs(3600)))
//!     }
//! }
//!
//! # async fn doc() -> Result<(), kubesmith_runtime::Error> {
//! let mgr = Manager::from_env(Options::default()).await?;
//! Controller::managed_by(&mgr).for_::<ConfigMap>().complete(Printer)?;
//! mgr.run().await
//! # }
//! ```

mod error;
mod requeue;
mod worker;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use kube::api::DynamicObject;
use kube::core::PartialObjectMeta;
use kube::{Api, Client, Resource};

pub use error::ReconcileError;
pub use kube::runtime::controller::Action;

use crate::Error;
use crate::cache::{
    ApiScope, Cache, CacheResource, DynamicResource, Notification, ObjectKey, Store, api_for,
};
use crate::events::{self, Recorder};
use crate::manager::Manager;
use crate::predicate::{Object, Predicate};
use crate::queue::WorkQueue;

/// Identifies the object to reconcile: controller-runtime's `reconcile.Request` (a
/// `NamespacedName`). Displays as `namespace/name` (just `name` for cluster-scoped objects).
///
/// Only the key is queued, never the object: the reconciler reads the latest state from the
/// cache with [`Context::get`], so many changes to one object collapse into one reconcile.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Request {
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

impl Request {
    /// A request for the object `name` in `namespace` (`None` for cluster-scoped objects).
    pub fn new(namespace: Option<impl Into<String>>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    /// The request for `obj`, or `None` if it has no name.
    pub fn from_object<K: Resource>(obj: &K) -> Option<Self> {
        ObjectKey::from_object(obj).map(Self::from)
    }

    /// The key to look the object up in a [`Store`].
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

impl From<ObjectKey> for Request {
    fn from(key: ObjectKey) -> Self {
        Self {
            namespace: key.namespace,
            name: key.name,
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Brings an object's actual state closer to the state its spec asks for.
///
/// Called with the [`Request`] of an object that changed (or was requeued). Must be idempotent:
/// it runs again after errors, restarts and relists. Return [`Action::requeue`] to run again
/// after a while even without changes, [`Action::await_change`] to wait for the next change,
/// and an error to retry with backoff (see [`ReconcileError`]).
///
/// Implement it with an `async fn`:
///
/// ```
/// use kubesmith_runtime::prelude::*;
/// use k8s_openapi::api::core::v1::ConfigMap;
///
/// struct Noop;
/// impl Reconciler<ConfigMap> for Noop {
///     async fn reconcile(&self, _ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
///         Ok(Action::await_change())
///     }
/// }
/// ```
pub trait Reconciler<K>: Send + Sync + 'static {
    /// Reconciles the object named by `ctx.request()`.
    fn reconcile(
        &self,
        ctx: Context<K>,
    ) -> impl Future<Output = Result<Action, ReconcileError>> + Send;
}

/// What a reconcile gets to work with: the request, the cached object, clients and the event
/// recorder of its controller.
pub struct Context<K> {
    request: Request,
    shared: Arc<Shared<K>>,
}

/// Per-controller state every [`Context`] refers to.
struct Shared<K> {
    client: Client,
    cache: Cache,
    store: Store<K>,
    recorder: Recorder,
}

impl<K: CacheResource> Context<K> {
    /// Which object to reconcile.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The object as the cache has it now; `None` once it is deleted (or not yet seen).
    pub fn get(&self) -> Option<Arc<K>> {
        self.shared.store.get(&self.request.key())
    }

    /// An [`Api`] for `K` in the request's namespace (cluster-wide for cluster-scoped types),
    /// for writes and for reads that must bypass the cache.
    pub fn api(&self) -> Api<K> {
        api_for::<K>(
            self.shared.client.clone(),
            self.request.namespace.as_deref(),
        )
    }

    /// The manager's client.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The manager's shared cache, e.g. to read other types.
    pub fn cache(&self) -> &Cache {
        &self.shared.cache
    }

    /// Publishes Kubernetes events as this controller.
    pub fn recorder(&self) -> &events::Recorder {
        &self.shared.recorder
    }
}

impl<K> fmt::Debug for Context<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// Entry point for building controllers: `Controller::managed_by(&mgr).for_::<K>()...`.
#[derive(Debug)]
pub struct Controller;

impl Controller {
    /// Starts building a controller that runs in `manager`.
    pub fn managed_by(manager: &Manager) -> Builder<()> {
        Builder {
            manager: manager.clone(),
            name: None,
            max_concurrent_reconciles: 1,
            sources: Vec::new(),
            for_predicate: None,
            event_filters: Vec::new(),
            _kind: PhantomData,
        }
    }
}

/// Configures a controller; finish with [`complete`](Builder::complete).
///
/// Sources of requests: [`for_`](Builder::for_) (the reconciled type),
/// [`owns`](Builder::owns) (children with a controller owner reference),
/// [`owns_metadata`](Builder::owns_metadata) (the same through a metadata-only watch),
/// [`watches`](Builder::watches) (any type, through a mapper) and
/// [`watches_dynamic`](Builder::watches_dynamic) (untyped objects by group/version/kind).
/// The `_with` variants take a [`Predicate`] that filters that source's events;
/// [`with_event_filter`](Builder::with_event_filter) filters every source.
pub struct Builder<K> {
    manager: Manager,
    name: Option<String>,
    max_concurrent_reconciles: usize,
    /// Further sources of requests (`owns`, `watches`), connected at `complete`.
    sources: Vec<Source>,
    /// Filters the events of `K` itself.
    for_predicate: Option<Box<dyn Predicate<K>>>,
    /// Filters the events of every source.
    event_filters: Vec<Arc<dyn Predicate<dyn Object>>>,
    _kind: PhantomData<fn() -> K>,
}

/// Connects one watched type to the controller's queue; returns how to wait for its cache.
type Source = Box<dyn FnOnce(&Cache, WorkQueue<Request>, EventFilters) -> SyncWaiter + Send>;

/// The builder's `with_event_filter` predicates, shared by every source.
type EventFilters = Arc<[Arc<dyn Predicate<dyn Object>>]>;

/// Waits until one of the controller's caches has synced.
pub(crate) type SyncWaiter = Box<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

fn sync_waiter<K: Send + Sync + 'static>(store: Store<K>) -> SyncWaiter {
    Box::new(move || {
        let store = store.clone();
        Box::pin(async move { store.wait_for_sync().await })
    })
}

/// Whether `notification` passes the source's own predicate and every event filter.
fn passes<U: Object + 'static>(
    notification: &Notification<U>,
    own: Option<&dyn Predicate<U>>,
    filters: &EventFilters,
) -> bool {
    match notification {
        Notification::Added(obj) => {
            own.is_none_or(|p| p.create(obj))
                && filters
                    .iter()
                    .all(|p| p.create(obj.as_ref() as &dyn Object))
        }
        Notification::Updated { old, new } => {
            own.is_none_or(|p| p.update(old, new))
                && filters
                    .iter()
                    .all(|p| p.update(old.as_ref() as &dyn Object, new.as_ref() as &dyn Object))
        }
        Notification::Deleted(obj) => {
            own.is_none_or(|p| p.delete(obj))
                && filters
                    .iter()
                    .all(|p| p.delete(obj.as_ref() as &dyn Object))
        }
    }
}

impl<K> fmt::Debug for Builder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("max_concurrent_reconciles", &self.max_concurrent_reconciles)
            .field("sources", &self.sources.len())
            .field("event_filters", &self.event_filters.len())
            .finish_non_exhaustive()
    }
}

impl Builder<()> {
    /// The type this controller reconciles: every add, update and delete of a `K` queues its
    /// [`Request`]. (`for` is a Rust keyword, hence the underscore.)
    pub fn for_<K: CacheResource>(self) -> Builder<K> {
        Builder {
            manager: self.manager,
            name: self.name,
            max_concurrent_reconciles: self.max_concurrent_reconciles,
            sources: self.sources,
            for_predicate: None,
            event_filters: self.event_filters,
            _kind: PhantomData,
        }
    }

    /// As [`for_`](Self::for_), queueing only the events `predicate` lets through
    /// (controller-runtime's `For(obj, WithPredicates(p))`).
    ///
    /// ```no_run
    /// use kubesmith_runtime::prelude::*;
    /// use kubesmith_runtime::predicate::GenerationChanged;
    /// use k8s_openapi::api::apps::v1::Deployment;
    ///
    /// # struct R;
    /// # impl Reconciler<Deployment> for R {
    /// #     async fn reconcile(&self, _: Context<Deployment>) -> Result<Action, ReconcileError> { Ok(Action::await_change()) }
    /// # }
    /// # fn doc(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    /// // status updates of a Deployment do not reconcile it, spec changes do
    /// Controller::managed_by(mgr).for_with::<Deployment>(GenerationChanged).complete(R)
    /// # }
    /// ```
    pub fn for_with<K: CacheResource>(self, predicate: impl Predicate<K> + 'static) -> Builder<K> {
        let mut builder = self.for_::<K>();
        builder.for_predicate = Some(Box::new(predicate));
        builder
    }
}

impl<K> Builder<K> {
    /// Names the controller (in logs, events and metrics); defaults to the lower-cased kind.
    /// Names must be unique within a manager.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How many requests may be reconciled at once (default 1). One object is never
    /// reconciled by two workers at the same time.
    pub fn max_concurrent_reconciles(mut self, n: usize) -> Self {
        self.max_concurrent_reconciles = n;
        self
    }

    /// Filters the events of every source of this controller, the reconciled type's and
    /// those of `owns` and `watches` (controller-runtime's `WithEventFilter`). The predicate
    /// sees objects as [`dyn Object`](Object), so it works for every type: the built-in
    /// predicates, [`metadata_filter`](crate::predicate::metadata_filter) closures, and
    /// combinations of them. Several filters must all pass.
    ///
    /// ```no_run
    /// use kubesmith_runtime::prelude::*;
    /// use kubesmith_runtime::predicate::{self, ResourceVersionChanged};
    /// use k8s_openapi::api::core::v1::ConfigMap;
    ///
    /// # struct R;
    /// # impl Reconciler<ConfigMap> for R {
    /// #     async fn reconcile(&self, _: Context<ConfigMap>) -> Result<Action, ReconcileError> { Ok(Action::await_change()) }
    /// # }
    /// # fn doc(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    /// Controller::managed_by(mgr)
    ///     .for_::<ConfigMap>()
    ///     .with_event_filter(ResourceVersionChanged)
    ///     .with_event_filter(predicate::metadata_filter(|meta| {
    ///         meta.namespace.as_deref() != Some("kube-system")
    ///     }))
    ///     .complete(R)
    /// # }
    /// ```
    pub fn with_event_filter(mut self, predicate: impl Predicate<dyn Object> + 'static) -> Self {
        self.event_filters.push(Arc::new(predicate));
        self
    }
}

impl<K: CacheResource> Builder<K> {
    /// Also reconciles the owner when an object of type `U` it controls changes: every
    /// change of a `U` whose controller owner reference (`controller: true`) points to a `K`
    /// queues that owner, as controller-runtime's `Owns`. Set such references on the objects
    /// your reconciler creates (e.g. with `Resource::controller_owner_ref`).
    pub fn owns<U: CacheResource>(self) -> Self {
        self.owns_source::<U>(None)
    }

    /// As [`owns`](Self::owns), queueing only the events of `U` that `predicate` lets through.
    pub fn owns_with<U: CacheResource>(self, predicate: impl Predicate<U> + 'static) -> Self {
        self.owns_source::<U>(Some(Box::new(predicate)))
    }

    /// As [`owns`](Self::owns) through a metadata-only watch of `U` (controller-runtime's
    /// `Owns(obj, OnlyMetadata)`): the cache keeps `PartialObjectMeta<U>` (read it with
    /// [`Cache::metadata_store`]), a fraction of the memory of whole objects, which is all an
    /// owner reference needs. Suits children that are many or large (Secrets, Pods).
    pub fn owns_metadata<U: CacheResource>(self) -> Self {
        self.owns_source::<PartialObjectMeta<U>>(None)
    }

    /// As [`owns_metadata`](Self::owns_metadata), filtered by `predicate`.
    pub fn owns_metadata_with<U: CacheResource>(
        self,
        predicate: impl Predicate<PartialObjectMeta<U>> + 'static,
    ) -> Self {
        self.owns_source::<PartialObjectMeta<U>>(Some(Box::new(predicate)))
    }

    fn owns_source<U: CacheResource>(mut self, predicate: Option<Box<dyn Predicate<U>>>) -> Self {
        self.sources.push(Box::new(move |cache, queue, filters| {
            cache.add_event_handler::<U>(move |notification: &Notification<U>| {
                if !passes(notification, predicate.as_deref(), &filters) {
                    return;
                }
                if let Notification::Updated { old, .. } = notification {
                    // A changed owner reference must reach the previous owner too.
                    enqueue_owner::<K, U>(&queue, old);
                }
                enqueue_owner::<K, U>(&queue, notification.object());
            });
            sync_waiter(cache.store::<U>())
        }));
        self
    }

    /// Also reconciles whatever `mapper` names when an object of type `V` changes, as
    /// controller-runtime's `Watches` with `EnqueueRequestsFromMapFunc`. `mapper` runs on the
    /// informer's task for every change and must be quick (read from the cache, don't call
    /// the API server).
    ///
    /// ```no_run
    /// use kubesmith_runtime::prelude::*;
    /// use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    ///
    /// # struct R;
    /// # impl Reconciler<ConfigMap> for R {
    /// #     async fn reconcile(&self, _: Context<ConfigMap>) -> Result<Action, ReconcileError> { Ok(Action::await_change()) }
    /// # }
    /// # fn doc(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    /// // a secret change reconciles the config map of the same name
    /// Controller::managed_by(mgr)
    ///     .for_::<ConfigMap>()
    ///     .watches::<Secret>(|secret| Request::from_object(secret).into_iter().collect())
    ///     .complete(R)
    /// # }
    /// ```
    pub fn watches<V: CacheResource>(
        self,
        mapper: impl Fn(&V) -> Vec<Request> + Send + Sync + 'static,
    ) -> Self {
        self.watches_source::<V>(mapper, None)
    }

    /// As [`watches`](Self::watches), mapping only the events of `V` that `predicate` lets
    /// through.
    pub fn watches_with<V: CacheResource>(
        self,
        mapper: impl Fn(&V) -> Vec<Request> + Send + Sync + 'static,
        predicate: impl Predicate<V> + 'static,
    ) -> Self {
        self.watches_source::<V>(mapper, Some(Box::new(predicate)))
    }

    fn watches_source<V: CacheResource>(
        mut self,
        mapper: impl Fn(&V) -> Vec<Request> + Send + Sync + 'static,
        predicate: Option<Box<dyn Predicate<V>>>,
    ) -> Self {
        self.sources.push(Box::new(move |cache, queue, filters| {
            cache.add_event_handler::<V>(move |notification: &Notification<V>| {
                if passes(notification, predicate.as_deref(), &filters) {
                    map_into(&queue, notification, &mapper);
                }
            });
            sync_waiter(cache.store::<V>())
        }));
        self
    }

    /// Also reconciles whatever `mapper` names when an untyped object of `resource` changes:
    /// [`watches`](Self::watches) for kinds without a Rust type, by group/version/kind
    /// (resolved through discovery when the cache starts) or by an already resolved
    /// `ApiResource` (see [`DynamicResource`]).
    ///
    /// ```no_run
    /// use kubesmith_runtime::prelude::*;
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// use kube::api::GroupVersionKind;
    ///
    /// # struct R;
    /// # impl Reconciler<ConfigMap> for R {
    /// #     async fn reconcile(&self, _: Context<ConfigMap>) -> Result<Action, ReconcileError> { Ok(Action::await_change()) }
    /// # }
    /// # fn doc(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    /// // a Certificate reconciles the config map named in its annotation
    /// Controller::managed_by(mgr)
    ///     .for_::<ConfigMap>()
    ///     .watches_dynamic(GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"), |cert| {
    ///         cert.annotations()
    ///             .get("example.com/config-map")
    ///             .map(|name| Request::new(cert.namespace(), name.clone()))
    ///             .into_iter()
    ///             .collect()
    ///     })
    ///     .complete(R)
    /// # }
    /// ```
    pub fn watches_dynamic(
        self,
        resource: impl Into<DynamicResource>,
        mapper: impl Fn(&DynamicObject) -> Vec<Request> + Send + Sync + 'static,
    ) -> Self {
        self.watches_dynamic_source(resource.into(), mapper, None)
    }

    /// As [`watches_dynamic`](Self::watches_dynamic), filtered by `predicate`.
    pub fn watches_dynamic_with(
        self,
        resource: impl Into<DynamicResource>,
        mapper: impl Fn(&DynamicObject) -> Vec<Request> + Send + Sync + 'static,
        predicate: impl Predicate<DynamicObject> + 'static,
    ) -> Self {
        self.watches_dynamic_source(resource.into(), mapper, Some(Box::new(predicate)))
    }

    fn watches_dynamic_source(
        mut self,
        resource: DynamicResource,
        mapper: impl Fn(&DynamicObject) -> Vec<Request> + Send + Sync + 'static,
        predicate: Option<Box<dyn Predicate<DynamicObject>>>,
    ) -> Self {
        self.sources.push(Box::new(move |cache, queue, filters| {
            cache.add_dynamic_event_handler(
                resource.clone(),
                move |notification: &Notification<DynamicObject>| {
                    if passes(notification, predicate.as_deref(), &filters) {
                        map_into(&queue, notification, &mapper);
                    }
                },
            );
            sync_waiter(cache.dynamic_store(resource))
        }));
        self
    }

    /// Registers the controller with the manager; it starts when the manager runs (or right
    /// away if it already runs).
    ///
    /// Fails if another controller of this manager has the same name, or if
    /// `max_concurrent_reconciles` is 0.
    pub fn complete(self, reconciler: impl Reconciler<K>) -> Result<(), Error> {
        let name = self.name.unwrap_or_else(|| K::kind(&()).to_lowercase());
        if name.is_empty() {
            return Err(Error::InvalidController {
                name,
                reason: "the controller name must not be empty".into(),
            });
        }
        if self.max_concurrent_reconciles == 0 {
            return Err(Error::InvalidController {
                name,
                reason: "max_concurrent_reconciles must be at least 1".into(),
            });
        }
        let manager = self.manager.clone();
        let workers = self.max_concurrent_reconciles;
        let sources = self.sources;
        let for_predicate = self.for_predicate;
        let filters: EventFilters = self.event_filters.into();
        self.manager.register_controller(name.clone(), move || {
            let cache = manager.cache().clone();
            let queue = WorkQueue::<Request>::new();
            queue.instrument(manager.metrics().workqueue(&name));
            let metrics = manager.metrics().controller(&name, workers);
            let shared = Arc::new(Shared {
                client: manager.client().clone(),
                cache: cache.clone(),
                store: cache.store::<K>(),
                recorder: Recorder::new(manager.client().clone(), &name),
            });
            let handler_queue = queue.clone();
            let for_filters = Arc::clone(&filters);
            cache.add_event_handler::<K>(move |notification: &Notification<K>| {
                if !passes(notification, for_predicate.as_deref(), &for_filters) {
                    return;
                }
                if let Some(request) = Request::from_object(notification.object().as_ref()) {
                    handler_queue.add(request);
                }
            });
            let mut synced = vec![sync_waiter(shared.store.clone())];
            for source in sources {
                synced.push(source(&cache, queue.clone(), Arc::clone(&filters)));
            }
            Arc::new(worker::Runner::new(
                name,
                queue,
                Arc::new(reconciler),
                shared,
                synced,
                workers,
                metrics,
            ))
        })?;
        Ok(())
    }
}

/// Queues what `mapper` names for the object (and, for updates, for its previous state too,
/// so that a change of what it refers to reaches the previous target).
fn map_into<V>(
    queue: &WorkQueue<Request>,
    notification: &Notification<V>,
    mapper: &impl Fn(&V) -> Vec<Request>,
) {
    if let Notification::Updated { old, .. } = notification {
        for request in mapper(old) {
            queue.add(request);
        }
    }
    for request in mapper(notification.object()) {
        queue.add(request);
    }
}

/// Queues the `K` that controls `child`, if any (controller-runtime's `EnqueueRequestForOwner`
/// with `OnlyControllerOwner`): group and kind must match, the version may differ.
fn enqueue_owner<K: CacheResource, U: CacheResource>(queue: &WorkQueue<Request>, child: &U) {
    let Some(owner) = child
        .meta()
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
    else {
        return;
    };
    let group = owner
        .api_version
        .rsplit_once('/')
        .map_or("", |(group, _)| group);
    if owner.kind != K::kind(&()) || group != K::group(&()) {
        return;
    }
    // An owner is in its child's namespace, or cluster-scoped.
    let namespace = if <K::Scope as ApiScope>::is_namespaced() {
        child.meta().namespace.clone()
    } else {
        None
    };
    queue.add(Request {
        namespace,
        name: owner.name.clone(),
    });
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::{Node, Pod};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::core::ObjectMeta;

    use super::*;

    fn owned<U: Resource<DynamicType = ()> + Default>(refs: Vec<OwnerReference>) -> U {
        let mut obj = U::default();
        *obj.meta_mut() = ObjectMeta {
            namespace: Some("ns".into()),
            name: Some("child".into()),
            owner_references: Some(refs),
            ..ObjectMeta::default()
        };
        obj
    }

    fn owner_ref(api_version: &str, kind: &str, name: &str, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: "uid".into(),
            controller: Some(controller),
            block_owner_deletion: None,
        }
    }

    async fn queued(queue: &WorkQueue<Request>) -> Vec<Request> {
        let mut out = Vec::new();
        while !queue.is_empty() {
            if let Some(r) = queue.get().await {
                queue.done(&r);
                out.push(r);
            }
        }
        out
    }

    #[tokio::test]
    async fn enqueues_only_the_controlling_owner_of_the_right_group_and_kind() {
        let queue = WorkQueue::new();
        let rs: ReplicaSet = owned(vec![
            owner_ref("apps/v1", "Deployment", "not-controller", false),
            owner_ref("apps/v1beta1", "Deployment", "web", true),
        ]);
        enqueue_owner::<Deployment, ReplicaSet>(&queue, &rs);
        assert_eq!(queued(&queue).await, [Request::new(Some("ns"), "web")]);

        let other_group: ReplicaSet =
            owned(vec![owner_ref("example.com/v1", "Deployment", "x", true)]);
        enqueue_owner::<Deployment, ReplicaSet>(&queue, &other_group);
        let other_kind: ReplicaSet = owned(vec![owner_ref("apps/v1", "StatefulSet", "x", true)]);
        enqueue_owner::<Deployment, ReplicaSet>(&queue, &other_kind);
        let no_owner: ReplicaSet = owned(vec![]);
        enqueue_owner::<Deployment, ReplicaSet>(&queue, &no_owner);
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn cluster_scoped_owner_has_no_namespace() {
        let queue = WorkQueue::new();
        let pod: Pod = owned(vec![owner_ref("v1", "Node", "node-1", true)]);
        enqueue_owner::<Node, Pod>(&queue, &pod);
        assert_eq!(
            queued(&queue).await,
            [Request::new(None::<String>, "node-1")]
        );
    }

    #[test]
    fn request_display_and_key() {
        let r = Request::new(Some("default"), "web");
        assert_eq!(r.to_string(), "default/web");
        assert_eq!(r.key(), ObjectKey::namespaced("default", "web"));
        let c = Request::new(None::<String>, "node-1");
        assert_eq!(c.to_string(), "node-1");
    }
}
