//! The resource types the server knows: a fixed set of built-ins plus whatever
//! the stored CustomResourceDefinitions declare. Every per-type fact the generic
//! request path needs lives in [`ResourceType`], so there is no per-kind code path.

use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::scale::ScalePaths;
use crate::status::{ApiError, Cause};

/// Behaviour a few built-in types have on top of the generic path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    None,
    /// Namespaces: `Active`/`Terminating` phase, the `kubernetes` finalizer, cascade delete.
    Namespace,
    /// Secrets: `stringData` is folded into base64 `data`, `type` defaults to `Opaque`.
    Secret,
    /// Services: type, port and IP-family defaults, and a cluster IP from 10.96.0.0/16.
    Service,
    /// CRDs: defaults, status conditions, and (un)registering the served kinds.
    Crd,
}

/// How a column's cell is computed from what its path selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Render {
    /// By the column type: text, numbers as they are, dates as ages (`5m`).
    Value,
    /// The number of entries of a map or list (ConfigMap `DATA`).
    Count,
    /// A timestamp as it is (the generic `Created At`).
    Timestamp,
    /// Service ports as `80/TCP,443/TCP`.
    Ports,
    /// An object reference as `kind/name` (Event `OBJECT`).
    Reference,
    /// A reference as `Kind/name`, kind as written (RoleBinding `ROLE`).
    KindName,
    /// A count that prints `0` when unset (workload replica counts).
    Int,
    /// `found/total`, both `0` when unset, the total read at the given path (Deployment `READY`).
    OfTotal(&'static str),
    /// A label selector as `key=value,key in (a,b)` or `<none>` (NetworkPolicy `POD-SELECTOR`).
    Selector,
    /// The sum of the numbers selected, `0` if none (Pod `RESTARTS`).
    Sum,
    /// Ready container statuses over `spec.containers` (Pod `READY`, e.g. `1/2`).
    ContainersReady,
}

/// How objects of a type differ from their stored form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// Stored as served (custom resources rewrite only `apiVersion`).
    None,
    /// `events.k8s.io/v1` Events, stored as core/v1 Events (renamed fields).
    EventsV1,
}

/// A printer column of a Table (`kubectl get`).
#[derive(Debug, Clone)]
pub(crate) struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
    pub render: Render,
}

/// One served (group, version, resource).
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    /// The CRD version's `openAPIV3Schema`, published in the OpenAPI documents (not enforced).
    pub schema: Option<Value>,
    /// The `/scale` subresource, for CRDs that declare one and the scalable workloads.
    pub scale: Option<ScalePaths>,
    /// What `status` a create stores for built-ins whose strategy resets it (Deployments
    /// start with `status: {}`, Pods as `Pending`); `None` keeps the sent status.
    pub initial_status: Option<Value>,
    /// Fields a built-in's defaulting fills when absent (JSON pointer, value), on create and
    /// on every update of the main resource, as the type's `SetDefaults_*` functions do.
    pub defaults: Vec<(&'static str, Value)>,
    /// Defaults applied when another field has a value: (its pointer, the value, the pointer
    /// to default, the default).
    pub conditional_defaults: Vec<(&'static str, &'static str, &'static str, Value)>,
    /// Where the kind keeps a PodSpec (JSON pointer), defaulted like core/v1
    /// `SetDefaults_PodSpec` and `SetDefaults_Container` do.
    pub pod_spec_at: Option<&'static str>,
    /// Served from a CRD: strategic merge patch is refused and updates need a resourceVersion.
    pub custom: bool,
    /// `metadata.generation` is maintained (CRs and CRDs).
    pub tracks_generation: bool,
    pub columns: Vec<PrinterColumn>,
    pub special: Special,
    /// How served objects map to stored ones.
    pub conversion: Conversion,
    /// Field selector labels beyond `metadata.name`/`metadata.namespace`, as dotted paths.
    pub selectable_fields: Vec<String>,
    /// For custom resources, the name of the CRD that declares them.
    pub crd_name: Option<String>,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Objects of one resource share storage across versions.
    pub fn storage_key(&self) -> (String, String) {
        match self.conversion {
            // Both Event APIs share kube-apiserver's one storage, kept in the core form.
            Conversion::EventsV1 => (String::new(), "events".into()),
            Conversion::None => (self.group.clone(), self.plural.clone()),
        }
    }

    pub fn verbs() -> Value {
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    }
}

fn age_column() -> PrinterColumn {
    PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created."
            .into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
        render: Render::Value,
    }
}

fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status_subresource: false,
        schema: None,
        scale: None,
        initial_status: None,
        defaults: Vec::new(),
        conditional_defaults: Vec::new(),
        pod_spec_at: None,
        custom: false,
        tracks_generation: false,
        columns: vec![age_column()],
        special: Special::None,
        conversion: Conversion::None,
        selectable_fields: Vec::new(),
        crd_name: None,
    }
}

/// Type-specific printer columns, followed by Age as kube-apiserver's printers do.
fn columns(specs: &[(&str, &str, &str, Render)]) -> Vec<PrinterColumn> {
    let mut out: Vec<PrinterColumn> = specs
        .iter()
        .map(|(name, type_, path, render)| PrinterColumn {
            name: (*name).into(),
            type_: (*type_).into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: (*path).into(),
            render: *render,
        })
        .collect();
    out.push(age_column());
    out
}

/// The `-o wide` columns (priority 1), which kube-apiserver's printers put after Age.
fn wide(specs: &[(&str, &str, Render)]) -> Vec<PrinterColumn> {
    specs
        .iter()
        .map(|(name, path, render)| PrinterColumn {
            name: (*name).into(),
            type_: "string".into(),
            format: String::new(),
            description: String::new(),
            priority: 1,
            json_path: (*path).into(),
            render: *render,
        })
        .collect()
}

/// A workload's wide columns: its template's containers and images, and its selector.
fn workload_wide() -> Vec<PrinterColumn> {
    wide(&[
        (
            "Containers",
            ".spec.template.spec.containers[*].name",
            Render::Value,
        ),
        (
            "Images",
            ".spec.template.spec.containers[*].image",
            Render::Value,
        ),
        ("Selector", ".spec.selector", Render::Selector),
    ])
}

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn builtins() -> Vec<ResourceType> {
    let mut namespaces = builtin("", "v1", "namespaces", "Namespace", false, &["ns"]);
    namespaces.special = Special::Namespace;
    namespaces.selectable_fields = fields(&["status.phase"]);
    namespaces.status_subresource = true;
    namespaces.columns = columns(&[("Status", "string", ".status.phase", Render::Value)]);
    let mut secrets = builtin("", "v1", "secrets", "Secret", true, &[]);
    secrets.special = Special::Secret;
    secrets.selectable_fields = fields(&["type"]);
    secrets.columns = columns(&[
        ("Type", "string", ".type", Render::Value),
        ("Data", "string", ".data", Render::Count),
    ]);
    let mut core_events = builtin("", "v1", "events", "Event", true, &["ev"]);
    core_events.selectable_fields = fields(&[
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ]);
    core_events.columns = columns(&[
        ("Type", "string", ".type", Render::Value),
        ("Reason", "string", ".reason", Render::Value),
        ("Object", "string", ".involvedObject", Render::Reference),
        ("Message", "string", ".message", Render::Value),
    ]);
    let mut events = builtin("events.k8s.io", "v1", "events", "Event", true, &["ev"]);
    events.conversion = Conversion::EventsV1;
    events.columns = columns(&[
        ("Type", "string", ".type", Render::Value),
        ("Reason", "string", ".reason", Render::Value),
        ("Object", "string", ".regarding", Render::Reference),
        ("Note", "string", ".note", Render::Value),
    ]);
    events.selectable_fields = fields(&[
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "regarding.apiVersion",
        "regarding.resourceVersion",
        "regarding.fieldPath",
        "reason",
        "reportingController",
        "type",
    ]);
    let mut services = builtin("", "v1", "services", "Service", true, &["svc"]);
    services.status_subresource = true;
    services.special = Special::Service;
    // `kubectl get all` lists the kinds in category "all"; services are the only served one.
    services.categories = vec!["all".into()];
    services.columns = columns(&[
        ("Type", "string", ".spec.type", Render::Value),
        ("Cluster-IP", "string", ".spec.clusterIP", Render::Value),
        ("Port(s)", "string", ".spec.ports", Render::Ports),
    ]);
    let mut crds = builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
    );
    crds.special = Special::Crd;
    crds.status_subresource = true;
    crds.tracks_generation = true;
    crds.categories = vec!["api-extensions".into()];
    // Types without printers get kube-apiserver's generic table: the raw creation time.
    let mut created_at = age_column();
    created_at.name = "Created At".into();
    created_at.render = Render::Timestamp;
    crds.columns = vec![created_at];
    let mut configmaps = builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"]);
    configmaps.columns = columns(&[("Data", "string", ".data", Render::Count)]);
    let mut serviceaccounts = builtin("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"]);
    serviceaccounts.columns = columns(&[("Secrets", "string", ".secrets", Render::Count)]);
    let mut leases = builtin("coordination.k8s.io", "v1", "leases", "Lease", true, &[]);
    leases.columns = columns(&[("Holder", "string", ".spec.holderIdentity", Render::Value)]);
    let mut out = vec![
        namespaces,
        configmaps,
        secrets,
        serviceaccounts,
        services,
        core_events,
        events,
        leases,
        crds,
    ];
    out.extend(operator_kinds());
    out
}

/// A Deployment-like `/scale`: replicas at `spec.replicas`/`status.replicas`, the selector
/// formatted from `spec.selector` (kube-apiserver's `metav1.FormatLabelSelector`).
fn workload_scale() -> Option<ScalePaths> {
    Some(ScalePaths {
        spec_replicas: ".spec.replicas".into(),
        status_replicas: ".status.replicas".into(),
        label_selector: Some(".spec.selector".into()),
    })
}

/// The generic table for types without printers: Name and the raw creation time.
fn created_at_columns() -> Vec<PrinterColumn> {
    let mut created_at = age_column();
    created_at.name = "Created At".into();
    created_at.render = Render::Timestamp;
    vec![created_at]
}

/// A kind whose strategy resets status on create, keeps it on main-resource updates (the
/// `/status` subresource owns it) and bumps `metadata.generation` on spec changes.
fn with_status_and_generation(mut t: ResourceType) -> ResourceType {
    t.status_subresource = true;
    t.tracks_generation = true;
    t.initial_status = Some(json!({}));
    t
}

/// The kinds an operator's manifests and controllers touch beyond the core set: workloads,
/// RBAC, network policies, webhook configurations and disruption budgets. Columns follow
/// kube-apiserver's printers (pkg/printers/internalversion/printers.go), without the wide ones.
fn operator_kinds() -> Vec<ResourceType> {
    let mut pods = builtin("", "v1", "pods", "Pod", true, &["po"]);
    pods.status_subresource = true;
    pods.categories = vec!["all".into()];
    // The pod strategy's PrepareForCreate: a new Pod is Pending until a kubelet says otherwise.
    pods.initial_status = Some(json!({ "phase": "Pending" }));
    pods.columns = columns(&[
        (
            "Ready",
            "string",
            ".status.containerStatuses",
            Render::ContainersReady,
        ),
        ("Status", "string", ".status.phase", Render::Value),
        (
            "Restarts",
            "integer",
            ".status.containerStatuses[*].restartCount",
            Render::Sum,
        ),
    ]);
    pods.columns.extend(wide(&[
        ("IP", ".status.podIP", Render::Value),
        ("Node", ".spec.nodeName", Render::Value),
    ]));
    pods.pod_spec_at = Some("/spec");

    let mut deployments = with_status_and_generation(builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
    ));
    deployments.categories = vec!["all".into()];
    deployments.scale = workload_scale();
    deployments.columns = columns(&[
        (
            "Ready",
            "string",
            ".status.readyReplicas",
            Render::OfTotal(".spec.replicas"),
        ),
        (
            "Up-to-date",
            "integer",
            ".status.updatedReplicas",
            Render::Int,
        ),
        (
            "Available",
            "integer",
            ".status.availableReplicas",
            Render::Int,
        ),
    ]);
    deployments.columns.extend(workload_wide());
    // apps/v1 SetDefaults_Deployment.
    deployments.defaults = vec![
        ("/spec/replicas", json!(1)),
        ("/spec/strategy/type", json!("RollingUpdate")),
        ("/spec/revisionHistoryLimit", json!(10)),
        ("/spec/progressDeadlineSeconds", json!(600)),
    ];
    deployments.pod_spec_at = Some("/spec/template/spec");
    let rolling = ("/spec/strategy/type", "RollingUpdate");
    deployments.conditional_defaults = vec![
        (
            rolling.0,
            rolling.1,
            "/spec/strategy/rollingUpdate/maxUnavailable",
            json!("25%"),
        ),
        (
            rolling.0,
            rolling.1,
            "/spec/strategy/rollingUpdate/maxSurge",
            json!("25%"),
        ),
    ];

    let mut replicasets = with_status_and_generation(builtin(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
    ));
    replicasets.categories = vec!["all".into()];
    replicasets.scale = workload_scale();
    replicasets.columns = columns(&[
        ("Desired", "integer", ".spec.replicas", Render::Int),
        ("Current", "integer", ".status.replicas", Render::Int),
        ("Ready", "integer", ".status.readyReplicas", Render::Int),
    ]);
    replicasets.columns.extend(workload_wide());
    replicasets.defaults = vec![("/spec/replicas", json!(1))];
    replicasets.pod_spec_at = Some("/spec/template/spec");

    let mut statefulsets = with_status_and_generation(builtin(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
    ));
    statefulsets.categories = vec!["all".into()];
    statefulsets.scale = workload_scale();
    statefulsets.columns = columns(&[(
        "Ready",
        "string",
        ".status.readyReplicas",
        Render::OfTotal(".spec.replicas"),
    )]);
    statefulsets.defaults = vec![
        ("/spec/replicas", json!(1)),
        ("/spec/podManagementPolicy", json!("OrderedReady")),
        ("/spec/updateStrategy/type", json!("RollingUpdate")),
        ("/spec/revisionHistoryLimit", json!(10)),
    ];
    statefulsets.pod_spec_at = Some("/spec/template/spec");
    statefulsets.conditional_defaults = vec![(
        "/spec/updateStrategy/type",
        "RollingUpdate",
        "/spec/updateStrategy/rollingUpdate/partition",
        json!(0),
    )];

    let mut daemonsets = with_status_and_generation(builtin(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
    ));
    daemonsets.categories = vec!["all".into()];
    daemonsets.columns = columns(&[
        (
            "Desired",
            "integer",
            ".status.desiredNumberScheduled",
            Render::Int,
        ),
        (
            "Current",
            "integer",
            ".status.currentNumberScheduled",
            Render::Int,
        ),
        ("Ready", "integer", ".status.numberReady", Render::Int),
        (
            "Up-to-date",
            "integer",
            ".status.updatedNumberScheduled",
            Render::Int,
        ),
        (
            "Available",
            "integer",
            ".status.numberAvailable",
            Render::Int,
        ),
    ]);
    daemonsets.defaults = vec![
        ("/spec/updateStrategy/type", json!("RollingUpdate")),
        ("/spec/revisionHistoryLimit", json!(10)),
    ];
    daemonsets.pod_spec_at = Some("/spec/template/spec");
    let rolling = ("/spec/updateStrategy/type", "RollingUpdate");
    daemonsets.conditional_defaults = vec![
        (
            rolling.0,
            rolling.1,
            "/spec/updateStrategy/rollingUpdate/maxUnavailable",
            json!(1),
        ),
        (
            rolling.0,
            rolling.1,
            "/spec/updateStrategy/rollingUpdate/maxSurge",
            json!(0),
        ),
    ];

    let mut jobs = with_status_and_generation(builtin("batch", "v1", "jobs", "Job", true, &[]));
    jobs.categories = vec!["all".into()];
    jobs.columns = columns(&[(
        "Completions",
        "string",
        ".status.succeeded",
        Render::OfTotal(".spec.completions"),
    )]);
    jobs.defaults = vec![
        ("/spec/parallelism", json!(1)),
        ("/spec/completions", json!(1)),
        ("/spec/backoffLimit", json!(6)),
        ("/spec/completionMode", json!("NonIndexed")),
        ("/spec/suspend", json!(false)),
    ];
    jobs.pod_spec_at = Some("/spec/template/spec");

    let mut cronjobs =
        with_status_and_generation(builtin("batch", "v1", "cronjobs", "CronJob", true, &["cj"]));
    cronjobs.categories = vec!["all".into()];
    cronjobs.columns = columns(&[
        ("Schedule", "string", ".spec.schedule", Render::Value),
        ("Suspend", "boolean", ".spec.suspend", Render::Value),
        ("Active", "integer", ".status.active", Render::Count),
        (
            "Last Schedule",
            "date",
            ".status.lastScheduleTime",
            Render::Value,
        ),
    ]);
    cronjobs.defaults = vec![
        ("/spec/concurrencyPolicy", json!("Allow")),
        ("/spec/suspend", json!(false)),
        ("/spec/successfulJobsHistoryLimit", json!(3)),
        ("/spec/failedJobsHistoryLimit", json!(1)),
    ];
    cronjobs.pod_spec_at = Some("/spec/jobTemplate/spec/template/spec");

    let rbac = "rbac.authorization.k8s.io";
    let mut roles = builtin(rbac, "v1", "roles", "Role", true, &[]);
    roles.columns = created_at_columns();
    let mut clusterroles = builtin(rbac, "v1", "clusterroles", "ClusterRole", false, &[]);
    clusterroles.columns = created_at_columns();
    let mut rolebindings = builtin(rbac, "v1", "rolebindings", "RoleBinding", true, &[]);
    rolebindings.columns = columns(&[("Role", "string", ".roleRef", Render::KindName)]);
    let mut clusterrolebindings = builtin(
        rbac,
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
    );
    clusterrolebindings.columns = columns(&[("Role", "string", ".roleRef", Render::KindName)]);

    let mut networkpolicies = builtin(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
    );
    networkpolicies.tracks_generation = true;
    networkpolicies.columns = columns(&[(
        "Pod-Selector",
        "string",
        ".spec.podSelector",
        Render::Selector,
    )]);
    networkpolicies.defaults = vec![("/spec/policyTypes", json!(["Ingress"]))];

    let admission = "admissionregistration.k8s.io";
    let mut mutating = builtin(
        admission,
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
    );
    mutating.tracks_generation = true;
    mutating.categories = vec!["api-extensions".into()];
    mutating.columns = columns(&[("Webhooks", "integer", ".webhooks", Render::Count)]);
    let mut validating = builtin(
        admission,
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
    );
    validating.tracks_generation = true;
    validating.categories = vec!["api-extensions".into()];
    validating.columns = columns(&[("Webhooks", "integer", ".webhooks", Render::Count)]);

    let mut pdbs = with_status_and_generation(builtin(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
    ));
    pdbs.columns = columns(&[
        (
            "Min Available",
            "string",
            ".spec.minAvailable",
            Render::Value,
        ),
        (
            "Max Unavailable",
            "string",
            ".spec.maxUnavailable",
            Render::Value,
        ),
        (
            "Allowed Disruptions",
            "integer",
            ".status.disruptionsAllowed",
            Render::Int,
        ),
    ]);

    vec![
        pods,
        deployments,
        replicasets,
        statefulsets,
        daemonsets,
        jobs,
        cronjobs,
        roles,
        clusterroles,
        rolebindings,
        clusterrolebindings,
        networkpolicies,
        mutating,
        validating,
        pdbs,
    ]
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first, others last alphabetically.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (prefix, rank) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = tail.strip_prefix(prefix) {
                let minor: u64 = n.parse().ok()?;
                return Some((rank, major, minor));
            }
        }
        None
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Why a CRD's names are not accepted (the `NamesAccepted=False` reason and message).
#[derive(Debug, Clone)]
pub(crate) struct NameConflict {
    pub reason: &'static str,
    pub message: String,
}

/// All resource types currently served.
#[derive(Debug)]
pub(crate) struct Registry {
    builtins: Vec<ResourceType>,
    custom: Vec<ResourceType>,
}

impl Registry {
    pub fn new() -> Self {
        Registry {
            builtins: builtins(),
            custom: Vec::new(),
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &ResourceType> {
        self.builtins.iter().chain(self.custom.iter())
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.all()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// Any served version of a (group, resource), used where the version does not matter.
    pub fn find_any_version(&self, group: &str, plural: &str) -> Option<&ResourceType> {
        self.all().find(|t| t.group == group && t.plural == plural)
    }

    /// Groups with their served versions, preferred (highest priority) version first; core ("") first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.all() {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by(|a, b| compare_versions(a, b));
        }
        out
    }

    pub fn types_in(&self, group: &str, version: &str) -> Vec<&ResourceType> {
        self.all()
            .filter(|t| t.group == group && t.version == version)
            .collect()
    }

    /// Replaces whatever a CRD served before with what it declares now.
    pub fn set_crd_types(&mut self, crd_name: &str, types: Vec<ResourceType>) {
        self.remove_crd(crd_name);
        self.custom.extend(types);
    }

    pub fn remove_crd(&mut self, crd_name: &str) {
        self.custom
            .retain(|t| t.crd_name.as_deref() != Some(crd_name));
    }

    /// Whether a CRD's (group, plural) or kind is already taken by a built-in or another CRD.
    pub fn name_conflict(
        &self,
        crd_name: &str,
        group: &str,
        plural: &str,
        kind: &str,
    ) -> Option<NameConflict> {
        self.all()
            .filter(|t| t.crd_name.as_deref() != Some(crd_name) && t.group == group)
            .find_map(|t| {
                if t.plural == plural {
                    Some(NameConflict {
                        reason: "PluralConflict",
                        message: format!("\"{plural}\" is already in use"),
                    })
                } else if t.kind == kind {
                    Some(NameConflict {
                        reason: "KindConflict",
                        message: format!("\"{kind}\" is already in use"),
                    })
                } else {
                    None
                }
            })
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Fills the defaults kube-apiserver fills on a CRD (apiextensions v1 `defaults.go`) and
/// checks the fields the server needs, answering 422 like the real validation would.
pub(crate) fn default_and_validate_crd(crd: &mut Value) -> Result<(), ApiError> {
    let name = str_at(crd, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    let invalid = |field: &str, reason: &'static str, msg: String| {
        ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            vec![Cause {
                reason,
                field: field.into(),
                message: msg,
            }],
        )
    };
    if !crd.get("spec").is_some_and(Value::is_object) {
        return Err(invalid(
            "spec",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    let group = str_at(crd, &["spec", "group"])
        .unwrap_or_default()
        .to_string();
    if group.is_empty() {
        return Err(invalid(
            "spec.group",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    let plural = str_at(crd, &["spec", "names", "plural"])
        .unwrap_or_default()
        .to_string();
    if plural.is_empty() {
        return Err(invalid(
            "spec.names.plural",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    let kind = str_at(crd, &["spec", "names", "kind"])
        .unwrap_or_default()
        .to_string();
    if kind.is_empty() {
        return Err(invalid(
            "spec.names.kind",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            "metadata.name",
            "FieldValueInvalid",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    match str_at(crd, &["spec", "scope"]) {
        Some("Namespaced") | Some("Cluster") => {}
        other => {
            return Err(invalid(
                "spec.scope",
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"",
                    other.unwrap_or("")
                ),
            ));
        }
    }
    let versions = crd["spec"]
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        return Err(invalid(
            "spec.versions",
            "FieldValueInvalid",
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        return Err(invalid(
            "spec.versions",
            "FieldValueInvalid",
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            return Err(invalid(
                &format!("spec.versions[{i}].name"),
                "FieldValueRequired",
                "Required value".into(),
            ));
        }
    }
    let names = &mut crd["spec"]["names"];
    if names
        .get("singular")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        names["singular"] = json!(kind.to_lowercase());
    }
    if names
        .get("listKind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        names["listKind"] = json!(format!("{kind}List"));
    }
    if crd["spec"].get("conversion").is_none() {
        crd["spec"]["conversion"] = json!({ "strategy": "None" });
    }
    if let Some(conversion) = crd["spec"]["conversion"].as_object_mut() {
        conversion
            .entry("strategy")
            .or_insert_with(|| json!("None"));
    }
    crate::conversion::validate_crd_conversion(&crd["spec"]["conversion"])
        .map_err(|(field, reason, message)| invalid(field, reason, message))
}

/// The resource types a (defaulted, valid) CRD serves: one per served version.
pub(crate) fn types_from_crd(crd: &Value) -> Vec<ResourceType> {
    let crd_name = str_at(crd, &["metadata", "name"])
        .unwrap_or_default()
        .to_string();
    let spec = &crd["spec"];
    let names = &spec["names"];
    let kind = str_at(names, &["kind"]).unwrap_or_default().to_string();
    let mut out = Vec::new();
    for v in spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let mut columns = vec![];
        for c in v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let json_path = c
                .get("jsonPath")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            columns.push(PrinterColumn {
                name: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                type_: c
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
                    .into(),
                format: c
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                description: c
                    .get("description")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| {
                        format!(
                            "Custom resource definition column (in JSONPath format): {json_path}"
                        )
                    }),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path,
                render: Render::Value,
            });
        }
        if columns.is_empty() {
            columns.push(age_column());
        }
        out.push(ResourceType {
            group: str_at(spec, &["group"]).unwrap_or_default().into(),
            version: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            plural: str_at(names, &["plural"]).unwrap_or_default().into(),
            singular: str_at(names, &["singular"]).unwrap_or_default().into(),
            kind: kind.clone(),
            list_kind: str_at(names, &["listKind"]).unwrap_or_default().into(),
            namespaced: str_at(spec, &["scope"]) == Some("Namespaced"),
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            status_subresource: v.pointer("/subresources/status").is_some(),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            scale: v.pointer("/subresources/scale").map(|s| ScalePaths {
                spec_replicas: s
                    .get("specReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".spec.replicas")
                    .into(),
                status_replicas: s
                    .get("statusReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".status.replicas")
                    .into(),
                label_selector: s
                    .get("labelSelectorPath")
                    .and_then(Value::as_str)
                    .map(String::from),
            }),
            initial_status: None,
            defaults: Vec::new(),
            conditional_defaults: Vec::new(),
            pod_spec_at: None,
            custom: true,
            tracks_generation: true,
            columns,
            special: Special::None,
            conversion: Conversion::None,
            selectable_fields: v
                .get("selectableFields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                .map(|p| p.trim_start_matches('.').to_string())
                .collect(),
            crd_name: Some(crd_name.clone()),
        });
    }
    out
}

/// The status kube-apiserver's CRD controllers converge to once names are accepted.
pub(crate) fn crd_status(
    crd: &Value,
    old_status: Option<&Value>,
    conflict: Option<&NameConflict>,
    now: &str,
) -> Value {
    let spec = &crd["spec"];
    let storage: Vec<String> = spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(String::from))
        .collect();
    let mut stored = strings(old_status.and_then(|s| s.get("storedVersions")));
    for s in storage {
        if !stored.contains(&s) {
            stored.push(s);
        }
    }
    let old_condition = |t: &str| {
        old_status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
            })
            .cloned()
    };
    let condition = |t: &str, status: &str, reason: &str, message: &str| {
        let since = old_condition(t)
            .filter(|c| c.get("status").and_then(Value::as_str) == Some(status))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now));
        json!({ "type": t, "status": status, "reason": reason, "message": message, "lastTransitionTime": since })
    };
    let (conditions, accepted) = match conflict {
        None => (
            vec![
                condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                condition(
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                ),
            ],
            spec["names"].clone(),
        ),
        Some(conflict) => (
            vec![
                condition("NamesAccepted", "False", conflict.reason, &conflict.message),
                condition(
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                ),
            ],
            json!({ "plural": "", "kind": "" }),
        ),
    };
    json!({ "conditions": conditions, "acceptedNames": accepted, "storedVersions": stored })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_kubernetes_priority() {
        let mut v = vec!["v1alpha1", "v2", "v1beta2", "v1", "foo", "v1beta1"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }
}
