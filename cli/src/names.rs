//! Kubernetes name rules and the Rust identifiers derived from names.
//!
//! Validation follows kubebuilder's (`pkg/model/resource`): group.domain is a
//! DNS-1123 subdomain, the lower-cased kind a DNS-1035 label starting with an
//! uppercase letter, plural a DNS-1035 label. kubesmith also checks the
//! version format (`v1`, `v1alpha1`, `v2beta3`), which kubebuilder leaves to
//! the API server.

use anyhow::{Result, bail};

/// Rust keywords (strict and reserved, 2024 edition) that cannot be identifiers as they are.
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// Keywords that are not allowed even as raw identifiers (`r#self` is an error).
const NOT_RAW: &[&str] = &["crate", "self", "super", "Self"];

/// Type names the generated API module uses or that shadow the Rust prelude: a kind
/// with one of these names would break the code generated beside it.
const RESERVED_KINDS: &[&str] = &[
    "Self",
    "Option",
    "Result",
    "Vec",
    "String",
    "Box",
    "Some",
    "None",
    "Ok",
    "Err",
    "Condition",
    "Serialize",
    "Deserialize",
    "JsonSchema",
    "CustomResource",
];

/// Package names cargo refuses or that would clash with the generated project's dependencies.
const RESERVED_PACKAGES: &[&str] = &[
    "test",
    "std",
    "core",
    "alloc",
    "proc-macro",
    "proc_macro",
    "kube",
    "k8s-openapi",
    "serde",
    "serde-json",
    "serde-yaml",
    "schemars",
    "tokio",
    "clap",
    "tracing",
    "kubesmith-runtime",
    "kubesmith-envtest",
    "kubesmith",
];

/// Checks a DNS-1123 label: at most 63 lowercase alphanumerics or '-', starting and ending alphanumeric.
fn dns1123_label_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > 63 {
        return Some(format!(
            "must be no more than 63 characters (has {})",
            s.len()
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("must consist of lower case alphanumeric characters or '-'".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("must start and end with an alphanumeric character".into());
    }
    None
}

/// Checks a DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
fn dns1123_subdomain_problem(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some(format!(
            "must be no more than 253 characters (has {})",
            s.len()
        ));
    }
    s.split('.').find_map(|label| {
        dns1123_label_problem(label).map(|p| format!("each dot-separated part {p}"))
    })
}

/// Checks a DNS-1035 label: a DNS-1123 label that starts with a letter.
fn dns1035_label_problem(s: &str) -> Option<String> {
    if let Some(problem) = dns1123_label_problem(s) {
        return Some(problem);
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("must start with a lower case letter".into());
    }
    None
}

/// Validates `--domain` on its own (it may be empty only if every group is fully qualified).
pub fn validate_domain(domain: &str) -> Result<()> {
    if domain.is_empty() {
        bail!("--domain must not be empty; use a DNS domain you own, e.g. --domain example.com");
    }
    if let Some(problem) = dns1123_subdomain_problem(domain) {
        bail!(
            "invalid --domain {domain:?}: {problem} (a DNS-1123 subdomain such as example.com is expected)"
        );
    }
    Ok(())
}

/// Validates a group with the project's domain: `<group>.<domain>` must be a DNS-1123 subdomain.
pub fn validate_group(group: &str, domain: &str) -> Result<()> {
    if group.is_empty() {
        bail!("--group must not be empty, e.g. --group cache");
    }
    let qualified = qualified_group(group, domain);
    if let Some(problem) = dns1123_subdomain_problem(&qualified) {
        bail!(
            "invalid --group {group:?}: the API group {qualified:?} {problem} (a DNS-1123 subdomain such as cache.example.com is expected)"
        );
    }
    Ok(())
}

/// The fully qualified API group, as kubebuilder's `QualifiedGroup`.
pub fn qualified_group(group: &str, domain: &str) -> String {
    match (group.is_empty(), domain.is_empty()) {
        (true, _) => domain.to_string(),
        (false, true) => group.to_string(),
        (false, false) => format!("{group}.{domain}"),
    }
}

/// Validates a Kubernetes API version: `v<N>`, `v<N>alpha<M>` or `v<N>beta<M>`, N > 0.
pub fn validate_version(version: &str) -> Result<()> {
    let valid = (|| {
        let rest = version.strip_prefix('v')?;
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let (major, rest) = rest.split_at(digits);
        if major.is_empty() || major.starts_with('0') {
            return None;
        }
        if rest.is_empty() {
            return Some(());
        }
        let minor = rest
            .strip_prefix("alpha")
            .or_else(|| rest.strip_prefix("beta"))?;
        (!minor.is_empty() && !minor.starts_with('0') && minor.chars().all(|c| c.is_ascii_digit()))
            .then_some(())
    })();
    if valid.is_none() {
        bail!(
            "invalid --version {version:?}: expected a Kubernetes API version such as v1, v1alpha1 or v2beta3"
        );
    }
    Ok(())
}

/// Validates a kind: PascalCase, a DNS-1035 label once lower-cased, usable as a Rust type name.
pub fn validate_kind(kind: &str) -> Result<()> {
    if kind.is_empty() {
        bail!("--kind must not be empty, e.g. --kind Memcached");
    }
    if !kind.starts_with(|c: char| c.is_ascii_uppercase()) {
        bail!(
            "invalid --kind {kind:?}: must start with an uppercase character (PascalCase, e.g. Memcached)"
        );
    }
    if !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!(
            "invalid --kind {kind:?}: must contain only letters and digits (PascalCase, e.g. CronJob)"
        );
    }
    if let Some(problem) = dns1035_label_problem(&kind.to_ascii_lowercase()) {
        bail!("invalid --kind {kind:?}: once lower-cased it {problem}");
    }
    if RESERVED_KINDS.contains(&kind) {
        bail!(
            "invalid --kind {kind:?}: it clashes with a Rust or generated type name ({}); choose another kind",
            RESERVED_KINDS.join(", ")
        );
    }
    Ok(())
}

/// Validates a resource plural: a DNS-1035 label.
pub fn validate_plural(plural: &str) -> Result<()> {
    if let Some(problem) = dns1035_label_problem(plural) {
        bail!(
            "invalid --plural {plural:?}: {problem} (a lowercase DNS-1035 label such as memcacheds is expected)"
        );
    }
    Ok(())
}

/// Validates a project name: a DNS-1123 label (it names Kubernetes objects) that cargo accepts.
pub fn validate_project_name(name: &str, from_directory: bool) -> Result<()> {
    let source = if from_directory {
        "the project name (taken from the directory name; pass --project-name to choose another)"
    } else {
        "--project-name"
    };
    if let Some(problem) = dns1123_label_problem(name) {
        let suggestion = suggest_label(name);
        let hint = if suggestion.is_empty() || suggestion == name {
            String::new()
        } else {
            format!("; try --project-name {suggestion}")
        };
        bail!(
            "invalid {source} {name:?}: {problem} (a DNS-1123 label such as memcached-operator is expected){hint}"
        );
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("invalid {source} {name:?}: must start with a letter to be a Rust package name");
    }
    if RESERVED_PACKAGES.contains(&name) {
        bail!(
            "invalid {source} {name:?}: it clashes with a dependency or a name cargo reserves ({})",
            RESERVED_PACKAGES.join(", ")
        );
    }
    Ok(())
}

/// A DNS-1123 label close to `name`, offered in error messages.
fn suggest_label(name: &str) -> String {
    let lowered: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    lowered.trim_matches('-').to_string()
}

/// Validates `--controller-name`: a DNS-1123 label starting with a letter (it names the
/// controller in logs and metrics, and its module).
pub fn validate_controller_name(name: &str) -> Result<()> {
    if let Some(problem) = dns1035_label_problem(name) {
        bail!(
            "invalid --controller-name {name:?}: {problem} (a lowercase DNS-1035 label such as memcached-backup is expected)"
        );
    }
    Ok(())
}

/// `memcached-backup` -> `MemcachedBackup`: a type name from a DNS label.
pub fn pascal_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The default plural of a kind, as kubebuilder (flect) derives it for regular nouns.
pub fn default_plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    let consonant_y = lower.ends_with('y')
        && !lower.ends_with("ay")
        && !lower.ends_with("ey")
        && !lower.ends_with("oy")
        && !lower.ends_with("uy");
    if consonant_y {
        format!("{}ies", &lower[..lower.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| lower.ends_with(end))
    {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// `CronJob` -> `cron_job`: the module and file name of a kind.
pub fn snake_case(kind: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = kind.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if prev_lower || (prev_upper && next_lower) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A Rust module identifier for a name (a group, version or kind): dashes and dots become
/// underscores, keywords become raw identifiers, and the few keywords that cannot be raw
/// get a trailing underscore.
pub fn module_ident(name: &str) -> String {
    let mut ident: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    if NOT_RAW.contains(&ident.as_str()) {
        ident.push('_');
    } else if RUST_KEYWORDS.contains(&ident.as_str()) {
        ident.insert_str(0, "r#");
    }
    ident
}

/// The file stem of a module: its identifier without the raw prefix.
pub fn module_file(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

/// `memcached-operator` -> `memcached_operator`: the crate name cargo derives from a package name.
pub fn crate_ident(package: &str) -> String {
    package.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["v1", "v1alpha1", "v2beta3", "v10", "v1beta10"] {
            assert!(validate_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "V1",
            "v0",
            "v1alpha",
            "v1gamma1",
            "v01",
            "v1alpha01",
            "v1-alpha1",
        ] {
            assert!(validate_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds() {
        assert!(validate_kind("Memcached").is_ok());
        assert!(validate_kind("CronJob").is_ok());
        assert!(validate_kind("Match").is_ok());
        for bad in [
            "memcached",
            "Mem-cached",
            "Mem_cached",
            "",
            "Self",
            "Option",
        ] {
            assert!(validate_kind(bad).is_err(), "{bad}");
        }
        assert!(validate_kind(&format!("A{}", "b".repeat(63))).is_err());
    }

    #[test]
    fn groups() {
        assert!(validate_group("cache", "example.com").is_ok());
        assert!(validate_group("my-group", "example.com").is_ok());
        for bad in ["Cache", "ca_che", "-cache", ""] {
            assert!(validate_group(bad, "example.com").is_err(), "{bad}");
        }
        assert!(validate_domain("Example.com").is_err());
    }

    #[test]
    fn plurals() {
        assert_eq!(default_plural("Memcached"), "memcacheds");
        assert_eq!(default_plural("Policy"), "policies");
        assert_eq!(default_plural("Gateway"), "gateways");
        assert_eq!(default_plural("Box"), "boxes");
        assert_eq!(default_plural("Match"), "matches");
        assert!(validate_plural("memcacheds").is_ok());
        assert!(validate_plural("Memcacheds").is_err());
        assert!(validate_plural("1abc").is_err());
    }

    #[test]
    fn identifiers() {
        assert_eq!(snake_case("CronJob"), "cron_job");
        assert_eq!(snake_case("Memcached"), "memcached");
        assert_eq!(snake_case("HTTPRoute"), "http_route");
        assert_eq!(snake_case("V1Thing"), "v1_thing");
        assert_eq!(module_ident("match"), "r#match");
        assert_eq!(module_file("r#match"), "match");
        assert_eq!(module_ident("my-group"), "my_group");
        assert_eq!(module_ident("self"), "self_");
        assert_eq!(module_ident("1st"), "_1st");
        assert_eq!(crate_ident("memcached-operator"), "memcached_operator");
        assert_eq!(pascal_case("memcached-backup"), "MemcachedBackup");
        assert!(validate_controller_name("memcached-backup").is_ok());
        assert!(validate_controller_name("Backup").is_err());
    }

    #[test]
    fn project_names() {
        assert!(validate_project_name("memcached-operator", false).is_ok());
        let err = validate_project_name("my_op", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--project-name my-op"), "{err}");
        assert!(validate_project_name("kube", false).is_err());
        assert!(validate_project_name("1op", false).is_err());
    }
}
