//! Leader election against the embedded API server, with short durations (2 s lease, 1 s
//! renew deadline, 200 ms retry period).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kubesmith_runtime::prelude::*;
use support::{Running, eventually};

const LEASE: &str = "widget-operator-leader";

fn options() -> Options {
    Options {
        leader_election: true,
        leader_election_id: Some(LEASE.into()),
        leader_election_namespace: Some("default".into()),
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(200),
        ..Options::default()
    }
}

/// Appends `<who>:<configmap>` to a shared log for every reconcile.
struct Log {
    who: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl Reconciler<ConfigMap> for Log {
    async fn reconcile(&self, ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:{}", self.who, ctx.request().name));
        Ok(Action::await_change())
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

async fn lease(client: &kube::Client) -> Option<LeaseSpec> {
    Api::<Lease>::namespaced(client.clone(), "default")
        .get_opt(LEASE)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
}

fn entries(log: &Mutex<Vec<String>>, who: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|e| e.starts_with(who))
        .count()
}

#[tokio::test]
async fn exactly_one_manager_reconciles_and_the_standby_takes_over_after_it_stops() {
    let env = support::env().await;
    let client = env.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &configmap("one"))
        .await
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));

    let a = support::manager(&env, options());
    Controller::managed_by(&a)
        .for_::<ConfigMap>()
        .complete(Log {
            who: "a",
            log: log.clone(),
        })
        .unwrap();
    let running_a = Running::start(&a);
    eventually("a reconciles", || async {
        (entries(&log, "a:one") > 0).then_some(())
    })
    .await;
    let spec = lease(&client).await.expect("lease created");
    assert_eq!(spec.holder_identity.as_deref(), Some(a.identity()));
    assert_eq!(spec.lease_duration_seconds, Some(2));
    assert_eq!(spec.lease_transitions, Some(0));
    let acquired = spec.acquire_time.clone().expect("acquireTime");
    assert!(a.identity().contains('_'), "{}", a.identity());

    let b = support::manager(&env, options());
    Controller::managed_by(&b)
        .for_::<ConfigMap>()
        .complete(Log {
            who: "b",
            log: log.clone(),
        })
        .unwrap();
    let running_b = Running::start(&b);
    cms.create(&PostParams::default(), &configmap("two"))
        .await
        .unwrap();
    // b's cache runs (it sees "two") but its controller waits for the lease.
    eventually("b's cache has two", || async {
        b.cache()
            .store::<ConfigMap>()
            .get(&kubesmith_runtime::cache::ObjectKey::namespaced(
                "default", "two",
            ))
            .map(|_| ())
    })
    .await;
    eventually("a reconciles two", || async {
        (entries(&log, "a:two") > 0).then_some(())
    })
    .await;
    // Several renewals later the lease is still a's, renewed with acquireTime kept.
    eventually("a renewed the lease", || async {
        let spec = lease(&client).await?;
        (spec.renew_time.as_ref()? > &acquired).then_some(spec)
    })
    .await;
    let spec = lease(&client).await.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(a.identity()));
    assert_eq!(spec.acquire_time.as_ref(), Some(&acquired));
    assert!(
        b.metrics().encode().contains(&format!(
            "leader_election_master_status{{name=\"{LEASE}\"}} 0"
        )),
        "{}",
        b.metrics().encode()
    );
    assert!(a.metrics().encode().contains(&format!(
        "leader_election_master_status{{name=\"{LEASE}\"}} 1"
    )));
    assert_eq!(entries(&log, "b:"), 0, "{:?}", log.lock().unwrap());

    // a stops gracefully and releases the lease; b takes over without waiting for expiry.
    running_a.stop().await.unwrap();
    log.lock().unwrap().push("a stopped".into());
    eventually("b reconciles after taking over", || async {
        (entries(&log, "b:one") > 0 && entries(&log, "b:two") > 0).then_some(())
    })
    .await;
    let spec = lease(&client).await.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(b.identity()));
    assert_eq!(spec.lease_transitions, Some(1));

    // Never both: every reconcile of b comes after a stopped.
    let log_now = log.lock().unwrap().clone();
    let stopped = log_now.iter().position(|e| e == "a stopped").unwrap();
    assert!(
        log_now[..stopped].iter().all(|e| e.starts_with("a:")),
        "{log_now:?}"
    );
    assert!(
        log_now[stopped + 1..].iter().all(|e| e.starts_with("b:")),
        "{log_now:?}"
    );

    running_b.stop().await.unwrap();
    let spec = lease(&client).await.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(""));
    assert_eq!(spec.lease_transitions, Some(1));
    env.stop().await;
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_stops_with_an_error() {
    let env = support::env().await;
    let client = env.client();
    let log = Arc::new(Mutex::new(Vec::new()));
    let a = support::manager(&env, options());
    Controller::managed_by(&a)
        .for_::<ConfigMap>()
        .complete(Log {
            who: "a",
            log: log.clone(),
        })
        .unwrap();
    let running = Running::start(&a);
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    eventually("a leads", || async {
        let spec = lease(&client).await?;
        (spec.holder_identity.as_deref() == Some(a.identity())).then_some(())
    })
    .await;
    // Someone else writes the lease with a long duration: a can no longer renew.
    eventually("lease stolen", || async {
        let mut stolen = leases.get(LEASE).await.ok()?;
        let spec = stolen.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some("thief".into());
        spec.lease_duration_seconds = Some(3600);
        leases
            .replace(LEASE, &PostParams::default(), &stolen)
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let result = tokio::time::timeout(support::DEADLINE, async {
        loop {
            if running.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        running.stop().await
    })
    .await
    .expect("manager stops after losing the lease");
    let err = result.unwrap_err();
    assert!(
        matches!(err, kubesmith_runtime::Error::LeaderElectionLost { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(LEASE), "{err}");
    // the thief keeps the lease: nothing was released over it
    let spec = lease(&client).await.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("thief"));
    env.stop().await;
}

/// Blocks in reconcile until the test lets it go.
struct Stuck {
    entered: Arc<tokio::sync::Notify>,
}

impl Reconciler<ConfigMap> for Stuck {
    async fn reconcile(&self, _ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
        self.entered.notify_one();
        std::future::pending::<()>().await;
        Ok(Action::await_change())
    }
}

#[tokio::test]
async fn the_lease_is_left_to_expire_when_reconciles_outlive_the_graceful_timeout() {
    let env = support::env().await;
    let client = env.client();
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &configmap("slow"))
        .await
        .unwrap();
    let entered = Arc::new(tokio::sync::Notify::new());
    let a = support::manager(
        &env,
        Options {
            graceful_shutdown_timeout: Duration::from_millis(300),
            ..options()
        },
    );
    Controller::managed_by(&a)
        .for_::<ConfigMap>()
        .complete(Stuck {
            entered: entered.clone(),
        })
        .unwrap();
    let running = Running::start(&a);
    tokio::time::timeout(support::DEADLINE, entered.notified())
        .await
        .expect("reconcile started");
    let err = running.stop().await.unwrap_err();
    assert!(
        matches!(err, kubesmith_runtime::Error::GracefulShutdownTimeout(_)),
        "{err}"
    );
    let spec = lease(&client).await.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(a.identity()));
    env.stop().await;
}

#[tokio::test]
async fn inconsistent_leader_election_timing_is_a_clear_error() {
    let env = support::env().await;
    let mgr = support::manager(
        &env,
        Options {
            renew_deadline: Duration::from_secs(5),
            ..options()
        },
    );
    let err = mgr.run_until(async {}).await.unwrap_err().to_string();
    assert!(err.contains("renew deadline"), "{err}");
    env.stop().await;
}
