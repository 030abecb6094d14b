//! Edit-to-manifest time: `kubesmith generate` after a field is added to a kind, against
//! kube-derive's `crdgen` pattern (a binary that prints `Kind::crd()` as YAML, run with
//! `cargo run --bin crdgen`) after the same edit. Both projects build in debug with
//! incremental compilation (cargo's default for `dev`), in one shared target dir that
//! persists between runs, and with the same versions and features of kube, k8s-openapi,
//! schemars and serde (the workspace's `Cargo.lock` is copied into both).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

/// Results: medians in ms, and the one-off cold builds' times.
pub struct Generate {
    pub kubesmith_ms: f64,
    pub crdgen_ms: f64,
    pub kubesmith_first_ms: f64,
    pub crdgen_first_ms: f64,
}

/// The peer project: what kube-rs's documentation recommends for CRD YAML.
const CRDGEN_CARGO_TOML: &str = r#"[package]
name = "crdgen-memcached"
version = "0.1.0"
edition = "2024"
publish = false

[[bin]]
name = "crdgen"
path = "src/bin/crdgen.rs"

[dependencies]
kube = { version = "=5.0.0", default-features = false, features = ["client", "rustls-tls", "ring", "runtime", "derive"] }
k8s-openapi = { version = "=0.29.0", default-features = false, features = ["std", "schemars", "v1_33"] }
schemars = "=1.2.3"
serde = { version = "1.0.228", features = ["derive"] }
serde_json = "1"
serde_yaml = "0.9"

[workspace]
"#;

const CRDGEN_LIB: &str = r#"//! The Memcached kind, as a kube-derive project declares it.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// MemcachedSpec defines the desired state of Memcached.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(group = "cache.example.com", version = "v1alpha1", kind = "Memcached", namespaced)]
#[kube(status = "MemcachedStatus")]
#[serde(rename_all = "camelCase")]
pub struct MemcachedSpec {
    /// An example field of Memcached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foo: Option<String>,
}

/// MemcachedStatus defines the observed state of Memcached.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemcachedStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}
"#;

const CRDGEN_MAIN: &str = r#"use kube::CustomResourceExt;

fn main() {
    print!("{}", serde_yaml::to_string(&crdgen_memcached::Memcached::crd()).unwrap());
}
"#;

/// Sets up both projects in `work`, builds each once (cold or warm, reported apart), then
/// `rounds` times adds a field to the spec of both and times each side's edit-to-manifest.
pub fn run(
    kubesmith: &Path,
    workspace_lock: &Path,
    shared_target: &Path,
    work: &Path,
    rounds: usize,
) -> Result<Generate> {
    let ks_dir = work.join("memcached-operator");
    std::fs::create_dir_all(&ks_dir)?;
    run_ok(
        Command::new(kubesmith)
            .args(["init", "--domain", "example.com"])
            .current_dir(&ks_dir),
        "kubesmith init",
    )?;
    run_ok(
        Command::new(kubesmith)
            .args([
                "create",
                "api",
                "--group",
                "cache",
                "--version",
                "v1alpha1",
                "--kind",
                "Memcached",
                "--skip-generate",
            ])
            .current_dir(&ks_dir),
        "kubesmith create api",
    )?;
    std::fs::copy(workspace_lock, ks_dir.join("Cargo.lock")).context("copying Cargo.lock")?;
    let ks_type = find_spec_file(&ks_dir.join("src"))?;

    let cg_dir = work.join("crdgen-memcached");
    std::fs::create_dir_all(cg_dir.join("src/bin"))?;
    std::fs::write(cg_dir.join("Cargo.toml"), CRDGEN_CARGO_TOML)?;
    std::fs::write(cg_dir.join("src/lib.rs"), CRDGEN_LIB)?;
    std::fs::write(cg_dir.join("src/bin/crdgen.rs"), CRDGEN_MAIN)?;
    std::fs::copy(workspace_lock, cg_dir.join("Cargo.lock")).context("copying Cargo.lock")?;
    let cg_type = cg_dir.join("src/lib.rs");

    let kubesmith_generate = || -> Result<f64> {
        let start = Instant::now();
        run_ok(
            cargo_env(Command::new(kubesmith).arg("generate"), shared_target).current_dir(&ks_dir),
            "kubesmith generate",
        )?;
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };
    let crdgen = || -> Result<f64> {
        let start = Instant::now();
        let out = run_ok(
            cargo_env(
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                    .args(["run", "--quiet", "--bin", "crdgen"]),
                shared_target,
            )
            .current_dir(&cg_dir),
            "cargo run --bin crdgen",
        )?;
        std::fs::write(cg_dir.join("memcached-crd.yaml"), out)?;
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };

    eprintln!(
        "    first builds (shared target dir {})",
        shared_target.display()
    );
    let kubesmith_first_ms = kubesmith_generate()?;
    let crdgen_first_ms = crdgen()?;
    let mut ks = Vec::new();
    let mut cg = Vec::new();
    for round in 0..rounds {
        add_field(&ks_type, round)?;
        add_field(&cg_type, round)?;
        // Alternate which side compiles first, so neither always finds a warmer page cache.
        if round % 2 == 0 {
            ks.push(kubesmith_generate()?);
            cg.push(crdgen()?);
        } else {
            cg.push(crdgen()?);
            ks.push(kubesmith_generate()?);
        }
        check_field(&ks_dir.join("config/crd/bases"), round)?;
        let yaml = std::fs::read_to_string(cg_dir.join("memcached-crd.yaml"))?;
        anyhow::ensure!(
            yaml.contains(&field_json_name(round)),
            "crdgen's CRD lacks the added field"
        );
        eprintln!(
            "    round {round}: kubesmith generate {:.0} ms, crdgen {:.0} ms",
            ks[round], cg[round]
        );
    }
    Ok(Generate {
        kubesmith_ms: median(&mut ks),
        crdgen_ms: median(&mut cg),
        kubesmith_first_ms,
        crdgen_first_ms,
    })
}

/// Debug builds with incremental compilation, as `cargo run` has by default, in the shared dir.
fn cargo_env<'a>(cmd: &'a mut Command, shared_target: &Path) -> &'a mut Command {
    cmd.env("CARGO_TARGET_DIR", shared_target)
        .env("CARGO_INCREMENTAL", "1")
        .env_remove("RUSTFLAGS")
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The scaffolded file that declares `MemcachedSpec`.
fn find_spec_file(dir: &Path) -> Result<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && std::fs::read_to_string(&path)?.contains("pub struct MemcachedSpec {")
            {
                return Ok(path);
            }
        }
    }
    bail!("no `pub struct MemcachedSpec` under {}", dir.display())
}

fn field_json_name(round: usize) -> String {
    format!("benchField{round}")
}

/// The same edit on both sides: one more optional field in the spec.
fn add_field(file: &Path, round: usize) -> Result<()> {
    let text = std::fs::read_to_string(file)?;
    let marker = "pub struct MemcachedSpec {\n";
    let Some(at) = text.find(marker) else {
        bail!("{} has no `{}`", file.display(), marker.trim());
    };
    let at = at + marker.len();
    let field = format!(
        "    /// Added by the benchmark, round {round}.\n    #[serde(default, skip_serializing_if = \"Option::is_none\")]\n    pub bench_field_{round}: Option<i32>,\n"
    );
    std::fs::write(file, format!("{}{field}{}", &text[..at], &text[at..]))?;
    Ok(())
}

fn check_field(crd_dir: &Path, round: usize) -> Result<()> {
    for entry in
        std::fs::read_dir(crd_dir).with_context(|| format!("reading {}", crd_dir.display()))?
    {
        if std::fs::read_to_string(entry?.path())?.contains(&field_json_name(round)) {
            return Ok(());
        }
    }
    bail!("`kubesmith generate` wrote no CRD with the added field")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
