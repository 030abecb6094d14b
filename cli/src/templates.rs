//! The templates of every generated file, embedded in the binary.
//!
//! `templates/` mirrors the generated tree: `templates/<path>.tera` renders `<path>`, with
//! `{group}`, `{version}`, `{kind}` and `{controller}` in a path replaced by the resource's names.
//! `templates/builtin/` holds the variants for controllers of built-in kinds, in the same tree.

use anyhow::{Context as _, Result};
use serde::Serialize;

/// One template: where it renders to (with placeholders) and its tera source.
pub struct Template {
    pub path: &'static str,
    source: &'static str,
}

macro_rules! template {
    ($path:literal) => {
        Template {
            path: $path,
            source: include_str!(concat!("../../templates/", $path, ".tera")),
        }
    };
    (fragment $path:literal) => {
        Template {
            path: $path,
            source: include_str!(concat!("../../templates/fragments/", $path, ".tera")),
        }
    };
    (builtin $path:literal) => {
        Template {
            path: $path,
            source: include_str!(concat!("../../templates/builtin/", $path, ".tera")),
        }
    };
    (external $path:literal) => {
        Template {
            path: $path,
            source: include_str!(concat!("../../templates/external/", $path, ".tera")),
        }
    };
}

/// Files `init` writes.
pub const INIT: &[Template] = &[
    template!("Cargo.toml"),
    template!(".gitignore"),
    template!("README.md"),
    template!("src/lib.rs"),
    template!("src/main.rs"),
    template!("src/bin/manifests.rs"),
    template!("src/api/mod.rs"),
    template!("src/controller/mod.rs"),
    template!("Makefile"),
    template!("Dockerfile"),
    template!(".dockerignore"),
    template!(".github/workflows/lint.yml"),
    template!(".github/workflows/test.yml"),
    template!("config/default/kustomization.yaml"),
    template!("config/default/manager_metrics_patch.yaml"),
    template!("config/default/metrics_service.yaml"),
    template!("config/manager/kustomization.yaml"),
    template!("config/manager/manager.yaml"),
    template!("config/rbac/kustomization.yaml"),
    template!("config/rbac/service_account.yaml"),
    template!("config/rbac/role_binding.yaml"),
    template!("config/rbac/leader_election_role.yaml"),
    template!("config/rbac/leader_election_role_binding.yaml"),
    template!("config/rbac/metrics_auth_role.yaml"),
    template!("config/rbac/metrics_auth_role_binding.yaml"),
    template!("config/rbac/metrics_reader_role.yaml"),
    template!("config/prometheus/kustomization.yaml"),
    template!("config/prometheus/monitor.yaml"),
    template!("config/prometheus/monitor_tls_patch.yaml"),
    template!("config/network-policy/kustomization.yaml"),
    template!("config/network-policy/allow-metrics-traffic.yaml"),
];

/// A group's and a version's `mod.rs`, written once and then edited at their markers.
pub const API_GROUP_MOD: Template = template!("src/api/{group}/mod.rs");
pub const API_VERSION_MOD: Template = template!("src/api/{group}/{version}/mod.rs");
/// The kustomizations `create api` adds lines to.
pub const CRD_KUSTOMIZATION: Template = template!("config/crd/kustomization.yaml");
pub const SAMPLES_KUSTOMIZATION: Template = template!("config/samples/kustomization.yaml");

/// Files `create api` writes for a resource's types (owned by the user afterwards).
pub const API: &[Template] = &[
    template!("src/api/{group}/{version}/{kind}.rs"),
    template!("config/samples/{group}_{version}_{kind}.yaml"),
];

/// Files of a kind shared by all its versions: written with its first version.
pub const API_KIND: &[Template] = &[
    template!("config/rbac/{kind}_admin_role.yaml"),
    template!("config/rbac/{kind}_editor_role.yaml"),
    template!("config/rbac/{kind}_viewer_role.yaml"),
];

/// Files `create api` writes for a controller (owned by the user afterwards).
pub const CONTROLLER: &[Template] = &[
    template!("src/controller/{controller}.rs"),
    template!("tests/{controller}.rs"),
];

/// Files `create api --resource=false` writes for a controller of a built-in kind (Deployment,
/// Pod...). Their sources live in `templates/builtin/`, which mirrors the generated tree.
pub const BUILTIN_CONTROLLER: &[Template] = &[
    template!(builtin "src/controller/{controller}.rs"),
    template!(builtin "tests/{controller}.rs"),
];

/// Files `create api --from-crd` writes for a controller of a third-party kind (types generated
/// from its CRD). Their sources live in `templates/external/`.
pub const EXTERNAL_CONTROLLER: &[Template] = &[
    template!(external "src/controller/{controller}.rs"),
    template!(external "tests/{controller}.rs"),
];

/// `create webhook`: the module of all webhooks, of one version's webhooks, and one kind's file
/// (a skeleton the defaulter and validator blocks are inserted into).
pub const WEBHOOK_MOD: Template = template!("src/webhook/mod.rs");
pub const WEBHOOK_VERSION_MOD: Template = template!("src/webhook/{version}/mod.rs");
pub const WEBHOOK_KIND: Template = template!("src/webhook/{version}/{kind}.rs");
/// The test of a kind's webhooks through the embedded API server.
pub const WEBHOOK_TEST: Template = template!("tests/{kind}_{version}_webhook.rs");
/// A spoke version's `Convertible<Hub>` impl, next to its types.
pub const CONVERSION: Template = template!("src/api/{group}/{version}/{kind}_conversion.rs");

/// Blocks inserted at markers into files that exist already (`templates/fragments/`): a kind's
/// defaulter and validator, the CRD kustomization's conversion patches section, the default
/// kustomization's webhook patch and cert-manager replacements, and one CA injection target.
pub const DEFAULTER: Template = template!(fragment "defaulter.rs");
pub const VALIDATOR: Template = template!(fragment "validator.rs");
pub const CRD_KUSTOMIZATION_WEBHOOK: Template =
    template!(fragment "crd_kustomization_webhook.yaml");
pub const DEFAULT_WEBHOOK_PATCH: Template = template!(fragment "default_webhook_patch.yaml");
pub const CA_INJECTION_TARGET: Template = template!(fragment "ca_injection_target.yaml");

/// `add_webhooks` for a `src/lib.rs` written before kubesmith had webhooks.
pub const ADD_WEBHOOKS_FN: &str = "
/// Registers every webhook of this project with the manager's webhook server.
pub fn add_webhooks(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    let _ = mgr; // used by the registrations kubesmith inserts below
    // +kubesmith:scaffold:webhooks
    Ok(())
}
";

/// The webhook's kustomize components, written once (`create webhook`).
pub const WEBHOOK_CONFIG: &[Template] = &[
    template!("config/webhook/kustomization.yaml"),
    template!("config/webhook/kustomizeconfig.yaml"),
    template!("config/webhook/service.yaml"),
    template!("config/certmanager/issuer.yaml"),
    template!("config/certmanager/certificate-webhook.yaml"),
    template!("config/certmanager/certificate-metrics.yaml"),
    template!("config/certmanager/kustomization.yaml"),
    template!("config/certmanager/kustomizeconfig.yaml"),
    template!("config/default/manager_webhook_patch.yaml"),
    template!("config/network-policy/allow-webhook-traffic.yaml"),
];
/// A conversion webhook's CRD patch and the kustomize configuration it needs.
pub const CRD_WEBHOOK_PATCH: Template = template!("config/crd/patches/webhook_in_{plural}.yaml");
pub const CRD_KUSTOMIZECONFIG: Template = template!("config/crd/kustomizeconfig.yaml");

/// Path placeholders of a resource.
#[derive(Clone, Default)]
pub struct PathVars<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    /// The controller's module file (the kind's, unless `--controller-name` names another).
    pub controller: &'a str,
    /// The sample file's `{group}_{version}_{kind}` uses Kubernetes names, not Rust module names.
    pub sample_stem: &'a str,
    /// The resource's plural (`config/crd/patches/webhook_in_{plural}.yaml`).
    pub plural: &'a str,
}

impl Template {
    /// The project-relative path this template renders to.
    pub fn output_path(&self, vars: &PathVars<'_>) -> String {
        if self.path.starts_with("config/samples/{group}") {
            return format!("config/samples/{}.yaml", vars.sample_stem);
        }
        self.path
            .replace("{group}", vars.group)
            .replace("{version}", vars.version)
            .replace("{kind}", vars.kind)
            .replace("{controller}", vars.controller)
            .replace("{plural}", vars.plural)
    }

    /// Renders the template with `context` (any serializable struct).
    pub fn render(&self, context: &impl Serialize) -> Result<String> {
        let context = tera::Context::from_serialize(context)
            .with_context(|| format!("preparing the context of template {}", self.path))?;
        tera::Tera::one_off(self.source, &context, false)
            .with_context(|| format!("rendering template {} (a kubesmith bug)", self.path))
    }
}
