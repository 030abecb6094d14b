//! Custom resources against their CRD's `openAPIV3Schema`, as kube-apiserver's apiextensions
//! server treats them: structural-schema checks on the CRD itself, pruning of unknown fields
//! (reported per `fieldValidation`), defaulting, and validation with kube-openapi's messages
//! and field paths in a 422 `Invalid` Status, on every write path (create, update, merge and
//! JSON patch, server-side apply, `/status`), for each served version's own schema.

mod common;

use common::api_error;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kubesmith_envtest::Environment;
use serde_json::{Value, json};

const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";
const RULES: &str = "x-kubernetes-validations";

fn widget_schema(min_size: bool) -> Value {
    let mut size = json!({ "type": "integer", "maximum": 10 });
    if min_size {
        size["minimum"] = json!(1);
    }
    json!({ "type": "object", "properties": {
        "spec": { "type": "object", "required": ["size"], "properties": {
            "size": size,
            "mode": { "type": "string", "enum": ["fast", "slow"], "default": "fast" },
            "image": { "type": "string", "pattern": "^[a-z]+:[0-9.]+$" },
            "port": { "x-kubernetes-int-or-string": true },
            "tags": { "type": "array", "maxItems": 3, "x-kubernetes-list-type": "set", "items": { "type": "string" } },
            "ports": { "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": { "type": "object", "required": ["name"], "properties": {
                    "name": { "type": "string" }, "port": { "type": "integer" },
                    "protocol": { "type": "string", "default": "TCP" } } } },
            "probe": { "type": "object", "properties": { "period": { "type": "integer", "default": 10 } } },
            "config": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
            "template": { "type": "object", "x-kubernetes-embedded-resource": true,
                          "x-kubernetes-preserve-unknown-fields": true }
        } },
        "status": { "type": "object", "properties": { "ready": { "type": "boolean" } } }
    } })
}

/// `Widget` in example.com: v1 (storage) requires `spec.size >= 1`; v1beta1 (served) does not.
fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": { "plural": "widgets", "kind": "Widget" },
            "versions": [
                { "name": "v1", "served": true, "storage": true, "subresources": { "status": {} },
                  "schema": { "openAPIV3Schema": widget_schema(true) } },
                { "name": "v1beta1", "served": true, "storage": false, "subresources": { "status": {} },
                  "schema": { "openAPIV3Schema": widget_schema(false) } }
            ]
        }
    }))
    .expect("valid CRD")
}

fn widgets_at(client: kube::Client, version: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", version, "Widget"),
        "widgets",
    );
    Api::namespaced_with(client, "default", &ar)
}

fn widgets(env: &Environment) -> Api<DynamicObject> {
    widgets_at(env.client(), "v1")
}

fn beta_widget(name: &str, spec: Value) -> DynamicObject {
    let mut w = widget(name, spec);
    w.types.as_mut().unwrap().api_version = "example.com/v1beta1".into();
    w
}

fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": name }, "spec": spec
    }))
    .expect("valid object")
}

async fn env() -> Environment {
    Environment::builder()
        .crds([widget_crd()])
        .start()
        .await
        .unwrap()
}

/// One request through the environment's client: status code, `Warning` headers, JSON body.
async fn send(
    env: &Environment,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Vec<String>, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    let resp = env.client().send(req.map(Into::into)).await.unwrap();
    let status = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), usize::MAX)
        .await
        .unwrap();
    (status, warnings, serde_json::from_slice(&bytes).unwrap())
}

/// The causes of a 422 as `field: message`, in the server's order.
fn causes(status: &kube::core::Status) -> Vec<String> {
    status
        .details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect()
        })
        .unwrap_or_default()
}

async fn create_err(env: &Environment, spec: Value) -> kube::core::Status {
    api_error(
        widgets(env)
            .create(&PostParams::default(), &widget("w", spec))
            .await
            .unwrap_err(),
    )
}

// --- The CRD itself (apiextensions validation.go, schema/validation.go ValidateStructural) ---

#[tokio::test]
async fn crd_schema_must_be_structural_properties_need_a_type() {
    let env = Environment::start().await.unwrap();
    let mut crd = widget_crd();
    crd.spec.versions.truncate(1);
    crd.spec.versions[0].schema = Some(
        serde_json::from_value(json!({ "openAPIV3Schema": {
            "type": "object", "properties": { "spec": { "properties": { "size": { "type": "integer" } } } }
        } }))
        .unwrap(),
    );
    let crds: Api<CustomResourceDefinition> = Api::all(env.client());
    let err = api_error(crds.create(&PostParams::default(), &crd).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        err.message,
        "CustomResourceDefinition.apiextensions.k8s.io \"widgets.example.com\" is invalid: \
         spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: \
         must not be empty for specified object fields"
    );
    let cause = &err.details.as_ref().unwrap().causes[0];
    assert_eq!(cause.reason, "FieldValueRequired");
    assert_eq!(
        cause.field,
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type"
    );
    // Nothing was stored, so nothing is served.
    assert!(crds.get_opt("widgets.example.com").await.unwrap().is_none());
    env.stop().await;
}

#[tokio::test]
async fn crd_schema_refuses_unique_items_and_additional_properties_false_on_update_too() {
    let env = env().await;
    let crds: Api<CustomResourceDefinition> = Api::all(env.client());
    let mut crd = crds.get("widgets.example.com").await.unwrap();
    let mut schema = widget_schema(true);
    schema["properties"]["spec"]["properties"]["tags"]["uniqueItems"] = json!(true);
    schema["properties"]["spec"]["properties"]["closed"] =
        json!({ "type": "object", "additionalProperties": false });
    crd.spec.versions[0].schema =
        Some(serde_json::from_value(json!({ "openAPIV3Schema": schema })).unwrap());
    let err = api_error(
        crds.replace("widgets.example.com", &PostParams::default(), &crd)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        causes(&err),
        [
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[closed].additionalProperties: \
             Forbidden: additionalProperties cannot be set to false",
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[tags].uniqueItems: \
             Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ]
    );
    env.stop().await;
}

#[tokio::test]
async fn crd_versions_need_schemas() {
    let env = Environment::start().await.unwrap();
    let mut crd = widget_crd();
    crd.spec.versions[1].schema = None;
    let crds: Api<CustomResourceDefinition> = Api::all(env.client());
    let err = api_error(crds.create(&PostParams::default(), &crd).await.unwrap_err());
    assert_eq!(
        causes(&err),
        ["spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required"]
    );
    env.stop().await;
}

#[tokio::test]
async fn crd_cel_rules_must_compile() {
    let env = Environment::start().await.unwrap();
    let mut crd = serde_json::to_value(widget_crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][RULES] =
        json!([{ "rule": "self.size <" }]);
    let (code, _, status) = send(
        &env,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd,
    )
    .await;
    assert_eq!(code, 422, "{status}");
    let cause = &status["details"]["causes"][0];
    assert_eq!(
        cause["field"],
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    );
    assert!(
        cause["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value: \"self.size <\": compilation failed: "),
        "{status}"
    );
    env.stop().await;
}

// --- Validation (kube-openapi messages via kubeOpenAPIResultToFieldErrors) ---

#[tokio::test]
async fn minimum_violation_is_422_with_field_path_and_kube_openapi_message() {
    let env = env().await;
    let err = create_err(&env, json!({ "size": 0 })).await;
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        err.message,
        "Widget.example.com \"w\" is invalid: spec.size: Invalid value: 0: \
         spec.size in body should be greater than or equal to 1"
    );
    let details = err.details.as_ref().unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("w", "example.com", "Widget")
    );
    assert_eq!(details.causes[0].reason, "FieldValueInvalid");
    assert_eq!(details.causes[0].field, "spec.size");
    assert!(widgets(&env).get_opt("w").await.unwrap().is_none());
    env.stop().await;
}

#[tokio::test]
async fn several_errors_are_aggregated_in_one_invalid() {
    let env = env().await;
    let err = create_err(
        &env,
        json!({ "size": "big", "mode": "turbo", "image": "Nginx", "tags": ["a", "b", "c", "d"] }),
    )
    .await;
    let mut got = causes(&err);
    got.sort();
    assert_eq!(
        got,
        [
            "spec.image: Invalid value: \"Nginx\": spec.image in body should match '^[a-z]+:[0-9.]+$'",
            "spec.mode: Unsupported value: \"turbo\": supported values: \"fast\", \"slow\"",
            "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"",
            "spec.tags: Too many: 4: must have at most 3 items",
        ]
    );
    assert!(err.message.contains(" is invalid: ["), "{}", err.message);
    let reasons: Vec<&str> = err
        .details
        .as_ref()
        .unwrap()
        .causes
        .iter()
        .map(|c| c.reason.as_str())
        .collect();
    for r in [
        "FieldValueTypeInvalid",
        "FieldValueNotSupported",
        "FieldValueTooMany",
        "FieldValueInvalid",
    ] {
        assert!(reasons.contains(&r), "{reasons:?}");
    }
    env.stop().await;
}

#[tokio::test]
async fn required_fields_are_required() {
    let env = env().await;
    let err = create_err(&env, json!({ "mode": "slow" })).await;
    assert_eq!(causes(&err), ["spec.size: Required value"]);
    assert_eq!(err.details.unwrap().causes[0].reason, "FieldValueRequired");
    env.stop().await;
}

#[tokio::test]
async fn int_or_string_accepts_integers_and_strings_only() {
    let env = env().await;
    let api = widgets(&env);
    api.create(
        &PostParams::default(),
        &widget("num", json!({ "size": 1, "port": 8080 })),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &widget("name", json!({ "size": 1, "port": "http" })),
    )
    .await
    .unwrap();
    let err = create_err(&env, json!({ "size": 1, "port": 1.5 })).await;
    assert_eq!(
        causes(&err),
        [
            "spec.port: Invalid value: \"number\": spec.port in body must be of type integer,string: \"number\""
        ]
    );
    env.stop().await;
}

#[tokio::test]
async fn list_type_set_and_map_keys_must_be_unique() {
    let env = env().await;
    let err = create_err(
        &env,
        json!({ "size": 1, "tags": ["a", "a"],
                "ports": [{ "name": "http", "port": 80 }, { "name": "http", "port": 81 }] }),
    )
    .await;
    let mut got = causes(&err);
    got.sort();
    assert_eq!(
        got,
        [
            "spec.ports[1]: Duplicate value: map[string]interface {}{\"name\":\"http\"}",
            "spec.tags[1]: Duplicate value: \"a\"",
        ]
    );
    env.stop().await;
}

#[tokio::test]
async fn updates_patches_apply_and_status_are_validated() {
    let env = env().await;
    let api = widgets(&env);
    let created = api
        .create(&PostParams::default(), &widget("w", json!({ "size": 2 })))
        .await
        .unwrap();
    let expected =
        "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10";

    let mut too_big = created.clone();
    too_big.data["spec"]["size"] = json!(11);
    let err = api_error(
        api.replace("w", &PostParams::default(), &too_big)
            .await
            .unwrap_err(),
    );
    assert_eq!(causes(&err), [expected]);

    let merge = Patch::Merge(json!({ "spec": { "size": 11 } }));
    let err = api_error(
        api.patch("w", &PatchParams::default(), &merge)
            .await
            .unwrap_err(),
    );
    assert_eq!(causes(&err), [expected]);

    let json_patch: Patch<()> = Patch::Json(
        serde_json::from_value(json!([{ "op": "replace", "path": "/spec/size", "value": 11 }]))
            .unwrap(),
    );
    let err = api_error(
        api.patch("w", &PatchParams::default(), &json_patch)
            .await
            .unwrap_err(),
    );
    assert_eq!(causes(&err), [expected]);

    let apply = Patch::Apply(json!({ "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": { "name": "w" }, "spec": { "size": 11 } }));
    let err = api_error(
        api.patch("w", &PatchParams::apply("test").force(), &apply)
            .await
            .unwrap_err(),
    );
    assert_eq!(causes(&err), [expected]);

    let status = Patch::Merge(json!({ "status": { "ready": "yes" } }));
    let err = api_error(
        api.patch_status("w", &PatchParams::default(), &status)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        causes(&err),
        [
            "status.ready: Invalid value: \"string\": status.ready in body must be of type boolean: \"string\""
        ]
    );

    // Nothing of the above was stored.
    let now = api.get("w").await.unwrap();
    assert_eq!(now.data["spec"]["size"], 2);
    assert_eq!(
        now.metadata.resource_version,
        created.metadata.resource_version
    );
    env.stop().await;
}

// --- Defaulting (schema/defaulting algorithm.go) ---

#[tokio::test]
async fn defaults_apply_on_create_and_update_and_inside_existing_parents_only() {
    let env = env().await;
    let api = widgets(&env);
    let created = api
        .create(
            &PostParams::default(),
            &widget(
                "w",
                json!({ "size": 1, "ports": [{ "name": "http", "port": 80 }] }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.data["spec"]["mode"], "fast");
    assert_eq!(created.data["spec"]["ports"][0]["protocol"], "TCP");
    // `probe` has no default of its own, so its `period` default waits for it to exist.
    assert!(created.data["spec"].get("probe").is_none());

    let mut updated = created.clone();
    updated.data["spec"] = json!({ "size": 1, "probe": {} });
    let updated = api
        .replace("w", &PostParams::default(), &updated)
        .await
        .unwrap();
    assert_eq!(updated.data["spec"]["mode"], "fast");
    assert_eq!(updated.data["spec"]["probe"], json!({ "period": 10 }));
    assert_eq!(
        api.get("w").await.unwrap().data["spec"]["probe"]["period"],
        10
    );
    env.stop().await;
}

#[tokio::test]
async fn defaults_added_to_a_crd_apply_when_stored_objects_are_read() {
    let env = env().await;
    let api = widgets(&env);
    api.create(&PostParams::default(), &widget("old", json!({ "size": 1 })))
        .await
        .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(env.client());
    let mut crd = crds.get("widgets.example.com").await.unwrap();
    let mut schema = widget_schema(true);
    schema["properties"]["spec"]["properties"]["replicas"] =
        json!({ "type": "integer", "default": 3 });
    crd.spec.versions[0].schema =
        Some(serde_json::from_value(json!({ "openAPIV3Schema": schema })).unwrap());
    crds.replace("widgets.example.com", &PostParams::default(), &crd)
        .await
        .unwrap();
    assert_eq!(api.get("old").await.unwrap().data["spec"]["replicas"], 3);
    let listed = api.list(&Default::default()).await.unwrap();
    assert_eq!(listed.items[0].data["spec"]["replicas"], 3);
    env.stop().await;
}

// --- Pruning and fieldValidation (customresource_handler.go unstructuredSchemaCoercer) ---

#[tokio::test]
async fn unknown_fields_are_pruned_with_a_warning_by_default() {
    let env = env().await;
    let body = json!({ "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": { "name": "w", "bogus": true },
        "spec": { "size": 1, "sise": 2, "ports": [{ "name": "a", "extra": 1 }] } });
    let (code, warnings, created) = send(&env, "POST", WIDGETS, body).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        warnings,
        [
            "299 - \"unknown field \\\"metadata.bogus\\\"\"",
            "299 - \"unknown field \\\"spec.ports[0].extra\\\"\"",
            "299 - \"unknown field \\\"spec.sise\\\"\"",
        ]
    );
    let stored = widgets(&env).get("w").await.unwrap();
    assert!(stored.data["spec"].get("sise").is_none());
    assert_eq!(
        stored.data["spec"]["ports"][0],
        json!({ "name": "a", "protocol": "TCP" })
    );
    env.stop().await;
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields_with_400() {
    let env = env().await;
    let body = json!({ "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": { "name": "w" }, "spec": { "size": 1, "foo": 1 } });
    let (code, _, status) = send(
        &env,
        "POST",
        &format!("{WIDGETS}?fieldValidation=Strict"),
        body.clone(),
    )
    .await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(status["reason"], "BadRequest");
    assert_eq!(
        status["message"],
        "strict decoding error: unknown field \"spec.foo\""
    );
    let (code, warnings, _) = send(
        &env,
        "POST",
        &format!("{WIDGETS}?fieldValidation=Ignore"),
        body,
    )
    .await;
    assert_eq!(code, 201);
    assert!(warnings.is_empty(), "{warnings:?}");
    // Strict also holds for patches.
    let err = api_error(
        widgets(&env)
            .patch(
                "w",
                &PatchParams::default().validation_strict(),
                &Patch::Merge(json!({ "spec": { "bar": 1 } })),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "strict decoding error: unknown field \"spec.bar\""
    );
    env.stop().await;
}

#[tokio::test]
async fn preserve_unknown_fields_and_embedded_resources_keep_what_they_should() {
    let env = env().await;
    let created = widgets(&env)
        .create(
            &PostParams::default(),
            &widget(
                "w",
                json!({ "size": 1,
                "config": { "anything": { "goes": [1, 2] } },
                "template": { "apiVersion": "v1", "kind": "Pod",
                              "metadata": { "labels": { "app": "w" }, "notMeta": 1 },
                              "spec": { "containers": [] } } }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        created.data["spec"]["config"],
        json!({ "anything": { "goes": [1, 2] } })
    );
    assert_eq!(
        created.data["spec"]["template"],
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "labels": { "app": "w" } },
                "spec": { "containers": [] } })
    );
    env.stop().await;
}

// --- Several versions, one storage version, conversion None ---

#[tokio::test]
async fn each_version_validates_with_its_own_schema_and_shares_storage() {
    let env = env().await;
    let beta = widgets_at(env.client(), "v1beta1");
    let mut w = widget("w", json!({ "size": 0 }));
    w.types.as_mut().unwrap().api_version = "example.com/v1beta1".into();
    // v1beta1 has no minimum, so size 0 is valid there.
    let created = beta.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(created.types.unwrap().api_version, "example.com/v1beta1");
    let via_v1 = widgets(&env).get("w").await.unwrap();
    assert_eq!(via_v1.types.unwrap().api_version, "example.com/v1");
    assert_eq!(via_v1.data["spec"]["size"], 0);
    assert_eq!(via_v1.data["spec"]["mode"], "fast");
    // A write through v1 must satisfy v1's schema where it changes something (unchanged
    // values ratchet, see `unchanged_invalid_values_are_ratcheted_on_update`).
    let err = api_error(
        widgets(&env)
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "size": -3 } })),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        causes(&err),
        ["spec.size: Invalid value: -3: spec.size in body should be greater than or equal to 1"]
    );
    env.stop().await;
}

// --- CEL x-kubernetes-validations (apiextensions schema/cel validation.go) ---

/// The Widget CRD with rules on `spec`: a plain rule with a message, one with
/// messageExpression, reason and fieldPath, and a transition rule.
async fn env_with_rules(rules: Value) -> Environment {
    let mut crd = serde_json::to_value(widget_crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][RULES] = rules;
    let crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
    Environment::builder().crds([crd]).start().await.unwrap()
}

#[tokio::test]
async fn cel_rule_failure_is_422_with_the_rule_message() {
    let env = env_with_rules(json!([
        { "rule": "self.size <= 5 || self.mode == 'slow'", "message": "big widgets must be slow" },
        { "rule": "!has(self.image) || self.image.startsWith('registry')",
          "messageExpression": "'image ' + self.image + ' is not from the registry'",
          "reason": "FieldValueForbidden", "fieldPath": ".image" }
    ]))
    .await;
    let api = widgets(&env);
    api.create(
        &PostParams::default(),
        &widget("ok", json!({ "size": 8, "mode": "slow" })),
    )
    .await
    .unwrap();
    let err = create_err(&env, json!({ "size": 8, "image": "nginx:1.0" })).await;
    assert_eq!(err.code, 422);
    assert_eq!(
        causes(&err),
        [
            "spec: Invalid value: \"object\": big widgets must be slow",
            "spec.image: Forbidden: image nginx:1.0 is not from the registry",
        ]
    );
    let reasons: Vec<String> = err
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| c.reason)
        .collect();
    assert_eq!(reasons, ["FieldValueInvalid", "FieldValueForbidden"]);
    // The rules also hold for patches.
    let err = api_error(
        api.patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "mode": "fast" } })),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        causes(&err),
        ["spec: Invalid value: \"object\": big widgets must be slow"]
    );
    env.stop().await;
}

#[tokio::test]
async fn cel_transition_rules_compare_with_old_self_on_update_only() {
    let env = env_with_rules(json!([
        { "rule": "self.size >= oldSelf.size", "message": "size may not shrink" }
    ]))
    .await;
    let api = widgets(&env);
    api.create(&PostParams::default(), &widget("w", json!({ "size": 5 })))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "size": 6 } })),
    )
    .await
    .unwrap();
    let err = api_error(
        api.patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "size": 2 } })),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        causes(&err),
        ["spec: Invalid value: \"object\": size may not shrink"]
    );
    env.stop().await;
}

#[tokio::test]
async fn cel_rule_with_an_unsupported_function_fails_closed_naming_it() {
    let env = env_with_rules(json!([{ "rule": "isURL(self.image)" }])).await;
    let err = create_err(&env, json!({ "size": 1, "image": "nginx:1.0" })).await;
    assert_eq!(err.code, 422);
    let got = causes(&err);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            "spec: Invalid value: \"object\": rule \"isURL(self.image)\" could not be evaluated: "
        ) && got[0].contains("isURL"),
        "{got:?}"
    );
    assert!(widgets(&env).get_opt("w").await.unwrap().is_none());
    env.stop().await;
}

/// Validation ratcheting (kube-apiserver 1.30+, KEP-4008): an update is not rejected for an
/// invalid value it leaves unchanged. The widget is stored through v1beta1 (no minimum) and
/// updated through v1 (`minimum: 1`), as after a CRD tightened its schema.
#[tokio::test]
async fn unchanged_invalid_values_are_ratcheted_on_update() {
    let env = env().await;
    widgets_at(env.client(), "v1beta1")
        .create(
            &PostParams::default(),
            &beta_widget("w", json!({ "size": 0 })),
        )
        .await
        .unwrap();
    let api = widgets(&env);
    let patch = |p: Value| async {
        api.patch("w", &PatchParams::default(), &Patch::Merge(p))
            .await
    };
    // The invalid spec.size is untouched: metadata and other spec fields may change.
    patch(json!({ "metadata": { "labels": { "a": "b" } } }))
        .await
        .unwrap();
    patch(json!({ "spec": { "mode": "slow" } })).await.unwrap();
    // Changing it to another invalid value is rejected, as is a create with it.
    let err = api_error(patch(json!({ "spec": { "size": -1 } })).await.unwrap_err());
    assert_eq!(
        causes(&err),
        ["spec.size: Invalid value: -1: spec.size in body should be greater than or equal to 1"]
    );
    let err = api
        .create(
            &PostParams::default(),
            &widget("fresh", json!({ "size": 0 })),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 422);
    env.stop().await;
}

/// CEL rules without `oldSelf` ratchet too: the rule's value (here `spec`) unchanged, the
/// update passes; any change to it runs the rule again.
#[tokio::test]
async fn cel_rules_ratchet_on_unchanged_values() {
    let env = env_with_rules(json!([
        { "rule": "self.size <= 5 || self.mode == 'slow'", "message": "big widgets must be slow" }
    ]))
    .await;
    widgets_at(env.client(), "v1beta1")
        .create(
            &PostParams::default(),
            &beta_widget("w", json!({ "size": 8, "mode": "fast" })),
        )
        .await
        .unwrap();
    let api = widgets(&env);
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "a": "b" } } })),
    )
    .await
    .unwrap();
    let err = api_error(
        api.patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "image": "nginx:1.0" } })),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        causes(&err),
        ["spec: Invalid value: \"object\": big widgets must be slow"]
    );
    env.stop().await;
}
