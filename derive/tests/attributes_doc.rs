//! Keeps `docs/attributes.md` true. Every Rust example of the page is written here too (the
//! test checks that each appears in this file, whitespace aside), every YAML excerpt is
//! checked against `Kind::crd()` of these types (what `kubesmith generate` writes), the RBAC
//! example against the scaffolded sample in `testdata/`, and every key the parsers accept must
//! be documented. The page's Rust blocks are also compiled as doctests of kubesmith-runtime.

// The page writes `#[kubesmith_runtime::resource]`, as generated projects do.
extern crate kubesmith_derive as kubesmith_runtime;

use kube::CustomResourceExt;
use serde_json::Value;

const DOC: &str = include_str!("../../docs/attributes.md");
const THIS_FILE: &str = include_str!("attributes_doc.rs");
const MEMCACHED_CONTROLLER: &str =
    include_str!("../../testdata/memcached-operator/src/controller/memcached.rs");
const MEMCACHED_ROLE: &str =
    include_str!("../../testdata/memcached-operator/config/rbac/role.yaml");

/// The page's examples, each in its own module as each is its own doctest there.
#[allow(dead_code, unused_imports)]
mod examples {
    pub mod webhook {
        pub struct MemcachedCustomDefaulter;

        #[kubesmith_runtime::webhook(
            path = "/mutate-cache-example-com-v1alpha1-memcached",
            mutating = true,
            failure_policy = "fail",
            side_effects = "None",
            groups = ["cache.example.com"],
            resources = ["memcacheds"],
            verbs = ["create", "update"],
            versions = ["v1alpha1"],
            name = "mmemcached-v1alpha1.kb.io",
            admission_review_versions = ["v1"],
            object_selector = "app.kubernetes.io/managed-by=my-operator"
        )]
        impl MemcachedCustomDefaulter {}
    }

    pub mod widget {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        #[kubesmith_runtime::resource(
            group = "apps.example.com",
            version = "v1",
            kind = "Widget",
            namespaced,
            status = "WidgetStatus",
            plural = "widgets",
            singular = "widget",
            shortnames = ["wd"],
            categories = ["all"],
            printcolumn(name = "Replicas", type = "integer", json_path = ".spec.replicas"),
            printcolumn(name = "Color", type = "string", json_path = ".spec.color", priority = 1),
            scale(
                spec_replicas_path = ".spec.replicas",
                status_replicas_path = ".status.replicas",
                label_selector_path = ".status.selector"
            ),
            selectable = [".spec.color"],
            label("app.kubernetes.io/part-of", "widgets"),
            annotation("example.com/owner", "team-a"),
            validation(rule = "self.metadata.name.size() <= 20", message = "name too long")
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct WidgetSpec {
            pub replicas: i32,
            pub color: String,
        }

        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct WidgetStatus {
            pub replicas: i32,
            pub selector: String,
        }
    }

    pub mod gadget {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        pub mod v1alpha1 {
            use super::*;
            #[kubesmith_runtime::resource(
                group = "toys.example.com",
                version = "v1alpha1",
                kind = "Gadget",
                namespaced,
                skip
            )]
            #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
            pub struct GadgetSpec {
                pub size: i32,
            }
        }

        pub mod v1 {
            use super::*;
            #[kubesmith_runtime::resource(
                group = "toys.example.com",
                version = "v1",
                kind = "Gadget",
                namespaced,
                served = false,
                deprecated = "toys.example.com/v1 Gadget is deprecated; use v2"
            )]
            #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
            pub struct GadgetSpec {
                pub size: i32,
            }
        }

        pub mod v2 {
            use super::*;
            #[kubesmith_runtime::resource(
                group = "toys.example.com",
                version = "v2",
                kind = "Gadget",
                namespaced,
                storage
            )]
            #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
            pub struct GadgetSpec {
                pub size: i32,
                pub color: Option<String>,
            }
        }
    }

    pub mod settings {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        use std::collections::BTreeMap;
        #[kubesmith_runtime::resource(
            group = "config.example.com",
            version = "v1",
            kind = "Settings",
            namespaced,
            no_spec
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct SettingsSpec {
            pub data: BTreeMap<String, String>,
        }
    }

    pub mod pool {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        #[kubesmith_runtime::resource(
            group = "apps.example.com",
            version = "v1",
            kind = "Pool",
            namespaced
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct PoolSpec {
            #[kubesmith(minimum = 1, maximum = 100)]
            pub workers: i32,
            #[kubesmith(minimum = 0, exclusive_minimum, maximum = 100)]
            pub max_unavailable_percent: f64,
            #[kubesmith(multiple_of = 1024)]
            pub buffer_bytes: i64,
            #[kubesmith(min_length = 1, max_length = 63, pattern = "^[a-z][a-z0-9-]*$")]
            pub pool_name: String,
            #[kubesmith(enum = ["fast", "slow"])]
            pub tier: String,
            #[kubesmith(format = "date-time")]
            pub not_before: Option<String>,
            pub policy: RestartPolicy,
        }

        /// A Rust enum of unit variants is a string enum: no `enum` key needed.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub enum RestartPolicy {
            #[default]
            Always,
            OnFailure,
            Never,
        }
    }

    pub mod gateway {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        use std::collections::BTreeMap;
        #[kubesmith_runtime::resource(
            group = "net.example.com",
            version = "v1",
            kind = "Gateway",
            namespaced
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct GatewaySpec {
            #[kubesmith(
                min_items = 1,
                max_items = 8,
                unique_items,
                items(max_length = 253, pattern = "^[a-z0-9.-]+$")
            )]
            pub hostnames: Vec<String>,
            #[kubesmith(list_type = "map", list_map_keys = ["name"])]
            pub listeners: Vec<Listener>,
            #[kubesmith(list_type = "atomic")]
            pub addresses: Vec<String>,
            #[kubesmith(min_properties = 1, max_properties = 16, map_type = "atomic")]
            pub selector: BTreeMap<String, String>,
            #[kubesmith(struct_type = "atomic")]
            pub tls: Option<Tls>,
        }

        #[kubesmith_runtime::schema]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct Listener {
            pub name: String,
            #[kubesmith(minimum = 1, maximum = 65535)]
            pub port: i32,
        }

        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct Tls {
            pub secret: String,
        }
    }

    pub mod backup {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        #[kubesmith_runtime::resource(
            group = "backup.example.com",
            version = "v1",
            kind = "Backup",
            namespaced
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct BackupSpec {
            /// How often to retry a failed upload.
            #[kubesmith(default = 3)]
            pub retries: Option<i32>,
            #[kubesmith(default = "daily", example = "hourly")]
            pub frequency: Option<String>,
            #[kubesmith(default = json!({"level": 6}))]
            pub compression: Option<Compression>,
            #[kubesmith(
                title = "Target bucket",
                external_docs(
                    url = "https://example.com/buckets",
                    description = "Bucket naming rules"
                )
            )]
            pub bucket: String,
        }

        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct Compression {
            pub level: Option<i32>,
        }
    }

    pub mod addon {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        #[kubesmith_runtime::resource(
            group = "addons.example.com",
            version = "v1",
            kind = "Addon",
            namespaced
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct AddonSpec {
            /// Passed to the addon as it is.
            #[kubesmith(preserve_unknown_fields)]
            pub values: Option<serde_json::Value>,
            /// A Kubernetes object the addon creates.
            #[kubesmith(embedded_resource, preserve_unknown_fields)]
            pub manifest: Option<serde_json::Value>,
            /// `3` or `"25%"`.
            #[kubesmith(int_or_string)]
            pub max_surge: Option<serde_json::Value>,
            #[kubesmith(schemaless, preserve_unknown_fields)]
            pub legacy: Option<Legacy>,
            #[kubesmith(type = "string", format = "byte")]
            pub ca_bundle: Option<serde_json::Value>,
        }

        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct Legacy {
            pub mode: String,
        }
    }

    pub mod scaler {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        #[kubesmith_runtime::resource(
            group = "autoscale.example.com",
            version = "v1",
            kind = "Scaler",
            namespaced
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        #[kubesmith(validation(
            rule = "self.minReplicas <= self.maxReplicas",
            message = "minReplicas must not exceed maxReplicas"
        ))]
        pub struct ScalerSpec {
            pub min_replicas: i32,
            pub max_replicas: i32,
            #[kubesmith(validation(
                rule = "self != 'latest'",
                message = "pin a version",
                reason = "FieldValueForbidden"
            ))]
            pub image_tag: String,
            #[kubesmith(immutable)]
            pub target: String,
            #[kubesmith(immutable)]
            pub zone: Option<String>,
        }
    }

    pub mod database {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        #[kubesmith_runtime::resource(
            group = "db.example.com",
            version = "v1",
            kind = "Database",
            namespaced
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct DatabaseSpec {
            pub engine: String,
            pub version: Option<String>,
            #[serde(default)]
            pub replicas: i32,
            /// Must be given, though the controller reads it as an `Option`.
            #[kubesmith(required)]
            pub owner: Option<String>,
        }
    }

    pub mod build {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        #[kubesmith_runtime::resource(
            group = "build.example.com",
            version = "v1",
            kind = "Build",
            namespaced
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        #[kubesmith(exactly_one_of = ["image", "dockerfile"], at_most_one_of = ["cache", "noCache"])]
        pub struct BuildSpec {
            pub image: Option<String>,
            pub dockerfile: Option<String>,
            pub cache: Option<String>,
            pub no_cache: Option<bool>,
            pub output: Output,
        }

        #[kubesmith_runtime::schema]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[kubesmith(at_least_one_of = ["registry", "path"], min_properties = 1)]
        pub struct Output {
            pub registry: Option<String>,
            pub path: Option<String>,
        }
    }

    pub mod endpoint {
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        #[kubesmith_runtime::schema]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[kubesmith(minimum = 1, maximum = 65535)]
        pub struct Port(pub i32);

        #[kubesmith_runtime::resource(
            group = "net.example.com",
            version = "v1",
            kind = "Endpoint",
            namespaced
        )]
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct EndpointSpec {
            pub port: Port,
            pub fallback_ports: Vec<Port>,
        }
    }
}

/// `Kind::crd()` of the type a YAML excerpt names (`Widget::crd()`, `v1::Gadget::crd()`).
fn crd_of(name: &str) -> Value {
    use examples::*;
    let crd = match name {
        "Widget" => widget::Widget::crd(),
        "v1::Gadget" => gadget::v1::Gadget::crd(),
        "Settings" => settings::Settings::crd(),
        "Pool" => pool::Pool::crd(),
        "Gateway" => gateway::Gateway::crd(),
        "Backup" => backup::Backup::crd(),
        "Addon" => addon::Addon::crd(),
        "Scaler" => scaler::Scaler::crd(),
        "Database" => database::Database::crd(),
        "Build" => build::Build::crd(),
        "Endpoint" => endpoint::Endpoint::crd(),
        other => panic!("docs/attributes.md shows the CRD of {other}, unknown to this test"),
    };
    serde_json::to_value(crd).unwrap()
}

/// Fenced blocks of `lang` in the page, in order.
fn blocks(lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = DOC;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("closed fence");
        out.push(body[..end].to_string());
        rest = &body[end..];
    }
    out
}

/// Without rustdoc's hidden lines (`# ...`).
fn visible(block: &str) -> String {
    block
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t == "#" || t.starts_with("# "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// `want` is `got` with fewer keys: objects may leave keys out, lists are compared item by item.
fn assert_subset(want: &Value, got: &Value, path: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let Some(gv) = g.get(k) else {
                    panic!("{path}.{k} is on the page but not in the CRD; the CRD has {got:#}");
                };
                assert_subset(v, gv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{path}: page {want:#}\nCRD {got:#}");
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                assert_subset(w, g, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(w), Value::Number(g)) => {
            assert_eq!(w.as_f64(), g.as_f64(), "{path}");
        }
        _ => assert_eq!(want, got, "{path}"),
    }
}

/// `spec.versions[0].schema` in `value`.
fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    let mut v = value;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
            None => (part, None),
        };
        v = &v[key];
        if let Some(i) = index {
            v = &v[i];
        }
        assert!(!v.is_null(), "no {path} in the CRD (at {part})");
    }
    v
}

#[test]
fn rust_examples_are_the_ones_tested_here() {
    let here = squash(THIS_FILE);
    let rust = blocks("rust");
    assert!(rust.len() > 10, "{} rust blocks", rust.len());
    for block in rust {
        let shown = visible(&block);
        if shown.contains("kubesmith_runtime::rbac(") {
            continue; // checked against the scaffolded controller below
        }
        assert!(
            here.contains(&squash(&shown)),
            "this example of docs/attributes.md is not in derive/tests/attributes_doc.rs:\n{shown}"
        );
    }
}

#[test]
fn yaml_excerpts_match_the_crds() {
    let mut checked = 0;
    for block in blocks("yaml") {
        let (first, body) = block.split_once('\n').unwrap();
        let place = first
            .strip_prefix("# ")
            .expect("a YAML excerpt starts with a comment");
        if place == "config/rbac/role.yaml" {
            assert!(
                MEMCACHED_ROLE.contains(body),
                "the role.yaml of the page is not testdata/memcached-operator's:\n{body}"
            );
            checked += 1;
            continue;
        }
        let (crd, path) = match place.split_once(", at ") {
            Some((crd, path)) => (crd, Some(path)),
            None => (place, None),
        };
        let name = crd.strip_suffix("::crd()").expect("`<Kind>::crd()`");
        let crd = crd_of(name);
        let got = path.map_or(&crd, |p| at(&crd, p));
        let want: Value = serde_yaml::from_str(body).unwrap();
        assert_subset(&want, got, place);
        checked += 1;
    }
    assert!(checked >= 12, "{checked} YAML excerpts checked");
}

#[test]
fn rbac_example_is_what_create_api_scaffolds() {
    let scaffolded = squash(MEMCACHED_CONTROLLER);
    let rbac = blocks("rust")
        .into_iter()
        .map(|b| visible(&b))
        .find(|b| b.contains("kubesmith_runtime::rbac("))
        .expect("an rbac example");
    let mut count = 0;
    for attr in rbac.split("#[kubesmith_runtime::rbac(").skip(1) {
        let attr = &attr[..attr.find(")]").unwrap()];
        assert!(
            scaffolded.contains(&squash(&format!("#[kubesmith_runtime::rbac({attr})]"))),
            "not in testdata/memcached-operator/src/controller/memcached.rs: {attr}"
        );
        count += 1;
    }
    assert_eq!(count, 5);
}

/// The keys a parser accepts: the string literals of `const NAME: &[&str] = &[...]` in `file`.
fn parser_keys(file: &str, name: &str) -> Vec<String> {
    let start = file
        .find(&format!("const {name}: &[&str] = &["))
        .expect(name);
    let list = &file[start..];
    let list = &list[list.find("= &[").unwrap() + 4..list.find("];").unwrap()];
    list.split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn every_key_the_parsers_accept_is_documented() {
    let resource = include_str!("../src/resource.rs");
    let schema = include_str!("../src/schema.rs");
    let rbac = include_str!("../src/rbac.rs");
    let webhook = include_str!("../src/webhook.rs");
    let keys = [
        parser_keys(resource, "KEYS"),
        parser_keys(schema, "FIELD_KEYS"),
        parser_keys(schema, "TYPE_KEYS"),
        parser_keys(rbac, "RBAC_KEYS"),
        parser_keys(webhook, "WEBHOOK_KEYS"),
    ];
    let tables: String = DOC
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect::<Vec<_>>()
        .join("\n");
    for key in keys.iter().flatten() {
        let documented = [
            format!("`{key}`"),
            format!("`{key} ="),
            format!("`{key}("),
            format!("`{key}\""),
            format!(", `{key}"),
        ]
        .iter()
        .any(|form| tables.contains(form.as_str()));
        assert!(
            documented,
            "key `{key}` is accepted by the derive but not in a table of docs/attributes.md"
        );
    }
}
