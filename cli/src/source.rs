//! The project's Rust sources, parsed once with syn for `generate`'s scans.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use syn::punctuated::Punctuated;
use syn::visit::Visit;

use crate::names;

/// One parsed file of `src/`.
pub struct SourceFile {
    /// Path relative to the project root, for messages (`src/api/cache/v1alpha1/memcached.rs`).
    pub path: PathBuf,
    /// Module path of the file below the crate root (`["api", "cache", "v1alpha1", "memcached"]`).
    pub modules: Vec<String>,
    pub text: String,
    pub syntax: syn::File,
}

/// A CRD root type found in the sources: a struct with a `#[resource(...)]` attribute.
#[derive(Debug, PartialEq, Eq, Default, Clone)]
pub struct ResourceRoot {
    /// Module path of the generated root type below the crate root.
    pub modules: Vec<String>,
    /// The kind, which kube-derive uses as the root type's name.
    pub kind: String,
    /// `group = "..."` and `version = "..."`, empty when not a string literal (the compiler
    /// reports that when the manifests program is built).
    pub group: String,
    pub version: String,
    /// The `storage` flag: this version is the one stored when a kind has several.
    pub storage: bool,
    /// The `skip` flag: this version is left out of the CRD (controller-gen's skipversion).
    pub skip: bool,
    /// The spec struct and its file, for messages.
    pub spec: String,
    pub path: PathBuf,
}

/// Parses every `.rs` file under `src_dir` (binaries in `src/bin` excluded), in path order.
pub fn parse_dir(src_dir: &Path) -> Result<Vec<SourceFile>> {
    let root = src_dir.parent().unwrap_or(src_dir);
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(src_dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !(e.file_type().is_dir() && e.path() == src_dir.join("bin")));
    for entry in walker {
        let entry = entry.with_context(|| format!("reading {}", src_dir.display()))?;
        let path = entry.path();
        if !entry.file_type().is_file() || path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", rel.display()))?;
        let syntax = match syn::parse_file(&text) {
            Ok(syntax) => syntax,
            // Line numbers would need proc-macro2's span-locations, which would make the CLI
            // and generated projects build syn twice in a shared target dir; cargo shows them.
            Err(err) => bail!(
                "{} does not parse as Rust: {err} (`cargo check` shows where; fix it and run generate again)",
                rel.display()
            ),
        };
        let modules = module_path(path.strip_prefix(src_dir).unwrap_or(path));
        files.push(SourceFile {
            path: rel,
            modules,
            text,
            syntax,
        });
    }
    Ok(files)
}

/// `api/cache/v1alpha1/memcached.rs` -> `api::cache::v1alpha1::memcached`; `mod.rs` names its directory.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.iter().map(|p| names::module_ident(p)).collect()
}

/// Whether an attribute is kubesmith's `name` attribute (`name`, `kubesmith_runtime::name`, ...).
pub fn is_attribute(attr: &syn::Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

/// Every struct with a `#[resource(kind = ...)]` attribute, in file order.
pub fn resource_roots(files: &[SourceFile]) -> Vec<ResourceRoot> {
    struct Finder<'a> {
        modules: Vec<String>,
        path: &'a Path,
        found: &'a mut Vec<ResourceRoot>,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
            // Inline modules (`mod v2 { ... }`) extend the path of what they contain.
            self.modules.push(item.ident.to_string());
            syn::visit::visit_item_mod(self, item);
            self.modules.pop();
        }
        fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
            for attr in item.attrs.iter().filter(|a| is_attribute(a, "resource")) {
                let Ok(metas) =
                    attr.parse_args_with(Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
                else {
                    continue;
                };
                if let Some(kind) = string_arg(&metas, "kind") {
                    self.found.push(ResourceRoot {
                        modules: self.modules.clone(),
                        kind,
                        group: string_arg(&metas, "group").unwrap_or_default(),
                        version: string_arg(&metas, "version").unwrap_or_default(),
                        storage: flag_arg(&metas, "storage"),
                        skip: flag_arg(&metas, "skip"),
                        spec: item.ident.to_string(),
                        path: self.path.to_path_buf(),
                    });
                }
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let mut finder = Finder {
            modules: file.modules.clone(),
            path: &file.path,
            found: &mut found,
        };
        finder.visit_file(&file.syntax);
    }
    found
}

/// Whether a `#[resource(...)]` attribute has the flag `name`.
fn flag_arg(metas: &Punctuated<syn::Meta, syn::Token![,]>, name: &str) -> bool {
    metas
        .iter()
        .any(|m| matches!(m, syn::Meta::Path(p) if p.is_ident(name)))
}

/// The `name = "..."` of a `#[resource(...)]` attribute; a malformed attribute is left to the
/// compiler, which reports it with a span when the manifests program is built.
fn string_arg(metas: &Punctuated<syn::Meta, syn::Token![,]>, name: &str) -> Option<String> {
    metas.iter().find_map(|meta| match meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident(name) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_roots_with_their_module_paths() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("api/cache/v1alpha1")).unwrap();
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::write(src.join("lib.rs"), "pub mod api;").unwrap();
        std::fs::write(
            src.join("api/cache/v1alpha1/match.rs"),
            r#"#[kubesmith_runtime::resource(group = "cache.example.com", version = "v1alpha1", kind = "Match", namespaced, shortnames = ["m"])]
               pub struct MatchSpec {}
               mod inner { #[resource(kind = "Other", group = "g", version = "v1", storage)] struct OtherSpec; }"#,
        )
        .unwrap();
        std::fs::write(src.join("bin/manifests.rs"), "this is not rust").unwrap();
        let files = parse_dir(&src).unwrap();
        let roots = resource_roots(&files);
        assert_eq!(
            roots,
            [
                ResourceRoot {
                    modules: vec![
                        "api".into(),
                        "cache".into(),
                        "v1alpha1".into(),
                        "r#match".into()
                    ],
                    kind: "Match".into(),
                    group: "cache.example.com".into(),
                    version: "v1alpha1".into(),
                    spec: "MatchSpec".into(),
                    path: "src/api/cache/v1alpha1/match.rs".into(),
                    ..Default::default()
                },
                ResourceRoot {
                    modules: vec![
                        "api".into(),
                        "cache".into(),
                        "v1alpha1".into(),
                        "r#match".into(),
                        "inner".into()
                    ],
                    kind: "Other".into(),
                    group: "g".into(),
                    version: "v1".into(),
                    storage: true,
                    spec: "OtherSpec".into(),
                    path: "src/api/cache/v1alpha1/match.rs".into(),
                    ..Default::default()
                },
            ]
        );
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("lib.rs"), "pub mod api;\nfn broken( {").unwrap();
        let err = parse_dir(&src).err().unwrap().to_string();
        assert!(err.contains("src/lib.rs does not parse"), "{err}");
    }
}
