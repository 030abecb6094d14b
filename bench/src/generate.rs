//! Edit-to-manifest time: `kubesmith generate` after a field is added to a kind, against
//! kube-derive's `crdgen` pattern (a binary that prints `Kind::crd()` as YAML, run with
//! `cargo run --bin crdgen`) after the same edit, in two peers:
//!
//! - the same operator crate: a second scaffold (same controller, reconciler and runtime)
//!   with a `src/bin/crdgen.rs`, as kube-rs operators keep `crdgen` in the controller crate
//!   (kube-rs/controller-rs, kube.rs's CRD docs). The ratio is `generate`'s own overhead;
//! - a tiny crate holding only the type: the least a CRD can cost to regenerate.
//!
//! All build in debug with incremental compilation (cargo's default for `dev`), in one shared
//! target dir that persists between runs, and with the same versions and features of kube,
//! k8s-openapi, schemars and serde (the workspace's `Cargo.lock` is copied into each).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::report::{Better, Report};

/// Results: medians in ms, and the one-off cold (or warm) builds' times.
pub struct Generate {
    pub rounds: usize,
    pub kubesmith_ms: f64,
    /// `cargo run --bin crdgen` in a copy of the same operator crate.
    pub same_crate_ms: f64,
    /// `cargo run --bin crdgen` in a crate holding only the type.
    pub crdgen_ms: f64,
    pub kubesmith_first_ms: f64,
    pub same_crate_first_ms: f64,
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

/// The same-crate peer's `src/bin/crdgen.rs`; `{kind_path}` is the kind's path in the crate.
const SAME_CRATE_MAIN: &str = r#"//! Prints the Memcached CRD as YAML: kube-derive's `crdgen` pattern in the operator crate.
use kube::CustomResourceExt;

fn main() {
    print!("{}", serde_yaml::to_string(&{kind_path}::crd()).unwrap());
}
"#;

/// Sets up the three projects in `work`, builds each once (cold or warm, reported apart),
/// then `rounds` times adds a field to the spec in all three and times each edit-to-manifest.
pub fn run(
    kubesmith: &Path,
    workspace_lock: &Path,
    shared_target: &Path,
    work: &Path,
    rounds: usize,
) -> Result<Generate> {
    let ks_dir = scaffold(kubesmith, workspace_lock, &work.join("memcached-operator"))?;
    let ks_type = find_spec_file(&ks_dir.join("src"))?;

    // The same scaffold under another name (so its artefacts and binaries are its own in the
    // shared target dir), plus kube-rs's `crdgen` binary. serde_yaml is already a
    // dev-dependency of the scaffold, so the dependency adds no new crate build.
    let sc_dir = scaffold(kubesmith, workspace_lock, &work.join("crdgen-operator"))?;
    let sc_type = find_spec_file(&sc_dir.join("src"))?;
    let manifest = std::fs::read_to_string(sc_dir.join("Cargo.toml"))?;
    let Some(deps) = manifest.find("[dependencies]\n") else {
        bail!("the scaffolded Cargo.toml has no [dependencies] table");
    };
    let deps = deps + "[dependencies]\n".len();
    std::fs::write(
        sc_dir.join("Cargo.toml"),
        format!(
            "{}serde_yaml = \"0.9\"\n{}",
            &manifest[..deps],
            &manifest[deps..]
        ),
    )?;
    let kind_path = format!(
        "crdgen_operator::{}::Memcached",
        module_path(&sc_dir.join("src"), &sc_type)?
    );
    std::fs::write(
        sc_dir.join("src/bin/crdgen.rs"),
        SAME_CRATE_MAIN.replace("{kind_path}", &kind_path),
    )?;

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
    let crdgen = |dir: &Path| -> Result<f64> {
        let start = Instant::now();
        let out = run_ok(
            cargo_env(
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                    .args(["run", "--quiet", "--bin", "crdgen"]),
                shared_target,
            )
            .current_dir(dir),
            "cargo run --bin crdgen",
        )?;
        std::fs::write(dir.join("memcached-crd.yaml"), out)?;
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };

    eprintln!(
        "    first builds (shared target dir {})",
        shared_target.display()
    );
    let kubesmith_first_ms = kubesmith_generate()?;
    let same_crate_first_ms = crdgen(&sc_dir)?;
    let crdgen_first_ms = crdgen(&cg_dir)?;
    let mut ks = Vec::new();
    let mut sc = Vec::new();
    let mut cg = Vec::new();
    for round in 0..rounds {
        for file in [&ks_type, &sc_type, &cg_type] {
            add_field(file, round)?;
        }
        // Rotate which side compiles first, so none always finds a warmer page cache.
        for side in (0..3).map(|i| (i + round) % 3) {
            match side {
                0 => ks.push(kubesmith_generate()?),
                1 => sc.push(crdgen(&sc_dir)?),
                _ => cg.push(crdgen(&cg_dir)?),
            }
        }
        check_field(&ks_dir.join("config/crd/bases"), round)?;
        for dir in [&sc_dir, &cg_dir] {
            let yaml = std::fs::read_to_string(dir.join("memcached-crd.yaml"))?;
            anyhow::ensure!(
                yaml.contains(&field_json_name(round)),
                "the CRD of {} lacks the added field",
                dir.display()
            );
        }
        eprintln!(
            "    round {round}: kubesmith generate {:.0} ms, crdgen in the operator crate {:.0} ms, crdgen in a type-only crate {:.0} ms",
            ks[round], sc[round], cg[round]
        );
    }
    Ok(Generate {
        rounds,
        kubesmith_ms: median(&mut ks),
        same_crate_ms: median(&mut sc),
        crdgen_ms: median(&mut cg),
        kubesmith_first_ms,
        same_crate_first_ms,
        crdgen_first_ms,
    })
}

/// The figure's two rows (one per peer) and the first-build note.
pub fn report(report: &mut Report, g: &Generate) {
    let rounds = g.rounds;
    report.pair(
        &format!("edit a field, then regenerate the CRD (kube-runtime column: `cargo run --bin crdgen` in the same operator crate; incremental debug build, median of {rounds})"),
        "ms",
        Better::Lower,
        g.kubesmith_ms,
        g.same_crate_ms,
    );
    report.pair(
        &format!("edit a field, then regenerate the CRD (kube-runtime column: kube-derive `crdgen` in a crate holding only the type; incremental debug build, median of {rounds})"),
        "ms",
        Better::Lower,
        g.kubesmith_ms,
        g.crdgen_ms,
    );
    report.note(format!(
        "edit-to-manifest: kubesmith side is `kubesmith generate` (builds and runs the manifests binary, writes CRD and RBAC files); kube-runtime side is kube-derive's `cargo run --bin crdgen` printing `Memcached::crd()` as YAML, once in a copy of the same operator crate (same controller and runtime) and once in a crate holding only the type; first builds in the shared target dir {:.1} s, {:.1} s and {:.1} s (cold only on the first run on a machine)",
        g.kubesmith_first_ms / 1e3,
        g.same_crate_first_ms / 1e3,
        g.crdgen_first_ms / 1e3
    ));
}

/// `kubesmith init` + `create api` for Memcached in `dir` (named after the project), with
/// the workspace's lock file.
fn scaffold(kubesmith: &Path, workspace_lock: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    run_ok(
        Command::new(kubesmith)
            .args(["init", "--domain", "example.com"])
            .current_dir(dir),
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
            .current_dir(dir),
        "kubesmith create api",
    )?;
    std::fs::copy(workspace_lock, dir.join("Cargo.lock")).context("copying Cargo.lock")?;
    Ok(dir.to_path_buf())
}

/// `src/api/cache/v1alpha1/memcached.rs` below `src` as the module path `api::cache::v1alpha1::memcached`.
fn module_path(src: &Path, file: &Path) -> Result<String> {
    let rel = file
        .strip_prefix(src)
        .with_context(|| format!("{} is not under {}", file.display(), src.display()))?
        .with_extension("");
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    Ok(parts.join("::"))
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
