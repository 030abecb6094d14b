//! Turns a reconciler's [`Action`] into a delayed re-add of its request.
//!
//! kube 5's `Action` keeps its requeue duration private: the only code that can read it is
//! kube's own `applier`, which schedules the object again once the duration has passed. So
//! instead of reading the duration, each controller runs a tiny applier whose "objects" are
//! pending requeues: arming one hands the `Action` to the applier, and when kube's scheduler
//! fires it, the request is added to the controller's work queue.
//!
//! A newer requeue for the same request replaces one that has not fired yet (controller-runtime
//! would keep the earlier of the two; at worst we reconcile once less early, never never).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::channel::mpsc;
use kube::core::{ClusterResourceScope, ObjectMeta};
use kube::runtime::controller::{Action, Config, applier};
use kube::runtime::reflector::{ObjectRef, store::Writer};
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

use super::Request;
use crate::queue::WorkQueue;

/// A pending requeue, stored where kube's applier can look it up by name.
#[derive(Clone, Debug)]
struct Slot {
    metadata: ObjectMeta,
    request: Request,
}

impl kube::Resource for Slot {
    type DynamicType = ();
    type Scope = ClusterResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "Requeue".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "internal.kubesmith.io".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "requeues".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

struct State {
    slots: Writer<Slot>,
    /// Actions handed in but not yet given to the applier, by slot name.
    armed: HashMap<String, Action>,
}

/// Schedules "add this request again after the action's duration" through kube's applier.
pub(crate) struct RequeueTimer {
    state: Arc<Mutex<State>>,
    trigger: mpsc::UnboundedSender<Result<ObjectRef<Slot>, Infallible>>,
}

impl RequeueTimer {
    /// Spawns the applier on `runtime`; it stops when `stop` is cancelled.
    pub(crate) fn spawn(
        queue: WorkQueue<Request>,
        stop: CancellationToken,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let mut slots = Writer::<Slot>::default();
        // An empty, complete initial list: the applier waits for its store to be ready.
        slots.apply_watcher_event(&watcher::Event::Init);
        slots.apply_watcher_event(&watcher::Event::InitDone);
        let store = slots.as_reader();
        let state = Arc::new(Mutex::new(State {
            slots,
            armed: HashMap::new(),
        }));
        let (trigger, triggers) = mpsc::unbounded();
        let fire_state = Arc::clone(&state);
        let reconcile = move |slot: Arc<Slot>, _: Arc<()>| {
            let name = slot.metadata.name.clone().unwrap_or_default();
            let mut state = lock(&fire_state);
            let action = match state.armed.remove(&name) {
                // Newly armed: give kube the action, it schedules the next call.
                Some(action) => action,
                // Kube's scheduler fired: the requeue is due.
                None => {
                    state
                        .slots
                        .apply_watcher_event(&watcher::Event::Delete((*slot).clone()));
                    queue.add(slot.request.clone());
                    Action::await_change()
                }
            };
            std::future::ready(Ok::<_, Infallible>(action))
        };
        let driver = applier(
            reconcile,
            |_, _: &Infallible, _| Action::await_change(),
            Arc::new(()),
            store,
            triggers,
            Config::default(),
        );
        runtime.spawn(async move {
            let mut driver = std::pin::pin!(driver);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    next = driver.next() => match next {
                        Some(Ok(_)) => {}
                        Some(Err(err)) => tracing::debug!(error = %err, "requeue timer"),
                        None => break,
                    },
                }
            }
        });
        Self { state, trigger }
    }

    /// Adds `request` to the queue again once `action`'s requeue duration has passed.
    pub(crate) fn schedule(&self, request: Request, action: Action) {
        let name = request.to_string();
        {
            let mut state = lock(&self.state);
            state.armed.insert(name.clone(), action);
            state
                .slots
                .apply_watcher_event(&watcher::Event::Apply(Slot {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        ..ObjectMeta::default()
                    },
                    request,
                }));
        }
        // Fails only once the applier has stopped, i.e. during shutdown, when requeues are moot.
        let _ = self.trigger.unbounded_send(Ok(ObjectRef::new(&name)));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::{Instant, timeout};

    use super::*;

    fn req(name: &str) -> Request {
        Request::new(Some("default"), name)
    }

    #[tokio::test(start_paused = true)]
    async fn adds_the_request_once_after_the_action_duration() {
        let queue = WorkQueue::new();
        let stop = CancellationToken::new();
        let timer = RequeueTimer::spawn(
            queue.clone(),
            stop.clone(),
            &tokio::runtime::Handle::current(),
        );

        let start = Instant::now();
        timer.schedule(req("a"), Action::requeue(Duration::from_secs(30)));
        assert!(timeout(Duration::from_secs(29), queue.get()).await.is_err());
        assert_eq!(queue.get().await, Some(req("a")));
        assert!(start.elapsed() >= Duration::from_secs(30));
        queue.done(&req("a"));
        // one requeue, not a periodic timer
        assert!(
            timeout(Duration::from_secs(600), queue.get())
                .await
                .is_err()
        );
        stop.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_newer_requeue_replaces_a_pending_one() {
        let queue = WorkQueue::new();
        let stop = CancellationToken::new();
        let timer = RequeueTimer::spawn(
            queue.clone(),
            stop.clone(),
            &tokio::runtime::Handle::current(),
        );

        let start = Instant::now();
        timer.schedule(req("b"), Action::requeue(Duration::from_secs(100)));
        timer.schedule(req("b"), Action::requeue(Duration::from_secs(5)));
        timer.schedule(req("c"), Action::requeue(Duration::from_secs(10)));
        assert_eq!(queue.get().await, Some(req("b")));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(5) && waited < Duration::from_secs(10),
            "{waited:?}"
        );
        assert_eq!(queue.get().await, Some(req("c")));
        queue.done(&req("b"));
        queue.done(&req("c"));
        assert!(
            timeout(Duration::from_secs(600), queue.get())
                .await
                .is_err()
        );
        stop.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn stopped_timer_adds_nothing() {
        let queue = WorkQueue::new();
        let stop = CancellationToken::new();
        let timer = RequeueTimer::spawn(
            queue.clone(),
            stop.clone(),
            &tokio::runtime::Handle::current(),
        );
        timer.schedule(req("a"), Action::requeue(Duration::from_secs(1)));
        stop.cancel();
        assert!(timeout(Duration::from_secs(60), queue.get()).await.is_err());
        // scheduling after the stop is harmless
        timer.schedule(req("a"), Action::requeue(Duration::from_secs(1)));
    }
}
