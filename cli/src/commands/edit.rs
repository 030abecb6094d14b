//! `kubesmith edit`: change a project-wide setting of an existing project (namespace-scoped
//! manager, license, owner) and update what that setting scaffolded, as `kubebuilder edit`.
//!
//! What is rewritten, and when:
//! - `PROJECT` (kubesmith's) is always brought up to date.
//! - Config files `init` wrote (`config/manager/manager.yaml`, `config/rbac/role_binding.yaml`)
//!   are re-rendered when they are still exactly what `init` wrote for the old setting; a file
//!   the user changed is a conflict unless `--force` (which overwrites it).
//! - `#[rbac]` attributes in `src/` get or lose `namespace = "<project>-system"`, the key
//!   `init --namespaced` scaffolds. Those files are the user's code: they are only edited with
//!   `--force` (only that key changes, then the file is rustfmt'd); without it `edit` names
//!   them and writes nothing. `config/rbac/role.yaml` is regenerated from the result.
//! - `Cargo.toml`: only the `[package]` keys `license` and `authors` change. A license kubesmith
//!   does not write (say `"MIT"`) is the user's and needs `--force`.
//!
//! Nothing changes unless a setting changes, so re-running `edit` is a no-op.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::commands::generate;
use crate::commands::init::License;
use crate::project::{PROJECT_FILE, Project};
use crate::scaffold::Plan;
use crate::source;
use crate::templates;

/// Arguments of `kubesmith edit`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
  kubesmith edit --namespaced --force      # watch only the manager's namespace, with Roles\n  \
  kubesmith edit --namespaced=false --force\n  \
  kubesmith edit --license none --owner \"Jane Doe\"\n\n\
Webhooks stay cluster-scoped in a namespace-scoped project: restrict them with a\n\
namespaceSelector or objectSelector.")]
pub struct EditArgs {
    /// Make the manager namespace-scoped (watch only $WATCH_NAMESPACE, Roles instead of a
    /// ClusterRole), or cluster-scoped again with `--namespaced=false`.
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub namespaced: Option<bool>,
    /// License of the project (`license` in Cargo.toml).
    #[arg(long, value_enum)]
    pub license: Option<License>,
    /// Copyright owner (`authors` in Cargo.toml).
    #[arg(long)]
    pub owner: Option<String>,
    /// Also edit files the user owns or changed: the `#[rbac]` attributes in src/, config
    /// files that differ from what `init` wrote, a license kubesmith did not write.
    #[arg(long)]
    pub force: bool,
}

/// What the config templates `edit` re-renders see (the subset of `init`'s context they use).
#[derive(Serialize)]
struct ConfigContext<'a> {
    project_name: &'a str,
    namespaced: bool,
}

/// The config files whose content depends on `namespaced`.
const NAMESPACED_CONFIG: &[&str] = &[
    "config/manager/manager.yaml",
    "config/rbac/role_binding.yaml",
];

pub fn run(dir: &Path, args: &EditArgs) -> Result<()> {
    if args.namespaced.is_none() && args.license.is_none() && args.owner.is_none() {
        bail!(
            "nothing to edit: pass --namespaced[=false], --license <apache2|none> or --owner <name>"
        );
    }
    if let Some(owner) = &args.owner
        && (owner.trim().is_empty() || owner.chars().any(char::is_control))
    {
        bail!(
            "invalid --owner {owner:?}: give a non-empty name on one line, e.g. --owner \"Jane Doe\""
        );
    }
    let mut project = Project::load(dir)?;
    let mut plan = Plan::new(dir, args.force);
    let mut user_files: Vec<String> = Vec::new();

    if let Some(namespaced) = args.namespaced
        && namespaced != project.namespaced
    {
        for rel in NAMESPACED_CONFIG {
            let template = templates::INIT
                .iter()
                .find(|t| t.path == *rel)
                .with_context(|| format!("no template for {rel} (a kubesmith bug)"))?;
            let render = |namespaced| {
                template.render(&ConfigContext {
                    project_name: &project.project_name,
                    namespaced,
                })
            };
            let old = render(project.namespaced)?;
            let new = render(namespaced)?;
            match plan.read(Path::new(rel))? {
                Some(current) if current == new => {}
                Some(current) if current != old && !args.force => user_files.push(format!(
                    "{rel} (changed since `kubesmith init`; --force overwrites it)"
                )),
                _ => plan.own(rel, new),
            }
        }
        let rbac_namespace = format!("{}-system", project.project_name);
        let mut files = source::parse_dir(&dir.join("src"))?;
        for file in &mut files {
            let edited = set_rbac_namespace(&file.text, &rbac_namespace, namespaced);
            if edited == file.text {
                continue;
            }
            if !args.force {
                user_files.push(format!(
                    "{} (its #[rbac] attributes {} namespace = {rbac_namespace:?}; --force edits them)",
                    file.path.display(),
                    if namespaced { "need" } else { "carry" }
                ));
                continue;
            }
            file.syntax = syn::parse_file(&edited)
                .with_context(|| format!("re-parsing {} after editing it", file.path.display()))?;
            file.text = edited;
            plan.own(&file.path, file.text.clone());
        }
        plan.own(generate::ROLE_FILE, generate::role_file(&files)?);
        project.namespaced = namespaced;
    }

    if args.license.is_some() || args.owner.is_some() {
        let manifest = plan
            .read(Path::new("Cargo.toml"))?
            .context("Cargo.toml is missing; restore it from version control")?;
        let mut edited = manifest.clone();
        if let Some(license) = args.license {
            let current = package_key(&edited, "license");
            let ours = current.as_deref().is_none_or(|v| v == "\"Apache-2.0\"");
            if !ours && !args.force {
                user_files.push(format!(
                    "Cargo.toml (license = {} is not one kubesmith writes; --force replaces it)",
                    current.unwrap_or_default()
                ));
            } else {
                let value = match license {
                    License::Apache2 => Some("\"Apache-2.0\"".to_string()),
                    License::None => None,
                };
                edited = set_package_key(&edited, "license", value.as_deref())?;
            }
        }
        if let Some(owner) = &args.owner {
            let value = format!("[{}]", serde_json::to_string(owner)?);
            edited = set_package_key(&edited, "authors", Some(&value))?;
        }
        if edited != manifest {
            plan.own("Cargo.toml", edited);
        }
    }

    if !user_files.is_empty() {
        bail!(
            "edit would change files you own: {}; nothing was written",
            user_files.join(", ")
        );
    }
    plan.own(PROJECT_FILE, project.render()?);
    plan.commit("edit")?;
    if args.namespaced == Some(true) {
        println!(
            "\nThe manager now watches only its own namespace ($WATCH_NAMESPACE). Objects it must see \
             in other namespaces need #[rbac(..., namespace = \"...\")] attributes of their own."
        );
    }
    Ok(())
}

/// `text` with `namespace = "<namespace>"` added to every `#[rbac(...)]` attribute without a
/// namespace (`on`), or removed from those that carry exactly that namespace (`!on`).
/// Attributes naming another namespace are the user's choice and stay as they are.
fn set_rbac_namespace(text: &str, namespace: &str, on: bool) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some((before, args, after)) = next_rbac_attribute(rest) {
        out.push_str(before);
        let segments = split_top_level(args);
        let has_namespace = segments.iter().any(|s| key_of(s) == Some("namespace"));
        let value = format!("{namespace:?}");
        if on && !has_namespace {
            let trimmed = args.trim_end();
            if trimmed.ends_with(',') || trimmed.is_empty() {
                out.push_str(trimmed);
                out.push_str(&format!(" namespace = {value}"));
            } else {
                out.push_str(trimmed);
                out.push_str(&format!(", namespace = {value}"));
            }
            out.push_str(&args[trimmed.len()..]);
        } else if !on && has_namespace {
            out.push_str(&remove_segment(args, &segments, &value));
        } else {
            out.push_str(args);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `args` without its `namespace = <value>` argument, the rest of the text (line breaks,
/// indentation) untouched: the comma before it goes with it, or the one after it if it is first.
fn remove_segment(args: &str, segments: &[&str], value: &str) -> String {
    let offset = |s: &str| s.as_ptr() as usize - args.as_ptr() as usize;
    let Some(index) = segments.iter().position(|s| {
        key_of(s) == Some("namespace") && s.split_once('=').map(|(_, v)| v.trim()) == Some(value)
    }) else {
        return args.to_string();
    };
    let segment = segments[index];
    let start = offset(segment);
    let end = start + segment.trim_end().len();
    if index > 0 {
        // From the comma ending the previous argument.
        let comma = start - 1;
        format!("{}{}", &args[..comma], &args[end..])
    } else {
        let after = segments.get(1).map_or(args.len(), |next| offset(next));
        format!("{}{}", &args[..start], &args[after..].trim_start())
    }
}

/// Finds the next `#[...rbac(` attribute: (text up to and including its `(`, its arguments,
/// the rest starting at the closing `)`).
fn next_rbac_attribute(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(found) = text[from..].find("#[") {
        let start = from + found;
        let path_start = start + 2;
        let path_len = text[path_start..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c.is_whitespace()))
            .unwrap_or(0);
        let path: String = text[path_start..path_start + path_len]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let open = path_start + path_len;
        let is_rbac = (path == "rbac" || path.ends_with("::rbac")) && text[open..].starts_with('(');
        if !is_rbac {
            from = path_start;
            continue;
        }
        let close = matching_paren(text, open)?;
        return Some((&text[..=open], &text[open + 1..close], &text[close..]));
    }
    None
}

/// Index of the `)` closing the `(` at `open`, skipping string literals.
fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[open..].char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The comma-separated arguments of an attribute, split outside brackets and strings.
fn split_top_level(args: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in args.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&args[start..]);
    out
}

fn key_of(segment: &str) -> Option<&str> {
    segment.split_once('=').map(|(key, _)| key.trim())
}

/// The raw value of `key = ...` in Cargo.toml's `[package]` table.
fn package_key(manifest: &str, key: &str) -> Option<String> {
    let (start, end) = package_table(manifest)?;
    manifest[start..end].lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// Byte range of the `[package]` table's body.
fn package_table(manifest: &str) -> Option<(usize, usize)> {
    let header = manifest.find("[package]\n")?;
    let start = header + "[package]\n".len();
    let end = manifest[start..]
        .find("\n[")
        .map_or(manifest.len(), |i| start + i + 1);
    Some((start, end))
}

/// Sets (`Some`) or removes (`None`) the one-line key `key` of Cargo.toml's `[package]` table,
/// keeping every other line as it is. A new key goes after `publish`/`rust-version`/`edition`.
fn set_package_key(manifest: &str, key: &str, value: Option<&str>) -> Result<String> {
    let Some((start, end)) = package_table(manifest) else {
        bail!("Cargo.toml has no [package] table; kubesmith edits `{key}` there");
    };
    let body = &manifest[start..end];
    let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
    let existing = lines.iter().position(|l| {
        l.split_once('=')
            .is_some_and(|(k, _)| k.trim() == key && !l.trim_start().starts_with('#'))
    });
    if let Some(i) = existing
        && !lines[i].trim_end().ends_with(['"', ']'])
    {
        bail!(
            "Cargo.toml's [package] {key} spans several lines; put it on one line or edit it by hand"
        );
    }
    match (existing, value) {
        (Some(i), Some(value)) => lines[i] = format!("{key} = {value}"),
        (Some(i), None) => {
            lines.remove(i);
        }
        (None, Some(value)) => {
            let after = lines
                .iter()
                .rposition(|l| {
                    ["publish", "rust-version", "edition", "version", "name"]
                        .iter()
                        .any(|k| l.split_once('=').is_some_and(|(lk, _)| lk.trim() == *k))
                })
                .map_or(0, |i| i + 1);
            lines.insert(after, format!("{key} = {value}"));
        }
        (None, None) => {}
    }
    let mut new_body = lines.join("\n");
    if body.ends_with('\n') {
        new_body.push('\n');
    }
    Ok(format!(
        "{}{new_body}{}",
        &manifest[..start],
        &manifest[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_namespace_is_added_and_removed_only_where_kubesmith_puts_it() {
        let text = r#"
#[kubesmith_runtime::rbac(groups = ["apps"], resources = ["deployments"], verbs = ["get"])]
#[rbac(
    groups = [""],
    resources = ["configmaps"],
    verbs = ["get", "list"],
)]
#[rbac(groups = [""], resources = ["secrets"], verbs = ["get"], namespace = "elsewhere")]
#[derive(Debug)]
struct S;
"#;
        let on = set_rbac_namespace(text, "op-system", true);
        assert_eq!(on.matches(r#"namespace = "op-system""#).count(), 2, "{on}");
        assert!(on.contains(r#"namespace = "elsewhere""#));
        assert!(
            on.contains(r#"verbs = ["get"], namespace = "op-system")]"#),
            "{on}"
        );
        assert_eq!(set_rbac_namespace(&on, "op-system", true), on);
        let off = set_rbac_namespace(&on, "op-system", false);
        assert!(!off.contains("op-system"), "{off}");
        assert!(off.contains(r#"namespace = "elsewhere""#));
        assert!(syn::parse_file(&off).is_ok() && syn::parse_file(&on).is_ok());
    }

    #[test]
    fn package_keys_are_set_and_removed_in_place() {
        let manifest = "[package]\nname = \"x\"\nedition = \"2024\"\npublish = false\n# why\ndefault-run = \"x\"\n\n[dependencies]\nlicense = 1\n";
        let with = set_package_key(manifest, "license", Some("\"Apache-2.0\"")).unwrap();
        assert!(
            with.contains("publish = false\nlicense = \"Apache-2.0\"\n# why"),
            "{with}"
        );
        assert_eq!(
            package_key(&with, "license").as_deref(),
            Some("\"Apache-2.0\"")
        );
        let without = set_package_key(&with, "license", None).unwrap();
        assert_eq!(without, manifest);
        assert!(with.ends_with("[dependencies]\nlicense = 1\n"));
    }
}
