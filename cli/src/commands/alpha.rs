//! `kubesmith alpha generate`: re-scaffold a project from its PROJECT file with the current
//! templates, so moving to a new kubesmith is a diff to review rather than a hand migration.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::commands::{create_api, create_webhook, generate, init};
use crate::project::{PROJECT_FILE, Project};
use crate::{external, names};

/// Arguments of `kubesmith alpha generate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
  kubesmith alpha generate --output-dir ../memcached-operator-new   # then diff the two trees\n  \
  kubesmith alpha generate                                          # in place: keeps only .git and target/")]
pub struct GenerateArgs {
    /// The project to read (default: the project directory).
    #[arg(long)]
    pub input_dir: Option<PathBuf>,
    /// Where to write the new scaffold (must be empty or absent). Without it the project is
    /// re-scaffolded in place: everything but `.git` and `target/` is deleted first.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Do not run `kubesmith generate` at the end.
    #[arg(long)]
    pub skip_generate: bool,
}

pub fn generate(project_dir: &Path, args: &GenerateArgs) -> Result<()> {
    let input = args.input_dir.as_deref().unwrap_or(project_dir);
    let project = Project::load(input)?;
    let runtime_path = recorded_runtime_path(input);
    // Third-party CRDs (`create api --from-crd`) are the input of their types: read them
    // before an in-place run deletes them.
    let mut external_crds = Vec::new();
    for resource in project.resources.iter().filter(|r| r.external) {
        let group = match resource.domain.as_str() {
            "" => resource.group.clone(),
            domain => format!("{}.{domain}", resource.group),
        };
        let plural = resource
            .plural
            .clone()
            .unwrap_or_else(|| names::default_plural(&resource.kind));
        let rel = external::crd_file(&group, &plural);
        let text = std::fs::read_to_string(input.join(&rel)).with_context(|| {
            format!(
                "reading {rel}, the CRD of the external kind {} (restore it, or remove the kind from {PROJECT_FILE})",
                resource.kind
            )
        })?;
        external_crds.push(text);
    }
    let scratch = std::env::temp_dir().join(format!("kubesmith-alpha-{}", std::process::id()));
    let output = match &args.output_dir {
        Some(out) => {
            let empty = std::fs::read_dir(out)
                .map(|mut d| d.next().is_none())
                .unwrap_or(true);
            if !empty {
                bail!(
                    "--output-dir {} is not empty; choose a new directory",
                    out.display()
                );
            }
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            out.clone()
        }
        None => {
            if !input.join(".git").exists() {
                bail!(
                    "re-scaffolding in place deletes every file but .git and target/, and {} is not a git repository to recover them from; pass --output-dir",
                    input.display()
                );
            }
            clear_except_git(input)?;
            input.to_path_buf()
        }
    };
    println!(
        "Re-scaffolding {} from {PROJECT_FILE} into {}",
        project.project_name,
        output.display()
    );
    init::run(
        &output,
        &init::InitArgs {
            domain: project.domain.clone(),
            project_name: Some(project.project_name.clone()),
            owner: None,
            license: init::License::Apache2,
            namespaced: project.namespaced,
            runtime_path: runtime_path.map(|p| resolve(input, &output, &p)),
        },
    )?;
    let mut external_crds = external_crds.into_iter();
    for resource in &project.resources {
        if resource.external {
            let text = external_crds.next().context("external CRDs read above")?;
            std::fs::create_dir_all(&scratch)
                .with_context(|| format!("creating {}", scratch.display()))?;
            let file = scratch.join(format!("{}.yaml", resource.kind));
            std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
            let created = create_api::run(
                &output,
                &create_api::CreateApiArgs {
                    group: resource.group.clone(),
                    version: resource.version.clone(),
                    kind: resource.kind.clone(),
                    plural: None,
                    namespaced: true,
                    resource: true,
                    controller: Some(resource.controller),
                    controller_name: None,
                    force: false,
                    skip_generate: true,
                    from_crd: Some(file),
                },
            );
            let _ = std::fs::remove_dir_all(&scratch);
            created?;
            continue;
        }
        // A built-in kind with only webhooks has nothing for `create api` to replay.
        if resource.api.is_none() && !resource.controller && resource.controllers.is_empty() {
            continue;
        }
        create_api::run(
            &output,
            &create_api::CreateApiArgs {
                group: resource.group.clone(),
                version: resource.version.clone(),
                kind: resource.kind.clone(),
                plural: resource.plural.clone(),
                namespaced: resource.api.as_ref().is_none_or(|api| api.namespaced),
                resource: resource.api.is_some(),
                controller: Some(resource.controller),
                controller_name: None,
                force: false,
                skip_generate: true,
                from_crd: None,
            },
        )?;
        for named in &resource.controllers {
            create_api::run(
                &output,
                &create_api::CreateApiArgs {
                    group: resource.group.clone(),
                    version: resource.version.clone(),
                    kind: resource.kind.clone(),
                    plural: resource.plural.clone(),
                    namespaced: true,
                    resource: false,
                    controller: Some(true),
                    controller_name: Some(named.name.clone()),
                    force: false,
                    skip_generate: true,
                    from_crd: None,
                },
            )?;
        }
    }
    // After every API: a conversion webhook names other versions of its kind.
    for resource in &project.resources {
        let Some(webhooks) = &resource.webhooks else {
            continue;
        };
        create_webhook::run(
            &output,
            &create_webhook::CreateWebhookArgs {
                group: resource.group.clone(),
                version: resource.version.clone(),
                kind: resource.kind.clone(),
                plural: resource.plural.clone(),
                defaulting: webhooks.defaulting,
                programmatic_validation: webhooks.validation,
                conversion: webhooks.conversion,
                spoke: webhooks.spoke.clone(),
                defaulting_path: webhooks.defaulting_path.clone(),
                validation_path: webhooks.validation_path.clone(),
                force: false,
                skip_generate: true,
            },
        )?;
    }
    if !project.resources.is_empty() && !args.skip_generate {
        println!("\nGenerating the manifests (kubesmith generate):");
        generate::run(&output, &generate::GenerateArgs { check: false })?;
    }
    println!(
        "\nDone. Move your code (src/api, src/controller, src/webhook, tests) over from the old tree and review the diff."
    );
    Ok(())
}

/// The runtime path the project's Cargo.toml records, if it has one.
fn recorded_runtime_path(dir: &Path) -> Option<PathBuf> {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("kubesmith-runtime"))?;
    let start = line.find("path = \"")? + "path = \"".len();
    let end = start + line[start..].find('"')?;
    Some(PathBuf::from(&line[start..end]))
}

/// A recorded relative path points from the input project; rewrite it for the output project.
fn resolve(input: &Path, output: &Path, recorded: &Path) -> PathBuf {
    if recorded.is_absolute()
        || std::fs::canonicalize(input).ok() == std::fs::canonicalize(output).ok()
    {
        return recorded.to_path_buf();
    }
    std::fs::canonicalize(input.join(recorded)).unwrap_or_else(|_| recorded.to_path_buf())
}

/// Deletes everything in `dir` except `.git` and `target`, as kubebuilder's `alpha generate`.
fn clear_except_git(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".git" || name == "target" {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}
