//! `config/rbac/role.yaml` from the `#[rbac(...)]` attributes in a project's sources.
//!
//! [`scan`] finds the attributes with a syn parse of `src/**/*.rs` and reads them
//! with the same parser the attribute macro uses; [`role_yaml`] merges the rules
//! and renders them exactly as controller-gen's `rbac` generator does
//! (`pkg/rbac/parser.go`, `NormalizeRules`), so a project ported from kubebuilder
//! gets the same `role.yaml`, byte for byte.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;

use anyhow::bail;
use quote::ToTokens;
use syn::visit::Visit;

use crate::source::SourceFile;

#[path = "../../derive/src/rbac.rs"]
#[allow(dead_code)]
pub(crate) mod rbac_args;

pub use rbac_args::RbacRule;

/// Role name of rules without `role_name`, as kubebuilder's `rbac:roleName=manager-role`.
pub const DEFAULT_ROLE_NAME: &str = "manager-role";

/// One `#[rbac(...)]` attribute found in the sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundRule {
    /// The parsed rule.
    pub rule: RbacRule,
    /// The file it was found in (the walked path, under the scanned directory).
    pub file: PathBuf,
    /// 1-based line of the attribute's `#`; `None` if it could not be located
    /// (see [`scan`]).
    pub line: Option<usize>,
}

impl fmt::Display for FoundRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        Ok(())
    }
}

/// Finds every `#[rbac(...)]` attribute in the project's sources, in file order.
///
/// An attribute counts when its path ends in `rbac` (`rbac`, `kubesmith_runtime::rbac`,
/// `kubesmith_derive::rbac`, or the runtime under another name) wherever it is: on
/// items at any depth, impl blocks and their items, nested modules, functions,
/// fields, statements. Attributes inside macro invocations are not seen, as rustc
/// would not see them either until expansion.
///
/// Every attribute whose arguments are invalid is reported, all in one error, each as
/// `file:line: problem`. Line numbers come from a lexical pass over the source (syn
/// spans carry no line numbers unless proc-macro2's `span-locations` feature is on,
/// which would make generated projects compile syn a second time in a shared target dir).
pub fn scan(files: &[SourceFile]) -> anyhow::Result<Vec<FoundRule>> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        scan_file(file, &mut found, &mut problems);
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(found)
}

fn scan_file(source: &SourceFile, found: &mut Vec<FoundRule>, problems: &mut Vec<String>) {
    let path = &source.path;
    let mut visitor = AttrVisitor { attrs: Vec::new() };
    visitor.visit_file(&source.syntax);
    let mut lines = attribute_lines(&source.text, "rbac");
    for attr in visitor.attrs {
        let line = lines
            .get_mut(&meta_key(&attr.meta))
            .and_then(VecDeque::pop_front);
        let at = match line {
            Some(l) => format!("{}:{l}", path.display()),
            None => path.display().to_string(),
        };
        let args = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            _ => {
                problems.push(format!(
                    "{at}: expected #[rbac(...)] with arguments, e.g. \
                     #[rbac(groups = [\"apps\"], resources = [\"deployments\"], verbs = [\"get\"])]"
                ));
                continue;
            }
        };
        match rbac_args::parse_rbac_args(args) {
            Ok(rule) => found.push(FoundRule {
                rule,
                file: path.to_path_buf(),
                line,
            }),
            Err(e) => problems.push(format!("{at}: invalid #[rbac(...)]: {e}")),
        }
    }
}

struct AttrVisitor {
    attrs: Vec<syn::Attribute>,
}

impl<'ast> Visit<'ast> for AttrVisitor {
    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if is_rbac_path(attr.path()) {
            self.attrs.push(attr.clone());
        }
        syn::visit::visit_attribute(self, attr);
    }
}

fn is_rbac_path(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| s.ident == "rbac")
}

/// Token text of an attribute's meta: the same for the syn tree and for a
/// re-parse of the attribute's source text, whatever the whitespace.
pub(crate) fn meta_key(meta: &syn::Meta) -> String {
    meta.to_token_stream().to_string()
}

/// Lines of the attributes named `name` (`rbac`, `webhook`) in `text`, keyed by
/// [`meta_key`], in source order.
///
/// A small lexer skips comments and string/char literals, finds each `#[...]`
/// (and `#![...]`), and re-parses its text with syn. Attributes in macro bodies are
/// found here but not by the visitor; keying by content keeps them from shifting
/// the lines of the others.
pub(crate) fn attribute_lines(text: &str, name: &str) -> HashMap<String, VecDeque<usize>> {
    let code = code_chars(text);
    let mut out: HashMap<String, VecDeque<usize>> = HashMap::new();
    let mut i = 0;
    while i < code.len() {
        let (start, c) = code[i];
        i += 1;
        if c != '#' {
            continue;
        }
        let mut j = i;
        if code.get(j).is_some_and(|&(_, c)| c == '!') {
            j += 1;
        }
        if code.get(j).is_none_or(|&(_, c)| c != '[') {
            continue;
        }
        let mut depth = 0usize;
        let mut end = None;
        for (k, &(pos, c)) in code.iter().enumerate().skip(j) {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some((k, pos));
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some((k, end_pos)) = end else { break };
        let snippet = &text[start..=end_pos];
        let parsed = if code[i].1 == '!' {
            syn::parse::Parser::parse_str(syn::Attribute::parse_inner, snippet)
        } else {
            syn::parse::Parser::parse_str(syn::Attribute::parse_outer, snippet)
        };
        if let Ok(attrs) = parsed {
            for attr in attrs
                .iter()
                .filter(|a| a.path().segments.last().is_some_and(|s| s.ident == name))
            {
                let line = text[..start].matches('\n').count() + 1;
                out.entry(meta_key(&attr.meta)).or_default().push_back(line);
            }
            // Nested attributes cannot hold other attributes; skip past this one.
            i = k + 1;
        }
    }
    out
}

/// Byte offsets and characters of `text` that are code: not whitespace, comments,
/// or the inside of string, byte-string, raw-string or char literals (a literal
/// is kept as its opening character only, so brackets inside never count).
fn code_chars(text: &str) -> Vec<(usize, char)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            '/' if at(i + 1) == Some('/') => {
                while i < chars.len() && chars[i].1 != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                let mut depth = 0usize;
                while i < chars.len() {
                    if chars[i].1 == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i].1 == '*' && at(i + 1) == Some('/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            '"' => {
                out.push((pos, c));
                i += 1;
                while i < chars.len() && chars[i].1 != '"' {
                    i += if chars[i].1 == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            'r' | 'b' | 'c'
                if !prev_is_ident(&chars, i) && raw_string_hashes(&chars, i).is_some() =>
            {
                let (open_len, hashes) = raw_string_hashes(&chars, i).unwrap_or((0, 0));
                out.push((pos, '"'));
                i += open_len;
                while i < chars.len() {
                    if chars[i].1 == '"' && (1..=hashes).all(|h| at(i + h) == Some('#')) {
                        i += 1 + hashes;
                        break;
                    }
                    i += 1;
                }
            }
            '\'' => {
                // `'x'` and `'\n'` are char literals; `'a` is a lifetime or label.
                if at(i + 1) == Some('\\') {
                    out.push((pos, c));
                    // Past the quote, the backslash and the escaped character.
                    i += 3;
                    while i < chars.len() && chars[i].1 != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if at(i + 2) == Some('\'') {
                    out.push((pos, c));
                    i += 3;
                } else {
                    i += 1;
                }
            }
            c if c.is_whitespace() => i += 1,
            _ => {
                out.push((pos, c));
                i += 1;
            }
        }
    }
    out
}

fn prev_is_ident(chars: &[(usize, char)], i: usize) -> bool {
    i > 0 && {
        let p = chars[i - 1].1;
        p.is_alphanumeric() || p == '_'
    }
}

/// For a raw string (`r"`, `r#"`, `br#"`, `cr"`) starting at `i`: the length of its
/// opening and its number of `#`; `None` if no raw string starts there.
fn raw_string_hashes(chars: &[(usize, char)], i: usize) -> Option<(usize, usize)> {
    let at = |k: usize| chars.get(k).map(|&(_, c)| c);
    let mut k = i;
    // `b"` and `c"` are ordinary strings with a prefix: the `"` rule handles them.
    if matches!(at(k), Some('b' | 'c')) {
        k += 1;
    }
    if at(k) != Some('r') {
        return None;
    }
    k += 1;
    let mut hashes = 0;
    while at(k) == Some('#') {
        hashes += 1;
        k += 1;
    }
    (at(k) == Some('"')).then_some((k + 1 - i, hashes))
}

/// controller-gen's view of a rule while merging.
#[derive(Clone, Debug, Default)]
struct Rule {
    groups: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
    verbs: Vec<String>,
    urls: Vec<String>,
}

type RuleKey = (String, String, String, String);

impl Rule {
    /// Deduplicates and sorts every field, then returns the key (`ruleKey`).
    fn key(&mut self) -> RuleKey {
        for v in [
            &mut self.groups,
            &mut self.resources,
            &mut self.resource_names,
            &mut self.verbs,
            &mut self.urls,
        ] {
            v.sort();
            v.dedup();
        }
        (
            self.groups.join("&"),
            self.resources.join("&"),
            self.resource_names.join("&"),
            self.urls.join("&"),
        )
    }
}

/// A field merged across rules equal in everything else.
#[derive(Clone, Copy)]
enum Field {
    Resources,
    Groups,
    Urls,
}

impl Field {
    fn of(self, r: &mut Rule) -> &mut Vec<String> {
        match self {
            Field::Resources => &mut r.resources,
            Field::Groups => &mut r.groups,
            Field::Urls => &mut r.urls,
        }
    }

    /// controller-gen's `keyWith...` strings: the rule key without this field, plus verbs.
    fn key_without(self, r: &mut Rule) -> String {
        let (g, res, names, urls) = r.key();
        let verbs = r.verbs.join("&");
        match self {
            Field::Resources => format!("{g} + {names} + {urls} + {verbs}"),
            Field::Groups => format!("{res} + {names} + {urls} + {verbs}"),
            Field::Urls => format!("{g} + {res} + {names} + {verbs}"),
        }
    }
}

/// Merges rules as controller-gen's `NormalizeRules` does.
fn normalize_rules(rules: Vec<Rule>) -> Vec<Rule> {
    let mut by_key: BTreeMap<RuleKey, Rule> = BTreeMap::new();
    for mut rule in rules {
        // Letting people write "core" for the core group is nice; the API says "".
        for g in &mut rule.groups {
            if g == "core" {
                g.clear();
            }
        }
        let key = rule.key();
        match by_key.get_mut(&key) {
            Some(first) => {
                first.verbs.extend(rule.verbs);
                first.key();
            }
            None => {
                by_key.insert(key, rule);
            }
        }
    }

    // Then merge rules that differ in one field only: resources, groups, URLs.
    for field in [Field::Resources, Field::Groups, Field::Urls] {
        let mut groups: BTreeMap<String, Vec<Rule>> = BTreeMap::new();
        for mut rule in by_key.into_values() {
            groups
                .entry(field.key_without(&mut rule))
                .or_default()
                .push(rule);
        }
        by_key = BTreeMap::new();
        for rules in groups.into_values() {
            let mut rules = rules.into_iter();
            let Some(mut merged) = rules.next() else {
                continue;
            };
            for mut other in rules {
                let values = std::mem::take(field.of(&mut other));
                field.of(&mut merged).extend(values);
            }
            by_key.insert(merged.key(), merged);
        }
    }
    // Sorted by the key's string form, as controller-gen does ("G + R + N + U").
    let mut out: Vec<(String, Rule)> = by_key
        .into_iter()
        .map(|(k, mut r)| {
            if r.verbs.iter().any(|v| v == "*") {
                r.verbs = vec!["*".to_string()];
            }
            (format!("{} + {} + {} + {}", k.0, k.1, k.2, k.3), r)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, r)| r).collect()
}

/// Renders `role.yaml` for `rules` with the default role name `manager-role`.
///
/// See [`role_yaml_with_name`].
pub fn role_yaml(rules: &[RbacRule]) -> String {
    role_yaml_with_name(rules, DEFAULT_ROLE_NAME)
}

/// Renders the YAML documents controller-gen's `rbac:roleName=<default_role_name>`
/// writes for `rules`, without any header: a `ClusterRole` for the rules without
/// `namespace`, then a `Role` per namespace, ordered by (namespace, role name); rules
/// with a `role_name` go to a role of that name. Each document starts with `---`.
///
/// Without any rule controller-gen writes no file at all; this returns a
/// `ClusterRole` with `rules: []` instead, so the file `generate` owns always exists
/// and stays valid for kustomize.
pub fn role_yaml_with_name(rules: &[RbacRule], default_role_name: &str) -> String {
    // (namespace, role name): "" namespace is the ClusterRole, which sorts first.
    let mut roles: BTreeMap<(String, String), Vec<Rule>> = BTreeMap::new();
    for r in rules {
        let key = (
            r.namespace.clone().unwrap_or_default(),
            r.role_name
                .clone()
                .unwrap_or_else(|| default_role_name.to_string()),
        );
        let base = Rule {
            groups: r.groups.clone(),
            resources: Vec::new(),
            resource_names: r.resource_names.clone(),
            verbs: r.verbs.clone(),
            urls: r.urls.clone(),
        };
        let entry = roles.entry(key).or_default();
        // controller-gen splits a rule into one rule per resource before merging.
        if r.resources.is_empty() {
            entry.push(base);
        } else {
            for res in &r.resources {
                entry.push(Rule {
                    resources: vec![res.clone()],
                    ..base.clone()
                });
            }
        }
    }

    let mut out = String::new();
    if roles.is_empty() {
        write_role_header(&mut out, "", default_role_name);
        out.push_str("rules: []\n");
        return out;
    }
    for ((namespace, name), rules) in roles {
        write_role_header(&mut out, &namespace, &name);
        out.push_str("rules:\n");
        for rule in normalize_rules(rules) {
            let fields: [(&str, &Vec<String>); 5] = [
                ("apiGroups", &rule.groups),
                ("nonResourceURLs", &rule.urls),
                ("resourceNames", &rule.resource_names),
                ("resources", &rule.resources),
                ("verbs", &rule.verbs),
            ];
            let mut first = true;
            for (key, values) in fields {
                // Go's PolicyRule omits empty lists except `verbs`.
                if values.is_empty() && key != "verbs" {
                    continue;
                }
                out.push_str(if first { "- " } else { "  " });
                first = false;
                if values.is_empty() {
                    out.push_str(&format!("{key}: []\n"));
                    continue;
                }
                out.push_str(&format!("{key}:\n"));
                for v in values {
                    out.push_str(&format!("  - {}\n", yaml_scalar(v)));
                }
            }
        }
    }
    out
}

fn write_role_header(out: &mut String, namespace: &str, name: &str) {
    out.push_str("---\napiVersion: rbac.authorization.k8s.io/v1\n");
    if namespace.is_empty() {
        out.push_str(&format!(
            "kind: ClusterRole\nmetadata:\n  name: {}\n",
            yaml_scalar(name)
        ));
    } else {
        out.push_str(&format!(
            "kind: Role\nmetadata:\n  name: {}\n  namespace: {}\n",
            yaml_scalar(name),
            yaml_scalar(namespace)
        ));
    }
}

/// A string as go-yaml v2 (behind sigs.k8s.io/yaml) writes it: plain when that
/// reads back as the same string, double-quoted when plain would read as another
/// type (`""`, `true`, `1`, `1.5`, `~`), single-quoted when plain is not allowed
/// (`'*'`, a leading indicator, `: ` or ` #` inside, surrounding spaces).
pub(crate) fn yaml_scalar(s: &str) -> String {
    let printable = s.chars().all(|c| !c.is_control());
    if !printable || resolves_to_non_string(s) {
        let mut q = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\t' => q.push_str("\\t"),
                c if c.is_control() => q.push_str(&format!("\\x{:02X}", c as u32)),
                c => q.push(c),
            }
        }
        q.push('"');
        return q;
    }
    if plain_allowed(s) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// Whether go-yaml v2's `resolve` would read the plain scalar as null, bool,
/// number or timestamp rather than a string.
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true",
        "True", "TRUE", "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return false;
    }
    let plain = s.replace('_', "");
    let unsigned = plain.trim_start_matches(['+', '-']);
    let radix = |p: &str, r: u32| {
        unsigned
            .strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_digit(r)))
    };
    let decimal_int = !unsigned.is_empty() && unsigned.chars().all(|c| c.is_ascii_digit());
    let float = {
        let (mantissa, exp) = match unsigned.find(['e', 'E']) {
            Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
            None => (unsigned, None),
        };
        let mut parts = mantissa.splitn(2, '.');
        let int = parts.next().unwrap_or_default();
        let frac = parts.next();
        let digits = |d: &str| d.chars().all(|c| c.is_ascii_digit());
        let mantissa_ok = match frac {
            Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
            None => !int.is_empty() && digits(int),
        };
        let exp_ok = exp.is_none_or(|e| {
            let e = e.trim_start_matches(['+', '-']);
            !e.is_empty() && digits(e)
        });
        mantissa_ok && exp_ok
    };
    let base60 = unsigned.contains(':')
        && unsigned
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'));
    let timestamp = {
        let b = s.as_bytes();
        b.len() >= 8
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && s[5..]
                .split(['-', 'T', 't', ' ', ':', '.', 'Z', '+'])
                .all(|p| p.chars().all(|c| c.is_ascii_digit()))
    };
    decimal_int
        || radix("0x", 16)
        || radix("0o", 8)
        || radix("0b", 2)
        || float
        || base60
        || timestamp
}

/// Whether libyaml's emitter allows the plain style for `s` in block context.
fn plain_allowed(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let (Some(&first), Some(&last)) = (chars.first(), chars.last()) else {
        return false;
    };
    if first == ' ' || last == ' ' || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let blank_after = |i: usize| chars.get(i + 1).is_none_or(|c| *c == ' ' || *c == '\t');
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && blank_after(0) {
        return false;
    }
    for (i, &c) in chars.iter().enumerate().skip(1) {
        if c == ':' && blank_after(i) {
            return false;
        }
        if c == '#' && chars[i - 1] == ' ' {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rbac");

    fn scan_dir(src: &Path) -> anyhow::Result<Vec<FoundRule>> {
        scan(&crate::source::parse_dir(src)?)
    }

    fn rules_of(found: &[FoundRule]) -> Vec<RbacRule> {
        found.iter().map(|f| f.rule.clone()).collect()
    }

    #[test]
    fn controller_tools_golden_role_yaml() {
        let found = scan_dir(&Path::new(FIXTURE).join("src")).unwrap();
        let golden = std::fs::read_to_string(Path::new(FIXTURE).join("role.yaml")).unwrap();
        let got = role_yaml(&rules_of(&found));
        assert_eq!(got, golden, "\n--- got ---\n{got}");
    }

    #[test]
    fn output_does_not_depend_on_rule_order() {
        let found = scan_dir(&Path::new(FIXTURE).join("src")).unwrap();
        let mut rules = rules_of(&found);
        let forward = role_yaml(&rules);
        rules.reverse();
        assert_eq!(role_yaml(&rules), forward);
        rules.rotate_left(17);
        assert_eq!(role_yaml(&rules), forward);
    }

    #[test]
    fn scan_finds_every_spelling_with_lines() {
        let found = scan_dir(&Path::new(FIXTURE).join("src")).unwrap();
        let at: Vec<String> = found
            .iter()
            .map(|f| format!("{}:{}", f.file.display(), f.line.map_or(0, |l| l)))
            .collect();
        assert_eq!(found.len(), 41, "{at:#?}");
        assert!(found.iter().all(|f| f.line.is_some()), "{at:#?}");
        // First attribute of the walk: src/controller.rs (files sorted by name).
        assert_eq!(at[0], "src/controller.rs:10");
        assert_eq!(found[0].rule.groups, ["batch.io"]);
        let nested = found
            .iter()
            .find(|f| f.rule.resources == ["prometheuses"])
            .unwrap();
        assert!(nested.file.ends_with("src/nested/mod.rs"), "{nested}");
    }

    #[test]
    fn scan_reports_bad_attributes_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("a")).unwrap();
        std::fs::write(
            src.join("a/ctrl.rs"),
            "// #[rbac(nonsense)] in a comment is ignored\n\
             const S: &str = \"#[rbac(nonsense)]\";\n\
             struct R;\n\
             \n\
             #[kubesmith_runtime::rbac(groups = [\"\"], resources = [\"pods\"], verbs = [\"gte\"])]\n\
             impl R {\n\
             \x20   #[rbac]\n\
             \x20   fn f() {}\n\
             }\n",
        )
        .unwrap();
        std::fs::write(src.join("notes.txt"), "#[rbac(x)]").unwrap();
        let err = scan_dir(&src).unwrap_err().to_string();
        let ctrl = "src/a/ctrl.rs";
        assert!(
            err.contains(&format!(
                "{ctrl}:5: invalid #[rbac(...)]: unknown verb `gte`"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("{ctrl}:7: expected #[rbac(...)]")),
            "{err}"
        );
        std::fs::write(src.join("b.rs"), "fn broken( {\n").unwrap();
        let err = scan_dir(&src).unwrap_err().to_string();
        assert!(err.contains("src/b.rs does not parse"), "{err}");
        assert!(scan_dir(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn no_rules_is_an_empty_cluster_role() {
        assert_eq!(
            role_yaml(&[]),
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n\
             metadata:\n  name: manager-role\nrules: []\n"
        );
    }

    #[test]
    fn memcached_rules() {
        let rule = |g: &str, r: &str, v: &[&str]| RbacRule {
            groups: vec![g.into()],
            resources: vec![r.into()],
            verbs: v.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let crud = [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ];
        let rules = [
            rule("cache.example.com", "memcacheds", &crud),
            rule(
                "cache.example.com",
                "memcacheds/status",
                &["get", "update", "patch"],
            ),
            rule("cache.example.com", "memcacheds/finalizers", &["update"]),
            rule("", "events", &["create", "patch"]),
            rule("apps", "deployments", &crud),
            rule("", "pods", &["get", "list", "watch"]),
        ];
        let want = "---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: manager-role
rules:
- apiGroups:
  - \"\"
  resources:
  - events
  verbs:
  - create
  - patch
- apiGroups:
  - \"\"
  resources:
  - pods
  verbs:
  - get
  - list
  - watch
- apiGroups:
  - apps
  resources:
  - deployments
  verbs:
  - create
  - delete
  - get
  - list
  - patch
  - update
  - watch
- apiGroups:
  - cache.example.com
  resources:
  - memcacheds
  verbs:
  - create
  - delete
  - get
  - list
  - patch
  - update
  - watch
- apiGroups:
  - cache.example.com
  resources:
  - memcacheds/finalizers
  verbs:
  - update
- apiGroups:
  - cache.example.com
  resources:
  - memcacheds/status
  verbs:
  - get
  - patch
  - update
";
        assert_eq!(role_yaml(&rules), want);
    }

    #[test]
    fn scalars_quote_like_go_yaml() {
        for (s, want) in [
            ("", "\"\""),
            ("*", "'*'"),
            ("get", "get"),
            ("/metrics", "/metrics"),
            ("/healthz/*", "/healthz/*"),
            ("true", "\"true\""),
            ("yes", "\"yes\""),
            ("123", "\"123\""),
            ("1.5", "\"1.5\""),
            ("0x1f", "\"0x1f\""),
            ("1e3", "\"1e3\""),
            ("2024-01-02", "\"2024-01-02\""),
            ("a: b", "'a: b'"),
            ("a #b", "'a #b'"),
            ("-x", "-x"),
            ("- x", "'- x'"),
            ("it's", "it's"),
            ("'q", "'''q'"),
            ("system:controller:x", "system:controller:x"),
            ("my-role", "my-role"),
            ("1a", "1a"),
        ] {
            assert_eq!(yaml_scalar(s), want, "{s:?}");
        }
    }
}
