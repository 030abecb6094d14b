//! Owner references with controller-runtime's scope rules (`controllerutil.SetControllerReference`).
//!
//! A child with a controller reference is garbage-collected with its owner and, with
//! [`Builder::owns`](crate::controller::Builder::owns), reconciles it when it changes. The API
//! server silently ignores references it cannot honour (a namespaced owner of a
//! cluster-scoped object, or an owner in another namespace: the garbage collector then deletes
//! the child as orphaned), so these are refused here, before anything is written.
//!
//! ```
//! use k8s_openapi::api::apps::v1::Deployment;
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::ObjectMeta;
//! use kubesmith_runtime::owner;
//!
//! let deploy = Deployment {
//!     metadata: ObjectMeta {
//!         name: Some("web".into()), namespace: Some("shop".into()), uid: Some("1234".into()),
//!         ..ObjectMeta::default()
//!     },
//!     ..Deployment::default()
//! };
//! let mut cm = ConfigMap {
//!     metadata: ObjectMeta { name: Some("web-config".into()), namespace: Some("shop".into()), ..ObjectMeta::default() },
//!     ..ConfigMap::default()
//! };
//! owner::set_controller_reference(&deploy, &mut cm).unwrap();
//! let r = &cm.metadata.owner_references.as_ref().unwrap()[0];
//! assert_eq!((r.kind.as_str(), r.name.as_str(), r.controller), ("Deployment", "web", Some(true)));
//!
//! cm.metadata.namespace = Some("other".into());
//! assert!(owner::set_controller_reference(&deploy, &mut cm).is_err()); // cross-namespace
//! ```

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

use crate::cache::ApiScope;

/// Why an owner reference cannot be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnerReferenceError {
    /// The owner has no name or uid yet: it must be read from (or created in) the API server.
    #[error("the owner {kind} has no name or uid; use the object as the API server returned it")]
    OwnerNotPersisted {
        /// The owner's kind.
        kind: String,
    },
    /// A cluster-scoped object cannot be owned by a namespaced one.
    #[error(
        "cluster-scoped resource must not have a namespace-scoped owner, owner's namespace {owner_namespace}"
    )]
    ClusterScopedChild {
        /// The owner's namespace.
        owner_namespace: String,
    },
    /// Owner and child are in different namespaces.
    #[error(
        "cross-namespace owner references are disallowed, owner's namespace {owner_namespace}, obj's namespace {child_namespace}"
    )]
    CrossNamespace {
        /// The owner's namespace.
        owner_namespace: String,
        /// The child's namespace (empty when unset).
        child_namespace: String,
    },
    /// The child already has a controller, and it is another object.
    #[error("object {child} is already owned by another {kind} controller {name}")]
    AlreadyOwned {
        /// The child, as `namespace/name`.
        child: String,
        /// The existing controller's kind.
        kind: String,
        /// The existing controller's name.
        name: String,
    },
}

/// Makes `owner` the controller of `child` (`controller: true`, `blockOwnerDeletion: true`),
/// replacing an existing reference to the same owner and keeping all others.
///
/// Fails if the owner has no uid, if a namespaced owner would own a cluster-scoped child or
/// one in another namespace, or if another object already controls the child.
pub fn set_controller_reference<O, C>(owner: &O, child: &mut C) -> Result<(), OwnerReferenceError>
where
    O: Resource<DynamicType = ()>,
    O::Scope: ApiScope,
    C: Resource<DynamicType = ()>,
    C::Scope: ApiScope,
{
    let mut reference = owner
        .controller_owner_ref(&())
        .filter(|r| !r.uid.is_empty() && !r.name.is_empty())
        .ok_or_else(|| OwnerReferenceError::OwnerNotPersisted {
            kind: O::kind(&()).into_owned(),
        })?;
    // As controller-runtime: the owner cannot be deleted in the foreground before the child.
    reference.controller = Some(true);
    reference.block_owner_deletion = Some(true);
    if <O::Scope as ApiScope>::is_namespaced() {
        let owner_namespace = owner.meta().namespace.clone().unwrap_or_default();
        if !<C::Scope as ApiScope>::is_namespaced() {
            return Err(OwnerReferenceError::ClusterScopedChild { owner_namespace });
        }
        let child_namespace = child.meta().namespace.clone().unwrap_or_default();
        if child_namespace != owner_namespace {
            return Err(OwnerReferenceError::CrossNamespace {
                owner_namespace,
                child_namespace,
            });
        }
    }
    let child_name = format!(
        "{}/{}",
        child.meta().namespace.as_deref().unwrap_or(""),
        child.meta().name.as_deref().unwrap_or("")
    );
    let references = child
        .meta_mut()
        .owner_references
        .get_or_insert_with(Vec::new);
    if let Some(existing) = references
        .iter()
        .find(|r| r.controller == Some(true) && !same_owner(r, &reference))
    {
        return Err(OwnerReferenceError::AlreadyOwned {
            child: child_name,
            kind: existing.kind.clone(),
            name: existing.name.clone(),
        });
    }
    match references.iter_mut().find(|r| same_owner(r, &reference)) {
        Some(existing) => *existing = reference,
        None => references.push(reference),
    }
    Ok(())
}

/// Same group, kind and name; the version may differ (as controller-runtime's `referSameObject`).
fn same_owner(a: &OwnerReference, b: &OwnerReference) -> bool {
    let group = |api_version: &str| {
        api_version
            .rsplit_once('/')
            .map_or("", |(g, _)| g)
            .to_owned()
    };
    group(&a.api_version) == group(&b.api_version) && a.kind == b.kind && a.name == b.name
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use kube::api::ObjectMeta;

    use super::*;

    fn meta(ns: Option<&str>, name: &str, uid: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            namespace: ns.map(Into::into),
            name: Some(name.into()),
            uid: uid.map(Into::into),
            ..ObjectMeta::default()
        }
    }

    fn deploy(ns: &str, name: &str) -> Deployment {
        Deployment {
            metadata: meta(Some(ns), name, Some(&format!("uid-{name}"))),
            ..Deployment::default()
        }
    }

    fn cm(ns: Option<&str>) -> ConfigMap {
        ConfigMap {
            metadata: meta(ns, "child", None),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn sets_and_replaces_the_controller_reference_keeping_others() {
        let mut child = cm(Some("a"));
        child.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Secret".into(),
            name: "other".into(),
            uid: "u".into(),
            controller: None,
            block_owner_deletion: None,
        }]);
        set_controller_reference(&deploy("a", "web"), &mut child).unwrap();
        set_controller_reference(&deploy("a", "web"), &mut child).unwrap();
        let refs = child.metadata.owner_references.unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].name, "web");
        assert_eq!(refs[1].api_version, "apps/v1");
        assert_eq!(refs[1].block_owner_deletion, Some(true));
    }

    #[test]
    fn scope_rules() {
        let owner = deploy("a", "web");
        assert_eq!(
            set_controller_reference(&owner, &mut cm(Some("b"))),
            Err(OwnerReferenceError::CrossNamespace {
                owner_namespace: "a".into(),
                child_namespace: "b".into()
            })
        );
        let mut ns = Namespace {
            metadata: meta(None, "child-ns", None),
            ..Namespace::default()
        };
        let err = set_controller_reference(&owner, &mut ns).unwrap_err();
        assert!(matches!(
            err,
            OwnerReferenceError::ClusterScopedChild { .. }
        ));
        assert!(err.to_string().contains("cluster-scoped resource"), "{err}");
        // a cluster-scoped owner may own a namespaced child
        let owner_ns = Namespace {
            metadata: meta(None, "team", Some("uid-team")),
            ..Namespace::default()
        };
        set_controller_reference(&owner_ns, &mut cm(Some("a"))).unwrap();
    }

    #[test]
    fn another_controller_or_an_unsaved_owner_is_refused() {
        let mut child = cm(Some("a"));
        set_controller_reference(&deploy("a", "web"), &mut child).unwrap();
        let err = set_controller_reference(&deploy("a", "api"), &mut child).unwrap_err();
        assert_eq!(
            err.to_string(),
            "object a/child is already owned by another Deployment controller web"
        );
        let unsaved = Deployment {
            metadata: meta(Some("a"), "new", None),
            ..Deployment::default()
        };
        assert!(matches!(
            set_controller_reference(&unsaved, &mut cm(Some("a"))),
            Err(OwnerReferenceError::OwnerNotPersisted { .. })
        ));
    }
}
