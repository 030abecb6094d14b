//! `kubesmith create api`: the types, controller, sample and test of one group/version/kind.

use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::builtin;
use crate::commands::generate;
use crate::names;
use crate::project::{ApiInfo, ControllerInfo, PROJECT_FILE, Project, Resource};
use crate::scaffold::Plan;
use crate::templates::{self, PathVars};

/// Arguments of `kubesmith create api`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
  kubesmith create api --group cache --version v1alpha1 --kind Memcached\n  \
  kubesmith create api --group ship --version v1beta1 --kind Frigate --namespaced=false\n  \
  kubesmith create api --group cache --version v1alpha1 --kind Memcached --controller=false\n  \
  kubesmith create api --from-crd cert-manager.crds.yaml --version v1")]
pub struct CreateApiArgs {
    /// API group, without the domain (`cache` for cache.<domain>).
    #[arg(
        long,
        required_unless_present = "from_crd",
        default_value = "",
        hide_default_value = true
    )]
    pub group: String,
    /// API version: v1, v1alpha1, v2beta3, ...
    #[arg(
        long,
        required_unless_present = "from_crd",
        default_value = "",
        hide_default_value = true
    )]
    pub version: String,
    /// Kind, in PascalCase (Memcached).
    #[arg(
        long,
        required_unless_present = "from_crd",
        default_value = "",
        hide_default_value = true
    )]
    pub kind: String,
    /// Resource plural, for kinds whose plural is irregular (default: derived from the kind).
    #[arg(long)]
    pub plural: Option<String>,
    /// Whether the kind is namespaced (`--namespaced=false` for a cluster-scoped kind).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub namespaced: bool,
    /// Scaffold the API types (`--resource=false` adds only a controller to an existing API).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub resource: bool,
    /// Scaffold a controller for the kind (default: yes, unless another version of the kind
    /// already has one).
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub controller: Option<bool>,
    /// Name of the controller, to add another controller for a kind that has one
    /// (default: the lower-cased kind).
    #[arg(long)]
    pub controller_name: Option<String>,
    /// Overwrite the files of an existing resource.
    #[arg(long)]
    pub force: bool,
    /// Do not run `kubesmith generate` afterwards.
    #[arg(long)]
    pub skip_generate: bool,
    /// Generate the types of a third-party kind from its CRD file (YAML or JSON) and scaffold a
    /// controller for it; group, kind and plural come from the CRD, --version picks one of its
    /// versions (default: the storage version).
    #[arg(long, value_name = "FILE")]
    pub from_crd: Option<std::path::PathBuf>,
}

/// Everything the API and controller templates see.
#[derive(Serialize)]
struct Context {
    project_name: String,
    crate_name: String,
    group: String,
    qualified_group: String,
    version: String,
    kind: String,
    kind_lower: String,
    plural: String,
    namespaced: bool,
    group_module: String,
    version_module: String,
    kind_module: String,
    kind_file: String,
    sample_file: String,
    reconciler: String,
    /// The first version of a kind is its storage version.
    storage: bool,
    /// `, namespace = "<project>-system"` on every RBAC attribute of a namespace-scoped manager.
    rbac_namespace: String,
    controller_module: String,
    controller_name: String,
    /// Built-in kinds: the API group as the server names it (`""` for core), how to show it,
    /// and the k8s-openapi module holding the type.
    api_group: String,
    api_group_display: String,
    module: String,
    /// The kind in snake_case, for test function names.
    kind_module_plain: String,
}

/// Makes `src/api/<group>/<version>/<kind>.rs` part of the crate: the group and version
/// modules (written once) and the `pub mod` / `pub use` lines at their insertion markers.
pub(crate) fn register_kind_module(
    plan: &mut Plan,
    context: &impl Serialize,
    vars: &PathVars<'_>,
    [group_module, version_module, kind_module]: [&str; 3],
) -> Result<()> {
    let group_mod = templates::API_GROUP_MOD.output_path(vars);
    let version_mod = templates::API_VERSION_MOD.output_path(vars);
    plan.ensure(&group_mod, templates::API_GROUP_MOD.render(context)?)?;
    plan.ensure(&version_mod, templates::API_VERSION_MOD.render(context)?)?;
    plan.insert(
        "src/api/mod.rs",
        "+kubesmith:scaffold:groups",
        &format!("pub mod {group_module};"),
    )?;
    plan.insert(
        &group_mod,
        "+kubesmith:scaffold:versions",
        &format!("pub mod {version_module};"),
    )?;
    plan.insert(
        &version_mod,
        "+kubesmith:scaffold:kinds",
        &format!("pub mod {kind_module};"),
    )?;
    plan.insert(
        &version_mod,
        "+kubesmith:scaffold:kinds",
        &format!("pub use {kind_module}::*;"),
    )
}

pub fn run(dir: &Path, args: &CreateApiArgs) -> Result<()> {
    if let Some(file) = &args.from_crd {
        return crate::external::create(dir, args, file);
    }
    let mut project = Project::load(dir)?;
    let other_versions: Vec<&Resource> = project
        .resources
        .iter()
        .filter(|r| r.group == args.group && r.kind == args.kind && r.version != args.version)
        .collect();
    // A second version of a kind reuses the first one's controller unless asked for its own,
    // and the first version stays the storage version.
    let controller = args.controller.unwrap_or_else(|| {
        !other_versions
            .iter()
            .any(|r| r.controller || !r.controllers.is_empty())
    });
    let storage = !other_versions.iter().any(|r| r.api.is_some());
    let args = &CreateApiArgs {
        controller: Some(controller),
        ..args.clone()
    };
    let controller = args.controller == Some(true);
    for (flag, value) in [
        ("--group", &args.group),
        ("--version", &args.version),
        ("--kind", &args.kind),
    ] {
        if value.starts_with('-') {
            bail!("{flag} flag present but empty (it was followed by {value:?})");
        }
    }
    names::validate_group(&args.group, &project.domain)?;
    names::validate_version(&args.version)?;
    names::validate_kind(&args.kind)?;
    if let Some(plural) = &args.plural {
        names::validate_plural(plural)?;
    }
    if !args.resource && !controller {
        bail!(
            "nothing to do: --resource=false and --controller=false; scaffold at least one of them"
        );
    }

    let existing = project
        .find(&args.group, &args.version, &args.kind)
        .cloned();
    // `--resource=false` on a built-in group (apps, batch, core...) without an API of ours
    // there: a controller for a built-in kind, as kubebuilder's core types.
    let builtin = match &existing {
        Some(Resource { api: Some(_), .. }) => None,
        _ if !args.resource && builtin::is_builtin_group(&args.group) => {
            Some(builtin::find(&args.group, &args.version, &args.kind)?)
        }
        _ => None,
    };
    let gvk = match builtin {
        Some(b) if b.api_group.is_empty() => format!("{}, Kind={}", b.version, b.kind),
        Some(b) => format!("{}/{}, Kind={}", b.api_group, b.version, b.kind),
        None => format!(
            "{}/{}, Kind={}",
            names::qualified_group(&args.group, &project.domain),
            args.version,
            args.kind
        ),
    };
    let default_controller = args.kind.to_ascii_lowercase();
    if let Some(name) = &args.controller_name {
        names::validate_controller_name(name)?;
        if !controller {
            bail!("--controller-name needs a controller; drop --controller=false");
        }
    }
    let named = args
        .controller_name
        .as_deref()
        .filter(|name| *name != default_controller);
    let controller_exists = existing.as_ref().is_some_and(|r| match named {
        Some(name) => r.controllers.iter().any(|c| c.name == name),
        None => r.controller,
    });
    match &existing {
        Some(r) if args.resource && r.api.is_some() && !args.force => bail!(
            "API resource {gvk} already exists; pass --force to scaffold its files again (overwrites them)"
        ),
        Some(_) if controller && controller_exists && !args.force => bail!(
            "controller {:?} already exists for {gvk}; pass --controller-name to add another controller, or --force to scaffold it again (overwrites it)",
            named.unwrap_or(&default_controller)
        ),
        None | Some(Resource { api: None, .. }) if !args.resource && builtin.is_none() => bail!(
            "--resource=false needs an existing API for {gvk}; run `kubesmith create api` for it first, or name a built-in kind (e.g. --group apps --version v1 --kind Deployment)"
        ),
        _ => {}
    }
    let namespaced = match (&existing, args.resource) {
        _ if builtin.is_some() => builtin.is_some_and(|b| b.namespaced),
        (Some(Resource { api: Some(api), .. }), false) => api.namespaced,
        _ => args.namespaced,
    };
    let plural = match builtin {
        Some(b) => b.plural.to_string(),
        None => args
            .plural
            .clone()
            .or_else(|| existing.as_ref().and_then(|r| r.plural.clone()))
            .unwrap_or_else(|| names::default_plural(&args.kind)),
    };

    let group_module = names::module_ident(&args.group);
    let version_module = names::module_ident(&args.version);
    let kind_module = names::module_ident(&names::snake_case(&args.kind));
    let kind_file = names::module_file(&kind_module).to_string();
    let controller_name = named.unwrap_or(&default_controller).to_string();
    let controller_module = match named {
        Some(name) => names::module_ident(&name.replace('-', "_")),
        None => kind_module.clone(),
    };
    let controller_file = names::module_file(&controller_module).to_string();
    let reconciler = match named {
        Some(name) => format!("{}Reconciler", names::pascal_case(name)),
        None => format!("{}Reconciler", args.kind),
    };
    let sample_stem = format!(
        "{}_{}_{}",
        args.group,
        args.version,
        args.kind.to_ascii_lowercase()
    );
    let context = Context {
        project_name: project.project_name.clone(),
        crate_name: project.crate_name(),
        group: args.group.clone(),
        qualified_group: names::qualified_group(&args.group, &project.domain),
        version: args.version.clone(),
        kind: args.kind.clone(),
        kind_lower: args.kind.to_ascii_lowercase(),
        plural: plural.clone(),
        namespaced,
        group_module: group_module.clone(),
        version_module: version_module.clone(),
        kind_module: kind_module.clone(),
        kind_file: kind_file.clone(),
        sample_file: format!("{sample_stem}.yaml"),
        reconciler,
        storage,
        rbac_namespace: if project.namespaced {
            format!(", namespace = \"{}-system\"", project.project_name)
        } else {
            String::new()
        },
        controller_module: controller_module.clone(),
        controller_name,
        api_group: builtin.map(|b| b.api_group.to_string()).unwrap_or_default(),
        api_group_display: builtin
            .map(|b| {
                if b.api_group.is_empty() {
                    "core"
                } else {
                    b.api_group
                }
            })
            .unwrap_or_default()
            .to_string(),
        module: builtin.map(|b| b.module.to_string()).unwrap_or_default(),
        kind_module_plain: names::snake_case(&args.kind),
    };
    let vars = PathVars {
        group: names::module_file(&group_module),
        version: names::module_file(&version_module),
        kind: &kind_file,
        controller: &controller_file,
        sample_stem: &sample_stem,
        plural: &plural,
    };

    let mut plan = Plan::new(dir, args.force);
    if args.resource {
        for template in templates::API {
            plan.scaffold(template.output_path(&vars), template.render(&context)?)?;
        }
        for template in templates::API_KIND {
            plan.ensure(template.output_path(&vars), template.render(&context)?)?;
        }
        register_kind_module(
            &mut plan,
            &context,
            &vars,
            [&group_module, &version_module, &kind_module],
        )?;
        plan.insert(
            "src/lib.rs",
            generate::CRDS_MARKER,
            &generate::crd_line(
                &["api", &group_module, &version_module, &kind_module],
                &args.kind,
            ),
        )?;
        let crd_kustomization = templates::CRD_KUSTOMIZATION.output_path(&vars);
        plan.ensure(
            &crd_kustomization,
            templates::CRD_KUSTOMIZATION.render(&context)?,
        )?;
        plan.insert(
            &crd_kustomization,
            "+kubesmith:scaffold:crdkustomizeresource",
            &format!("- bases/{}_{plural}.yaml", context.qualified_group),
        )?;
        plan.replace_line("config/default/kustomization.yaml", "#- ../crd", "- ../crd")?;
        let samples = templates::SAMPLES_KUSTOMIZATION.output_path(&vars);
        plan.ensure(&samples, templates::SAMPLES_KUSTOMIZATION.render(&context)?)?;
        for role in ["admin", "editor", "viewer"] {
            plan.insert(
                "config/rbac/kustomization.yaml",
                "+kubesmith:scaffold:rbackustomizeresource",
                &format!("- {kind_file}_{role}_role.yaml"),
            )?;
        }
        plan.insert(
            &samples,
            "+kubesmith:scaffold:manifestskustomizesamples",
            &format!("- {sample_stem}.yaml"),
        )?;
    }
    if controller {
        let controller_templates = match builtin {
            Some(_) => templates::BUILTIN_CONTROLLER,
            None => templates::CONTROLLER,
        };
        for template in controller_templates {
            plan.scaffold(template.output_path(&vars), template.render(&context)?)?;
        }
        plan.insert(
            "src/controller/mod.rs",
            "+kubesmith:scaffold:controllers",
            &format!("pub mod {controller_module};"),
        )?;
        plan.insert(
            "src/lib.rs",
            "+kubesmith:scaffold:controllers",
            &format!("controller::{controller_module}::add(mgr)?;"),
        )?;
    }

    let mut resource = existing.unwrap_or(Resource {
        api: None,
        controller: false,
        controllers: Vec::new(),
        core: builtin.is_some(),
        domain: if builtin.is_some() {
            String::new()
        } else {
            project.domain.clone()
        },
        external: false,
        group: args.group.clone(),
        kind: args.kind.clone(),
        path: builtin.map(|b| format!("k8s_openapi::api::{}", b.module)),
        plural: None,
        version: args.version.clone(),
        webhooks: None,
    });
    if args.resource {
        resource.api = Some(ApiInfo {
            crd_version: "v1".into(),
            namespaced,
        });
        resource.path = Some(format!(
            "{}::api::{group_module}::{version_module}",
            project.crate_name()
        ));
        resource.plural = (plural != names::default_plural(&args.kind)).then_some(plural);
    }
    match named {
        Some(name) if controller => {
            if !resource.controllers.iter().any(|c| c.name == name) {
                resource.controllers.push(ControllerInfo {
                    name: name.to_string(),
                });
            }
        }
        _ => resource.controller |= controller,
    }
    project.upsert(resource);
    plan.own(PROJECT_FILE, project.render()?);
    plan.commit("create api")?;

    if args.skip_generate {
        println!(
            "\nNext: implement your new API and generate the manifests (CRDs, RBAC) with:\n  kubesmith generate"
        );
        return Ok(());
    }
    println!("\nGenerating the manifests (kubesmith generate):");
    generate::run(dir, &generate::GenerateArgs { check: false })?;
    match builtin {
        Some(_) => println!(
            "\nNext: implement the controller in src/controller/{controller_file}, then:\n  kubesmith generate && cargo test"
        ),
        None => println!(
            "\nNext: implement your new API in src/api and its controller in src/controller, then:\n  kubesmith generate && cargo test"
        ),
    }
    Ok(())
}
