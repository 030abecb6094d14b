//! `#[kubesmith(...)]` field and type attributes reach the CRD schema through schemars, and
//! the root keys of `#[resource(...)]` reach the CRD: what `Kind::crd()` returns is what
//! `kubesmith generate` writes.

use std::collections::BTreeMap;

use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[kubesmith_derive::resource(group = "apps.example.com", version = "v1", kind = "Widget", namespaced,
    status = "WidgetStatus", storage,
    printcolumn(name = "Replicas", type = "integer", json_path = ".spec.replicas", description = "wanted", format = "int32", priority = 1),
    printcolumn(name = "Age", type = "date", json_path = ".metadata.creationTimestamp"),
    scale(spec_replicas_path = ".spec.replicas", status_replicas_path = ".status.replicas", label_selector_path = ".status.selector"),
    selectable = [".spec.color"], deprecated = "use v2", label("app.kubernetes.io/part-of", "widgets"),
    annotation("example.com/owner", "team-a"),
    validation(rule = "self.metadata.name.size() <= 20", message = "name too long", reason = "FieldValueForbidden", field_path = ".metadata.name"))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[kubesmith(exactly_one_of = ["image", "build"], validation(rule = "self.minReplicas <= self.replicas", message = "min exceeds replicas", reason = "FieldValueInvalid"))]
pub struct WidgetSpec {
    /// Number of replicas.
    #[kubesmith(minimum = 0, maximum = 10, exclusive_maximum, multiple_of = 1)]
    pub replicas: i32,
    #[kubesmith(minimum = 0, optional)]
    #[serde(default)]
    pub min_replicas: i32,
    #[kubesmith(min_length = 1, max_length = 63, pattern = "^[a-z]+$", enum = ["red", "green"], immutable)]
    pub color: String,
    #[kubesmith(format = "date-time", title = "When", example = "2024-01-01T00:00:00Z")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[kubesmith(
        min_items = 1,
        max_items = 5,
        unique_items,
        items(max_length = 10, pattern = "^[a-z]+$")
    )]
    pub tags: Vec<String>,
    #[kubesmith(list_type = "map", list_map_keys = ["name"])]
    pub ports: Vec<Port>,
    #[kubesmith(min_properties = 1, max_properties = 3, map_type = "atomic")]
    pub labels: BTreeMap<String, String>,
    #[kubesmith(preserve_unknown_fields, embedded_resource, nullable)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
    #[kubesmith(int_or_string)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<String>,
    #[kubesmith(default = 3)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[kubesmith(default = json!({"a": 1}), schemaless, preserve_unknown_fields)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Build>,
    #[kubesmith(
        external_docs(url = "https://example.com/image", description = "images"),
        type = "string",
        struct_type = "atomic"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[kubesmith(required)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kubesmith(
    min_properties = 1,
    validation(
        rule = "!oldSelf.hasValue() || has(self.context)",
        message_expression = "'no context'",
        field_path = ".context",
        optional_old_self
    )
)]
pub struct Build {
    #[kubesmith(max_length = 100)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// No serde attributes: #[schema] keeps it off the wire when unset.
    pub dockerfile: Option<String>,
}

#[test]
fn unset_options_are_not_serialized() {
    assert_eq!(serde_json::to_value(Build::default()).unwrap(), json!({}));
    let spec = serde_json::to_value(WidgetSpec::default()).unwrap();
    assert!(spec.get("image").is_none(), "{spec}");
    assert!(
        spec.as_object().unwrap().values().all(|v| !v.is_null()),
        "{spec}"
    );
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Port {
    pub name: String,
    #[kubesmith(minimum = 1, maximum = 65535)]
    pub port: u16,
}

/// The widget's observed state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WidgetStatus {
    pub replicas: i32,
    pub selector: String,
}

fn spec_schema() -> Value {
    let crd = Widget::crd();
    serde_json::to_value(&crd.spec.versions[0].schema).unwrap()["openAPIV3Schema"]["properties"]["spec"].clone()
}

#[test]
fn numeric_string_and_list_keys() {
    let s = spec_schema();
    let p = &s["properties"];
    assert_eq!(p["replicas"]["minimum"], json!(0.0));
    assert_eq!(p["replicas"]["maximum"], json!(10.0));
    assert_eq!(p["replicas"]["exclusiveMaximum"], json!(true));
    assert_eq!(p["replicas"]["multipleOf"], json!(1.0));
    assert_eq!(p["replicas"]["description"], "Number of replicas.");
    assert_eq!(p["color"]["minLength"], 1);
    assert_eq!(p["color"]["maxLength"], 63);
    assert_eq!(p["color"]["pattern"], "^[a-z]+$");
    assert_eq!(p["color"]["enum"], json!(["red", "green"]));
    assert_eq!(
        p["color"]["x-kubernetes-validations"],
        json!([{"rule": "self == oldSelf", "message": "field is immutable"}])
    );
    assert_eq!(p["at"]["format"], "date-time");
    assert_eq!(p["at"]["title"], "When");
    assert_eq!(p["at"]["example"], "2024-01-01T00:00:00Z");
    assert_eq!(p["at"]["nullable"], true);
    assert_eq!(p["tags"]["minItems"], 1);
    assert_eq!(p["tags"]["maxItems"], 5);
    assert_eq!(p["tags"]["x-kubernetes-list-type"], "set");
    assert_eq!(p["tags"]["items"]["maxLength"], 10);
    assert_eq!(p["tags"]["items"]["pattern"], "^[a-z]+$");
    assert_eq!(p["ports"]["x-kubernetes-list-type"], "map");
    assert_eq!(p["ports"]["x-kubernetes-list-map-keys"], json!(["name"]));
    assert_eq!(
        p["ports"]["items"]["properties"]["port"]["minimum"],
        json!(1.0)
    );
    assert_eq!(
        p["ports"]["items"]["properties"]["port"]["maximum"],
        json!(65535.0)
    );
    assert_eq!(p["labels"]["minProperties"], 1);
    assert_eq!(p["labels"]["maxProperties"], 3);
    assert_eq!(p["labels"]["x-kubernetes-map-type"], "atomic");
}

#[test]
fn structural_keys() {
    let s = spec_schema();
    let p = &s["properties"];
    assert_eq!(p["template"]["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(p["template"]["x-kubernetes-embedded-resource"], true);
    assert_eq!(
        p["template"]["type"], "object",
        "the API server requires it"
    );
    assert_eq!(p["template"]["nullable"], true);
    assert_eq!(p["maxSurge"]["x-kubernetes-int-or-string"], true);
    assert_eq!(
        p["maxSurge"],
        json!({"nullable": true, "x-kubernetes-int-or-string": true})
    );
    assert_eq!(p["timeout"]["default"], 3);
    assert_eq!(
        p["extra"],
        json!({"default": {"a": 1}, "x-kubernetes-preserve-unknown-fields": true})
    );
    assert_eq!(
        p["image"]["externalDocs"],
        json!({"url": "https://example.com/image", "description": "images"})
    );
    assert_eq!(p["image"]["type"], "string");
    assert_eq!(p["image"]["x-kubernetes-map-type"], "atomic");
    let build = &p["build"];
    assert_eq!(build["minProperties"], 1);
    assert_eq!(build["properties"]["context"]["maxLength"], 100);
    assert_eq!(
        build["x-kubernetes-validations"],
        json!([{"rule": "!oldSelf.hasValue() || has(self.context)", "messageExpression": "'no context'", "fieldPath": ".context", "optionalOldSelf": true}])
    );
}

#[test]
fn type_keys_and_required() {
    let s = spec_schema();
    assert_eq!(
        s["x-kubernetes-validations"],
        json!([
            {"rule": "(has(self.image)?1:0)+(has(self.build)?1:0) == 1",
             "message": "exactly one of the fields in [image build] must be set"},
            {"rule": "self.minReplicas <= self.replicas", "message": "min exceeds replicas", "reason": "FieldValueInvalid"},
        ])
    );
    let required: Vec<&str> = s["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(required.contains(&"owner"), "{required:?}");
    assert!(required.contains(&"replicas"), "{required:?}");
    assert!(!required.contains(&"minReplicas"), "{required:?}");
    assert!(!required.contains(&"at"), "{required:?}");
}

#[test]
fn root_keys() {
    let crd = serde_json::to_value(Widget::crd()).unwrap();
    assert_eq!(
        crd["metadata"]["labels"],
        json!({"app.kubernetes.io/part-of": "widgets"})
    );
    assert_eq!(
        crd["metadata"]["annotations"],
        json!({"example.com/owner": "team-a"})
    );
    let v = &crd["spec"]["versions"][0];
    assert_eq!(
        v["additionalPrinterColumns"],
        json!([
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "description": "wanted", "format": "int32", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ])
    );
    assert_eq!(
        v["subresources"]["scale"],
        json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"})
    );
    assert_eq!(v["subresources"]["status"], json!({}));
    assert_eq!(v["selectableFields"], json!([{"jsonPath": ".spec.color"}]));
    assert_eq!(v["deprecated"], true);
    assert_eq!(v["deprecationWarning"], "use v2");
    assert_eq!(v["served"], true);
    assert_eq!(v["storage"], true);
    assert_eq!(
        v["schema"]["openAPIV3Schema"]["x-kubernetes-validations"],
        json!([{"rule": "self.metadata.name.size() <= 20", "message": "name too long",
                "reason": "FieldValueForbidden", "fieldPath": ".metadata.name"}])
    );
}

mod old {
    use super::*;

    /// `served = false`, `deprecated` without a warning.
    #[kubesmith_derive::resource(
        group = "apps.example.com",
        version = "v1beta1",
        kind = "Widget",
        namespaced,
        served = false,
        deprecated
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct WidgetSpec {
        pub replicas: i32,
    }

    #[test]
    fn served_and_deprecated() {
        let crd = serde_json::to_value(Widget::crd()).unwrap();
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["served"], false);
        assert_eq!(v["deprecated"], true);
        assert!(v.get("deprecationWarning").is_none());
    }
}

/// The CRDs are accepted by the embedded API server, which serves the kind and its scale and
/// status subresources, refuses objects that break the schema and applies its defaults; an
/// object with every optional field unset round-trips without nulls.
#[tokio::test]
async fn accepted_by_the_embedded_api_server() {
    use kube::api::{Api, PostParams};
    let env = kubesmith_envtest::Environment::start().await.unwrap();
    let mut merged = Widget::crd();
    let mut old = old::Widget::crd();
    old.spec.versions[0].storage = false;
    merged.spec.versions.append(&mut old.spec.versions);
    env.install_crds([merged]).await.unwrap();
    let api: Api<Widget> = Api::namespaced(env.client(), "default");
    let widget = Widget::new(
        "w",
        WidgetSpec {
            replicas: 2,
            color: "red".into(),
            tags: vec!["a".into()],
            labels: BTreeMap::from([("a".into(), "b".into())]),
            image: Some("nginx".into()),
            owner: Some("me".into()),
            ..Default::default()
        },
    );
    // The server validates against the derived schema: the default object breaks its rules.
    let err = api
        .create(
            &PostParams::default(),
            &Widget::new("bad", WidgetSpec::default()),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!(status.code, 422, "{status:?}");
    for field in ["spec.owner", "spec.tags", "spec.labels"] {
        assert!(
            status.message.contains(field),
            "{field}: {}",
            status.message
        );
    }
    let created = api.create(&PostParams::default(), &widget).await.unwrap();
    // The schema's defaults are applied by the server (`extra`'s default object keeps no
    // field `Build` knows).
    let defaulted = WidgetSpec {
        timeout: Some(3),
        extra: Some(Build::default()),
        ..widget.spec.clone()
    };
    assert_eq!(created.spec, defaulted);
    let scale = api.get_scale("w").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    let raw = serde_json::to_value(&widget).unwrap();
    assert!(raw["spec"].get("at").is_none(), "{raw}");
    env.stop().await;
}

mod pods {
    use super::*;

    /// kubernetes#103739: controller-gen reduces an embedded ObjectMeta to `type: object`, so
    /// the API server prunes a pod template's labels; here the template keeps them.
    #[kubesmith_derive::resource(
        group = "apps.example.com",
        version = "v1",
        kind = "Runner",
        namespaced
    )]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct RunnerSpec {
        pub template: k8s_openapi::api::core::v1::PodTemplateSpec,
    }

    #[test]
    fn pod_template_metadata_keeps_labels_and_annotations() {
        let crd = serde_json::to_value(Runner::crd()).unwrap();
        let meta = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["template"]["properties"]["metadata"];
        assert_eq!(meta["properties"]["labels"]["type"], "object", "{meta}");
        assert_eq!(
            meta["properties"]["annotations"]["type"], "object",
            "{meta}"
        );
    }
}

mod newtypes {
    use super::*;

    /// A Go type alias with markers (`type Port int32` + `+kubebuilder:validation:Minimum=1`)
    /// is a newtype with the field keys on the type.
    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(
        minimum = 1,
        maximum = 65535,
        validation(rule = "self != 22", message = "no ssh")
    )]
    pub struct Port(pub i32);

    #[kubesmith_derive::resource(group = "net.example.com", version = "v1", kind = "Listener")]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct ListenerSpec {
        pub port: Port,
        pub ports: Vec<Port>,
    }

    #[test]
    fn newtype_keys_apply_wherever_it_is_used() {
        let crd = serde_json::to_value(Listener::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        for port in [
            &spec["properties"]["port"],
            &spec["properties"]["ports"]["items"],
        ] {
            assert_eq!(port["type"], "integer", "{port}");
            assert_eq!(port["minimum"], json!(1.0), "{port}");
            assert_eq!(port["maximum"], json!(65535.0), "{port}");
            assert_eq!(
                port["x-kubernetes-validations"][0]["rule"], "self != 22",
                "{port}"
            );
        }
    }
}

mod flattened {
    use super::*;

    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct Common {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub image: Option<String>,
    }

    /// One-of names may come from a flattened struct; they cannot be checked, so they are not.
    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[kubesmith(exactly_one_of = ["image", "build"])]
    pub struct Source {
        #[serde(flatten)]
        pub common: Common,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub build: Option<String>,
    }

    #[test]
    fn one_of_over_a_flattened_field() {
        let schema = serde_json::to_value(schemars::schema_for!(Source)).unwrap();
        assert_eq!(
            schema["x-kubernetes-validations"][0]["rule"],
            "(has(self.image)?1:0)+(has(self.build)?1:0) == 1"
        );
    }
}

mod serde_defaults {
    use super::*;

    /// `#[serde(default)]` makes a field optional; unlike schemars' own output, the schema
    /// gets no `default` from the Rust `Default` (controller-gen writes none, and the API
    /// server would store it in every object), only the `default` key's.
    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    pub struct Limits {
        #[serde(default)]
        pub plain: i32,
        #[kubesmith(min_items = 1)]
        #[serde(default)]
        pub tags: Vec<String>,
        #[kubesmith(default = 5)]
        #[serde(default)]
        pub keyed: i32,
    }

    /// `#[serde(default)]` on the struct: every field is defaulted by serde.
    #[kubesmith_derive::schema]
    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default)]
    pub struct AllDefault {
        pub a: String,
        #[kubesmith(default = "x")]
        pub b: String,
    }

    #[test]
    fn serde_default_writes_no_schema_default() {
        let schema = serde_json::to_value(schemars::schema_for!(Limits)).unwrap();
        let p = &schema["properties"];
        assert!(p["plain"].get("default").is_none(), "{p}");
        assert!(p["tags"].get("default").is_none(), "{p}");
        assert_eq!(p["keyed"]["default"], 5, "{p}");
        assert!(schema.get("required").is_none(), "{schema}");
        let schema = serde_json::to_value(schemars::schema_for!(AllDefault)).unwrap();
        let p = &schema["properties"];
        assert!(p["a"].get("default").is_none(), "{p}");
        assert_eq!(p["b"]["default"], "x", "{p}");
    }
}
