//! Rate limiters deciding how long a failed item waits before it is retried.
//!
//! These mirror client-go's `util/workqueue/default_rate_limiters.go`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Decides how long an item waits before it is handed out again after a failure.
///
/// [`WorkQueue::add_rate_limited`](super::WorkQueue::add_rate_limited) asks [`when`](RateLimiter::when),
/// [`WorkQueue::forget`](super::WorkQueue::forget) calls [`forget`](RateLimiter::forget).
///
/// ```
/// use std::time::Duration;
/// use kubesmith_runtime::queue::{ItemExponentialFailureRateLimiter, RateLimiter};
///
/// let limiter = ItemExponentialFailureRateLimiter::new(Duration::from_millis(5), Duration::from_secs(1000));
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(5));
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(10));
/// assert_eq!(limiter.num_requeues(&"a"), 2);
/// limiter.forget(&"a");
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(5));
/// ```
pub trait RateLimiter<T>: Send + Sync + 'static {
    /// How long `item` should wait now; counts as one more failure of `item`.
    fn when(&self, item: &T) -> Duration;
    /// Stops tracking `item`: its next failure starts from the base delay again.
    fn forget(&self, item: &T);
    /// How many times `item` has been rate limited since it was last forgotten.
    fn num_requeues(&self, item: &T) -> u32;
}

/// Per-item exponential backoff: `base · 2^failures`, capped at `max`.
#[derive(Debug)]
pub struct ItemExponentialFailureRateLimiter<T> {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<T, u32>>,
}

impl<T> ItemExponentialFailureRateLimiter<T> {
    /// A limiter starting at `base` and never waiting longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Eq + Hash + Clone + Send + Sync + 'static> RateLimiter<T>
    for ItemExponentialFailureRateLimiter<T>
{
    fn when(&self, item: &T) -> Duration {
        let exp = {
            let mut failures = lock(&self.failures);
            let count = failures.entry(item.clone()).or_insert(0);
            let exp = *count;
            *count = count.saturating_add(1);
            exp
        };
        // Anything that does not fit is certainly above the cap.
        2u32.checked_pow(exp)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |delay| delay.min(self.max))
    }

    fn forget(&self, item: &T) {
        lock(&self.failures).remove(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        lock(&self.failures).get(item).copied().unwrap_or(0)
    }
}

/// A token bucket shared by all items (golang.org/x/time/rate semantics): `qps` tokens are added
/// per second up to `burst`; every call takes one token and waits until it would be available.
#[derive(Debug)]
pub struct BucketRateLimiter {
    qps: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl BucketRateLimiter {
    /// A bucket refilled at `qps` tokens per second holding at most `burst` tokens; starts full.
    pub fn new(qps: f64, burst: u32) -> Self {
        let burst = f64::from(burst);
        Self {
            qps,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            }),
        }
    }

    fn reserve(&self) -> Duration {
        let mut bucket = lock(&self.state);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.qps).min(self.burst) - 1.0;
        bucket.last = now;
        if bucket.tokens >= 0.0 || self.qps <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(-bucket.tokens / self.qps).unwrap_or(Duration::MAX)
    }
}

impl<T> RateLimiter<T> for BucketRateLimiter {
    fn when(&self, _item: &T) -> Duration {
        self.reserve()
    }

    fn forget(&self, _item: &T) {}

    fn num_requeues(&self, _item: &T) -> u32 {
        0
    }
}

/// client-go's `DefaultControllerRateLimiter`: the larger of a per-item exponential backoff
/// (5 ms · 2^failures, capped at 1000 s) and a global token bucket (10 qps, burst 100).
///
/// The per-item part backs off a failing object; the bucket keeps a storm of failures across
/// many objects from hammering the API server.
#[derive(Debug)]
pub struct DefaultControllerRateLimiter<T> {
    item: ItemExponentialFailureRateLimiter<T>,
    bucket: BucketRateLimiter,
}

impl<T> Default for DefaultControllerRateLimiter<T> {
    fn default() -> Self {
        Self {
            item: ItemExponentialFailureRateLimiter::new(
                Duration::from_millis(5),
                Duration::from_secs(1000),
            ),
            bucket: BucketRateLimiter::new(10.0, 100),
        }
    }
}

impl<T: Eq + Hash + Clone + Send + Sync + 'static> RateLimiter<T>
    for DefaultControllerRateLimiter<T>
{
    fn when(&self, item: &T) -> Duration {
        // Both are asked so the failure count and the bucket both advance, as in client-go's MaxOf.
        let per_item = self.item.when(item);
        let overall = RateLimiter::<T>::when(&self.bucket, item);
        per_item.max(overall)
    }

    fn forget(&self, item: &T) {
        self.item.forget(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.item.num_requeues(item)
    }
}

/// Locks a mutex, recovering from poisoning: the maps guarded here stay consistent even if a
/// holder panicked, since every critical section is a single map operation.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_and_caps() {
        let l = ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        );
        let delays: Vec<_> = (0..5).map(|_| l.when(&"x")).collect();
        assert_eq!(
            delays,
            [5, 10, 20, 40, 80].map(Duration::from_millis).to_vec()
        );
        assert_eq!(l.num_requeues(&"x"), 5);
        // 5ms·2^18 = 1310 s > 1000 s
        for _ in 5..18 {
            l.when(&"x");
        }
        assert_eq!(l.when(&"x"), Duration::from_secs(1000));
        // far beyond u32 exponents: still the cap, no overflow
        for _ in 0..100 {
            assert_eq!(l.when(&"x"), Duration::from_secs(1000));
        }
        // other items are independent
        assert_eq!(l.when(&"y"), Duration::from_millis(5));
        l.forget(&"x");
        assert_eq!(l.num_requeues(&"x"), 0);
        assert_eq!(l.when(&"x"), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_paces_at_qps() {
        let b = BucketRateLimiter::new(10.0, 100);
        for _ in 0..100 {
            assert_eq!(RateLimiter::<&str>::when(&b, &"x"), Duration::ZERO);
        }
        // the 101st token is 1/10 s away, the 102nd 2/10 s
        assert_eq!(
            RateLimiter::<&str>::when(&b, &"x"),
            Duration::from_millis(100)
        );
        assert_eq!(
            RateLimiter::<&str>::when(&b, &"x"),
            Duration::from_millis(200)
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        // one second refilled 10 tokens, 2 of which were owed
        let d = RateLimiter::<&str>::when(&b, &"x");
        assert_eq!(d, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn default_is_max_of_item_and_bucket() {
        let l = DefaultControllerRateLimiter::<String>::default();
        let a = "a".to_owned();
        assert_eq!(l.when(&a), Duration::from_millis(5));
        assert_eq!(l.when(&a), Duration::from_millis(10));
        // drain the rest of the burst with first failures of other items (5 ms each)
        for i in 0..98 {
            assert_eq!(l.when(&i.to_string()), Duration::from_millis(5));
        }
        // bucket empty: a fresh item waits for the bucket (100 ms), not its own 5 ms
        assert_eq!(l.when(&"fresh".to_owned()), Duration::from_millis(100));
        // an item deep in backoff waits for its own, longer delay
        for _ in 0..10 {
            l.when(&a);
        }
        assert_eq!(l.num_requeues(&a), 12);
        assert_eq!(l.when(&a), Duration::from_millis(5 * 4096));
        l.forget(&a);
        assert_eq!(l.num_requeues(&a), 0);
    }
}
