//! An owner-reference garbage collector like kube-controller-manager's (on by default, see
//! [`EnvironmentBuilder::garbage_collection`](crate::EnvironmentBuilder::garbage_collection)),
//! following upstream's `attemptToDeleteItem`, `processDeletingDependentsItem` and
//! `attemptToOrphan` (pkg/controller/garbagecollector/garbagecollector.go). It runs
//! synchronously after every request that writes, so a delete's cascade is done when it
//! answers. It never scans the store: the store keeps dependents by owner uid and the list of
//! objects written since the collector last ran, and only those objects, their owners and
//! dependents are looked at.
//! - background: an object none of whose owners exists (looked up by kind, name and
//!   namespace, then compared by uid, as upstream's `isDangling`) is deleted;
//! - foreground: an owner with the `foregroundDeletion` finalizer has its dependents deleted,
//!   and loses the finalizer once no dependent with `blockOwnerDeletion` is left;
//! - orphan: an owner with the `orphan` finalizer has its ownerReferences removed from its
//!   dependents, then loses the finalizer.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::compact::Compact;
use crate::objects::{Cluster, DeleteOptions, Part, RvCheck, UpdateMode, WriteOptions};
use crate::store::{Location, meta_str, owner_refs};

/// A bound on collection rounds, so a pathological ownership graph cannot spin forever.
const MAX_ROUNDS: usize = 10_000;

/// What an ownerReference points at, as upstream's `classifyReferences` sorts them.
enum Owner {
    /// The kind is not served, or a cluster-scoped object names a namespaced owner: upstream
    /// cannot look it up and never collects the dependent for it.
    Unresolvable,
    /// No object of that kind and name, or one with another uid.
    Dangling,
    /// The owner is being deleted in the foreground (`foregroundDeletion` finalizer).
    Waiting(Location),
    /// The owner exists.
    Solid,
}

fn has_finalizer(obj: &Value, name: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|v| v == name))
}

fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn ref_uid(r: &Value) -> &str {
    r.get("uid").and_then(Value::as_str).unwrap_or_default()
}

fn blocks(r: &Value) -> bool {
    r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
}

fn without_finalizer(mut obj: Value, name: &str) -> Value {
    if let Some(f) = obj
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        f.retain(|v| v != name);
    }
    obj
}

impl Cluster {
    /// Turns the collector on or off (on from the start unless the builder said otherwise).
    pub fn set_garbage_collection(&mut self, enabled: bool) {
        self.garbage_collection = enabled;
        if enabled {
            self.store.track_owners();
        }
    }

    /// Collects garbage after writes, until nothing is left to do.
    pub fn collect_garbage(&mut self) {
        if !self.garbage_collection {
            return;
        }
        for _ in 0..MAX_ROUNDS {
            let touched = self.store.take_touched();
            if touched.is_empty() {
                return;
            }
            // A set, so an object touched many times in one round is looked at once.
            let mut work: BTreeSet<Location> = BTreeSet::new();
            for t in touched {
                let ns = t.at.1.0.clone();
                if t.removed {
                    // Its dependents may have lost their last owner.
                    work.extend(self.store.dependents_of(&t.uid));
                } else {
                    if let Some(obj) = self.store.peek(&t.at.0, &t.at.1.0, &t.at.1.1) {
                        for r in obj.owner_refs() {
                            if let Owner::Waiting(at) = self.resolve(&r.to_value(), &ns) {
                                work.insert(at);
                            }
                        }
                    }
                    work.insert(t.at);
                }
                // An owner waiting in the foreground may have lost a blocking dependent.
                for r in &t.old_owners {
                    if let Owner::Waiting(at) = self.resolve(r, &ns) {
                        work.insert(at);
                    }
                }
            }
            for at in work {
                self.process(&at);
            }
        }
        tracing::warn!("garbage collection did not settle after {MAX_ROUNDS} rounds");
    }

    fn lookup(&self, at: &Location) -> Option<Value> {
        self.store.get(&at.0, &at.1.0, &at.1.1)
    }

    /// Looks an ownerReference up as upstream's `isDangling` does: by apiVersion's group and
    /// kind, name, and the dependent's namespace (a namespaced owner must share it), then uid.
    fn resolve(&self, r: &Value, dependent_ns: &str) -> Owner {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
        let api_version = field("apiVersion");
        let group = api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or_default();
        let kind = field("kind");
        let Some(rt) = self
            .registry
            .all()
            .find(|t| t.group == group && t.kind == kind)
        else {
            return Owner::Unresolvable;
        };
        if rt.namespaced && dependent_ns.is_empty() {
            return Owner::Unresolvable;
        }
        let ns = if rt.namespaced { dependent_ns } else { "" };
        let at: Location = (
            rt.storage_key(),
            (ns.to_string(), field("name").to_string()),
        );
        // Every write of a dependent comes here: the owner is only looked at, not copied.
        match self.store.peek(&at.0, &at.1.0, &at.1.1) {
            Some(owner) if owner.meta_str("uid") == ref_uid(r) => {
                if owner.is_deleting() && owner.has_finalizer("foregroundDeletion") {
                    Owner::Waiting(at)
                } else {
                    Owner::Solid
                }
            }
            _ => Owner::Dangling,
        }
    }

    fn process(&mut self, at: &Location) {
        // Most writes are of objects that neither have owners nor are being deleted.
        let idle = |o: &Compact| !o.is_deleting() && o.owner_refs().is_empty();
        if self.store.peek(&at.0, &at.1.0, &at.1.1).is_none_or(idle) {
            return;
        }
        let Some(obj) = self.lookup(at) else {
            return;
        };
        if !is_deleting(&obj) {
            self.attempt_to_delete(at, obj);
            return;
        }
        let uid = meta_str(&obj, "uid").to_string();
        if has_finalizer(&obj, "orphan") {
            self.orphan_dependents(at, &uid);
            return;
        }
        if has_finalizer(&obj, "foregroundDeletion") {
            self.delete_dependents(at, &uid);
        }
        // Otherwise it waits for someone else's finalizer: nothing for the collector to do.
    }

    /// `attemptToOrphan`: strip the owner's uid from its dependents, then drop `orphan`.
    fn orphan_dependents(&mut self, at: &Location, uid: &str) {
        for dep in self.store.dependents_of(uid) {
            self.edit(&dep, |d| {
                if let Some(refs) = d
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| ref_uid(r) != uid);
                }
            });
        }
        self.edit(at, |o| *o = without_finalizer(o.take(), "orphan"));
    }

    /// `processDeletingDependentsItem`: delete the dependents; once none that blocks is
    /// left, drop `foregroundDeletion` (which deletes the owner).
    fn delete_dependents(&mut self, at: &Location, uid: &str) {
        let mut blocking = false;
        for dep in self.store.dependents_of(uid) {
            let Some(d) = self.lookup(&dep) else {
                continue;
            };
            if owner_refs(&d)
                .iter()
                .any(|r| ref_uid(r) == uid && blocks(r))
            {
                blocking = true;
            }
            if !is_deleting(&d) {
                self.attempt_to_delete(&dep, d);
            }
        }
        // Deleting dependents may have removed the blockers already.
        let still_blocked = blocking
            && self.store.dependents_of(uid).iter().any(|dep| {
                self.lookup(dep).is_some_and(|d| {
                    owner_refs(&d)
                        .iter()
                        .any(|r| ref_uid(r) == uid && blocks(r))
                })
            });
        if !still_blocked {
            self.edit(at, |o| {
                *o = without_finalizer(o.take(), "foregroundDeletion")
            });
        }
    }

    /// `attemptToDeleteItem` for an object that is not being deleted.
    fn attempt_to_delete(&mut self, at: &Location, obj: Value) {
        let refs = owner_refs(&obj);
        if refs.is_empty() {
            return;
        }
        let ns = &at.1.0;
        let (mut solid, mut stale, mut waiting) = (false, Vec::new(), false);
        for r in refs {
            match self.resolve(r, ns) {
                Owner::Unresolvable | Owner::Solid => solid = true,
                Owner::Dangling => stale.push(ref_uid(r).to_string()),
                Owner::Waiting(_) => {
                    waiting = true;
                    stale.push(ref_uid(r).to_string());
                }
            }
        }
        let uid = meta_str(&obj, "uid").to_string();
        if solid {
            // Another owner keeps it; references to absent owners, and to owners waiting for
            // their dependents, go so that they do not hold anything up.
            if !stale.is_empty() {
                self.edit(at, |o| {
                    if let Some(refs) = o
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        refs.retain(|r| !stale.iter().any(|u| u == ref_uid(r)));
                    }
                });
            }
            return;
        }
        let has_dependents = !self.store.dependents_of(&uid).is_empty();
        let policy = if waiting && has_dependents {
            // Upstream breaks potential cycles: if a dependent is itself deleting its own
            // dependents, this object's references stop blocking first.
            let cycle = self.store.dependents_of(&uid).iter().any(|dep| {
                self.store
                    .peek(&dep.0, &dep.1.0, &dep.1.1)
                    .is_some_and(|d| d.is_deleting() && d.has_finalizer("foregroundDeletion"))
            });
            if cycle {
                self.edit(at, |o| {
                    if let Some(refs) = o
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        for r in refs {
                            r["blockOwnerDeletion"] = Value::Bool(false);
                        }
                    }
                });
            }
            "Foreground"
        } else if has_finalizer(&obj, "orphan") {
            "Orphan"
        } else if has_finalizer(&obj, "foregroundDeletion") {
            "Foreground"
        } else {
            "Background"
        };
        let Some(rt) = self.registry.find_any_version(&at.0.0, &at.0.1).cloned() else {
            return;
        };
        let opts = DeleteOptions {
            propagation: Some(policy.into()),
            ..Default::default()
        };
        // NotFound and friends are fine: someone else already took care of it.
        let _ = self.delete(&rt, &at.1.0, &at.1.1, &opts);
    }

    /// Changes a stored object through the update path, as the collector's PATCHes do
    /// upstream (removing the last finalizer of a deleting object deletes it).
    fn edit(&mut self, at: &Location, change: impl FnOnce(&mut Value)) {
        let Some(mut obj) = self.lookup(at) else {
            return;
        };
        let Some(rt) = self.registry.find_any_version(&at.0.0, &at.0.1).cloned() else {
            return;
        };
        change(&mut obj);
        let mode = UpdateMode {
            part: Part::Main,
            rv_check: RvCheck::IfSet,
        };
        let mut opts = WriteOptions {
            manager: "garbage-collector".into(),
            ..Default::default()
        };
        if let Err(e) = self.update(&rt, &at.1.0, &at.1.1, obj, mode, &mut opts) {
            tracing::warn!(error = %e.message, "garbage collector could not update {}/{}", at.1.0, at.1.1);
        }
    }
}
