//! `kubesmith init`: a new operator project in the current directory.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::commands::generate;
use crate::project::{LAYOUT, PROJECT_FILE, Project};
use crate::scaffold::Plan;
use crate::{names, templates, versions};

/// Arguments of `kubesmith init`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
  mkdir memcached-operator && cd memcached-operator\n  \
  kubesmith init --domain example.com\n  \
  kubesmith init --domain example.com --project-name my-operator --owner \"Jane Doe\" --license none")]
pub struct InitArgs {
    /// Domain of every API group of the project: groups are `<group>.<domain>`.
    #[arg(long, default_value = "my.domain")]
    pub domain: String,
    /// Project name (a DNS-1123 label; also the cargo package). Defaults to the directory name.
    #[arg(long)]
    pub project_name: Option<String>,
    /// Copyright owner, recorded as the package's author.
    #[arg(long)]
    pub owner: Option<String>,
    /// License of the generated project.
    #[arg(long, value_enum, default_value_t = License::Apache2)]
    pub license: License,
    /// Scaffold a namespace-scoped manager: it watches only its own namespace
    /// ($WATCH_NAMESPACE) and gets a Role instead of a ClusterRole.
    #[arg(long)]
    pub namespaced: bool,
    /// Path to the kubesmith-runtime crate the project depends on (relative paths are taken
    /// relative to the project directory). Defaults to the checkout kubesmith was built from.
    #[arg(long, env = "KUBESMITH_RUNTIME_PATH")]
    pub runtime_path: Option<PathBuf>,
}

/// Licenses `init` can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum License {
    Apache2,
    None,
}

/// Files whose presence means the directory already holds a project (as kubebuilder checks).
const INITIALISED_MARKERS: &[&str] = &[PROJECT_FILE, "Makefile", "src/main.rs"];

#[derive(Serialize)]
struct Context<'a> {
    project_name: &'a str,
    crate_name: String,
    domain: &'a str,
    runtime_path: String,
    envtest_path: String,
    dependencies: String,
    dev_dependencies: String,
    package_extra: String,
    namespaced: bool,
}

pub fn run(dir: &Path, args: &InitArgs) -> Result<()> {
    for name in INITIALISED_MARKERS {
        if dir.join(name).symlink_metadata().is_ok() {
            bail!(
                "{} is already initialized: found existing file {name:?}; run `kubesmith init` in a new directory or remove the scaffolded files",
                dir.display()
            );
        }
    }
    let (project_name, from_directory) = match &args.project_name {
        Some(name) => (name.clone(), false),
        None => {
            let absolute = std::path::absolute(dir).context("resolving the project directory")?;
            let name = absolute
                .file_name()
                .and_then(|n| n.to_str())
                .context("the project directory has no usable name; pass --project-name")?
                .to_string();
            (name, true)
        }
    };
    names::validate_project_name(&project_name, from_directory)?;
    names::validate_domain(&args.domain)?;
    let runtime = runtime_path(dir, args.runtime_path.as_deref())?;

    let mut package_extra = String::new();
    if args.license == License::Apache2 {
        package_extra.push_str("license = \"Apache-2.0\"\n");
    }
    if let Some(owner) = &args.owner {
        package_extra.push_str(&format!("authors = [{}]\n", toml_string(owner)));
    }
    let context = Context {
        project_name: &project_name,
        crate_name: names::crate_ident(&project_name),
        domain: &args.domain,
        runtime_path: runtime.display().to_string(),
        envtest_path: runtime.join("envtest").display().to_string(),
        dependencies: versions::toml_lines(versions::PINNED),
        dev_dependencies: versions::toml_lines(versions::PINNED_DEV),
        package_extra,
        namespaced: args.namespaced,
    };

    let mut plan = Plan::new(dir, false)
        .with_conflict_hint("move them away or run `kubesmith init` in an empty directory");
    for template in templates::INIT {
        plan.scaffold(template.path, template.render(&context)?)?;
    }
    let project = Project {
        cli_version: env!("CARGO_PKG_VERSION").to_string(),
        domain: args.domain.clone(),
        layout: vec![LAYOUT.to_string()],
        namespaced: args.namespaced,
        project_name: project_name.clone(),
        repo: names::crate_ident(&project_name),
        resources: Vec::new(),
        version: "3".to_string(),
    };
    plan.scaffold(PROJECT_FILE, project.render()?)?;
    // What `generate` writes for a project without controllers, so config/ renders right away.
    plan.scaffold(generate::ROLE_FILE, generate::role_file(&[])?)?;
    // Start from the exact dependency versions kubesmith is tested with, when they are at hand.
    let lock = dir.join(&runtime).join("../Cargo.lock");
    if let Ok(text) = std::fs::read_to_string(&lock) {
        plan.ensure("Cargo.lock", text)?;
    }
    plan.commit("init")?;
    println!(
        "\nNext: define a resource with:\n  kubesmith create api --group <group> --version v1alpha1 --kind <Kind>"
    );
    Ok(())
}

/// The runtime dependency path written into Cargo.toml, checked to hold kubesmith-runtime.
fn runtime_path(dir: &Path, flag: Option<&Path>) -> Result<PathBuf> {
    let (path, source) = match flag {
        Some(path) => (
            path.to_path_buf(),
            "--runtime-path / KUBESMITH_RUNTIME_PATH",
        ),
        None => (
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime")),
            "the kubesmith checkout this binary was built from",
        ),
    };
    let manifest = dir.join(&path).join("Cargo.toml");
    let is_runtime = std::fs::read_to_string(&manifest)
        .map(|text| text.contains("name = \"kubesmith-runtime\""))
        .unwrap_or(false);
    if !is_runtime {
        bail!(
            "kubesmith-runtime not found at {} (from {source}); pass --runtime-path <path to kubesmith/runtime> or set KUBESMITH_RUNTIME_PATH",
            path.display()
        );
    }
    if flag.is_some() {
        return Ok(path);
    }
    // A clean absolute path reads better in Cargo.toml than `cli/../runtime`.
    std::fs::canonicalize(&path).with_context(|| format!("resolving {}", path.display()))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.replace('"', "'")))
}
