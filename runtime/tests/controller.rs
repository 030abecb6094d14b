//! Controllers and the manager against the embedded API server.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kubesmith_runtime::prelude::*;
use serde_json::json;
use support::{DEADLINE, Running, Widget, WidgetSpec, eventually, manager};
use tokio::sync::Notify;

const FINALIZER: &str = "test.kubesmith.io/cleanup";

/// The shape of a generated reconciler: finalizer, Ready condition via the status
/// subresource, cleanup on delete.
struct WidgetReconciler;

impl Reconciler<Widget> for WidgetReconciler {
    async fn reconcile(&self, ctx: Context<Widget>) -> Result<Action, ReconcileError> {
        let Some(widget) = ctx.get() else {
            return Ok(Action::await_change());
        };
        let api = ctx.api();
        if widget.meta().deletion_timestamp.is_some() {
            finalizer::remove(&api, &*widget, FINALIZER).await?;
            return Ok(Action::await_change());
        }
        if finalizer::add(&api, &*widget, FINALIZER).await? {
            return Ok(Action::await_change());
        }
        let mut conditions = widget.status.clone().unwrap_or_default().conditions;
        let ready = conditions::new(
            "Ready",
            "True",
            "Reconciled",
            format!("size {}", widget.spec.size),
            widget.meta().generation,
        );
        if conditions::set(&mut conditions, ready) {
            let patch = json!({ "status": { "conditions": conditions } });
            api.patch_status(
                &widget.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        ctx.recorder()
            .publish(&*widget, EventType::Normal, "Reconciled", "Reconcile", "")
            .await;
        Ok(Action::await_change())
    }
}

fn widget(name: &str, size: i32) -> Widget {
    let mut w = Widget::new(name, WidgetSpec { size });
    w.metadata.namespace = Some("default".into());
    w
}

fn ready_generation(w: &Widget) -> Option<i64> {
    let conds = &w.status.as_ref()?.conditions;
    let ready = conditions::find(conds, "Ready")?;
    (ready.status == "True").then_some(ready.observed_generation?)
}

#[tokio::test]
async fn widget_gets_finalizer_ready_condition_and_is_cleaned_up_on_delete() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    Controller::managed_by(&mgr)
        .for_::<Widget>()
        .complete(WidgetReconciler)
        .unwrap();
    let running = Running::start(&mgr);

    let api: Api<Widget> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &widget("w1", 1))
        .await
        .unwrap();

    let w = eventually("Ready with observedGeneration 1", || async {
        let w = api.get("w1").await.ok()?;
        (ready_generation(&w) == Some(1)).then_some(w)
    })
    .await;
    assert!(finalizer::has(&w, FINALIZER));

    // a spec change bumps the generation; the condition follows
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "size": 2 } })),
    )
    .await
    .unwrap();
    let w = eventually("Ready with observedGeneration 2", || async {
        let w = api.get("w1").await.ok()?;
        (ready_generation(&w) == Some(2)).then_some(w)
    })
    .await;
    let transitioned = conditions::find(&w.status.as_ref().unwrap().conditions, "Ready")
        .unwrap()
        .message
        .clone();
    assert_eq!(transitioned, "size 2");

    // the finalizer holds the deletion until the controller removes it
    api.delete("w1", &DeleteParams::default()).await.unwrap();
    eventually("widget gone after finalizer removal", || async {
        match api.get_opt("w1").await {
            Ok(None) => Some(()),
            _ => None,
        }
    })
    .await;

    // the recorder published as the controller, about the widget
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.client(), "default");
    let published = events.list(&Default::default()).await.unwrap();
    assert!(
        published
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Reconciled")
                && e.reporting_controller.as_deref() == Some("widget")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("w1")),
        "{:?}",
        published.items
    );

    running.stop().await.unwrap();
    env.stop().await;
}

/// Counts reconciles per object and asserts one object is never reconciled twice at once.
#[derive(Default)]
struct Tally {
    counts: Mutex<HashMap<String, usize>>,
    in_flight: Mutex<HashSet<String>>,
    /// Reconciles that started while the same object was already being reconciled. Counted
    /// rather than asserted: a panic inside reconcile would just be caught and retried.
    overlaps: AtomicUsize,
    /// The resourceVersion each object had when it was last reconciled.
    last_seen: Mutex<HashMap<String, String>>,
}

impl Tally {
    fn enter(&self, key: &str) -> usize {
        if !self.in_flight.lock().unwrap().insert(key.to_owned()) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let mut counts = self.counts.lock().unwrap();
        let n = counts.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn leave(&self, key: &str) {
        self.in_flight.lock().unwrap().remove(key);
    }

    fn saw(&self, key: &str, obj: Option<Arc<ConfigMap>>) {
        if let Some(rv) = obj.and_then(|o| o.metadata.resource_version.clone()) {
            self.last_seen.lock().unwrap().insert(key.to_owned(), rv);
        }
    }

    fn last_seen(&self, key: &str) -> Option<String> {
        self.last_seen.lock().unwrap().get(key).cloned()
    }

    fn overlaps(&self) -> usize {
        self.overlaps.load(Ordering::SeqCst)
    }

    fn count(&self, key: &str) -> usize {
        self.counts.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// Behaviour chosen by the object's name.
struct Scripted {
    tally: Arc<Tally>,
}

impl Reconciler<ConfigMap> for Scripted {
    async fn reconcile(&self, ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        let name = ctx.request().name.clone();
        let n = self.tally.enter(&name);
        tokio::task::yield_now().await;
        self.tally.leave(&name);
        match name.as_str() {
            "flaky" if n < 3 => Err(ReconcileError::msg(format!("attempt {n} fails"))),
            "terminal" => Err(ReconcileError::terminal(ReconcileError::msg(
                "cannot ever work",
            ))),
            "panics" if n == 1 => panic!("reconcile blew up"),
            "requeue" => Ok(Action::requeue(Duration::from_millis(50))),
            _ => Ok(Action::await_change()),
        }
    }
}

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

async fn wait_count(tally: &Tally, key: &str, at_least: usize) {
    eventually(&format!("{key} reconciled {at_least} times"), || async {
        (tally.count(key) >= at_least).then_some(())
    })
    .await;
}

#[tokio::test]
async fn errors_are_retried_terminal_errors_are_not_panics_are_caught_and_requeue_runs_again() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let tally = Arc::new(Tally::default());
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .max_concurrent_reconciles(4)
        .complete(Scripted {
            tally: tally.clone(),
        })
        .unwrap();
    let running = Running::start(&mgr);

    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    for name in ["terminal", "flaky", "panics", "requeue", "plain"] {
        api.create(&PostParams::default(), &configmap(name))
            .await
            .unwrap();
    }
    // error -> rate-limited retry until it succeeds on the third attempt
    wait_count(&tally, "flaky", 3).await;
    // a panic is caught, logged and retried; the worker survives
    wait_count(&tally, "panics", 2).await;
    // requeue(d) runs again without any change to the object
    wait_count(&tally, "requeue", 3).await;
    wait_count(&tally, "plain", 1).await;
    wait_count(&tally, "terminal", 1).await;

    // Retries of the others took a few ms each; a terminal error gets none. The margin is
    // many times the first backoffs (5 ms, 10 ms) the flaky object needed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tally.count("terminal"), 1, "terminal error was retried");
    assert_eq!(
        tally.count("flaky"),
        3,
        "success after retries was reconciled again"
    );
    assert_eq!(tally.count("plain"), 1);

    // a change to a terminally failed object does reconcile it again
    api.patch(
        "terminal",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "k": "v" } })),
    )
    .await
    .unwrap();
    wait_count(&tally, "terminal", 2).await;
    assert_eq!(tally.overlaps(), 0);

    running.stop().await.unwrap();
    env.stop().await;
}

struct Counter(Arc<AtomicUsize>);

impl Reconciler<ConfigMap> for Counter {
    async fn reconcile(&self, _ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Action::await_change())
    }
}

#[tokio::test]
async fn two_controllers_share_one_informer() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .named("first")
        .complete(Counter(a.clone()))
        .unwrap();
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .named("second")
        .complete(Counter(b.clone()))
        .unwrap();
    assert_eq!(
        mgr.cache().informer_count(),
        1,
        "one watch for two controllers of one type"
    );

    // names are unique per manager (a rejected controller creates no informer); the default
    // name is the lower-cased kind
    struct Noop;
    impl Reconciler<Widget> for Noop {
        async fn reconcile(&self, _ctx: Context<Widget>) -> Result<Action, ReconcileError> {
            Ok(Action::await_change())
        }
    }
    let dup = Controller::managed_by(&mgr)
        .for_::<Widget>()
        .named("first")
        .complete(Noop);
    assert!(dup.unwrap_err().to_string().contains("\"first\""));
    assert_eq!(mgr.cache().informer_count(), 1);
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(Counter(Arc::default()))
        .unwrap();
    let dup_default = Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(Counter(Arc::default()));
    assert!(
        dup_default
            .unwrap_err()
            .to_string()
            .contains("\"configmap\"")
    );
    let zero = Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .named("zero")
        .max_concurrent_reconciles(0)
        .complete(Counter(Arc::default()));
    assert!(zero.is_err());

    // a third type gets its own informer
    let _ = mgr.cache().store::<Widget>();
    assert_eq!(mgr.cache().informer_count(), 2);

    let running = Running::start(&mgr);
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &configmap("shared"))
        .await
        .unwrap();
    eventually("both controllers reconciled", || async {
        (a.load(Ordering::SeqCst) >= 1 && b.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    assert_eq!(mgr.cache().informer_count(), 2);
    let store = mgr.cache().store::<ConfigMap>();
    assert!(store.has_synced());
    assert!(
        store
            .get(&kubesmith_runtime::cache::ObjectKey::namespaced(
                "default", "shared"
            ))
            .is_some()
    );
    running.stop().await.unwrap();
    env.stop().await;
}

/// Blocks inside reconcile until released, to observe shutdown.
struct Blocking {
    entered: Arc<Notify>,
    release: Arc<Notify>,
    finished: Arc<AtomicUsize>,
}

impl Reconciler<ConfigMap> for Blocking {
    async fn reconcile(&self, _ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        self.entered.notify_one();
        self.release.notified().await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(Action::await_change())
    }
}

#[tokio::test]
async fn run_until_lets_in_flight_reconcile_finish() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let blocking = Blocking {
        entered: Arc::default(),
        release: Arc::default(),
        finished: Arc::default(),
    };
    let (entered, release, finished) = (
        blocking.entered.clone(),
        blocking.release.clone(),
        blocking.finished.clone(),
    );
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(blocking)
        .unwrap();
    let running = Running::start(&mgr);
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &configmap("slow"))
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, entered.notified())
        .await
        .expect("reconcile started");

    let stopping = tokio::spawn(running.stop());
    // shutdown must wait for the reconcile rather than return or cancel it
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "run_until returned with a reconcile in flight"
    );
    release.notify_one();
    stopping.await.unwrap().expect("graceful shutdown");
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    env.stop().await;
}

#[tokio::test]
async fn run_until_reports_reconciles_abandoned_after_the_timeout() {
    let env = support::env().await;
    let mgr = manager(
        &env,
        Options {
            graceful_shutdown_timeout: Duration::from_millis(100),
            ..Options::default()
        },
    );
    let blocking = Blocking {
        entered: Arc::default(),
        release: Arc::default(),
        finished: Arc::default(),
    };
    let (entered, finished) = (blocking.entered.clone(), blocking.finished.clone());
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(blocking)
        .unwrap();
    let running = Running::start(&mgr);
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &configmap("stuck"))
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, entered.notified())
        .await
        .expect("reconcile started");
    let err = running.stop().await.unwrap_err();
    assert!(
        matches!(err, kubesmith_runtime::Error::GracefulShutdownTimeout(_)),
        "{err}"
    );
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    env.stop().await;
}

#[tokio::test]
async fn run_twice_is_an_error() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let running = Running::start(&mgr);
    eventually("manager started", || async {
        mgr.cache().has_synced().then_some(())
    })
    .await;
    // let the first run claim the manager
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = mgr.clone().run_until(async {}).await;
    assert!(matches!(
        second,
        Err(kubesmith_runtime::Error::AlreadyRunning)
    ));
    running.stop().await.unwrap();
    env.stop().await;
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    let path = path.to_owned();
    // A blocking std client on the blocking pool keeps the test free of an HTTP client crate.
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n")?.1.to_owned();
        Some((status, body))
    })
    .await
    .ok()?
}

#[tokio::test]
async fn health_probes_answer_and_readyz_turns_ready_after_sync() {
    let env = support::env().await;
    // a free port, released just before the manager binds it
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mgr = manager(
        &env,
        Options {
            health_probe_bind_address: Some(addr),
            ..Options::default()
        },
    );
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(Counter(Arc::default()))
        .unwrap();
    let running = Running::start(&mgr);
    let (status, body) = eventually("/readyz 200", || async {
        http_get(addr, "/readyz")
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(
        http_get(addr, "/healthz").await,
        Some((200, "ok".to_owned()))
    );
    let (status, body) = http_get(addr, "/readyz?verbose").await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("[+]informer-sync ok"), "{body}");
    running.stop().await.unwrap();
    // the probe server is gone with the manager
    assert!(http_get(addr, "/healthz").await.is_none());
    env.stop().await;
}

#[tokio::test]
async fn probe_address_in_use_is_a_clear_error() {
    let env = support::env().await;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let mgr = manager(
        &env,
        Options {
            health_probe_bind_address: Some(addr),
            ..Options::default()
        },
    );
    let err = mgr.run_until(async {}).await.unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    env.stop().await;
}

#[tokio::test]
async fn finalizer_helpers_keep_other_finalizers_and_detect_conflicts() {
    let env = support::env().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let cm = api
        .create(&PostParams::default(), &configmap("fin"))
        .await
        .unwrap();

    assert!(finalizer::add(&api, &cm, "a.example.com/x").await.unwrap());
    let cm = api.get("fin").await.unwrap();
    assert!(finalizer::has(&cm, "a.example.com/x"));
    // already there: nothing to do
    assert!(!finalizer::add(&api, &cm, "a.example.com/x").await.unwrap());
    assert!(finalizer::add(&api, &cm, "b.example.com/y").await.unwrap());

    // adding from a stale copy fails instead of overwriting the list someone else changed
    let stale = cm.clone();
    let conflict = finalizer::add(&api, &stale, "c.example.com/z").await;
    assert!(
        matches!(conflict, Err(kube::Error::Api(ref s)) if s.code == 422),
        "{conflict:?}"
    );

    let cm = api.get("fin").await.unwrap();
    assert!(
        finalizer::remove(&api, &cm, "a.example.com/x")
            .await
            .unwrap()
    );
    let cm = api.get("fin").await.unwrap();
    assert_eq!(cm.finalizers(), ["b.example.com/y"]);
    assert!(
        !finalizer::remove(&api, &cm, "a.example.com/x")
            .await
            .unwrap()
    );
    env.stop().await;
}

fn free_port() -> std::net::SocketAddr {
    // released just before the manager binds it
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test]
async fn readyz_fails_until_caches_sync_and_shutdown_works_before_sync() {
    support::init_tracing();
    // no Widget CRD yet: the informer cannot list, the cache cannot sync
    let env = kubesmith_envtest::Environment::start().await.unwrap();
    let addr = free_port();
    let mgr = manager(
        &env,
        Options {
            health_probe_bind_address: Some(addr),
            ..Options::default()
        },
    );
    let count = Arc::new(AtomicUsize::new(0));
    struct WidgetCounter(Arc<AtomicUsize>);
    impl Reconciler<Widget> for WidgetCounter {
        async fn reconcile(&self, _ctx: Context<Widget>) -> Result<Action, ReconcileError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Action::await_change())
        }
    }
    Controller::managed_by(&mgr)
        .for_::<Widget>()
        .complete(WidgetCounter(count.clone()))
        .unwrap();
    // a manager that never synced still shuts down cleanly
    let unsynced = manager(&env, Options::default());
    Controller::managed_by(&unsynced)
        .for_::<Widget>()
        .complete(WidgetCounter(Arc::default()))
        .unwrap();
    let unsynced_run = Running::start(&unsynced);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!unsynced.cache().has_synced());
    unsynced_run.stop().await.unwrap();

    let running = Running::start(&mgr);
    let (status, body) = eventually("probe server up", || http_get(addr, "/readyz")).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("[-]informer-sync failed: reason withheld"),
        "{body}"
    );
    assert_eq!(
        http_get(addr, "/healthz").await,
        Some((200, "ok".to_owned()))
    );

    // once the CRD exists the watch recovers (with backoff), the cache syncs, workers start
    env.install_crds([<Widget as kube::CustomResourceExt>::crd()])
        .await
        .unwrap();
    eventually("/readyz 200", || async {
        http_get(addr, "/readyz")
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
    let api: Api<Widget> = Api::namespaced(env.client(), "default");
    let mut w = Widget::new("late", WidgetSpec { size: 1 });
    w.metadata.namespace = Some("default".into());
    api.create(&PostParams::default(), &w).await.unwrap();
    eventually("reconciled after late sync", || async {
        (count.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    running.stop().await.unwrap();
    env.stop().await;
}

/// Passes only when `parties` reconciles are inside at the same time.
struct Rendezvous {
    barrier: Arc<tokio::sync::Barrier>,
    passed: Arc<AtomicUsize>,
    tally: Arc<Tally>,
}

impl Reconciler<ConfigMap> for Rendezvous {
    async fn reconcile(&self, ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        let name = ctx.request().name.clone();
        self.tally.enter(&name);
        self.tally.saw(&name, ctx.get());
        let result = if name.starts_with("meet") && self.tally.count(&name) == 1 {
            // with one worker the second object would never arrive: the deadline fails the test
            tokio::time::timeout(DEADLINE, self.barrier.wait())
                .await
                .map(|_| ())
                .map_err(ReconcileError::from)
        } else {
            // slow enough for updates to pile up while this object is in flight
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(())
        };
        self.tally.leave(&name);
        result?;
        self.passed.fetch_add(1, Ordering::SeqCst);
        Ok(Action::await_change())
    }
}

#[tokio::test]
async fn workers_run_different_objects_concurrently_but_never_one_object_twice() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let tally = Arc::new(Tally::default());
    let passed = Arc::new(AtomicUsize::new(0));
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .max_concurrent_reconciles(3)
        .complete(Rendezvous {
            barrier: Arc::new(tokio::sync::Barrier::new(2)),
            passed: passed.clone(),
            tally: tally.clone(),
        })
        .unwrap();
    let running = Running::start(&mgr);
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &configmap("meet-1"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &configmap("meet-2"))
        .await
        .unwrap();
    eventually("both objects met inside reconcile", || async {
        (passed.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;

    // a burst of updates to one object: collapsed, and never reconciled by two workers at once
    api.create(&PostParams::default(), &configmap("hot"))
        .await
        .unwrap();
    for i in 0..20 {
        api.patch(
            "hot",
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": { "i": i.to_string() } })),
        )
        .await
        .unwrap();
    }
    wait_count(&tally, "hot", 1).await;
    let final_rv = api.get("hot").await.unwrap().resource_version();
    eventually("the last update reconciled", || async {
        (tally.last_seen("hot") == final_rv).then_some(())
    })
    .await;
    assert_eq!(
        tally.overlaps(),
        0,
        "one object reconciled by two workers at once"
    );
    assert!(tally.count("hot") <= 21, "more reconciles than changes");
    running.stop().await.unwrap();
    env.stop().await;
}

/// Keeps a config map `<widget>-cfg` controlled by each widget.
struct ChildMaker {
    tally: Arc<Tally>,
}

impl Reconciler<Widget> for ChildMaker {
    async fn reconcile(&self, ctx: Context<Widget>) -> Result<Action, ReconcileError> {
        let name = ctx.request().name.clone();
        self.tally.enter(&name);
        self.tally.leave(&name);
        let Some(widget) = ctx.get() else {
            return Ok(Action::await_change());
        };
        let child_name = format!("{name}-cfg");
        let configmaps: Api<ConfigMap> = Api::namespaced(ctx.client().clone(), "default");
        if configmaps.get_opt(&child_name).await?.is_none() {
            let mut child = configmap(&child_name);
            child.metadata.owner_references = widget.controller_owner_ref(&()).map(|r| vec![r]);
            configmaps.create(&PostParams::default(), &child).await?;
        }
        Ok(Action::await_change())
    }
}

#[tokio::test]
async fn owned_and_watched_objects_reconcile_their_owner() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let tally = Arc::new(Tally::default());
    Controller::managed_by(&mgr)
        .for_::<Widget>()
        .owns::<ConfigMap>()
        .watches::<k8s_openapi::api::core::v1::Secret>(|secret| {
            // secret "<widget>-token" belongs to widget "<widget>"
            let owner = secret
                .metadata
                .name
                .as_deref()
                .and_then(|n| n.strip_suffix("-token"));
            owner
                .map(|name| Request::new(secret.metadata.namespace.clone(), name))
                .into_iter()
                .collect()
        })
        .complete(ChildMaker {
            tally: tally.clone(),
        })
        .unwrap();
    let running = Running::start(&mgr);

    let widgets: Api<Widget> = Api::namespaced(env.client(), "default");
    let configmaps: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    widgets
        .create(&PostParams::default(), &widget("parent", 1))
        .await
        .unwrap();
    eventually("child created", || async {
        configmaps.get_opt("parent-cfg").await.ok()?
    })
    .await;
    // creating the child is itself a change of an owned object: the owner runs again
    wait_count(&tally, "parent", 2).await;

    let before = tally.count("parent");
    configmaps
        .patch(
            "parent-cfg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": { "drift": "yes" } })),
        )
        .await
        .unwrap();
    wait_count(&tally, "parent", before + 1).await;

    let before = tally.count("parent");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client(), "default");
    let mut secret = k8s_openapi::api::core::v1::Secret::default();
    secret.metadata.name = Some("parent-token".into());
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    wait_count(&tally, "parent", before + 1).await;

    // an uncontrolled config map reconciles nobody (no "orphan" widget is ever requested)
    configmaps
        .create(&PostParams::default(), &configmap("orphan"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(tally.count("orphan"), 0);
    assert_eq!(tally.count("orphan-cfg"), 0);
    assert_eq!(mgr.cache().informer_count(), 3);
    running.stop().await.unwrap();
    env.stop().await;
}
