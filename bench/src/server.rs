//! Figures of the embedded API server alone (no peer): watch fan-out and one large LIST.
//!
//! The watchers read the raw watch stream and count its lines (one JSON event per line)
//! instead of decoding them, so the client's own decoding does not compete with the server
//! for the machine's cores more than it has to.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use futures::{AsyncReadExt as _, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams, WatchParams};

/// Figures of one fan-out run.
pub struct Fanout {
    /// Events delivered to all watchers together, per second.
    pub delivered_per_second: f64,
    /// Server CPU seconds per 1,000 delivered events.
    pub server_cpu_ms_per_1k: f64,
    /// Wall time from the first write to the last delivery.
    pub seconds: f64,
    /// Writes per second the writer achieved while the watchers were being fed.
    pub writes_per_second: f64,
}

/// How far the writer may run ahead of the slowest watcher. The server keeps a bounded
/// backlog per watch (its broadcast buffer holds 4,096 events) and ends a watch that falls
/// further behind with 410 Gone; the figure is sustained delivery, not overflow.
pub const MAX_LAG: usize = 2_000;

/// `watchers` watches on one namespace, then `events` creates in it; measures the time until
/// every watcher has received every event, and the server's CPU time meanwhile.
pub async fn watch_fanout(
    client: &Client,
    server_pid: u32,
    namespace: &str,
    watchers: usize,
    events: usize,
) -> Result<Fanout> {
    crate::load::create_namespace(client, namespace).await?;
    let counts: Arc<Vec<AtomicUsize>> =
        Arc::new((0..watchers).map(|_| AtomicUsize::new(0)).collect());
    let failed = Arc::new(AtomicBool::new(false));
    let path = format!("/api/v1/namespaces/{namespace}/configmaps");
    let mut tasks = Vec::with_capacity(watchers);
    for w in 0..watchers {
        // Resource version "0": start from the (empty) current state.
        let request = kube::core::Request::new(&path)
            .watch(&WatchParams::default().timeout(290), "0")
            .context("building the watch request")?;
        // `request_stream` returns once the response headers arrived: the watch is registered.
        let mut body = client
            .request_stream(request)
            .await
            .with_context(|| format!("opening watch {w} of {watchers}"))?;
        let (counts, failed) = (Arc::clone(&counts), Arc::clone(&failed));
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut tail = Vec::new();
            loop {
                let n = match body.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                let lines = chunk.iter().filter(|b| **b == b'\n').count();
                // An ERROR event (410 Gone when the watcher fell behind) ends the run as failed.
                tail.extend_from_slice(chunk);
                if tail.windows(15).any(|x| x == b"\"type\":\"ERROR\"") {
                    failed.store(true, Ordering::SeqCst);
                    break;
                }
                if let Some(last) = tail.iter().rposition(|b| *b == b'\n') {
                    tail.drain(..=last);
                }
                counts[w].fetch_add(lines, Ordering::SeqCst);
                if counts[w].load(Ordering::SeqCst) >= events {
                    break;
                }
            }
        }));
    }

    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let slowest = |counts: &[AtomicUsize]| {
        counts
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .min()
            .unwrap_or(0)
    };
    let cpu_before = crate::procfs::cpu_seconds(server_pid)?;
    let start = Instant::now();
    let written = AtomicUsize::new(0);
    futures::stream::iter(0..events)
        .map(|i| {
            let (api, counts, written) = (api.clone(), Arc::clone(&counts), &written);
            async move {
                while i >= slowest(&counts) + MAX_LAG {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(format!("event-{i:06}")),
                        ..ObjectMeta::default()
                    },
                    data: Some([("n".to_owned(), i.to_string())].into()),
                    ..ConfigMap::default()
                };
                api.create(&PostParams::default(), &cm)
                    .await
                    .with_context(|| format!("writing fan-out event {i}"))?;
                written.fetch_add(1, Ordering::SeqCst);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .try_for_each(|()| futures::future::ready(Ok(())))
        .await?;
    let writes_done = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(240);
    while slowest(&counts) < events && !failed.load(Ordering::SeqCst) {
        if Instant::now() > deadline {
            bail!(
                "watch fan-out: the slowest of {watchers} watchers got {} of {events} events within 240 s",
                slowest(&counts)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = crate::procfs::cpu_seconds(server_pid)? - cpu_before;
    for t in tasks {
        t.abort();
    }
    if failed.load(Ordering::SeqCst) {
        bail!(
            "watch fan-out: a watcher got an ERROR event (fell behind by more than the server keeps)"
        );
    }
    let delivered = (watchers * events) as f64;
    Ok(Fanout {
        delivered_per_second: delivered / seconds.max(1e-9),
        server_cpu_ms_per_1k: cpu * 1e3 / (delivered / 1e3),
        seconds,
        writes_per_second: events as f64 / writes_done.as_secs_f64().max(1e-9),
    })
}

/// Loads `count` ConfigMaps (the benchmark's ~1.5 KB objects) into a fresh namespace and
/// times one unpaginated LIST of them; returns (creates per second, LIST ms, server RSS
/// bytes after the LIST).
pub async fn big_list(
    client: &Client,
    server_pid: u32,
    namespace: &str,
    count: usize,
) -> Result<(f64, f64, u64)> {
    crate::load::create_namespace(client, namespace).await?;
    let creates = crate::load::load_config_maps(client, namespace, count).await?;
    let start = Instant::now();
    let list = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {count} ConfigMaps"))?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(
        list.items.len() == count,
        "listed {} of {count} objects",
        list.items.len()
    );
    drop(list);
    let rss = crate::procfs::rss_of(server_pid)?;
    Ok((creates, ms, rss))
}
