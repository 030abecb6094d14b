//! [`TestEnv`]: one entry point for tests that run on the embedded server by default and on a
//! real cluster when [`TEST_KUBECONFIG_VAR`] names a kubeconfig.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};

use crate::{Environment, EnvironmentBuilder, Error, Fault, InjectedFailure, Reviews};

/// The environment variable that switches [`TestEnv`] to a real cluster: the path of a
/// kubeconfig whose current context is used. Unset or empty: the embedded server.
pub const TEST_KUBECONFIG_VAR: &str = "KUBESMITH_TEST_KUBECONFIG";

/// The field manager that installs CRDs on a real cluster (server-side apply).
pub const TEST_FIELD_MANAGER: &str = "kubesmith-test";

/// The label on every namespace a [`TestEnv`] creates, so that ones left behind by a killed
/// test run can be found: `kubectl delete ns -l app.kubernetes.io/created-by=kubesmith-test`.
pub const TEST_NAMESPACE_LABEL: (&str, &str) = ("app.kubernetes.io/created-by", "kubesmith-test");

/// How long a real cluster gets to establish and serve a CRD.
const CRD_ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a real cluster gets to roll out a Deployment in [`TestEnv::deployment_ready`].
const DEPLOYMENT_READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a test's requests go: the embedded server of this test, or a real cluster.
///
/// By default [`TestEnv::start`] starts an embedded [`Environment`]. When the environment
/// variable `KUBESMITH_TEST_KUBECONFIG` names a kubeconfig, the same test runs against that
/// kubeconfig's current context instead:
///
/// | | embedded (default) | `KUBESMITH_TEST_KUBECONFIG` set |
/// |---|---|---|
/// | [`TestEnv::client`] | the embedded server | the cluster |
/// | [`TestEnv::namespace`] | a fresh `test-*` namespace | a fresh `test-*` namespace, labelled [`TEST_NAMESPACE_LABEL`] |
/// | CRDs ([`TestEnvBuilder::crd_dir`], [`TestEnv::install_crds`]) | created, waited for until served | server-side applied (field manager [`TEST_FIELD_MANAGER`], forced), waited for until `Established` and served; left installed at the end |
/// | [`TestEnv::faults`] | `Some`: inject failures, drop watches, compact history | `None`: a cluster cannot be made to fail on purpose, skip that part |
/// | [`TestEnv::deployment_ready`] | marks the Deployment ready (no kubelet here) | waits until the cluster's controllers made it available |
/// | [`TestEnv::stop`] | stops the server | deletes the test's namespaces |
///
/// If a test panics before [`TestEnv::stop`], dropping the `TestEnv` still deletes its
/// namespaces on a cluster (best effort, from a helper thread).
///
/// ```
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kube::api::{Api, PostParams};
/// use kubesmith_envtest::{Fault, TestEnv};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = TestEnv::start().await?;
/// let cms: Api<ConfigMap> = Api::namespaced(env.client(), env.namespace());
/// let mut cm = ConfigMap::default();
/// cm.metadata.name = Some("settings".into());
/// cms.create(&PostParams::default(), &cm).await?;
///
/// // Fault injection only exists on the embedded server; on a cluster, skip that part.
/// if let Some(faults) = env.faults() {
///     faults.inject(Fault::new(500).verb("get").resource("configmaps"));
///     assert!(cms.get("settings").await.is_err());
///     assert_eq!(faults.injected_failures().len(), 1);
/// } else {
///     eprintln!("fault injection is not available on a real cluster: skipped");
/// }
/// env.stop().await;
/// # Ok(())
/// # }
/// ```
pub struct TestEnv {
    target: Target,
    client: kube::Client,
    namespace: String,
    /// Every namespace this test created, deleted at the end on a cluster.
    namespaces: Mutex<Vec<String>>,
    stopped: bool,
}

enum Target {
    /// `None` once stopped.
    Embedded(Option<Environment>),
    External {
        kubeconfig: PathBuf,
        /// To build a fresh client when cleaning up from `Drop` (boxed: it is large).
        config: Box<kube::Config>,
    },
}

/// Configures a [`TestEnv`] before it starts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kubesmith_envtest::Error> {
/// use kubesmith_envtest::{Environment, TestEnv};
///
/// // envtest-like: no garbage collector on the embedded server (a cluster always has one).
/// let env = TestEnv::builder()
///     .embedded(Environment::builder().garbage_collection(false))
///     .start()
///     .await?;
/// assert!(env.namespace().starts_with("test-"));
/// env.stop().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TestEnvBuilder {
    crds: Vec<CustomResourceDefinition>,
    crd_dirs: Vec<PathBuf>,
    kubeconfig: Option<PathBuf>,
    embedded: EnvironmentBuilder,
}

impl Default for TestEnvBuilder {
    fn default() -> Self {
        let kubeconfig = std::env::var_os(TEST_KUBECONFIG_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        TestEnvBuilder {
            crds: Vec::new(),
            crd_dirs: Vec::new(),
            kubeconfig,
            embedded: EnvironmentBuilder::default(),
        }
    }
}

impl TestEnvBuilder {
    /// CRDs to install (as [`TestEnv::install_crds`] does).
    pub fn crds(mut self, crds: impl IntoIterator<Item = CustomResourceDefinition>) -> Self {
        self.crds.extend(crds);
        self
    }

    /// A directory of CRD manifests to install (as [`TestEnv::install_crds_from_dir`] does).
    pub fn crd_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.crd_dirs.push(dir.into());
        self
    }

    /// Uses the cluster of this kubeconfig (its current context), or the embedded server for
    /// `None`, whatever `KUBESMITH_TEST_KUBECONFIG` says.
    pub fn kubeconfig(mut self, path: Option<PathBuf>) -> Self {
        self.kubeconfig = path;
        self
    }

    /// How to start the embedded server, when one is used (its port, garbage collection);
    /// CRDs are better given to this builder, which installs them in both cases.
    pub fn embedded(mut self, builder: EnvironmentBuilder) -> Self {
        self.embedded = builder;
        self
    }

    /// Starts the embedded server or connects to the cluster, creates the test's namespace
    /// and installs the CRDs.
    pub async fn start(self) -> Result<TestEnv, Error> {
        let (target, client) = match self.kubeconfig {
            None => {
                let env = self.embedded.start().await?;
                let client = env.client();
                (Target::Embedded(Some(env)), client)
            }
            Some(path) => {
                let config = external_config(&path).await?;
                let client =
                    kube::Client::try_from(config.clone()).map_err(|source| Error::Client {
                        url: config.cluster_url.to_string(),
                        source,
                    })?;
                let target = Target::External {
                    kubeconfig: path,
                    config: Box::new(config),
                };
                (target, client)
            }
        };
        let mut env = TestEnv {
            target,
            client,
            namespace: String::new(),
            namespaces: Mutex::new(Vec::new()),
            stopped: false,
        };
        env.install_crds(self.crds).await?;
        for dir in &self.crd_dirs {
            env.install_crds_from_dir(dir).await?;
        }
        env.namespace = env.create_namespace().await?;
        Ok(env)
    }
}

async fn external_config(path: &Path) -> Result<kube::Config, Error> {
    let err = |message: String| Error::ReadKubeconfig {
        path: path.to_path_buf(),
        message,
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| err(error_chain(&e)))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| err(error_chain(&e)))
}

/// An error with its sources, for messages that must say why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The fault-injection hooks of the embedded server (see [`TestEnv::faults`]); each method is
/// the [`Environment`] method of the same name.
#[derive(Debug, Clone, Copy)]
pub struct Faults<'a> {
    env: &'a Environment,
}

impl Faults<'_> {
    /// [`Environment::inject`].
    pub fn inject(&self, fault: Fault) {
        self.env.inject(fault);
    }

    /// [`Environment::fail_requests`].
    pub fn fail_requests(&self, count: usize, code: u16) {
        self.env.fail_requests(count, code);
    }

    /// [`Environment::set_latency`].
    pub fn set_latency(&self, latency: Duration) {
        self.env.set_latency(latency);
    }

    /// [`Environment::drop_watches`].
    pub fn drop_watches(&self) {
        self.env.drop_watches();
    }

    /// [`Environment::compact_history`].
    pub fn compact_history(&self) {
        self.env.compact_history();
    }

    /// [`Environment::set_reviews`]: how TokenReviews and SubjectAccessReviews are answered.
    pub fn set_reviews(&self, reviews: Reviews) {
        self.env.set_reviews(reviews);
    }

    /// [`Environment::injected_failures`].
    pub fn injected_failures(&self) -> Vec<InjectedFailure> {
        self.env.injected_failures()
    }
}

impl TestEnv {
    /// A builder to give CRDs, pick the cluster explicitly or configure the embedded server.
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder::default()
    }

    /// Starts with the defaults: the embedded server, or the cluster `KUBESMITH_TEST_KUBECONFIG`
    /// names.
    pub async fn start() -> Result<TestEnv, Error> {
        Self::builder().start().await
    }

    /// A client for the embedded server or the cluster.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The namespace created for this test (`test-<random>`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether the test runs against a real cluster (`KUBESMITH_TEST_KUBECONFIG`).
    pub fn is_external(&self) -> bool {
        matches!(self.target, Target::External { .. })
    }

    /// The kubeconfig of the real cluster, if one is used.
    pub fn external_kubeconfig(&self) -> Option<&Path> {
        match &self.target {
            Target::External { kubeconfig, .. } => Some(kubeconfig),
            Target::Embedded(_) => None,
        }
    }

    /// The embedded server, or `None` on a real cluster.
    pub fn embedded(&self) -> Option<&Environment> {
        match &self.target {
            Target::Embedded(env) => env.as_ref(),
            Target::External { .. } => None,
        }
    }

    /// The fault-injection hooks, or `None` on a real cluster: there, the parts of a test that
    /// need them are skipped (`let Some(faults) = env.faults() else { return };`).
    pub fn faults(&self) -> Option<Faults<'_>> {
        self.embedded().map(|env| Faults { env })
    }

    /// Creates another fresh namespace (`test-<random>`), deleted with the test's own at the
    /// end on a cluster, and returns its name.
    pub async fn create_namespace(&self) -> Result<String, Error> {
        let namespaces: Api<Namespace> = Api::all(self.client());
        let mut ns = Namespace::default();
        ns.metadata.generate_name = Some("test-".into());
        ns.metadata.labels = Some(
            [(TEST_NAMESPACE_LABEL.0.into(), TEST_NAMESPACE_LABEL.1.into())]
                .into_iter()
                .collect(),
        );
        let created = namespaces
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|source| Error::Request {
                action: "creating a test namespace".into(),
                source,
            })?;
        let name = created.metadata.name.unwrap_or_default();
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        Ok(name)
    }

    /// Installs CRDs: on the embedded server as [`Environment::install_crds`]; on a cluster by
    /// server-side apply (forced, field manager [`TEST_FIELD_MANAGER`]), then waits until each
    /// is `Established` and its versions are served.
    pub async fn install_crds(
        &self,
        crds: impl IntoIterator<Item = CustomResourceDefinition>,
    ) -> Result<(), Error> {
        let crds: Vec<CustomResourceDefinition> = crds.into_iter().collect();
        if let Some(env) = self.embedded() {
            return env.install_crds(crds).await;
        }
        let api: Api<CustomResourceDefinition> = Api::all(self.client());
        for mut crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            crd.metadata.resource_version = None;
            crd.metadata.managed_fields = None;
            crd.status = None;
            let params = PatchParams::apply(TEST_FIELD_MANAGER).force();
            api.patch(&name, &params, &Patch::Apply(&crd))
                .await
                .map_err(|source| Error::InstallCrd {
                    name: name.clone(),
                    source,
                })?;
            self.wait_established(&api, &name).await?;
            for v in crd.spec.versions.iter().filter(|v| v.served) {
                self.wait_served(&crd, &v.name).await?;
            }
        }
        Ok(())
    }

    async fn wait_established(
        &self,
        api: &Api<CustomResourceDefinition>,
        name: &str,
    ) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + CRD_ESTABLISH_TIMEOUT;
        loop {
            let crd = api.get(name).await.map_err(|source| Error::InstallCrd {
                name: name.to_string(),
                source,
            })?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            if let Some(c) = conditions
                .iter()
                .find(|c| c.type_ == "NamesAccepted" && c.status == "False")
            {
                return Err(Error::CrdRejected {
                    name: name.to_string(),
                    reason: c.message.clone().unwrap_or_default(),
                });
            }
            if conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::CrdNotServed {
                    name: name.to_string(),
                    resource: "the Established condition".into(),
                    seconds: CRD_ESTABLISH_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_served(
        &self,
        crd: &CustomResourceDefinition,
        version: &str,
    ) -> Result<(), Error> {
        let gvk = GroupVersionKind::gvk(&crd.spec.group, version, &crd.spec.names.kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
        let api: Api<DynamicObject> = Api::all_with(self.client(), &ar);
        let deadline = tokio::time::Instant::now() + CRD_ESTABLISH_TIMEOUT;
        while api.list(&ListParams::default().limit(1)).await.is_err() {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::CrdNotServed {
                    name: crd.metadata.name.clone().unwrap_or_default(),
                    resource: format!("{}/{version}/{}", crd.spec.group, crd.spec.names.plural),
                    seconds: CRD_ESTABLISH_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Installs every CustomResourceDefinition in the `*.yaml`/`*.yml` files of `dir` (as
    /// [`Environment::install_crds_from_dir`] reads them), as [`TestEnv::install_crds`] does.
    pub async fn install_crds_from_dir(&self, dir: &Path) -> Result<(), Error> {
        let crds = crate::read_crd_dir(dir)?;
        self.install_crds(crds).await
    }

    /// Makes sure a Deployment is rolled out and available, and returns it. The embedded
    /// server has no Deployment controller or kubelet, so there it writes what they would
    /// ([`Environment::mark_deployment_ready`]); on a cluster it waits (up to 5 minutes) until
    /// the cluster's controllers report every replica of the current generation available.
    pub async fn deployment_ready(&self, namespace: &str, name: &str) -> Result<Deployment, Error> {
        if let Some(env) = self.embedded() {
            return env.mark_deployment_ready(namespace, name).await;
        }
        let deployments: Api<Deployment> = Api::namespaced(self.client(), namespace);
        crate::eventually(DEPLOYMENT_READY_TIMEOUT, || async {
            let d = deployments.get(name).await.map_err(|e| e.to_string())?;
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let status = d.status.clone().unwrap_or_default();
            let current = status.observed_generation >= d.metadata.generation;
            let available = status.available_replicas.unwrap_or(0);
            let updated = status.updated_replicas.unwrap_or(0);
            if current && available >= want && updated >= want {
                Ok(d)
            } else {
                Err(format!(
                    "deployment {namespace}/{name}: {available}/{want} available, {updated} updated"
                ))
            }
        })
        .await
    }

    /// Ends the test: deletes its namespaces on a cluster (without waiting for them to be
    /// gone), or stops the embedded server.
    pub async fn stop(mut self) {
        self.stopped = true;
        let namespaces =
            std::mem::take(&mut *self.namespaces.lock().unwrap_or_else(|e| e.into_inner()));
        match &mut self.target {
            Target::Embedded(env) => {
                if let Some(env) = env.take() {
                    env.stop().await;
                }
            }
            Target::External { .. } => delete_namespaces(&self.client, &namespaces).await,
        }
    }
}

async fn delete_namespaces(client: &kube::Client, names: &[String]) {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in names {
        if let Err(e) = api.delete(name, &DeleteParams::background()).await {
            tracing::warn!(namespace = %name, error = %e, "could not delete a test namespace");
        }
    }
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("external", &self.external_kubeconfig())
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let Target::External { config, .. } = &self.target else {
            return; // The Environment's own Drop stops the server.
        };
        let namespaces =
            std::mem::take(&mut *self.namespaces.lock().unwrap_or_else(|e| e.into_inner()));
        if namespaces.is_empty() {
            return;
        }
        // The test's runtime may be the current thread, blocked here: clean up from a thread of
        // our own with its own runtime and client, and wait for it (bounded).
        let config = (**config).clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(client) = kube::Client::try_from(config) else {
                    return;
                };
                let _ = tokio::time::timeout(
                    Duration::from_secs(30),
                    delete_namespaces(&client, &namespaces),
                )
                .await;
            });
        });
        let _ = cleanup.join();
    }
}
