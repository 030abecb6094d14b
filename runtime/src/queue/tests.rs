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
