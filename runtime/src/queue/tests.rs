use std::time::Duration;

use tokio::time::{Instant, timeout};

use super::*;

/// With paused time, a `timeout` shorter than the item's delay elapses first, deterministically.
async fn not_ready_within(q: &WorkQueue<&'static str>, d: Duration) {
    assert!(
        timeout(d, q.get()).await.is_err(),
        "item handed out before its delay"
    );
}

#[tokio::test]
async fn add_is_fifo_and_deduplicates() {
    let q = WorkQueue::new();
    q.add("a");
    q.add("b");
    q.add("a");
    assert_eq!(q.len(), 2);
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.get().await, Some("b"));
    assert!(q.is_empty());
}

#[tokio::test]
async fn add_while_processing_runs_once_more_after_done() {
    let q = WorkQueue::new();
    q.add("a");
    let a = q.get().await.unwrap();
    q.add("a");
    q.add("a");
    // not handed out to a second worker while the first holds it
    assert_eq!(q.len(), 0);
    assert!(timeout(Duration::from_millis(20), q.get()).await.is_err());
    q.done(&a);
    assert_eq!(q.len(), 1);
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    assert_eq!(q.len(), 0);
}

#[tokio::test]
async fn done_without_readd_does_not_requeue() {
    let q = WorkQueue::new();
    q.add("a");
    let a = q.get().await.unwrap();
    q.done(&a);
    assert_eq!(q.len(), 0);
    // done on an unknown item is harmless
    q.done(&"zzz");
    assert_eq!(q.len(), 0);
}

#[tokio::test]
async fn get_waits_for_an_add_from_another_task() {
    let q = WorkQueue::new();
    let getter = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    tokio::task::yield_now().await;
    q.add("late");
    assert_eq!(getter.await.unwrap(), Some("late"));
}

#[tokio::test]
async fn many_waiters_each_get_one_item() {
    let q = WorkQueue::new();
    let getters: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move { q.get().await })
        })
        .collect();
    tokio::task::yield_now().await;
    for item in ["a", "b", "c", "d"] {
        q.add(item);
    }
    let mut got = Vec::new();
    for g in getters {
        got.push(g.await.unwrap().unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, ["a", "b", "c", "d"]);
}

#[tokio::test]
async fn shutdown_ignores_adds_drains_queue_then_returns_none() {
    let q = WorkQueue::new();
    q.add("a");
    q.shutdown();
    assert!(q.is_shutting_down());
    q.add("b");
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.get().await, None);
}

#[tokio::test]
async fn shutdown_wakes_blocked_getters() {
    let q: WorkQueue<&str> = WorkQueue::new();
    let getter = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    tokio::task::yield_now().await;
    q.shutdown();
    assert_eq!(getter.await.unwrap(), None);
}

#[tokio::test]
async fn shutdown_with_drain_waits_for_processing() {
    let q = WorkQueue::new();
    q.add("a");
    let a = q.get().await.unwrap();
    let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = tokio::spawn({
        let q = q.clone();
        let drained = drained.clone();
        async move {
            q.shutdown_with_drain().await;
            drained.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!drained.load(std::sync::atomic::Ordering::SeqCst));
    q.done(&a);
    drain.await.unwrap();
    assert!(drained.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn add_after_delays_the_item() {
    let q = WorkQueue::new();
    let start = Instant::now();
    q.add_after("a", Duration::from_secs(10));
    assert_eq!(q.len(), 0);
    not_ready_within(&q, Duration::from_secs(9)).await;
    assert_eq!(q.get().await, Some("a"));
    assert!(start.elapsed() >= Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn add_after_zero_adds_now() {
    let q = WorkQueue::new();
    q.add_after("a", Duration::ZERO);
    assert_eq!(q.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn add_after_earlier_ready_time_wins() {
    let q = WorkQueue::new();
    let start = Instant::now();
    q.add_after("a", Duration::from_secs(10));
    q.add_after("a", Duration::from_secs(2));
    // a later time does not push it back
    q.add_after("a", Duration::from_secs(30));
    assert_eq!(q.get().await, Some("a"));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    q.done(&"a");
    // the superseded 10 s timer does not add it again
    assert!(timeout(Duration::from_secs(100), q.get()).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn add_after_then_add_is_deduplicated() {
    let q = WorkQueue::new();
    q.add_after("a", Duration::from_secs(1));
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    // the delayed add fires later and queues it once more, as in client-go
    assert_eq!(q.get().await, Some("a"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_drops_delayed_items() {
    let q = WorkQueue::new();
    q.add_after("a", Duration::from_secs(1));
    q.shutdown();
    assert_eq!(q.get().await, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(q.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn add_rate_limited_backs_off_exponentially_until_forget() {
    let q = WorkQueue::with_rate_limiter(ItemExponentialFailureRateLimiter::new(
        Duration::from_secs(1),
        Duration::from_secs(60),
    ));
    for expected in [1, 2, 4, 8] {
        let start = Instant::now();
        q.add_rate_limited("a");
        not_ready_within(&q, Duration::from_secs(expected) - Duration::from_millis(1)).await;
        assert_eq!(q.get().await, Some("a"));
        assert!(start.elapsed() >= Duration::from_secs(expected));
        q.done(&"a");
    }
    assert_eq!(q.num_requeues(&"a"), 4);
    q.forget(&"a");
    assert_eq!(q.num_requeues(&"a"), 0);
    let start = Instant::now();
    q.add_rate_limited("a");
    assert_eq!(q.get().await, Some("a"));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn default_queue_first_retry_is_5ms() {
    let q = WorkQueue::new();
    q.add_rate_limited("a");
    not_ready_within(&q, Duration::from_millis(4)).await;
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.num_requeues(&"a"), 1);
}

/// Property tests: random sequences of queue operations checked, step by step, against a
/// model of client-go's semantics, on tokio's paused clock so delays are exact.
mod properties {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// SplitMix64: a seeded generator keeps every case reproducible from its seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[derive(Debug)]
    enum Op {
        Add(u8),
        AddAfter(u8, u64),
        AddRateLimited(u8),
        Forget(u8),
        Get,
        Done(usize),
        Advance(u64),
    }

    /// What the queue must hold: which items are queued (ready to hand out), being
    /// processed, dirty, waiting with their earliest ready time, and failure counts.
    #[derive(Default, Debug)]
    struct Model {
        queued: BTreeSet<u8>,
        dirty: BTreeSet<u8>,
        processing: BTreeSet<u8>,
        waiting: BTreeMap<u8, Instant>,
        failures: BTreeMap<u8, u32>,
    }

    const BASE: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_millis(200);

    impl Model {
        fn add(&mut self, item: u8) {
            if self.dirty.insert(item) && !self.processing.contains(&item) {
                self.queued.insert(item);
            }
        }

        fn add_after(&mut self, item: u8, delay: Duration, now: Instant) {
            if delay.is_zero() {
                return self.add(item);
            }
            let at = now + delay;
            let earliest = self.waiting.entry(item).or_insert(at);
            *earliest = (*earliest).min(at);
        }

        fn rate_limited_delay(&mut self, item: u8) -> Duration {
            let n = self.failures.entry(item).or_default();
            let delay = BASE
                .checked_mul(2u32.saturating_pow(*n))
                .map_or(MAX, |d| d.min(MAX));
            *n += 1;
            delay
        }

        /// Fires the timers due at `now`.
        fn tick(&mut self, now: Instant) {
            let due: Vec<u8> = self
                .waiting
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(item, _)| *item)
                .collect();
            for item in due {
                self.waiting.remove(&item);
                self.add(item);
            }
        }

        fn done(&mut self, item: u8) {
            self.processing.remove(&item);
            if self.dirty.contains(&item) {
                self.queued.insert(item);
            }
        }
    }

    fn op(rng: &mut Rng, processing: usize) -> Op {
        let item = rng.below(5) as u8;
        match rng.below(14) {
            0..=2 => Op::Add(item),
            3 | 4 => Op::AddAfter(item, rng.below(40)),
            5 => Op::AddRateLimited(item),
            6 => Op::Forget(item),
            7..=9 => Op::Get,
            10 | 11 if processing > 0 => Op::Done(rng.below(processing as u64) as usize),
            _ => Op::Advance(rng.below(30)),
        }
    }

    /// Lets timer tasks that are due run before the queue is inspected.
    async fn settle() {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    async fn run_case(seed: u64) {
        let q: WorkQueue<u8> =
            WorkQueue::with_rate_limiter(ItemExponentialFailureRateLimiter::new(BASE, MAX));
        let mut model = Model::default();
        let mut rng = Rng(seed);
        let mut log = Vec::new();
        for _ in 0..80 {
            let op = op(&mut rng, model.processing.len());
            log.push(format!("{op:?}"));
            let now = Instant::now();
            match op {
                Op::Add(i) => {
                    q.add(i);
                    model.add(i);
                }
                Op::AddAfter(i, ms) => {
                    q.add_after(i, Duration::from_millis(ms));
                    model.add_after(i, Duration::from_millis(ms), now);
                }
                Op::AddRateLimited(i) => {
                    q.add_rate_limited(i);
                    let delay = model.rate_limited_delay(i);
                    model.add_after(i, delay, now);
                }
                Op::Forget(i) => {
                    q.forget(&i);
                    model.failures.remove(&i);
                }
                Op::Get => {
                    let got = timeout(Duration::ZERO, q.get()).await.ok().flatten();
                    match got {
                        Some(i) => {
                            assert!(
                                model.queued.remove(&i),
                                "seed {seed}: handed out {i}, which was not queued: {log:?}"
                            );
                            assert!(
                                model.processing.insert(i),
                                "seed {seed}: {i} handed out twice at once: {log:?}"
                            );
                            model.dirty.remove(&i);
                            log.push(format!("  -> {i}"));
                        }
                        None => assert!(
                            model.queued.is_empty(),
                            "seed {seed}: nothing handed out though {:?} queued: {log:?}",
                            model.queued
                        ),
                    }
                }
                Op::Done(n) => {
                    let Some(&i) = model.processing.iter().nth(n) else {
                        continue;
                    };
                    q.done(&i);
                    model.done(i);
                }
                Op::Advance(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
            settle().await;
            model.tick(Instant::now());
            assert_eq!(
                q.len(),
                model.queued.len(),
                "seed {seed}: queue length differs from {model:?}: {log:?}"
            );
            for i in 0..5 {
                assert_eq!(
                    q.num_requeues(&i),
                    model.failures.get(&i).copied().unwrap_or(0),
                    "seed {seed}: retry count of {i}: {log:?}"
                );
            }
        }

        // Nothing is lost: once everything is done and every timer fired, each item still
        // owed is handed out exactly once.
        for i in std::mem::take(&mut model.processing) {
            q.done(&i);
            if model.dirty.contains(&i) {
                model.queued.insert(i);
            }
        }
        tokio::time::sleep(MAX * 2).await;
        settle().await;
        model.tick(Instant::now());
        let mut drained = BTreeSet::new();
        while let Ok(Some(i)) = timeout(Duration::ZERO, q.get()).await {
            assert!(
                drained.insert(i),
                "seed {seed}: {i} handed out twice: {log:?}"
            );
            q.done(&i);
        }
        assert_eq!(drained, model.queued, "seed {seed}: {log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn random_operations_keep_client_go_guarantees() {
        for seed in 0..300 {
            run_case(seed).await;
        }
    }
}
