//! The worker loop: take a request from the queue, reconcile, decide whether and when to
//! retry (controller-runtime's `processNextWorkItem` / `reconcileHandler`).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tracing::Instrument;

use super::requeue::RequeueTimer;
use super::{Action, Context, Reconciler, Request, Shared, SyncWaiter};
use crate::cache::CacheResource;
use crate::manager::{RunContext, Runnable};
use crate::metrics::ControllerMetrics;
use crate::queue::WorkQueue;

pub(super) struct Runner<K, R> {
    name: String,
    queue: WorkQueue<Request>,
    reconciler: Arc<R>,
    shared: Arc<Shared<K>>,
    /// The caches this controller reads; workers start once all have synced.
    synced: Vec<SyncWaiter>,
    workers: usize,
    metrics: ControllerMetrics,
}

impl<K: CacheResource, R: Reconciler<K>> Runner<K, R> {
    pub(super) fn new(
        name: String,
        queue: WorkQueue<Request>,
        reconciler: Arc<R>,
        shared: Arc<Shared<K>>,
        synced: Vec<SyncWaiter>,
        workers: usize,
        metrics: ControllerMetrics,
    ) -> Self {
        Self {
            name,
            queue,
            reconciler,
            shared,
            synced,
            workers,
            metrics,
        }
    }

    async fn work(self: Arc<Self>, timer: Arc<RequeueTimer>, run: RunContext) {
        let all_synced = futures::future::join_all(self.synced.iter().map(|wait| wait()));
        tokio::select! {
            () = run.stop.cancelled() => return,
            _ = all_synced => {}
        }
        loop {
            // `biased`: once stopping, no new request is taken even if one is ready.
            let request = tokio::select! {
                biased;
                () = run.stop.cancelled() => break,
                request = self.queue.get() => match request {
                    Some(request) => request,
                    None => break,
                },
            };
            tokio::select! {
                biased;
                () = run.abort.cancelled() => {
                    tracing::warn!(controller = %self.name, request = %request, "reconcile abandoned: graceful shutdown timed out");
                    self.queue.done(&request);
                    break;
                }
                () = self.process(&request, &timer) => {}
            }
        }
    }

    async fn process(&self, request: &Request, timer: &RequeueTimer) {
        let span = tracing::info_span!(
            "reconcile",
            controller = %self.name,
            namespace = request.namespace.as_deref().unwrap_or(""),
            name = %request.name,
            reconcile_id = %uuid::Uuid::new_v4(),
        );
        let ctx = Context {
            request: request.clone(),
            shared: Arc::clone(&self.shared),
        };
        let reconciler = Arc::clone(&self.reconciler);
        let timing = ActiveWorker::enter(&self.metrics);
        // The call itself is inside the guarded future too: a non-async `reconcile` may panic
        // before returning its future.
        let result = AssertUnwindSafe(async move { reconciler.reconcile(ctx).await })
            .catch_unwind()
            .instrument(span.clone())
            .await;
        drop(timing);
        let _entered = span.enter();
        let m = &self.metrics;
        match &result {
            Err(_) => {
                m.panics.inc();
                m.errors.inc();
                m.error.inc();
            }
            Ok(Err(err)) => {
                m.errors.inc();
                m.error.inc();
                if err.is_terminal() {
                    m.terminal_errors.inc();
                }
            }
            Ok(Ok(action)) if *action != Action::await_change() => {
                m.requeue_after.inc();
            }
            Ok(Ok(_)) => {
                m.success.inc();
            }
        }
        match result {
            Err(panic) => {
                tracing::error!(panic = %panic_message(&*panic), "panic: reconcile panicked [recovered]; retrying with backoff");
                self.queue.add_rate_limited(request.clone());
            }
            Ok(Err(err)) if err.is_terminal() => {
                tracing::error!(error = %err, "reconcile failed with a terminal error; not retrying");
            }
            Ok(Err(err)) => {
                tracing::error!(error = %err, "reconcile failed; retrying with backoff");
                self.queue.add_rate_limited(request.clone());
            }
            Ok(Ok(action)) => {
                self.queue.forget(request);
                if action != Action::await_change() {
                    tracing::debug!("reconciled; requeue requested");
                    timer.schedule(request.clone(), action);
                } else {
                    tracing::debug!("reconciled");
                }
            }
        }
        self.queue.done(request);
    }
}

impl<K: CacheResource, R: Reconciler<K>> Runnable for Runner<K, R> {
    fn start(self: Arc<Self>, run: &RunContext) {
        let timer = Arc::new(RequeueTimer::spawn(
            self.queue.clone(),
            run.stop.clone(),
            &run.runtime,
        ));
        // client-go refreshes the in-progress gauges every 500 ms.
        let queue = self.queue.clone();
        let stop = run.stop.clone();
        run.runtime.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => queue.update_unfinished_work(),
                }
            }
        });
        for _ in 0..self.workers {
            run.tasks.spawn_on(
                Arc::clone(&self).work(Arc::clone(&timer), run.clone()),
                &run.runtime,
            );
        }
        tracing::info!(controller = %self.name, workers = self.workers, "starting controller");
    }

    fn shutdown(&self) {
        self.queue.shutdown();
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Counts a worker as active and times its reconcile; dropping it (also when a reconcile is
/// abandoned at the graceful shutdown timeout) records both.
struct ActiveWorker<'a> {
    metrics: &'a ControllerMetrics,
    start: tokio::time::Instant,
}

impl<'a> ActiveWorker<'a> {
    fn enter(metrics: &'a ControllerMetrics) -> Self {
        metrics.active_workers.inc();
        Self {
            metrics,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Drop for ActiveWorker<'_> {
    fn drop(&mut self) {
        self.metrics.active_workers.dec();
        self.metrics
            .time
            .observe(self.start.elapsed().as_secs_f64());
    }
}
