//! Leader election on a `coordination.k8s.io/v1` Lease, following client-go's
//! `tools/leaderelection` algorithm so that kubesmith operators and Go operators judge a lease
//! the same way.
//!
//! - A candidate retries every `retry_period` (jittered by up to 1.2 × the period) until it
//!   acquires the lease; a leader renews it every `retry_period` and gives up leadership when
//!   no renewal succeeded within `renew_deadline`.
//! - A lease held by someone else is valid while `leaseDurationSeconds` have not passed since
//!   **this process last saw the record change**. The holder's `renewTime` is never compared
//!   with the local clock, so clock skew between nodes cannot make two leaders.
//! - Every write is an update carrying the lease's `resourceVersion`, so of two candidates
//!   racing for an expired lease exactly one wins (the other gets 409 Conflict).
//! - A takeover increments `leaseTransitions`; a renewal keeps `acquireTime`.
//!
//! The [`Manager`](crate::Manager) runs this when [`Options::leader_election`](crate::Options)
//! is on; [`LeaderElector`] is public for operators that need a lease of their own.
//!
//! ```no_run
//! use std::time::Duration;
//! use kubesmith_runtime::leaderelection::{LeaderElectionConfig, LeaderElector};
//!
//! # async fn doc(client: kube::Client) -> Result<(), kubesmith_runtime::Error> {
//! let config = LeaderElectionConfig::new("my-operator-leader", "default");
//! let elector = LeaderElector::new(client, config)?;
//! while !elector.try_acquire_or_renew().await {
//!     tokio::time::sleep(Duration::from_secs(2)).await;
//! }
//! assert!(elector.is_leader());
//! // ... lead, renewing every retry period ...
//! elector.release().await?;
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::PostParams;
use kube::core::ObjectMeta;
use kube::{Api, Client};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Error;

/// client-go's `JitterFactor`: a candidate waits between 1 and 2.2 retry periods.
const JITTER_FACTOR: f64 = 1.2;

/// Where the lease lives, who we are, and the timing of the election.
///
/// ```
/// use std::time::Duration;
/// use kubesmith_runtime::leaderelection::LeaderElectionConfig;
///
/// let config = LeaderElectionConfig::new("memcached-operator-leader", "operators");
/// assert_eq!(config.lease_duration, Duration::from_secs(15));
/// assert_eq!(config.renew_deadline, Duration::from_secs(10));
/// assert_eq!(config.retry_period, Duration::from_secs(2));
/// // `<hostname>_<uuid>`: unique per process even for two replicas on one host
/// assert!(config.identity.contains('_'));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// Name of the Lease object.
    pub name: String,
    /// Namespace of the Lease object.
    pub namespace: String,
    /// This candidate's identity, written to `spec.holderIdentity`; must be unique per process.
    pub identity: String,
    /// How long a lease stays valid after it was last seen to change (default 15 s). Whole
    /// seconds, at least 1: `leaseDurationSeconds` is an integer.
    pub lease_duration: Duration,
    /// How long a leader keeps retrying a failing renewal before it gives up (default 10 s).
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and leaders renew (default 2 s).
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// A configuration with controller-runtime's timing and a fresh [`default_identity`].
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Checks client-go's constraints: lease duration > renew deadline > 1.2 × retry period,
    /// and a lease duration of whole seconds.
    fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("the lease name must not be empty".into());
        }
        if self.namespace.is_empty() {
            return Err("the lease namespace must not be empty".into());
        }
        if self.identity.is_empty() {
            return Err("the identity must not be empty".into());
        }
        if self.lease_duration < Duration::from_secs(1) || self.lease_duration.subsec_nanos() != 0 {
            return Err(format!(
                "the lease duration must be a whole number of seconds, at least 1s (got {:?})",
                self.lease_duration
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "the lease duration ({:?}) must be greater than the renew deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        if self.renew_deadline <= self.retry_period.mul_f64(JITTER_FACTOR) {
            return Err(format!(
                "the renew deadline ({:?}) must be greater than 1.2 × the retry period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.retry_period.is_zero() {
            return Err("the retry period must not be zero".into());
        }
        Ok(())
    }
}

/// `<hostname>_<uuid>`, as controller-runtime's default identity (`unknown` when the host
/// name cannot be read).
pub fn default_identity() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// Competes for one Lease: [`try_acquire_or_renew`](Self::try_acquire_or_renew) is one step
/// of client-go's algorithm, [`release`](Self::release) hands the lease back.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    observed: Mutex<Observed>,
}

/// What this candidate last saw of the lease.
#[derive(Default)]
struct Observed {
    /// The lease object (with its resourceVersion) our next update is based on.
    lease: Option<Lease>,
    /// The record as we last saw or wrote it.
    record: LeaseSpec,
    /// The record's serialized form, compared to detect changes.
    raw: Option<Vec<u8>>,
    /// Local time the record was last seen to change: the only clock validity is judged by.
    time: Option<Instant>,
}

impl Observed {
    fn is_leader(&self, identity: &str) -> bool {
        self.record.holder_identity.as_deref() == Some(identity)
    }

    fn is_valid(&self, now: Instant) -> bool {
        let seconds = self.record.lease_duration_seconds.unwrap_or(0).max(0);
        self.time
            .is_some_and(|seen| seen + Duration::from_secs(seconds.unsigned_abs().into()) > now)
    }
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .field("is_leader", &self.is_leader())
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// An elector for the lease `config` names; fails if the timing violates client-go's
    /// constraints (lease duration > renew deadline > 1.2 × retry period).
    pub fn new(client: Client, config: LeaderElectionConfig) -> Result<Self, Error> {
        config.validate().map_err(Error::InvalidLeaderElection)?;
        Ok(Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: Mutex::new(Observed::default()),
        })
    }

    /// The configuration this elector runs with.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// Whether the last record seen or written names this candidate as the holder.
    pub fn is_leader(&self) -> bool {
        lock(&self.observed).is_leader(&self.config.identity)
    }

    /// One attempt to acquire the lease (or renew it, when already leading); `true` when this
    /// candidate holds it afterwards. Failures are logged, never returned: the caller simply
    /// tries again after the retry period.
    pub async fn try_acquire_or_renew(&self) -> bool {
        let now = micro_now();
        let lease_seconds = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let mut desired = LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(lease_seconds),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        };

        // 1. Fast path: still leading and the lease valid, renew from what we hold.
        let fast = {
            let observed = lock(&self.observed);
            if observed.is_leader(&self.config.identity) && observed.is_valid(Instant::now()) {
                observed
                    .lease
                    .clone()
                    .map(|lease| (lease, observed.record.clone()))
            } else {
                None
            }
        };
        if let Some((lease, old)) = fast {
            desired.acquire_time = old.acquire_time;
            desired.lease_transitions = old.lease_transitions;
            match self.update(lease, desired.clone()).await {
                Ok(updated) => {
                    self.observe_own_write(updated, desired);
                    return true;
                }
                Err(err) => {
                    tracing::debug!(lease = %self.config.name, error = %err, "failed to renew the lease optimistically; falling back to the slow path");
                }
            }
        }

        // 2. Get the lease, or create it.
        let lease = match self.api.get_opt(&self.config.name).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(desired.clone()),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(created) => {
                        self.observe_own_write(created, desired);
                        true
                    }
                    Err(err) => {
                        tracing::info!(lease = %self.config.name, error = %err, "cannot create the lease");
                        false
                    }
                };
            }
            Err(err) => {
                tracing::warn!(lease = %self.config.name, namespace = %self.config.namespace, error = %err, "cannot read the lease");
                return false;
            }
        };

        // 3. Note whether the record changed; respect a valid lease held by someone else.
        let old = lease.spec.clone().unwrap_or_default();
        let leading = {
            let mut observed = lock(&self.observed);
            let raw = serde_json::to_vec(&old).ok();
            if observed.raw != raw || observed.time.is_none() {
                observed.record = old.clone();
                observed.raw = raw;
                observed.time = Some(Instant::now());
            }
            observed.lease = Some(lease.clone());
            let holder = old.holder_identity.as_deref().unwrap_or("");
            let leading = observed.is_leader(&self.config.identity);
            if !holder.is_empty() && observed.is_valid(Instant::now()) && !leading {
                tracing::debug!(lease = %self.config.name, holder, "the lease is held by another candidate and has not expired");
                return false;
            }
            leading
        };

        // 4. Acquire (counting a transition) or renew.
        if leading {
            desired.acquire_time = old.acquire_time;
            desired.lease_transitions = old.lease_transitions;
        } else {
            desired.lease_transitions = Some(old.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        match self.update(lease, desired.clone()).await {
            Ok(updated) => {
                self.observe_own_write(updated, desired);
                true
            }
            Err(err) => {
                tracing::debug!(lease = %self.config.name, error = %err, "cannot update the lease");
                false
            }
        }
    }

    /// Hands the lease back if this candidate holds it, as client-go's `release`: empty
    /// holder, a 1 s duration, transitions kept, so another candidate takes over at its next
    /// retry instead of waiting for the lease to expire.
    pub async fn release(&self) -> Result<(), Error> {
        let (lease, old) = {
            let observed = lock(&self.observed);
            if !observed.is_leader(&self.config.identity) {
                return Ok(());
            }
            match &observed.lease {
                Some(lease) => (lease.clone(), observed.record.clone()),
                None => return Ok(()),
            }
        };
        let now = micro_now();
        let desired = LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: old.lease_transitions,
            ..LeaseSpec::default()
        };
        let updated = self.update(lease, desired.clone()).await?;
        self.observe_own_write(updated, desired);
        tracing::info!(lease = %self.config.name, "released the lease");
        Ok(())
    }

    async fn update(&self, mut lease: Lease, spec: LeaseSpec) -> Result<Lease, kube::Error> {
        lease.spec = Some(spec);
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
    }

    fn observe_own_write(&self, lease: Lease, record: LeaseSpec) {
        let mut observed = lock(&self.observed);
        observed.raw = lease
            .spec
            .as_ref()
            .and_then(|spec| serde_json::to_vec(spec).ok());
        observed.record = record;
        observed.time = Some(Instant::now());
        observed.lease = Some(lease);
    }
}

/// Where a [`Campaign`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    Candidate,
    Leader,
    /// Led, then failed to renew within the renew deadline.
    Lost,
}

/// The acquire-then-renew loop of one elector, running as a task.
pub(crate) struct Campaign {
    elector: Arc<LeaderElector>,
    standing: watch::Receiver<Standing>,
    resign: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Campaign {
    /// A manager whose run was dropped must not go on renewing the lease.
    fn drop(&mut self) {
        self.resign.cancel();
    }
}

impl Campaign {
    /// Starts campaigning; `status` is `leader_election_master_status` (1 while leading).
    pub(crate) fn start(elector: LeaderElector, status: Gauge) -> Self {
        let elector = Arc::new(elector);
        let (tx, standing) = watch::channel(Standing::Candidate);
        let resign = CancellationToken::new();
        let task = tokio::spawn(campaign(Arc::clone(&elector), tx, resign.clone(), status));
        Self {
            elector,
            standing,
            resign,
            task: Some(task),
        }
    }

    /// Completes once this candidate leads (or led and lost it already, which [`lost`](Self::lost)
    /// then reports).
    pub(crate) async fn leading(&self) {
        let mut standing = self.standing.clone();
        let _ = standing.wait_for(|s| *s != Standing::Candidate).await;
    }

    /// Completes when leadership was lost (never if it is kept).
    pub(crate) async fn lost(&self) {
        let mut standing = self.standing.clone();
        if standing.wait_for(|s| *s == Standing::Lost).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Stops campaigning and renewing; with `release`, hands the lease back if held (without,
    /// the lease is left to expire).
    pub(crate) async fn resign(mut self, release: bool) {
        self.resign.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if release && let Err(err) = self.elector.release().await {
            tracing::warn!(error = %err, "cannot release the lease; it will expire");
        }
    }
}

async fn campaign(
    elector: Arc<LeaderElector>,
    standing: watch::Sender<Standing>,
    resign: CancellationToken,
    status: Gauge,
) {
    let config = elector.config().clone();
    status.set(0);
    tracing::info!(lease = %config.name, namespace = %config.namespace, identity = %config.identity, "attempting to acquire the leader lease");
    // Acquire: try at once, then every jittered retry period.
    loop {
        // Raced against `resign` so an unreachable API server cannot hold up shutdown. A write
        // cut off here may still have made us the holder; the lease then simply expires.
        let acquired = tokio::select! {
            () = resign.cancelled() => return,
            acquired = elector.try_acquire_or_renew() => acquired,
        };
        if acquired {
            break;
        }
        tokio::select! {
            () = resign.cancelled() => return,
            () = tokio::time::sleep(jittered(config.retry_period)) => {}
        }
    }
    tracing::info!(lease = %config.name, identity = %config.identity, "acquired the leader lease");
    status.set(1);
    standing.send_replace(Standing::Leader);
    // Renew: every retry period; give up when no attempt succeeded within the renew deadline.
    loop {
        tokio::select! {
            () = resign.cancelled() => return,
            () = tokio::time::sleep(config.retry_period) => {}
        }
        let deadline = Instant::now() + config.renew_deadline;
        let renewed = loop {
            // Not raced against `resign`: an update cut off mid-flight would leave us unsure
            // of the lease's resourceVersion, and release needs it.
            match tokio::time::timeout_at(deadline, elector.try_acquire_or_renew()).await {
                Ok(true) => break true,
                Ok(false) if Instant::now() + config.retry_period < deadline => {
                    tokio::time::sleep(config.retry_period).await;
                }
                _ => break false,
            }
        };
        if !renewed {
            tracing::error!(lease = %config.name, identity = %config.identity, "failed to renew the leader lease within the renew deadline; leadership lost");
            status.set(0);
            standing.send_replace(Standing::Lost);
            return;
        }
    }
}

/// `period` plus a random extra of up to [`JITTER_FACTOR`] × `period` (wait.Jitter).
fn jittered(period: Duration) -> Duration {
    // uuid's v4 generator is an OS-seeded random source we already depend on.
    let random = (uuid::Uuid::new_v4().as_u128() as u64) as f64 / u64::MAX as f64;
    period + period.mul_f64(JITTER_FACTOR * random)
}

/// Now, truncated to the microseconds a MicroTime keeps, so what we write is what we read back.
fn micro_now() -> MicroTime {
    let now = jiff::Timestamp::now();
    MicroTime(jiff::Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LeaderElectionConfig {
        LeaderElectionConfig::new("lease", "default")
    }

    #[test]
    fn defaults_are_valid_and_constraints_are_checked() {
        assert_eq!(config().validate(), Ok(()));
        let mut c = config();
        c.lease_duration = Duration::from_millis(1500);
        assert!(c.validate().unwrap_err().contains("whole number"));
        let mut c = config();
        c.renew_deadline = Duration::from_secs(15);
        assert!(
            c.validate()
                .unwrap_err()
                .contains("greater than the renew deadline")
        );
        let mut c = config();
        c.retry_period = Duration::from_secs(9);
        assert!(c.validate().unwrap_err().contains("1.2"));
    }

    #[test]
    fn identities_are_unique() {
        assert_ne!(default_identity(), default_identity());
    }

    #[test]
    fn jitter_stays_within_client_go_bounds() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(2));
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_millis(4400),
                "{d:?}"
            );
        }
    }

    #[test]
    fn validity_counts_from_when_the_record_was_seen() {
        let now = Instant::now();
        let mut observed = Observed {
            record: LeaseSpec {
                holder_identity: Some("other".into()),
                lease_duration_seconds: Some(15),
                ..LeaseSpec::default()
            },
            time: Some(now),
            ..Observed::default()
        };
        assert!(observed.is_valid(now + Duration::from_secs(14)));
        assert!(!observed.is_valid(now + Duration::from_secs(15)));
        assert!(!observed.is_leader("me"));
        observed.time = None;
        assert!(!observed.is_valid(now));
    }

    #[test]
    fn micro_time_has_no_sub_microsecond_part() {
        let MicroTime(t) = micro_now();
        assert_eq!(t.subsec_nanosecond() % 1000, 0);
    }
}
