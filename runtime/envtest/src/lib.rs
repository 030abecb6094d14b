//! `kubesmith-envtest`: an embedded, in-process Kubernetes API server for tests and
//! local runs. No etcd, no downloads, no cluster: [`Environment::start`] serves plain
//! HTTP on a random 127.0.0.1 port in milliseconds, with its own in-memory store, so
//! each test can have its own server.
//!
//! ```
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::{Api, PostParams};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let env = kubesmith_envtest::Environment::start().await?;
//! let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! let created = cms.create(&PostParams::default(), &cm).await?;
//! assert!(created.metadata.uid.is_some());
//! assert_eq!(cms.get("settings").await?.metadata.name.as_deref(), Some("settings"));
//! env.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! To look around with kubectl, run the bundled example, which serves until Ctrl-C:
//!
//! ```sh
//! cargo run -p kubesmith-envtest --example serve -- /tmp/envtest.kubeconfig config/crd/bases
//! kubectl --kubeconfig /tmp/envtest.kubeconfig get crds
//! ```
//!
//! # What it serves
//!
//! - Discovery (`/api`, `/apis`, per group-version lists, aggregated discovery v2),
//!   `/version` (the Kubernetes version of the k8s-openapi feature your binary selected),
//!   `/healthz`, `/readyz`, `/livez`, OpenAPI v3 documents and the OpenAPI v2 document
//!   (`/openapi/v2`, JSON or gnostic protobuf) so that `kubectl apply`
//!   (with its default strict validation) and `kubectl explain` work: the CRDs' own schemas,
//!   and for the built-in kinds the schemas k8s-openapi carries (named `io.k8s.api...` as
//!   kube-apiserver names them).
//! - Built-in resources: core v1 `namespaces` (with `default`, `kube-system`,
//!   `kube-public` and `kube-node-lease` pre-created), `configmaps`, `secrets`,
//!   `serviceaccounts`, `services`, `pods`, `events`; `events.k8s.io/v1` `events` (the same
//!   objects as core events, converted field by field, as kube-apiserver does);
//!   `coordination.k8s.io/v1` `leases`; `apps/v1` `deployments`, `replicasets`,
//!   `statefulsets`, `daemonsets`; `batch/v1` `jobs`, `cronjobs`;
//!   `rbac.authorization.k8s.io/v1` `roles`, `clusterroles`, `rolebindings`,
//!   `clusterrolebindings`; `networking.k8s.io/v1` `networkpolicies`;
//!   `admissionregistration.k8s.io/v1` `mutatingwebhookconfigurations`,
//!   `validatingwebhookconfigurations`; `policy/v1` `poddisruptionbudgets`;
//!   `apiextensions.k8s.io/v1` `customresourcedefinitions`. Every one is decoded through its
//!   k8s-openapi type.
//! - The workloads (`deployments`, `replicasets`, `statefulsets`, `daemonsets`, `jobs`,
//!   `cronjobs`) and `poddisruptionbudgets` have a `/status` subresource that owns `status`
//!   (a create starts with `status: {}`, main-resource writes keep the stored status) and
//!   bump `metadata.generation` on spec changes, as do network policies and webhook
//!   configurations; `deployments`, `replicasets` and `statefulsets` have `/scale` (an
//!   `autoscaling/v1` Scale with the formatted label selector). Pods have `/status` and
//!   start `Pending`.
//! - Custom resources of every CRD as soon as it is created, under each served version,
//!   with the `/status` and `/scale` subresources when declared.
//! - CRD schemas as kube-apiserver's apiextensions server uses them: a CRD whose
//!   `openAPIV3Schema` is missing or not structural (a property without `type`, `uniqueItems`,
//!   `additionalProperties: false`, metadata beyond name/generateName, a bad `pattern`,
//!   `x-kubernetes-list-type: map` without keys, a `default` its own schema refuses, ...) is a
//!   422 naming the field path. Custom
//!   resources are pruned of unknown fields (`x-kubernetes-preserve-unknown-fields` and
//!   `x-kubernetes-embedded-resource` honoured, `metadata` pruned to ObjectMeta) and reported
//!   per `fieldValidation` (Strict: 400 `strict decoding error: unknown field "spec.foo"`;
//!   Warn, the default: a `Warning` header), defaulted from `default:` (nested defaults where
//!   the parent exists; non-nullable `null`s dropped; pruning and defaulting apply again when
//!   stored objects are read, as after a CRD change), and validated on create, update, patch,
//!   apply and `/status` against the schema of the version used, with kube-openapi's messages
//!   in a 422 `Invalid` with `details.causes` (type, int-or-string, nullable, format, enum,
//!   required, bounds, multipleOf, lengths, pattern, item and property counts,
//!   additionalProperties, allOf/anyOf/oneOf/not, list-type set/map uniqueness).
//! - CEL `x-kubernetes-validations` rules, evaluated with the `cel` crate (cel-rust): `self`
//!   at the rule's node, `oldSelf` for transition rules (run on updates where the old value
//!   correlates: through object fields and `listType: map` keys), `message`,
//!   `messageExpression`, `reason` and `fieldPath`; at the root, metadata shows only `name`
//!   and `generateName`. A rule that does not compile makes the CRD a 422; rules run once an
//!   object fits the schema, and a failed rule is a 422 cause such as
//!   `spec: Invalid value: "object": <message>`.
//! - Validation ratcheting on updates, as kube-apiserver 1.30+ (KEP-4008): a value unchanged
//!   from its correlated old value (through object properties and `listType: map` keys) is not
//!   rejected for what was already wrong with it, for value validations and CEL rules without
//!   `oldSelf`; allOf/anyOf/oneOf/not, list types, transition rules and metadata are always
//!   checked.
//! - Create, get, list (label and field selectors, `limit`/`continue`), update, patch
//!   (JSON patch, merge patch, strategic merge patch for the built-ins, server-side apply
//!   with `managedFields`), delete (finalizers and `deletionTimestamp`), delete collection,
//!   watch (resume from a resourceVersion within the retained history: like the watch cache,
//!   the last 100 events and any younger than 75 s, at most 100,000; older ones get 410 Expired;
//!   bookmarks, streaming lists),
//!   server-side Tables for `kubectl get` (with kube-apiserver's columns, or a CRD's
//!   printer columns), metadata-only (`PartialObjectMetadata`) reads and watches,
//!   `dryRun=All`, `fieldValidation`, all with kube-apiserver's resourceVersion, conflict,
//!   generation and error (`metav1.Status`) rules.
//! - Admission webhooks, called as kube-apiserver calls them: Mutating and
//!   ValidatingWebhookConfigurations (created through the API, or by
//!   [`Environment::install_webhooks`], which points `service` references at a local webhook
//!   server as controller-runtime's envtest does) are matched by their rules (operations,
//!   groups, versions, `resource`, `resource/sub` and `*` forms, scope), `namespaceSelector`,
//!   `objectSelector` and `matchPolicy`, and called over HTTPS (trusting `caBundle`) with an
//!   AdmissionReview v1 on create, update, patch (`/status` and `/scale`, as an
//!   `autoscaling/v1` Scale, when a rule names them), delete and delete collection (each
//!   object on its own): mutating webhooks first (configuration-name order, JSON patches applied,
//!   `reinvocationPolicy: IfNeeded` honoured), then the server's own defaulting and
//!   validation, then the validating webhooks. Denials answer with the webhook's code and
//!   `admission webhook "NAME" denied the request: MESSAGE`, warnings become `Warning` headers,
//!   `failurePolicy` decides what unreachable, slow (`timeoutSeconds`) or broken webhooks do
//!   (500 `failed calling webhook "NAME": ...`), and a dry run is refused by webhooks with
//!   side effects.
//! - CRD conversion webhooks (`conversion.strategy: Webhook`): objects are stored at the
//!   storage version, and gets, lists, watches and writes at another served version go through
//!   a ConversionReview (500 `conversion webhook for GROUP/VERSION, Kind=KIND failed: ...`
//!   when it fails).
//! - Namespace and CRD deletion with their Terminating phases, and an owner-reference garbage
//!   collector like kube-controller-manager's, on by default because operators rely on it on
//!   every cluster (controller-runtime's envtest has none; [`EnvironmentBuilder::garbage_collection`]
//!   turns it off): `propagationPolicy` Background (the default), Foreground (the owner waits
//!   with the `foregroundDeletion` finalizer for its dependents with `blockOwnerDeletion`,
//!   deeper levels are deleted bottom-up) and Orphan (the `orphan` finalizer; the dependents
//!   lose their ownerReferences); owners are looked up as upstream's collector does (kind,
//!   name, the dependent's namespace, then uid), so references to missing owners, other uids
//!   or owners in another namespace are dangling, and references to kinds the server does not
//!   serve are left alone; a dependent with another existing owner only loses the dangling
//!   reference. Cascades are done before the request that caused them answers.
//! - One global resourceVersion counter per environment; test hooks for the failure paths
//!   of watches: [`Environment::compact_history`] (410 Expired and relists) and
//!   [`Environment::drop_watches`] (re-watching from the last resourceVersion), plus
//!   [`Environment::inject`] (a [`Fault`] for a verb and/or resource: 5xx, or 429 with
//!   `Retry-After`, counted in [`Environment::injected_failures`]),
//!   [`Environment::fail_requests`] and [`Environment::set_latency`] for retries and
//!   slow servers.
//! - Test helpers: [`Environment::create_namespace`] (a fresh namespace per test),
//!   [`eventually`] (retry a check until a deadline), [`Environment::mark_deployment_ready`]
//!   (what a Deployment's controller and kubelet would write to its status).
//! - [`TestEnv`], the entry point the scaffolded tests use: the embedded server, or the real
//!   cluster of the kubeconfig that `KUBESMITH_TEST_KUBECONFIG` ([`TEST_KUBECONFIG_VAR`])
//!   names, with a fresh namespace per test (deleted at the end on a cluster), CRDs installed
//!   (server-side apply and `Established` on a cluster), and [`TestEnv::faults`] returning
//!   `None` on a cluster so tests skip fault injection there.
//!
//! # What is not supported yet
//!
//! - CEL rules get the standard library, its macros, the strings extension and Kubernetes'
//!   lists (`isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf` on lists) and regex
//!   (`find`, `findAll`) libraries. Kubernetes' `quantity`, `url`, `ip`/`cidr`, `format`,
//!   `authz` and `semver` libraries, the sets extension, timestamps and durations are missing,
//!   as is the `.?` optional syntax (`optionalOldSelf` works: `oldSelf` is an optional). This
//!   fails closed: a rule that calls a missing function rejects the object with a 422 naming
//!   it (`Undeclared reference to 'quantity'`), never passes silently. There are no cost
//!   limits, and compilation errors read like cel-rust's, not cel-go's.
//! - Formats other than date-time, date, uuid, ipv4, ipv6, cidr, byte, hostname and mac are
//!   not checked. (Built-in kinds are decoded through their k8s-openapi types: a body that
//!   does not fit is a 400, unknown fields are dropped and reported as `fieldValidation` asks.
//!   Their semantic validation, such as Event field rules, is not done.)
//! - CRDs with the `None` conversion strategy show every served version the same stored
//!   object, only `apiVersion` rewritten (as kube-apiserver does). With `Webhook`, objects
//!   stored before the CRD switched to it are taken to be at the storage version, and
//!   `/scale` at a non-storage version reads and writes the stored object unconverted.
//! - Admission webhooks: `matchConditions` (CEL) are ignored; the deletions the server
//!   makes itself (namespace and CRD cleanup, the garbage collector) are not admitted;
//!   validating webhooks run one after
//!   the other; `userInfo` is always `system:admin` in the `system:masters` group; the
//!   objects validating webhooks see carry the uid and creation time of a dry run of the
//!   write, not the stored ones.
//! - Server-side apply and `managedFields` follow structured-merge-diff: lists merge by their
//!   list type (a CRD's `x-kubernetes-list-type`/`x-kubernetes-list-map-keys`; for built-ins
//!   the `+listType`/`+listMapKey` of their Go types, such as containers by `name`, ports by
//!   `containerPort` and `protocol`, conditions by `type`), so `map` items (`k:{...}`) and
//!   `set` values (`v:...`) are owned, merged, conflicted on and removed one by one, with
//!   the `.` markers kube-apiserver writes. What differs: the list metadata of built-ins is a
//!   table of the lists that are not atomic in the served kinds (other lists are atomic, as
//!   upstream's default); an update on create is compared with an approximation of the Go
//!   zero value (its `spec`, `status`, pod templates and `containers`); `managedFields` are
//!   not converted between API versions; and `kubectl apply --server-side` takes over from
//!   client-side apply by comparing with the last-applied annotation.
//! - Strategic merge patch merges the lists whose Go types declare `patchStrategy: merge`
//!   (the same table: finalizers, owner references, the pod spec's containers, volumes,
//!   image pull secrets, host aliases, topology spread constraints, scheduling gates,
//!   resource claims, the containers' env, ports, volume mounts and devices, service ports,
//!   service account secrets, conditions, webhooks), wherever the type appears; other lists
//!   are replaced. `$setElementOrder` is accepted but does not reorder; `$retainKeys` and
//!   unknown directives are refused with 415.
//! - Old revisions (for paged lists and `resourceVersionMatch=Exact`) are rebuilt from the
//!   retained event history (the last 100 000 changes); older ones answer 410 Expired.
//! - The garbage collector runs synchronously, where upstream's is asynchronous and eventually
//!   consistent: tests that pass here because a cascade is already done need a wait
//!   ([`eventually`]) on a cluster. It emits no `OwnerRefInvalidNamespace` events, and the
//!   owner's kind is resolved by group and kind in any served version.
//! - Deleting a CRD follows kube-apiserver (Terminating, objects deleted, objects with
//!   finalizers waited for, new objects refused with 405), except for a CRD that carries
//!   finalizers of its own: when those are removed, its remaining objects go at once.
//! - Deleting a namespace deletes its content right away; objects with finalizers keep the
//!   namespace `Terminating` until their finalizers are removed.
//! - Only Deployments have a "mark ready" helper.
//! - No authentication or authorization of its own clients, no scheduler, kubelet or workload
//!   controllers: Deployments get no ReplicaSets, Pods never run, Jobs never complete; status
//!   changes only when a client writes `/status`. TokenReview and SubjectAccessReview, for
//!   operators that delegate auth (as the secure metrics endpoint does), allow everything
//!   unless a test picks [`Reviews::Rbac`] (service-account token Secrets and RBAC roles and
//!   bindings decide) or [`Reviews::DenyAll`].
//! - Request bodies are JSON or YAML, at most 3 MiB (kube-apiserver's default limit; larger
//!   ones get 413 RequestEntityTooLarge). Protobuf bodies, which typed kubectl commands send
//!   (`kubectl create namespace|configmap|secret|serviceaccount|role|clusterrole|rolebinding|
//!   clusterrolebinding|deployment|job|cronjob|service|poddisruptionbudget`, `kubectl create
//!   job --from=cronjob/...`, `kubectl expose`, `kubectl run`), are decoded for those kinds
//!   plus pods, replicasets and leases. The decoder models the fields users set (object
//!   metadata, pod templates with containers, probes, resources, env, the common volume
//!   sources, affinity, security contexts) but not the in-tree cloud volume sources, ephemeral
//!   containers or container statuses. A body of another kind (statefulsets, daemonsets, ...)
//!   gets 415 naming the kind, one with a field the decoder does not model 415 naming the kind,
//!   the field's path and its number; `kubectl apply -f` and `create -f` send JSON and always
//!   work. Responses are always JSON.
//! - Built-in kinds get no semantic validation (a Deployment whose selector does not match its
//!   template is stored); a body that does not decode into the k8s-openapi type is a 400.
//! - Field selectors: `metadata.name`, `metadata.namespace`, the usual Event fields,
//!   namespace `status.phase`, secret `type` and a CRD's `selectableFields`; nothing else.
//! - Built-in defaulting is limited to Secrets (`type: Opaque`), Services (type, ports,
//!   IP families, a cluster IP from 10.96.0.0/16, no node ports or load balancers), the
//!   top-level spec defaults of the workloads (Deployment `replicas: 1`, strategy type and
//!   25% rolling-update parameters, `revisionHistoryLimit`, `progressDeadlineSeconds`; the
//!   like for ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs), NetworkPolicy
//!   `policyTypes`, and every pod spec (of Pods and of workload templates): `restartPolicy`,
//!   `dnsPolicy`, `schedulerName`, `terminationGracePeriodSeconds`, `securityContext`, and per
//!   container `imagePullPolicy`, `terminationMessagePath`/`Policy` and port protocols. Not
//!   defaulted: probes' timings, Job selectors and labels, volume sources, and anything else.
//!   A ServiceAccount gets no token. `default/kubernetes` is the only pre-created Service.
//! - Printer columns follow kube-apiserver's printers for the served kinds, with the `-o wide`
//!   ones for Pods (`IP`, `NODE`), Deployments and ReplicaSets (`CONTAINERS`, `IMAGES`,
//!   `SELECTOR`) only; Pod `STATUS` is the phase (no waiting/terminated reasons), Jobs show
//!   only `COMPLETIONS`, DaemonSets no `NODE SELECTOR`.

mod admission;
mod auth;
mod compact;
mod conversion;
mod discovery;
mod faults;
mod gc;
mod kubeconfig;
mod list_meta;
mod managed;
mod objects;
mod openapi;
mod openapi_v2;
mod patch;
mod protobuf;
mod registry;
mod scale;
mod schema;
mod selector;
mod server;
mod shape;
mod status;
mod store;
mod table;
mod test_env;
mod typed;
mod watch;
mod webhook_client;
mod webhook_install;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use tokio::task::JoinHandle;

pub use auth::Reviews;
pub use faults::{Fault, InjectedFailure};
pub use kubeconfig::NAME as KUBECONFIG_NAME;
pub use test_env::{
    Faults, TEST_FIELD_MANAGER, TEST_KUBECONFIG_VAR, TEST_NAMESPACE_LABEL, TestEnv, TestEnvBuilder,
};
pub use webhook_install::WebhookEndpoint;

/// How long [`Environment::install_crds`] waits for a CRD's kinds to be served.
const CRD_SERVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why starting, configuring or stopping an [`Environment`] failed. Messages name the input
/// (the port, the file and document, the CRD) and what was wrong with it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let missing = std::path::PathBuf::from("/no/such/crds");
/// let err = kubesmith_envtest::Environment::builder().crd_dir(missing).start().await.unwrap_err();
/// assert!(matches!(err, kubesmith_envtest::Error::ReadDir { .. }));
/// assert!(err.to_string().starts_with("could not read the CRD directory /no/such/crds"));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The loopback port could not be bound.
    #[error("could not listen on 127.0.0.1:{port}")]
    Bind {
        /// The requested port (0 = any free port).
        port: u16,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The kube client for the server could not be built.
    #[error("could not build a kube client for {url}")]
    Client {
        /// The server URL.
        url: String,
        /// The kube error.
        source: kube::Error,
    },
    /// A CRD directory could not be read.
    #[error("could not read the CRD directory {}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A CRD file could not be read.
    #[error("could not read the CRD file {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A YAML document in a CRD file could not be parsed.
    #[error("{}: document {index} is not valid YAML", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based index of the document in the file.
        index: usize,
        /// The parse error.
        source: serde_yaml::Error,
    },
    /// A document of kind CustomResourceDefinition is not a valid `apiextensions.k8s.io/v1` CRD.
    #[error("{}: document {index} is not a valid apiextensions.k8s.io/v1 CustomResourceDefinition: {message}", path.display())]
    InvalidCrd {
        /// The file.
        path: PathBuf,
        /// 1-based index of the document in the file.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The API server refused a CRD.
    #[error("installing the CRD {name} failed")]
    InstallCrd {
        /// The CRD's name.
        name: String,
        /// The error the API answered with.
        source: kube::Error,
    },
    /// The API server did not accept a CRD's names (they clash with another kind).
    #[error("the CRD {name} was not accepted: {reason}")]
    CrdRejected {
        /// The CRD's name.
        name: String,
        /// The NamesAccepted condition's message, e.g. `"Widget" is already in use`.
        reason: String,
    },
    /// A CRD was accepted but its kinds were not served in time.
    #[error(
        "the CRD {name} was created but {resource} was not served within {seconds}s (conflicting names?)"
    )]
    CrdNotServed {
        /// The CRD's name.
        name: String,
        /// The group/version/resource that was not served.
        resource: String,
        /// How long it waited.
        seconds: u64,
    },
    /// A request a test helper made to the server failed.
    #[error("{action} failed")]
    Request {
        /// What the helper was doing, e.g. `creating a test namespace`.
        action: String,
        /// The error the API answered with.
        source: kube::Error,
    },
    /// [`eventually`] ran out of time; the message is the last failed check's.
    #[error("still failing after {waited:?} ({attempts} attempts): {last}")]
    Eventually {
        /// How long it tried.
        waited: Duration,
        /// How many times the check ran.
        attempts: usize,
        /// The last check's error, as text.
        last: String,
    },
    /// A document of a webhook manifests file could not be used.
    #[error("webhook manifests: document {index}: {message}")]
    WebhookManifest {
        /// 1-based index of the document.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The API server refused a webhook configuration or a CRD's conversion settings.
    #[error("installing the webhook configuration {name} failed")]
    InstallWebhook {
        /// The configuration's (or CRD's) name.
        name: String,
        /// The error the API answered with.
        source: kube::Error,
    },
    /// The kubeconfig of a real cluster ([`TEST_KUBECONFIG_VAR`]) could not be read or used.
    #[error("could not use the kubeconfig {} ({TEST_KUBECONFIG_VAR}): {message}", path.display())]
    ReadKubeconfig {
        /// The kubeconfig's path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The kubeconfig could not be written.
    #[error("could not write the kubeconfig to {}: {message}", path.display())]
    WriteKubeconfig {
        /// The target path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A running embedded API server, with its own store and port.
///
/// Dropping it stops the server too; [`Environment::stop`] additionally waits until the
/// port is free. See the [crate documentation](crate) for what is served.
///
/// ```
/// use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
/// use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
///     "metadata": { "name": "widgets.example.com" },
///     "spec": {
///         "group": "example.com",
///         "scope": "Namespaced",
///         "names": { "plural": "widgets", "kind": "Widget" },
///         "versions": [{ "name": "v1", "served": true, "storage": true,
///             "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } } }]
///     }
/// }))?;
/// let env = kubesmith_envtest::Environment::builder().crds([crd]).start().await?;
///
/// let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
/// let widgets: Api<DynamicObject> = Api::default_namespaced_with(env.client(), &ApiResource::from_gvk(&gvk));
/// let mut widget = DynamicObject::new("w", &ApiResource::from_gvk(&gvk));
/// widget.data = serde_json::json!({ "spec": { "size": 3 } });
/// let created = widgets.create(&PostParams::default(), &widget).await?;
/// assert_eq!(created.metadata.generation, Some(1));
///
/// let dir = tempfile::tempdir()?;
/// env.write_kubeconfig(&dir.path().join("kubeconfig"))?; // for kubectl --kubeconfig
/// env.stop().await;
/// # Ok(())
/// # }
/// ```
pub struct Environment {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    client: kube::Client,
    task: Option<JoinHandle<()>>,
}

/// Configures an [`Environment`] before it starts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kubesmith_envtest::Error> {
/// let env = kubesmith_envtest::Environment::builder().port(0).start().await?;
/// assert!(env.url().starts_with("http://127.0.0.1:"));
/// env.stop().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct EnvironmentBuilder {
    port: u16,
    crds: Vec<CustomResourceDefinition>,
    crd_dirs: Vec<PathBuf>,
    /// `None` is the default: on.
    garbage_collection: Option<bool>,
}

impl EnvironmentBuilder {
    /// The loopback port to listen on; 0 (the default) picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// CRDs to install once the server runs (as [`Environment::install_crds`] does).
    pub fn crds(mut self, crds: impl IntoIterator<Item = CustomResourceDefinition>) -> Self {
        self.crds.extend(crds);
        self
    }

    /// A directory of CRD manifests to install (as [`Environment::install_crds_from_dir`] does).
    pub fn crd_dir(mut self, dir: PathBuf) -> Self {
        self.crd_dirs.push(dir);
        self
    }

    /// Whether the owner-reference garbage collector runs (it does unless turned off here).
    ///
    /// On, the server behaves like a cluster's kube-controller-manager: deleting an owner
    /// deletes its dependents (`Background`, the default policy), `Foreground` keeps the owner
    /// with the `foregroundDeletion` finalizer until its dependents with `blockOwnerDeletion`
    /// are gone, `Orphan` strips the ownerReferences from the dependents, and an object whose
    /// owners are all absent is deleted. The cascade completes before the request that caused
    /// it answers, so a test can check the result right away.
    ///
    /// `garbage_collection(false)` behaves like controller-runtime's envtest (a kube-apiserver
    /// without controller-manager): ownerReferences are stored, dependents stay, and
    /// `propagationPolicy=Foreground|Orphan` adds the matching finalizer, which nothing removes.
    ///
    /// ```
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// use kube::api::{Api, DeleteParams, PostParams};
    /// use kube::Resource as _;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = kubesmith_envtest::Environment::start().await?;
    /// let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    /// let mut owner = ConfigMap::default();
    /// owner.metadata.name = Some("owner".into());
    /// let owner = cms.create(&PostParams::default(), &owner).await?;
    /// let mut child = ConfigMap::default();
    /// child.metadata.name = Some("child".into());
    /// child.metadata.owner_references = owner.controller_owner_ref(&()).map(|r| vec![r]);
    /// cms.create(&PostParams::default(), &child).await?;
    ///
    /// cms.delete("owner", &DeleteParams::default()).await?;
    /// assert!(cms.get_opt("child").await?.is_none(), "collected with its owner");
    /// # Ok(())
    /// # }
    /// ```
    pub fn garbage_collection(mut self, enabled: bool) -> Self {
        self.garbage_collection = Some(enabled);
        self
    }

    /// Starts the server and installs the configured CRDs.
    pub async fn start(self) -> Result<Environment, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(|source| Error::Bind {
                port: self.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            port: self.port,
            source,
        })?;
        let shared = Arc::new(server::Shared::new(
            addr.to_string(),
            self.garbage_collection.unwrap_or(true),
        ));
        let url = format!("http://{addr}");
        let config = config_for(&url);
        let client = kube::Client::try_from(config).map_err(|source| Error::Client {
            url: url.clone(),
            source,
        })?;
        let app = server::router(shared.clone());
        let shutdown = shared.shutdown.clone();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "kubesmith-envtest server failed");
            }
        });
        let env = Environment {
            shared,
            addr,
            client,
            task: Some(task),
        };
        env.install_crds(self.crds).await?;
        for dir in &self.crd_dirs {
            env.install_crds_from_dir(dir).await?;
        }
        Ok(env)
    }
}

fn config_for(url: &str) -> kube::Config {
    // The URL is built from a SocketAddr, so it always parses.
    let uri: http::Uri = url
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("http://127.0.0.1"));
    kube::Config::new(uri)
}

impl Environment {
    /// A builder to choose the port and CRDs to install.
    pub fn builder() -> EnvironmentBuilder {
        EnvironmentBuilder::default()
    }

    /// Starts a server on a random free loopback port.
    pub async fn start() -> Result<Environment, Error> {
        Self::builder().start().await
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client configuration for this server (namespace `default`).
    pub fn config(&self) -> kube::Config {
        config_for(&self.url())
    }

    /// A kube client for this server.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kubeconfig whose current context (`kubesmith-envtest`) points at this server.
    pub fn kubeconfig(&self) -> kube::config::Kubeconfig {
        kubeconfig::kubeconfig(&self.url())
    }

    /// Writes [`Environment::kubeconfig`] as YAML to `path`, e.g. for `kubectl --kubeconfig`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = kubesmith_envtest::Environment::start().await?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("kubeconfig");
    /// env.write_kubeconfig(&path)?;
    /// assert!(std::fs::read_to_string(&path)?.contains(&env.url()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        let err = |message: String| Error::WriteKubeconfig {
            path: path.to_path_buf(),
            message,
        };
        let yaml = serde_yaml::to_string(&self.kubeconfig()).map_err(|e| err(e.to_string()))?;
        std::fs::write(path, yaml).map_err(|e| err(e.to_string()))
    }

    /// Creates (or replaces) the CRDs through the API and waits until their kinds are served.
    pub async fn install_crds(
        &self,
        crds: impl IntoIterator<Item = CustomResourceDefinition>,
    ) -> Result<(), Error> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let endpoint = self.shared.webhook_endpoint();
        for mut crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            if let Some(endpoint) = &endpoint {
                crd = point_crd_conversion(crd, endpoint);
            }
            let install_err = |source| Error::InstallCrd {
                name: name.clone(),
                source,
            };
            crd.metadata.resource_version = None;
            let stored = match api.create(&PostParams::default(), &crd).await {
                Ok(stored) => stored,
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    let existing = api.get(&name).await.map_err(install_err)?;
                    crd.metadata.resource_version = existing.metadata.resource_version;
                    api.replace(&name, &PostParams::default(), &crd)
                        .await
                        .map_err(install_err)?
                }
                Err(e) => return Err(install_err(e)),
            };
            // A name clash is final: say so now instead of waiting for the kind to be served.
            let rejected = stored
                .status
                .and_then(|st| st.conditions)
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "NamesAccepted" && c.status == "False");
            if let Some(c) = rejected {
                return Err(Error::CrdRejected {
                    name,
                    reason: c.message.unwrap_or_default(),
                });
            }
            for v in crd.spec.versions.iter().filter(|v| v.served) {
                self.wait_served(&name, &crd, &v.name).await?;
            }
        }
        Ok(())
    }

    async fn wait_served(
        &self,
        name: &str,
        crd: &CustomResourceDefinition,
        version: &str,
    ) -> Result<(), Error> {
        let gvk = GroupVersionKind::gvk(&crd.spec.group, version, &crd.spec.names.kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let deadline = tokio::time::Instant::now() + CRD_SERVE_TIMEOUT;
        loop {
            if api.list(&ListParams::default().limit(1)).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::CrdNotServed {
                    name: name.to_string(),
                    resource: format!("{}/{version}/{}", crd.spec.group, crd.spec.names.plural),
                    seconds: CRD_SERVE_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Installs every CustomResourceDefinition found in the `*.yaml`/`*.yml` files of `dir`
    /// (multi-document files are fine; other kinds, such as a kustomization, are skipped).
    pub async fn install_crds_from_dir(&self, dir: &Path) -> Result<(), Error> {
        let crds = read_crd_dir(dir)?;
        self.install_crds(crds).await
    }

    /// Installs the Mutating/ValidatingWebhookConfigurations of `manifests_yaml` (multi-document
    /// YAML, as `kubesmith generate` writes `config/webhook/manifests.yaml`; other kinds are
    /// skipped), pointing every webhook at `endpoint` as controller-runtime's envtest
    /// `WebhookInstallOptions` does: a `clientConfig.service` becomes
    /// `url = endpoint.url + service.path`, and `caBundle` the endpoint's CA. Every installed
    /// CRD with `conversion.strategy: Webhook`, and every one installed later, is pointed at
    /// `endpoint.url` + its service path (`/convert` by default) too.
    ///
    /// From then on the server calls the webhooks as kube-apiserver does (see the
    /// [crate documentation](crate)). Configurations created any other way with a `url` and
    /// `caBundle` are called as well; a `service` reference that was not rewritten cannot be
    /// reached, so its `failurePolicy` decides.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use kubesmith_envtest::{Environment, WebhookEndpoint};
    ///
    /// let env = Environment::start().await?;
    /// let manifests = r#"
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: ValidatingWebhookConfiguration
    /// metadata:
    ///   name: validating-webhook-configuration
    /// webhooks:
    /// - name: vconfigmap.kb.io
    ///   admissionReviewVersions: ["v1"]
    ///   sideEffects: None
    ///   failurePolicy: Ignore
    ///   clientConfig:
    ///     service: { name: webhook-service, namespace: system, path: /validate--v1-configmap }
    ///   rules:
    ///   - { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] }
    /// "#;
    /// let endpoint = WebhookEndpoint { url: "https://127.0.0.1:9443".into(), ca_bundle: Vec::new() };
    /// env.install_webhooks(manifests, &endpoint).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn install_webhooks(
        &self,
        manifests_yaml: &str,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), Error> {
        let mut configs = Vec::new();
        for (i, doc) in serde_yaml::Deserializer::from_str(manifests_yaml).enumerate() {
            let index = i + 1;
            let bad = |message: String| Error::WebhookManifest { index, message };
            let value = <serde_json::Value as serde::Deserialize>::deserialize(doc)
                .map_err(|e| bad(format!("not valid YAML: {e}")))?;
            let kind = value.get("kind").and_then(serde_json::Value::as_str);
            let plural = match kind {
                Some("MutatingWebhookConfiguration") => "mutatingwebhookconfigurations",
                Some("ValidatingWebhookConfiguration") => "validatingwebhookconfigurations",
                _ => continue,
            };
            let api_version = value.get("apiVersion").and_then(serde_json::Value::as_str);
            if api_version != Some("admissionregistration.k8s.io/v1") {
                return Err(bad(format!(
                    "apiVersion is \"{}\", only admissionregistration.k8s.io/v1 is supported",
                    api_version.unwrap_or_default()
                )));
            }
            if value
                .pointer("/metadata/name")
                .and_then(serde_json::Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(bad("metadata.name is missing".into()));
            }
            let mut value = value;
            webhook_install::point_admission(&mut value, endpoint);
            configs.push((plural, value));
        }
        *self
            .shared
            .webhook_endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(endpoint.clone());
        for (plural, config) in configs {
            let gvk = GroupVersionKind::gvk(
                "admissionregistration.k8s.io",
                "v1",
                config["kind"].as_str().unwrap_or_default(),
            );
            let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            let name = config["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let err = |source| Error::InstallWebhook {
                name: name.clone(),
                source,
            };
            let obj: DynamicObject =
                serde_json::from_value(config.clone()).map_err(|e| Error::WebhookManifest {
                    index: 0,
                    message: e.to_string(),
                })?;
            match api.create(&PostParams::default(), &obj).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    let existing = api.get(&name).await.map_err(err)?;
                    let mut obj = obj;
                    obj.metadata.resource_version = existing.metadata.resource_version;
                    api.replace(&name, &PostParams::default(), &obj)
                        .await
                        .map_err(err)?;
                }
                Err(e) => return Err(err(e)),
            }
        }
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let installed =
            crds.list(&ListParams::default())
                .await
                .map_err(|source| Error::Request {
                    action: "listing CRDs to point their conversion webhooks".into(),
                    source,
                })?;
        for crd in installed {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let before = crd.spec.conversion.clone();
            let crd = point_crd_conversion(crd, endpoint);
            if crd.spec.conversion != before {
                crds.replace(&name, &PostParams::default(), &crd)
                    .await
                    .map_err(|source| Error::InstallWebhook { name, source })?;
            }
        }
        Ok(())
    }

    /// Forgets the watch event history, so that watches resuming from any older
    /// resourceVersion get `410 Expired` (a test hook for relist paths).
    pub fn compact_history(&self) {
        self.shared.lock().store.compact();
    }

    /// Ends every open watch stream, as an API server restart or a load balancer would; clients
    /// such as kube's `watcher` re-watch from their last resourceVersion (a test hook).
    pub fn drop_watches(&self) {
        self.shared.drop_watches();
    }

    /// Replaces every pending failure rule: the next `count` requests on resources (not
    /// discovery, health or unknown paths) fail with
    /// `code`, answered like kube-apiserver would (429 `TooManyRequests` and 503/504 with
    /// `Retry-After: 1`, which kube's client retries by itself; anything else as an
    /// `InternalError`). A test hook for retry and backoff paths.
    pub fn fail_requests(&self, count: usize, code: u16) {
        self.shared.fail_requests(count, code);
    }

    /// Makes requests matching `fault` fail (see [`Fault`]); rules add up and are consulted in
    /// the order they were added. Every injected failure is recorded in
    /// [`Environment::injected_failures`].
    ///
    /// ```
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// use kube::api::{Api, PostParams};
    /// use kubesmith_envtest::{Environment, Fault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = Environment::start().await?;
    /// env.inject(Fault::new(500).verb("create").resource("configmaps"));
    /// let cms: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    /// let mut cm = ConfigMap::default();
    /// cm.metadata.name = Some("c".into());
    /// assert!(cms.create(&PostParams::default(), &cm).await.is_err());
    /// assert!(cms.create(&PostParams::default(), &cm).await.is_ok());
    /// assert_eq!(env.injected_failures().len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault);
    }

    /// How TokenReviews and SubjectAccessReviews are answered from now on
    /// ([`Reviews::AllowAll`] until a test says otherwise).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use kubesmith_envtest::{Environment, Reviews};
    ///
    /// let env = Environment::start().await?;
    /// // Only service-account tokens authenticate, and RBAC decides access.
    /// env.set_reviews(Reviews::Rbac);
    /// # env.stop().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_reviews(&self, reviews: Reviews) {
        *self
            .shared
            .reviews
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = reviews;
    }

    /// Every failure injected so far (by [`Environment::inject`] or
    /// [`Environment::fail_requests`]), oldest first.
    pub fn injected_failures(&self) -> Vec<InjectedFailure> {
        self.shared.injected_failures()
    }

    /// Creates a fresh namespace named `test-<random>` and returns its name, so that tests
    /// sharing one environment do not see each other's objects.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = kubesmith_envtest::Environment::start().await?;
    /// let (a, b) = (env.create_namespace().await?, env.create_namespace().await?);
    /// assert!(a.starts_with("test-") && a != b);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_namespace(&self) -> Result<String, Error> {
        let namespaces: Api<Namespace> = Api::all(self.client());
        let mut ns = Namespace::default();
        ns.metadata.generate_name = Some("test-".into());
        let created = namespaces
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|source| Error::Request {
                action: "creating a test namespace".into(),
                source,
            })?;
        Ok(created.metadata.name.unwrap_or_default())
    }

    /// Marks a Deployment as rolled out and available, as its controller and the kubelet would
    /// on a cluster (neither runs here): through `/status`, `replicas`, `updatedReplicas`,
    /// `readyReplicas` and `availableReplicas` become `spec.replicas`, `observedGeneration`
    /// the current generation, and the `Available` and `Progressing` conditions are true.
    /// Watchers see one MODIFIED event. Returns the updated Deployment.
    ///
    /// ```
    /// use k8s_openapi::api::apps::v1::Deployment;
    /// use kube::api::{Api, PostParams};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = kubesmith_envtest::Environment::start().await?;
    /// let deploy: Deployment = serde_json::from_value(serde_json::json!({
    ///     "metadata": { "name": "web" },
    ///     "spec": { "replicas": 2, "selector": { "matchLabels": { "app": "web" } },
    ///               "template": { "metadata": { "labels": { "app": "web" } },
    ///                             "spec": { "containers": [{ "name": "web", "image": "nginx" }] } } }
    /// }))?;
    /// Api::<Deployment>::namespaced(env.client(), "default").create(&PostParams::default(), &deploy).await?;
    /// let ready = env.mark_deployment_ready("default", "web").await?;
    /// assert_eq!(ready.status.unwrap().available_replicas, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn mark_deployment_ready(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Deployment, Error> {
        let action = format!("marking deployment {namespace}/{name} ready");
        let deployments: Api<Deployment> = Api::namespaced(self.client(), namespace);
        let current = deployments
            .get(name)
            .await
            .map_err(|source| Error::Request {
                action: action.clone(),
                source,
            })?;
        let replicas = current.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let generation = current.metadata.generation.unwrap_or(1);
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let condition = |type_: &str, reason: &str, message: String| {
            serde_json::json!({ "type": type_, "status": "True", "reason": reason, "message": message,
                "lastUpdateTime": now, "lastTransitionTime": now })
        };
        let status = serde_json::json!({ "status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability.".into()),
                condition("Progressing", "NewReplicaSetAvailable", format!("ReplicaSet \"{name}\" has successfully progressed.")),
            ],
        } });
        deployments
            .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .map_err(|source| Error::Request { action, source })
    }

    /// Delays every request by `latency` (zero turns it off). A test hook for slow servers.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }

    /// Stops the server: open watches end, and the port is free when this returns.
    pub async fn stop(mut self) {
        self.shared.shutdown.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        let Some(mut task) = self.task.take() else {
            return;
        };
        // The cancelled token makes the server stop accepting, end its watches and close
        // connections after their in-flight request; the abort is the backstop.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if tokio::time::timeout(Duration::from_secs(5), &mut task)
                        .await
                        .is_err()
                    {
                        task.abort();
                    }
                });
            }
            Err(_) => task.abort(),
        }
    }
}

/// The CRD with its conversion webhook (if it has one) pointed at `endpoint`.
fn point_crd_conversion(
    crd: CustomResourceDefinition,
    endpoint: &WebhookEndpoint,
) -> CustomResourceDefinition {
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    if !webhook_install::point_conversion(&mut value, endpoint) {
        return crd;
    }
    serde_json::from_value(value).unwrap_or(crd)
}

/// Reads every CRD document of the YAML files in `dir`, in file name order.
fn read_crd_dir(dir: &Path) -> Result<Vec<CustomResourceDefinition>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| Error::ReadDir {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut crds = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadFile {
            path: path.clone(),
            source,
        })?;
        for (i, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let index = i + 1;
            let value =
                <serde_yaml::Value as serde::Deserialize>::deserialize(doc).map_err(|source| {
                    Error::Yaml {
                        path: path.clone(),
                        index,
                        source,
                    }
                })?;
            if value.get("kind").and_then(serde_yaml::Value::as_str)
                != Some("CustomResourceDefinition")
            {
                continue;
            }
            let api_version = value
                .get("apiVersion")
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or_default();
            if api_version != "apiextensions.k8s.io/v1" {
                return Err(Error::InvalidCrd {
                    path: path.clone(),
                    index,
                    message: format!(
                        "apiVersion is \"{api_version}\", only apiextensions.k8s.io/v1 is supported"
                    ),
                });
            }
            let crd: CustomResourceDefinition =
                serde_yaml::from_value(value).map_err(|e| Error::InvalidCrd {
                    path: path.clone(),
                    index,
                    message: e.to_string(),
                })?;
            crds.push(crd);
        }
    }
    Ok(crds)
}

/// Runs `check` until it succeeds or `timeout` has passed, and returns its value, or
/// [`Error::Eventually`] with the last error. For conditions a controller reaches
/// asynchronously; checks run every 10 ms at first, backing off to every 250 ms.
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut tries = 0;
/// let n = kubesmith_envtest::eventually(Duration::from_secs(30), || {
///     tries += 1;
///     let now = tries;
///     async move { if now >= 3 { Ok(now) } else { Err(format!("only {now} tries")) } }
/// })
/// .await?;
/// assert_eq!(n, 3);
///
/// let err = kubesmith_envtest::eventually(Duration::from_millis(50), || async {
///     Err::<(), _>("never")
/// })
/// .await
/// .unwrap_err();
/// assert!(err.to_string().ends_with("never"));
/// # Ok(())
/// # }
/// ```
pub async fn eventually<T, E, F, Fut>(timeout: Duration, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let start = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(10);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(e) => e.to_string(),
        };
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(Error::Eventually {
                waited,
                attempts,
                last,
            });
        }
        tokio::time::sleep(pause.min(timeout - waited)).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
