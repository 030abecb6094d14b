//! How the served built-in types merge their lists, as their Go types declare it
//! (k8s.io/api `types.go`: `patchStrategy`/`patchMergeKey` struct tags and the `+listType`,
//! `+listMapKey`, `+structType` markers), which kube-apiserver publishes in its OpenAPI as
//! `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`.
//!
//! One table serves strategic merge patch (by patch merge key), the OpenAPI documents and field
//! ownership with server-side apply (by list type and map keys). k8s-openapi's schemas do not
//! carry these extensions, so they are kept here by OpenAPI definition name and property.

/// How server-side apply (structured-merge-diff) treats a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Owned and replaced as a whole (the default for lists without a list type).
    Atomic,
    /// A set of scalars: each value is owned on its own (`v:<value>` in FieldsV1).
    Set,
    /// Items identified by these key fields (`k:{...}` in FieldsV1).
    Map(&'static [&'static str]),
}

/// One list (or struct) property of a built-in type.
#[derive(Debug)]
pub(crate) struct ListMeta {
    /// The OpenAPI definition that has the property.
    pub definition: &'static str,
    pub property: &'static str,
    pub list_type: ListType,
    /// `x-kubernetes-patch-strategy` ("" when strategic merge patch replaces the value).
    pub patch_strategy: &'static str,
    /// `x-kubernetes-patch-merge-key` ("" for sets and non-merging properties).
    pub patch_merge_key: &'static str,
}

const fn map(
    definition: &'static str,
    property: &'static str,
    keys: &'static [&'static str],
    patch_strategy: &'static str,
    patch_merge_key: &'static str,
) -> ListMeta {
    ListMeta {
        definition,
        property,
        list_type: ListType::Map(keys),
        patch_strategy,
        patch_merge_key,
    }
}

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
const CONTAINER: &str = "io.k8s.api.core.v1.Container";
const EPHEMERAL: &str = "io.k8s.api.core.v1.EphemeralContainer";
const POD_STATUS: &str = "io.k8s.api.core.v1.PodStatus";

/// The lists (and the one struct, Deployment's `strategy`) whose merging is not the default
/// (atomic for server-side apply, replace for strategic merge patch).
pub(crate) const LISTS: &[ListMeta] = &[
    ListMeta {
        definition: META,
        property: "finalizers",
        list_type: ListType::Set,
        patch_strategy: "merge",
        patch_merge_key: "",
    },
    map(META, "ownerReferences", &["uid"], "merge", "uid"),
    map(POD_SPEC, "containers", &["name"], "merge", "name"),
    map(POD_SPEC, "initContainers", &["name"], "merge", "name"),
    map(POD_SPEC, "ephemeralContainers", &["name"], "merge", "name"),
    map(POD_SPEC, "volumes", &["name"], "merge,retainKeys", "name"),
    map(POD_SPEC, "imagePullSecrets", &["name"], "merge", "name"),
    map(POD_SPEC, "hostAliases", &["ip"], "merge", "ip"),
    map(
        POD_SPEC,
        "topologySpreadConstraints",
        &["topologyKey", "whenUnsatisfiable"],
        "merge",
        "topologyKey",
    ),
    map(POD_SPEC, "schedulingGates", &["name"], "merge", "name"),
    map(
        POD_SPEC,
        "resourceClaims",
        &["name"],
        "merge,retainKeys",
        "name",
    ),
    map(CONTAINER, "env", &["name"], "merge", "name"),
    map(
        CONTAINER,
        "ports",
        &["containerPort", "protocol"],
        "merge",
        "containerPort",
    ),
    map(
        CONTAINER,
        "volumeMounts",
        &["mountPath"],
        "merge",
        "mountPath",
    ),
    map(
        CONTAINER,
        "volumeDevices",
        &["devicePath"],
        "merge",
        "devicePath",
    ),
    map(EPHEMERAL, "env", &["name"], "merge", "name"),
    map(
        EPHEMERAL,
        "ports",
        &["containerPort", "protocol"],
        "merge",
        "containerPort",
    ),
    map(
        EPHEMERAL,
        "volumeMounts",
        &["mountPath"],
        "merge",
        "mountPath",
    ),
    map(
        EPHEMERAL,
        "volumeDevices",
        &["devicePath"],
        "merge",
        "devicePath",
    ),
    map(POD_STATUS, "conditions", &["type"], "merge", "type"),
    map(POD_STATUS, "podIPs", &["ip"], "merge", "ip"),
    map(POD_STATUS, "hostIPs", &["ip"], "merge", "ip"),
    map(
        POD_STATUS,
        "resourceClaimStatuses",
        &["name"],
        "merge,retainKeys",
        "name",
    ),
    map(
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        &["port", "protocol"],
        "merge",
        "port",
    ),
    map(
        "io.k8s.api.core.v1.ServiceStatus",
        "conditions",
        &["type"],
        "merge",
        "type",
    ),
    // ServiceAccount `imagePullSecrets` is `+listType=atomic` without a patch strategy:
    // strategic merge patch replaces it (unlike PodSpec's).
    map(
        "io.k8s.api.core.v1.ServiceAccount",
        "secrets",
        &["name"],
        "merge",
        "name",
    ),
    map(
        "io.k8s.api.core.v1.NamespaceStatus",
        "conditions",
        &["type"],
        "merge",
        "type",
    ),
    ListMeta {
        definition: "io.k8s.api.apps.v1.DeploymentSpec",
        property: "strategy",
        list_type: ListType::Atomic,
        patch_strategy: "retainKeys",
        patch_merge_key: "",
    },
    map(
        "io.k8s.api.apps.v1.DeploymentStatus",
        "conditions",
        &["type"],
        "merge",
        "type",
    ),
    map(
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        "conditions",
        &["type"],
        "merge",
        "type",
    ),
    map(
        "io.k8s.api.apps.v1.StatefulSetStatus",
        "conditions",
        &["type"],
        "merge",
        "type",
    ),
    map(
        "io.k8s.api.apps.v1.DaemonSetStatus",
        "conditions",
        &["type"],
        "merge",
        "type",
    ),
    map(
        "io.k8s.api.batch.v1.JobStatus",
        "conditions",
        &["type"],
        "merge",
        "type",
    ),
    map(
        "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
        "conditions",
        &["type"],
        "merge",
        "type",
    ),
    map(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        "conditions",
        &["type"],
        "",
        "",
    ),
    map(
        "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration",
        "webhooks",
        &["name"],
        "merge",
        "name",
    ),
    map(
        "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration",
        "webhooks",
        &["name"],
        "merge",
        "name",
    ),
];

/// Struct types marked `+structType=atomic`: server-side apply owns and replaces them whole
/// (FieldsV1 shows `f:selector: {}`), as `x-kubernetes-map-type: atomic` publishes.
pub(crate) const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ConfigMapEnvSource",
    "io.k8s.api.core.v1.SecretEnvSource",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
];

/// Defaults of list map keys (`+default` on the key field): server-side apply identifies an
/// item that omits the key by its default, so `ports: [{containerPort: 80}]` is
/// `k:{"containerPort":80,"protocol":"TCP"}`.
const KEY_DEFAULTS: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.ContainerPort", "protocol", "TCP"),
    ("io.k8s.api.core.v1.ServicePort", "protocol", "TCP"),
];

/// The metadata of `property` in `definition`, if it merges in a non-default way.
pub(crate) fn lookup(definition: &str, property: &str) -> Option<&'static ListMeta> {
    LISTS
        .iter()
        .find(|m| m.definition == definition && m.property == property)
}

/// Whether the definition is a `+structType=atomic` struct.
pub(crate) fn atomic_struct(definition: &str) -> bool {
    ATOMIC_STRUCTS.contains(&definition)
}

/// The default of a list map key field of the item type `definition`.
pub(crate) fn key_default(definition: &str, key: &str) -> Option<&'static str> {
    KEY_DEFAULTS
        .iter()
        .find(|(d, k, _)| *d == definition && *k == key)
        .map(|(_, _, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each property is listed once, and a merge key is one of the list's map keys (the
    /// first, as upstream's `patchMergeKey` always is).
    #[test]
    fn entries_are_unique_and_consistent() {
        for (i, m) in LISTS.iter().enumerate() {
            assert!(
                LISTS[..i]
                    .iter()
                    .all(|o| (o.definition, o.property) != (m.definition, m.property)),
                "{}.{} twice",
                m.definition,
                m.property
            );
            if let ListType::Map(keys) = m.list_type
                && !m.patch_merge_key.is_empty()
            {
                assert_eq!(
                    keys[0], m.patch_merge_key,
                    "{}.{}",
                    m.definition, m.property
                );
            }
        }
        assert_eq!(
            lookup(POD_SPEC, "topologySpreadConstraints").map(|m| m.list_type),
            Some(ListType::Map(&["topologyKey", "whenUnsatisfiable"]))
        );
        assert!(lookup("io.k8s.api.core.v1.ServiceAccount", "imagePullSecrets").is_none());
    }
}
