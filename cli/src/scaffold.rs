//! Planned file changes: render templates, edit files at insertion markers, then write
//! everything at once (or nothing) and report one line per file.
//!
//! Every command builds a [`Plan`] first and checks it for conflicts before touching the
//! disk, so a refused command leaves the project exactly as it was.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// What a command intends to do to the files of a project.
pub struct Plan {
    root: PathBuf,
    force: bool,
    /// New contents by project-relative path, in the order the command produced them.
    order: Vec<PathBuf>,
    contents: BTreeMap<PathBuf, String>,
    /// Files that exist and that the command may not overwrite (no `--force`).
    conflicts: Vec<PathBuf>,
    /// How to get past a conflict, for the error message.
    conflict_hint: &'static str,
}

/// What happened, or would happen, to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Create,
    Update,
    Unchanged,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Create => "create",
            Outcome::Update => "update",
            Outcome::Unchanged => "unchanged",
        }
    }
}

impl Plan {
    /// A plan for the project at `root`; `force` allows overwriting files the user may have edited.
    pub fn new(root: &Path, force: bool) -> Plan {
        Plan {
            root: root.to_path_buf(),
            force,
            order: Vec::new(),
            contents: BTreeMap::new(),
            conflicts: Vec::new(),
            conflict_hint: "pass --force to overwrite them",
        }
    }

    /// Replaces the "pass --force" advice for commands without `--force`.
    pub fn with_conflict_hint(mut self, hint: &'static str) -> Plan {
        self.conflict_hint = hint;
        self
    }

    /// The current text of `rel`: planned content if any, else what is on disk.
    pub fn read(&self, rel: &Path) -> Result<Option<String>> {
        if let Some(text) = self.contents.get(rel) {
            return Ok(Some(text.clone()));
        }
        let path = self.root.join(rel);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn set(&mut self, rel: &Path, text: String) {
        if !self.contents.contains_key(rel) {
            self.order.push(rel.to_path_buf());
        }
        self.contents.insert(rel.to_path_buf(), text);
    }

    /// A file the user will edit: written if absent, a conflict if present (unless `--force`).
    pub fn scaffold(&mut self, rel: impl AsRef<Path>, text: String) -> Result<()> {
        let rel = rel.as_ref();
        let exists = self.read(rel)?.is_some();
        if exists && !self.force && !self.contents.contains_key(rel) {
            self.conflicts.push(rel.to_path_buf());
            return Ok(());
        }
        self.set(rel, text);
        Ok(())
    }

    /// A file kubesmith owns (generated manifests, PROJECT): always written.
    pub fn own(&mut self, rel: impl AsRef<Path>, text: String) {
        self.set(rel.as_ref(), text);
    }

    /// A shared file (a `mod.rs`, a kustomization) written only if it does not exist yet.
    pub fn ensure(&mut self, rel: impl AsRef<Path>, text: String) -> Result<()> {
        let rel = rel.as_ref();
        if self.read(rel)?.is_none() {
            self.set(rel, text);
        }
        Ok(())
    }

    /// Inserts `line` just above the insertion marker `marker` in `rel`, once.
    pub fn insert(&mut self, rel: impl AsRef<Path>, marker: &str, line: &str) -> Result<()> {
        let rel = rel.as_ref();
        let Some(text) = self.read(rel)? else {
            bail!(
                "{} is missing; kubesmith registers new code there (restore it from version control or re-run `kubesmith init` in a new directory)",
                rel.display()
            );
        };
        let edited = insert_at_marker(&text, marker, line)
            .with_context(|| format!("editing {}", rel.display()))?;
        if edited != text {
            self.set(rel, edited);
        }
        Ok(())
    }

    /// Replaces the line `from` (compared without surrounding whitespace) with `to` in `rel`,
    /// if the file has it; a file without it is left alone (the user changed it on purpose).
    pub fn replace_line(&mut self, rel: impl AsRef<Path>, from: &str, to: &str) -> Result<()> {
        let rel = rel.as_ref();
        let Some(text) = self.read(rel)? else {
            return Ok(());
        };
        if !text.lines().any(|l| l.trim() == from) {
            return Ok(());
        }
        let edited: String = text
            .lines()
            .map(|l| if l.trim() == from { to } else { l })
            .flat_map(|l| [l, "\n"])
            .collect();
        self.set(rel, edited);
        Ok(())
    }

    /// Fails, naming the files, if the plan would overwrite user files.
    pub fn check_conflicts(&self, what: &str) -> Result<()> {
        if self.conflicts.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = self
            .conflicts
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        bail!(
            "{what} would overwrite existing files: {}; nothing was written ({})",
            list.join(", "),
            self.conflict_hint
        )
    }

    /// What each planned file would become, compared with the disk.
    pub fn outcomes(&self) -> Result<Vec<(PathBuf, Outcome)>> {
        self.order
            .iter()
            .map(|rel| {
                let path = self.root.join(rel);
                let outcome = match std::fs::read_to_string(&path) {
                    Ok(old) if old == self.contents[rel] => Outcome::Unchanged,
                    Ok(_) => Outcome::Update,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Outcome::Create,
                    Err(err) => {
                        return Err(err).with_context(|| format!("reading {}", path.display()));
                    }
                };
                Ok((rel.clone(), outcome))
            })
            .collect()
    }

    /// Unified diffs of every file the plan would change (for `generate --check`).
    pub fn diffs(&mut self) -> Result<Vec<(PathBuf, String)>> {
        self.format_rust();
        let mut out = Vec::new();
        for (rel, outcome) in self.outcomes()? {
            if outcome == Outcome::Unchanged {
                continue;
            }
            let old = std::fs::read_to_string(self.root.join(&rel)).unwrap_or_default();
            let name = rel.display().to_string();
            let diff = similar::TextDiff::from_lines(&old, &self.contents[&rel])
                .unified_diff()
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string();
            out.push((rel, diff));
        }
        Ok(out)
    }

    /// Formats every planned Rust file with rustfmt, as `cargo fmt` would, so generated code
    /// is rustfmt-clean whatever the length of the names in it. Without rustfmt, or for a file
    /// that does not parse (a user's work in progress), the text is kept as it is.
    fn format_rust(&mut self) {
        for (rel, text) in self.contents.iter_mut() {
            if rel.extension().is_some_and(|e| e == "rs")
                && let Some(formatted) = rustfmt(&self.root, text)
            {
                *text = formatted;
            }
        }
    }

    /// Writes every planned file, printing `create`/`update`/`unchanged` lines; nothing is
    /// written if any file conflicts.
    pub fn commit(mut self, what: &str) -> Result<()> {
        self.check_conflicts(what)?;
        self.format_rust();
        let outcomes = self.outcomes()?;
        let mut report = String::new();
        for (rel, outcome) in &outcomes {
            if *outcome != Outcome::Unchanged {
                let path = self.root.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&path, &self.contents[rel])
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            let _ = writeln!(report, "{:>9} {}", outcome.label(), rel.display());
        }
        print!("{report}");
        Ok(())
    }
}

/// `text` formatted by `rustfmt` (edition 2024, the project's rustfmt.toml if any), or `None`.
fn rustfmt(root: &Path, text: &str) -> Option<String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let dir = if root.is_dir() { root } else { Path::new(".") };
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let output = child.wait_with_output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8(output.stdout).ok())
        .flatten()
}

/// Inserts `line` above the line holding `marker`, with the marker's indentation, unless a
/// line equal to it (ignoring surrounding whitespace) is already present.
pub fn insert_at_marker(text: &str, marker: &str, line: &str) -> Result<String> {
    if text.lines().any(|l| l.trim() == line.trim()) {
        return Ok(text.to_string());
    }
    let Some(pos) = text.lines().position(|l| l.contains(marker)) else {
        bail!(
            "insertion marker `{marker}` not found; put it back where kubesmith should add new lines"
        );
    };
    let mut out = String::with_capacity(text.len() + line.len() + 8);
    for (i, l) in text.lines().enumerate() {
        if i == pos {
            let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
            out.push_str(&indent);
            out.push_str(line.trim());
            out.push('\n');
        }
        out.push_str(l);
        out.push('\n');
    }
    if !text.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_once_with_the_marker_indentation() {
        let text = "fn f() {\n    // +kubesmith:scaffold:x\n}\n";
        let once = insert_at_marker(text, "+kubesmith:scaffold:x", "a();").unwrap();
        assert_eq!(
            once,
            "fn f() {\n    a();\n    // +kubesmith:scaffold:x\n}\n"
        );
        let twice = insert_at_marker(&once, "+kubesmith:scaffold:x", "a();").unwrap();
        assert_eq!(twice, once);
    }

    #[test]
    fn missing_marker_is_an_error_naming_it() {
        let err = insert_at_marker("nothing\n", "+kubesmith:scaffold:x", "a();").unwrap_err();
        assert!(err.to_string().contains("+kubesmith:scaffold:x"));
    }

    #[test]
    fn conflicts_block_the_whole_plan() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("user.rs"), "mine").unwrap();
        let mut plan = Plan::new(dir.path(), false);
        plan.scaffold("new.rs", "new".into()).unwrap();
        plan.scaffold("user.rs", "theirs".into()).unwrap();
        assert!(plan.commit("test").is_err());
        assert!(!dir.path().join("new.rs").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("user.rs")).unwrap(),
            "mine"
        );
    }
}
