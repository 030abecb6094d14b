//! The manager: owns the client and the shared cache, runs every controller, serves health
//! probes, and shuts everything down gracefully (controller-runtime's `manager` package).

mod flags;
mod probes;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use flags::{Flags, LogFormat};

use crate::Error;
use crate::cache::Cache;
use crate::leaderelection::{Campaign, LeaderElectionConfig, LeaderElector};
use crate::metrics::Metrics;
use crate::webhook::WebhookServer;

/// Settings of a [`Manager`]. Build it from command-line [`Flags`] or start from `Default`:
///
/// ```
/// use std::time::Duration;
/// use kubesmith_runtime::Options;
///
/// let options = Options {
///     health_probe_bind_address: Some("127.0.0.1:8081".parse().unwrap()),
///     leader_election: true,
///     ..Options::default()
/// }
/// .or_leader_election_id("memcached-operator-leader");
/// assert_eq!(options.leader_election_id.as_deref(), Some("memcached-operator-leader"));
/// // fits the scaffolded manifest's terminationGracePeriodSeconds of 10
/// assert_eq!(Options::default().graceful_shutdown_timeout, Duration::from_secs(8));
/// assert_eq!(Options::default().lease_duration, Duration::from_secs(15));
/// assert!(Options::default().health_probe_bind_address.is_none());
/// assert!(Options::default().metrics_bind_address.is_none());
/// assert_eq!(Options::default().webhook_port, 9443);
/// assert!(Options::default().enable_webhooks);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Where to serve `/healthz` and `/readyz`; `None` (the default) serves nothing.
    pub health_probe_bind_address: Option<SocketAddr>,
    /// Where to serve `/metrics`; `None` (the default) serves nothing.
    pub metrics_bind_address: Option<SocketAddr>,
    /// Serve metrics over HTTPS, only to callers whose bearer token passes a TokenReview and
    /// whose SubjectAccessReview allows `get` on `/metrics` (default `true`, as kubebuilder).
    pub metrics_secure: bool,
    /// Directory holding the metrics server's certificate and key; `None` uses a self-signed
    /// certificate.
    pub metrics_cert_path: Option<PathBuf>,
    /// File name of the certificate in `metrics_cert_path` (default `tls.crt`).
    pub metrics_cert_name: String,
    /// File name of the key in `metrics_cert_path` (default `tls.key`).
    pub metrics_cert_key: String,
    /// Allow HTTP/2 on the metrics server (default `false`: HTTP/2 Rapid Reset and Stream
    /// Cancellation CVEs, as kubebuilder).
    pub enable_http2: bool,
    /// How long in-flight reconciles may take to finish after shutdown was requested. The
    /// default, 8 s, leaves time to release the lease within the scaffolded manifest's
    /// `terminationGracePeriodSeconds: 10` (controller-runtime's 30 s would be cut short by
    /// the kubelet's SIGKILL).
    pub graceful_shutdown_timeout: Duration,
    /// Run controllers only while holding the leader Lease (default `false`). Caches and
    /// probes run either way, so a standby is Ready and takes over warm.
    pub leader_election: bool,
    /// Name of the leader Lease. `None` uses `<executable name>-leader`; generated operators
    /// pass `<project>-leader` through [`or_leader_election_id`](Self::or_leader_election_id).
    pub leader_election_id: Option<String>,
    /// Namespace of the leader Lease. `None`: `$POD_NAMESPACE`, else the service account's
    /// namespace when running in a pod, else `default`.
    pub leader_election_namespace: Option<String>,
    /// How long a lease stays valid after it was last seen renewed (default 15 s).
    pub lease_duration: Duration,
    /// Watch namespaced types only in this namespace (`$WATCH_NAMESPACE` through [`Flags`];
    /// projects made with `init --namespaced`). `None` (the default) watches all namespaces.
    pub watch_namespace: Option<String>,
    /// How long a leader retries a failing renewal before giving up (default 10 s).
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and leaders renew the lease (default 2 s).
    pub retry_period: Duration,
    /// Serve the registered webhooks (default `true`; `ENABLE_WEBHOOKS=false` through
    /// [`Flags`] turns it off, as kubebuilder's `main.go` does for local runs).
    pub enable_webhooks: bool,
    /// The webhook server's port (default 9443; 0 lets the system choose, see
    /// [`WebhookServer::local_addr`]).
    pub webhook_port: u16,
    /// The address the webhook server listens on (default all IPv4 interfaces).
    pub webhook_host: IpAddr,
    /// Directory holding the webhook server's certificate and key. `None` uses
    /// controller-runtime's default `$TMPDIR/k8s-webhook-server/serving-certs` if both files
    /// are there, else a self-signed certificate for `localhost` (written there for local
    /// runs when the directory holds neither file).
    pub webhook_cert_path: Option<PathBuf>,
    /// File name of the certificate in the certificate directory (default `tls.crt`).
    pub webhook_cert_name: String,
    /// File name of the key in the certificate directory (default `tls.key`).
    pub webhook_cert_key: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            health_probe_bind_address: None,
            metrics_bind_address: None,
            metrics_secure: true,
            metrics_cert_path: None,
            metrics_cert_name: "tls.crt".to_owned(),
            metrics_cert_key: "tls.key".to_owned(),
            enable_http2: false,
            graceful_shutdown_timeout: Duration::from_secs(8),
            leader_election: false,
            leader_election_id: None,
            leader_election_namespace: None,
            lease_duration: Duration::from_secs(15),
            watch_namespace: None,
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            enable_webhooks: true,
            webhook_port: 9443,
            webhook_host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            webhook_cert_path: None,
            webhook_cert_name: "tls.crt".to_owned(),
            webhook_cert_key: "tls.key".to_owned(),
        }
    }
}

impl Options {
    /// Sets the leader Lease name unless one was given (e.g. by `--leader-election-id`).
    pub fn or_leader_election_id(mut self, id: impl Into<String>) -> Self {
        if self.leader_election_id.is_none() {
            self.leader_election_id = Some(id.into());
        }
        self
    }

    /// The leader election this manager runs, with names resolved from the environment.
    fn leader_election_config(&self, identity: &str) -> LeaderElectionConfig {
        let name = self.leader_election_id.clone().unwrap_or_else(|| {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "kubesmith".to_owned());
            format!("{exe}-leader")
        });
        let namespace = self
            .leader_election_namespace
            .clone()
            .unwrap_or_else(default_leader_election_namespace);
        LeaderElectionConfig {
            identity: identity.to_owned(),
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
            ..LeaderElectionConfig::new(name, namespace)
        }
    }
}

/// `$POD_NAMESPACE`, else the pod's service account namespace, else `default`.
fn default_leader_election_namespace() -> String {
    const IN_CLUSTER: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|ns| !ns.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string(IN_CLUSTER)
                .ok()
                .map(|ns| ns.trim().to_owned())
                .filter(|ns| !ns.is_empty())
        })
        .unwrap_or_else(|| "default".to_owned())
}

/// Runs controllers: one client, one shared [`Cache`], leader election, metrics, health probes
/// and graceful shutdown.
///
/// Cloning gives another handle to the same manager.
///
/// ```no_run
/// use kubesmith_runtime::{Manager, Options};
///
/// # async fn doc() -> Result<(), kubesmith_runtime::Error> {
/// let mgr = Manager::from_env(Options::default()).await?;
/// // Controller::managed_by(&mgr).for_::<MyKind>().complete(MyReconciler)?;
/// mgr.run().await // until SIGTERM or SIGINT
/// # }
/// ```
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    cache: Cache,
    options: Options,
    /// `<hostname>_<uuid>`: this manager's leader election identity.
    identity: String,
    metrics: Metrics,
    webhooks: WebhookServer,
    checks: probes::Checks,
    controllers: Mutex<Controllers>,
}

#[derive(Default)]
struct Controllers {
    names: HashSet<String>,
    runnables: Vec<Arc<dyn Runnable>>,
    /// Set while the manager runs; controllers registered then start at once.
    running: Option<RunContext>,
    started: bool,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let controllers = lock(&self.inner.controllers);
        let mut names: Vec<_> = controllers.names.iter().collect();
        names.sort();
        f.debug_struct("Manager")
            .field("options", &self.inner.options)
            .field("controllers", &names)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// What the manager hands a starting controller.
#[derive(Clone)]
pub(crate) struct RunContext {
    /// Worker tasks; the manager waits for them on shutdown.
    pub(crate) tasks: TaskTracker,
    /// Cancelled on shutdown: stop taking new work.
    pub(crate) stop: CancellationToken,
    /// Cancelled when the graceful shutdown timeout expires: drop in-flight reconciles.
    pub(crate) abort: CancellationToken,
    /// The runtime `run_until` runs on; controllers registered later from any thread use it.
    pub(crate) runtime: tokio::runtime::Handle,
}

/// Stops everything still running if `run_until`'s future is dropped before it finished
/// (the normal path has already done all of this, and cancelling twice is harmless).
struct StopOnDrop {
    cache: Cache,
    tokens: Vec<CancellationToken>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for token in &self.tokens {
            token.cancel();
        }
        self.cache.cancel();
    }
}

/// Something the manager starts and stops: a controller.
pub(crate) trait Runnable: Send + Sync + 'static {
    fn start(self: Arc<Self>, run: &RunContext);
    fn shutdown(&self);
}

/// Why the manager stops.
enum Stop {
    /// The shutdown future completed (or a signal arrived).
    Requested,
    /// The leader lease could not be renewed.
    LeadershipLost,
}

impl Manager {
    /// A manager talking to the cluster through `client`.
    ///
    /// `rest_client_requests_total` is recorded only for clients made by
    /// [`from_env`](Self::from_env); wrap your own with [`metrics::RestClientMetricsLayer`](crate::metrics::RestClientMetricsLayer)
    /// and use [`with_metrics`](Self::with_metrics) to get it here too.
    pub fn new(client: Client, options: Options) -> Self {
        Self::with_metrics(client, options, Metrics::new())
    }

    /// A manager recording its metrics in `metrics`.
    pub fn with_metrics(client: Client, options: Options, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                cache: Cache::with_namespace(client.clone(), options.watch_namespace.clone()),
                client,
                options,
                identity: crate::leaderelection::default_identity(),
                webhooks: WebhookServer::new(&metrics),
                metrics,
                checks: probes::Checks::default(),
                controllers: Mutex::new(Controllers::default()),
            }),
        }
    }

    /// A manager for the cluster of the environment: the kubeconfig (`$KUBECONFIG` or
    /// `~/.kube/config`), or the in-cluster service account when running in a pod. Its client
    /// records `rest_client_requests_total`.
    pub async fn from_env(options: Options) -> Result<Self, Error> {
        let config_error = |source| Error::ClientConfig {
            tried: describe_config_sources(),
            source,
        };
        let config = kube::Config::infer()
            .await
            .map_err(|err| config_error(kube::Error::InferConfig(err)))?;
        let metrics = Metrics::new();
        let layer =
            crate::metrics::RestClientMetricsLayer::new(metrics.clone(), &config.cluster_url);
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(config_error)?
            .with_layer(&layer)
            .build();
        Ok(Self::with_metrics(client, options, metrics))
    }

    /// The client every controller of this manager uses.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The cache shared by every controller of this manager.
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    /// The options this manager was created with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// This manager's leader election identity, `<hostname>_<uuid>`: what the Lease's
    /// `spec.holderIdentity` shows while it leads.
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// The metrics registry served on `/metrics`; register your own metrics here.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The server of the webhooks registered with
    /// [`Webhook::managed_by`](crate::webhook::Webhook::managed_by): where it listens and
    /// which CA to trust, for tests and local runs.
    pub fn webhook_server(&self) -> WebhookServer {
        self.inner.webhooks.clone()
    }

    /// Adds a liveness check, served on `/healthz` (and alone on `/healthz/<name>`). The
    /// check runs on every probe and must be quick; an `Err` fails the probe (its text is
    /// shown only on the single-check path). Fails if a check of that name exists.
    ///
    /// ```
    /// # async fn doc(client: kube::Client) -> Result<(), kubesmith_runtime::Error> {
    /// use kubesmith_runtime::{Manager, Options};
    ///
    /// let mgr = Manager::new(client, Options::default());
    /// mgr.add_healthz_check("worker-heartbeat", || Ok::<(), String>(()))?;
    /// assert!(mgr.add_healthz_check("worker-heartbeat", || Ok::<(), String>(())).is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_healthz_check<E: std::fmt::Display>(
        &self,
        name: impl Into<String>,
        check: impl Fn() -> Result<(), E> + Send + Sync + 'static,
    ) -> Result<(), Error> {
        self.inner
            .checks
            .add(probes::Endpoint::Healthz, name.into(), check)
    }

    /// Adds a readiness check, served on `/readyz` (and alone on `/readyz/<name>`), next to
    /// the built-in `ping` and `informer-sync`. Readiness must not depend on holding the
    /// leader lease: a standby that never turns Ready blocks rolling updates.
    pub fn add_readyz_check<E: std::fmt::Display>(
        &self,
        name: impl Into<String>,
        check: impl Fn() -> Result<(), E> + Send + Sync + 'static,
    ) -> Result<(), Error> {
        self.inner
            .checks
            .add(probes::Endpoint::Readyz, name.into(), check)
    }

    /// Registers the controller `build` makes, unless the name is taken; it is built only
    /// after the check so a rejected controller creates no informer.
    pub(crate) fn register_controller(
        &self,
        name: String,
        build: impl FnOnce() -> Arc<dyn Runnable>,
    ) -> Result<(), Error> {
        let mut controllers = lock(&self.inner.controllers);
        if !controllers.names.insert(name.clone()) {
            return Err(Error::InvalidController {
                name,
                reason: "another controller of this manager has the same name; choose one with `.named(..)`".into(),
            });
        }
        let runnable = build();
        if let Some(run) = &controllers.running {
            Arc::clone(&runnable).start(run);
        }
        controllers.runnables.push(runnable);
        Ok(())
    }

    /// Runs until the process receives SIGTERM or SIGINT (Ctrl-C), then shuts down gracefully.
    /// A second signal during the graceful shutdown exits the process at once (status 1).
    pub async fn run(self) -> Result<(), Error> {
        let signal = shutdown_signal().map_err(Error::Signal)?;
        self.run_until(signal).await
    }

    /// Runs until `shutdown` completes, then shuts down gracefully.
    ///
    /// Serves the health probes and metrics if configured, and the webhooks if any are
    /// registered (unless [`Options::enable_webhooks`] is off), starts the informers and (with
    /// [`Options::leader_election`]) campaigns for the leader lease. Controllers start once
    /// the caches are synced and the lease is held. On shutdown, workers stop taking new
    /// requests and in-flight reconciles get [`Options::graceful_shutdown_timeout`] to finish
    /// (the lease is renewed meanwhile); then the lease is released, and the queues and
    /// informers stop.
    ///
    /// Returns an error if an address cannot be bound, the leader election is misconfigured,
    /// the lease was lost (controllers are stopped at once, in-flight reconciles dropped), or
    /// in-flight reconciles had to be abandoned (the lease is then left to expire, so no
    /// other replica starts while they might still be writing).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let mut shutdown = pin!(shutdown);
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::NoRuntime("Manager::run_until"))?;
        let options = &self.inner.options;
        let elector = if options.leader_election {
            let config = options.leader_election_config(&self.inner.identity);
            Some(LeaderElector::new(self.inner.client.clone(), config)?)
        } else {
            None
        };
        {
            let mut controllers = lock(&self.inner.controllers);
            if controllers.started {
                return Err(Error::AlreadyRunning);
            }
            controllers.started = true;
        }
        let run = RunContext {
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
            runtime,
        };
        let servers_stop = CancellationToken::new();
        let _stop_on_drop = StopOnDrop {
            cache: self.inner.cache.clone(),
            tokens: vec![run.stop.clone(), run.abort.clone(), servers_stop.clone()],
        };
        let mut servers = Vec::new();
        if let Some(addr) = options.health_probe_bind_address {
            let checks = probes::ProbeState {
                cache: self.inner.cache.clone(),
                checks: self.inner.checks.clone(),
            };
            servers.push(probes::serve(addr, checks, servers_stop.clone()).await?);
        }
        if let Some(addr) = options.metrics_bind_address {
            let server = crate::metrics::serve(
                addr,
                self.inner.metrics.clone(),
                crate::metrics::ServeOptions::from_manager(options, &self.inner.client),
                servers_stop.clone(),
            )
            .await?;
            servers.push(server.1);
        }
        // Before the caches start: a cache of a kind with a conversion webhook only syncs
        // once the webhook answers. Served by every replica, leader or not.
        if options.enable_webhooks && self.inner.webhooks.has_webhooks() {
            servers.push(
                self.inner
                    .webhooks
                    .start(options, servers_stop.clone())
                    .await?,
            );
        }

        self.inner.cache.start()?;
        let campaign = elector.map(|elector| {
            let status = self.inner.metrics.leader_status(&elector.config().name);
            Campaign::start(elector, status)
        });
        let leading = async {
            if let Some(campaign) = &campaign {
                campaign.leading().await;
            }
        };
        let lost = async {
            match &campaign {
                Some(campaign) => campaign.lost().await,
                None => std::future::pending().await,
            }
        };
        // Boxed, not pinned on the stack, so it can be dropped before the campaign resigns.
        let mut lost = Box::pin(lost);

        let ready = tokio::select! {
            ((), ()) = futures::future::join(self.inner.cache.wait_for_sync(), leading) => true,
            () = &mut shutdown => false,
        };
        let mut stop = Stop::Requested;
        if ready {
            tracing::info!("caches synced; starting controllers");
            {
                let mut controllers = lock(&self.inner.controllers);
                for runnable in &controllers.runnables {
                    Arc::clone(runnable).start(&run);
                }
                controllers.running = Some(run.clone());
            }
            stop = tokio::select! {
                () = &mut shutdown => Stop::Requested,
                () = &mut lost => Stop::LeadershipLost,
            };
        }

        let runnables = {
            let mut controllers = lock(&self.inner.controllers);
            controllers.running = None;
            controllers.runnables.clone()
        };
        run.stop.cancel();
        run.tasks.close();
        let timeout = self.inner.options.graceful_shutdown_timeout;
        let result = match stop {
            Stop::LeadershipLost => {
                // Another replica may lead already: stop writing now, as controller-runtime
                // skips the graceful shutdown when the lease is lost.
                run.abort.cancel();
                run.tasks.wait().await;
                Err(self.lost_error())
            }
            Stop::Requested => {
                tracing::info!("shutting down: waiting for in-flight reconciles");
                tokio::select! {
                    finished = tokio::time::timeout(timeout, run.tasks.wait()) => match finished {
                        Ok(()) => Ok(()),
                        Err(_) => {
                            run.abort.cancel();
                            run.tasks.wait().await;
                            Err(Error::GracefulShutdownTimeout(timeout))
                        }
                    },
                    () = &mut lost => {
                        run.abort.cancel();
                        run.tasks.wait().await;
                        Err(self.lost_error())
                    }
                }
            }
        };
        drop(lost);
        if let Some(campaign) = campaign {
            // Released only when no reconcile can still be writing; otherwise it expires.
            campaign.resign(result.is_ok()).await;
        }
        for runnable in &runnables {
            runnable.shutdown();
        }
        self.inner.cache.stop().await;
        servers_stop.cancel();
        for server in servers {
            if let Ok(Err(err)) = server.await {
                tracing::warn!(error = %err, "probe, metrics or webhook server failed");
            }
        }
        tracing::info!("manager stopped");
        result
    }

    fn lost_error(&self) -> Error {
        let config = self
            .inner
            .options
            .leader_election_config(&self.inner.identity);
        Error::LeaderElectionLost {
            lease: config.name,
            namespace: config.namespace,
        }
    }
}

/// Completes on SIGTERM or SIGINT; after that, a second one exits the process at once with
/// status 1, as controller-runtime's signal handler.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = int.recv() => tracing::info!("received SIGINT; shutting down gracefully (send again to exit at once)"),
                _ = term.recv() => tracing::info!("received SIGTERM; shutting down gracefully (send again to exit at once)"),
            }
            tokio::spawn(async move {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                eprintln!(
                    "received a second signal; exiting without waiting for in-flight reconciles"
                );
                std::process::exit(1);
            });
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("received Ctrl-C; shutting down gracefully");
            tokio::spawn(async {
                let _ = tokio::signal::ctrl_c().await;
                std::process::exit(1);
            });
        }
    })
}

/// Says which client configurations were looked for, for the error when none works.
fn describe_config_sources() -> String {
    let kubeconfig = match std::env::var_os("KUBECONFIG") {
        Some(path) => format!("$KUBECONFIG={}", path.to_string_lossy()),
        None => {
            let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
            match home {
                Some(home) => {
                    let path = home.join(".kube").join("config");
                    let state = if path.exists() { "present" } else { "missing" };
                    format!("$KUBECONFIG unset, {} {state}", path.display())
                }
                None => "$KUBECONFIG unset, $HOME unset".to_owned(),
            }
        }
    };
    let in_cluster = match std::env::var_os("KUBERNETES_SERVICE_HOST") {
        Some(_) => "in-cluster service account (KUBERNETES_SERVICE_HOST set)",
        None => "in-cluster service account not available (KUBERNETES_SERVICE_HOST unset)",
    };
    format!("tried kubeconfig ({kubeconfig}) and {in_cluster}")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
