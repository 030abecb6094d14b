//! Informers of untyped objects (`DynamicObject`), for kinds without a Rust type.

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::{self, ApiCapabilities, Scope};

use super::informer::{ApiFactory, Informer};

/// Which untyped resource to watch: a group/version/kind that discovery resolves when the
/// informer starts (retried with backoff until the API server serves it, e.g. while its CRD is
/// being installed), or an [`ApiResource`] whose plural and scope are already known.
///
/// ```
/// use kube::api::{ApiResource, GroupVersionKind};
/// use kube::discovery::Scope;
/// use kubesmith_runtime::cache::DynamicResource;
///
/// let by_discovery: DynamicResource = GroupVersionKind::gvk("apps", "v1", "Deployment").into();
/// let known = DynamicResource::resolved(
///     ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments"),
///     Scope::Namespaced,
/// );
/// assert_eq!(by_discovery.gvk(), known.gvk());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DynamicResource {
    /// Resolved through discovery (`kube::discovery::pinned_kind`).
    Kind(GroupVersionKind),
    /// Already resolved.
    Resolved {
        /// Group, version, kind and plural.
        resource: ApiResource,
        /// Whether objects live in namespaces.
        scope: Scope,
    },
}

impl DynamicResource {
    /// A resource whose plural and scope are known, so no discovery is needed.
    pub fn resolved(resource: ApiResource, scope: Scope) -> Self {
        Self::Resolved { resource, scope }
    }

    /// Its group, version and kind.
    pub fn gvk(&self) -> GroupVersionKind {
        match self {
            Self::Kind(gvk) => gvk.clone(),
            Self::Resolved { resource, .. } => {
                GroupVersionKind::gvk(&resource.group, &resource.version, &resource.kind)
            }
        }
    }
}

impl From<GroupVersionKind> for DynamicResource {
    fn from(gvk: GroupVersionKind) -> Self {
        Self::Kind(gvk)
    }
}

/// What discovery returns (`Discovery::resolve_gvk`, `pinned_kind`).
impl From<(ApiResource, ApiCapabilities)> for DynamicResource {
    fn from((resource, caps): (ApiResource, ApiCapabilities)) -> Self {
        Self::Resolved {
            resource,
            scope: caps.scope,
        }
    }
}

/// The informer of `resource`, restricted to `namespace` when the resource is namespaced.
pub(super) fn informer(
    resource: DynamicResource,
    namespace: Option<String>,
) -> Informer<DynamicObject> {
    let gvk = resource.gvk();
    let description = match &namespace {
        Some(ns) => format!("{} (dynamic) in {ns}", gvk_string(&gvk)),
        None => format!("{} (dynamic)", gvk_string(&gvk)),
    };
    let api: ApiFactory<DynamicObject> = Box::new(move |client| {
        let resource = resource.clone();
        let namespace = namespace.clone();
        Box::pin(async move {
            let (resource, scope) = match resource {
                DynamicResource::Resolved { resource, scope } => (resource, scope),
                DynamicResource::Kind(gvk) => {
                    let (resource, caps) = discovery::pinned_kind(&client, &gvk).await?;
                    (resource, caps.scope)
                }
            };
            Ok(match (scope, namespace) {
                (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client, &ns, &resource),
                _ => Api::all_with(client, &resource),
            })
        })
    });
    Informer::new(
        description,
        &gvk.kind,
        api,
        kube::runtime::watcher::Config::default(),
    )
}

fn gvk_string(gvk: &GroupVersionKind) -> String {
    if gvk.group.is_empty() {
        format!("{}/{}", gvk.version, gvk.kind)
    } else {
        format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind)
    }
}
