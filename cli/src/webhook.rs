//! `config/webhook/manifests.yaml` from the `#[webhook(...)]` attributes in a project's sources.
//!
//! [`scan`] finds the attributes with a syn parse of `src/**/*.rs` and reads them with the
//! parser the attribute macro uses; [`manifests_yaml`] renders them as controller-gen's
//! `webhook` generator does (`pkg/webhook/parser.go`): a MutatingWebhookConfiguration
//! `mutating-webhook-configuration` and a ValidatingWebhookConfiguration
//! `validating-webhook-configuration`, webhooks sorted by name (stable), calling the service
//! `webhook-service` in `system`, keys in the alphabetical order sigs.k8s.io/yaml writes.

use std::fmt;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::bail;
use syn::visit::Visit;

use crate::rbac::{attribute_lines, meta_key, yaml_scalar};
use crate::source::{SourceFile, is_attribute};

/// The shared key/value helpers `webhook_args` uses as `super::rbac`.
use crate::rbac::rbac_args as rbac;

#[path = "../../derive/src/webhook.rs"]
#[allow(dead_code)]
mod webhook_args;

pub use webhook_args::{LabelSelector, WebhookArgs};

/// The generated file, under the project root.
pub const MANIFESTS_FILE: &str = "config/webhook/manifests.yaml";
const DEFAULT_SERVICE: &str = "webhook-service";
const DEFAULT_NAMESPACE: &str = "system";

/// One `#[webhook(...)]` attribute found in the sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundWebhook {
    pub args: WebhookArgs,
    pub file: PathBuf,
    /// 1-based line of the attribute's `#`, when it could be located.
    pub line: Option<usize>,
}

impl fmt::Display for FoundWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        Ok(())
    }
}

/// Finds every `#[webhook(...)]` attribute in the sources, in file order; every invalid one is
/// reported, all in one error, each as `file:line: problem`.
pub fn scan(files: &[SourceFile]) -> anyhow::Result<Vec<FoundWebhook>> {
    struct Finder {
        attrs: Vec<syn::Attribute>,
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
            if is_attribute(attr, "webhook") {
                self.attrs.push(attr.clone());
            }
        }
    }
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let mut finder = Finder { attrs: Vec::new() };
        finder.visit_file(&file.syntax);
        if finder.attrs.is_empty() {
            continue;
        }
        let mut lines = attribute_lines(&file.text, "webhook");
        for attr in finder.attrs {
            let line = lines
                .get_mut(&meta_key(&attr.meta))
                .and_then(std::collections::VecDeque::pop_front);
            let at = match line {
                Some(l) => format!("{}:{l}", file.path.display()),
                None => file.path.display().to_string(),
            };
            let syn::Meta::List(list) = &attr.meta else {
                problems.push(format!(
                    "{at}: expected #[webhook(...)] with arguments (path, mutating, failure_policy, ...)"
                ));
                continue;
            };
            match webhook_args::parse_webhook_args(list.tokens.clone()) {
                Ok(args) => found.push(FoundWebhook {
                    args,
                    file: file.path.clone(),
                    line,
                }),
                Err(e) => problems.push(format!("{at}: invalid #[webhook(...)]: {e}")),
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(found)
}

/// The documents of `config/webhook/manifests.yaml` (without header) for `webhooks`, or `None`
/// when there is none (controller-gen writes no file then). Fails when the webhooks of one
/// configuration name it differently, as controller-gen refuses a second
/// `+kubebuilder:webhookconfiguration` of one type.
pub fn manifests_yaml(webhooks: &[FoundWebhook]) -> anyhow::Result<Option<String>> {
    if webhooks.is_empty() {
        return Ok(None);
    }
    let mut out = String::new();
    for (mutating, kind, default_name) in [
        (
            true,
            "MutatingWebhookConfiguration",
            "mutating-webhook-configuration",
        ),
        (
            false,
            "ValidatingWebhookConfiguration",
            "validating-webhook-configuration",
        ),
    ] {
        let mut these: Vec<&FoundWebhook> = webhooks
            .iter()
            .filter(|w| w.args.mutating == mutating)
            .collect();
        if these.is_empty() {
            continue;
        }
        let mut name: Option<(&str, &FoundWebhook)> = None;
        for w in &these {
            if let Some(custom) = w.args.configuration_name.as_deref() {
                match name {
                    Some((other, at)) if other != custom => bail!(
                        "{w}: configuration_name {custom:?} differs from {other:?} at {at}: all {} webhooks \
                         go to one {kind}, so only one name is allowed (set the same configuration_name on each, or one of them only)",
                        if mutating { "mutating" } else { "validating" }
                    ),
                    _ => name = Some((custom, w)),
                }
            }
        }
        // Stable: webhooks of one name keep their source order, as controller-gen's SliceStable.
        these.sort_by(|a, b| a.args.name.cmp(&b.args.name));
        let _ = writeln!(
            out,
            "---\napiVersion: admissionregistration.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: {}\nwebhooks:",
            yaml_scalar(name.map_or(default_name, |(n, _)| n))
        );
        for w in these {
            write_webhook(&mut out, &w.args);
        }
    }
    Ok(Some(out))
}

/// `{key_prefix}{key}:` then one `{item_indent}- value` line per value.
fn write_list(out: &mut String, key_prefix: &str, item_indent: &str, key: &str, values: &[String]) {
    let _ = writeln!(out, "{key_prefix}{key}:");
    for v in values {
        let _ = writeln!(out, "{item_indent}- {}", yaml_scalar(v));
    }
}

fn write_selector(out: &mut String, key: &str, selector: &LabelSelector) {
    let _ = writeln!(out, "  {key}:");
    if !selector.match_expressions.is_empty() {
        out.push_str("    matchExpressions:\n");
        for r in &selector.match_expressions {
            let _ = writeln!(out, "    - key: {}", yaml_scalar(&r.key));
            let _ = writeln!(out, "      operator: {}", r.operator);
            if !r.values.is_empty() {
                write_list(out, "      ", "      ", "values", &r.values);
            }
        }
    }
    if !selector.match_labels.is_empty() {
        out.push_str("    matchLabels:\n");
        for (k, v) in &selector.match_labels {
            let _ = writeln!(out, "      {}: {}", yaml_scalar(k), yaml_scalar(v));
        }
    }
    if selector.match_expressions.is_empty() && selector.match_labels.is_empty() {
        out.truncate(out.len() - 1);
        out.push_str(" {}\n");
    }
}

fn write_webhook(out: &mut String, w: &WebhookArgs) {
    write_list(
        out,
        "- ",
        "  ",
        "admissionReviewVersions",
        &w.admission_review_versions,
    );
    out.push_str("  clientConfig:\n");
    match &w.url {
        Some(url) => {
            let _ = writeln!(out, "    url: {}", yaml_scalar(url));
        }
        None => {
            out.push_str("    service:\n");
            let _ = writeln!(
                out,
                "      name: {}",
                yaml_scalar(w.service_name.as_deref().unwrap_or(DEFAULT_SERVICE))
            );
            let _ = writeln!(
                out,
                "      namespace: {}",
                yaml_scalar(w.service_namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE))
            );
            if let Some(path) = &w.path {
                let _ = writeln!(out, "      path: {}", yaml_scalar(path));
            }
            if let Some(port) = w.service_port {
                let _ = writeln!(out, "      port: {port}");
            }
        }
    }
    let _ = writeln!(out, "  failurePolicy: {}", w.failure_policy);
    if let Some(policy) = &w.match_policy {
        let _ = writeln!(out, "  matchPolicy: {policy}");
    }
    let _ = writeln!(out, "  name: {}", yaml_scalar(&w.name));
    if let Some(selector) = &w.namespace_selector {
        write_selector(out, "namespaceSelector", selector);
    }
    if let Some(selector) = &w.object_selector {
        write_selector(out, "objectSelector", selector);
    }
    if let (true, Some(policy)) = (w.mutating, &w.reinvocation_policy) {
        let _ = writeln!(out, "  reinvocationPolicy: {policy}");
    }
    out.push_str("  rules:\n");
    write_list(out, "  - ", "    ", "apiGroups", &w.groups);
    write_list(out, "    ", "    ", "apiVersions", &w.versions);
    write_list(out, "    ", "    ", "operations", &w.operations);
    write_list(out, "    ", "    ", "resources", &w.resources);
    let _ = writeln!(out, "  sideEffects: {}", w.side_effects);
    if let Some(timeout) = w.timeout_seconds {
        let _ = writeln!(out, "  timeoutSeconds: {timeout}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhook");

    fn generate(case: &str) -> anyhow::Result<Option<String>> {
        let files =
            crate::source::parse_dir(&std::path::Path::new(FIXTURES).join(case).join("src"))?;
        manifests_yaml(&scan(&files)?)
    }

    fn values(yaml: &str) -> Vec<serde_yaml::Value> {
        serde_yaml::Deserializer::from_str(yaml)
            .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
            .filter(|v: &serde_yaml::Value| !v.is_null())
            .collect()
    }

    /// The goldens are controller-tools' (compared as objects there too: their key order is not
    /// always the one controller-gen writes); `creationTimestamp: null` came from older versions.
    fn golden(case: &str) -> Vec<serde_yaml::Value> {
        let text = std::fs::read_to_string(format!("{FIXTURES}/{case}/manifests.yaml")).unwrap();
        let mut docs = values(&text);
        for doc in &mut docs {
            if let Some(meta) = doc.get_mut("metadata").and_then(|m| m.as_mapping_mut()) {
                meta.remove("creationTimestamp");
            }
        }
        docs
    }

    #[test]
    fn valid_inputs_match_controller_gen() {
        for case in [
            "valid",
            "valid-custom-name",
            "valid-custom-service",
            "valid-url",
            "valid-ordered",
            "valid-namespaceselector",
            "valid-objectselector",
            "valid-selectors-matchexpressions",
        ] {
            let yaml = generate(case)
                .unwrap_or_else(|e| panic!("{case}: {e:#}"))
                .unwrap();
            assert_eq!(values(&yaml), golden(case), "{case}:\n{yaml}");
        }
    }

    #[test]
    fn key_order_and_layout_are_controller_gens() {
        let yaml = generate("valid").unwrap().unwrap();
        let expected = std::fs::read_to_string(format!("{FIXTURES}/valid/expected.yaml")).unwrap();
        assert_eq!(yaml, expected);
        let yaml = generate("valid-selectors-matchexpressions")
            .unwrap()
            .unwrap();
        assert!(
            yaml.contains(
                "  objectSelector:\n    matchExpressions:\n    - key: tier\n      operator: In\n      values:\n      - frontend\n      - backend\n    matchLabels:\n      managed-by: controller\n  rules:\n"
            ),
            "{yaml}"
        );
        let yaml = generate("valid-namespaceselector").unwrap().unwrap();
        assert!(yaml.contains("      webhook-enabled: \"true\"\n"), "{yaml}");
    }

    #[test]
    fn invalid_inputs_are_errors_naming_the_file_and_line() {
        for (case, message) in [
            (
                "invalid-admissionReviewVersionsRequired",
                "missing required key `admission_review_versions`",
            ),
            (
                "invalid-sideEffects",
                "`side_effects` \"Some\" is not allowed",
            ),
            (
                "invalid-timeoutSeconds",
                "between 1 and 30 seconds, found 40",
            ),
            ("invalid-v1beta1NotSupported", "only \"v1\""),
            (
                "invalid-path-and-url",
                "`path` and `url` cannot both be set",
            ),
            (
                "invalid-multiple-webhookconfigurations",
                "only one name is allowed",
            ),
        ] {
            let err = format!("{:#}", generate(case).unwrap_err());
            assert!(err.contains(message), "{case}: {err}");
            assert!(err.contains("src/lib.rs:"), "{case}: {err}");
        }
    }

    #[test]
    fn no_webhooks_no_file() {
        assert_eq!(manifests_yaml(&[]).unwrap(), None);
    }
}
