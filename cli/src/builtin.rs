//! Built-in Kubernetes kinds a project can add controllers for
//! (`create api --group apps --version v1 --kind Deployment --resource=false`), with what the
//! scaffold needs to know about each: the k8s-openapi module holding the type, its API group,
//! plural and scope.

use anyhow::{Result, bail};

/// One built-in kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinKind {
    /// The `--group` a kubebuilder user types (`core`, `apps`, `networking`, `rbac`...).
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The API group as the API server names it (`""` for core).
    pub api_group: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// The k8s-openapi module under `k8s_openapi::api`, e.g. `apps::v1`.
    pub module: &'static str,
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    api_group: &'static str,
    plural: &'static str,
    namespaced: bool,
    module: &'static str,
) -> BuiltinKind {
    BuiltinKind {
        group,
        version,
        kind,
        api_group,
        plural,
        namespaced,
        module,
    }
}

/// The kinds operators most often watch; each is served by `kubesmith envtest`, so the
/// scaffolded test runs.
const KINDS: &[BuiltinKind] = &[
    kind(
        "core",
        "v1",
        "ConfigMap",
        "",
        "configmaps",
        true,
        "core::v1",
    ),
    kind("core", "v1", "Secret", "", "secrets", true, "core::v1"),
    kind("core", "v1", "Service", "", "services", true, "core::v1"),
    kind(
        "core",
        "v1",
        "ServiceAccount",
        "",
        "serviceaccounts",
        true,
        "core::v1",
    ),
    kind("core", "v1", "Pod", "", "pods", true, "core::v1"),
    kind(
        "core",
        "v1",
        "Namespace",
        "",
        "namespaces",
        false,
        "core::v1",
    ),
    kind(
        "apps",
        "v1",
        "Deployment",
        "apps",
        "deployments",
        true,
        "apps::v1",
    ),
    kind(
        "apps",
        "v1",
        "StatefulSet",
        "apps",
        "statefulsets",
        true,
        "apps::v1",
    ),
    kind(
        "apps",
        "v1",
        "DaemonSet",
        "apps",
        "daemonsets",
        true,
        "apps::v1",
    ),
    kind(
        "apps",
        "v1",
        "ReplicaSet",
        "apps",
        "replicasets",
        true,
        "apps::v1",
    ),
    kind("batch", "v1", "Job", "batch", "jobs", true, "batch::v1"),
    kind(
        "batch",
        "v1",
        "CronJob",
        "batch",
        "cronjobs",
        true,
        "batch::v1",
    ),
    kind(
        "networking",
        "v1",
        "NetworkPolicy",
        "networking.k8s.io",
        "networkpolicies",
        true,
        "networking::v1",
    ),
    kind(
        "rbac",
        "v1",
        "Role",
        "rbac.authorization.k8s.io",
        "roles",
        true,
        "rbac::v1",
    ),
    kind(
        "rbac",
        "v1",
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "rolebindings",
        true,
        "rbac::v1",
    ),
    kind(
        "rbac",
        "v1",
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "clusterroles",
        false,
        "rbac::v1",
    ),
    kind(
        "rbac",
        "v1",
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        false,
        "rbac::v1",
    ),
    kind(
        "coordination",
        "v1",
        "Lease",
        "coordination.k8s.io",
        "leases",
        true,
        "coordination::v1",
    ),
];

/// Whether `group` names a built-in API group (so `--resource=false` means a built-in kind).
pub fn is_builtin_group(group: &str) -> bool {
    KINDS.iter().any(|k| k.group == group)
}

/// The built-in kind `group`/`version`/`kind`, or an error listing the ones kubesmith knows
/// in that group.
pub fn find(group: &str, version: &str, kind: &str) -> Result<BuiltinKind> {
    if let Some(found) = KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
    {
        return Ok(*found);
    }
    let known: Vec<String> = KINDS
        .iter()
        .filter(|k| k.group == group)
        .map(|k| format!("{}/{} {}", k.group, k.version, k.kind))
        .collect();
    bail!(
        "{group}/{version} {kind} is not a built-in kind kubesmith can scaffold a controller for; \
         built-in kinds of group {group:?}: {}",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_builtin_kinds_and_lists_the_group_when_unknown() {
        let deployment = find("apps", "v1", "Deployment").unwrap();
        assert_eq!(
            (deployment.api_group, deployment.plural, deployment.module),
            ("apps", "deployments", "apps::v1")
        );
        assert!(!find("core", "v1", "Namespace").unwrap().namespaced);
        let err = find("apps", "v1", "Deploymnet").unwrap_err().to_string();
        assert!(err.contains("apps/v1 Deployment"), "{err}");
        assert!(err.contains("Deploymnet"), "{err}");
        assert!(is_builtin_group("core") && !is_builtin_group("cache"));
    }
}
