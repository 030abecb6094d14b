//! Rust equivalents of controller-tools' CRD test inputs (kubernetes-sigs/controller-tools
//! `pkg/crd/testdata`), compared with the YAML controller-gen writes for them (copied into
//! `tests/golden/`, Apache-2.0). Compared after normalising what legitimately differs:
//! descriptions (Go comments vs Rust docs), `nullable` (kube marks `Option` fields), metadata
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

fn assert_golden(
    crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    golden: &str,
) {
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
    assert_eq!(root_docs(&got), root_docs(&want), "{golden}: root description");
    let want = normalise_crd(want);
    let got = normalise_crd(got);
    assert!(
        want == got,
        "{golden} differs\n--- controller-gen\n{}\n--- kubesmith\n{}",
        serde_yaml::to_string(&want).unwrap(),
        serde_yaml::to_string(&got).unwrap()
    );
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
