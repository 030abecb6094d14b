//! `create api --from-crd FILE`: a controller for a kind another project publishes (cert-manager's
//! Certificate, a Prometheus operator's ServiceMonitor...), with its Rust types generated from
//! the CRD's schema (see [`crate::from_crd`]).
//!
//! The project records it in PROJECT as kubebuilder records external APIs (`external: true`,
//! the CRD's group split into group and domain), keeps the CRD in `config/crd/external/` for the
//! tests to install (a cluster has it already; `make install` does not apply it), and never
//! writes it to `config/crd/bases`: the types derive `kube::CustomResource` without kubesmith's
//! `#[resource]`, so `generate` does not see them as this project's.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::commands::create_api::{self, CreateApiArgs};
use crate::commands::generate;
use crate::from_crd;
use crate::names;
use crate::project::{PROJECT_FILE, Project, Resource};
use crate::scaffold::Plan;
use crate::templates::{self, PathVars};

/// Where the third-party CRDs live in a project.
pub const CRD_DIR: &str = "config/crd/external";

/// What the external templates (and the api `mod.rs` templates) see.
#[derive(Serialize)]
struct Context {
    project_name: String,
    crate_name: String,
    qualified_group: String,
    version: String,
    kind: String,
    plural: String,
    namespaced: bool,
    group_module: String,
    version_module: String,
    kind_module_plain: String,
    reconciler: String,
    controller_name: String,
    rbac_namespace: String,
    sample_json: String,
}

/// The CRD's group as kubebuilder records an external API: the first label is the group,
/// the rest the domain (`cert-manager.io` -> `cert-manager`, `io`).
pub fn split_group(group: &str) -> (&str, &str) {
    group.split_once('.').unwrap_or((group, ""))
}

/// The file of `config/crd/external` holding the CRD of `resource`.
pub fn crd_file(group: &str, plural: &str) -> String {
    format!("{CRD_DIR}/{group}_{plural}.yaml")
}

pub fn create(dir: &Path, args: &CreateApiArgs, file: &Path) -> Result<()> {
    let mut project = Project::load(dir)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading --from-crd {}", file.display()))?;
    let source = format!("--from-crd {}", file.display());
    let version = (!args.version.is_empty()).then_some(args.version.as_str());
    let crd = from_crd::parse(&text, &source, version)?;
    let (group, domain) = split_group(&crd.group);
    if !args.group.is_empty() && args.group != group && args.group != crd.group {
        bail!(
            "--group {:?} does not match the CRD's group {:?} (leave --group out with --from-crd)",
            args.group,
            crd.group
        );
    }
    if !args.kind.is_empty() && args.kind != crd.kind {
        bail!(
            "--kind {:?} does not match the CRD's kind {:?} (leave --kind out with --from-crd)",
            args.kind,
            crd.kind
        );
    }
    if args.plural.as_ref().is_some_and(|p| *p != crd.plural) {
        bail!(
            "--plural does not match the CRD's plural {:?} (leave --plural out with --from-crd)",
            crd.plural
        );
    }
    if !args.resource {
        bail!(
            "--resource=false does not apply to --from-crd: the kind's types are generated from the CRD (use --controller=false for the types alone)"
        );
    }
    if args.controller_name.is_some() {
        bail!(
            "--controller-name is not supported with --from-crd; scaffold the kind first, then add controllers with `create api --group {group} --version {} --kind {} --resource=false --controller-name <name>`",
            crd.version,
            crd.kind
        );
    }
    let controller = args.controller.unwrap_or(true);
    match project.find(group, &crd.version, &crd.kind) {
        Some(existing) if !existing.external => bail!(
            "{group}/{} {} is an API of this project; --from-crd is for kinds of other projects",
            crd.version,
            crd.kind
        ),
        Some(_) if !args.force => bail!(
            "external API {}/{}, Kind={} already exists; pass --force to generate its types again from the CRD (overwrites them and its controller)",
            crd.group,
            crd.version,
            crd.kind
        ),
        _ => {}
    }

    let group_module = names::module_ident(group);
    let version_module = names::module_ident(&crd.version);
    let kind_module = names::module_ident(&names::snake_case(&crd.kind));
    let kind_file = names::module_file(&kind_module).to_string();
    let controller_file = kind_file.clone();
    let sample = serde_json::json!({
        "apiVersion": format!("{}/{}", crd.group, crd.version),
        "kind": crd.kind,
        "metadata": { "name": "sample" },
        "spec": from_crd::minimal_object(&crd.schema["properties"]["spec"]),
    });
    let context = Context {
        project_name: project.project_name.clone(),
        crate_name: project.crate_name(),
        qualified_group: crd.group.clone(),
        version: crd.version.clone(),
        kind: crd.kind.clone(),
        plural: crd.plural.clone(),
        namespaced: crd.namespaced,
        group_module: group_module.clone(),
        version_module: version_module.clone(),
        kind_module_plain: names::snake_case(&crd.kind),
        reconciler: format!("{}Reconciler", crd.kind),
        controller_name: crd.kind.to_ascii_lowercase(),
        rbac_namespace: if project.namespaced {
            format!(", namespace = \"{}-system\"", project.project_name)
        } else {
            String::new()
        },
        sample_json: serde_json::to_string_pretty(&sample)?,
    };
    let vars = PathVars {
        group: names::module_file(&group_module),
        version: names::module_file(&version_module),
        kind: &kind_file,
        controller: &controller_file,
        sample_stem: "",
        plural: &crd.plural,
    };

    let mut plan = Plan::new(dir, args.force);
    plan.scaffold(
        format!("src/api/{}/{}/{kind_file}.rs", vars.group, vars.version),
        from_crd::rust_types(&crd),
    )?;
    // The CRD as the user gave it, when the file holds just it.
    let crd_text = if serde_yaml::Deserializer::from_str(&text).count() == 1 {
        text.clone()
    } else {
        serde_yaml::to_string(&crd.document)?
    };
    plan.scaffold(crd_file(&crd.group, &crd.plural), crd_text)?;
    create_api::register_kind_module(
        &mut plan,
        &context,
        &vars,
        [&group_module, &version_module, &kind_module],
    )?;
    if controller {
        for template in templates::EXTERNAL_CONTROLLER {
            plan.scaffold(template.output_path(&vars), template.render(&context)?)?;
        }
        plan.insert(
            "src/controller/mod.rs",
            "+kubesmith:scaffold:controllers",
            &format!("pub mod {kind_module};"),
        )?;
        plan.insert(
            "src/lib.rs",
            "+kubesmith:scaffold:controllers",
            &format!("controller::{kind_module}::add(mgr)?;"),
        )?;
    }
    let existing = project.find(group, &crd.version, &crd.kind).cloned();
    project.upsert(Resource {
        api: None,
        controller: controller || existing.as_ref().is_some_and(|r| r.controller),
        controllers: Vec::new(),
        core: false,
        domain: domain.to_string(),
        external: true,
        group: group.to_string(),
        kind: crd.kind.clone(),
        path: Some(format!(
            "{}::api::{group_module}::{version_module}",
            project.crate_name()
        )),
        plural: (crd.plural != names::default_plural(&crd.kind)).then(|| crd.plural.clone()),
        version: crd.version.clone(),
        webhooks: existing.and_then(|r| r.webhooks),
    });
    plan.own(PROJECT_FILE, project.render()?);
    plan.commit("create api --from-crd")?;

    if args.skip_generate {
        println!("\nNext: generate the RBAC for the new controller with:\n  kubesmith generate");
        return Ok(());
    }
    println!("\nGenerating the manifests (kubesmith generate):");
    generate::run(dir, &generate::GenerateArgs { check: false })?;
    println!(
        "\nNext: implement the controller in src/controller/{controller_file}.rs, then:\n  kubesmith generate && cargo test"
    );
    Ok(())
}
