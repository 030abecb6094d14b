//! `kubesmith-bench run`: starts the API server process, loads the objects, runs every
//! measurement once per side in a fresh child process, times the CLI, and reports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

use crate::child::Figures;
use crate::report::{Better, Report, Row};
use crate::{Kind, Side};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Small sizes for a smoke run (1k objects, short streams); finishes in a few minutes.
    #[arg(long)]
    quick: bool,
    /// Number of ConfigMaps to load [default: 10000, 1000 with --quick].
    #[arg(long)]
    objects: Option<usize>,
    /// The kubesmith CLI (for `envtest serve` and the scaffolding timings)
    /// [default: `kubesmith` next to this binary].
    #[arg(long)]
    kubesmith: Option<PathBuf>,
    /// Which process serves the API: `cli` runs `kubesmith envtest serve`; `self` re-runs this
    /// binary with the same embedded server (for tests without a CLI build).
    #[arg(long, value_enum, default_value_t = Server::Cli)]
    server: Server,
    /// Object sets of the sync figures (the reconcile figure always uses the Pods).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "configmap,pod"
    )]
    sync_sets: Vec<Kind>,
    /// Reconciles that write a Pod's status, per reconcile run (the first ones; the other
    /// Pods' reconciles are no-ops) [default: 1000, at most the number of objects].
    #[arg(long)]
    reconcile_patches: Option<usize>,
    /// Reconcile concurrencies to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    concurrency: Vec<u16>,
    /// Updates per second of the latency stream [default: 200, 100 with --quick].
    #[arg(long)]
    latency_rate: Option<u32>,
    /// Length of the latency stream in seconds [default: 5, 3 with --quick].
    #[arg(long)]
    latency_seconds: Option<f64>,
    /// Keys added per work queue configuration [default: 200000, 100000 with --quick].
    #[arg(long)]
    queue_adds: Option<usize>,
    /// Work queue worker counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    queue_workers: Vec<usize>,
    /// Rounds per figure and side (the table shows medians) [default: 3, 1 with --quick].
    #[arg(long)]
    repeat: Option<usize>,
    /// Which figures to measure (the API server's own figures are always taken).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sync,relist,reconcile,latency,queue,server,cli,generate"
    )]
    figures: Vec<Part>,
    /// Updates written while the watch is stalled, to overflow the server's watch buffer
    /// (4096 events) and the socket buffers so the watch gets a 410.
    #[arg(long, default_value_t = 20_000)]
    relist_writes: usize,
    /// Watch fan-out: concurrent watchers of one namespace [default: 100, 10 with --quick].
    #[arg(long)]
    watchers: Option<usize>,
    /// Watch fan-out: events written (creates), each delivered to every watcher
    /// [default: 10000, 1000 with --quick].
    #[arg(long)]
    watch_events: Option<usize>,
    /// Objects for the server's large LIST figure, loaded into their own namespace
    /// [default: 100000, 10000 with --quick].
    #[arg(long)]
    list_objects: Option<usize>,
    /// Edits timed for the edit-to-manifest figure (median) [default: 3, 1 with --quick].
    #[arg(long)]
    generate_rounds: Option<usize>,
    /// Skip the heap (dhat) variant of the sync figure, which is slow in debug builds.
    #[arg(long)]
    skip_heap: bool,
    /// Skip the sync figure's second run with both clients on mimalloc
    /// (`kubesmith-bench-mimalloc`).
    #[arg(long)]
    skip_mimalloc: bool,
    /// Skip the `kubesmith init` + `create api` timing.
    #[arg(long)]
    skip_cli: bool,
    /// Write the results section into this Markdown file (between the kubesmith-bench
    /// markers, appended if they are missing).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A group of figures, for `--figures`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Part {
    Sync,
    Relist,
    Reconcile,
    Latency,
    Queue,
    /// The API server alone: watch fan-out and one large LIST.
    Server,
    Cli,
    /// Edit-to-manifest: `kubesmith generate` vs kube-derive's `crdgen` binary.
    Generate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Server {
    Cli,
    #[value(name = "self")]
    SelfExe,
}

/// Kills the server process when the run ends, also on errors.
struct ServerProcess {
    child: Child,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub fn run(args: &RunArgs) -> Result<()> {
    let objects = args
        .objects
        .unwrap_or(if args.quick { 1_000 } else { 10_000 });
    let latency_rate = args
        .latency_rate
        .unwrap_or(if args.quick { 100 } else { 200 });
    let latency_seconds = args
        .latency_seconds
        .unwrap_or(if args.quick { 3.0 } else { 5.0 });
    let queue_adds = args
        .queue_adds
        .unwrap_or(if args.quick { 100_000 } else { 200_000 });
    let repeat = args.repeat.unwrap_or(if args.quick { 1 } else { 3 });
    if objects == 0 || repeat == 0 || latency_rate == 0 || latency_seconds <= 0.0 || queue_adds == 0
    {
        bail!(
            "--objects, --repeat, --latency-rate, --latency-seconds and --queue-adds must be positive"
        );
    }
    if args.concurrency.contains(&0) || args.queue_workers.contains(&0) {
        bail!("--concurrency and --queue-workers take positive numbers, e.g. 1,4,16");
    }
    let exe = std::env::current_exe().context("locating the kubesmith-bench binary")?;
    let kubesmith = match &args.kubesmith {
        Some(p) => p.clone(),
        None => exe.with_file_name("kubesmith"),
    };
    let wants = |part: Part| args.figures.contains(&part);
    let needs_cli = args.server == Server::Cli || (!args.skip_cli && wants(Part::Cli));
    if needs_cli && !kubesmith.is_file() {
        bail!(
            "the kubesmith CLI is not at {} (build it with `cargo build --release -p kubesmith`, \
             pass --kubesmith PATH, or use --server self --skip-cli)",
            kubesmith.display()
        );
    }

    let mut report = Report::new(objects, args.quick);
    report.command = std::env::args().collect::<Vec<_>>().join(" ");
    report.key = format!(
        "objects={objects} figures={}",
        args.figures
            .iter()
            .filter_map(|f| f.to_possible_value().map(|v| v.get_name().to_owned()))
            .collect::<Vec<_>>()
            .join(",")
    );
    if args.sync_sets.len() == 1 {
        report.key.push_str(match args.sync_sets[0] {
            Kind::ConfigMap => " sets=configmap",
            Kind::Pod => " sets=pod",
        });
    }
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let kubeconfig = dir.path().join("kubeconfig");

    eprintln!("==> starting the API server ({:?})", args.server);
    let started = Instant::now();
    let mut parts = Parts::new(started);
    let mut cmd = match args.server {
        Server::Cli => {
            let mut c = Command::new(&kubesmith);
            c.args(["envtest", "serve", "--kubeconfig"])
                .arg(&kubeconfig);
            c
        }
        Server::SelfExe => {
            let mut c = Command::new(&exe);
            c.args(["serve", "--kubeconfig"]).arg(&kubeconfig);
            c
        }
    };
    let server = ServerProcess {
        child: cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting the API server {cmd:?}"))?,
    };
    let rt = crate::runtime()?;
    let client = rt.block_on(wait_for_server(&kubeconfig, Duration::from_secs(60)))?;
    report.absolute(
        "API server start-up (process spawn to first answer)",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
    );

    let namespace = "bench";
    eprintln!("==> loading {objects} ConfigMaps");
    let creates_per_second = rt.block_on(crate::load::load(&client, namespace, objects))?;
    report.absolute(
        "API server: creates per second (8 in flight)",
        creates_per_second,
        "/s",
    );
    let describe = |kind: &str, (size, managed): (usize, usize)| {
        format!(
            "{objects} {kind}, {size} bytes each as JSON from the server, of which \
             managedFields {managed} bytes ({:.0}%)",
            100.0 * managed as f64 / size.max(1) as f64
        )
    };
    let cm_size = rt.block_on(crate::load::stored_size(&client, namespace))?;
    report.object_sets.push(format!(
        "{} (created with two managers' managedFields in the request)",
        describe("ConfigMaps", cm_size)
    ));
    let pods_needed =
        (wants(Part::Sync) && args.sync_sets.contains(&Kind::Pod)) || wants(Part::Reconcile);
    if pods_needed {
        eprintln!("==> loading {objects} Pods (create + status: two field managers)");
        let writes = rt.block_on(crate::load::load_pods(&client, namespace, objects))?;
        report.absolute(
            "API server: Pod writes per second (create as kube-controller-manager, status as kubelet; 8 in flight)",
            writes,
            "/s",
        );
        let pod_size = rt.block_on(crate::load::stored_pod_size(&client, namespace))?;
        report.object_sets.push(format!(
            "{} (a Deployment's ReplicaSet's Pods: 2 containers, status written by kubelet)",
            describe("Pods", pod_size)
        ));
    }
    let list_ms = rt.block_on(async {
        let start = Instant::now();
        let list = Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .list(&ListParams::default())
            .await?;
        anyhow::ensure!(
            list.items.len() == objects,
            "listed {} of {objects} objects",
            list.items.len()
        );
        Ok(start.elapsed().as_secs_f64() * 1e3)
    })?;
    report.absolute(
        &format!("API server: one unpaginated LIST of {objects} objects"),
        list_ms,
        "ms",
    );

    parts.lap("start the server, load the objects");
    let mut runner = ChildRunner {
        exe: &exe,
        server_pid: server.pid(),
        repeat,
        order: 0,
    };
    let target = |side: Side, kind: Kind| -> Vec<String> {
        vec![
            "--kind".into(),
            kind.to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default(),
            "--side".into(),
            side.to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
            "--namespace".into(),
            namespace.into(),
            "--objects".into(),
            objects.to_string(),
        ]
    };

    if wants(Part::Sync) {
        for (kind, set) in [(Kind::ConfigMap, "ConfigMaps"), (Kind::Pod, "Pods")]
            .into_iter()
            .filter(|(kind, _)| args.sync_sets.contains(kind))
        {
            sync_figures(&mut runner, &mut report, args, &exe, kind, set, &target)?;
        }
        parts.lap("sync");
    }

    if wants(Part::Relist) {
        eprintln!(
            "==> relist after 410 ({} writes to a stalled watch)",
            args.relist_writes
        );
        let writes = args.relist_writes.to_string();
        let r = runner.both("relist", |side| {
            let mut a = vec!["relist".to_owned(), "--writes".into(), writes.clone()];
            a.extend(target(side, Kind::ConfigMap));
            a
        })?;
        report.row(r.row(
            "RSS peak per object during a relist after 410, beyond the synced RSS",
            "relist_extra_peak_bytes_per_object",
            1.0,
            "B",
            Better::Lower,
        ));
        report.row(r.row(
            "relist time, end of the stall to the relisted store (incl. 0.8 s backoff)",
            "relist_seconds",
            1e3,
            "ms",
            Better::Lower,
        ));
        parts.lap("relist");
    }

    if wants(Part::Reconcile) {
        let patches = args.reconcile_patches.unwrap_or(1_000).min(objects);
        anyhow::ensure!(patches > 0, "--reconcile-patches must be positive");
        for &c in &args.concurrency {
            eprintln!("==> reconcile throughput, Pods, concurrency {c}");
            let r = runner.both("reconcile", |side| {
                let mut a = vec![
                    "reconcile".to_owned(),
                    "--patches".into(),
                    patches.to_string(),
                    "--concurrency".into(),
                    c.to_string(),
                ];
                a.extend(target(side, Kind::Pod));
                a
            })?;
            report.row(r.row(
                &format!(
                    "reconciles/s, 1 status patch each ({patches} of {objects} Pods), concurrency {c}"
                ),
                "reconciles_per_second",
                1.0,
                "/s",
                Better::Higher,
            ));
            // CPU per patched object: less sensitive to the machine's other load than wall time.
            let mut cpu = r.row(
                &format!("client CPU per reconcile (Pods), concurrency {c}"),
                "client_cpu_us_per_reconcile",
                1.0,
                "µs",
                Better::Lower,
            );
            let per = |f: &Figures| {
                f.get("client_cpu_seconds").copied().unwrap_or(f64::NAN) * 1e6
                    / f.get("patched").copied().unwrap_or(f64::NAN)
            };
            (cpu.kubesmith, cpu.kube_runtime) = (per(&r.ks), per(&r.kr));
            report.row(cpu);
        }
        parts.lap("reconcile");
    }

    if wants(Part::Latency) {
        eprintln!("==> event -> reconcile latency ({latency_rate}/s for {latency_seconds}s)");
        let l = runner.both("latency", |side| {
            let mut a = vec![
                "latency".to_owned(),
                "--rate".into(),
                latency_rate.to_string(),
                "--seconds".into(),
                latency_seconds.to_string(),
            ];
            a.extend(target(side, Kind::ConfigMap));
            a
        })?;
        for (side, f) in [("kubesmith", &l.ks), ("kube-runtime", &l.kr)] {
            let (w, o) = (
                f.get("writes").copied().unwrap_or(0.0),
                f.get("observed").copied().unwrap_or(0.0),
            );
            report.note(format!(
                "latency stream, {side}: {w} writes, {o} observed by a reconcile"
            ));
        }
        report.row(l.row(
            &format!("event -> reconcile latency p50 ({latency_rate} updates/s)"),
            "p50_ms",
            1.0,
            "ms",
            Better::Lower,
        ));
        report.row(l.row(
            &format!("event -> reconcile latency p99 ({latency_rate} updates/s)"),
            "p99_ms",
            1.0,
            "ms",
            Better::Lower,
        ));
        parts.lap("latency");
    }

    if wants(Part::Queue) {
        eprintln!("==> work queue ({queue_adds} adds per configuration)");
        let workers = args
            .queue_workers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let q = runner.both("queue", |side| {
            vec![
                "queue".to_owned(),
                "--side".into(),
                side.to_possible_value()
                    .map(|v| v.get_name().to_owned())
                    .unwrap_or_default(),
                "--adds".into(),
                queue_adds.to_string(),
                "--workers".into(),
                workers.clone(),
            ]
        })?;
        for &w in &args.queue_workers {
            for (label, text) in [("distinct", "distinct keys"), ("dups", "each key 4x")] {
                let mut row = q.row(
                    &format!("work queue adds/s, {w} workers, {text}"),
                    &format!("w{w}_{label}_adds_per_second"),
                    1.0,
                    "/s",
                    Better::Higher,
                );
                // The server is idle here; its CPU column would only be noise.
                row.server_cpu = None;
                report.row(row);
                if label == "dups" {
                    let p = |f: &Figures| {
                        f.get(&format!("w{w}_dups_processed"))
                            .copied()
                            .unwrap_or(0.0)
                    };
                    report.note(format!(
                    "work queue, {w} workers, each key 4x: {queue_adds} adds ran {} reconciles on kubesmith, {} on kube-runtime",
                    p(&q.ks),
                    p(&q.kr)
                ));
                }
            }
        }
        parts.lap("queue");
    }

    if wants(Part::Server) {
        // Last of the server figures: the extra namespaces' objects would otherwise be in
        // every all-namespace watch above.
        let watchers = args.watchers.unwrap_or(if args.quick { 10 } else { 100 });
        let events = args
            .watch_events
            .unwrap_or(if args.quick { 1_000 } else { 10_000 });
        let list_objects = args
            .list_objects
            .unwrap_or(if args.quick { 10_000 } else { 100_000 });
        anyhow::ensure!(
            watchers > 0 && events > 0 && list_objects > 0,
            "--watchers, --watch-events and --list-objects must be positive"
        );
        eprintln!("==> watch fan-out: {watchers} watchers x {events} events");
        let f = rt.block_on(crate::server::watch_fanout(
            &client,
            server.pid(),
            "bench-fanout",
            watchers,
            events,
        ))?;
        report.absolute(
            &format!("API server: watch fan-out, {watchers} watchers x {events} events, events delivered per second"),
            f.delivered_per_second,
            "/s",
        );
        report.absolute(
            "API server: watch fan-out, server CPU per 1,000 delivered events",
            f.server_cpu_ms_per_1k,
            "ms",
        );
        report.note(format!(
            "watch fan-out: {:.1} s from the first write to the last delivery; the writer made {:.0} creates/s, held to at most {} events ahead of the slowest watcher",
            f.seconds, f.writes_per_second, crate::server::MAX_LAG
        ));
        parts.lap("watch fan-out");
        eprintln!("==> loading {list_objects} ConfigMaps for one large LIST");
        let rss_before = crate::procfs::rss_of(server.pid())?;
        let (creates, ms, rss) = rt.block_on(crate::server::big_list(
            &client,
            server.pid(),
            "bench-list",
            list_objects,
        ))?;
        report.absolute(
            &format!("API server: one unpaginated LIST of {list_objects} objects"),
            ms,
            "ms",
        );
        report.absolute(
            &format!(
                "API server: creates per second while loading {list_objects} objects (8 in flight)"
            ),
            creates,
            "/s",
        );
        report.note(format!(
            "server RSS: {:.0} MiB before loading the {list_objects} objects of the LIST figure, {:.0} MiB after the LIST",
            rss_before as f64 / 1048576.0,
            rss as f64 / 1048576.0
        ));
        parts.lap("large LIST");
    }

    drop(server);

    if !args.skip_cli && wants(Part::Cli) {
        eprintln!("==> kubesmith init + create api");
        let (init_ms, api_ms) = time_cli(&kubesmith)?;
        report.absolute(
            "`kubesmith init --domain example.com` (median of 3)",
            init_ms,
            "ms",
        );
        report.absolute(
            "`kubesmith create api ... --skip-generate` (median of 3)",
            api_ms,
            "ms",
        );
        parts.lap("CLI");
    }

    if wants(Part::Generate) {
        let rounds = args
            .generate_rounds
            .unwrap_or(if args.quick { 1 } else { 3 });
        anyhow::ensure!(rounds > 0, "--generate-rounds must be positive");
        eprintln!(
            "==> edit a type, then kubesmith generate vs cargo run --bin crdgen (operator crate, type-only crate)"
        );
        // Kept between runs next to the harness's own build, so only the first run is cold.
        let shared_target = exe
            .parent()
            .and_then(Path::parent)
            .context("locating the target dir of kubesmith-bench")?
            .join("bench-generate");
        let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
        let work = tempfile::tempdir()?;
        let g = crate::generate::run(&kubesmith, &lock, &shared_target, work.path(), rounds)?;
        crate::generate::report(&mut report, &g);
        parts.lap("edit to manifest");
    }

    report.note(parts.summary());
    report.finish();
    println!("{}", report.markdown());
    if let Some(out) = &args.out {
        report.write_into(out)?;
        eprintln!("==> wrote the results into {}", out.display());
    }
    Ok(())
}

/// Wall time per part of the run, for the note that shows where the run's minutes go.
struct Parts {
    started: Instant,
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Parts {
    fn new(started: Instant) -> Self {
        Parts {
            started,
            last: started,
            done: Vec::new(),
        }
    }

    /// Ends the part that ran since the previous lap.
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, now - self.last));
        self.last = now;
    }

    fn summary(&self) -> String {
        let parts: Vec<String> = self
            .done
            .iter()
            .map(|(name, d)| format!("{name} {:.0} s", d.as_secs_f64()))
            .collect();
        let total = self.started.elapsed().as_secs();
        format!(
            "wall time of the run: {} min {} s ({}; building the harness not included)",
            total / 60,
            total % 60,
            parts.join(", ")
        )
    }
}

/// The initial-sync figures (time, RSS, client CPU, and the dhat heap variant) for one set.
fn sync_figures(
    runner: &mut ChildRunner<'_>,
    report: &mut Report,
    args: &RunArgs,
    exe: &Path,
    kind: Kind,
    set: &str,
    target: &dyn Fn(Side, Kind) -> Vec<String>,
) -> Result<()> {
    let objects = report.objects;
    eprintln!("==> initial sync, {set}");
    let sync_args = |side| {
        let mut a = vec!["sync".to_owned()];
        a.extend(target(side, kind));
        a
    };
    let sync = runner.both("sync", sync_args)?;
    let objs = objects as f64;
    anyhow::ensure!(
        sync.ks.get("objects") == Some(&objs) && sync.kr.get("objects") == Some(&objs),
        "a cache did not hold all {objects} {set} after sync"
    );
    report.row(sync.row(
        &format!("initial sync time, {set}"),
        "sync_seconds",
        1e3,
        "ms",
        Better::Lower,
    ));
    report.row(sync.row(
        &format!("RSS retained per object after sync (VmRSS growth / N), {set}"),
        "retained_bytes_per_object",
        1.0,
        "B",
        Better::Lower,
    ));
    report.row(sync.row(
        &format!("RSS peak per object during sync (VmHWM growth / N), {set}"),
        "peak_bytes_per_object",
        1.0,
        "B",
        Better::Lower,
    ));
    report.row(sync.row(
        &format!("client CPU time of the sync, {set}"),
        "client_cpu_seconds",
        1e3,
        "ms",
        Better::Lower,
    ));

    // The same sync with both clients on mimalloc: glibc malloc's free-list work depends on
    // the order of allocations and frees, and moves the CPU figures by tens of percent.
    if let Some(mimalloc_exe) = variant(
        report,
        exe,
        "kubesmith-bench-mimalloc",
        args.skip_mimalloc.then_some("--skip-mimalloc"),
        "sync on mimalloc",
        kind,
    ) {
        eprintln!("==> initial sync, {set}, both clients on mimalloc");
        let rounds = runner.repeat;
        let sync = runner.both_on(&mimalloc_exe, true, "sync", rounds, sync_args)?;
        report.row(sync.row(
            &format!("initial sync time, {set}, both clients on mimalloc"),
            "sync_seconds",
            1e3,
            "ms",
            Better::Lower,
        ));
        report.row(sync.row(
            &format!("client CPU time of the sync, {set}, both clients on mimalloc"),
            "client_cpu_seconds",
            1e3,
            "ms",
            Better::Lower,
        ));
    }

    // The same sync under dhat's counting allocator: exact live and peak heap bytes.
    if let Some(heap_exe) = variant(
        report,
        exe,
        "kubesmith-bench-heap",
        args.skip_heap.then_some("--skip-heap"),
        "heap bytes (dhat)",
        kind,
    ) {
        eprintln!("==> initial sync, {set}, heap bytes (dhat)");
        // One round per side: dhat counts bytes, so rounds agree to a few bytes per object,
        // and a dhat run of the Pods takes close to a minute.
        let heap = runner.both_on(&heap_exe, false, "sync-heap", 1, |side| target(side, kind))?;
        let mut retained = heap.row(
            &format!("heap retained per object after sync (dhat live bytes / N), {set}"),
            "retained_bytes_per_object",
            1.0,
            "B",
            Better::Lower,
        );
        // dhat slows the process; its runs' server CPU says nothing about either side.
        retained.server_cpu = None;
        report.row(retained);
        let mut peak = heap.row(
            &format!("heap peak per object during sync (dhat max live bytes / N), {set}"),
            "peak_bytes_per_object",
            1.0,
            "B",
            Better::Lower,
        );
        peak.server_cpu = None;
        report.row(peak);
    }
    Ok(())
}

/// The sibling binary `name` that reruns the sync under another allocator, or `None` when it
/// is skipped (`skipped_by` names the flag) or missing; either is noted once, under the
/// ConfigMap set, so the table says why its rows are absent.
fn variant(
    report: &mut Report,
    exe: &Path,
    name: &str,
    skipped_by: Option<&str>,
    what: &str,
    kind: Kind,
) -> Option<PathBuf> {
    let path = exe.with_file_name(name);
    let why = match skipped_by {
        Some(flag) => flag.to_owned(),
        None if path.is_file() => return Some(path),
        None => format!(
            "{} is missing (build the whole kubesmith-bench package)",
            path.display()
        ),
    };
    if kind == Kind::ConfigMap {
        report.note(format!("{what} not measured: {why}"));
    }
    None
}

/// Waits until the server wrote its kubeconfig and answers a request.
async fn wait_for_server(kubeconfig: &Path, timeout: Duration) -> Result<kube::Client> {
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    while Instant::now() < deadline {
        if kubeconfig.is_file() {
            match crate::child::client(kubeconfig).await {
                Ok(client) => match client.apiserver_version().await {
                    Ok(_) => return Ok(client),
                    Err(e) => last_err = Some(anyhow::Error::from(e)),
                },
                Err(e) => last_err = Some(e),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last_err
        .unwrap_or_else(|| anyhow::anyhow!("no kubeconfig written at {}", kubeconfig.display())))
    .context(format!("the API server did not come up within {timeout:?}"))
}

/// Results of one figure for both sides, with the server CPU each side's run cost.
struct Pair {
    ks: Figures,
    kr: Figures,
    ks_server_cpu: f64,
    kr_server_cpu: f64,
}

impl Pair {
    fn row(&self, figure: &str, key: &str, scale: f64, unit: &'static str, better: Better) -> Row {
        let get = |f: &Figures| f.get(key).copied().unwrap_or(f64::NAN) * scale;
        Row {
            figure: figure.to_owned(),
            unit,
            better,
            kubesmith: get(&self.ks),
            kube_runtime: get(&self.kr),
            server_cpu: Some((self.ks_server_cpu, self.kr_server_cpu)),
        }
    }
}

struct ChildRunner<'a> {
    exe: &'a Path,
    server_pid: u32,
    /// Rounds per figure; each figure is the median of the rounds.
    repeat: usize,
    /// Alternates which side goes first, so drift (server history growing, the machine's
    /// other load) does not always favour the same side.
    order: usize,
}

/// Per key, the median over rounds.
fn median(rounds: &[Figures]) -> Figures {
    let mut out = Figures::new();
    if let Some(first) = rounds.first() {
        for key in first.keys() {
            let mut v: Vec<f64> = rounds.iter().filter_map(|r| r.get(key).copied()).collect();
            v.sort_by(f64::total_cmp);
            out.insert(key.clone(), v[v.len() / 2]);
        }
    }
    out
}

impl ChildRunner<'_> {
    /// Runs `kubesmith-bench child <args>` for both sides.
    fn both(&mut self, name: &str, args: impl Fn(Side) -> Vec<String>) -> Result<Pair> {
        let exe = self.exe.to_path_buf();
        self.both_on(&exe, true, name, self.repeat, args)
    }

    /// Runs `program [child] <args>` for both sides, `rounds` times, alternating the order.
    fn both_on(
        &mut self,
        program: &Path,
        child: bool,
        name: &str,
        rounds: usize,
        args: impl Fn(Side) -> Vec<String>,
    ) -> Result<Pair> {
        let mut ks = Vec::new();
        let mut kr = Vec::new();
        for _ in 0..rounds {
            let sides = if self.order.is_multiple_of(2) {
                [Side::Kubesmith, Side::KubeRuntime]
            } else {
                [Side::KubeRuntime, Side::Kubesmith]
            };
            self.order += 1;
            for side in sides {
                let (mut figures, server_cpu) =
                    self.one(program, child, name, side, &args(side))?;
                figures.insert("server_cpu_seconds".into(), server_cpu);
                match side {
                    Side::Kubesmith => ks.push(figures),
                    Side::KubeRuntime => kr.push(figures),
                }
            }
        }
        let (ks, kr) = (median(&ks), median(&kr));
        let cpu = |f: &Figures| f.get("server_cpu_seconds").copied().unwrap_or(f64::NAN);
        Ok(Pair {
            ks_server_cpu: cpu(&ks),
            kr_server_cpu: cpu(&kr),
            ks,
            kr,
        })
    }

    fn one(
        &self,
        program: &Path,
        child: bool,
        name: &str,
        side: Side,
        args: &[String],
    ) -> Result<(Figures, f64)> {
        let server_before = crate::procfs::cpu_seconds(self.server_pid)?;
        let mut cmd = Command::new(program);
        if child {
            cmd.arg("child");
        }
        let output = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| {
                format!(
                    "running the {name} child for {side} ({})",
                    program.display()
                )
            })?;
        let server_cpu = crate::procfs::cpu_seconds(self.server_pid)? - server_before;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!(
                "the {name} measurement for {side} failed ({}):\n{}",
                output.status,
                stderr.trim()
            );
        }
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .with_context(|| {
                format!("the {name} child for {side} printed no result:\n{stdout}\n{stderr}")
            })?;
        let figures: Figures =
            serde_json::from_str(line).with_context(|| format!("unreadable result {line:?}"))?;
        eprintln!("    {side:<12} {name}: {line}");
        Ok((figures, server_cpu))
    }
}

/// Wall time of `kubesmith init` and `kubesmith create api --skip-generate` in a fresh
/// directory, median of three; `generate` (which compiles the project) is not included.
fn time_cli(kubesmith: &Path) -> Result<(f64, f64)> {
    let mut init = Vec::new();
    let mut api = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir()?;
        let project = dir.path().join("memcached-operator");
        std::fs::create_dir(&project)?;
        for (times, args) in [
            (&mut init, &["init", "--domain", "example.com"][..]),
            (
                &mut api,
                &[
                    "create",
                    "api",
                    "--group",
                    "cache",
                    "--version",
                    "v1alpha1",
                    "--kind",
                    "Memcached",
                    "--skip-generate",
                ][..],
            ),
        ] {
            let start = Instant::now();
            let out = Command::new(kubesmith)
                .args(args)
                .current_dir(&project)
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("running {} {}", kubesmith.display(), args.join(" ")))?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
            if !out.status.success() {
                bail!(
                    "`kubesmith {}` failed ({}):\n{}",
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(&mut init), median(&mut api)))
}
