//! Rust equivalents of controller-tools' CRD test inputs (kubernetes-sigs/controller-tools
//! `pkg/crd/testdata`), compared with the YAML controller-gen writes for them (copied into
//! `tests/golden/`, Apache-2.0). Compared after normalising what legitimately differs:
//! descriptions (Go comments vs Rust docs; the root's, from the `doc` key, is compared),
//! int-or-string's `anyOf` (kube keeps only the flag), `nullable` (kube marks `Option` fields), metadata
//! annotations (tool versions), `listKind`, the root's `title` (schemars names the root schema)
//! and `required: [spec]` (kube-derive's root type always has a spec), and the `null` kube adds
//! to the enum of an `Option<Enum>` along with `nullable`. Key order does not matter: the comparison is on JSON values.

use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn normalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // Schema descriptions come from comments; `externalDocs.description` is data.
            if map.get("description").is_some_and(Value::is_string) && !map.contains_key("url") {
                map.remove("description");
            }
            // controller-gen spells int-or-string as the flag plus `anyOf: [integer, string]`;
            // kube's structural rewriting keeps the flag alone, which the API server reads the
            // same way.
            if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                && map.get("anyOf")
                    == Some(&serde_json::json!([{"type": "integer"}, {"type": "string"}]))
            {
                map.remove("anyOf");
            }
            // `Option<Enum>` adds `null` to the enum along with `nullable: true`.
            if map.remove("nullable").is_some()
                && let Some(Value::Array(values)) = map.get_mut("enum")
            {
                values.retain(|v| !v.is_null());
            }
            for v in map.values_mut() {
                normalise(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        // JSONSchemaProps holds bounds as f64 (`10.0`); YAML reads `10` as an integer.
        Value::Number(n) => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        _ => {}
    }
}

/// Removes the value at a JSON pointer (an object key or an array element), if there is one.
fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

fn normalise_crd(mut crd: Value) -> Value {
    let name = crd["metadata"]["name"].clone();
    crd["metadata"] = serde_json::json!({ "name": name });
    if let Some(names) = crd["spec"]["names"].as_object_mut() {
        names.remove("listKind");
    }
    for version in crd["spec"]["versions"].as_array_mut().into_iter().flatten() {
        let root = &mut version["schema"]["openAPIV3Schema"];
        // schemars titles the root schema after the Rust type.
        root.as_object_mut().map(|r| r.remove("title"));
        if root["required"] == serde_json::json!(["spec"]) {
            root.as_object_mut().map(|r| r.remove("required"));
        }
        // kube-derive leaves the root's apiVersion, kind and metadata to the API server.
        if let Some(props) = root["properties"].as_object_mut() {
            for key in ["apiVersion", "kind", "metadata"] {
                props.remove(key);
            }
        }
    }
    normalise(&mut crd);
    crd
}

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

fn assert_golden(crd: CustomResourceDefinition, golden: &str) {
    assert_golden_except(crd, golden, &[]);
}

/// `assert_golden`, except at the JSON pointers of `known` (into the normalised CRDs), which
/// must differ (so that a fix shows up here) and are then left out of the comparison.
fn assert_golden_except(crd: CustomResourceDefinition, golden: &str, known: &[(&str, &str)]) {
    let path = format!("{}/tests/golden/{golden}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let want: Value = serde_yaml::from_str(text.trim_start_matches("---\n")).unwrap();
    let got = serde_json::to_value(crd).unwrap();
    // The root description is the root type's comment in Go and the `doc` key here, so it is
    // compared exactly before descriptions are dropped.
    let root_docs = |crd: &Value| -> Vec<Value> {
        crd["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v["schema"]["openAPIV3Schema"]["description"].clone())
            .collect()
    };
    assert_eq!(
        root_docs(&got),
        root_docs(&want),
        "{golden}: root description"
    );
    let mut want = normalise_crd(want);
    let mut got = normalise_crd(got);
    for (pointer, why) in known {
        let (w, g) = (
            want.pointer(pointer).cloned(),
            got.pointer(pointer).cloned(),
        );
        assert!(
            w != g,
            "{golden}: {pointer} is listed as a known difference ({why}) but is now the same: remove it from the list"
        );
        for side in [&mut want, &mut got] {
            remove_pointer(side, pointer);
        }
    }
    let mut diffs = Vec::new();
    differences(&want, &got, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "{golden} differs (JSON pointer: controller-gen | kubesmith):\n{}",
        diffs.join("\n")
    );
}

/// The JSON pointers where `want` and `got` differ, with both values, deepest first.
fn differences(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let keys: std::collections::BTreeSet<&String> = w.keys().chain(g.keys()).collect();
            for k in keys {
                let path = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (w.get(k), g.get(k)) {
                    (Some(a), Some(b)) => differences(a, b, &path, out),
                    (a, b) => out.push(format!("{path}: {} | {}", show(a), show(b))),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                differences(a, b, &format!("{at}/{i}"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{at}: {a} | {b}")),
        _ => {}
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(
        || "(absent)".into(),
        |v| {
            let s = v.to_string();
            if s.len() > 200 {
                format!("{}...", &s[..200])
            } else {
                s
            }
        },
    )
}

/// `plural/`: a kind whose fields sit at the root (no spec), plural given explicitly.
mod plural {
    use super::*;

    #[kubesmith_derive::resource(
        group = "plural.example.com",
        version = "v1",
        kind = "TestQuota",
        doc = "",
        plural = "testquotas",
        namespaced,
        no_spec
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct TestQuotaSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub test: Option<String>,
    }

    #[test]
    fn plural() {
        assert_golden(TestQuota::crd(), "plural.example.com_testquotas.yaml");
    }
}

/// `enums/`: a field whose type is a Go string enum (`+kubebuilder:validation:Enum`), here a
/// Rust enum of unit variants.
mod enums {
    use super::*;

    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub enum EnumType {
        Value1,
        Value2,
    }

    #[kubesmith_derive::resource(
        group = "testdata.kubebuilder.io",
        version = "v1",
        kind = "Enum",
        doc = "Enum is a test CRD that contains an enum.",
        plural = "enums",
        namespaced
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct EnumSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub field: Option<EnumType>,
    }

    #[test]
    fn enums() {
        assert_golden(Enum::crd(), "testdata.kubebuilder.io_enums.yaml");
    }
}

/// `oneof/`: ExactlyOneOf / AtMostOneOf / AtLeastOneOf on types, XValidation on a type alias
/// (a newtype here) and alongside a one-of rule.
mod oneofs {
    use super::*;

    /// `+kubebuilder:validation:XValidation` on a Go type alias: a newtype carries it.
    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(validation(
        rule = "self >= 100 && self <= 1000",
        message = "invalid CustomTypeAlias value"
    ))]
    pub struct CustomTypeAlias(pub i32);

    macro_rules! two_of {
        ($name:ident, $key:ident, $a:ident = $an:literal, $b:ident = $bn:literal) => {
            #[kubesmith_derive::schema]
            #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
            #[kubesmith($key = [$an, $bn])]
            pub struct $name {
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $a: Option<String>,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $b: Option<String>,
            }
        };
    }

    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(exactly_one_of = ["foo", "bar"])]
    pub struct TypeWithExactOneof {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub foo: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bar: Option<String>,
    }

    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(validation(
        rule = "!(has(self.foo) && has(self.bar))",
        message = "only one of foo|bar may be set"
    ))]
    #[kubesmith(at_most_one_of = ["foo", "bar"])]
    pub struct TypeWithOneof {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub foo: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bar: Option<String>,
    }

    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(exactly_one_of = ["a", "b"], exactly_one_of = ["c", "d"])]
    pub struct TypeWithMultipleExactOneofs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub a: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub b: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub c: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub d: Option<String>,
    }

    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(at_most_one_of = ["a", "b"], at_most_one_of = ["c", "d"])]
    pub struct TypeWithMultipleOneofs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub a: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub b: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub c: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub d: Option<String>,
    }

    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(at_most_one_of = ["a", "b"], exactly_one_of = ["c", "d"], at_least_one_of = ["e", "f"])]
    pub struct TypeWithAllOneOf {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub a: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub b: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub c: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub d: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub e: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub f: Option<String>,
    }

    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(at_least_one_of = ["a", "b"], at_least_one_of = ["c", "d"])]
    pub struct TypeWithMultipleAtLeastOneOf {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub a: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub b: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub c: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub d: Option<String>,
    }

    two_of!(TypeWithOmitZero, at_most_one_of, foo = "foo", bar = "bar");
    two_of!(
        TypeWithOmitZeroAtLeastOneOf,
        at_least_one_of,
        c = "c",
        d = "d"
    );
    two_of!(TypeWithOmitZeroExact, exactly_one_of, a = "a", b = "b");

    #[kubesmith_derive::resource(
        group = "testdata.kubebuilder.io",
        version = "v1beta1",
        kind = "Oneof",
        doc = "Oneof is the Schema for the Oneof API",
        plural = "oneofs",
        namespaced
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct OneofSpec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub first_type_with_oneof: Option<TypeWithOneof>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub second_type_with_oneof: Option<TypeWithMultipleOneofs>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub first_type_with_exact_oneof: Option<TypeWithExactOneof>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub second_type_with_exact_oneof: Option<TypeWithMultipleExactOneofs>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub type_with_multiple_at_least_one_of: Option<TypeWithMultipleAtLeastOneOf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub type_with_all_one_of: Option<TypeWithAllOneOf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub type_with_omit_zero: Option<TypeWithOmitZero>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub type_with_omit_zero_at_least_one_of: Option<TypeWithOmitZeroAtLeastOneOf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub type_with_omit_zero_exact: Option<TypeWithOmitZeroExact>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub first_custom_type_alias: Option<CustomTypeAlias>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub second_custom_type_alias: Option<CustomTypeAlias>,
    }

    #[test]
    fn oneofs() {
        assert_golden(Oneof::crd(), "testdata.kubebuilder.io_oneofs.yaml");
    }
}

/// `immutable/`: `+kubebuilder:validation:Immutable` on required and optional fields of every
/// shape; optional ones also get the parent's "immutable once set" rule.
mod immutable {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct KeyValue {
        pub key: String,
        pub value: String,
    }

    #[kubesmith_derive::resource(
        group = "testdata.kubebuilder.io",
        version = "v1",
        kind = "ImmutableType",
        doc = "",
        plural = "immutabletypes",
        namespaced
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ImmutableTypeSpec {
        pub mutable_string: String,
        #[kubesmith(immutable)]
        pub required_string: String,
        #[kubesmith(immutable)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub optional_string: Option<String>,
        #[kubesmith(immutable)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub optional_literal_string: Option<String>,
        #[kubesmith(immutable)]
        pub required_struct: KeyValue,
        #[kubesmith(immutable)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub optional_struct: Option<KeyValue>,
        #[kubesmith(immutable)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub optional_omit_zero_struct: Option<KeyValue>,
        #[kubesmith(immutable)]
        pub required_slice: Vec<String>,
        #[kubesmith(immutable)]
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub optional_slice: Vec<String>,
        #[kubesmith(immutable)]
        pub required_map: BTreeMap<String, String>,
        #[kubesmith(immutable)]
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub optional_map: BTreeMap<String, String>,
    }

    #[test]
    fn immutable() {
        assert_golden(
            ImmutableType::crd(),
            "testdata.kubebuilder.io_immutabletypes.yaml",
        );
    }
}

/// `externaldocs/`: `+kubebuilder:externalDocs` on fields and on a type.
mod externaldocs {
    use super::*;

    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(external_docs(
        url = "https://example.com/type-docs",
        description = "type-level external docs"
    ))]
    pub struct DocumentedType(pub String);

    #[kubesmith_derive::resource(
        group = "testdata.kubebuilder.io",
        version = "v1",
        kind = "ExternalDoc",
        doc = "ExternalDoc is the Schema for the external docs API",
        plural = "externaldocs",
        namespaced
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ExternalDocSpec {
        #[kubesmith(external_docs(
            url = "https://example.com/docs",
            description = "external docs description"
        ))]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub field_with_external_doc: Option<String>,
        #[kubesmith(external_docs(url = "https://example.com/docs"))]
        #[serde(
            rename = "fieldWithExternalDocURLOnly",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        pub field_with_external_doc_url_only: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub type_with_external_doc: Option<DocumentedType>,
    }

    #[test]
    fn externaldocs() {
        assert_golden(
            ExternalDoc::crd(),
            "testdata.kubebuilder.io_externaldocs.yaml",
        );
    }
}

/// `job/`: bounds, multipleOf and lengths on fields, on a nested type's fields.
mod jobs {
    use super::*;

    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CronJobSpec {
        #[kubesmith(minimum = -2, maximum = 2, multiple_of = 2)]
        #[serde(rename = "int32WithValidations")]
        pub int32_with_validations: i32,
        /// Markers on fields and types are applied to fields.
        #[kubesmith(min_length = 4)]
        #[serde(rename = "twoOfAKindPart0")]
        pub two_of_a_kind_part0: String,
    }

    #[kubesmith_derive::resource(
        group = "testdata.kubebuilder.io",
        version = "v1beta1",
        kind = "Job",
        plural = "jobs",
        namespaced
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct JobSpec {
        #[kubesmith(min_length = 5)]
        pub friendly_name: String,
        #[kubesmith(minimum = 0, maximum = 10)]
        pub count: i32,
        pub crong_job: CronJobSpec,
    }

    #[test]
    fn jobs() {
        assert_golden(Job::crd(), "testdata.kubebuilder.io_jobs.yaml");
    }
}

/// `multiple_versions/`: one kind in two versions sharing types from a common package (a
/// common module here), v1beta2 the storage version; `+structType=atomic` on a shared field.
mod multiple_versions {
    use super::*;

    /// The common package.
    pub mod common {
        use super::*;

        #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
        pub struct InnerStruct {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub foo: Option<String>,
        }

        #[kubesmith_derive::schema]
        #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
        pub struct OuterStruct {
            #[kubesmith(struct_type = "atomic")]
            #[serde(default)]
            pub r#struct: InnerStruct,
        }
    }

    /// controller-gen declares the status subresource without a status field (so any status
    /// would be pruned); kube-derive declares it with a status type, here an empty one, whose
    /// `status` property the comparison leaves out.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    pub struct VersionedResourceStatus {}

    pub mod v1beta1 {
        use super::*;

        #[kubesmith_derive::resource(
            group = "testdata.kubebuilder.io",
            version = "v1beta1",
            kind = "VersionedResource",
            singular = "versionedresource",
            status = "super::VersionedResourceStatus",
            doc = "",
            namespaced
        )]
        #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
        pub struct VersionedResourceSpec {
            #[serde(default)]
            pub r#struct: common::OuterStruct,
        }
    }

    pub mod v1beta2 {
        use super::*;

        #[kubesmith_derive::resource(
            group = "testdata.kubebuilder.io",
            version = "v1beta2",
            kind = "VersionedResource",
            singular = "versionedresource",
            status = "super::VersionedResourceStatus",
            doc = "",
            namespaced,
            storage
        )]
        #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
        pub struct VersionedResourceSpec {
            #[serde(default)]
            pub r#struct: common::OuterStruct,
        }
    }

    /// Both versions in one CRD, as `kubesmith generate` merges them (cli/src/crd.rs): versions
    /// sorted by name, only the `storage` one stored.
    pub fn crd() -> CustomResourceDefinition {
        let mut crd = v1beta1::VersionedResource::crd();
        crd.spec.versions[0].storage = false;
        crd.spec
            .versions
            .extend(v1beta2::VersionedResource::crd().spec.versions);
        for v in &mut crd.spec.versions {
            let root = v
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut());
            if let Some(props) = root.and_then(|r| r.properties.as_mut()) {
                assert!(props.remove("status").is_some());
            }
        }
        crd
    }

    #[test]
    fn multiple_versions() {
        assert_golden(crd(), "testdata.kubebuilder.io_versionedresources.yaml");
    }
}

#[path = "golden/cronjob.rs"]
mod cronjob;

/// Every CRD above is accepted by the embedded API server and served.
#[tokio::test]
async fn accepted_by_the_embedded_api_server() {
    let env = kubesmith_envtest::Environment::start().await.unwrap();
    env.install_crds([
        plural::TestQuota::crd(),
        enums::Enum::crd(),
        oneofs::Oneof::crd(),
        immutable::ImmutableType::crd(),
        externaldocs::ExternalDoc::crd(),
        jobs::Job::crd(),
        multiple_versions::crd(),
        cronjob::crd(),
    ])
    .await
    .unwrap();
    let api: kube::Api<oneofs::Oneof> = kube::Api::namespaced(env.client(), "default");
    assert!(
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    env.stop().await;
}
