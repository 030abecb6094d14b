//! Work queue throughput, in process, no API server: how fast keys go from "changed" to
//! "handed to a worker and finished".
//!
//! - kubesmith: `WorkQueue<Request>` (client-go semantics) with W long-lived worker tasks;
//!   a producer task adds keys while the workers drain. Each worker looks the object up in a
//!   `RwLock<HashMap>` as `Context::get` does, then calls `done`.
//! - kube-runtime: its queue is not a public type; the closest public equivalent is
//!   `applier` (scheduler + runner, what `Controller` uses) fed a stream of `ObjectRef`s, with
//!   `Config::concurrency(W)` and a reconciler that returns at once. The applier looks each
//!   object up in its `Store` and spawns one task per reconcile; kubesmith's workers are W
//!   long-lived tasks. That difference is part of what is measured.
//!
//! "Duplicates": the same number of adds, but over a quarter as many keys (each key added 4
//! times, interleaved), so both queues' de-duplication is exercised.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{applier, watcher};
use kubesmith_runtime::Request;
use kubesmith_runtime::cache::ObjectKey;
use kubesmith_runtime::queue::WorkQueue;

use crate::Side;
use crate::child::Figures;

const NAMESPACE: &str = "bench";

/// Small objects: the store's contents don't matter here, only its lookups, and a million
/// full-size ConfigMaps would not fit the harness's memory budget.
fn objects(keys: usize) -> Vec<ConfigMap> {
    (0..keys)
        .map(|i| ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(crate::load::name(i)),
                namespace: Some(NAMESPACE.into()),
                ..Default::default()
            },
            ..ConfigMap::default()
        })
        .collect()
}

/// Runs one configuration; returns (seconds, items processed).
async fn run_once(side: Side, adds: usize, keys: usize, workers: usize) -> Result<(f64, usize)> {
    let objects = objects(keys);
    let processed = Arc::new(AtomicUsize::new(0));
    match side {
        Side::Kubesmith => {
            let store: Arc<RwLock<HashMap<ObjectKey, Arc<ConfigMap>>>> = Arc::new(RwLock::new(
                objects
                    .into_iter()
                    .filter_map(|o| Some((ObjectKey::from_object(&o)?, Arc::new(o))))
                    .collect(),
            ));
            let requests: Vec<Request> = (0..keys)
                .map(|i| Request::new(Some(NAMESPACE), crate::load::name(i)))
                .collect();
            let queue = WorkQueue::<Request>::new();
            let start = Instant::now();
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let (queue, store, processed) =
                        (queue.clone(), Arc::clone(&store), Arc::clone(&processed));
                    tokio::spawn(async move {
                        while let Some(request) = queue.get().await {
                            let found = store
                                .read()
                                .unwrap_or_else(|e| e.into_inner())
                                .get(&request.key())
                                .cloned();
                            std::hint::black_box(found);
                            processed.fetch_add(1, Ordering::Relaxed);
                            queue.done(&request);
                        }
                    })
                })
                .collect();
            let producer = {
                let queue = queue.clone();
                tokio::spawn(async move {
                    for i in 0..adds {
                        queue.add(requests[i % keys].clone());
                        // Let workers interleave with the producer, as an informer's handler does.
                        if i % 64 == 63 {
                            tokio::task::yield_now().await;
                        }
                    }
                    // Handed-out items still finish; get() returns None once all is drained.
                    queue.shutdown();
                })
            };
            producer.await?;
            for h in handles {
                h.await?;
            }
            Ok((
                start.elapsed().as_secs_f64(),
                processed.load(Ordering::SeqCst),
            ))
        }
        Side::KubeRuntime => {
            let (reader, mut writer) = reflector::store::<ConfigMap>();
            writer.apply_watcher_event(&watcher::Event::Init);
            for o in objects {
                writer.apply_watcher_event(&watcher::Event::InitApply(o));
            }
            writer.apply_watcher_event(&watcher::Event::InitDone);
            let refs: Vec<ObjectRef<ConfigMap>> = (0..keys)
                .map(|i| ObjectRef::new(&crate::load::name(i)).within(NAMESPACE))
                .collect();
            // kube's scheduler ends as soon as its input stream ends, dropping what is still
            // queued, so the input is held open until every key was reconciled after its last
            // add (the same work kubesmith's shutdown-and-drain waits for).
            let coverage = Arc::new(Coverage::new(adds, keys));
            let input = {
                let coverage = Arc::clone(&coverage);
                let until_covered = Arc::clone(&coverage);
                futures::stream::iter((0..adds).map(move |i| {
                    coverage.added(i);
                    Ok::<_, Infallible>(refs[i % keys].clone())
                }))
                .chain(
                    futures::stream::once(async move { until_covered.done.notified().await })
                        .filter_map(|()| futures::future::ready(None)),
                )
            };
            let counter = Arc::clone(&processed);
            let workers = u16::try_from(workers).unwrap_or(u16::MAX);
            let start = Instant::now();
            applier(
                move |obj: Arc<ConfigMap>, _ctx: Arc<()>| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    coverage.reconciled(&obj);
                    futures::future::ready(Ok::<_, Infallible>(Action::await_change()))
                },
                |_, _, _| Action::await_change(),
                Arc::new(()),
                reader,
                input,
                ControllerConfig::default().concurrency(workers),
            )
            .for_each(|_| futures::future::ready(()))
            .await;
            Ok((
                start.elapsed().as_secs_f64(),
                processed.load(Ordering::SeqCst),
            ))
        }
    }
}

/// Tracks, per key, the index of its latest add and whether a reconcile started after it.
struct Coverage {
    keys: usize,
    last_add: Vec<AtomicUsize>,
    covered: Vec<AtomicUsize>,
    final_add: Vec<usize>,
    satisfied: AtomicUsize,
    done: tokio::sync::Notify,
}

impl Coverage {
    fn new(adds: usize, keys: usize) -> Self {
        Self {
            keys,
            last_add: (0..keys).map(|_| AtomicUsize::new(usize::MAX)).collect(),
            covered: (0..keys).map(|_| AtomicUsize::new(usize::MAX)).collect(),
            // The last add of key k is the largest i < adds with i % keys == k.
            final_add: (0..keys)
                .map(|k| (adds - 1 - k) / keys * keys + k)
                .collect(),
            satisfied: AtomicUsize::new(0),
            done: tokio::sync::Notify::new(),
        }
    }

    fn added(&self, i: usize) {
        self.last_add[i % self.keys].store(i, Ordering::SeqCst);
    }

    fn reconciled(&self, obj: &ConfigMap) {
        // Names end in the key's index (see load::name).
        let Some(k) = obj
            .metadata
            .name
            .as_deref()
            .and_then(|n| n.rsplit('-').next())
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|k| *k < self.keys)
        else {
            return;
        };
        let seen = self.last_add[k].load(Ordering::SeqCst);
        if seen == self.final_add[k]
            && self.covered[k].swap(seen, Ordering::SeqCst) != seen
            && self.satisfied.fetch_add(1, Ordering::SeqCst) + 1 == self.keys
        {
            self.done.notify_one();
        }
    }
}

/// Every configuration for one side: workers × {distinct keys, duplicates}.
pub async fn run(side: Side, adds: usize, workers: &[usize]) -> Result<Figures> {
    let mut figures = Figures::new();
    for &w in workers {
        for (label, keys) in [("distinct", adds), ("dups", (adds / 4).max(1))] {
            let (seconds, processed) = run_once(side, adds, keys, w).await?;
            figures.insert(
                format!("w{w}_{label}_adds_per_second"),
                adds as f64 / seconds.max(1e-9),
            );
            figures.insert(format!("w{w}_{label}_processed"), processed as f64);
        }
    }
    Ok(figures)
}
