//! Every validation attribute, on a CRD installed in the embedded API server: for each marker
//! one object that keeps it is accepted (with the schema's defaults applied) and one that
//! breaks it is refused with a 422 naming the field path, as kube-apiserver does with the CRD
//! controller-gen writes for the same Go markers. Transition rules (`oldSelf`, `immutable`,
//! `optional_old_self`) are checked on updates of an existing object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::Status;
use kubesmith_envtest::Environment;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[kubesmith_derive::resource(
    group = "markers.example.com",
    version = "v1",
    kind = "Gadget",
    namespaced,
    status = "GadgetStatus",
    validation(
        rule = "self.metadata.name.startsWith('g-')",
        message = "names start with g-"
    )
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[kubesmith(validation(
    rule = "!has(self.minReplicas) || self.minReplicas <= self.replicas",
    message = "minReplicas exceeds replicas",
    reason = "FieldValueForbidden",
    field_path = ".minReplicas"
))]
pub struct GadgetSpec {
    #[kubesmith(minimum = 1, maximum = 10)]
    pub replicas: i32,
    #[kubesmith(minimum = 0)]
    #[serde(default)]
    pub min_replicas: i32,
    #[kubesmith(minimum = 0, exclusive_minimum, maximum = 1, exclusive_maximum)]
    pub ratio: f64,
    #[kubesmith(multiple_of = 5)]
    pub step: i32,
    #[kubesmith(min_length = 3, max_length = 8)]
    pub name: String,
    #[kubesmith(pattern = "^[A-Z]{3}$")]
    pub code: String,
    #[kubesmith(
        min_items = 1,
        max_items = 3,
        items(max_length = 5, pattern = "^[a-z]+$")
    )]
    pub tags: Vec<String>,
    #[kubesmith(items(minimum = 0, maximum = 100))]
    #[serde(default)]
    pub weights: Vec<i32>,
    #[kubesmith(items(validation(rule = "self.endsWith('.io')", message = "must end in .io")))]
    #[serde(default)]
    pub domains: Vec<String>,
    #[kubesmith(unique_items)]
    #[serde(default)]
    pub zones: Vec<String>,
    #[kubesmith(list_type = "set")]
    #[serde(default)]
    pub hosts: Vec<String>,
    #[kubesmith(list_type = "map", list_map_keys = ["name"])]
    #[serde(default)]
    pub ports: Vec<Port>,
    #[kubesmith(min_properties = 1, max_properties = 2)]
    pub labels: BTreeMap<String, String>,
    #[kubesmith(enum = ["fast", "slow"])]
    pub mode: String,
    pub policy: Policy,
    #[kubesmith(format = "date-time")]
    pub at: Option<String>,
    #[kubesmith(int_or_string, pattern = "^([0-9]+%|[0-9]+)$")]
    pub max_surge: Option<IntOrString>,
    #[kubesmith(embedded_resource, preserve_unknown_fields)]
    pub template: Option<Value>,
    #[kubesmith(preserve_unknown_fields)]
    pub options: Option<Options>,
    #[kubesmith(nullable)]
    pub comment: Option<String>,
    #[kubesmith(default = 30, minimum = 1)]
    pub timeout: Option<i64>,
    #[kubesmith(default = "standard", enum = ["standard", "premium"])]
    pub tier: Option<String>,
    pub limits: Limits,
    pub source: Source,
    pub auth: Option<Auth>,
    pub contact: Option<Contact>,
    #[kubesmith(validation(rule = "self >= oldSelf", message = "counter may not decrease"))]
    pub counter: i32,
    #[kubesmith(validation(
        rule = "!oldSelf.hasValue() || self >= oldSelf.value()",
        message_expression = "'revision may not go back to ' + string(self)",
        optional_old_self
    ))]
    pub revision: Option<i64>,
    #[kubesmith(immutable)]
    pub region: String,
    #[kubesmith(immutable)]
    pub zone: Option<String>,
    /// A pod template: its ObjectMeta keeps labels and annotations (kubernetes#103739).
    pub pod_template: Option<k8s_openapi::api::core::v1::PodTemplateSpec>,
}

/// A Rust enum of unit variants: its variants are the schema's `enum`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum Policy {
    #[default]
    Always,
    Never,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Port {
    pub name: String,
    #[kubesmith(minimum = 1, maximum = 65535)]
    pub port: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Options {
    pub known: Option<String>,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kubesmith(validation(
    rule = "self.min <= self.max",
    message_expression = "'min ' + string(self.min) + ' exceeds max ' + string(self.max)",
    reason = "FieldValueForbidden",
    field_path = ".min"
))]
pub struct Limits {
    pub min: i32,
    pub max: i32,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kubesmith(exactly_one_of = ["image", "git"])]
pub struct Source {
    pub image: Option<String>,
    pub git: Option<String>,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kubesmith(at_most_one_of = ["token", "password"])]
pub struct Auth {
    pub token: Option<String>,
    pub password: Option<String>,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kubesmith(at_least_one_of = ["email", "phone"])]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GadgetStatus {
    pub ready: Option<bool>,
}

/// A spec that keeps every marker; each case changes a few fields of it.
fn base_spec() -> Value {
    json!({
        "replicas": 3, "ratio": 0.5, "step": 10, "name": "gadget", "code": "ABC",
        "tags": ["a"], "labels": {"a": "b"}, "mode": "fast", "policy": "Always",
        "limits": {"min": 1, "max": 2}, "source": {"image": "nginx"}, "counter": 1,
        "region": "eu"
    })
}

/// `base` with the top-level keys of `patch` replacing its own (`null` is kept as a value).
fn with(patch: &Value) -> Value {
    let mut spec = base_spec();
    for (k, v) in patch.as_object().expect("a patch is an object") {
        spec[k] = v.clone();
    }
    spec
}

fn object(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "markers.example.com/v1", "kind": "Gadget",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("a valid object")
}

/// The 422 a write was refused with, or a panic naming what happened instead.
fn refused(what: &str, result: Result<DynamicObject, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) if status.code == 422 => *status,
        Err(e) => panic!("{what}: expected a 422, got {e}"),
        Ok(o) => panic!(
            "{what}: expected a 422, but the server accepted {:?}",
            o.data
        ),
    }
}

/// The causes of a 422 as (field, reason, message).
fn causes(status: &Status) -> Vec<(String, String, String)> {
    status
        .details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .map(|c| (c.field.clone(), c.reason.clone(), c.message.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_names(what: &str, status: &Status, field: &str, message: &str) {
    let causes = causes(status);
    assert!(
        causes
            .iter()
            .any(|(f, _, m)| f == field && m.contains(message)),
        "{what}: no cause on {field:?} saying {message:?}: {causes:#?} ({})",
        status.message
    );
    assert!(
        status.message.contains(field),
        "{what}: the message does not name {field}: {}",
        status.message
    );
}

/// One marker: a spec change that keeps it, one that breaks it, and the field and message
/// (a part of it) of the refusal.
struct Case {
    marker: &'static str,
    good: Value,
    bad: Value,
    field: &'static str,
    message: &'static str,
}

fn case(marker: &'static str, good: Value, bad: Value, field: &'static str) -> Case {
    Case {
        marker,
        good,
        bad,
        field,
        message: "",
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "minimum",
            json!({"replicas": 1}),
            json!({"replicas": 0}),
            "spec.replicas",
        ),
        case(
            "maximum",
            json!({"replicas": 10}),
            json!({"replicas": 11}),
            "spec.replicas",
        ),
        case(
            "exclusive_minimum",
            json!({"ratio": 0.01}),
            json!({"ratio": 0}),
            "spec.ratio",
        ),
        case(
            "exclusive_maximum",
            json!({"ratio": 0.99}),
            json!({"ratio": 1}),
            "spec.ratio",
        ),
        case(
            "multiple_of",
            json!({"step": 15}),
            json!({"step": 7}),
            "spec.step",
        ),
        case(
            "min_length",
            json!({"name": "abc"}),
            json!({"name": "ab"}),
            "spec.name",
        ),
        case(
            "max_length",
            json!({"name": "abcdefgh"}),
            json!({"name": "abcdefghi"}),
            "spec.name",
        ),
        case(
            "pattern",
            json!({"code": "XYZ"}),
            json!({"code": "xyz"}),
            "spec.code",
        ),
        case(
            "min_items",
            json!({"tags": ["a"]}),
            json!({"tags": []}),
            "spec.tags",
        ),
        case(
            "max_items",
            json!({"tags": ["a", "b", "c"]}),
            json!({"tags": ["a", "b", "c", "d"]}),
            "spec.tags",
        ),
        case(
            "items(max_length)",
            json!({"tags": ["abcde"]}),
            json!({"tags": ["abcdef"]}),
            "spec.tags[0]",
        ),
        case(
            "items(pattern)",
            json!({"tags": ["a", "b"]}),
            json!({"tags": ["a", "B"]}),
            "spec.tags[1]",
        ),
        case(
            "items(minimum, maximum)",
            json!({"weights": [0, 100]}),
            json!({"weights": [50, 101]}),
            "spec.weights[1]",
        ),
        Case {
            message: "must end in .io",
            ..case(
                "items(validation)",
                json!({"domains": ["a.io"]}),
                json!({"domains": ["a.io", "b.com"]}),
                "spec.domains[1]",
            )
        },
        Case {
            message: "Duplicate value",
            ..case(
                "unique_items",
                json!({"zones": ["a", "b"]}),
                json!({"zones": ["a", "a"]}),
                "spec.zones[1]",
            )
        },
        Case {
            message: "Duplicate value",
            ..case(
                "list_type = set",
                json!({"hosts": ["a", "b"]}),
                json!({"hosts": ["a", "a"]}),
                "spec.hosts[1]",
            )
        },
        Case {
            message: "Duplicate value",
            ..case(
                "list_type = map, list_map_keys",
                json!({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 1}]}),
                json!({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}),
                "spec.ports[1]",
            )
        },
        case(
            "nested field keys",
            json!({"ports": [{"name": "a", "port": 65535}]}),
            json!({"ports": [{"name": "a", "port": 65536}]}),
            "spec.ports[0].port",
        ),
        case(
            "min_properties",
            json!({"labels": {"a": "b"}}),
            json!({"labels": {}}),
            "spec.labels",
        ),
        case(
            "max_properties",
            json!({"labels": {"a": "b", "c": "d"}}),
            json!({"labels": {"a": "b", "c": "d", "e": "f"}}),
            "spec.labels",
        ),
        Case {
            message: "Unsupported value",
            ..case(
                "enum",
                json!({"mode": "slow"}),
                json!({"mode": "medium"}),
                "spec.mode",
            )
        },
        Case {
            message: "Unsupported value",
            ..case(
                "enum from a Rust enum",
                json!({"policy": "Never"}),
                json!({"policy": "Sometimes"}),
                "spec.policy",
            )
        },
        case(
            "format = date-time",
            json!({"at": "2024-01-01T00:00:00Z"}),
            json!({"at": "yesterday"}),
            "spec.at",
        ),
        case(
            "int_or_string (an integer)",
            json!({"maxSurge": 3}),
            json!({"maxSurge": true}),
            "spec.maxSurge",
        ),
        case(
            "int_or_string with a pattern",
            json!({"maxSurge": "25%"}),
            json!({"maxSurge": "lots"}),
            "spec.maxSurge",
        ),
        case(
            "nullable",
            json!({"comment": null}),
            json!({"name": null}),
            "spec.name",
        ),
        case(
            "default (the value is still validated)",
            json!({"timeout": 5}),
            json!({"timeout": 0}),
            "spec.timeout",
        ),
        Case {
            message: "Unsupported value",
            ..case(
                "default with enum",
                json!({"tier": "premium"}),
                json!({"tier": "gold"}),
                "spec.tier",
            )
        },
        Case {
            message: "minReplicas exceeds replicas",
            ..case(
                "validation(rule, message, reason, field_path) on the spec",
                json!({"minReplicas": 3}),
                json!({"minReplicas": 4}),
                "spec.minReplicas",
            )
        },
        Case {
            message: "min 3 exceeds max 2",
            ..case(
                "validation(message_expression, reason, field_path) on a type",
                json!({"limits": {"min": 2, "max": 2}}),
                json!({"limits": {"min": 3, "max": 2}}),
                "spec.limits.min",
            )
        },
        Case {
            message: "exactly one of the fields in [image git] must be set",
            ..case(
                "exactly_one_of (two set)",
                json!({"source": {"git": "https://example.com/r.git"}}),
                json!({"source": {"image": "nginx", "git": "https://example.com/r.git"}}),
                "spec.source",
            )
        },
        Case {
            message: "exactly one of the fields in [image git] must be set",
            ..case(
                "exactly_one_of (none set)",
                json!({"source": {"image": "nginx"}}),
                json!({"source": {}}),
                "spec.source",
            )
        },
        Case {
            message: "at most one of the fields in [token password] may be set",
            ..case(
                "at_most_one_of",
                json!({"auth": {"token": "t"}}),
                json!({"auth": {"token": "t", "password": "p"}}),
                "spec.auth",
            )
        },
        Case {
            message: "at least one of the fields in [email phone] must be set",
            ..case(
                "at_least_one_of",
                json!({"contact": {"phone": "123"}}),
                json!({"contact": {}}),
                "spec.contact",
            )
        },
    ]
}

fn gadgets(env: &Environment) -> Api<DynamicObject> {
    Api::namespaced_with(env.client(), "default", &ApiResource::erase::<Gadget>(&()))
}

async fn start() -> Environment {
    Environment::builder()
        .crds([Gadget::crd()])
        .start()
        .await
        .expect("the derived CRD is accepted")
}

use kube::CustomResourceExt;

/// Creates the case's good object (which must be stored and read back as a `Gadget`) and its
/// bad one (which must be refused with a 422 naming the field, and not stored).
async fn check_case(api: &Api<DynamicObject>, name: &str, c: &Case) -> Result<(), String> {
    let pp = PostParams::default();
    let good = api
        .create(&pp, &object(&format!("{name}-good"), with(&c.good)))
        .await
        .map_err(|e| format!("good object refused: {e}"))?;
    serde_json::from_value::<Gadget>(serde_json::to_value(&good).unwrap())
        .map_err(|e| format!("stored object is not a Gadget: {e}"))?;
    let bad = format!("{name}-bad");
    let status = match api.create(&pp, &object(&bad, with(&c.bad))).await {
        Err(kube::Error::Api(status)) if status.code == 422 => *status,
        Err(e) => return Err(format!("expected a 422, got {e}")),
        Ok(o) => return Err(format!("bad object accepted: {}", o.data["spec"])),
    };
    let causes = causes(&status);
    if !causes
        .iter()
        .any(|(f, _, m)| f == c.field && m.contains(c.message))
    {
        return Err(format!(
            "no cause on {:?} saying {:?}: {causes:?}",
            c.field, c.message
        ));
    }
    if !status.message.contains(c.field) {
        return Err(format!(
            "the message does not name {}: {}",
            c.field, status.message
        ));
    }
    if api.get_opt(&bad).await.unwrap().is_some() {
        return Err("the bad object was stored".into());
    }
    Ok(())
}

#[tokio::test]
async fn each_marker_accepts_a_good_object_and_refuses_a_bad_one() {
    let env = start().await;
    let api = gadgets(&env);
    let mut failures = Vec::new();
    for (i, c) in cases().into_iter().enumerate() {
        if let Err(e) = check_case(&api, &format!("g-{i}"), &c).await {
            failures.push(format!("{}: {e}", c.marker));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    env.stop().await;
}

#[tokio::test]
async fn defaults_are_applied_and_unknown_fields_pruned_unless_preserved() {
    let env = start().await;
    let api = gadgets(&env);
    let pp = PostParams::default();
    let spec = with(&json!({
        "options": {"known": "k", "other": {"deep": 1}},
        "limits": {"min": 1, "max": 2, "other": 1},
        "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
        "podTemplate": {
            "metadata": {"labels": {"app": "g"}, "annotations": {"note": "kept"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        },
    }));
    let created = api.create(&pp, &object("g-defaults", spec)).await.unwrap();
    let spec = &created.data["spec"];
    // default = 30, default = "standard": applied when absent.
    assert_eq!(spec["timeout"], 30, "{spec}");
    assert_eq!(spec["tier"], "standard", "{spec}");
    // preserve_unknown_fields keeps what the type does not declare; elsewhere it is pruned.
    assert_eq!(
        spec["options"],
        json!({"known": "k", "other": {"deep": 1}}),
        "{spec}"
    );
    assert_eq!(spec["limits"], json!({"min": 1, "max": 2}), "{spec}");
    // controller-gen's `metadata: {type: object}` would prune these (kubernetes#103739).
    assert_eq!(
        spec["podTemplate"]["metadata"],
        json!({"labels": {"app": "g"}, "annotations": {"note": "kept"}}),
        "{spec}"
    );
    // An embedded resource keeps its own fields.
    assert_eq!(spec["template"]["data"], json!({"a": "b"}), "{spec}");
    let typed: Gadget = serde_json::from_value(serde_json::to_value(&created).unwrap()).unwrap();
    assert_eq!(typed.spec.timeout, Some(30));
    assert_eq!(typed.spec.tier.as_deref(), Some("standard"));
    // Set explicitly, the value is kept.
    let explicit = api
        .create(
            &pp,
            &object(
                "g-explicit",
                with(&json!({"timeout": 7, "tier": "premium"})),
            ),
        )
        .await
        .unwrap();
    assert_eq!(explicit.data["spec"]["timeout"], 7);
    assert_eq!(explicit.data["spec"]["tier"], "premium");
    // A typed object with every optional field unset is accepted as written: no nulls sent.
    let typed = Gadget::new(
        "g-typed",
        GadgetSpec {
            replicas: 1,
            ratio: 0.5,
            step: 5,
            name: "typed".into(),
            code: "TYP".into(),
            tags: vec!["t".into()],
            labels: BTreeMap::from([("a".into(), "b".into())]),
            mode: "fast".into(),
            limits: Limits { min: 0, max: 0 },
            source: Source {
                image: Some("nginx".into()),
                git: None,
            },
            region: "eu".into(),
            ..Default::default()
        },
    );
    let created: Gadget = Api::namespaced(env.client(), "default")
        .create(&pp, &typed)
        .await
        .unwrap();
    assert_eq!(created.spec.timeout, Some(30));
    env.stop().await;
}

#[tokio::test]
async fn root_rule_sees_the_metadata() {
    let env = start().await;
    let api = gadgets(&env);
    let status = refused(
        "root validation",
        api.create(&PostParams::default(), &object("x-root", base_spec()))
            .await,
    );
    assert!(
        causes(&status)
            .iter()
            .any(|(_, _, m)| m.contains("names start with g-")),
        "{status:?}"
    );
    api.create(&PostParams::default(), &object("g-root", base_spec()))
        .await
        .unwrap();
    env.stop().await;
}

/// Replaces the stored object's spec with `base` changed by `patch`.
async fn update(
    api: &Api<DynamicObject>,
    name: &str,
    spec: Value,
) -> Result<DynamicObject, kube::Error> {
    let mut current = api.get(name).await.unwrap();
    current.data["spec"] = spec;
    api.replace(name, &PostParams::default(), &current).await
}

#[tokio::test]
async fn transition_rules_are_checked_on_update() {
    let env = start().await;
    let api = gadgets(&env);
    let pp = PostParams::default();
    let start = with(&json!({"counter": 5, "revision": 3, "zone": "a"}));
    api.create(&pp, &object("g-t", start.clone()))
        .await
        .unwrap();
    let change = |patch: Value| {
        let mut spec = start.clone();
        for (k, v) in patch.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    };

    // self >= oldSelf
    let status = refused(
        "validation(rule with oldSelf)",
        update(&api, "g-t", change(json!({"counter": 4}))).await,
    );
    assert_names(
        "oldSelf",
        &status,
        "spec.counter",
        "counter may not decrease",
    );
    // optional_old_self: the rule also runs on create (oldSelf absent) and on update.
    let status = refused(
        "optional_old_self",
        update(&api, "g-t", change(json!({"revision": 2}))).await,
    );
    assert_names(
        "optional_old_self",
        &status,
        "spec.revision",
        "revision may not go back to 2",
    );
    // immutable
    let status = refused(
        "immutable",
        update(&api, "g-t", change(json!({"region": "us"}))).await,
    );
    assert_names("immutable", &status, "spec.region", "field is immutable");
    let status = refused(
        "immutable (optional, changed)",
        update(&api, "g-t", change(json!({"zone": "b"}))).await,
    );
    assert_names(
        "immutable (optional)",
        &status,
        "spec.zone",
        "field is immutable",
    );
    let mut unset = start.clone();
    unset.as_object_mut().unwrap().remove("zone");
    let status = refused(
        "immutable (optional, unset)",
        update(&api, "g-t", unset).await,
    );
    assert_names(
        "immutable (optional, unset)",
        &status,
        "spec",
        "field zone is immutable once set",
    );

    // The good updates go through, the rules compare with what is stored now.
    let updated = update(
        &api,
        "g-t",
        change(json!({"counter": 6, "revision": 4, "region": "eu", "zone": "a", "replicas": 4})),
    )
    .await
    .unwrap();
    assert_eq!(updated.data["spec"]["counter"], 6);
    let status = refused(
        "oldSelf after an update",
        update(&api, "g-t", change(json!({"counter": 5, "revision": 4}))).await,
    );
    assert_names(
        "oldSelf",
        &status,
        "spec.counter",
        "counter may not decrease",
    );

    // An object created without the optional field may set it later (oldSelf absent).
    api.create(&pp, &object("g-late", base_spec()))
        .await
        .unwrap();
    update(&api, "g-late", with(&json!({"revision": 1, "zone": "c"})))
        .await
        .unwrap();
    env.stop().await;
}

/// kube-apiserver requires `apiVersion` and `kind` in an embedded resource
/// (`spec.template.apiVersion: Required value`, apiextensions' `validateEmbeddedResource`).
#[tokio::test]
async fn embedded_resource_needs_api_version_and_kind() {
    let env = start().await;
    let api = gadgets(&env);
    let c = case(
        "embedded_resource",
        json!({"template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}}),
        json!({"template": {"metadata": {"name": "c"}, "data": {}}}),
        "spec.template.apiVersion",
    );
    check_case(&api, "g-embedded", &c).await.unwrap();
    env.stop().await;
}

/// Optional fields left unset are not sent, so a server-side apply by a second manager that
/// does not set them leaves the first manager's values alone (a `null` would clear them).
#[tokio::test]
async fn server_side_apply_of_a_partial_object_keeps_other_managers_fields() {
    use kube::api::{Patch, PatchParams};
    let env = start().await;
    let api: Api<Gadget> = Api::namespaced(env.client(), "default");
    let spec = GadgetSpec {
        replicas: 1,
        ratio: 0.5,
        step: 5,
        name: "typed".into(),
        code: "TYP".into(),
        tags: vec!["t".into()],
        labels: BTreeMap::from([("a".into(), "b".into())]),
        mode: "fast".into(),
        limits: Limits { min: 0, max: 0 },
        source: Source {
            image: Some("nginx".into()),
            git: None,
        },
        region: "eu".into(),
        ..Default::default()
    };
    let first = Gadget::new(
        "g-ssa",
        GadgetSpec {
            comment: Some("from a".into()),
            contact: Some(Contact {
                email: Some("a@example.com".into()),
                phone: None,
            }),
            ..spec.clone()
        },
    );
    api.patch(
        "g-ssa",
        &PatchParams::apply("manager-a"),
        &Patch::Apply(&first),
    )
    .await
    .unwrap();
    let second = Gadget::new(
        "g-ssa",
        GadgetSpec {
            replicas: 2,
            ..spec
        },
    );
    let applied = api
        .patch(
            "g-ssa",
            &PatchParams::apply("manager-b").force(),
            &Patch::Apply(&second),
        )
        .await
        .unwrap();
    assert_eq!(applied.spec.replicas, 2);
    assert_eq!(applied.spec.comment.as_deref(), Some("from a"));
    assert_eq!(
        applied.spec.contact.and_then(|c| c.email).as_deref(),
        Some("a@example.com")
    );
    // What the skipped `None` avoids: the same apply with `"comment": null` clears it.
    let mut with_null = serde_json::to_value(&second).unwrap();
    with_null["spec"]["comment"] = Value::Null;
    let cleared = api
        .patch(
            "g-ssa",
            &PatchParams::apply("manager-b").force(),
            &Patch::Apply(&with_null),
        )
        .await
        .unwrap();
    assert_eq!(cleared.spec.comment, None);
    env.stop().await;
}
