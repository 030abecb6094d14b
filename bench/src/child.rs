//! The measurements that talk to the API server. Each runs in its own child process for one
//! side (kubesmith or kube-runtime), so memory and CPU readings belong to that side alone.
//!
//! Both sides get the same client (kube 5, built from the same kubeconfig), the same
//! multi-threaded tokio runtime, the same watch configuration (`watcher::Config::default()`,
//! all namespaces) and the same reconciler body; only the cache/queue/controller differs.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use kubesmith_runtime::prelude::{Context, ReconcileError, Reconciler};
use kubesmith_runtime::{Controller, Manager, Options};
use tokio::sync::Notify;

use crate::Side;

/// Figures of one child run, printed as one `RESULT {json}` line for the parent.
pub type Figures = BTreeMap<String, f64>;

/// The annotation the throughput reconcile writes.
pub const ROUND_ANNOTATION: &str = "bench.kubesmith.io/round";
/// The annotation the latency writer stamps with its send time (ns since the Unix epoch).
pub const SENT_ANNOTATION: &str = "bench.kubesmith.io/sent-ns";

pub async fn client(kubeconfig: &Path) -> Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading kubeconfig {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", kubeconfig.display()))?;
    Client::try_from(config).context("building the kube client")
}

/// Same warm-up for both sides before the memory baseline: one small request, so the
/// client's connection pool and TLS-less HTTP stack are already in the baseline.
async fn warm_up(client: &Client, namespace: &str) -> Result<()> {
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().limit(1))
        .await
        .context("warm-up list")?;
    Ok(())
}

/// How a sync child reads its memory: the resident set from procfs (`kubesmith-bench`), or
/// the live heap from dhat's counting allocator (`kubesmith-bench-heap`).
pub struct Probe {
    /// Current and peak-since-reset bytes.
    pub read: fn() -> Result<crate::procfs::Memory>,
    /// Resets the peak to the current value (a no-op where the peak cannot be reset: the
    /// baseline taken just before is then the floor, and the sync's peak dominates anyway).
    pub reset: fn() -> Result<()>,
}

impl Probe {
    pub const RSS: Probe = Probe {
        read: crate::procfs::memory,
        reset: crate::procfs::reset_peak,
    };
}

/// Runs the sync figure in this process and prints its `RESULT` line.
pub fn sync_child(t: &crate::Target, probe: &Probe) -> Result<()> {
    let figures =
        crate::runtime()?.block_on(sync(t.side, t.kind, &t.kubeconfig, &t.namespace, probe))?;
    println!("RESULT {}", serde_json::to_string(&figures)?);
    Ok(())
}

/// Initial sync of every object of the set into the side's cache: time, memory growth,
/// peak growth.
pub async fn sync(
    side: Side,
    kind: crate::Kind,
    kubeconfig: &Path,
    namespace: &str,
    probe: &Probe,
) -> Result<Figures> {
    match kind {
        crate::Kind::ConfigMap => sync_of::<ConfigMap>(side, kubeconfig, namespace, probe).await,
        crate::Kind::Pod => sync_of::<Pod>(side, kubeconfig, namespace, probe).await,
    }
}

async fn sync_of<K>(
    side: Side,
    kubeconfig: &Path,
    namespace: &str,
    probe: &Probe,
) -> Result<Figures>
where
    K: kubesmith_runtime::cache::CacheResource + Clone,
{
    let client = client(kubeconfig).await?;
    warm_up(&client, namespace).await?;
    // Let the warm-up's transient allocations settle before the baseline.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = (probe.read)()?;
    (probe.reset)()?;
    let cpu_before = crate::procfs::cpu_seconds(0)?;
    let start = Instant::now();

    // Both stores are kept alive until the memory is read.
    let (objects, _keep): (usize, Box<dyn std::any::Any>) = match side {
        Side::Kubesmith => {
            let cache = kubesmith_runtime::cache::Cache::new(client);
            let store = cache.store::<K>();
            cache.start()?;
            cache.wait_for_sync().await;
            (store.len(), Box::new((cache, store)))
        }
        Side::KubeRuntime => {
            let (reader, writer) = reflector::store::<K>();
            let stream = reflector(
                writer,
                watcher(Api::<K>::all(client), watcher::Config::default()),
            )
            .default_backoff();
            let task = tokio::spawn(stream.for_each(|_| futures::future::ready(())));
            reader
                .wait_until_ready()
                .await
                .context("kube-runtime reflector writer dropped")?;
            (reader.len(), Box::new((reader, task)))
        }
    };
    let elapsed = start.elapsed();
    let cpu = crate::procfs::cpu_seconds(0)? - cpu_before;
    // The peak is read at once; the retained size after transient buffers were freed.
    let peak = (probe.read)()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = (probe.read)()?;
    drop(_keep);
    let per_object =
        |bytes: u64| bytes.saturating_sub(before.current) as f64 / objects.max(1) as f64;
    Ok(Figures::from([
        ("objects".into(), objects as f64),
        ("sync_seconds".into(), elapsed.as_secs_f64()),
        ("client_cpu_seconds".into(), cpu),
        ("baseline_bytes".into(), before.current as f64),
        (
            "retained_bytes_per_object".into(),
            per_object(after.current),
        ),
        (
            "peak_bytes_per_object".into(),
            per_object(peak.peak.max(after.peak)),
        ),
        ("after_sync_bytes".into(), after.current as f64),
        ("peak_bytes".into(), peak.peak.max(after.peak) as f64),
    ]))
}

/// Relist after 410 Gone: after the initial sync, the side's watch consumer is stalled while
/// `writes` updates go to the first half of the objects; the server's watch broadcast
/// overflows, the watch gets an in-stream 410 and both sides relist (kube's `watcher` does it,
/// with `default_backoff`). Measured: the RSS peak during the relist beyond the RSS after the
/// initial sync, per object, and the time from the end of the stall to the relisted store.
///
/// The relist is recognised without runtime hooks: kube-runtime's stream yields `InitDone`;
/// kubesmith replays every relisted object as `Updated`, and for an untouched object old and
/// new carry the same resourceVersion, which a watch event never does.
pub async fn relist(
    side: Side,
    kubeconfig: &Path,
    namespace: &str,
    objects: usize,
    writes: usize,
) -> Result<Figures> {
    use std::sync::atomic::AtomicBool;
    let client = client(kubeconfig).await?;
    warm_up(&client, namespace).await?;
    let paused = Arc::new(AtomicBool::new(false));
    let relisted = Arc::new(Notify::new());
    let touched = (objects / 2).max(1);
    let untouched = objects - touched;
    anyhow::ensure!(untouched > 0, "the relist figure needs at least 2 objects");
    let keep: Box<dyn std::any::Any> = match side {
        Side::Kubesmith => {
            let cache = kubesmith_runtime::cache::Cache::new(client.clone());
            let store = cache.store::<ConfigMap>();
            cache.start()?;
            cache.wait_for_sync().await;
            let (paused, relisted) = (Arc::clone(&paused), Arc::clone(&relisted));
            let same_rv = AtomicUsize::new(0);
            cache.add_event_handler::<ConfigMap>(move |n| {
                // Stalls the informer's task (a blocking sleep: handlers are synchronous).
                while paused.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if let kubesmith_runtime::cache::Notification::Updated { old, new } = n
                    && old.metadata.resource_version == new.metadata.resource_version
                    && same_rv.fetch_add(1, Ordering::SeqCst) + 1 == untouched
                {
                    relisted.notify_one();
                }
            });
            Box::new((cache, store))
        }
        Side::KubeRuntime => {
            let (reader, writer) = reflector::store::<ConfigMap>();
            let gate = Arc::clone(&paused);
            let stream = reflector(
                writer,
                watcher(
                    Api::<ConfigMap>::all(client.clone()),
                    watcher::Config::default(),
                )
                .default_backoff()
                .then(move |event| {
                    let gate = Arc::clone(&gate);
                    async move {
                        while gate.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        event
                    }
                }),
            );
            let done = Arc::clone(&relisted);
            let init_done = AtomicUsize::new(0);
            let task = tokio::spawn(stream.for_each(move |event| {
                // The first InitDone is the initial sync, the second the relist.
                if matches!(event, Ok(watcher::Event::InitDone))
                    && init_done.fetch_add(1, Ordering::SeqCst) == 1
                {
                    done.notify_one();
                }
                futures::future::ready(())
            }));
            reader
                .wait_until_ready()
                .await
                .context("kube-runtime reflector writer dropped")?;
            Box::new((reader, task))
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let synced = (crate::procfs::memory)()?;
    crate::procfs::reset_peak()?;

    paused.store(true, Ordering::SeqCst);
    drop(client);
    // The writer gets its own thread, runtime and connections: kubesmith's stall blocks one
    // of this runtime's workers, and a task parked in that worker's LIFO slot (tokio does not
    // steal it) could be the writer's connection, which would stall the writes too.
    let (kubeconfig, namespace) = (kubeconfig.to_owned(), namespace.to_owned());
    let writer = std::thread::spawn(move || -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let api = Api::<ConfigMap>::namespaced(crate::child::client(&kubeconfig).await?, &namespace);
            futures::stream::iter(0..writes)
                .map(|i| {
                    let api = api.clone();
                    async move {
                        let patch = serde_json::json!({"metadata": {"annotations": {"bench.kubesmith.io/relist": i.to_string()}}});
                        api.patch(&crate::load::name(i % touched), &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                    }
                })
                .buffer_unordered(8)
                .try_for_each(|_| futures::future::ready(Ok(())))
                .await
                .context("writing while the watch is stalled")
        })
    });
    tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))??;
    let unstalled = Instant::now();
    paused.store(false, Ordering::SeqCst);
    let ok = tokio::time::timeout(Duration::from_secs(60), relisted.notified())
        .await
        .is_ok();
    let elapsed = unstalled.elapsed();
    let after = (crate::procfs::memory)()?;
    drop(keep);
    anyhow::ensure!(
        ok,
        "{side}: no relist within 60 s after {writes} writes to a stalled watch (no 410 from the server?)"
    );
    Ok(Figures::from([
        ("relist_seconds".into(), elapsed.as_secs_f64()),
        (
            "relist_extra_peak_bytes_per_object".into(),
            after.peak.saturating_sub(synced.current) as f64 / objects as f64,
        ),
        ("rss_after_sync_bytes".into(), synced.current as f64),
        ("peak_bytes".into(), after.peak as f64),
    ]))
}

/// State shared by both sides' reconcilers.
struct Shared {
    client: Client,
    namespace: String,
    /// Throughput mode: the annotation value this run writes. Latency mode: `None`.
    token: Option<String>,
    /// How many objects must be patched before the run is done (throughput mode).
    target: usize,
    patched: AtomicUsize,
    reconciles: AtomicUsize,
    /// When the first reconcile ran, and the process's CPU time then.
    first_reconcile: Mutex<Option<(Instant, f64)>>,
    done: Notify,
    done_at: Mutex<Option<Instant>>,
    /// Latency mode: writes older than this belong to earlier runs and are ignored.
    run_start_ns: u64,
    seen: Mutex<HashSet<u64>>,
    latencies_ns: Mutex<Vec<u64>>,
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What the throughput reconcile writes to an object of each set, once per object: a Pod gets
/// one merge patch of its status (`status.message`), as a controller reporting on its object
/// does; a ConfigMap has no status, so it gets an annotation.
pub trait Reconciled:
    kubesmith_runtime::cache::CacheResource + Resource<Scope = NamespaceResourceScope>
{
    /// The object already carries this run's token (the reconcile is a no-op).
    fn carries(&self, token: &str) -> bool;
    /// Writes this run's token.
    fn write(
        api: &Api<Self>,
        name: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), kube::Error>> + Send;
}

impl Reconciled for ConfigMap {
    fn carries(&self, token: &str) -> bool {
        self.annotations().get(ROUND_ANNOTATION).map(String::as_str) == Some(token)
    }

    async fn write(api: &Api<Self>, name: &str, token: &str) -> Result<(), kube::Error> {
        let patch = serde_json::json!({"metadata": {"annotations": {ROUND_ANNOTATION: token}}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
    }
}

impl Reconciled for Pod {
    fn carries(&self, token: &str) -> bool {
        self.status.as_ref().and_then(|s| s.message.as_deref()) == Some(token)
    }

    async fn write(api: &Api<Self>, name: &str, token: &str) -> Result<(), kube::Error> {
        let patch = serde_json::json!({"status": {"message": token}});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
    }
}

impl Shared {
    /// The reconciler body, identical for both sides.
    async fn reconcile<K: Reconciled>(&self, obj: Option<Arc<K>>) -> Result<Action, kube::Error> {
        let now_ns = unix_ns();
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        {
            let mut first = self
                .first_reconcile
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            first.get_or_insert_with(|| {
                let cpu = crate::procfs::cpu_seconds(0).unwrap_or(f64::NAN);
                (Instant::now(), cpu)
            });
        }
        let Some(obj) = obj else {
            return Ok(Action::await_change());
        };
        match &self.token {
            Some(token) => {
                if obj.carries(token) || self.patched.load(Ordering::SeqCst) >= self.target {
                    return Ok(Action::await_change());
                }
                let api = Api::<K>::namespaced(self.client.clone(), &self.namespace);
                K::write(&api, &obj.name_any(), token).await?;
                if self.patched.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
                    *self.done_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    self.done.notify_one();
                }
            }
            None => {
                if let Some(sent) = obj
                    .annotations()
                    .get(SENT_ANNOTATION)
                    .and_then(|v| v.parse::<u64>().ok())
                    && sent >= self.run_start_ns
                    && self
                        .seen
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(sent)
                {
                    self.latencies_ns
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(now_ns.saturating_sub(sent));
                }
            }
        }
        Ok(Action::await_change())
    }
}

struct KubesmithReconciler(Arc<Shared>);

impl<K: Reconciled> Reconciler<K> for KubesmithReconciler {
    async fn reconcile(&self, ctx: Context<K>) -> Result<Action, ReconcileError> {
        Ok(self.0.reconcile(ctx.get()).await?)
    }
}

/// Runs the side's controller over every object of kind `K` until `stop` is notified.
async fn run_controller<K: Reconciled>(
    side: Side,
    shared: Arc<Shared>,
    concurrency: u16,
    stop: Arc<Notify>,
) -> Result<()> {
    let client = shared.client.clone();
    match side {
        Side::Kubesmith => {
            let mgr = Manager::new(client, Options::default());
            Controller::managed_by(&mgr)
                .for_::<K>()
                .max_concurrent_reconciles(usize::from(concurrency))
                .complete(KubesmithReconciler(shared))?;
            mgr.run_until(async move { stop.notified().await }).await?;
        }
        Side::KubeRuntime => {
            kube::runtime::Controller::new(Api::<K>::all(client), watcher::Config::default())
                .with_config(ControllerConfig::default().concurrency(concurrency))
                .graceful_shutdown_on(async move { stop.notified().await })
                .run(
                    |obj, shared: Arc<Shared>| async move { shared.reconcile(Some(obj)).await },
                    |_, _, _| Action::requeue(Duration::from_millis(100)),
                    shared,
                )
                .for_each(|_| futures::future::ready(()))
                .await;
        }
    }
    Ok(())
}

fn shared(client: Client, namespace: &str, token: Option<String>, target: usize) -> Arc<Shared> {
    Arc::new(Shared {
        client,
        namespace: namespace.to_owned(),
        token,
        target,
        patched: AtomicUsize::new(0),
        reconciles: AtomicUsize::new(0),
        first_reconcile: Mutex::new(None),
        done: Notify::new(),
        done_at: Mutex::new(None),
        run_start_ns: unix_ns(),
        seen: Mutex::new(HashSet::new()),
        latencies_ns: Mutex::new(Vec::new()),
    })
}

/// Reconcile throughput: the first `patches` reconciles (of the `objects` in the cache) each
/// make one write (a Pod's status patch, see [`Reconciled`]); the rest, and the reconciles the
/// watch events of those writes cause, are no-ops, on both sides alike. Timed from the first
/// reconcile (both sides start once their cache is synced, so after the initial list) to the
/// response of the last write; the client CPU is counted over the same span.
pub async fn reconcile(
    side: Side,
    kind: crate::Kind,
    target: &crate::Target,
    patches: usize,
    concurrency: u16,
    timeout: Duration,
) -> Result<Figures> {
    let patches = patches.min(target.objects);
    anyhow::ensure!(patches > 0, "--patches must be positive");
    let (k, n) = (&target.kubeconfig, &target.namespace);
    match kind {
        crate::Kind::ConfigMap => {
            reconcile_of::<ConfigMap>(side, k, n, patches, concurrency, timeout).await
        }
        crate::Kind::Pod => reconcile_of::<Pod>(side, k, n, patches, concurrency, timeout).await,
    }
}

async fn reconcile_of<K: Reconciled>(
    side: Side,
    kubeconfig: &Path,
    namespace: &str,
    patches: usize,
    concurrency: u16,
    timeout: Duration,
) -> Result<Figures> {
    let client = client(kubeconfig).await?;
    let token = format!("{side:?}-c{concurrency}-{}", unix_ns());
    let shared = shared(client, namespace, Some(token), patches);
    let stop = Arc::new(Notify::new());
    let cpu_before = crate::procfs::cpu_seconds(0)?;
    let controller = tokio::spawn(run_controller::<K>(
        side,
        Arc::clone(&shared),
        concurrency,
        Arc::clone(&stop),
    ));
    let finished = tokio::time::timeout(timeout, shared.done.notified())
        .await
        .is_ok();
    let cpu_end = crate::procfs::cpu_seconds(0)?;
    stop.notify_one();
    // Controllers end gracefully; a stuck one must not hang the harness.
    let _ = tokio::time::timeout(Duration::from_secs(10), controller).await;
    let patched = shared.patched.load(Ordering::SeqCst);
    anyhow::ensure!(
        finished,
        "{side}: only {patched} of {patches} objects patched within {timeout:?}"
    );
    let (first, cpu_first) = shared
        .first_reconcile
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .context("no reconcile ran")?;
    let done = shared
        .done_at
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .context("not done")?;
    let seconds = done.duration_since(first).as_secs_f64();
    Ok(Figures::from([
        ("patched".into(), patches as f64),
        (
            "reconciles".into(),
            shared.reconciles.load(Ordering::SeqCst) as f64,
        ),
        ("seconds".into(), seconds),
        (
            "reconciles_per_second".into(),
            patches as f64 / seconds.max(1e-9),
        ),
        ("client_cpu_seconds".into(), cpu_end - cpu_first),
        ("client_cpu_with_sync_seconds".into(), cpu_end - cpu_before),
    ]))
}

/// Event → reconcile latency: once the initial reconciles are done, a writer patches objects
/// round-robin at `rate` per second, stamping each with its send time; the reconciler records
/// `now - sent` the first time it sees each stamp. Includes the PATCH request, the server's
/// watch fan-out, the client's decode, cache update, queueing and scheduling of the reconcile.
pub async fn latency(
    side: Side,
    kubeconfig: &Path,
    namespace: &str,
    objects: usize,
    rate: u32,
    duration: Duration,
) -> Result<Figures> {
    let client = client(kubeconfig).await?;
    let shared = shared(client.clone(), namespace, None, 0);
    let stop = Arc::new(Notify::new());
    let controller = tokio::spawn(run_controller::<ConfigMap>(
        side,
        Arc::clone(&shared),
        4,
        Arc::clone(&stop),
    ));
    // Wait for the initial reconciles of every listed object, so the stream meets an idle controller.
    let warm_deadline = Instant::now() + Duration::from_secs(120);
    while shared.reconciles.load(Ordering::SeqCst) < objects && Instant::now() < warm_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let api = Api::<ConfigMap>::namespaced(client, namespace);
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let total = (f64::from(rate) * duration.as_secs_f64()).round() as usize;
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    // A late tick is not made up with a burst: the stream stays steady.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut writes = Vec::with_capacity(total);
    for i in 0..total {
        interval.tick().await;
        let api = api.clone();
        let (sent, failed) = (Arc::clone(&sent), Arc::clone(&failed));
        // Round-robin over all objects: no object gets a second write before its first was seen
        // (unless the run is longer than objects / rate), so queue de-duplication hides nothing.
        let name = crate::load::name(i % objects);
        writes.push(tokio::spawn(async move {
            let stamp = unix_ns().to_string();
            let patch = serde_json::json!({"metadata": {"annotations": {SENT_ANNOTATION: stamp}}});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                Err(_) => failed.fetch_add(1, Ordering::Relaxed),
            };
        }));
    }
    for w in writes {
        let _ = w.await;
    }
    // Let the tail arrive.
    let tail_deadline = Instant::now() + Duration::from_secs(5);
    while (shared
        .latencies_ns
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .len() as u64)
        < sent.load(Ordering::SeqCst)
        && Instant::now() < tail_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.notify_one();
    let _ = tokio::time::timeout(Duration::from_secs(10), controller).await;
    let mut lat = std::mem::take(
        &mut *shared
            .latencies_ns
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    anyhow::ensure!(!lat.is_empty(), "{side}: no update reached a reconcile");
    lat.sort_unstable();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1] as f64 / 1e6;
    Ok(Figures::from([
        ("writes".into(), sent.load(Ordering::SeqCst) as f64),
        ("failed_writes".into(), failed.load(Ordering::SeqCst) as f64),
        ("observed".into(), lat.len() as f64),
        ("p50_ms".into(), pct(0.50)),
        ("p99_ms".into(), pct(0.99)),
        ("max_ms".into(), *lat.last().unwrap_or(&0) as f64 / 1e6),
    ]))
}
