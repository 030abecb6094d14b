//! Several `#[resource]` types of one kind (one per version) become one CRD.
//!
//! kube-derive makes one single-version CRD per type, each marked as stored; the API server
//! wants one CRD per `metadata.name` with exactly one storage version. The storage version is
//! never guessed: it is the type with the `storage` flag, and none or two is an error naming
//! the types. Versions with the `skip` flag are left out (controller-gen's `skipversion`).

use anyhow::{Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

use crate::source::ResourceRoot;

/// Merges the CRDs printed by the manifests program (JSON, one per `#[resource]` type) into one
/// CRD per name, using the source scan's `storage` and `skip` flags. Versions are sorted by
/// name, as controller-gen sorts them, so the output does not depend on registration order.
pub fn merge(crds: Vec<Value>, roots: &[ResourceRoot]) -> Result<Vec<Value>> {
    let mut by_name: std::collections::BTreeMap<String, Vec<CustomResourceDefinition>> =
        Default::default();
    for crd in crds {
        let crd: CustomResourceDefinition = serde_json::from_value(crd).map_err(|e| {
            anyhow::anyhow!("src/bin/manifests.rs printed something that is not a CRD: {e}")
        })?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        by_name.entry(name).or_default().push(crd);
    }

    let mut out = Vec::new();
    for (name, crds) in by_name {
        let root_of = |crd: &CustomResourceDefinition| -> Option<&ResourceRoot> {
            let version = crd.spec.versions.first().map(|v| v.name.as_str())?;
            roots.iter().find(|r| {
                r.group == crd.spec.group && r.kind == crd.spec.names.kind && r.version == version
            })
        };
        let describe = |crd: &CustomResourceDefinition| -> String {
            let version = crd
                .spec
                .versions
                .first()
                .map(|v| v.name.clone())
                .unwrap_or_default();
            match root_of(crd) {
                Some(r) => format!("{version} ({} in {})", r.spec, r.path.display()),
                None => version,
            }
        };

        let mut versions: Vec<&str> = Vec::new();
        for crd in &crds {
            if let Some(v) = crd.spec.versions.first()
                && versions.contains(&v.name.as_str())
            {
                bail!(
                    "CRD {name}: version {} is declared by more than one #[resource] type; give each type its own version",
                    v.name
                );
            }
            versions.extend(crd.spec.versions.first().map(|v| v.name.as_str()));
        }

        let kept: Vec<CustomResourceDefinition> = crds
            .iter()
            .filter(|crd| !root_of(crd).is_some_and(|r| r.skip))
            .cloned()
            .collect();
        if kept.is_empty() {
            continue;
        }
        if kept.len() == 1 {
            let mut crd = kept.into_iter().next().expect("one CRD");
            for v in &mut crd.spec.versions {
                v.storage = true;
            }
            out.push(serde_json::to_value(crd)?);
            continue;
        }

        let first = &kept[0];
        for crd in &kept[1..] {
            for (what, a, b) in [
                ("scope", &first.spec.scope, &crd.spec.scope),
                ("plural", &first.spec.names.plural, &crd.spec.names.plural),
            ] {
                if a != b {
                    bail!(
                        "CRD {name}: versions {} and {} disagree on {what} ({a:?} vs {b:?}); \
                         every version of a kind must give the same {what}",
                        describe(first),
                        describe(crd)
                    );
                }
            }
            for (what, a, b) in [
                (
                    "shortnames",
                    &first.spec.names.short_names,
                    &crd.spec.names.short_names,
                ),
                (
                    "categories",
                    &first.spec.names.categories,
                    &crd.spec.names.categories,
                ),
            ] {
                if a != b {
                    bail!(
                        "CRD {name}: versions {} and {} disagree on {what} ({a:?} vs {b:?}); \
                         every version of a kind must give the same {what}",
                        describe(first),
                        describe(crd)
                    );
                }
            }
        }

        let stored: Vec<&CustomResourceDefinition> = kept
            .iter()
            .filter(|crd| root_of(crd).is_some_and(|r| r.storage))
            .collect();
        let all: Vec<String> = kept.iter().map(describe).collect();
        let storage_version = match stored.as_slice() {
            [one] => one.spec.versions[0].name.clone(),
            [] => bail!(
                "CRD {name} has versions {} and none is the storage version: \
                 add `storage` to exactly one of their #[resource(...)] attributes",
                all.join(", ")
            ),
            many => bail!(
                "CRD {name} has more than one storage version: {}; \
                 keep `storage` on exactly one #[resource(...)] attribute",
                many.iter()
                    .map(|c| describe(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut merged = kube::core::crd::merge_crds(kept, &storage_version)
            .map_err(|e| anyhow::anyhow!("CRD {name}: merging {}: {e}", all.join(", ")))?;
        merged.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
        out.push(serde_json::to_value(merged)?);
    }
    Ok(out)
}

/// The project's `max-desc-len` setting, controller-gen's `crd:maxDescLen`, from Cargo.toml:
///
/// ```toml
/// [package.metadata.kubesmith]
/// max-desc-len = 40
/// ```
///
/// A project setting rather than a flag, so `generate`, `generate --check` and `create api`
/// always agree on it.
pub fn max_desc_len(manifest: &str) -> Result<Option<usize>> {
    let mut in_section = false;
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            in_section = line == "[package.metadata.kubesmith]";
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim() == "max-desc-len"
        {
            return match value.trim().parse::<usize>() {
                Ok(n) => Ok(Some(n)),
                Err(_) => bail!(
                    "Cargo.toml: [package.metadata.kubesmith] max-desc-len = {} is not a \
                     non-negative integer; write e.g. `max-desc-len = 40` (0 drops descriptions)",
                    value.trim()
                ),
            };
        }
    }
    Ok(None)
}

/// controller-gen's `crd:maxDescLen=N`: every schema description longer than `max` bytes is
/// cut at the last whitespace before `max` and ends in "..."; `0` drops descriptions.
/// (`externalDocs.description` is data, not a schema description, and is kept.)
pub fn truncate_descriptions(crd: &mut Value, max: usize) {
    fn walk(value: &mut Value, max: usize) {
        match value {
            Value::Object(map) => {
                let is_docs = map.contains_key("url");
                if !is_docs && let Some(Value::String(desc)) = map.get_mut("description") {
                    if max == 0 {
                        map.remove("description");
                    } else if desc.len() > max {
                        let mut end = max;
                        while !desc.is_char_boundary(end) {
                            end -= 1;
                        }
                        let head = &desc[..end];
                        let cut = head
                            .rfind(char::is_whitespace)
                            .filter(|n| *n > 0)
                            .unwrap_or(end);
                        *desc = format!("{}...", &desc[..cut]);
                    }
                }
                map.values_mut().for_each(|v| walk(v, max));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, max)),
            _ => {}
        }
    }
    if let Some(versions) = crd
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
    {
        for version in versions {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                walk(schema, max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn max_desc_len_is_read_from_the_package_metadata() {
        let manifest = "[package]\nname = \"x\"\nmax-desc-len = 3\n\n[package.metadata.kubesmith]\n# cut\nmax-desc-len = 40 # bytes\n[dependencies]\n";
        assert_eq!(max_desc_len(manifest).unwrap(), Some(40));
        assert_eq!(max_desc_len("[package]\nname = \"x\"\n").unwrap(), None);
        let err = max_desc_len("[package.metadata.kubesmith]\nmax-desc-len = \"40\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a non-negative integer"), "{err}");
    }

    #[test]
    fn descriptions_truncate_as_controller_gen_does() {
        // From controller-tools' gen/bar.example.com_foos_maxdesclen.yaml (maxDescLen=50).
        let mut crd = json!({"spec": {"versions": [{"schema": {"openAPIV3Schema": {
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                "short": {"type": "string", "description": "Short."},
                "docs": {"type": "string", "externalDocs": {"url": "https://example.com", "description": "A long description of the external documentation page."}}
            }
        }}}]}});
        let mut dropped = crd.clone();
        truncate_descriptions(&mut crd, 50);
        let props = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
        assert_eq!(
            props["apiVersion"]["description"],
            "APIVersion defines the versioned schema of this..."
        );
        assert_eq!(
            props["kind"]["description"],
            "Kind is a string value representing the REST..."
        );
        assert_eq!(props["short"]["description"], "Short.");
        assert_eq!(
            props["docs"]["externalDocs"]["description"],
            "A long description of the external documentation page."
        );
        truncate_descriptions(&mut dropped, 0);
        let props = &dropped["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
        assert!(props["kind"].get("description").is_none());
    }

    fn crd(version: &str, scope: &str) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.apps.example.com"},
            "spec": {
                "group": "apps.example.com",
                "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                "scope": scope,
                "versions": [{"name": version, "served": true, "storage": true,
                              "schema": {"openAPIV3Schema": {"type": "object"}}}]
            }
        })
    }

    fn root(version: &str, storage: bool, skip: bool) -> ResourceRoot {
        ResourceRoot {
            kind: "Widget".into(),
            group: "apps.example.com".into(),
            version: version.into(),
            storage,
            skip,
            spec: "WidgetSpec".into(),
            path: format!("src/api/apps/{version}/widget.rs").into(),
            ..Default::default()
        }
    }

    #[test]
    fn one_crd_with_one_storage_version_sorted() {
        let crds = vec![crd("v2", "Namespaced"), crd("v1", "Namespaced")];
        let roots = [root("v1", false, false), root("v2", true, false)];
        let merged = merge(crds, &roots).unwrap();
        assert_eq!(merged.len(), 1);
        let versions = &merged[0]["spec"]["versions"];
        assert_eq!(versions[0]["name"], "v1");
        assert_eq!(versions[0]["storage"], false);
        assert_eq!(versions[1]["name"], "v2");
        assert_eq!(versions[1]["storage"], true);
    }

    #[test]
    fn none_or_two_storage_versions_name_the_types() {
        let crds = || vec![crd("v2", "Namespaced"), crd("v1", "Namespaced")];
        let err = merge(
            crds(),
            &[root("v1", false, false), root("v2", false, false)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("none is the storage version"), "{err}");
        assert!(
            err.contains("v1 (WidgetSpec in src/api/apps/v1/widget.rs)"),
            "{err}"
        );
        assert!(
            err.contains("v2 (WidgetSpec in src/api/apps/v2/widget.rs)"),
            "{err}"
        );
        let err = merge(crds(), &[root("v1", true, false), root("v2", true, false)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than one storage version"), "{err}");
    }

    #[test]
    fn skipped_versions_and_mismatches() {
        let crds = vec![crd("v2", "Namespaced"), crd("v1", "Namespaced")];
        let merged = merge(crds, &[root("v1", false, true), root("v2", false, false)]).unwrap();
        let versions = merged[0]["spec"]["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["name"], "v2");
        assert_eq!(versions[0]["storage"], true);

        let crds = vec![crd("v2", "Namespaced"), crd("v1", "Cluster")];
        let err = merge(crds, &[root("v1", true, false), root("v2", false, false)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("disagree on scope"), "{err}");
    }
}
