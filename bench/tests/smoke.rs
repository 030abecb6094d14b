//! The harness runs end to end with a handful of objects. Checks that every figure is
//! produced and written, never what the figures are (no timing assertions).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kubesmith-bench");

#[test]
fn harness_runs_end_to_end_with_tiny_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("BENCHMARKS.md");
    std::fs::write(&out, "# hand-written prose\n").unwrap();
    let output = Command::new(BIN)
        .args([
            "run",
            "--server",
            "self",
            "--skip-cli",
            // dhat's heap variant is left out: unoptimised, it alone takes longer than the rest.
            "--skip-heap",
            // The relist figure needs ~20k writes to overflow the server's watch buffer; the
            // generate figure compiles two projects (minutes).
            "--figures",
            "sync,reconcile,latency,queue,server",
            "--objects",
            "20",
            "--concurrency",
            "2",
        ])
        .args(["--latency-rate", "20", "--latency-seconds", "0.5"])
        .args(["--queue-adds", "400", "--queue-workers", "2"])
        .args([
            "--watchers",
            "3",
            "--watch-events",
            "20",
            "--list-objects",
            "30",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "harness failed:\n{stderr}");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(
        md.starts_with("# hand-written prose\n"),
        "prose kept:\n{md}"
    );
    for figure in [
        "initial sync time, ConfigMaps",
        "initial sync time, Pods",
        "client CPU time of the sync, Pods, both clients on mimalloc",
        "heap bytes (dhat) not measured: --skip-heap",
        "RSS retained per object after sync (VmRSS growth / N), Pods",
        "Pods, ",
        "managedFields",
        "reconciles/s, 1 status patch each (20 of 20 Pods), concurrency 2",
        "event -> reconcile latency p99",
        "work queue adds/s, 2 workers, each key 4x",
        "creates per second",
        "watch fan-out, 3 watchers x 20 events",
        "one unpaginated LIST of 30 objects",
    ] {
        assert!(md.contains(figure), "{figure:?} missing from:\n{md}");
    }
    // Both object sets reach the caches with managedFields (the server records them).
    assert!(
        !md.contains("managedFields 0 bytes"),
        "an object set has no managedFields:\n{md}"
    );
    assert!(md.contains("kubesmith-bench:end"), "section closed:\n{md}");
}

#[test]
fn sync_sets_limit_the_sync_figures_to_one_object_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("BENCHMARKS.md");
    let output = Command::new(BIN)
        .args(["run", "--server", "self", "--skip-cli", "--skip-heap"])
        .args([
            "--figures",
            "sync",
            "--sync-sets",
            "configmap",
            "--objects",
            "5",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "harness failed:\n{stderr}");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("initial sync time, ConfigMaps"), "{md}");
    assert!(!md.contains("Pods"), "no Pods were loaded or synced:\n{md}");
    assert!(md.contains("figures=sync sets=configmap"), "{md}");
}

#[test]
fn bad_flags_get_a_clear_error() {
    let output = Command::new(BIN)
        .args([
            "run",
            "--server",
            "self",
            "--skip-cli",
            "--concurrency",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--concurrency"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = Command::new(BIN)
        .args(["run", "--kubesmith", "/nonexistent/kubesmith"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/kubesmith"), "{stderr}");
}
