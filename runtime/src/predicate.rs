//! Event filters for controllers, as controller-runtime's `predicate` package: a predicate
//! decides, per create, update and delete event of a watched object, whether the event
//! queues a reconcile.
//!
//! Built in: [`GenerationChanged`] (spec changes only, status writes ignored),
//! [`LabelsChanged`], [`AnnotationsChanged`], [`ResourceVersionChanged`]; custom ones from
//! closures with [`Funcs`], [`filter`] or [`metadata_filter`]; combined with [`PredicateExt::and`],
//! [`PredicateExt::or`] and [`PredicateExt::not`] (or the free functions [`and`], [`or`],
//! [`not`]). Attach them to one source with the builder's `for_with`, `owns_with` and
//! `watches_with`, or to every source with `with_event_filter`.
//!
//! ```no_run
//! use kubesmith_runtime::prelude::*;
//! use kubesmith_runtime::predicate::{self, GenerationChanged, LabelsChanged, PredicateExt};
//! use k8s_openapi::api::apps::v1::Deployment;
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! # struct R;
//! # impl Reconciler<Deployment> for R {
//! #     async fn reconcile(&self, _: Context<Deployment>) -> Result<Action, ReconcileError> { Ok(Action::await_change()) }
//! # }
//! # fn doc(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
//! Controller::managed_by(mgr)
//!     // spec or label changes of a Deployment; its status updates are ignored
//!     .for_with::<Deployment>(GenerationChanged.or(LabelsChanged))
//!     // only config maps labelled for this operator
//!     .owns_with::<ConfigMap>(predicate::filter(|cm: &ConfigMap| {
//!         cm.labels().contains_key("example.com/managed")
//!     }))
//!     .complete(R)
//! # }
//! ```
//!
//! Updates replayed by a relist carry the object's unchanged resourceVersion: every built-in
//! "changed" predicate filters them out.

use std::fmt;
use std::sync::Arc;

use kube::Resource;
use kube::core::ObjectMeta;

/// Anything with object metadata: every Kubernetes object type, and `dyn Object` for
/// predicates that work on all types (those given to the builder's `with_event_filter`).
pub trait Object: Send + Sync {
    /// The object's metadata.
    fn object_meta(&self) -> &ObjectMeta;
}

impl<K: Resource + Send + Sync> Object for K {
    fn object_meta(&self) -> &ObjectMeta {
        self.meta()
    }
}

/// Decides which events of `K` objects queue a reconcile (controller-runtime's
/// `predicate.Predicate`). Every method defaults to `true` (let the event through).
/// controller-runtime's fourth method, `Generic`, has no counterpart: it serves channel
/// sources, which kubesmith does not have.
///
/// Implement it for a reusable filter, or build one from closures with [`Funcs`]:
///
/// ```
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kubesmith_runtime::predicate::Predicate;
///
/// /// Ignores deletions (the reconciler has nothing to clean up).
/// struct IgnoreDeletes;
///
/// impl Predicate<ConfigMap> for IgnoreDeletes {
///     fn delete(&self, _obj: &ConfigMap) -> bool {
///         false
///     }
/// }
/// ```
pub trait Predicate<K: ?Sized>: Send + Sync {
    /// An object appeared (also every object of the first list).
    fn create(&self, obj: &K) -> bool {
        let _ = obj;
        true
    }

    /// An object changed (also objects a relist saw again, with `old` the cached state).
    fn update(&self, old: &K, new: &K) -> bool {
        let _ = (old, new);
        true
    }

    /// An object was deleted (also objects a relist no longer found); `obj` is its last known
    /// state.
    fn delete(&self, obj: &K) -> bool {
        let _ = obj;
        true
    }
}

impl<K: ?Sized, P: Predicate<K> + ?Sized> Predicate<K> for Arc<P> {
    fn create(&self, obj: &K) -> bool {
        (**self).create(obj)
    }
    fn update(&self, old: &K, new: &K) -> bool {
        (**self).update(old, new)
    }
    fn delete(&self, obj: &K) -> bool {
        (**self).delete(obj)
    }
}

impl<K: ?Sized, P: Predicate<K> + ?Sized> Predicate<K> for Box<P> {
    fn create(&self, obj: &K) -> bool {
        (**self).create(obj)
    }
    fn update(&self, old: &K, new: &K) -> bool {
        (**self).update(old, new)
    }
    fn delete(&self, obj: &K) -> bool {
        (**self).delete(obj)
    }
}

/// Passes updates that change `metadata.generation`, i.e. the spec of types whose status is a
/// subresource (controller-runtime's `GenerationChangedPredicate`). Create and delete pass.
///
/// Types without a generation (ConfigMaps, Secrets) have none before or after, so every
/// update of them is filtered out.
#[derive(Clone, Copy, Debug, Default)]
pub struct GenerationChanged;

impl<K: Object + ?Sized> Predicate<K> for GenerationChanged {
    fn update(&self, old: &K, new: &K) -> bool {
        old.object_meta().generation != new.object_meta().generation
    }
}

/// Passes updates that change `metadata.labels` (controller-runtime's
/// `LabelChangedPredicate`). Create and delete pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct LabelsChanged;

impl<K: Object + ?Sized> Predicate<K> for LabelsChanged {
    fn update(&self, old: &K, new: &K) -> bool {
        non_empty(&old.object_meta().labels) != non_empty(&new.object_meta().labels)
    }
}

/// Passes updates that change `metadata.annotations` (controller-runtime's
/// `AnnotationChangedPredicate`). Create and delete pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnnotationsChanged;

impl<K: Object + ?Sized> Predicate<K> for AnnotationsChanged {
    fn update(&self, old: &K, new: &K) -> bool {
        non_empty(&old.object_meta().annotations) != non_empty(&new.object_meta().annotations)
    }
}

/// Passes updates that change `metadata.resourceVersion`, dropping the unchanged objects a
/// relist replays (controller-runtime's `ResourceVersionChangedPredicate`). Create and delete
/// pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResourceVersionChanged;

impl<K: Object + ?Sized> Predicate<K> for ResourceVersionChanged {
    fn update(&self, old: &K, new: &K) -> bool {
        old.object_meta().resource_version != new.object_meta().resource_version
    }
}

/// An absent map and an empty one are the same labels.
fn non_empty<V>(
    map: &Option<std::collections::BTreeMap<String, V>>,
) -> Option<&std::collections::BTreeMap<String, V>> {
    map.as_ref().filter(|m| !m.is_empty())
}

type ObjFn<K> = Box<dyn Fn(&K) -> bool + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(&K, &K) -> bool + Send + Sync>;

/// A predicate from closures, one per event type; events without a closure pass
/// (controller-runtime's `predicate.Funcs`).
///
/// ```
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kubesmith_runtime::predicate::{Funcs, Predicate};
///
/// // reconcile when the data changes, never on deletion
/// let p = Funcs::<ConfigMap>::new()
///     .on_update(|old, new| old.data != new.data)
///     .on_delete(|_| false);
/// let cm = ConfigMap::default();
/// assert!(p.create(&cm));
/// assert!(!p.update(&cm, &cm));
/// assert!(!p.delete(&cm));
/// ```
pub struct Funcs<K: ?Sized> {
    create: Option<ObjFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<ObjFn<K>>,
}

impl<K: ?Sized> Default for Funcs<K> {
    fn default() -> Self {
        Self {
            create: None,
            update: None,
            delete: None,
        }
    }
}

impl<K: ?Sized> fmt::Debug for Funcs<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Funcs")
            .field("create", &self.create.is_some())
            .field("update", &self.update.is_some())
            .field("delete", &self.delete.is_some())
            .finish()
    }
}

impl<K: ?Sized> Funcs<K> {
    /// A predicate that passes everything until closures are set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides create events.
    pub fn on_create(mut self, f: impl Fn(&K) -> bool + Send + Sync + 'static) -> Self {
        self.create = Some(Box::new(f));
        self
    }

    /// Decides update events, given the old and the new state.
    pub fn on_update(mut self, f: impl Fn(&K, &K) -> bool + Send + Sync + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }

    /// Decides delete events, given the last known state.
    pub fn on_delete(mut self, f: impl Fn(&K) -> bool + Send + Sync + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K: ?Sized> Predicate<K> for Funcs<K> {
    fn create(&self, obj: &K) -> bool {
        self.create.as_ref().is_none_or(|f| f(obj))
    }
    fn update(&self, old: &K, new: &K) -> bool {
        self.update.as_ref().is_none_or(|f| f(old, new))
    }
    fn delete(&self, obj: &K) -> bool {
        self.delete.as_ref().is_none_or(|f| f(obj))
    }
}

/// A predicate that asks `keep` about the object of every event (the new state for updates),
/// as controller-runtime's `NewPredicateFuncs`.
///
/// ```
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kube::ResourceExt;
/// use kubesmith_runtime::predicate::{self, Predicate};
///
/// let in_default = predicate::filter(|cm: &ConfigMap| cm.namespace().as_deref() == Some("default"));
/// assert!(!in_default.create(&ConfigMap::default()));
/// ```
pub fn filter<K: ?Sized>(keep: impl Fn(&K) -> bool + Send + Sync + 'static) -> Filter<K> {
    Filter(Box::new(keep))
}

/// The predicate [`filter`] returns.
pub struct Filter<K: ?Sized>(ObjFn<K>);

impl<K: ?Sized> fmt::Debug for Filter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Filter")
    }
}

impl<K: ?Sized> Predicate<K> for Filter<K> {
    fn create(&self, obj: &K) -> bool {
        (self.0)(obj)
    }
    fn update(&self, _old: &K, new: &K) -> bool {
        (self.0)(new)
    }
    fn delete(&self, obj: &K) -> bool {
        (self.0)(obj)
    }
}

/// A predicate that asks `keep` about the metadata of the object of every event (the new
/// state for updates); unlike [`filter`] it works for every type, so it suits the builder's
/// `with_event_filter`.
///
/// ```
/// use k8s_openapi::api::core::v1::Secret;
/// use kubesmith_runtime::predicate::{self, Predicate};
///
/// let managed = predicate::metadata_filter(|meta| {
///     meta.labels.as_ref().is_some_and(|l| l.contains_key("example.com/managed"))
/// });
/// assert!(!Predicate::<Secret>::create(&managed, &Secret::default()));
/// ```
pub fn metadata_filter(
    keep: impl Fn(&ObjectMeta) -> bool + Send + Sync + 'static,
) -> MetadataFilter {
    MetadataFilter(Arc::new(keep))
}

/// The predicate [`metadata_filter`] returns.
#[derive(Clone)]
pub struct MetadataFilter(Arc<dyn Fn(&ObjectMeta) -> bool + Send + Sync>);

impl fmt::Debug for MetadataFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetadataFilter")
    }
}

impl<K: Object + ?Sized> Predicate<K> for MetadataFilter {
    fn create(&self, obj: &K) -> bool {
        (self.0)(obj.object_meta())
    }
    fn update(&self, _old: &K, new: &K) -> bool {
        (self.0)(new.object_meta())
    }
    fn delete(&self, obj: &K) -> bool {
        (self.0)(obj.object_meta())
    }
}

/// Passes an event when both predicates do (see [`PredicateExt::and`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct And<A, B>(pub A, pub B);

impl<K: ?Sized, A: Predicate<K>, B: Predicate<K>> Predicate<K> for And<A, B> {
    fn create(&self, obj: &K) -> bool {
        self.0.create(obj) && self.1.create(obj)
    }
    fn update(&self, old: &K, new: &K) -> bool {
        self.0.update(old, new) && self.1.update(old, new)
    }
    fn delete(&self, obj: &K) -> bool {
        self.0.delete(obj) && self.1.delete(obj)
    }
}

/// Passes an event when either predicate does (see [`PredicateExt::or`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Or<A, B>(pub A, pub B);

impl<K: ?Sized, A: Predicate<K>, B: Predicate<K>> Predicate<K> for Or<A, B> {
    fn create(&self, obj: &K) -> bool {
        self.0.create(obj) || self.1.create(obj)
    }
    fn update(&self, old: &K, new: &K) -> bool {
        self.0.update(old, new) || self.1.update(old, new)
    }
    fn delete(&self, obj: &K) -> bool {
        self.0.delete(obj) || self.1.delete(obj)
    }
}

/// Passes an event when the inner predicate does not (see [`PredicateExt::not`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Not<A>(pub A);

impl<K: ?Sized, A: Predicate<K>> Predicate<K> for Not<A> {
    fn create(&self, obj: &K) -> bool {
        !self.0.create(obj)
    }
    fn update(&self, old: &K, new: &K) -> bool {
        !self.0.update(old, new)
    }
    fn delete(&self, obj: &K) -> bool {
        !self.0.delete(obj)
    }
}

/// Both `a` and `b` (controller-runtime's `predicate.And`).
pub fn and<A, B>(a: A, b: B) -> And<A, B> {
    And(a, b)
}

/// Either `a` or `b` (controller-runtime's `predicate.Or`).
pub fn or<A, B>(a: A, b: B) -> Or<A, B> {
    Or(a, b)
}

/// The opposite of `a` (controller-runtime's `predicate.Not`).
pub fn not<A>(a: A) -> Not<A> {
    Not(a)
}

/// Combinators as methods, so predicates chain: `GenerationChanged.or(LabelsChanged)`.
///
/// Implemented for this module's predicates; a predicate of your own gets the methods with an
/// empty `impl PredicateExt for MyPredicate {}` (it is not implemented for every type, so that
/// importing it does not add `and`/`or`/`not` to unrelated values such as `bool`).
///
/// ```
/// use k8s_openapi::api::apps::v1::Deployment;
/// use kubesmith_runtime::predicate::{AnnotationsChanged, GenerationChanged, Predicate, PredicateExt};
///
/// let p = GenerationChanged.or(AnnotationsChanged).and(AnnotationsChanged.not());
/// let mut new = Deployment::default();
/// new.metadata.generation = Some(2);
/// assert!(Predicate::<Deployment>::update(&p, &Deployment::default(), &new));
/// ```
pub trait PredicateExt: Sized {
    /// Passes when both `self` and `other` pass.
    fn and<B>(self, other: B) -> And<Self, B> {
        And(self, other)
    }

    /// Passes when `self` or `other` passes.
    fn or<B>(self, other: B) -> Or<Self, B> {
        Or(self, other)
    }

    /// Passes when `self` does not.
    fn not(self) -> Not<Self> {
        Not(self)
    }
}

impl PredicateExt for GenerationChanged {}
impl PredicateExt for LabelsChanged {}
impl PredicateExt for AnnotationsChanged {}
impl PredicateExt for ResourceVersionChanged {}
impl PredicateExt for MetadataFilter {}
impl<K: ?Sized> PredicateExt for Funcs<K> {}
impl<K: ?Sized> PredicateExt for Filter<K> {}
impl<A, B> PredicateExt for And<A, B> {}
impl<A, B> PredicateExt for Or<A, B> {}
impl<A> PredicateExt for Not<A> {}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    fn deployment(generation: i64, rv: &str, labels: &[(&str, &str)]) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.generation = Some(generation);
        d.metadata.resource_version = Some(rv.into());
        d.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        d
    }

    #[test]
    fn built_ins_compare_their_field_and_pass_create_and_delete() {
        let old = deployment(1, "10", &[("a", "1")]);
        let status_write = deployment(1, "11", &[("a", "1")]);
        let spec_change = deployment(2, "12", &[("a", "1")]);
        let relabel = deployment(1, "13", &[("a", "2")]);

        assert!(!GenerationChanged.update(&old, &status_write));
        assert!(GenerationChanged.update(&old, &spec_change));
        assert!(!LabelsChanged.update(&old, &spec_change));
        assert!(LabelsChanged.update(&old, &relabel));
        assert!(ResourceVersionChanged.update(&old, &status_write));
        assert!(!ResourceVersionChanged.update(&old, &old));
        assert!(!AnnotationsChanged.update(&old, &relabel));
        for p in [
            &GenerationChanged as &dyn Predicate<Deployment>,
            &LabelsChanged,
            &AnnotationsChanged,
            &ResourceVersionChanged,
        ] {
            assert!(p.create(&old));
            assert!(p.delete(&old));
        }
    }

    #[test]
    fn missing_and_empty_labels_are_equal() {
        let mut none = ConfigMap::default();
        none.metadata.labels = None;
        let mut empty = ConfigMap::default();
        empty.metadata.labels = Some(Default::default());
        assert!(!LabelsChanged.update(&none, &empty));
        empty.metadata.annotations = Some([("k".to_owned(), "v".to_owned())].into());
        assert!(AnnotationsChanged.update(&none, &empty));
    }

    #[test]
    fn combinators_follow_boolean_logic() {
        let old = deployment(1, "1", &[]);
        let new = deployment(2, "2", &[]);
        let yes = GenerationChanged;
        let no = LabelsChanged;
        assert!(Predicate::<Deployment>::update(&yes.or(no), &old, &new));
        assert!(!Predicate::<Deployment>::update(&yes.and(no), &old, &new));
        assert!(Predicate::<Deployment>::update(
            &and(yes, no.not()),
            &old,
            &new
        ));
        assert!(!Predicate::<Deployment>::update(
            &not(or(yes, no)),
            &old,
            &new
        ));
        // create passes for both, so the negation rejects it
        assert!(!Predicate::<Deployment>::create(&not(yes), &old));
    }

    #[test]
    fn object_wide_predicates_work_on_dyn_object() {
        let wide: Box<dyn Predicate<dyn Object>> =
            Box::new(GenerationChanged.and(metadata_filter(|meta| meta.generation > Some(1))));
        let old = deployment(1, "1", &[]);
        let new = deployment(2, "2", &[]);
        assert!(wide.update(&old, &new));
        assert!(!wide.update(&new, &old));
        assert!(!wide.create(&old));
    }

    #[test]
    fn funcs_default_to_passing() {
        let p = Funcs::<ConfigMap>::new().on_create(|cm| cm.metadata.name.is_some());
        let cm = ConfigMap::default();
        assert!(!p.create(&cm));
        assert!(p.update(&cm, &cm));
        assert!(p.delete(&cm));
    }
}
