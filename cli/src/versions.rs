//! The dependency lines a generated project's Cargo.toml pins, identical to the runtime's.
//!
//! Generated projects must build with exactly the kube, k8s-openapi, serde and schemars the
//! runtime is built with (two kube versions in one graph do not interoperate). A unit test
//! below checks these lines against the workspace `Cargo.toml`, so they cannot drift.

/// The kube version of the runtime and of generated projects.
pub const KUBE: &str = "5.0.0";
/// The k8s-openapi version of the runtime and of generated projects.
pub const K8S_OPENAPI: &str = "0.29.0";

/// The Kubernetes version generated projects select in k8s-openapi (the oldest kube 5 supports).
pub const K8S_OPENAPI_FEATURE: &str = "v1_33";

/// `[dependencies]` lines shared with the runtime, in Cargo.toml order.
pub const PINNED: &[(&str, &str)] = &[
    (
        "kube",
        r#"{ version = "=5.0.0", default-features = false, features = ["client", "rustls-tls", "ring", "runtime", "derive"] }"#,
    ),
    (
        "k8s-openapi",
        r#"{ version = "=0.29.0", default-features = false, features = ["std", "schemars", "v1_33"] }"#,
    ),
    ("schemars", r#""=1.2.3""#),
    ("serde", r#"{ version = "1.0.228", features = ["derive"] }"#),
    ("serde_json", r#""1""#),
    (
        "tokio",
        r#"{ version = "1.48", features = ["rt-multi-thread", "macros", "sync", "time", "signal", "net"] }"#,
    ),
    (
        "clap",
        r#"{ version = "4.5", features = ["derive", "env"] }"#,
    ),
    ("tracing", r#""0.1""#),
];

/// `[dev-dependencies]` lines (besides kubesmith-envtest).
pub const PINNED_DEV: &[(&str, &str)] = &[("serde_yaml", r#""0.9""#)];

/// Warnings for each pinned dependency whose requirement in a project's Cargo.toml differs
/// from the runtime's (two kube versions in one build do not interoperate).
pub fn drift(manifest: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, spec) in PINNED
        .iter()
        .filter(|(n, _)| ["kube", "k8s-openapi", "schemars"].contains(n))
    {
        let Some(expected) = version_of(spec) else {
            continue;
        };
        let found = manifest
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} =")))
            .map(|l| version_of(l.split_once('=').map_or(l, |(_, v)| v)));
        match found {
            Some(Some(version)) if version == expected => {}
            Some(found) => warnings.push(format!(
                "Cargo.toml requires {name} {} but kubesmith-runtime is built with {expected}; set it back to \"{expected}\" or types will not line up",
                found.as_deref().unwrap_or("(unreadable)")
            )),
            None => warnings.push(format!("Cargo.toml does not depend on {name}; generated code needs {name} = \"{expected}\"")),
        }
    }
    warnings
}

/// The version requirement in a dependency spec: `"=1.2.3"` or `{ version = "=1.2.3", .. }`.
fn version_of(spec: &str) -> Option<String> {
    let spec = spec.trim();
    let rest = match spec.find("version") {
        Some(i) if spec.starts_with('{') => &spec[i..],
        _ => spec,
    };
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].to_string())
}

/// The lines as TOML, `name = spec` one per line.
pub fn toml_lines(deps: &[(&str, &str)]) -> String {
    deps.iter()
        .map(|(name, spec)| format!("{name} = {spec}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace's `[workspace.dependencies]` entry for `name`, as written there.
    fn workspace_spec(name: &str) -> String {
        let manifest = include_str!("../../Cargo.toml");
        let line = manifest
            .lines()
            .find(|l| l.starts_with(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("{name} is not in the workspace Cargo.toml"));
        line[name.len() + 3..].to_string()
    }

    #[test]
    fn drift_is_reported_per_dependency() {
        let pinned = toml_lines(PINNED);
        assert!(drift(&pinned).is_empty());
        let drifted = pinned
            .replace(r#"version = "=5.0.0""#, r#"version = "4.2""#)
            .replace("schemars = ", "# schemars = ");
        let warnings = drift(&drifted);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("kube 4.2") && warnings[0].contains("=5.0.0"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("does not depend on schemars"),
            "{warnings:?}"
        );
    }

    #[test]
    fn pins_match_the_workspace() {
        for (name, spec) in PINNED.iter().chain(PINNED_DEV) {
            let mut expected = workspace_spec(name);
            if *name == "k8s-openapi" {
                // The workspace leaves the version feature to binaries; generated projects choose it.
                expected = expected.replace(
                    r#""schemars"]"#,
                    &format!(r#""schemars", "{K8S_OPENAPI_FEATURE}"]"#),
                );
            }
            assert_eq!(
                *spec, expected,
                "{name} drifted from the workspace Cargo.toml"
            );
        }
    }
}
