//! A work queue with client-go's semantics (`k8s.io/client-go/util/workqueue`).
//!
//! Controllers put object keys in, workers take them out. The queue guarantees that
//! - an item is never handed to two workers at once (`processing` set),
//! - adding an item that is already waiting is a no-op (`dirty` set),
//! - adding an item while it is being processed makes it run exactly once more after
//!   [`done`](WorkQueue::done),
//! - delayed and rate-limited adds ([`add_after`](WorkQueue::add_after),
//!   [`add_rate_limited`](WorkQueue::add_rate_limited)) keep the earliest ready time.

mod rate_limiter;

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::QueueMetrics;
use rate_limiter::lock;
pub use rate_limiter::{
    BucketRateLimiter, DefaultControllerRateLimiter, ItemExponentialFailureRateLimiter, RateLimiter,
};

/// A deduplicating, rate-limited FIFO of items (object keys) to process.
///
/// Cloning gives another handle to the same queue.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use kubesmith_runtime::queue::WorkQueue;
///
/// let queue = WorkQueue::new();
/// queue.add("default/web");
/// queue.add("default/web"); // already waiting: no-op
/// assert_eq!(queue.len(), 1);
///
/// let item = queue.get().await.unwrap();
/// queue.add(item); // changed again while being processed: runs once more after `done`
/// assert_eq!(queue.len(), 0);
/// queue.done(&item);
/// assert_eq!(queue.len(), 1);
///
/// queue.shutdown();
/// assert_eq!(queue.get().await, Some("default/web")); // queued items are still handed out
/// queue.done(&"default/web");
/// assert_eq!(queue.get().await, None);
/// # }
/// ```
pub struct WorkQueue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for WorkQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("WorkQueue")
            .field("len", &state.queue.len())
            .field("processing", &state.processing.len())
            .field("waiting", &state.waiting.len())
            .field("shutting_down", &state.shutting_down)
            .finish()
    }
}

struct Inner<T> {
    state: Mutex<State<T>>,
    /// Signalled when an item is queued or the queue shuts down.
    available: Notify,
    /// Signalled when the processing set becomes empty.
    idle: Notify,
    /// Cancels the timers of delayed items on shutdown.
    timers: CancellationToken,
    limiter: Box<dyn RateLimiter<T>>,
    /// Set once by the controller that owns the queue (`workqueue_*` metrics).
    metrics: OnceLock<QueueMetrics>,
}

struct State<T> {
    queue: VecDeque<T>,
    dirty: HashSet<T>,
    processing: HashSet<T>,
    /// Items waiting for their ready time; the value is the earliest time asked for.
    waiting: HashMap<T, Instant>,
    shutting_down: bool,
    /// When each queued item was added (for `workqueue_queue_duration_seconds`); kept only
    /// when the queue has metrics.
    added_at: HashMap<T, Instant>,
    /// When each item being processed was handed out (for `work_duration` and friends).
    started_at: HashMap<T, Instant>,
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> Default for WorkQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> WorkQueue<T> {
    /// A queue using [`DefaultControllerRateLimiter`].
    pub fn new() -> Self {
        Self::with_rate_limiter(DefaultControllerRateLimiter::default())
    }

    /// A queue whose [`add_rate_limited`](Self::add_rate_limited) asks `limiter` for the delay.
    pub fn with_rate_limiter(limiter: impl RateLimiter<T>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    waiting: HashMap::new(),
                    shutting_down: false,
                    added_at: HashMap::new(),
                    started_at: HashMap::new(),
                }),
                available: Notify::new(),
                idle: Notify::new(),
                timers: CancellationToken::new(),
                limiter: Box::new(limiter),
                metrics: OnceLock::new(),
            }),
        }
    }

    /// Marks `item` as needing processing.
    ///
    /// Ignored after shutdown and when `item` is already waiting in the queue; an item being
    /// processed is queued again only once [`done`](Self::done) is called for it.
    pub fn add(&self, item: T) {
        let mut state = lock(&self.inner.state);
        if state.shutting_down || state.dirty.contains(&item) {
            return;
        }
        if let Some(metrics) = self.inner.metrics.get() {
            // As client-go: counted (and depth raised) even when the item waits for its
            // processing to finish; `get` lowers the depth again when it is handed out.
            metrics.adds.inc();
            metrics.depth.inc();
            state
                .added_at
                .entry(item.clone())
                .or_insert_with(Instant::now);
        }
        state.dirty.insert(item.clone());
        if state.processing.contains(&item) {
            return;
        }
        state.queue.push_back(item);
        drop(state);
        self.inner.available.notify_one();
    }

    /// Adds `item` once `delay` has passed; a zero delay adds it now.
    ///
    /// If `item` is already waiting, the earlier of the two ready times wins.
    ///
    /// Needs a tokio runtime for the timer; without one the item is added immediately.
    pub fn add_after(&self, item: T, delay: Duration) {
        // client-go's `workqueue_retries_total` counts every delayed add, zero delays included.
        if let Some(metrics) = self.inner.metrics.get()
            && !self.is_shutting_down()
        {
            metrics.retries.inc();
        }
        if delay.is_zero() {
            return self.add(item);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                "WorkQueue::add_after called outside a tokio runtime; adding without delay"
            );
            return self.add(item);
        };
        let ready_at = Instant::now() + delay;
        {
            let mut state = lock(&self.inner.state);
            if state.shutting_down {
                return;
            }
            match state.waiting.get(&item) {
                Some(existing) if *existing <= ready_at => return,
                _ => {
                    state.waiting.insert(item.clone(), ready_at);
                }
            }
        }
        // The timer holds a weak reference so a dropped queue is not kept alive by its timers.
        let inner = Arc::downgrade(&self.inner);
        let cancelled = self.inner.timers.clone();
        runtime.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(ready_at) => {}
                () = cancelled.cancelled() => return,
            }
            let Some(inner) = inner.upgrade() else { return };
            let queue = WorkQueue { inner };
            let due = {
                let mut state = lock(&queue.inner.state);
                // A later add_after with an earlier time has its own timer; only the timer of
                // the recorded ready time moves the item.
                if state.waiting.get(&item) == Some(&ready_at) {
                    state.waiting.remove(&item);
                    true
                } else {
                    false
                }
            };
            if due {
                queue.add(item);
            }
        });
    }

    /// Adds `item` after the delay the rate limiter gives it (one more failure of `item`).
    pub fn add_rate_limited(&self, item: T) {
        let delay = self.inner.limiter.when(&item);
        self.add_after(item, delay);
    }

    /// Resets the rate limiter's failure count for `item` (call after it succeeded).
    pub fn forget(&self, item: &T) {
        self.inner.limiter.forget(item);
    }

    /// How often `item` was rate limited since it was last forgotten.
    pub fn num_requeues(&self, item: &T) -> u32 {
        self.inner.limiter.num_requeues(item)
    }

    /// Waits for the next item and marks it as being processed.
    ///
    /// Returns `None` once the queue is shut down and empty. Every item returned must be
    /// passed to [`done`](Self::done).
    pub async fn get(&self) -> Option<T> {
        loop {
            let mut notified = pin!(self.inner.available.notified());
            // Registered before the state is checked, so a wake-up between check and await is kept.
            notified.as_mut().enable();
            {
                let mut state = lock(&self.inner.state);
                if let Some(item) = state.queue.pop_front() {
                    state.dirty.remove(&item);
                    if let Some(metrics) = self.inner.metrics.get() {
                        let now = Instant::now();
                        metrics.depth.dec();
                        if let Some(added) = state.added_at.remove(&item) {
                            metrics
                                .queue_duration
                                .observe(now.duration_since(added).as_secs_f64());
                        }
                        state.started_at.insert(item.clone(), now);
                    }
                    state.processing.insert(item.clone());
                    let more = !state.queue.is_empty();
                    drop(state);
                    if more {
                        // notify_one may have been consumed by us while more work is waiting
                        self.inner.available.notify_one();
                    }
                    return Some(item);
                }
                if state.shutting_down {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks `item` as processed; if it was added meanwhile, it is queued again.
    pub fn done(&self, item: &T) {
        let mut state = lock(&self.inner.state);
        if !state.processing.remove(item) {
            return;
        }
        if let Some(metrics) = self.inner.metrics.get()
            && let Some(started) = state.started_at.remove(item)
        {
            metrics
                .work_duration
                .observe(started.elapsed().as_secs_f64());
        }
        let requeued = state.dirty.contains(item);
        if requeued {
            state.queue.push_back(item.clone());
        }
        let idle = state.processing.is_empty();
        drop(state);
        if requeued {
            self.inner.available.notify_one();
        }
        if idle {
            self.inner.idle.notify_waiters();
        }
    }

    /// Number of items ready to be handed out (neither waiting for a delay nor processing).
    pub fn len(&self) -> usize {
        lock(&self.inner.state).queue.len()
    }

    /// Whether no item is ready to be handed out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops accepting items and drops delayed ones; [`get`](Self::get) hands out what is
    /// already queued, then returns `None`.
    pub fn shutdown(&self) {
        {
            let mut state = lock(&self.inner.state);
            state.shutting_down = true;
            state.waiting.clear();
        }
        self.inner.timers.cancel();
        self.inner.available.notify_waiters();
    }

    /// Records `workqueue_*` metrics from now on (set once; later calls are ignored).
    pub(crate) fn instrument(&self, metrics: QueueMetrics) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// Updates `workqueue_unfinished_work_seconds` and
    /// `workqueue_longest_running_processor_seconds` (client-go does this every 500 ms).
    pub(crate) fn update_unfinished_work(&self) {
        let Some(metrics) = self.inner.metrics.get() else {
            return;
        };
        let state = lock(&self.inner.state);
        let now = Instant::now();
        let mut total = 0.0;
        let mut longest = 0.0_f64;
        for started in state.started_at.values() {
            let seconds = now.duration_since(*started).as_secs_f64();
            total += seconds;
            longest = longest.max(seconds);
        }
        metrics.unfinished.set(total);
        metrics.longest.set(longest);
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        lock(&self.inner.state).shutting_down
    }

    /// Shuts down and waits until every item handed out has been marked [`done`](Self::done).
    pub async fn shutdown_with_drain(&self) {
        self.shutdown();
        loop {
            let mut idle = pin!(self.inner.idle.notified());
            idle.as_mut().enable();
            if lock(&self.inner.state).processing.is_empty() {
                return;
            }
            idle.await;
        }
    }
}

#[cfg(test)]
mod tests;
