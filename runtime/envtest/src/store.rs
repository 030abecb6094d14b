//! Object storage: every object in [`Compact`] form, one global monotonic
//! resourceVersion counter (like etcd's revision), a retained event history for
//! watches that resume from a resourceVersion, and a broadcast for live watchers.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::compact::Compact;

/// (group, plural): objects of one resource share storage across its versions.
pub(crate) type StorageKey = (String, String);

/// (namespace, name); the namespace is "" for cluster-scoped objects. Ordering matches etcd key order.
pub(crate) type ObjectKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as watchers see it. `old` is the previous state, needed for selector transitions.
///
/// Both states are shared with the store and with the neighbouring events (the new state of one
/// write is the old state of the next), so the history holds each version of an object once.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub key: StorageKey,
    pub type_: EventType,
    pub object: Arc<Compact>,
    pub old: Option<Arc<Compact>>,
    at: Instant,
}

/// At most this many past events stay available to watches resuming from an older
/// resourceVersion: kube-apiserver's watch cache grows to `defaultUpperBoundCapacity`
/// (100 * 1024) per resource.
const HISTORY_LIMIT: usize = 100_000;
/// Events older than this are dropped once more than [`HISTORY_FLOOR`] are kept, as the watch
/// cache shrinks to about `eventFreshDuration` (75 s) of history; without it, a long-lived
/// server (a benchmark, `envtest serve` during a day's work) kept every version of 100k writes.
const HISTORY_FRESH: Duration = Duration::from_secs(75);
/// The watch cache's `defaultLowerBoundCapacity`: a quiet server keeps at least these events.
const HISTORY_FLOOR: usize = 100;
/// Live watchers that fall further behind than this get a 410 and relist.
const BROADCAST_CAPACITY: usize = 4096;

#[derive(Debug)]
pub(crate) struct Store {
    rv: u64,
    objects: HashMap<StorageKey, BTreeMap<ObjectKey, Arc<Compact>>>,
    history: VecDeque<Arc<Event>>,
    /// Every event with `rv <= compacted` is gone from the history.
    compacted: u64,
    live: broadcast::Sender<Arc<Event>>,
    /// Kept only while the garbage collector runs (see [`Store::track_owners`]).
    owners: Option<OwnerIndex>,
}

/// Where an object lives: its resource's storage key and its (namespace, name).
pub(crate) type Location = (StorageKey, ObjectKey);

/// What the garbage collector needs to find work without scanning the store: dependents by
/// the uid their ownerReferences name, and the writes it has not looked at yet.
#[derive(Debug, Default)]
struct OwnerIndex {
    dependents: HashMap<String, BTreeSet<Location>>,
    touched: Vec<Touched>,
}

/// A write the garbage collector has yet to look at.
#[derive(Debug)]
pub(crate) struct Touched {
    pub at: Location,
    pub uid: String,
    pub removed: bool,
    /// The ownerReferences the object had before the write (an owner waiting in foreground
    /// deletion may have lost a blocking dependent).
    pub old_owners: Vec<Value>,
}

/// The ownerReferences of an object (empty when absent or malformed).
pub(crate) fn owner_refs(obj: &Value) -> &[Value] {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn ref_uids(obj: &Compact) -> BTreeSet<&str> {
    obj.owner_refs()
        .iter()
        .filter_map(|r| r.get("uid").and_then(Compact::as_str))
        .collect()
}

impl OwnerIndex {
    fn record(&mut self, key: &StorageKey, old: Option<&Compact>, new: Option<&Compact>) {
        let Some(obj) = new.or(old) else {
            return;
        };
        let at = (key.clone(), obj.object_key());
        let before = old.map(ref_uids).unwrap_or_default();
        let after = new.map(ref_uids).unwrap_or_default();
        for uid in before.difference(&after) {
            if let Some(set) = self.dependents.get_mut(*uid) {
                set.remove(&at);
                if set.is_empty() {
                    self.dependents.remove(*uid);
                }
            }
        }
        for uid in after.difference(&before) {
            self.dependents
                .entry((*uid).to_string())
                .or_default()
                .insert(at.clone());
        }
        self.touched.push(Touched {
            uid: obj.meta_str("uid").to_string(),
            removed: new.is_none(),
            old_owners: old
                .map(|o| o.owner_refs().iter().map(Compact::to_value).collect())
                .unwrap_or_default(),
            at,
        });
    }
}

pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The entries of `m` after `after` (all of them without it).
pub(crate) fn range_after<'m, V>(
    m: &'m BTreeMap<ObjectKey, V>,
    after: Option<&ObjectKey>,
) -> std::collections::btree_map::Range<'m, ObjectKey, V> {
    use std::ops::Bound::{Excluded, Unbounded};
    match after {
        Some(a) => m.range::<ObjectKey, _>((Excluded(a), Unbounded)),
        None => m.range::<ObjectKey, _>(..),
    }
}

pub(crate) fn object_key(obj: &Value) -> ObjectKey {
    (
        meta_str(obj, "namespace").to_string(),
        meta_str(obj, "name").to_string(),
    )
}

pub(crate) fn set_rv(obj: &mut Value, rv: u64) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
}

impl Store {
    pub fn new() -> Self {
        let (live, _) = broadcast::channel(BROADCAST_CAPACITY);
        Store {
            rv: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            live,
            owners: None,
        }
    }

    /// Starts keeping the owner index and the list of writes for the garbage collector.
    pub fn track_owners(&mut self) {
        let mut index = OwnerIndex::default();
        for (key, objects) in &self.objects {
            for obj in objects.values() {
                index.record(key, None, Some(obj));
            }
        }
        index.touched.clear();
        self.owners = Some(index);
    }

    /// The writes since the last call, oldest first (none when owners are not tracked).
    pub fn take_touched(&mut self) -> Vec<Touched> {
        self.owners
            .as_mut()
            .map(|i| std::mem::take(&mut i.touched))
            .unwrap_or_default()
    }

    /// Objects whose ownerReferences name `uid`, in storage order.
    pub fn dependents_of(&self, uid: &str) -> Vec<Location> {
        self.owners
            .as_ref()
            .and_then(|i| i.dependents.get(uid))
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn compacted_rv(&self) -> u64 {
        self.compacted
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    /// Forgets the whole event history, so watches from any older resourceVersion get 410 Expired.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Retained events after `rv` for one resource, oldest first.
    pub fn events_after(&self, key: &StorageKey, rv: u64) -> Vec<Arc<Event>> {
        self.history
            .iter()
            .filter(|e| e.rv > rv && &e.key == key)
            .cloned()
            .collect()
    }

    /// A copy of one object.
    pub fn get(&self, key: &StorageKey, ns: &str, name: &str) -> Option<Value> {
        self.peek(key, ns, name).map(Compact::to_value)
    }

    pub fn contains(&self, key: &StorageKey, ns: &str, name: &str) -> bool {
        self.peek(key, ns, name).is_some()
    }

    /// One object as stored, for a look at a few fields without copying it.
    pub fn peek(&self, key: &StorageKey, ns: &str, name: &str) -> Option<&Compact> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .map(|v| &**v)
    }

    /// Copies of the objects of one resource in key order; `ns = None` means all namespaces.
    pub fn list<'a>(
        &'a self,
        key: &StorageKey,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = Value> + 'a {
        self.list_after(key, ns, None).map(|(_, v)| v.to_value())
    }

    /// The objects of one resource after `after` in key order (all of them without it), from
    /// the given namespace or all; a paged list seeks to its continue key instead of
    /// walking past the pages already sent.
    pub fn list_after<'a>(
        &'a self,
        key: &StorageKey,
        ns: Option<&'a str>,
        after: Option<&ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Compact)> + 'a {
        self.objects
            .get(key)
            .map(|m| range_after(m, after))
            .into_iter()
            .flatten()
            .filter(move |((o_ns, _), _)| ns.is_none_or(|n| n == o_ns))
            .map(|(k, v)| (k, &**v))
    }

    /// The objects of one resource as they were at `rv` (in key order), rebuilt by undoing the
    /// retained events after it; `None` once the history no longer reaches back that far.
    /// The versions are shared with the store, so a snapshot costs a key and a pointer per
    /// object, not a copy of each.
    pub fn snapshot(
        &self,
        key: &StorageKey,
        ns: Option<&str>,
        rv: u64,
    ) -> Option<BTreeMap<ObjectKey, Arc<Compact>>> {
        if rv < self.compacted || rv > self.rv {
            return None;
        }
        let in_ns = |k: &ObjectKey| ns.is_none_or(|n| n == k.0);
        let mut objs: BTreeMap<ObjectKey, Arc<Compact>> = self
            .objects
            .get(key)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(k, _)| in_ns(k))
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        for ev in self.history.iter().rev().take_while(|e| e.rv > rv) {
            let k = ev.object.object_key();
            if &ev.key != key || !in_ns(&k) {
                continue;
            }
            match (&ev.type_, &ev.old) {
                (EventType::Added, _) => {
                    objs.remove(&k);
                }
                (_, Some(old)) => {
                    objs.insert(k, Arc::clone(old));
                }
                (_, None) => {}
            }
        }
        Some(objs)
    }

    /// Storage keys holding at least one object in namespace `ns`.
    pub fn keys_with_objects_in(&self, ns: &str) -> Vec<StorageKey> {
        self.objects
            .iter()
            .filter(|(_, m)| m.keys().any(|(n, _)| n == ns))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn record(
        &mut self,
        key: &StorageKey,
        type_: EventType,
        object: Arc<Compact>,
        old: Option<Arc<Compact>>,
    ) {
        let event = Arc::new(Event {
            rv: self.rv,
            key: key.clone(),
            type_,
            object,
            old,
            at: Instant::now(),
        });
        self.history.push_back(event.clone());
        while self.history.front().is_some_and(|oldest| {
            self.history.len() > HISTORY_LIMIT
                || (self.history.len() > HISTORY_FLOOR && oldest.at.elapsed() > HISTORY_FRESH)
        }) {
            if let Some(oldest) = self.history.pop_front() {
                self.compacted = oldest.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.live.send(event);
    }

    /// Stores a new object under a fresh resourceVersion and emits ADDED.
    pub fn insert(&mut self, key: &StorageKey, mut obj: Value) -> Value {
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        let stored = Arc::new(Compact::new(&obj));
        self.objects
            .entry(key.clone())
            .or_default()
            .insert(object_key(&obj), stored.clone());
        if let Some(index) = &mut self.owners {
            index.record(key, None, Some(&stored));
        }
        self.record(key, EventType::Added, stored, None);
        obj
    }

    /// Replaces an existing object under a fresh resourceVersion and emits MODIFIED.
    pub fn replace(&mut self, key: &StorageKey, mut obj: Value) -> Value {
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        let stored = Arc::new(Compact::new(&obj));
        let old = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert(object_key(&obj), stored.clone());
        if let Some(index) = &mut self.owners {
            index.record(key, old.as_deref(), Some(&stored));
        }
        self.record(key, EventType::Modified, stored, old);
        obj
    }

    /// Removes an object and emits DELETED carrying `last` (its final state) with the delete's resourceVersion.
    pub fn remove(
        &mut self,
        key: &StorageKey,
        ns: &str,
        name: &str,
        last: Option<Value>,
    ) -> Option<Value> {
        let old = self
            .objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut last = last.unwrap_or_else(|| old.to_value());
        set_rv(&mut last, self.rv);
        if let Some(index) = &mut self.owners {
            index.record(key, Some(&old), None);
        }
        let event = Arc::new(Compact::new(&last));
        self.record(key, EventType::Deleted, event, Some(old));
        Some(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str, owners: &[&str]) -> Value {
        let refs: Vec<Value> = owners.iter().map(|u| json!({ "uid": u })).collect();
        json!({ "metadata": { "namespace": "ns", "name": name, "uid": format!("uid-{name}"),
            "ownerReferences": refs } })
    }

    fn key() -> StorageKey {
        (String::new(), "configmaps".into())
    }

    fn at(name: &str) -> Location {
        (key(), ("ns".into(), name.into()))
    }

    #[test]
    fn the_owner_index_follows_inserts_replaces_and_removes() {
        let mut store = Store::new();
        store.insert(&key(), cm("before", &["o1"]));
        // Objects stored before tracking starts are indexed, but are not work to do.
        store.track_owners();
        assert_eq!(store.dependents_of("o1"), [at("before")]);
        assert!(store.take_touched().is_empty());

        store.insert(&key(), cm("a", &["o1", "o2"]));
        assert_eq!(store.dependents_of("o1"), [at("a"), at("before")]);
        store.replace(&key(), cm("a", &["o2", "o3"]));
        assert_eq!(store.dependents_of("o1"), [at("before")]);
        assert_eq!(store.dependents_of("o3"), [at("a")]);
        store.remove(&key(), "ns", "a", None);
        assert!(store.dependents_of("o2").is_empty());
        assert!(store.dependents_of("o3").is_empty());

        let touched = store.take_touched();
        let summary: Vec<(&str, bool, usize)> = touched
            .iter()
            .map(|t| (t.at.1.1.as_str(), t.removed, t.old_owners.len()))
            .collect();
        assert_eq!(summary, [("a", false, 0), ("a", false, 2), ("a", true, 2)]);
        assert_eq!(touched[2].uid, "uid-a");
        assert!(store.take_touched().is_empty());
    }

    #[test]
    fn each_version_is_held_once_by_the_store_and_the_history() {
        let mut store = Store::new();
        store.insert(&key(), cm("a", &[]));
        store.replace(&key(), cm("a", &["o1"]));
        let (added, modified) = (&store.history[0], &store.history[1]);
        let old = modified
            .old
            .as_ref()
            .expect("a MODIFIED event carries the old state");
        assert!(Arc::ptr_eq(&added.object, old));
        let current = &store.objects[&key()][&("ns".to_string(), "a".to_string())];
        assert!(Arc::ptr_eq(&modified.object, current));
    }

    #[test]
    fn the_history_keeps_a_floor_of_events_and_drops_stale_ones_beyond_it() {
        let mut store = Store::new();
        for i in 0..HISTORY_FLOOR + 10 {
            store.insert(&key(), cm(&format!("cm-{i}"), &[]));
        }
        assert_eq!(store.history.len(), HISTORY_FLOOR + 10);
        assert_eq!(store.compacted_rv(), 0);
        // Age the 20 oldest events past the fresh window.
        let stale = Instant::now()
            .checked_sub(HISTORY_FRESH + Duration::from_secs(1))
            .expect("the machine has been up longer than the window");
        for ev in store.history.iter_mut().take(20) {
            Arc::get_mut(ev).expect("no watcher holds the event").at = stale;
        }
        store.insert(&key(), cm("next", &[]));
        // 111 events, 20 of them stale: they go only down to the floor (11 of them).
        assert_eq!(store.history.len(), HISTORY_FLOOR);
        assert_eq!(store.compacted_rv(), 11);
        assert_eq!(store.history.front().map(|e| e.rv), Some(12));
    }

    #[test]
    fn nothing_is_tracked_unless_asked() {
        let mut store = Store::new();
        store.insert(&key(), cm("a", &["o1"]));
        assert!(store.dependents_of("o1").is_empty());
        assert!(store.take_touched().is_empty());
    }
}
