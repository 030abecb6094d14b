//! The manager: owns the client and the shared cache, runs every controller, serves health
//! probes, and shuts everything down gracefully (controller-runtime's `manager` package).

mod flags;
mod probes;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use flags::{Flags, LogFormat};

use crate::Error;
use crate::cache::Cache;

/// Settings of a [`Manager`]. Build it from command-line [`Flags`] or start from `Default`:
///
/// ```
/// use std::time::Duration;
/// use kubesmith_runtime::Options;
///
/// let options = Options {
///     health_probe_bind_address: Some("127.0.0.1:8081".parse().unwrap()),
///     graceful_shutdown_timeout: Duration::from_secs(10),
/// };
/// assert_eq!(Options::default().graceful_shutdown_timeout, Duration::from_secs(30));
/// assert!(Options::default().health_probe_bind_address.is_none());
/// # let _ = options;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Where to serve `/healthz` and `/readyz`; `None` (the default) serves nothing.
    pub health_probe_bind_address: Option<SocketAddr>,
    /// How long in-flight reconciles may take to finish after shutdown was requested
    /// (default 30 s, as controller-runtime).
    pub graceful_shutdown_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            health_probe_bind_address: None,
            graceful_shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Runs controllers: one client, one shared [`Cache`], health probes and graceful shutdown.
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

impl Manager {
    /// A manager talking to the cluster through `client`.
    pub fn new(client: Client, options: Options) -> Self {
        Self {
            inner: Arc::new(Inner {
                cache: Cache::new(client.clone()),
                client,
                options,
                controllers: Mutex::new(Controllers::default()),
            }),
        }
    }

    /// A manager for the cluster of the environment: the kubeconfig (`$KUBECONFIG` or
    /// `~/.kube/config`), or the in-cluster service account when running in a pod.
    pub async fn from_env(options: Options) -> Result<Self, Error> {
        match Client::try_default().await {
            Ok(client) => Ok(Self::new(client, options)),
            Err(source) => Err(Error::ClientConfig {
                tried: describe_config_sources(),
                source,
            }),
        }
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
    pub async fn run(self) -> Result<(), Error> {
        let signal = shutdown_signal().map_err(Error::Signal)?;
        self.run_until(signal).await
    }

    /// Runs until `shutdown` completes, then shuts down gracefully.
    ///
    /// Starts the informers, waits until their caches are synced, starts the controllers, and
    /// serves the health probes if configured. On shutdown, workers stop taking new requests,
    /// in-flight reconciles get [`Options::graceful_shutdown_timeout`] to finish, then the
    /// queues and informers stop. Returns an error if the probe address cannot be bound or
    /// in-flight reconciles had to be abandoned.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let mut shutdown = pin!(shutdown);
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::NoRuntime("Manager::run_until"))?;
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
        let probes_stop = CancellationToken::new();
        let _stop_on_drop = StopOnDrop {
            cache: self.inner.cache.clone(),
            tokens: vec![run.stop.clone(), run.abort.clone(), probes_stop.clone()],
        };
        let probes = match self.inner.options.health_probe_bind_address {
            Some(addr) => {
                Some(probes::serve(addr, self.inner.cache.clone(), probes_stop.clone()).await?)
            }
            None => None,
        };

        self.inner.cache.start()?;
        let synced = tokio::select! {
            () = self.inner.cache.wait_for_sync() => true,
            () = &mut shutdown => false,
        };

        if synced {
            tracing::info!("caches synced; starting controllers");
            {
                let mut controllers = lock(&self.inner.controllers);
                for runnable in &controllers.runnables {
                    Arc::clone(runnable).start(&run);
                }
                controllers.running = Some(run.clone());
            }
            shutdown.await;
        }

        tracing::info!("shutting down: waiting for in-flight reconciles");
        let runnables = {
            let mut controllers = lock(&self.inner.controllers);
            controllers.running = None;
            controllers.runnables.clone()
        };
        run.stop.cancel();
        run.tasks.close();
        let timeout = self.inner.options.graceful_shutdown_timeout;
        let result = match tokio::time::timeout(timeout, run.tasks.wait()).await {
            Ok(()) => Ok(()),
            Err(_) => {
                run.abort.cancel();
                run.tasks.wait().await;
                Err(Error::GracefulShutdownTimeout(timeout))
            }
        };
        for runnable in &runnables {
            runnable.shutdown();
        }
        self.inner.cache.stop().await;
        probes_stop.cancel();
        if let Some(probes) = probes
            && let Err(err) = probes.await
        {
            tracing::warn!(error = %err, "health probe server task failed");
        }
        tracing::info!("manager stopped");
        result
    }
}

/// Completes on SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
            _ = term.recv() => tracing::info!("received SIGTERM"),
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("received Ctrl-C");
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
