//! An owner-reference garbage collector like kube-controller-manager's (opt-in, see
//! [`EnvironmentBuilder::garbage_collection`](crate::EnvironmentBuilder::garbage_collection)).
//! It runs synchronously after every write, so a delete's cascade is done when it answers:
//! - background: objects whose owners (by uid) are all gone are deleted;
//! - foreground: an owner with the `foregroundDeletion` finalizer has its dependents deleted,
//!   and loses the finalizer once no dependent with `blockOwnerDeletion` is left;
//! - orphan: an owner with the `orphan` finalizer has its ownerReferences removed from its
//!   dependents, then loses the finalizer.

use std::collections::HashSet;

use serde_json::Value;

use crate::objects::{Cluster, DeleteOptions};
use crate::store::{ObjectKey, StorageKey, meta_str};

/// A bound on cascade rounds, so a pathological ownership graph cannot spin forever.
const MAX_ROUNDS: usize = 10_000;

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
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

fn blocks_owner(dependent: &Value, owner_uid: &str) -> bool {
    dependent
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r["uid"] == owner_uid
                    && r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
            })
        })
}

impl Cluster {
    /// Runs cascades until nothing changes.
    pub fn collect_garbage(&mut self) {
        for _ in 0..MAX_ROUNDS {
            if !self.gc_round() {
                return;
            }
        }
        tracing::warn!("garbage collection did not settle after {MAX_ROUNDS} rounds");
    }

    fn all_objects(&self) -> Vec<(StorageKey, ObjectKey, Value)> {
        self.store
            .all()
            .map(|(key, obj)| (key.clone(), crate::store::object_key(obj), obj.clone()))
            .collect()
    }

    fn delete_dependent(&mut self, key: &StorageKey, at: &ObjectKey, propagation: Option<&str>) {
        let Some(rt) = self.registry.find_any_version(&key.0, &key.1).cloned() else {
            return;
        };
        let opts = DeleteOptions {
            propagation: propagation.map(String::from),
            ..Default::default()
        };
        // NotFound and friends are fine: someone else already took care of it.
        let _ = self.delete(&rt, &at.0, &at.1, &opts);
    }

    /// Rewrites an object through the generic update pipeline (finalizer removal deletes).
    fn rewrite(&mut self, key: &StorageKey, obj: Value) {
        let Some(rt) = self.registry.find_any_version(&key.0, &key.1).cloned() else {
            return;
        };
        let (ns, name) = crate::store::object_key(&obj);
        let mode = crate::objects::UpdateMode {
            part: crate::objects::Part::Main,
            rv_check: crate::objects::RvCheck::IfSet,
        };
        let mut opts = crate::objects::WriteOptions {
            manager: "garbage-collector".into(),
            ..Default::default()
        };
        if let Err(e) = self.update(&rt, &ns, &name, obj, mode, &mut opts) {
            tracing::warn!(error = %e.message, "garbage collector could not update {}/{}", ns, name);
        }
    }

    fn without_finalizer(obj: &Value, name: &str) -> Value {
        let mut o = obj.clone();
        if let Some(f) = o
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            f.retain(|v| v != name);
        }
        o
    }

    /// One round; whether anything changed.
    fn gc_round(&mut self) -> bool {
        let objects = self.all_objects();
        let uids: HashSet<&str> = objects.iter().map(|(_, _, o)| meta_str(o, "uid")).collect();
        let dependents_of = |uid: &str| -> Vec<&(StorageKey, ObjectKey, Value)> {
            objects
                .iter()
                .filter(|(_, _, o)| owner_uids(o).iter().any(|u| u == uid))
                .collect()
        };

        for (key, _, owner) in objects.iter().filter(|(_, _, o)| is_deleting(o)) {
            let uid = meta_str(owner, "uid");
            if has_finalizer(owner, "orphan") {
                for (dkey, _, dep) in dependents_of(uid) {
                    let mut d = dep.clone();
                    if let Some(refs) = d
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        refs.retain(|r| r["uid"] != uid);
                    }
                    self.rewrite(dkey, d);
                }
                self.rewrite(key, Self::without_finalizer(owner, "orphan"));
                return true;
            }
            if has_finalizer(owner, "foregroundDeletion") {
                let deps = dependents_of(uid);
                let mut changed = false;
                for (dkey, dat, dep) in &deps {
                    if !is_deleting(dep) {
                        self.delete_dependent(dkey, dat, Some("Foreground"));
                        changed = true;
                    }
                }
                if changed {
                    return true;
                }
                if !deps.iter().any(|(_, _, d)| blocks_owner(d, uid)) {
                    self.rewrite(key, Self::without_finalizer(owner, "foregroundDeletion"));
                    return true;
                }
            }
        }

        for (key, at, obj) in &objects {
            let owners = owner_uids(obj);
            if !owners.is_empty()
                && !is_deleting(obj)
                && owners.iter().all(|u| !uids.contains(u.as_str()))
            {
                self.delete_dependent(key, at, None);
                return true;
            }
        }
        false
    }
}
