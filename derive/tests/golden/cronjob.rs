//! `cronjob_types.go` (and its `unserved/` and `deprecated/` versions): the input that
//! exercises every marker controller-gen knows, in one kind with three versions.

use super::*;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::{Schema, SchemaGenerator, json_schema};

/// Go's `int`: an integer without a `format` (Rust's integers all name their width).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GoInt(pub i64);

impl JsonSchema for GoInt {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GoInt".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer"})
    }
}

/// Go's `[]byte`: a base64 string.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ByteString(pub String);

impl JsonSchema for ByteString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteString".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "byte"})
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub enum ConcurrencyPolicy {
    Allow,
    Forbid,
    Replace,
}

/// `TotallyABool` with `+kubebuilder:validation:Type=string`.
#[kubesmith_derive::schema]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[kubesmith(type = "string")]
pub struct TotallyABool(pub bool);

/// `LongerString` with `+kubebuilder:validation:MinLength=4` on the type.
#[kubesmith_derive::schema]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[kubesmith(min_length = 4)]
pub struct LongerString(pub String);

/// A string alias with `+kubebuilder:title` on the type.
#[kubesmith_derive::schema]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[kubesmith(title = "title on type")]
pub struct StringAliasWithTitle(pub String);

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct NestedObject {
    pub foo: String,
    pub bar: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RootObject {
    pub nested: NestedObject,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct EmpiableObject {
    #[kubesmith(default = "forty-two")]
    pub foo: Option<String>,
    pub bar: Option<String>,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[kubesmith(min_properties = 1, max_properties = 2)]
pub struct MinMaxObject {
    pub foo: Option<String>,
    pub bar: Option<String>,
    pub baz: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AssociativeType {
    pub name: String,
    pub secondary: GoInt,
    pub foo: String,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainsNestedMap {
    #[serde(default)]
    pub inner_map: BTreeMap<String, String>,
}

/// Go's embedded struct (`EmbeddedStruct` inlined): a flattened one.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedStruct {
    pub from_embedded: Option<String>,
}

#[kubesmith_derive::resource(
    group = "testdata.kubebuilder.io",
    version = "v1",
    kind = "CronJob",
    plural = "cronjobs",
    singular = "mycronjob",
    doc = "CronJob is the Schema for the cronjobs API",
    namespaced,
    status = "CronJobStatus",
    storage,
    selectable = [".spec.selectableFieldString"],
    annotation("api-approved.kubernetes.io", "https://github.com/kubernetes-sigs/controller-tools"),
    annotation("cert-manager.io/inject-ca-from-secret", "cert-manager/cert-manager-webhook-ca")
)]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[kubesmith(validation(
    rule = "has(oldSelf.forbiddenInt) || !has(self.forbiddenInt)",
    message = "forbiddenInt is not allowed",
    reason = "FieldValueForbidden",
    field_path = ".forbiddenInt"
))]
pub struct CronJobSpec {
    pub schedule: String,
    pub starting_deadline_seconds: Option<i64>,
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    pub suspend: Option<bool>,
    pub no_really_suspend: Option<TotallyABool>,
    pub binary_name: ByteString,
    #[kubesmith(nullable)]
    pub can_be_null: String,
    pub job_template: k8s_openapi::api::batch::v1::JobTemplateSpec,
    pub successful_jobs_history_limit: Option<i32>,
    pub failed_jobs_history_limit: Option<i32>,
    #[serde(default)]
    pub byte_slice_data: BTreeMap<String, ByteString>,
    #[serde(default)]
    pub string_slice_data: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub ptr_data: BTreeMap<String, String>,
    #[kubesmith(min_length = 4)]
    pub two_of_a_kind_part0: String,
    pub two_of_a_kind_part1: LongerString,
    #[kubesmith(
        default = "forty-two",
        example = "forty-two",
        title = "DefaultedString"
    )]
    pub defaulted_string: String,
    #[kubesmith(default = json!(["a", "b"]), example = json!(["a", "b"]), title = "DefaultedSlice")]
    pub defaulted_slice: Vec<String>,
    #[kubesmith(
        default = json!([{"nested": {"foo": "baz", "bar": true}}, {"nested": {"foo": "qux", "bar": false}}]),
        example = json!([{"nested": {"foo": "baz", "bar": true}}, {"nested": {"foo": "qux", "bar": false}}]),
        title = "124"
    )]
    pub defaulted_object: Vec<RootObject>,
    #[kubesmith(default = json!([]), title = "{}")]
    pub defaulted_empty_slice: Vec<String>,
    #[kubesmith(default = json!({}))]
    pub defaulted_empty_map: BTreeMap<String, String>,
    #[kubesmith(default = json!({}))]
    pub defaulted_empty_object: EmpiableObject,
    #[kubesmith(default = "kubebuilder-default")]
    pub double_defaulted_string: String,
    #[kubesmith(default = "forty-two")]
    pub kubernetes_defaulted_string: String,
    #[kubesmith(default = json!(["a", "b"]))]
    pub kubernetes_defaulted_slice: Vec<String>,
    #[kubesmith(default = json!([{"nested": {"foo": "baz", "bar": true}}, {"nested": {"foo": "qux", "bar": false}}]))]
    pub kubernetes_defaulted_object: Vec<RootObject>,
    #[kubesmith(default = json!([]))]
    pub kubernetes_defaulted_empty_slice: Vec<String>,
    #[kubesmith(default = json!({}))]
    pub kubernetes_defaulted_empty_map: BTreeMap<String, String>,
    #[kubesmith(default = json!({}))]
    pub kubernetes_defaulted_empty_object: EmpiableObject,
    pub kubernetes_defaulted_ref: Option<String>,
    #[kubesmith(
        pattern = "^$|^((https):\\/\\/?)[^\\s()<>]+(?:\\([\\w\\d]+\\)|([^[:punct:]\\s]|\\/?))$"
    )]
    pub pattern_object: String,
    #[kubesmith(embedded_resource, preserve_unknown_fields, nullable)]
    pub embedded_resource: serde_json::Value,
    #[kubesmith(preserve_unknown_fields, nullable)]
    #[serde(rename = "unprunedJSON")]
    pub unpruned_json: NestedObject,
    #[kubesmith(preserve_unknown_fields, embedded_resource, nullable)]
    pub unpruned_embedded_resource: serde_json::Value,
    /// `Preserved` has `+kubebuilder:validation:Type=object` and
    /// `+kubebuilder:pruning:PreserveUnknownFields` on the type and a custom unmarshaller;
    /// here the keys sit on the field (`schemaless` is a field key).
    #[kubesmith(schemaless, type = "object", preserve_unknown_fields)]
    #[serde(rename = "unprunedFomType")]
    pub unpruned_from_type: serde_json::Map<String, serde_json::Value>,
    #[kubesmith(schemaless, type = "object", preserve_unknown_fields)]
    #[serde(rename = "unprunedFomTypeAndField")]
    pub unpruned_from_type_and_field: serde_json::Map<String, serde_json::Value>,
    #[kubesmith(list_type = "map", list_map_keys = ["name", "secondary"])]
    pub associative_list: Vec<AssociativeType>,
    #[kubesmith(list_type = "map", list_map_keys = ["name", "secondary"])]
    #[serde(rename = "nestedassociativeList")]
    pub nested_associative_list: Vec<AssociativeType>,
    #[kubesmith(map_type = "granular")]
    pub map_of_info: BTreeMap<String, ByteString>,
    #[kubesmith(map_type = "granular")]
    pub nested_map_of_info: BTreeMap<String, ByteString>,
    #[kubesmith(struct_type = "atomic")]
    pub struct_with_several_fields: NestedObject,
    #[kubesmith(struct_type = "atomic")]
    pub nested_struct_with_several_fields: NestedObject,
    #[kubesmith(struct_type = "atomic")]
    pub nested_struct_with_several_fields_double_marked: NestedObject,
    #[kubesmith(optional)]
    pub just_nested_object: Option<NestedObject>,
    pub min_max_properties: Option<MinMaxObject>,
    pub schemaless: Option<String>,
    #[kubesmith(
        int_or_string,
        min_length = 2,
        max_length = 11,
        pattern = "^((100|[0-9]{1,2})%|[0-9]+)$"
    )]
    pub int_or_string_with_a_pattern: Option<IntOrString>,
    #[kubesmith(items(
        int_or_string,
        min_length = 1,
        max_length = 10,
        pattern = "^((100|[0-9]{1,2})%|[0-9]+)$"
    ))]
    #[serde(default)]
    pub int_or_string_array_with_a_pattern: Vec<IntOrString>,
    #[kubesmith(int_or_string, enum = [1, 2, "foo", "bar"])]
    pub int_or_string_with_enum: Option<IntOrString>,
    #[kubesmith(items(int_or_string, enum = [1, 2, "foo", "bar"], min_length = 1, max_length = 3))]
    #[serde(default)]
    pub int_or_string_with_enum_slice: Vec<IntOrString>,
    #[serde(default)]
    pub nested_map: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub nested_nested_map: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    #[serde(default, rename = "nestedMapInStruct")]
    pub contains_nested_map_map: BTreeMap<String, ContainsNestedMap>,
    #[serde(default)]
    pub map_of_arrays_of_floats: BTreeMap<String, Vec<bool>>,
    #[serde(default)]
    pub map_of_text_marshaler_keys: BTreeMap<String, String>,
    #[kubesmith(minimum = -0.5, maximum = 1.5, multiple_of = 0.5)]
    pub float_with_validations: f64,
    #[kubesmith(minimum = -0.5, maximum = 1.5, multiple_of = 0.5)]
    pub float64_with_validations: f64,
    #[kubesmith(minimum = -2, maximum = 2, multiple_of = 2)]
    pub int_with_validations: i64,
    #[kubesmith(minimum = -2, maximum = 2, multiple_of = 2)]
    pub int32_with_validations: i32,
    #[kubesmith(
        min_items = 1,
        list_type = "set",
        items(
            min_length = 1,
            max_length = 255,
            pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
        )
    )]
    #[serde(default)]
    pub hosts: Vec<String>,
    #[kubesmith(
        min_items = 1,
        list_type = "set",
        items(
            min_length = 1,
            max_length = 255,
            pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
        )
    )]
    #[serde(default)]
    pub hosts_alias: Vec<String>,
    #[kubesmith(min_items = 2, max_items = 2)]
    pub string_pair: Vec<String>,
    #[kubesmith(min_items = 3)]
    #[serde(default)]
    pub longer_string_array: Vec<LongerString>,
    #[kubesmith(items(enum = [0, 1, 3]))]
    #[serde(default)]
    pub enum_slice: Vec<GoInt>,
    #[serde(default)]
    pub array: Vec<GoInt>,
    #[serde(default)]
    pub array_using_composite_literal: Vec<String>,
    pub alias_from_package: Option<String>,
    pub string_alias: Option<String>,
    pub string_alias_ptr: Option<String>,
    #[kubesmith(min_length = 1, max_length = 255)]
    pub string_alias_added_validation: Option<String>,
    #[kubesmith(min_length = 1, max_length = 255)]
    pub string_alias_already_validated: Option<String>,
    pub string_alias_with_title: Option<StringAliasWithTitle>,
    #[kubesmith(title = "title on field")]
    pub string_alias_with_added_title: Option<StringAliasWithTitle>,
    /// A type with `MinLength/MaxLength` used on a field with its own: controller-gen keeps
    /// both in an `allOf` (see `KNOWN_DIFFERENCES`).
    #[kubesmith(min_length = 10, max_length = 10)]
    pub field_level_alias_override: Option<String>,
    #[kubesmith(min_length = 10, max_length = 10)]
    pub field_level_local_declaration_override: Option<String>,
    #[kubesmith(
        validation(rule = "self.size() % 2 == 0", message = "must have even length"),
        validation(rule = "true")
    )]
    pub string_with_even_length: Option<String>,
    #[kubesmith(
        validation(rule = "self.startsWith('good-')", message = "must have good prefix"),
        validation(rule = "self.size() % 2 == 0", message = "must have even length")
    )]
    pub string_with_even_length_and_good_prefix: Option<String>,
    #[kubesmith(validation(
        rule = "self.size() % 2 == 0",
        message_expression = "self + ' has odd length, must be even'"
    ))]
    pub string_with_even_length_and_message_expression: Option<String>,
    pub forbidden_int: Option<GoInt>,
    #[kubesmith(validation(
        rule = "oldSelf.hasValue() || self == 0",
        message = "must be set to 0 on creation. can be set to any value on an update.",
        optional_old_self
    ))]
    pub only_allow_setting_on_update: Option<i32>,
    #[kubesmith(default = "TCP")]
    pub protocol: Option<String>,
    pub selectable_field_string: Option<String>,
    #[kubesmith(optional)]
    pub explicitly_optional_kubebuilder: Option<String>,
    #[kubesmith(optional)]
    pub explicitly_optional_kubernetes: Option<String>,
    #[kubesmith(optional)]
    pub explicitly_optional_k8s: Option<String>,
    #[kubesmith(required)]
    pub explicitly_required_kubebuilder: Option<String>,
    #[kubesmith(required)]
    pub explicitly_required_kubernetes: Option<String>,
    #[kubesmith(required)]
    pub explicitly_required_k8s: Option<String>,
    #[kubesmith(list_type = "map", list_map_keys = ["name"])]
    pub k8s_associative_list: Vec<AssociativeType>,
    #[kubesmith(list_type = "map", list_map_keys = ["name", "secondary"])]
    pub k8s_nested_associative_list: Vec<AssociativeType>,
    #[kubesmith(list_type = "atomic")]
    #[serde(default)]
    pub k8s_atomic_list: Vec<String>,
    #[kubesmith(list_type = "set")]
    #[serde(default)]
    pub k8s_set_list: Vec<String>,
    pub k8s_concurrency_policy: Option<ConcurrencyPolicy>,
    pub foo: String,
    pub baz: String,
    #[serde(flatten)]
    pub embedded: EmbeddedStruct,
    pub from_pointer: Option<String>,
    #[kubesmith(minimum = 1, maximum = 10)]
    pub locally_bounded_integer: Option<i32>,
    #[kubesmith(min_length = 1, max_length = 10)]
    pub locally_bounded_string: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Duration {
    pub value: i64,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronJobStatus {
    #[serde(default)]
    pub active: Vec<k8s_openapi::api::core::v1::ObjectReference>,
    pub last_schedule_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    pub last_schedule_time2: Option<i64>,
    pub last_schedule_micro_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>,
    #[serde(rename = "lastActiveLogURL")]
    pub last_active_log_url: Option<String>,
    #[serde(rename = "lastActiveLogURL2")]
    pub last_active_log_url2: Option<String>,
    #[serde(rename = "lastActiveLogURL3")]
    pub last_active_log_url3: Option<String>,
    #[serde(rename = "lastActiveLogURL4")]
    pub last_active_log_url4: Option<String>,
    pub duration: Option<Duration>,
}

/// The `unserved/` package: the same kind, not served.
pub mod unserved {
    use super::*;

    #[kubesmith_derive::resource(
        group = "testdata.kubebuilder.io",
        version = "v1beta1",
        kind = "CronJob",
        plural = "cronjobs",
        singular = "mycronjob",
        doc = "CronJob is the Schema for the cronjobs API",
        namespaced,
        status = "super::CronJobStatus",
        served = false
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CronJobSpec {
        #[kubesmith(minimum = -2, maximum = 2, multiple_of = 2)]
        pub int32_with_validations: i32,
        #[kubesmith(min_length = 4)]
        pub two_of_a_kind_part0: String,
    }
}

/// The `deprecated/` package: served, deprecated with a warning, and without a spec.
pub mod deprecated {
    use super::*;

    #[kubesmith_derive::resource(
        group = "testdata.kubebuilder.io",
        version = "v1beta2",
        kind = "CronJob",
        plural = "cronjobs",
        singular = "mycronjob",
        doc = "CronJob is the Schema for the cronjobs API",
        namespaced,
        status = "super::CronJobStatus",
        no_spec,
        deprecated = "use v1 instead, this version causes your data center to catch fire when used on Tuesdays"
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct CronJobSpec {}
}

/// The three versions in one CRD as `kubesmith generate` merges them (cli/src/crd.rs). As in
/// `multiple_versions`, controller-gen declares the status subresource on versions without a
/// status field; the empty-handed versions here carry the status type, whose property is left
/// out.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = CronJob::crd();
    for mut other in [unserved::CronJob::crd(), deprecated::CronJob::crd()] {
        let v = &mut other.spec.versions[0];
        v.storage = false;
        let root = v
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut());
        if let Some(props) = root.and_then(|r| r.properties.as_mut()) {
            assert!(props.remove("status").is_some());
        }
        crd.spec.versions.push(other.spec.versions.remove(0));
    }
    crd
}

/// Where kubesmith's CRD differs from controller-gen's on purpose or for want of a way to say
/// the same thing, as JSON pointers into the normalised CRD with the reason. The test checks
/// that each still differs (so a fix shows up) and compares everything else.
pub const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/jobTemplate",
        "k8s-openapi's JobTemplateSpec schema: no x-kubernetes-list-type/map-type/list-map-keys \
         markers, Kubernetes 1.33's fields and required lists, and ObjectMeta with its properties \
         where controller-gen writes `type: object` (kubernetes#103739)",
    ),
    (
        "/spec/versions/0/schema/openAPIV3Schema/properties/status/properties/active/items/x-kubernetes-map-type",
        "k8s-openapi's ObjectReference schema has no `+structType=atomic`",
    ),
    (
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/fieldLevelAliasOverride",
        "a type's keys and the field's keys on one schema: controller-gen keeps both in an \
         `allOf`; string and number keys on a field whose type is a newtype are refused (the \
         type check wants a String or a number), so the field is a plain String here",
    ),
    (
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/fieldLevelLocalDeclarationOverride",
        "as fieldLevelAliasOverride",
    ),
    (
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/floatWithValidations/format",
        "Go's float64 has no format; Rust's f64 is `format: double`",
    ),
    (
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/float64WithValidations/format",
        "as floatWithValidations",
    ),
    (
        "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/intWithValidations/format",
        "Go's int has no format; Rust's i64 is `format: int64` (a number key cannot go on a \
         hand-written newtype like GoInt: its type check wants a Rust number)",
    ),
];

#[test]
fn cronjob() {
    assert_golden_except(
        crd(),
        "testdata.kubebuilder.io_cronjobs.yaml",
        KNOWN_DIFFERENCES,
    );
}
