//! Prometheus metrics with controller-runtime's names, types, labels and buckets, so the
//! dashboards and alerts written for Go operators work unchanged.
//!
//! Every [`Manager`](crate::Manager) owns one [`Metrics`] registry. Its controllers record
//! `controller_runtime_*` and `workqueue_*` metrics, the leader election records
//! `leader_election_master_status`, and a manager made by
//! [`Manager::from_env`](crate::Manager::from_env) records `rest_client_requests_total`.
//! [`Options::metrics_bind_address`](crate::Options) serves them on `/metrics`.
//!
//! Add your own metrics to the same registry:
//!
//! ```
//! use kubesmith_runtime::metrics::Metrics;
//! use prometheus_client::metrics::counter::Counter;
//!
//! let metrics = Metrics::new();
//! let cache_misses = Counter::<u64>::default();
//! metrics.register("memcached_cache_misses", "Cache misses seen by the reconciler", cache_misses.clone());
//! cache_misses.inc();
//! assert!(metrics.encode().contains("memcached_cache_misses_total 1"));
//! ```

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

mod rest;
mod server;

pub use rest::{RestClientMetrics, RestClientMetricsLayer};
pub(crate) use server::{ServeOptions, serve};

/// Label pairs, in the order controller-runtime declares them.
type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// controller-runtime's `reconcile_time_seconds` buckets.
const RECONCILE_TIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
];

fn reconcile_time_histogram() -> Histogram {
    Histogram::new(RECONCILE_TIME_BUCKETS)
}

/// client-go's workqueue buckets: `ExponentialBuckets(10e-9, 10, 12)`, 10 ns to 1000 s.
fn workqueue_histogram() -> Histogram {
    Histogram::new(exponential_buckets(10e-9, 10.0, 12))
}

/// The metrics registry of one manager. Cloning gives another handle to the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Families>,
}

struct Families {
    registry: Mutex<Registry>,
    reconcile_total: Family<Labels, Counter>,
    reconcile_errors: Family<Labels, Counter>,
    terminal_errors: Family<Labels, Counter>,
    panics: Family<Labels, Counter>,
    reconcile_time: Histograms,
    max_concurrent: Family<Labels, Gauge>,
    active_workers: Family<Labels, Gauge>,
    depth: Family<Labels, Gauge>,
    adds: Family<Labels, Counter>,
    queue_duration: Histograms,
    work_duration: Histograms,
    unfinished: Family<Labels, FloatGauge>,
    longest: Family<Labels, FloatGauge>,
    retries: Family<Labels, Counter>,
    rest_requests: Family<Labels, Counter>,
    leader: Family<Labels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every runtime metric registered (and no samples yet).
    pub fn new() -> Self {
        let families = Families {
            registry: Mutex::new(Registry::default()),
            reconcile_total: Family::default(),
            reconcile_errors: Family::default(),
            terminal_errors: Family::default(),
            panics: Family::default(),
            reconcile_time: Family::new_with_constructor(reconcile_time_histogram),
            max_concurrent: Family::default(),
            active_workers: Family::default(),
            depth: Family::default(),
            adds: Family::default(),
            queue_duration: Family::new_with_constructor(workqueue_histogram),
            work_duration: Family::new_with_constructor(workqueue_histogram),
            unfinished: Family::default(),
            longest: Family::default(),
            retries: Family::default(),
            rest_requests: Family::default(),
            leader: Family::default(),
        };
        {
            let mut r = lock(&families.registry);
            // prometheus-client appends `_total` to counter names itself.
            r.register(
                "controller_runtime_reconcile",
                "Total number of reconciliations per controller",
                families.reconcile_total.clone(),
            );
            r.register(
                "controller_runtime_reconcile_errors",
                "Total number of reconciliation errors per controller",
                families.reconcile_errors.clone(),
            );
            r.register(
                "controller_runtime_terminal_reconcile_errors",
                "Total number of terminal reconciliation errors per controller",
                families.terminal_errors.clone(),
            );
            r.register(
                "controller_runtime_reconcile_panics",
                "Total number of reconciliation panics per controller",
                families.panics.clone(),
            );
            r.register(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller",
                families.reconcile_time.clone(),
            );
            r.register(
                "controller_runtime_max_concurrent_reconciles",
                "Maximum number of concurrent reconciles per controller",
                families.max_concurrent.clone(),
            );
            r.register(
                "controller_runtime_active_workers",
                "Number of currently used workers per controller",
                families.active_workers.clone(),
            );
            r.register(
                "workqueue_depth",
                "Current depth of workqueue",
                families.depth.clone(),
            );
            r.register(
                "workqueue_adds",
                "Total number of adds handled by workqueue",
                families.adds.clone(),
            );
            r.register(
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in workqueue before being requested",
                families.queue_duration.clone(),
            );
            r.register(
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from workqueue takes.",
                families.work_duration.clone(),
            );
            r.register(
                "workqueue_unfinished_work_seconds",
                "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
                families.unfinished.clone(),
            );
            r.register(
                "workqueue_longest_running_processor_seconds",
                "How many seconds has the longest running processor for workqueue been running.",
                families.longest.clone(),
            );
            r.register(
                "workqueue_retries",
                "Total number of retries handled by workqueue",
                families.retries.clone(),
            );
            r.register(
                "rest_client_requests",
                "Number of HTTP requests, partitioned by status code, method, and host.",
                families.rest_requests.clone(),
            );
            r.register(
                "leader_election_master_status",
                "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
                families.leader.clone(),
            );
        }
        Self {
            inner: Arc::new(families),
        }
    }

    /// Registers a metric of your own; it is served on `/metrics` with the runtime's.
    /// Counters get the `_total` suffix appended (prometheus-client's convention).
    pub fn register(&self, name: impl Into<String>, help: impl Into<String>, metric: impl Metric) {
        lock(&self.inner.registry).register(name, help, metric);
    }

    /// Every metric in the OpenMetrics text format, which Prometheus scrapes natively.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &lock(&self.inner.registry));
        out
    }

    /// The metrics of the controller `name`, initialised as controller-runtime's `initMetrics`:
    /// every `result` of `reconcile_total` at 0, `max_concurrent_reconciles` set.
    pub(crate) fn controller(&self, name: &str, max_concurrent: usize) -> ControllerMetrics {
        let f = &self.inner;
        let by_controller: Labels = vec![("controller", name.to_owned())];
        let result = |result: &str| {
            f.reconcile_total.get_or_create_owned(&vec![
                ("controller", name.to_owned()),
                ("result", result.to_owned()),
            ])
        };
        let metrics = ControllerMetrics {
            success: result("success"),
            error: result("error"),
            requeue_after: result("requeue_after"),
            errors: f.reconcile_errors.get_or_create_owned(&by_controller),
            terminal_errors: f.terminal_errors.get_or_create_owned(&by_controller),
            panics: f.panics.get_or_create_owned(&by_controller),
            time: f.reconcile_time.get_or_create_owned(&by_controller),
            active_workers: f.active_workers.get_or_create_owned(&by_controller),
        };
        // kube's `Action` has no "requeue immediately with backoff", but dashboards expect
        // the series.
        let _ = result("requeue");
        f.max_concurrent
            .get_or_create(&by_controller)
            .set(i64::try_from(max_concurrent).unwrap_or(i64::MAX));
        metrics.active_workers.set(0);
        metrics
    }

    /// The metrics of the work queue of controller `name` (labels `controller` and `name`).
    pub(crate) fn workqueue(&self, name: &str) -> QueueMetrics {
        let f = &self.inner;
        let labels: Labels = vec![("controller", name.to_owned()), ("name", name.to_owned())];
        QueueMetrics {
            depth: f.depth.get_or_create_owned(&labels),
            adds: f.adds.get_or_create_owned(&labels),
            queue_duration: f.queue_duration.get_or_create_owned(&labels),
            work_duration: f.work_duration.get_or_create_owned(&labels),
            unfinished: f.unfinished.get_or_create_owned(&labels),
            longest: f.longest.get_or_create_owned(&labels),
            retries: f.retries.get_or_create_owned(&labels),
        }
    }

    /// `leader_election_master_status{name}`.
    pub(crate) fn leader_status(&self, lease: &str) -> Gauge {
        self.inner
            .leader
            .get_or_create_owned(&vec![("name", lease.to_owned())])
    }

    /// `rest_client_requests_total{code,method,host}` for one request.
    pub(crate) fn rest_request(&self, code: &str, method: &str, host: &str) {
        self.inner
            .rest_requests
            .get_or_create(&vec![
                ("code", code.to_owned()),
                ("method", method.to_owned()),
                ("host", host.to_owned()),
            ])
            .inc();
    }
}

/// One controller's `controller_runtime_*` series.
#[derive(Clone, Debug)]
pub(crate) struct ControllerMetrics {
    pub(crate) success: Counter,
    pub(crate) error: Counter,
    pub(crate) requeue_after: Counter,
    pub(crate) errors: Counter,
    pub(crate) terminal_errors: Counter,
    pub(crate) panics: Counter,
    pub(crate) time: Histogram,
    pub(crate) active_workers: Gauge,
}

/// One work queue's `workqueue_*` series.
#[derive(Clone, Debug)]
pub(crate) struct QueueMetrics {
    pub(crate) depth: Gauge,
    pub(crate) adds: Counter,
    pub(crate) queue_duration: Histogram,
    pub(crate) work_duration: Histogram,
    pub(crate) unfinished: FloatGauge,
    pub(crate) longest: FloatGauge,
    pub(crate) retries: Counter,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_series_are_initialised_with_controller_runtime_names() {
        let metrics = Metrics::new();
        let c = metrics.controller("memcached", 3);
        c.success.inc();
        c.time.observe(0.02);
        let text = metrics.encode();
        for line in [
            "controller_runtime_reconcile_total{controller=\"memcached\",result=\"success\"} 1",
            "controller_runtime_reconcile_total{controller=\"memcached\",result=\"error\"} 0",
            "controller_runtime_reconcile_total{controller=\"memcached\",result=\"requeue\"} 0",
            "controller_runtime_reconcile_total{controller=\"memcached\",result=\"requeue_after\"} 0",
            "controller_runtime_reconcile_errors_total{controller=\"memcached\"} 0",
            "controller_runtime_terminal_reconcile_errors_total{controller=\"memcached\"} 0",
            "controller_runtime_reconcile_panics_total{controller=\"memcached\"} 0",
            "controller_runtime_max_concurrent_reconciles{controller=\"memcached\"} 3",
            "controller_runtime_active_workers{controller=\"memcached\"} 0",
            "controller_runtime_reconcile_time_seconds_bucket{le=\"0.025\",controller=\"memcached\"} 1",
            "controller_runtime_reconcile_time_seconds_bucket{le=\"60.0\",controller=\"memcached\"} 1",
            "# TYPE controller_runtime_reconcile_time_seconds histogram",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn workqueue_series_have_controller_and_name_labels_and_client_go_buckets() {
        let metrics = Metrics::new();
        let q = metrics.workqueue("memcached");
        q.adds.inc();
        q.queue_duration.observe(1e-6);
        let text = metrics.encode();
        assert!(
            text.contains("workqueue_adds_total{controller=\"memcached\",name=\"memcached\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "workqueue_queue_duration_seconds_bucket{le=\"1e-8\",controller=\"memcached\",name=\"memcached\"} 0"
            ) || text.contains(
                "workqueue_queue_duration_seconds_bucket{le=\"1.0e-8\",controller=\"memcached\",name=\"memcached\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "workqueue_queue_duration_seconds_bucket{le=\"1000.0\",controller=\"memcached\",name=\"memcached\"} 1"
            ),
            "{text}"
        );
    }
}
