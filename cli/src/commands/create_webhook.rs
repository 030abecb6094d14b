//! `kubesmith create webhook`: a defaulting, validating and/or conversion webhook for a kind.
//!
//! Every webhook type of a kind lives in `src/webhook/<version>/<kind>.rs`: a skeleton written
//! once (its `add()` registers the webhooks), then one block per type inserted at markers, so
//! adding validation to a kind that has defaulting keeps the user's defaulting code.

use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::builtin;
use crate::commands::generate;
use crate::names;
use crate::project::{PROJECT_FILE, Project, Resource, WebhookInfo};
use crate::scaffold::{Plan, insert_at_marker};
use crate::templates::{self, PathVars};

/// Arguments of `kubesmith create webhook`.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(after_help = "Examples:\n  \
  kubesmith create webhook --group cache --version v1alpha1 --kind Memcached --defaulting --programmatic-validation\n  \
  kubesmith create webhook --group cache --version v1 --kind Memcached --conversion --spoke v1alpha1\n  \
  kubesmith create webhook --group core --version v1 --kind Pod --programmatic-validation")]
pub struct CreateWebhookArgs {
    /// API group, without the domain (`cache` for cache.<domain>; `core`, `apps`... for built-in kinds).
    #[arg(long)]
    pub group: String,
    /// API version of the kind (the hub, for --conversion).
    #[arg(long)]
    pub version: String,
    /// Kind, in PascalCase (Memcached).
    #[arg(long)]
    pub kind: String,
    /// Resource plural, for kinds whose plural is irregular (default: what `create api` recorded).
    #[arg(long)]
    pub plural: Option<String>,
    /// Scaffold a defaulting (mutating) webhook.
    #[arg(long)]
    pub defaulting: bool,
    /// Scaffold a validating webhook.
    #[arg(long)]
    pub programmatic_validation: bool,
    /// Scaffold a conversion webhook: --version is the hub, --spoke the versions converted to and from it.
    #[arg(long)]
    pub conversion: bool,
    /// Spoke versions for --conversion (repeatable, or a comma-separated list).
    #[arg(long, value_delimiter = ',')]
    pub spoke: Vec<String>,
    /// A custom path for the defaulting webhook (default: /mutate-<group>-<version>-<kind>).
    #[arg(long)]
    pub defaulting_path: Option<String>,
    /// A custom path for the validating webhook (default: /validate-<group>-<version>-<kind>).
    #[arg(long)]
    pub validation_path: Option<String>,
    /// Scaffold the files of webhooks that already exist again (overwrites them).
    #[arg(long)]
    pub force: bool,
    /// Do not run `kubesmith generate` afterwards.
    #[arg(long)]
    pub skip_generate: bool,
}

/// Everything the webhook templates see.
#[derive(Clone, Serialize)]
struct Context {
    project_name: String,
    kind: String,
    kind_lower: String,
    kind_module_plain: String,
    version: String,
    plural: String,
    qualified_group: String,
    /// The API group as the API server names it (`""` for core) and how to show it.
    api_group: String,
    api_group_display: String,
    /// The Rust path of the kind's type.
    kind_path: String,
    builtin: bool,
    defaulting_path: String,
    validation_path: String,
    group_module: String,
    hub_module: String,
    hub_version: String,
    crate_name: String,
    version_module: String,
    version_module_plain: String,
    namespaced: bool,
    /// Every webhook type of the kind after this command, for the test.
    defaulting: bool,
    validation: bool,
    conversion: bool,
    /// The first spoke, which the test writes through.
    spoke: String,
    spoke_module: String,
}

const BUILDER_MARKER: &str = "+kubesmith:scaffold:webhookbuilder";
const IMPLS_MARKER: &str = "+kubesmith:scaffold:webhookimpls";
const WEBHOOKS_MARKER: &str = "+kubesmith:scaffold:webhooks";
const DEFAULT_KUSTOMIZATION: &str = "config/default/kustomization.yaml";
const CRD_KUSTOMIZATION: &str = "config/crd/kustomization.yaml";

pub fn run(dir: &Path, args: &CreateWebhookArgs) -> Result<()> {
    let mut project = Project::load(dir)?;
    for (flag, value) in [
        ("--group", &args.group),
        ("--version", &args.version),
        ("--kind", &args.kind),
    ] {
        if value.starts_with('-') {
            bail!("{flag} flag present but empty (it was followed by {value:?})");
        }
    }
    names::validate_version(&args.version)?;
    names::validate_kind(&args.kind)?;
    if let Some(plural) = &args.plural {
        names::validate_plural(plural)?;
    }
    if !(args.defaulting || args.programmatic_validation || args.conversion) {
        bail!(
            "create webhook requires at least one of --defaulting, --programmatic-validation and --conversion to be true"
        );
    }
    check_path(
        "--defaulting-path",
        &args.defaulting_path,
        args.defaulting,
        "--defaulting",
    )?;
    check_path(
        "--validation-path",
        &args.validation_path,
        args.programmatic_validation,
        "--programmatic-validation",
    )?;

    let existing = project
        .find(&args.group, &args.version, &args.kind)
        .cloned();
    let builtin = match &existing {
        Some(Resource { api: Some(_), .. }) => None,
        _ if builtin::is_builtin_group(&args.group) => {
            Some(builtin::find(&args.group, &args.version, &args.kind)?)
        }
        _ => {
            names::validate_group(&args.group, &project.domain)?;
            let ours: Vec<String> = project
                .resources
                .iter()
                .filter(|r| r.api.is_some())
                .map(|r| {
                    format!(
                        "--group {} --version {} --kind {}",
                        r.group, r.version, r.kind
                    )
                })
                .collect();
            bail!(
                "no API found for {}/{}, Kind={}: run `kubesmith create api --group {} --version {} --kind {}` first{}",
                names::qualified_group(&args.group, &project.domain),
                args.version,
                args.kind,
                args.group,
                args.version,
                args.kind,
                if ours.is_empty() {
                    String::new()
                } else {
                    format!(", or name one of the project's APIs: {}", ours.join("; "))
                }
            )
        }
    };
    if builtin.is_some() && args.conversion {
        bail!(
            "--conversion is for the project's own kinds (CRDs): {} is a built-in kind the API server converts itself",
            args.kind
        );
    }
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
    let before = existing
        .as_ref()
        .and_then(|r| r.webhooks.clone())
        .unwrap_or_default();
    for (wanted, exists, what) in [
        (args.defaulting, before.defaulting, "defaulting"),
        (
            args.programmatic_validation,
            before.validation,
            "validation",
        ),
        (args.conversion, before.conversion, "conversion"),
    ] {
        if wanted && exists && !args.force {
            bail!(
                "{what} webhook already exists for {gvk}; pass --force to scaffold it again (overwrites src/webhook/{}/{}.rs), or ask for another webhook type",
                args.version,
                names::module_file(&names::module_ident(&names::snake_case(&args.kind)))
            );
        }
    }

    // One file per version and kind: another group's kind of the same name would be merged
    // into it and registered for the wrong type.
    if let Some(other) = project.resources.iter().find(|r| {
        r.webhooks.is_some()
            && r.group != args.group
            && r.version == args.version
            && r.kind.eq_ignore_ascii_case(&args.kind)
    }) {
        let file = format!(
            "src/webhook/{}/{}.rs",
            args.version,
            names::module_file(&names::module_ident(&names::snake_case(&args.kind)))
        );
        bail!(
            "{file} already holds the webhooks of {}/{}, Kind={} (group {}); webhooks are kept in one file per version and kind, so {gvk} can't get its own yet: \
             add them by hand to a module of your own, or give one of the kinds another name",
            if builtin::is_builtin_group(&other.group) {
                other.group.clone()
            } else {
                names::qualified_group(&other.group, &project.domain)
            },
            other.version,
            other.kind,
            other.group,
        );
    }

    // Spokes: other versions of this kind with types of ours, never the hub, each once.
    let mut spokes: Vec<String> = Vec::new();
    let versions: Vec<&str> = project
        .resources
        .iter()
        .filter(|r| r.group == args.group && r.kind == args.kind && r.api.is_some())
        .map(|r| r.version.as_str())
        .filter(|v| *v != args.version)
        .collect();
    let valid_spokes = if versions.is_empty() {
        format!(
            "{} has no other version; add one with `kubesmith create api --group {} --version <v> --kind {}`",
            args.kind, args.group, args.kind
        )
    } else {
        format!("valid spokes: {}", versions.join(", "))
    };
    for spoke in args.spoke.iter().map(|s| s.trim()) {
        if spoke.is_empty() {
            bail!("--spoke has an empty version; {valid_spokes}");
        }
        if spoke == args.version {
            bail!("invalid spoke version {spoke:?}: it is the hub (--version); {valid_spokes}");
        }
        if !versions.contains(&spoke) {
            bail!("invalid spoke version {spoke:?} for {gvk}; {valid_spokes}");
        }
        if spokes.iter().any(|s| s == spoke) {
            bail!("duplicate spoke version {spoke:?} in --spoke");
        }
        spokes.push(spoke.to_string());
    }
    if !args.spoke.is_empty() && !args.conversion {
        bail!("--spoke can only be used with --conversion");
    }
    if args.conversion && spokes.is_empty() {
        bail!(
            "--conversion needs at least one --spoke version to convert to and from {}; {valid_spokes}",
            args.version
        );
    }

    let mut after = WebhookInfo {
        webhook_version: "v1".into(),
        ..before.clone()
    };
    after.defaulting |= args.defaulting;
    after.validation |= args.programmatic_validation;
    after.conversion |= args.conversion;
    for spoke in &spokes {
        if !after.spoke.contains(spoke) {
            after.spoke.push(spoke.clone());
        }
    }
    if args.defaulting {
        after.defaulting_path = args.defaulting_path.clone();
    }
    if args.programmatic_validation {
        after.validation_path = args.validation_path.clone();
    }

    let plural = match builtin {
        Some(b) => b.plural.to_string(),
        None => args
            .plural
            .clone()
            .or_else(|| existing.as_ref().and_then(|r| r.plural.clone()))
            .unwrap_or_else(|| names::default_plural(&args.kind)),
    };
    let api_group = match builtin {
        Some(b) => b.api_group.to_string(),
        None => names::qualified_group(&args.group, &project.domain),
    };
    let group_module = names::module_ident(&args.group);
    let version_module = names::module_ident(&args.version);
    let kind_module = names::module_ident(&names::snake_case(&args.kind));
    let kind_file = names::module_file(&kind_module).to_string();
    let gvk_path = |mutating: bool| {
        format!(
            "/{}-{}-{}-{}",
            if mutating { "mutate" } else { "validate" },
            api_group.replace('.', "-"),
            args.version,
            args.kind.to_ascii_lowercase()
        )
    };
    let context = Context {
        project_name: project.project_name.clone(),
        kind: args.kind.clone(),
        kind_lower: args.kind.to_ascii_lowercase(),
        kind_module_plain: names::snake_case(&args.kind),
        version: args.version.clone(),
        plural: plural.clone(),
        qualified_group: api_group.clone(),
        api_group: api_group.clone(),
        api_group_display: if api_group.is_empty() {
            "core".into()
        } else {
            api_group.clone()
        },
        kind_path: match builtin {
            Some(b) => format!("k8s_openapi::api::{}::{}", b.module, b.kind),
            None => format!(
                "crate::api::{group_module}::{version_module}::{}",
                args.kind
            ),
        },
        builtin: builtin.is_some(),
        defaulting_path: after
            .defaulting_path
            .clone()
            .unwrap_or_else(|| gvk_path(true)),
        validation_path: after
            .validation_path
            .clone()
            .unwrap_or_else(|| gvk_path(false)),
        group_module: group_module.clone(),
        hub_module: version_module.clone(),
        hub_version: args.version.clone(),
        crate_name: project.crate_name(),
        version_module: version_module.clone(),
        version_module_plain: names::module_file(&version_module).to_string(),
        namespaced: match builtin {
            Some(b) => b.namespaced,
            None => existing
                .as_ref()
                .and_then(|r| r.api.as_ref())
                .is_none_or(|api| api.namespaced),
        },
        defaulting: after.defaulting,
        validation: after.validation,
        conversion: after.conversion,
        spoke: after.spoke.first().cloned().unwrap_or_default(),
        spoke_module: after
            .spoke
            .first()
            .map(|s| names::module_ident(s))
            .unwrap_or_default(),
    };
    let vars = PathVars {
        group: names::module_file(&group_module),
        version: names::module_file(&version_module),
        kind: &kind_file,
        plural: &plural,
        ..Default::default()
    };

    let mut plan = Plan::new(dir, args.force);
    // With --force every webhook type of the kind is scaffolded again; otherwise only the new ones.
    let (defaulting, validation, conversion) = if args.force {
        (after.defaulting, after.validation, after.conversion)
    } else {
        (
            args.defaulting,
            args.programmatic_validation,
            args.conversion,
        )
    };

    // The Rust code.
    plan.ensure(
        "src/webhook/mod.rs",
        templates::WEBHOOK_MOD.render(&context)?,
    )?;
    let version_mod = templates::WEBHOOK_VERSION_MOD.output_path(&vars);
    plan.ensure(
        &version_mod,
        templates::WEBHOOK_VERSION_MOD.render(&context)?,
    )?;
    plan.insert(
        "src/webhook/mod.rs",
        "+kubesmith:scaffold:webhookversions",
        &format!("pub mod {version_module};"),
    )?;
    plan.insert(
        &version_mod,
        "+kubesmith:scaffold:webhookkinds",
        &format!("pub mod {kind_module};"),
    )?;
    let kind_rs = templates::WEBHOOK_KIND.output_path(&vars);
    let skeleton = templates::WEBHOOK_KIND.render(&context)?;
    if args.force {
        plan.own(&kind_rs, skeleton);
    } else {
        plan.ensure(&kind_rs, skeleton)?;
    }
    if defaulting {
        insert_block(
            &mut plan,
            &kind_rs,
            IMPLS_MARKER,
            &templates::DEFAULTER.render(&context)?,
        )?;
        plan.insert(
            &kind_rs,
            BUILDER_MARKER,
            &format!(".with_defaulter({}CustomDefaulter)", args.kind),
        )?;
        if let Some(path) = &after.defaulting_path {
            plan.insert(
                &kind_rs,
                BUILDER_MARKER,
                &format!(".with_defaulter_path({path:?})"),
            )?;
        }
    }
    if validation {
        insert_block(
            &mut plan,
            &kind_rs,
            IMPLS_MARKER,
            &templates::VALIDATOR.render(&context)?,
        )?;
        plan.insert(
            &kind_rs,
            BUILDER_MARKER,
            &format!(".with_validator({}CustomValidator)", args.kind),
        )?;
        if let Some(path) = &after.validation_path {
            plan.insert(
                &kind_rs,
                BUILDER_MARKER,
                &format!(".with_validator_path({path:?})"),
            )?;
        }
    }
    if conversion {
        let spokes = if args.force { &after.spoke } else { &spokes };
        for spoke in spokes {
            let spoke_module = names::module_ident(spoke);
            plan.insert(
                &kind_rs,
                BUILDER_MARKER,
                &format!(
                    ".with_conversion::<crate::api::{group_module}::{spoke_module}::{}>()",
                    args.kind
                ),
            )?;
            let spoke_vars = PathVars {
                version: names::module_file(&spoke_module),
                ..vars.clone()
            };
            let spoke_context = Context {
                version: spoke.clone(),
                ..context.clone()
            };
            plan.scaffold(
                templates::CONVERSION.output_path(&spoke_vars),
                templates::CONVERSION.render(&spoke_context)?,
            )?;
            plan.insert(
                templates::API_VERSION_MOD.output_path(&spoke_vars),
                "+kubesmith:scaffold:kinds",
                &format!("pub mod {kind_module}_conversion;"),
            )?;
        }
    }
    register_in_lib(&mut plan, &project, &version_module, &kind_module)?;
    // The test covers the webhook types the kind has when it is written; a later type
    // leaves an existing test alone unless --force.
    let test_rs = templates::WEBHOOK_TEST.output_path(&vars);
    let test_exists = plan.read(Path::new(&test_rs))?.is_some();
    if builtin.is_none() {
        if args.force {
            plan.own(&test_rs, templates::WEBHOOK_TEST.render(&context)?);
        } else {
            plan.ensure(&test_rs, templates::WEBHOOK_TEST.render(&context)?)?;
        }
    }

    // The manifests.
    for template in templates::WEBHOOK_CONFIG {
        plan.ensure(template.output_path(&vars), template.render(&context)?)?;
    }
    if after.defaulting || after.validation {
        plan.insert(
            "config/webhook/kustomization.yaml",
            "+kubesmith:scaffold:webhookkustomizeresource",
            "- manifests.yaml",
        )?;
    }
    enable_in_default_kustomization(&mut plan, &context, &after, &plural, &api_group)?;
    if plan
        .read(Path::new("config/network-policy/kustomization.yaml"))?
        .is_some()
    {
        add_line_after(
            &mut plan,
            "config/network-policy/kustomization.yaml",
            "- allow-metrics-traffic.yaml",
            "- allow-webhook-traffic.yaml",
        )?;
    }
    if after.conversion {
        plan.ensure(
            templates::CRD_WEBHOOK_PATCH.output_path(&vars),
            templates::CRD_WEBHOOK_PATCH.render(&context)?,
        )?;
        plan.ensure(
            "config/crd/kustomizeconfig.yaml",
            templates::CRD_KUSTOMIZECONFIG.render(&context)?,
        )?;
        let marker = "+kubesmith:scaffold:crdkustomizewebhookpatch";
        let Some(text) = plan.read(Path::new(CRD_KUSTOMIZATION))? else {
            bail!(
                "{CRD_KUSTOMIZATION} is missing; restore it (it lists the CRDs of config/crd/bases)"
            );
        };
        if !text.contains(marker) {
            let block = templates::CRD_KUSTOMIZATION_WEBHOOK.render(&context)?;
            plan.own(CRD_KUSTOMIZATION, format!("{text}{block}"));
        }
        plan.insert(
            CRD_KUSTOMIZATION,
            marker,
            &format!("- path: patches/webhook_in_{plural}.yaml"),
        )?;
    }

    let mut resource = existing.unwrap_or(Resource {
        api: None,
        controller: false,
        controllers: Vec::new(),
        core: true,
        domain: String::new(),
        external: false,
        group: args.group.clone(),
        kind: args.kind.clone(),
        path: builtin.map(|b| format!("k8s_openapi::api::{}", b.module)),
        plural: None,
        version: args.version.clone(),
        webhooks: None,
    });
    resource.webhooks = Some(after.clone());
    project.upsert(resource);
    plan.own(PROJECT_FILE, project.render()?);
    plan.commit("create webhook")?;

    if test_exists && !args.force && builtin.is_none() {
        println!(
            "\nNote: {test_rs} was left as it was; pass --force to scaffold it again with a check of every webhook of {}.",
            args.kind
        );
    }
    if builtin.is_some() {
        println!(
            "\nWarning: webhooks for core types may cause circular dependencies during deployment (the manager's own Pods may need the webhook to be admitted)."
        );
    }
    if after.conversion {
        println!(
            "\nWebhook server has been set up for you. Implement the conversion of each spoke in src/api/{}/<spoke>/{kind_file}_conversion.rs (Convertible<{}::{}>).",
            names::module_file(&group_module),
            args.version,
            args.kind
        );
    }
    if !args.skip_generate {
        println!("\nGenerating the manifests (kubesmith generate):");
        generate::run(dir, &generate::GenerateArgs { check: false })?;
    }
    println!(
        "\nNext: implement your new webhook in src/webhook/{}/{kind_file}.rs, then:\n  kubesmith generate && cargo test",
        names::module_file(&version_module)
    );
    Ok(())
}

fn check_path(flag: &str, path: &Option<String>, enabled: bool, needs: &str) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    if !enabled {
        bail!("{flag} can only be used with {needs}");
    }
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace()) || path.len() < 2 {
        bail!(
            "{flag} {path:?} must be an absolute URL path without whitespace, e.g. /custom-mutate"
        );
    }
    Ok(())
}

/// Inserts the lines of `block` above `marker`, each with the marker's indentation; a block
/// whose first line is already in the file is not inserted again.
fn insert_block(plan: &mut Plan, rel: &str, marker: &str, block: &str) -> Result<()> {
    let Some(text) = plan.read(Path::new(rel))? else {
        bail!("{rel} is missing; restore it from version control or pass --force");
    };
    let signature = block
        .lines()
        .find(|l| {
            l.starts_with("impl ") || l.starts_with("- select:") || l.starts_with("pub struct")
        })
        .unwrap_or_default();
    if !signature.is_empty() && text.lines().any(|l| l.trim() == signature.trim()) {
        return Ok(());
    }
    let Some(marker_line) = text.lines().find(|l| l.contains(marker)) else {
        bail!(
            "{rel}: insertion marker `{marker}` not found; put it back where kubesmith should add new code"
        );
    };
    let indent: String = marker_line
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    let mut out = String::with_capacity(text.len() + block.len() + 64);
    for line in text.lines() {
        if line.contains(marker) {
            for b in block.lines() {
                if !b.is_empty() {
                    out.push_str(&indent);
                }
                out.push_str(b);
                out.push('\n');
            }
            // Top-level code keeps a blank line between the inserted block and the marker.
            if indent.is_empty() {
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    plan.own(rel, out);
    Ok(())
}

/// Adds `line` right after the line `after` unless the file has it already.
fn add_line_after(plan: &mut Plan, rel: &str, after: &str, line: &str) -> Result<()> {
    let Some(text) = plan.read(Path::new(rel))? else {
        return Ok(());
    };
    if text.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    let mut out = String::new();
    let mut done = false;
    for l in text.lines() {
        out.push_str(l);
        out.push('\n');
        if !done && l.trim() == after {
            out.push_str(line);
            out.push('\n');
            done = true;
        }
    }
    if !done {
        out.push_str(line);
        out.push('\n');
    }
    plan.own(rel, out);
    Ok(())
}

/// The attribute that leaves a module or function out of builds without the `manager` feature.
const MANAGER_GATE: &str = "#[cfg(feature = \"manager\")]\n";

/// `pub mod webhook;`, `add_webhooks` (projects from before webhooks lack it), its registration
/// line, and the call in `main.rs`.
fn register_in_lib(
    plan: &mut Plan,
    project: &Project,
    version_module: &str,
    kind_module: &str,
) -> Result<()> {
    let Some(lib) = plan.read(Path::new("src/lib.rs"))? else {
        bail!(
            "src/lib.rs is missing; kubesmith registers the webhooks there (restore it from version control)"
        );
    };
    let mut lib = lib;
    // Webhooks belong to the manager, as controllers do: gated alike where the project has
    // the `manager` feature (projects from before it have no gate).
    let gate = if lib.contains(MANAGER_GATE) {
        MANAGER_GATE
    } else {
        ""
    };
    if !lib.lines().any(|l| l.trim() == "pub mod webhook;") {
        lib = match lib.lines().position(|l| l.trim() == "pub mod controller;") {
            Some(_) => lib.replacen(
                "pub mod controller;\n",
                &format!("pub mod controller;\n{gate}pub mod webhook;\n"),
                1,
            ),
            None => format!("{gate}pub mod webhook;\n{lib}"),
        };
    }
    if !lib.contains(WEBHOOKS_MARKER) {
        lib.push_str(
            &templates::ADD_WEBHOOKS_FN
                .replace("pub fn add_webhooks", &format!("{gate}pub fn add_webhooks")),
        );
    }
    let lib = insert_at_marker(
        &lib,
        WEBHOOKS_MARKER,
        &format!("webhook::{version_module}::{kind_module}::add(mgr)?;"),
    )?;
    plan.own("src/lib.rs", lib);
    if let Some(main) = plan.read(Path::new("src/main.rs"))?
        && !main.contains("add_webhooks(")
    {
        let call = format!("{}::add_controllers(&mgr)?;", project.crate_name());
        if !main.lines().any(|l| l.trim() == call) {
            bail!(
                "src/main.rs does not call `{call}`; add `{}::add_webhooks(&mgr)?;` before `mgr.run()` yourself and run the command again",
                project.crate_name()
            );
        }
        add_line_after(
            plan,
            "src/main.rs",
            &call,
            &format!("    {}::add_webhooks(&mgr)?;", project.crate_name()),
        )?;
    }
    Ok(())
}

/// `config/default/kustomization.yaml`: the webhook and cert-manager components, the
/// webhook patch of the manager and the replacements that inject cert-manager's CA.
fn enable_in_default_kustomization(
    plan: &mut Plan,
    context: &Context,
    after: &WebhookInfo,
    plural: &str,
    api_group: &str,
) -> Result<()> {
    let rel = DEFAULT_KUSTOMIZATION;
    let Some(text) = plan.read(Path::new(rel))? else {
        bail!(
            "{rel} is missing; restore it from version control (create webhook enables the webhook there)"
        );
    };
    for (component, after_line) in [
        ("../webhook", "- ../manager"),
        ("../certmanager", "- ../webhook"),
    ] {
        let enabled = format!("- {component}");
        if plan
            .read(Path::new(rel))?
            .is_some_and(|t| t.lines().any(|l| l.trim() == enabled))
        {
            continue;
        }
        if text.lines().any(|l| l.trim() == format!("#- {component}")) {
            plan.replace_line(rel, &format!("#- {component}"), &enabled)?;
        } else {
            add_line_after(plan, rel, after_line, &enabled)?;
        }
    }
    let text = plan.read(Path::new(rel))?.unwrap_or_default();
    if !text.contains("+kubesmith:scaffold:cainjectionname") {
        let last_key = text
            .lines()
            .rfind(|l| !l.starts_with([' ', '#', '-']) && l.contains(':'))
            .unwrap_or_default();
        if last_key.trim() != "patches:" {
            bail!(
                "{rel} does not end with its `patches:` list (found `{last_key}`), so kubesmith cannot add the webhook patch and replacements; \
                 move `patches:` to the end and run the command again"
            );
        }
        let block = templates::DEFAULT_WEBHOOK_PATCH.render(context)?;
        plan.own(
            rel,
            format!("{}{block}", text.trim_end_matches('\n').to_string() + "\n"),
        );
    }
    let mut targets: Vec<(&str, Option<String>)> = Vec::new();
    if after.defaulting {
        targets.push(("MutatingWebhookConfiguration", None));
    }
    if after.validation {
        targets.push(("ValidatingWebhookConfiguration", None));
    }
    if after.conversion {
        targets.push((
            "CustomResourceDefinition",
            Some(format!("{plural}.{api_group}")),
        ));
    }
    for (kind, name) in targets {
        for (marker, index) in [
            ("+kubesmith:scaffold:cainjectionns", 0),
            ("+kubesmith:scaffold:cainjectionname", 1),
        ] {
            #[derive(Serialize)]
            struct Target<'a> {
                target_kind: &'a str,
                target_name: &'a str,
                index: u8,
            }
            let block = templates::CA_INJECTION_TARGET.render(&Target {
                target_kind: kind,
                target_name: name.as_deref().unwrap_or_default(),
                index,
            })?;
            insert_target(plan, rel, marker, &block, kind, name.as_deref())?;
        }
    }
    Ok(())
}

/// Inserts one replacement target above `marker` unless the same select is already in that
/// replacement (the lines between the marker and the `targets:` above it).
fn insert_target(
    plan: &mut Plan,
    rel: &str,
    marker: &str,
    block: &str,
    kind: &str,
    name: Option<&str>,
) -> Result<()> {
    let text = plan.read(Path::new(rel))?.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let Some(pos) = lines.iter().position(|l| l.contains(marker)) else {
        bail!(
            "{rel}: insertion marker `{marker}` not found; put it back under the replacement's `targets:`"
        );
    };
    let start = lines[..pos]
        .iter()
        .rposition(|l| l.trim() == "targets:")
        .unwrap_or(0);
    let section = &lines[start..pos];
    let present = section
        .windows(2)
        .any(|w| w[0].trim() == "- select:" && w[1].trim() == format!("kind: {kind}"))
        && name.is_none_or(|n| section.iter().any(|l| l.trim() == format!("name: {n}")));
    if present {
        return Ok(());
    }
    let indent: String = lines[pos]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i == pos {
            for b in block.lines() {
                out.push_str(&indent);
                out.push_str(b);
                out.push('\n');
            }
        }
        out.push_str(l);
        out.push('\n');
    }
    plan.own(rel, out);
    Ok(())
}
