//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`),
//! which typed kubectl commands send: `create namespace|configmap|secret|serviceaccount`,
//! the RBAC `create role|clusterrole|rolebinding|clusterrolebinding`, `create deployment`,
//! `create job` (also `--from=cronjob/...`), `create cronjob`, `create service ...`,
//! `expose`, `run` and `create poddisruptionbudget`. The envelope is the 4-byte magic
//! `k8s\0` followed by a `runtime.Unknown` message whose `raw` field holds the object.
//!
//! Each message is a table of its fields, numbered as in Kubernetes' `generated.proto` and
//! named as in JSON. The decoder reproduces what kube-apiserver's JSON rendering of the Go
//! struct would hold: Go's generated marshallers write every non-pointer scalar even when it
//! is zero, so those zero values are left out like `omitempty` does, while pointer fields keep
//! an explicit zero. A field number no table models is refused by number, never dropped.

use base64::Engine as _;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, Copy)]
enum Ty {
    Str,
    /// `bytes`, rendered as base64 like JSON does.
    Bytes,
    /// Any varint integer (`int32`, `int64`); negative values arrive sign-extended.
    Int,
    Bool,
    /// `metav1.Time`: whole seconds (the nanos are ignored, as kube-apiserver does); an
    /// empty message is the zero time, i.e. unset.
    Time,
    /// `metav1.MicroTime`: seconds and nanos, rendered with microseconds.
    MicroTime,
    /// `resource.Quantity`: `message Quantity { optional string string = 1; }`.
    Quantity,
    /// `intstr.IntOrString`: `type` (0 int, 1 string), `intVal`, `strVal`.
    IntOrString,
    Msg(&'static [Field]),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    /// A Go value field: always on the wire, its zero value left out as `omitempty` does.
    Value,
    /// A Go pointer field: on the wire only when set, so an explicit zero is kept.
    Ptr,
    Repeated,
    /// `map<string, T>`, sent as repeated key/value entries; `ty` is the value type.
    Map,
    /// An embedded Go struct (e.g. `LocalObjectReference` in `ConfigMapKeySelector`): its
    /// fields belong to the enclosing JSON object.
    Inline,
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    ty: Ty,
    card: Card,
}

const fn field(num: u64, name: &'static str, ty: Ty, card: Card) -> Field {
    Field {
        num,
        name,
        ty,
        card,
    }
}

const fn f(num: u64, name: &'static str, ty: Ty) -> Field {
    field(num, name, ty, Card::Value)
}

const fn p(num: u64, name: &'static str, ty: Ty) -> Field {
    field(num, name, ty, Card::Ptr)
}

const fn rep(num: u64, name: &'static str, ty: Ty) -> Field {
    field(num, name, ty, Card::Repeated)
}

const fn map(num: u64, name: &'static str, value: Ty) -> Field {
    field(num, name, value, Card::Map)
}

const fn inline(num: u64, name: &'static str, fields: &'static [Field]) -> Field {
    field(num, name, Ty::Msg(fields), Card::Inline)
}

const STR: Ty = Ty::Str;
const INT: Ty = Ty::Int;
const BOOL: Ty = Ty::Bool;

// ---- meta/v1 (k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto) ----

const OWNER_REFERENCE: &[Field] = &[
    f(1, "kind", STR),
    f(3, "name", STR),
    f(4, "uid", STR),
    f(5, "apiVersion", STR),
    p(6, "controller", BOOL),
    p(7, "blockOwnerDeletion", BOOL),
];

/// `managedFields` entries are dropped by this server anyway, so they decode as opaque.
const MANAGED_FIELDS_ENTRY: &[Field] = &[];

const OBJECT_META: &[Field] = &[
    f(1, "name", STR),
    f(2, "generateName", STR),
    f(3, "namespace", STR),
    f(4, "selfLink", STR),
    f(5, "uid", STR),
    f(6, "resourceVersion", STR),
    f(7, "generation", INT),
    f(8, "creationTimestamp", Ty::Time),
    p(9, "deletionTimestamp", Ty::Time),
    p(10, "deletionGracePeriodSeconds", INT),
    map(11, "labels", STR),
    map(12, "annotations", STR),
    rep(13, "ownerReferences", Ty::Msg(OWNER_REFERENCE)),
    rep(14, "finalizers", STR),
    rep(17, "managedFields", Ty::Msg(MANAGED_FIELDS_ENTRY)),
];

const LABEL_SELECTOR: &[Field] = &[
    map(1, "matchLabels", STR),
    rep(
        2,
        "matchExpressions",
        Ty::Msg(&[
            f(1, "key", STR),
            f(2, "operator", STR),
            rep(3, "values", STR),
        ]),
    ),
];

const CONDITION: &[Field] = &[
    f(1, "type", STR),
    f(2, "status", STR),
    f(3, "observedGeneration", INT),
    f(4, "lastTransitionTime", Ty::Time),
    f(5, "reason", STR),
    f(6, "message", STR),
];

const TYPE_META: &[Field] = &[f(1, "apiVersion", STR), f(2, "kind", STR)];

// ---- core/v1 (k8s.io/api/core/v1/generated.proto) ----

const NAMESPACE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "spec", Ty::Msg(&[rep(1, "finalizers", STR)])),
    f(
        3,
        "status",
        Ty::Msg(&[
            f(1, "phase", STR),
            rep(
                2,
                "conditions",
                Ty::Msg(&[
                    f(1, "type", STR),
                    f(2, "status", STR),
                    f(4, "lastTransitionTime", Ty::Time),
                    f(5, "reason", STR),
                    f(6, "message", STR),
                ]),
            ),
        ]),
    ),
];

const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    map(2, "data", STR),
    map(3, "binaryData", Ty::Bytes),
    p(4, "immutable", BOOL),
];

const SECRET: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    map(2, "data", Ty::Bytes),
    f(3, "type", STR),
    map(4, "stringData", STR),
    p(5, "immutable", BOOL),
];

const OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", STR),
    f(2, "namespace", STR),
    f(3, "name", STR),
    f(4, "uid", STR),
    f(5, "apiVersion", STR),
    f(6, "resourceVersion", STR),
    f(7, "fieldPath", STR),
];

const LOCAL_OBJECT_REFERENCE: &[Field] = &[f(1, "name", STR)];

const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(2, "secrets", Ty::Msg(OBJECT_REFERENCE)),
    rep(3, "imagePullSecrets", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    p(4, "automountServiceAccountToken", BOOL),
];

const KEY_TO_PATH: &[Field] = &[f(1, "key", STR), f(2, "path", STR), p(3, "mode", INT)];

const OBJECT_FIELD_SELECTOR: &[Field] = &[f(1, "apiVersion", STR), f(2, "fieldPath", STR)];

const RESOURCE_FIELD_SELECTOR: &[Field] = &[
    f(1, "containerName", STR),
    f(2, "resource", STR),
    p(3, "divisor", Ty::Quantity),
];

/// `ConfigMapKeySelector` and `SecretKeySelector` have the same shape.
const KEY_SELECTOR: &[Field] = &[
    inline(1, "localObjectReference", LOCAL_OBJECT_REFERENCE),
    f(2, "key", STR),
    p(3, "optional", BOOL),
];

const ENV_VAR_SOURCE: &[Field] = &[
    p(1, "fieldRef", Ty::Msg(OBJECT_FIELD_SELECTOR)),
    p(2, "resourceFieldRef", Ty::Msg(RESOURCE_FIELD_SELECTOR)),
    p(3, "configMapKeyRef", Ty::Msg(KEY_SELECTOR)),
    p(4, "secretKeyRef", Ty::Msg(KEY_SELECTOR)),
    p(
        5,
        "fileKeyRef",
        Ty::Msg(&[
            f(1, "volumeName", STR),
            f(2, "path", STR),
            f(3, "key", STR),
            p(4, "optional", BOOL),
        ]),
    ),
];

const ENV_VAR: &[Field] = &[
    f(1, "name", STR),
    f(2, "value", STR),
    p(3, "valueFrom", Ty::Msg(ENV_VAR_SOURCE)),
];

/// `ConfigMapEnvSource` and `SecretEnvSource` have the same shape.
const ENV_SOURCE: &[Field] = &[
    inline(1, "localObjectReference", LOCAL_OBJECT_REFERENCE),
    p(2, "optional", BOOL),
];

const ENV_FROM_SOURCE: &[Field] = &[
    f(1, "prefix", STR),
    p(2, "configMapRef", Ty::Msg(ENV_SOURCE)),
    p(3, "secretRef", Ty::Msg(ENV_SOURCE)),
];

const CONTAINER_PORT: &[Field] = &[
    f(1, "name", STR),
    f(2, "hostPort", INT),
    f(3, "containerPort", INT),
    f(4, "protocol", STR),
    f(5, "hostIP", STR),
];

const RESOURCE_REQUIREMENTS: &[Field] = &[
    map(1, "limits", Ty::Quantity),
    map(2, "requests", Ty::Quantity),
    rep(
        3,
        "claims",
        Ty::Msg(&[f(1, "name", STR), f(2, "request", STR)]),
    ),
];

const VOLUME_MOUNT: &[Field] = &[
    f(1, "name", STR),
    f(2, "readOnly", BOOL),
    p(7, "recursiveReadOnly", STR),
    f(3, "mountPath", STR),
    f(4, "subPath", STR),
    p(5, "mountPropagation", STR),
    f(6, "subPathExpr", STR),
];

const EXEC_ACTION: &[Field] = &[rep(1, "command", STR)];

const HTTP_GET_ACTION: &[Field] = &[
    f(1, "path", STR),
    f(2, "port", Ty::IntOrString),
    f(3, "host", STR),
    f(4, "scheme", STR),
    rep(
        5,
        "httpHeaders",
        Ty::Msg(&[f(1, "name", STR), f(2, "value", STR)]),
    ),
];

const TCP_SOCKET_ACTION: &[Field] = &[f(1, "port", Ty::IntOrString), f(2, "host", STR)];

const PROBE_HANDLER: &[Field] = &[
    p(1, "exec", Ty::Msg(EXEC_ACTION)),
    p(2, "httpGet", Ty::Msg(HTTP_GET_ACTION)),
    p(3, "tcpSocket", Ty::Msg(TCP_SOCKET_ACTION)),
    p(
        4,
        "grpc",
        Ty::Msg(&[f(1, "port", INT), p(2, "service", STR)]),
    ),
];

const PROBE: &[Field] = &[
    inline(1, "handler", PROBE_HANDLER),
    f(2, "initialDelaySeconds", INT),
    f(3, "timeoutSeconds", INT),
    f(4, "periodSeconds", INT),
    f(5, "successThreshold", INT),
    f(6, "failureThreshold", INT),
    p(7, "terminationGracePeriodSeconds", INT),
];

const LIFECYCLE_HANDLER: &[Field] = &[
    p(1, "exec", Ty::Msg(EXEC_ACTION)),
    p(2, "httpGet", Ty::Msg(HTTP_GET_ACTION)),
    p(3, "tcpSocket", Ty::Msg(TCP_SOCKET_ACTION)),
    p(4, "sleep", Ty::Msg(&[f(1, "seconds", INT)])),
];

const LIFECYCLE: &[Field] = &[
    p(1, "postStart", Ty::Msg(LIFECYCLE_HANDLER)),
    p(2, "preStop", Ty::Msg(LIFECYCLE_HANDLER)),
    p(3, "stopSignal", STR),
];

const SE_LINUX_OPTIONS: &[Field] = &[
    f(1, "user", STR),
    f(2, "role", STR),
    f(3, "type", STR),
    f(4, "level", STR),
];

const WINDOWS_SECURITY_CONTEXT_OPTIONS: &[Field] = &[
    p(1, "gmsaCredentialSpecName", STR),
    p(2, "gmsaCredentialSpec", STR),
    p(3, "runAsUserName", STR),
    p(4, "hostProcess", BOOL),
];

/// `SeccompProfile` and `AppArmorProfile` have the same shape.
const PROFILE: &[Field] = &[f(1, "type", STR), p(2, "localhostProfile", STR)];

const SECURITY_CONTEXT: &[Field] = &[
    p(
        1,
        "capabilities",
        Ty::Msg(&[rep(1, "add", STR), rep(2, "drop", STR)]),
    ),
    p(2, "privileged", BOOL),
    p(3, "seLinuxOptions", Ty::Msg(SE_LINUX_OPTIONS)),
    p(
        10,
        "windowsOptions",
        Ty::Msg(WINDOWS_SECURITY_CONTEXT_OPTIONS),
    ),
    p(4, "runAsUser", INT),
    p(8, "runAsGroup", INT),
    p(5, "runAsNonRoot", BOOL),
    p(6, "readOnlyRootFilesystem", BOOL),
    p(7, "allowPrivilegeEscalation", BOOL),
    p(9, "procMount", STR),
    p(11, "seccompProfile", Ty::Msg(PROFILE)),
    p(12, "appArmorProfile", Ty::Msg(PROFILE)),
];

const CONTAINER: &[Field] = &[
    f(1, "name", STR),
    f(2, "image", STR),
    rep(3, "command", STR),
    rep(4, "args", STR),
    f(5, "workingDir", STR),
    rep(6, "ports", Ty::Msg(CONTAINER_PORT)),
    rep(19, "envFrom", Ty::Msg(ENV_FROM_SOURCE)),
    rep(7, "env", Ty::Msg(ENV_VAR)),
    f(8, "resources", Ty::Msg(RESOURCE_REQUIREMENTS)),
    rep(
        23,
        "resizePolicy",
        Ty::Msg(&[f(1, "resourceName", STR), f(2, "restartPolicy", STR)]),
    ),
    p(24, "restartPolicy", STR),
    rep(9, "volumeMounts", Ty::Msg(VOLUME_MOUNT)),
    rep(
        21,
        "volumeDevices",
        Ty::Msg(&[f(1, "name", STR), f(2, "devicePath", STR)]),
    ),
    p(10, "livenessProbe", Ty::Msg(PROBE)),
    p(11, "readinessProbe", Ty::Msg(PROBE)),
    p(22, "startupProbe", Ty::Msg(PROBE)),
    p(12, "lifecycle", Ty::Msg(LIFECYCLE)),
    f(13, "terminationMessagePath", STR),
    f(20, "terminationMessagePolicy", STR),
    f(14, "imagePullPolicy", STR),
    p(15, "securityContext", Ty::Msg(SECURITY_CONTEXT)),
    f(16, "stdin", BOOL),
    f(17, "stdinOnce", BOOL),
    f(18, "tty", BOOL),
];

const POD_SECURITY_CONTEXT: &[Field] = &[
    p(1, "seLinuxOptions", Ty::Msg(SE_LINUX_OPTIONS)),
    p(
        8,
        "windowsOptions",
        Ty::Msg(WINDOWS_SECURITY_CONTEXT_OPTIONS),
    ),
    p(2, "runAsUser", INT),
    p(6, "runAsGroup", INT),
    p(3, "runAsNonRoot", BOOL),
    rep(4, "supplementalGroups", INT),
    p(12, "supplementalGroupsPolicy", STR),
    p(5, "fsGroup", INT),
    rep(
        7,
        "sysctls",
        Ty::Msg(&[f(1, "name", STR), f(2, "value", STR)]),
    ),
    p(9, "fsGroupChangePolicy", STR),
    p(10, "seccompProfile", Ty::Msg(PROFILE)),
    p(11, "appArmorProfile", Ty::Msg(PROFILE)),
    p(13, "seLinuxChangePolicy", STR),
];

const NODE_SELECTOR_REQUIREMENT: &[Field] = &[
    f(1, "key", STR),
    f(2, "operator", STR),
    rep(3, "values", STR),
];

const NODE_SELECTOR_TERM: &[Field] = &[
    rep(1, "matchExpressions", Ty::Msg(NODE_SELECTOR_REQUIREMENT)),
    rep(2, "matchFields", Ty::Msg(NODE_SELECTOR_REQUIREMENT)),
];

const NODE_AFFINITY: &[Field] = &[
    p(
        1,
        "requiredDuringSchedulingIgnoredDuringExecution",
        Ty::Msg(&[rep(1, "nodeSelectorTerms", Ty::Msg(NODE_SELECTOR_TERM))]),
    ),
    rep(
        2,
        "preferredDuringSchedulingIgnoredDuringExecution",
        Ty::Msg(&[
            f(1, "weight", INT),
            f(2, "preference", Ty::Msg(NODE_SELECTOR_TERM)),
        ]),
    ),
];

const POD_AFFINITY_TERM: &[Field] = &[
    p(1, "labelSelector", Ty::Msg(LABEL_SELECTOR)),
    rep(2, "namespaces", STR),
    f(3, "topologyKey", STR),
    p(4, "namespaceSelector", Ty::Msg(LABEL_SELECTOR)),
    rep(5, "matchLabelKeys", STR),
    rep(6, "mismatchLabelKeys", STR),
];

/// `PodAffinity` and `PodAntiAffinity` have the same shape.
const POD_AFFINITY: &[Field] = &[
    rep(
        1,
        "requiredDuringSchedulingIgnoredDuringExecution",
        Ty::Msg(POD_AFFINITY_TERM),
    ),
    rep(
        2,
        "preferredDuringSchedulingIgnoredDuringExecution",
        Ty::Msg(&[
            f(1, "weight", INT),
            f(2, "podAffinityTerm", Ty::Msg(POD_AFFINITY_TERM)),
        ]),
    ),
];

const AFFINITY: &[Field] = &[
    p(1, "nodeAffinity", Ty::Msg(NODE_AFFINITY)),
    p(2, "podAffinity", Ty::Msg(POD_AFFINITY)),
    p(3, "podAntiAffinity", Ty::Msg(POD_AFFINITY)),
];

const TOLERATION: &[Field] = &[
    f(1, "key", STR),
    f(2, "operator", STR),
    f(3, "value", STR),
    f(4, "effect", STR),
    p(5, "tolerationSeconds", INT),
];

const TOPOLOGY_SPREAD_CONSTRAINT: &[Field] = &[
    f(1, "maxSkew", INT),
    f(2, "topologyKey", STR),
    f(3, "whenUnsatisfiable", STR),
    p(4, "labelSelector", Ty::Msg(LABEL_SELECTOR)),
    p(5, "minDomains", INT),
    p(6, "nodeAffinityPolicy", STR),
    p(7, "nodeTaintsPolicy", STR),
    rep(8, "matchLabelKeys", STR),
];

const TYPED_OBJECT_REFERENCE: &[Field] = &[
    p(1, "apiGroup", STR),
    f(2, "kind", STR),
    f(3, "name", STR),
    p(4, "namespace", STR),
];

const PERSISTENT_VOLUME_CLAIM_SPEC: &[Field] = &[
    rep(1, "accessModes", STR),
    p(4, "selector", Ty::Msg(LABEL_SELECTOR)),
    f(
        2,
        "resources",
        Ty::Msg(&[
            map(1, "limits", Ty::Quantity),
            map(2, "requests", Ty::Quantity),
        ]),
    ),
    f(3, "volumeName", STR),
    p(5, "storageClassName", STR),
    p(6, "volumeMode", STR),
    p(7, "dataSource", Ty::Msg(TYPED_OBJECT_REFERENCE)),
    p(8, "dataSourceRef", Ty::Msg(TYPED_OBJECT_REFERENCE)),
    p(9, "volumeAttributesClassName", STR),
];

const DOWNWARD_API_VOLUME_FILE: &[Field] = &[
    f(1, "path", STR),
    p(2, "fieldRef", Ty::Msg(OBJECT_FIELD_SELECTOR)),
    p(3, "resourceFieldRef", Ty::Msg(RESOURCE_FIELD_SELECTOR)),
    p(4, "mode", INT),
];

/// `SecretProjection` and `ConfigMapProjection` have the same shape.
const OBJECT_PROJECTION: &[Field] = &[
    inline(1, "localObjectReference", LOCAL_OBJECT_REFERENCE),
    rep(2, "items", Ty::Msg(KEY_TO_PATH)),
    p(4, "optional", BOOL),
];

const VOLUME_PROJECTION: &[Field] = &[
    p(1, "secret", Ty::Msg(OBJECT_PROJECTION)),
    p(
        2,
        "downwardAPI",
        Ty::Msg(&[rep(1, "items", Ty::Msg(DOWNWARD_API_VOLUME_FILE))]),
    ),
    p(3, "configMap", Ty::Msg(OBJECT_PROJECTION)),
    p(
        4,
        "serviceAccountToken",
        Ty::Msg(&[
            f(1, "audience", STR),
            p(2, "expirationSeconds", INT),
            f(3, "path", STR),
        ]),
    ),
];

/// The common volume sources; the cloud and legacy in-tree ones are refused by number.
const VOLUME_SOURCE: &[Field] = &[
    p(
        1,
        "hostPath",
        Ty::Msg(&[f(1, "path", STR), p(2, "type", STR)]),
    ),
    p(
        2,
        "emptyDir",
        Ty::Msg(&[f(1, "medium", STR), p(2, "sizeLimit", Ty::Quantity)]),
    ),
    p(
        6,
        "secret",
        Ty::Msg(&[
            f(1, "secretName", STR),
            rep(2, "items", Ty::Msg(KEY_TO_PATH)),
            p(3, "defaultMode", INT),
            p(4, "optional", BOOL),
        ]),
    ),
    p(
        7,
        "nfs",
        Ty::Msg(&[
            f(1, "server", STR),
            f(2, "path", STR),
            f(3, "readOnly", BOOL),
        ]),
    ),
    p(
        10,
        "persistentVolumeClaim",
        Ty::Msg(&[f(1, "claimName", STR), f(2, "readOnly", BOOL)]),
    ),
    p(
        16,
        "downwardAPI",
        Ty::Msg(&[
            rep(1, "items", Ty::Msg(DOWNWARD_API_VOLUME_FILE)),
            p(2, "defaultMode", INT),
        ]),
    ),
    p(
        19,
        "configMap",
        Ty::Msg(&[
            inline(1, "localObjectReference", LOCAL_OBJECT_REFERENCE),
            rep(2, "items", Ty::Msg(KEY_TO_PATH)),
            p(3, "defaultMode", INT),
            p(4, "optional", BOOL),
        ]),
    ),
    p(
        26,
        "projected",
        Ty::Msg(&[
            rep(1, "sources", Ty::Msg(VOLUME_PROJECTION)),
            p(2, "defaultMode", INT),
        ]),
    ),
    p(
        28,
        "csi",
        Ty::Msg(&[
            f(1, "driver", STR),
            p(2, "readOnly", BOOL),
            p(3, "fsType", STR),
            map(4, "volumeAttributes", STR),
            p(5, "nodePublishSecretRef", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
        ]),
    ),
    p(
        29,
        "ephemeral",
        Ty::Msg(&[p(
            1,
            "volumeClaimTemplate",
            Ty::Msg(&[
                f(1, "metadata", Ty::Msg(OBJECT_META)),
                f(2, "spec", Ty::Msg(PERSISTENT_VOLUME_CLAIM_SPEC)),
            ]),
        )]),
    ),
    p(
        30,
        "image",
        Ty::Msg(&[f(1, "reference", STR), f(2, "pullPolicy", STR)]),
    ),
];

const VOLUME: &[Field] = &[f(1, "name", STR), inline(2, "volumeSource", VOLUME_SOURCE)];

const POD_SPEC: &[Field] = &[
    rep(1, "volumes", Ty::Msg(VOLUME)),
    rep(20, "initContainers", Ty::Msg(CONTAINER)),
    rep(2, "containers", Ty::Msg(CONTAINER)),
    f(3, "restartPolicy", STR),
    p(4, "terminationGracePeriodSeconds", INT),
    p(5, "activeDeadlineSeconds", INT),
    f(6, "dnsPolicy", STR),
    map(7, "nodeSelector", STR),
    f(8, "serviceAccountName", STR),
    f(9, "serviceAccount", STR),
    p(21, "automountServiceAccountToken", BOOL),
    f(10, "nodeName", STR),
    f(11, "hostNetwork", BOOL),
    f(12, "hostPID", BOOL),
    f(13, "hostIPC", BOOL),
    p(27, "shareProcessNamespace", BOOL),
    p(14, "securityContext", Ty::Msg(POD_SECURITY_CONTEXT)),
    rep(15, "imagePullSecrets", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    f(16, "hostname", STR),
    f(17, "subdomain", STR),
    p(18, "affinity", Ty::Msg(AFFINITY)),
    f(19, "schedulerName", STR),
    rep(22, "tolerations", Ty::Msg(TOLERATION)),
    rep(
        23,
        "hostAliases",
        Ty::Msg(&[f(1, "ip", STR), rep(2, "hostnames", STR)]),
    ),
    f(24, "priorityClassName", STR),
    p(25, "priority", INT),
    p(
        26,
        "dnsConfig",
        Ty::Msg(&[
            rep(1, "nameservers", STR),
            rep(2, "searches", STR),
            rep(
                3,
                "options",
                Ty::Msg(&[f(1, "name", STR), p(2, "value", STR)]),
            ),
        ]),
    ),
    rep(28, "readinessGates", Ty::Msg(&[f(1, "conditionType", STR)])),
    p(29, "runtimeClassName", STR),
    p(30, "enableServiceLinks", BOOL),
    p(31, "preemptionPolicy", STR),
    map(32, "overhead", Ty::Quantity),
    rep(
        33,
        "topologySpreadConstraints",
        Ty::Msg(TOPOLOGY_SPREAD_CONSTRAINT),
    ),
    p(35, "setHostnameAsFQDN", BOOL),
    p(36, "os", Ty::Msg(&[f(1, "name", STR)])),
    p(37, "hostUsers", BOOL),
    rep(38, "schedulingGates", Ty::Msg(&[f(1, "name", STR)])),
    rep(
        39,
        "resourceClaims",
        Ty::Msg(&[
            f(1, "name", STR),
            p(3, "resourceClaimName", STR),
            p(4, "resourceClaimTemplateName", STR),
        ]),
    ),
    p(40, "resources", Ty::Msg(RESOURCE_REQUIREMENTS)),
];

const POD_TEMPLATE_SPEC: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "spec", Ty::Msg(POD_SPEC)),
];

/// What kubectl sends is an empty status; container statuses are the kubelet's to write
/// and are refused by number.
const POD_STATUS: &[Field] = &[
    f(17, "observedGeneration", INT),
    f(1, "phase", STR),
    rep(
        2,
        "conditions",
        Ty::Msg(&[
            f(1, "type", STR),
            f(7, "observedGeneration", INT),
            f(2, "status", STR),
            f(3, "lastProbeTime", Ty::Time),
            f(4, "lastTransitionTime", Ty::Time),
            f(5, "reason", STR),
            f(6, "message", STR),
        ]),
    ),
    f(3, "message", STR),
    f(4, "reason", STR),
    f(11, "nominatedNodeName", STR),
    f(5, "hostIP", STR),
    rep(16, "hostIPs", Ty::Msg(&[f(1, "ip", STR)])),
    f(6, "podIP", STR),
    rep(12, "podIPs", Ty::Msg(&[f(1, "ip", STR)])),
    p(7, "startTime", Ty::Time),
    f(9, "qosClass", STR),
    f(14, "resize", STR),
];

const POD: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "spec", Ty::Msg(POD_SPEC)),
    f(3, "status", Ty::Msg(POD_STATUS)),
];

const SERVICE_PORT: &[Field] = &[
    f(1, "name", STR),
    f(2, "protocol", STR),
    p(6, "appProtocol", STR),
    f(3, "port", INT),
    f(4, "targetPort", Ty::IntOrString),
    f(5, "nodePort", INT),
];

const SERVICE_SPEC: &[Field] = &[
    rep(1, "ports", Ty::Msg(SERVICE_PORT)),
    map(2, "selector", STR),
    f(3, "clusterIP", STR),
    rep(18, "clusterIPs", STR),
    f(4, "type", STR),
    rep(5, "externalIPs", STR),
    f(7, "sessionAffinity", STR),
    f(8, "loadBalancerIP", STR),
    rep(9, "loadBalancerSourceRanges", STR),
    f(10, "externalName", STR),
    f(11, "externalTrafficPolicy", STR),
    f(12, "healthCheckNodePort", INT),
    f(13, "publishNotReadyAddresses", BOOL),
    p(
        14,
        "sessionAffinityConfig",
        Ty::Msg(&[p(1, "clientIP", Ty::Msg(&[p(1, "timeoutSeconds", INT)]))]),
    ),
    rep(19, "ipFamilies", STR),
    p(17, "ipFamilyPolicy", STR),
    p(20, "allocateLoadBalancerNodePorts", BOOL),
    p(21, "loadBalancerClass", STR),
    p(22, "internalTrafficPolicy", STR),
    p(23, "trafficDistribution", STR),
];

const SERVICE_STATUS: &[Field] = &[
    f(
        1,
        "loadBalancer",
        Ty::Msg(&[rep(
            1,
            "ingress",
            Ty::Msg(&[
                f(1, "ip", STR),
                f(2, "hostname", STR),
                p(3, "ipMode", STR),
                rep(
                    4,
                    "ports",
                    Ty::Msg(&[f(1, "port", INT), f(2, "protocol", STR), p(3, "error", STR)]),
                ),
            ]),
        )]),
    ),
    rep(2, "conditions", Ty::Msg(CONDITION)),
];

const SERVICE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "spec", Ty::Msg(SERVICE_SPEC)),
    f(3, "status", Ty::Msg(SERVICE_STATUS)),
];

// ---- apps/v1 (k8s.io/api/apps/v1/generated.proto) ----

/// `DeploymentCondition` without `lastUpdateTime` is `ReplicaSetCondition`'s shape, but the
/// numbers differ, so each has its own table.
const DEPLOYMENT_CONDITION: &[Field] = &[
    f(1, "type", STR),
    f(2, "status", STR),
    f(6, "lastUpdateTime", Ty::Time),
    f(7, "lastTransitionTime", Ty::Time),
    f(4, "reason", STR),
    f(5, "message", STR),
];

const DEPLOYMENT: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Ty::Msg(&[
            p(1, "replicas", INT),
            p(2, "selector", Ty::Msg(LABEL_SELECTOR)),
            f(3, "template", Ty::Msg(POD_TEMPLATE_SPEC)),
            f(
                4,
                "strategy",
                Ty::Msg(&[
                    f(1, "type", STR),
                    p(
                        2,
                        "rollingUpdate",
                        Ty::Msg(&[
                            p(1, "maxUnavailable", Ty::IntOrString),
                            p(2, "maxSurge", Ty::IntOrString),
                        ]),
                    ),
                ]),
            ),
            f(5, "minReadySeconds", INT),
            p(6, "revisionHistoryLimit", INT),
            f(7, "paused", BOOL),
            p(9, "progressDeadlineSeconds", INT),
            p(10, "podReplacementPolicy", STR),
        ]),
    ),
    f(
        3,
        "status",
        Ty::Msg(&[
            f(1, "observedGeneration", INT),
            f(2, "replicas", INT),
            f(3, "updatedReplicas", INT),
            f(7, "readyReplicas", INT),
            f(4, "availableReplicas", INT),
            f(5, "unavailableReplicas", INT),
            p(9, "terminatingReplicas", INT),
            rep(6, "conditions", Ty::Msg(DEPLOYMENT_CONDITION)),
            p(8, "collisionCount", INT),
        ]),
    ),
];

const REPLICA_SET: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Ty::Msg(&[
            p(1, "replicas", INT),
            f(4, "minReadySeconds", INT),
            p(2, "selector", Ty::Msg(LABEL_SELECTOR)),
            f(3, "template", Ty::Msg(POD_TEMPLATE_SPEC)),
        ]),
    ),
    f(
        3,
        "status",
        Ty::Msg(&[
            f(1, "replicas", INT),
            f(2, "fullyLabeledReplicas", INT),
            f(4, "readyReplicas", INT),
            f(5, "availableReplicas", INT),
            p(7, "terminatingReplicas", INT),
            f(3, "observedGeneration", INT),
            rep(
                6,
                "conditions",
                Ty::Msg(&[
                    f(1, "type", STR),
                    f(2, "status", STR),
                    f(3, "lastTransitionTime", Ty::Time),
                    f(4, "reason", STR),
                    f(5, "message", STR),
                ]),
            ),
        ]),
    ),
];

// ---- batch/v1 (k8s.io/api/batch/v1/generated.proto) ----

const JOB_SPEC: &[Field] = &[
    p(1, "parallelism", INT),
    p(2, "completions", INT),
    p(3, "activeDeadlineSeconds", INT),
    p(
        11,
        "podFailurePolicy",
        Ty::Msg(&[rep(
            1,
            "rules",
            Ty::Msg(&[
                f(1, "action", STR),
                p(
                    2,
                    "onExitCodes",
                    Ty::Msg(&[
                        p(1, "containerName", STR),
                        f(2, "operator", STR),
                        rep(3, "values", INT),
                    ]),
                ),
                rep(
                    3,
                    "onPodConditions",
                    Ty::Msg(&[f(1, "type", STR), f(2, "status", STR)]),
                ),
            ]),
        )]),
    ),
    p(
        16,
        "successPolicy",
        Ty::Msg(&[rep(
            1,
            "rules",
            Ty::Msg(&[p(1, "succeededIndexes", STR), p(2, "succeededCount", INT)]),
        )]),
    ),
    p(7, "backoffLimit", INT),
    p(12, "backoffLimitPerIndex", INT),
    p(13, "maxFailedIndexes", INT),
    p(4, "selector", Ty::Msg(LABEL_SELECTOR)),
    p(5, "manualSelector", BOOL),
    f(6, "template", Ty::Msg(POD_TEMPLATE_SPEC)),
    p(8, "ttlSecondsAfterFinished", INT),
    p(9, "completionMode", STR),
    p(10, "suspend", BOOL),
    p(14, "podReplacementPolicy", STR),
    p(15, "managedBy", STR),
];

const JOB: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(2, "spec", Ty::Msg(JOB_SPEC)),
    f(
        3,
        "status",
        Ty::Msg(&[
            rep(
                1,
                "conditions",
                Ty::Msg(&[
                    f(1, "type", STR),
                    f(2, "status", STR),
                    f(3, "lastProbeTime", Ty::Time),
                    f(4, "lastTransitionTime", Ty::Time),
                    f(5, "reason", STR),
                    f(6, "message", STR),
                ]),
            ),
            p(2, "startTime", Ty::Time),
            p(3, "completionTime", Ty::Time),
            f(4, "active", INT),
            f(5, "succeeded", INT),
            f(6, "failed", INT),
            p(11, "terminating", INT),
            f(7, "completedIndexes", STR),
            p(10, "failedIndexes", STR),
            p(
                8,
                "uncountedTerminatedPods",
                Ty::Msg(&[rep(1, "succeeded", STR), rep(2, "failed", STR)]),
            ),
            p(9, "ready", INT),
        ]),
    ),
];

const CRON_JOB: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Ty::Msg(&[
            f(1, "schedule", STR),
            p(8, "timeZone", STR),
            p(2, "startingDeadlineSeconds", INT),
            f(3, "concurrencyPolicy", STR),
            p(4, "suspend", BOOL),
            f(
                5,
                "jobTemplate",
                Ty::Msg(&[
                    f(1, "metadata", Ty::Msg(OBJECT_META)),
                    f(2, "spec", Ty::Msg(JOB_SPEC)),
                ]),
            ),
            p(6, "successfulJobsHistoryLimit", INT),
            p(7, "failedJobsHistoryLimit", INT),
        ]),
    ),
    f(
        3,
        "status",
        Ty::Msg(&[
            rep(1, "active", Ty::Msg(OBJECT_REFERENCE)),
            p(4, "lastScheduleTime", Ty::Time),
            p(5, "lastSuccessfulTime", Ty::Time),
        ]),
    ),
];

// ---- policy/v1 (k8s.io/api/policy/v1/generated.proto) ----

const POD_DISRUPTION_BUDGET: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Ty::Msg(&[
            p(1, "minAvailable", Ty::IntOrString),
            p(2, "selector", Ty::Msg(LABEL_SELECTOR)),
            p(3, "maxUnavailable", Ty::IntOrString),
            p(4, "unhealthyPodEvictionPolicy", STR),
        ]),
    ),
    f(
        3,
        "status",
        Ty::Msg(&[
            f(1, "observedGeneration", INT),
            map(2, "disruptedPods", Ty::Time),
            f(3, "disruptionsAllowed", INT),
            f(4, "currentHealthy", INT),
            f(5, "desiredHealthy", INT),
            f(6, "expectedPods", INT),
            rep(7, "conditions", Ty::Msg(CONDITION)),
        ]),
    ),
];

// ---- coordination.k8s.io/v1 (k8s.io/api/coordination/v1/generated.proto) ----

const LEASE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Ty::Msg(&[
            p(1, "holderIdentity", STR),
            p(2, "leaseDurationSeconds", INT),
            p(3, "acquireTime", Ty::MicroTime),
            p(4, "renewTime", Ty::MicroTime),
            p(5, "leaseTransitions", INT),
            p(6, "strategy", STR),
            p(7, "preferredHolder", STR),
        ]),
    ),
];

// ---- rbac.authorization.k8s.io/v1 (k8s.io/api/rbac/v1/generated.proto) ----

const POLICY_RULE: &[Field] = &[
    rep(1, "verbs", STR),
    rep(2, "apiGroups", STR),
    rep(3, "resources", STR),
    rep(4, "resourceNames", STR),
    rep(5, "nonResourceURLs", STR),
];

const ROLE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(2, "rules", Ty::Msg(POLICY_RULE)),
];

const CLUSTER_ROLE: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(2, "rules", Ty::Msg(POLICY_RULE)),
    p(
        3,
        "aggregationRule",
        Ty::Msg(&[rep(1, "clusterRoleSelectors", Ty::Msg(LABEL_SELECTOR))]),
    ),
];

const ROLE_BINDING: &[Field] = &[
    f(1, "metadata", Ty::Msg(OBJECT_META)),
    rep(
        2,
        "subjects",
        Ty::Msg(&[
            f(1, "kind", STR),
            f(2, "apiGroup", STR),
            f(3, "name", STR),
            f(4, "namespace", STR),
        ]),
    ),
    f(
        3,
        "roleRef",
        Ty::Msg(&[f(1, "apiGroup", STR), f(2, "kind", STR), f(3, "name", STR)]),
    ),
];

fn schema(group: &str, kind: &str) -> Option<&'static [Field]> {
    match (group, kind) {
        ("", "Namespace") => Some(NAMESPACE),
        ("", "ConfigMap") => Some(CONFIG_MAP),
        ("", "Secret") => Some(SECRET),
        ("", "ServiceAccount") => Some(SERVICE_ACCOUNT),
        ("", "Pod") => Some(POD),
        ("", "Service") => Some(SERVICE),
        ("apps", "Deployment") => Some(DEPLOYMENT),
        ("apps", "ReplicaSet") => Some(REPLICA_SET),
        ("batch", "Job") => Some(JOB),
        ("batch", "CronJob") => Some(CRON_JOB),
        ("policy", "PodDisruptionBudget") => Some(POD_DISRUPTION_BUDGET),
        ("coordination.k8s.io", "Lease") => Some(LEASE),
        ("rbac.authorization.k8s.io", "Role") => Some(ROLE),
        ("rbac.authorization.k8s.io", "ClusterRole") => Some(CLUSTER_ROLE),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => Some(ROLE_BINDING),
        _ => None,
    }
}

/// One field's payload, by wire type.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// 32- or 64-bit fixed values: no modelled field uses them.
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string field is not valid UTF-8".to_string())
}

/// Seconds and nanos of a `Timestamp`-shaped message; `None` for the empty (zero) time.
fn timestamp(bytes: &[u8], path: &str) -> Result<Option<jiff::Timestamp>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let t = decode_message(bytes, &[p(1, "seconds", INT), p(2, "nanos", INT)], path)?;
    let secs = t.get("seconds").and_then(Value::as_i64).unwrap_or(0);
    let nanos = t.get("nanos").and_then(Value::as_i64).unwrap_or(0);
    let nanos = i32::try_from(nanos).map_err(|_| format!("{path} has invalid nanoseconds"))?;
    jiff::Timestamp::new(secs, nanos)
        .map(Some)
        .map_err(|_| format!("{path} is not a valid time"))
}

/// The JSON a field's payload stands for; `None` when it is the unset (zero) time.
fn value(ty: Ty, raw: Raw<'_>, path: &str) -> Result<Option<Value>, String> {
    let v = match (ty, raw) {
        // Two's complement: negative int32/int64 values arrive as 64-bit varints.
        (Ty::Int, Raw::Varint(v)) => json!(v as i64),
        (Ty::Bool, Raw::Varint(v)) => json!(v != 0),
        (Ty::Str, Raw::Bytes(b)) => json!(text(b)?),
        (Ty::Bytes, Raw::Bytes(b)) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        (Ty::Time, Raw::Bytes(b)) => {
            // kube-apiserver keeps whole seconds of a metav1.Time.
            return Ok(timestamp(b, path)?
                .and_then(|ts| jiff::Timestamp::from_second(ts.as_second()).ok())
                .map(|ts| json!(ts.to_string())));
        }
        (Ty::MicroTime, Raw::Bytes(b)) => {
            return Ok(timestamp(b, path)?
                .map(|ts| json!(ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())));
        }
        (Ty::Quantity, Raw::Bytes(b)) => {
            let q = decode_message(b, &[p(1, "string", STR)], path)?;
            q.get("string").cloned().unwrap_or_else(|| json!("0"))
        }
        (Ty::IntOrString, Raw::Bytes(b)) => {
            let v = decode_message(
                b,
                &[p(1, "type", INT), p(2, "intVal", INT), p(3, "strVal", STR)],
                path,
            )?;
            if v.get("type").and_then(Value::as_i64) == Some(1) {
                v.get("strVal").cloned().unwrap_or_else(|| json!(""))
            } else {
                v.get("intVal").cloned().unwrap_or_else(|| json!(0))
            }
        }
        (Ty::Msg(sub), Raw::Bytes(b)) => Value::Object(decode_message(b, sub, path)?),
        _ => return Err(format!("protobuf field {path} has an unexpected wire type")),
    };
    Ok(Some(v))
}

/// What a map entry without a value holds: the Go zero value of the value type.
fn zero(ty: Ty) -> Value {
    match ty {
        Ty::Str | Ty::Bytes => json!(""),
        Ty::Int => json!(0),
        Ty::Bool => json!(false),
        Ty::Quantity => json!("0"),
        Ty::IntOrString => json!(0),
        Ty::Time | Ty::MicroTime => Value::Null,
        Ty::Msg(_) => json!({}),
    }
}

/// Go's `omitempty` on a non-pointer scalar; an int-or-string 0 or "" is also what
/// kube-apiserver's defaulting treats as unset (e.g. a Service port's `targetPort`).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}

fn map_entry(bytes: &[u8], value_ty: Ty, path: &str) -> Result<(String, Value), String> {
    let mut entry = decode_message(bytes, &[p(1, "key", STR), p(2, "value", value_ty)], path)?;
    let key = match entry.remove("key") {
        Some(Value::String(k)) => k,
        _ => String::new(),
    };
    let value = entry.remove("value").unwrap_or_else(|| zero(value_ty));
    Ok((key, value))
}

fn decode_message(buf: &[u8], fields: &[Field], path: &str) -> Result<Map<String, Value>, String> {
    let mut r = Reader { buf, pos: 0 };
    let mut out = Map::new();
    while !r.done() {
        let key = r.varint()?;
        let (num, wire) = (key >> 3, key & 7);
        let raw = match wire {
            0 => Raw::Varint(r.varint()?),
            1 => {
                r.take(8)?;
                Raw::Fixed
            }
            2 => {
                let n = usize::try_from(r.varint()?).map_err(|_| "field too long")?;
                Raw::Bytes(r.take(n)?)
            }
            5 => {
                r.take(4)?;
                Raw::Fixed
            }
            other => return Err(format!("unsupported protobuf wire type {other} in {path}")),
        };
        let Some(field) = fields.iter().find(|fd| fd.num == num) else {
            // An empty table stands for a message read as opaque.
            if fields.is_empty() {
                continue;
            }
            return Err(format!(
                "protobuf field {num} of {path} is not supported yet"
            ));
        };
        let here = format!("{path}.{}", field.name);
        match field.card {
            Card::Map => {
                let Raw::Bytes(b) = raw else {
                    return Err(format!("protobuf field {here} has an unexpected wire type"));
                };
                let (k, v) = map_entry(b, field.ty, &here)?;
                if let Value::Object(m) = out.entry(field.name).or_insert_with(|| json!({})) {
                    m.insert(k, v);
                }
            }
            Card::Inline => {
                let (Ty::Msg(sub), Raw::Bytes(b)) = (field.ty, raw) else {
                    return Err(format!("protobuf field {here} has an unexpected wire type"));
                };
                out.extend(decode_message(b, sub, &here)?);
            }
            Card::Repeated => {
                let items = match (field.ty, raw) {
                    // Packed encoding of repeated varints, which protobuf parsers must accept.
                    (Ty::Int | Ty::Bool, Raw::Bytes(b)) => {
                        let mut packed = Reader { buf: b, pos: 0 };
                        let mut items = Vec::new();
                        while !packed.done() {
                            items.push(value(field.ty, Raw::Varint(packed.varint()?), &here)?);
                        }
                        items
                    }
                    _ => vec![value(field.ty, raw, &here)?],
                };
                if let Value::Array(a) = out.entry(field.name).or_insert_with(|| json!([])) {
                    a.extend(items.into_iter().map(|v| v.unwrap_or(Value::Null)));
                }
            }
            Card::Value => match value(field.ty, raw, &here)? {
                Some(v) if !is_zero(&v) => {
                    out.insert(field.name.to_string(), v);
                }
                _ => {
                    out.remove(field.name);
                }
            },
            Card::Ptr => {
                if let Some(v) = value(field.ty, raw, &here)? {
                    out.insert(field.name.to_string(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf magic k8s\\0")?;
    let unknown = decode_message(
        rest,
        &[
            f(1, "typeMeta", Ty::Msg(TYPE_META)),
            f(2, "raw", Ty::Bytes),
            f(3, "contentEncoding", STR),
            f(4, "contentType", STR),
        ],
        "runtime.Unknown",
    )?;
    let api_version = unknown
        .get("typeMeta")
        .and_then(|t| t.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = unknown
        .get("typeMeta")
        .and_then(|t| t.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let fields = schema(group, kind)
        .ok_or_else(|| format!("protobuf bodies for {api_version} {kind} are not supported yet"))?;
    let raw = unknown
        .get("raw")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|e| e.to_string())?;
    let mut obj = decode_message(&raw, fields, kind)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn bytes_field(num: u64, data: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }

    fn int_field(num: u64, v: i64, out: &mut Vec<u8>) {
        varint(num << 3, out);
        // Go's marshallers sign-extend negative int32/int64 values to 64 bits.
        varint(v as u64, out);
    }

    /// A message built by `fill`.
    fn msg(fill: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut m = Vec::new();
        fill(&mut m);
        m
    }

    fn entry(key: &str, value: &[u8]) -> Vec<u8> {
        msg(|m| {
            bytes_field(1, key.as_bytes(), m);
            bytes_field(2, value, m);
        })
    }

    /// ObjectMeta as Go's marshaller writes it: every value field, zero or not, and an
    /// empty creationTimestamp.
    fn meta(name: &str, labels: &[(&str, &str)]) -> Vec<u8> {
        msg(|m| {
            bytes_field(1, name.as_bytes(), m);
            for num in 2..=6 {
                bytes_field(num, b"", m);
            }
            int_field(7, 0, m);
            bytes_field(8, b"", m);
            for (k, v) in labels {
                bytes_field(11, &entry(k, v.as_bytes()), m);
            }
        })
    }

    fn int_or_string(v: Result<i64, &str>) -> Vec<u8> {
        msg(|m| match v {
            Ok(i) => {
                int_field(1, 0, m);
                int_field(2, i, m);
                bytes_field(3, b"", m);
            }
            Err(s) => {
                int_field(1, 1, m);
                int_field(2, 0, m);
                bytes_field(3, s.as_bytes(), m);
            }
        })
    }

    fn quantity(q: &str) -> Vec<u8> {
        msg(|m| bytes_field(1, q.as_bytes(), m))
    }

    fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = msg(|m| {
            bytes_field(1, api_version.as_bytes(), m);
            bytes_field(2, kind.as_bytes(), m);
        });
        let mut body = MAGIC.to_vec();
        bytes_field(1, &type_meta, &mut body);
        bytes_field(2, raw, &mut body);
        bytes_field(3, b"", &mut body);
        bytes_field(4, b"", &mut body);
        body
    }

    #[test]
    fn decodes_a_configmap() {
        let mut cm = Vec::new();
        bytes_field(1, &meta("demo", &[("app", "web")]), &mut cm);
        bytes_field(2, &entry("k", b"v"), &mut cm);
        assert_eq!(
            decode(&body("v1", "ConfigMap", &cm)).unwrap(),
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "demo", "labels": { "app": "web" } }, "data": { "k": "v" } })
        );
        // An unmodelled field is refused by number.
        let mut odd = cm.clone();
        bytes_field(9, b"x", &mut odd);
        assert_eq!(
            decode(&body("v1", "ConfigMap", &odd)).unwrap_err(),
            "protobuf field 9 of ConfigMap is not supported yet"
        );
        assert!(decode(b"k8s\0\x0a\xff").is_err());
        assert!(decode(b"{}").is_err());
    }

    fn container() -> Vec<u8> {
        msg(|c| {
            bytes_field(1, b"web", c);
            bytes_field(2, b"nginx", c);
            bytes_field(3, b"nginx", c);
            bytes_field(3, b"-g", c);
            bytes_field(5, b"", c);
            let port = msg(|p| {
                bytes_field(1, b"", p);
                int_field(2, 0, p);
                int_field(3, 8080, p);
                bytes_field(4, b"", p);
                bytes_field(5, b"", p);
            });
            bytes_field(6, &port, c);
            let key_ref = msg(|k| {
                bytes_field(1, &msg(|l| bytes_field(1, b"cfg", l)), k);
                bytes_field(2, b"mode", k);
                int_field(3, 0, k);
            });
            let env = msg(|e| {
                bytes_field(1, b"MODE", e);
                bytes_field(2, b"", e);
                bytes_field(3, &msg(|s| bytes_field(3, &key_ref, s)), e);
            });
            bytes_field(7, &env, c);
            let resources = msg(|r| {
                bytes_field(1, &entry("cpu", &quantity("500m")), r);
                bytes_field(2, &entry("memory", &quantity("64Mi")), r);
            });
            bytes_field(8, &resources, c);
            let probe = msg(|p| {
                let handler = msg(|h| {
                    let get = msg(|g| {
                        bytes_field(1, b"/healthz", g);
                        bytes_field(2, &int_or_string(Err("http")), g);
                        bytes_field(3, b"", g);
                        bytes_field(4, b"", g);
                    });
                    bytes_field(2, &get, h);
                });
                bytes_field(1, &handler, p);
                int_field(2, 5, p);
                for num in 3..=6 {
                    int_field(num, 0, p);
                }
            });
            bytes_field(11, &probe, c);
            bytes_field(13, b"", c);
            bytes_field(14, b"", c);
            int_field(16, 0, c);
            int_field(17, 0, c);
            int_field(18, 0, c);
            bytes_field(20, b"", c);
        })
    }

    #[test]
    fn decodes_a_deployment_as_kube_apiserver_reads_it() {
        let spec = msg(|s| {
            // A pointer field: an explicit zero is kept.
            int_field(1, 0, s);
            let selector = msg(|l| bytes_field(1, &entry("app", b"web"), l));
            bytes_field(2, &selector, s);
            let template = msg(|t| {
                bytes_field(1, &meta("", &[("app", "web")]), t);
                let pod = msg(|p| {
                    bytes_field(2, &container(), p);
                    bytes_field(3, b"Always", p);
                    bytes_field(6, b"", p);
                    int_field(11, 0, p);
                });
                bytes_field(2, &pod, t);
            });
            bytes_field(3, &template, s);
            let strategy = msg(|st| {
                bytes_field(1, b"RollingUpdate", st);
                let rolling = msg(|r| {
                    bytes_field(1, &int_or_string(Ok(0)), r);
                    bytes_field(2, &int_or_string(Err("25%")), r);
                });
                bytes_field(2, &rolling, st);
            });
            bytes_field(4, &strategy, s);
            int_field(5, 0, s);
            int_field(7, 0, s);
        });
        let status = msg(|s| {
            for num in [1, 2, 3, 4, 5, 7] {
                int_field(num, 0, s);
            }
        });
        let mut deploy = Vec::new();
        bytes_field(1, &meta("web", &[("app", "web")]), &mut deploy);
        bytes_field(2, &spec, &mut deploy);
        bytes_field(3, &status, &mut deploy);
        assert_eq!(
            decode(&body("apps/v1", "Deployment", &deploy)).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": { "name": "web", "labels": { "app": "web" } },
                "spec": {
                    "replicas": 0,
                    "selector": { "matchLabels": { "app": "web" } },
                    "template": {
                        "metadata": { "labels": { "app": "web" } },
                        "spec": {
                            "containers": [{
                                "name": "web",
                                "image": "nginx",
                                "command": ["nginx", "-g"],
                                "ports": [{ "containerPort": 8080 }],
                                "env": [{
                                    "name": "MODE",
                                    "valueFrom": { "configMapKeyRef": { "name": "cfg", "key": "mode", "optional": false } }
                                }],
                                "resources": { "limits": { "cpu": "500m" }, "requests": { "memory": "64Mi" } },
                                "readinessProbe": { "httpGet": { "path": "/healthz", "port": "http" }, "initialDelaySeconds": 5 }
                            }],
                            "restartPolicy": "Always"
                        }
                    },
                    "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 0, "maxSurge": "25%" } }
                },
                "status": {}
            })
        );
    }

    #[test]
    fn refuses_unmodelled_fields_by_number_where_they_are() {
        let mut odd = container();
        bytes_field(99, b"x", &mut odd);
        let spec = msg(|s| {
            let template = msg(|t| bytes_field(2, &msg(|p| bytes_field(2, &odd, p)), t));
            bytes_field(3, &template, s);
        });
        let deploy = msg(|d| bytes_field(2, &spec, d));
        assert_eq!(
            decode(&body("apps/v1", "Deployment", &deploy)).unwrap_err(),
            "protobuf field 99 of Deployment.spec.template.spec.containers is not supported yet"
        );
        // A cloud volume source (gcePersistentDisk) inside the inlined VolumeSource.
        let volume = msg(|v| {
            bytes_field(1, b"data", v);
            bytes_field(
                2,
                &msg(|s| bytes_field(3, &msg(|g| bytes_field(1, b"pd", g)), s)),
                v,
            );
        });
        let pod = msg(|p| bytes_field(2, &msg(|s| bytes_field(1, &volume, s)), p));
        assert_eq!(
            decode(&body("v1", "Pod", &pod)).unwrap_err(),
            "protobuf field 3 of Pod.spec.volumes.volumeSource is not supported yet"
        );
        // A known field with the wrong wire type.
        let bad = msg(|s| int_field(1, 3, s));
        assert_eq!(
            decode(&body(
                "v1",
                "Pod",
                &msg(|p| bytes_field(2, &msg(|s| int_field(2, 1, s)), p))
            ))
            .unwrap_err(),
            "protobuf field Pod.spec.containers has an unexpected wire type"
        );
        assert!(decode(&body("v1", "Service", &msg(|s| bytes_field(2, &bad, s)))).is_err());
        assert_eq!(
            decode(&body("apps/v1", "StatefulSet", &[])).unwrap_err(),
            "protobuf bodies for apps/v1 StatefulSet are not supported yet"
        );
    }

    #[test]
    fn decodes_special_encodings() {
        // MicroTime keeps microseconds; Time keeps whole seconds; the empty time is unset.
        let at = |nanos: i64| {
            msg(|t| {
                int_field(1, 1_700_000_000, t);
                int_field(2, nanos, t);
            })
        };
        let lease_meta = msg(|m| {
            bytes_field(1, b"leader", m);
            bytes_field(9, &at(999_999_999), m);
        });
        let spec = msg(|s| {
            bytes_field(1, b"me", s);
            bytes_field(3, &at(123_456_789), s);
            bytes_field(4, b"", s);
            int_field(5, 0, s);
        });
        let lease = msg(|l| {
            bytes_field(1, &lease_meta, l);
            bytes_field(2, &spec, l);
        });
        assert_eq!(
            decode(&body("coordination.k8s.io/v1", "Lease", &lease)).unwrap(),
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": { "name": "leader", "deletionTimestamp": "2023-11-14T22:13:20Z" },
                "spec": { "holderIdentity": "me", "acquireTime": "2023-11-14T22:13:20.123456Z", "leaseTransitions": 0 }
            })
        );

        // Negative varints, packed repeated ints, bytes maps and an entry with no value.
        let security = msg(|c| {
            let mut packed = Vec::new();
            varint(1000, &mut packed);
            varint(2000, &mut packed);
            bytes_field(4, &packed, c);
            int_field(4, 3000, c);
        });
        let pod_spec = msg(|s| {
            bytes_field(14, &security, s);
            int_field(25, -5, s);
            bytes_field(7, &msg(|e| bytes_field(1, b"disk", e)), s);
        });
        let pod = msg(|p| bytes_field(2, &pod_spec, p));
        assert_eq!(
            decode(&body("v1", "Pod", &pod)).unwrap()["spec"],
            json!({
                "securityContext": { "supplementalGroups": [1000, 2000, 3000] },
                "priority": -5,
                "nodeSelector": { "disk": "" }
            })
        );
        let secret = msg(|s| {
            bytes_field(2, &entry("key", &[0, 159, 146, 150]), s);
            bytes_field(3, b"Opaque", s);
        });
        assert_eq!(
            decode(&body("v1", "Secret", &secret)).unwrap()["data"],
            json!({ "key": "AJ+Slg==" })
        );

        // Int-or-string: a number, a name, and a zero that defaulting treats as unset.
        let port = |target: Vec<u8>| {
            msg(|p| {
                bytes_field(1, b"", p);
                bytes_field(2, b"TCP", p);
                int_field(3, 80, p);
                bytes_field(4, &target, p);
                int_field(5, 0, p);
            })
        };
        let spec = msg(|s| {
            bytes_field(1, &port(int_or_string(Ok(8080))), s);
            bytes_field(1, &port(int_or_string(Err("http"))), s);
            bytes_field(1, &port(int_or_string(Ok(0))), s);
            bytes_field(4, b"ClusterIP", s);
        });
        let svc = msg(|v| {
            bytes_field(2, &spec, v);
            bytes_field(3, &msg(|st| bytes_field(1, b"", st)), v);
        });
        let decoded = decode(&body("v1", "Service", &svc)).unwrap();
        assert_eq!(
            decoded["spec"]["ports"],
            json!([
                { "protocol": "TCP", "port": 80, "targetPort": 8080 },
                { "protocol": "TCP", "port": 80, "targetPort": "http" },
                { "protocol": "TCP", "port": 80 }
            ])
        );
        assert_eq!(decoded["status"], json!({ "loadBalancer": {} }));

        // A ReplicaSet shares the pod template tables.
        let rs_spec = msg(|s| {
            int_field(1, 2, s);
            int_field(4, 0, s);
            let template = msg(|t| {
                bytes_field(1, &meta("", &[("app", "web")]), t);
                bytes_field(2, &msg(|p| bytes_field(2, &container(), p)), t);
            });
            bytes_field(3, &template, s);
        });
        let rs = decode(&body(
            "apps/v1",
            "ReplicaSet",
            &msg(|r| bytes_field(2, &rs_spec, r)),
        ))
        .unwrap();
        assert_eq!(rs["spec"]["replicas"], 2);
        assert_eq!(rs["spec"]["template"]["metadata"]["labels"]["app"], "web");
        assert_eq!(
            rs["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"],
            "64Mi"
        );

        // A map of times (PodDisruptionBudget status).
        let status = msg(|s| bytes_field(2, &entry("web-1", &at(0)), s));
        let pdb = msg(|d| {
            bytes_field(2, &msg(|s| bytes_field(1, &int_or_string(Ok(0)), s)), d);
            bytes_field(3, &status, d);
        });
        let decoded = decode(&body("policy/v1", "PodDisruptionBudget", &pdb)).unwrap();
        assert_eq!(decoded["spec"], json!({ "minAvailable": 0 }));
        assert_eq!(
            decoded["status"],
            json!({ "disruptedPods": { "web-1": "2023-11-14T22:13:20Z" } })
        );
    }
}
