//! The webhook server: real AdmissionReview and ConversionReview requests over HTTPS to a
//! running manager, trusting the CA bundle it hands out.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::CustomResource;
use kubesmith_runtime::prelude::*;
use kubesmith_runtime::webhook::{
    AdmissionError, ConversionError, Convertible, Defaulter, Validator, Warnings, Webhook,
    WebhookServer,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::{Running, eventually};
use tokio_rustls::rustls;

const GROUP: &str = "webhook.kubesmith.io";
const MUTATE: &str = "/mutate-webhook-kubesmith-io-v1-gadget";
const VALIDATE: &str = "/validate-webhook-kubesmith-io-v1-gadget";

/// The hub: the storage version.
mod v1 {
    use super::*;

    #[derive(
        CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema,
    )]
    #[kube(
        group = "webhook.kubesmith.io",
        version = "v1",
        kind = "Gadget",
        namespaced
    )]
    pub struct GadgetSpec {
        pub replicas: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub color: Option<String>,
    }
}

/// A spoke with the replica count renamed.
mod v1beta1 {
    use super::*;

    #[derive(
        CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema,
    )]
    #[kube(
        group = "webhook.kubesmith.io",
        version = "v1beta1",
        kind = "Gadget",
        namespaced
    )]
    pub struct GadgetSpec {
        pub size: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub color: Option<String>,
    }
}

/// A spoke that keeps the count as text and has no color.
mod v1alpha1 {
    use super::*;

    #[derive(
        CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema,
    )]
    #[kube(
        group = "webhook.kubesmith.io",
        version = "v1alpha1",
        kind = "Gadget",
        namespaced
    )]
    pub struct GadgetSpec {
        pub count: String,
    }
}

impl Convertible<v1::Gadget> for v1beta1::Gadget {
    fn convert_to(&self) -> Result<v1::Gadget, ConversionError> {
        let spec = v1::GadgetSpec {
            replicas: self.spec.size,
            color: self.spec.color.clone(),
        };
        Ok(v1::Gadget {
            metadata: self.metadata.clone(),
            spec,
        })
    }
    fn convert_from(hub: &v1::Gadget) -> Result<Self, ConversionError> {
        let spec = v1beta1::GadgetSpec {
            size: hub.spec.replicas,
            color: hub.spec.color.clone(),
        };
        Ok(Self {
            metadata: hub.metadata.clone(),
            spec,
        })
    }
}

impl Convertible<v1::Gadget> for v1alpha1::Gadget {
    fn convert_to(&self) -> Result<v1::Gadget, ConversionError> {
        let replicas = self.spec.count.parse().map_err(|_| {
            ConversionError::new(format!("spec.count {:?} is not a number", self.spec.count))
        })?;
        // Leaves metadata empty: the webhook keeps the request's.
        Ok(v1::Gadget {
            metadata: Default::default(),
            spec: v1::GadgetSpec {
                replicas,
                color: None,
            },
        })
    }
    fn convert_from(hub: &v1::Gadget) -> Result<Self, ConversionError> {
        let mut metadata = hub.metadata.clone();
        // A conversion may change labels: record that it happened.
        metadata
            .labels
            .get_or_insert_default()
            .insert("converted".into(), "true".into());
        Ok(Self {
            metadata,
            spec: v1alpha1::GadgetSpec {
                count: hub.spec.replicas.to_string(),
            },
        })
    }
}

/// Only to show that a kind converts through one hub.
impl Convertible<v1beta1::Gadget> for v1alpha1::Gadget {
    fn convert_to(&self) -> Result<v1beta1::Gadget, ConversionError> {
        Err(ConversionError::new("v1beta1 is not the hub"))
    }
    fn convert_from(_: &v1beta1::Gadget) -> Result<Self, ConversionError> {
        Err(ConversionError::new("v1beta1 is not the hub"))
    }
}

struct GadgetWebhook;

impl Defaulter<v1::Gadget> for GadgetWebhook {
    async fn default(&self, gadget: &mut v1::Gadget) -> Result<(), AdmissionError> {
        if gadget.spec.replicas < 0 {
            return Err(AdmissionError::forbidden(
                "negative replicas cannot be defaulted",
            ));
        }
        gadget.spec.color.get_or_insert_with(|| "blue".into());
        Ok(())
    }
}

impl Validator<v1::Gadget> for GadgetWebhook {
    async fn validate_create(&self, gadget: &v1::Gadget) -> Result<Warnings, AdmissionError> {
        if gadget.spec.replicas > 10 {
            return Err(
                AdmissionError::invalid("spec.replicas", "must be at most 10")
                    .with_cause("spec.color", "must be set with many replicas")
                    .with_warning("consider a smaller gadget"),
            );
        }
        if gadget.spec.replicas == 0 {
            return Ok(vec!["a gadget without replicas does nothing".into()]);
        }
        Ok(Warnings::new())
    }
    async fn validate_update(
        &self,
        old: &v1::Gadget,
        new: &v1::Gadget,
    ) -> Result<Warnings, AdmissionError> {
        if old.spec.color != new.spec.color {
            return Err(AdmissionError::invalid(
                "spec.color",
                format!(
                    "is immutable (was {:?})",
                    old.spec.color.as_deref().unwrap_or("")
                ),
            ));
        }
        self.validate_create(new).await
    }
    async fn validate_delete(&self, gadget: &v1::Gadget) -> Result<Warnings, AdmissionError> {
        if gadget.labels().contains_key("protected") {
            return Err(AdmissionError::forbidden(format!(
                "gadget {} is protected",
                gadget.name_any()
            )));
        }
        Ok(vec![format!("deleting gadget {}", gadget.name_any())])
    }
}

/// Counts the config maps it sees at a custom path.
struct ConfigMapValidator;

impl Validator<ConfigMap> for ConfigMapValidator {
    async fn validate_create(&self, cm: &ConfigMap) -> Result<Warnings, AdmissionError> {
        Ok(vec![format!("saw config map {}", cm.name_any())])
    }
    async fn validate_update(
        &self,
        _: &ConfigMap,
        _: &ConfigMap,
    ) -> Result<Warnings, AdmissionError> {
        Ok(Warnings::new())
    }
    async fn validate_delete(&self, _: &ConfigMap) -> Result<Warnings, AdmissionError> {
        Ok(Warnings::new())
    }
}

/// A defaulter with a bug.
struct PanickingDefaulter;

impl Defaulter<ConfigMap> for PanickingDefaulter {
    async fn default(&self, cm: &mut ConfigMap) -> Result<(), AdmissionError> {
        let data = cm.data.as_ref().expect("data is always set (it is not)");
        let _ = data.len();
        Ok(())
    }
}

/// Defaults nothing, for any kind.
struct NoDefaults;

impl<K: Send> Defaulter<K> for NoDefaults {
    async fn default(&self, _: &mut K) -> Result<(), AdmissionError> {
        Ok(())
    }
}

fn options() -> Options {
    Options {
        webhook_port: 0,
        webhook_host: "127.0.0.1".parse().unwrap(),
        ..Options::default()
    }
}

fn gadget(version: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/{version}"),
        "kind": "Gadget",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                     "resourceVersion": "7", "labels": {"app": "demo"}},
        "spec": spec,
    })
}

fn admission_review(operation: &str, object: Value, old_object: Value) -> Value {
    let name = object["metadata"]["name"]
        .as_str()
        .or(old_object["metadata"]["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("review-{operation}-{name}"),
            "kind": {"group": GROUP, "version": "v1", "kind": "Gadget"},
            "resource": {"group": GROUP, "version": "v1", "resource": "gadgets"},
            "name": name,
            "namespace": "default",
            "operation": operation,
            "userInfo": {"username": "admin"},
            "object": object,
            "oldObject": old_object,
            "dryRun": false,
        }
    })
}

fn conversion_review(desired: &str, objects: Vec<Value>) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "conversion-1", "desiredAPIVersion": desired, "objects": objects},
    })
}

/// A TLS client trusting only `ca_pem`.
fn connector(ca_pem: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("PEM CA bundle")).expect("usable CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A verified TLS connection to the webhook server, and the certificate it presented.
async fn connect(
    server: &WebhookServer,
    ca_pem: &[u8],
) -> std::io::Result<(
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Vec<u8>,
)> {
    let tcp = tokio::net::TcpStream::connect(server.local_addr().await).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector(ca_pem).connect(name, tcp).await?;
    let presented = tls.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec();
    Ok((tls, presented))
}

/// POSTs `body` to `path` over HTTPS with `content_type`; the status and the JSON answer
/// (`Value::Null` if the answer is not JSON).
async fn post_raw(
    server: &WebhookServer,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    use hyper_util::rt::TokioIo;
    let ca = server.ca_bundle().await;
    let (tls, _) = connect(server, &ca).await.expect("TLS connection");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let request = hyper::Request::post(path)
        .header("host", "localhost")
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn post(server: &WebhookServer, path: &str, review: &Value) -> (u16, Value) {
    post_raw(
        server,
        path,
        "application/json",
        serde_json::to_vec(review).unwrap(),
    )
    .await
}

/// The `response` of an AdmissionReview answered with 200.
async fn admit(server: &WebhookServer, path: &str, review: &Value) -> Value {
    let (status, answer) = post(server, path, review).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1", "{answer}");
    assert_eq!(
        answer["response"]["uid"], review["request"]["uid"],
        "the response answers the request: {answer}"
    );
    answer["response"].clone()
}

/// Applies the response's JSON patch to `object`.
fn apply_patch(object: &Value, response: &Value) -> Value {
    use base64::Engine;
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("a base64 patch"))
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).expect("the patch applies to the request's object");
    patched
}

fn register(mgr: &Manager) {
    Webhook::managed_by(mgr)
        .for_::<v1::Gadget>()
        .with_defaulter(GadgetWebhook)
        .with_validator(GadgetWebhook)
        .complete()
        .unwrap();
}

#[tokio::test]
async fn admission_defaults_validates_and_is_measured() {
    let env = support::env().await;
    let mgr = support::manager(&env, options());
    register(&mgr);
    Webhook::managed_by(&mgr)
        .for_::<ConfigMap>()
        .with_validator(ConfigMapValidator)
        .with_validator_path("/custom-validate")
        .with_defaulter(PanickingDefaulter)
        .with_defaulter_path("/custom-mutate")
        .complete()
        .unwrap();
    let server = mgr.webhook_server();
    assert_eq!(
        server.paths(),
        ["/custom-mutate", "/custom-validate", MUTATE, VALIDATE]
    );
    let running = Running::start(&mgr);

    // Defaulting: the patch turns the request's object into the defaulted one, and leaves
    // fields the Rust type does not know alone.
    let mut object = gadget("v1", "plain", json!({"replicas": 2}));
    object["spec"]["futureField"] = json!("kept");
    let response = admit(
        &server,
        MUTATE,
        &admission_review("CREATE", object.clone(), Value::Null),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");
    let mut expected = object.clone();
    expected["spec"]["color"] = json!("blue");
    assert_eq!(apply_patch(&object, &response), expected);

    // Nothing to default: no patch. A dry run is answered the same way.
    let colored = gadget("v1", "colored", json!({"replicas": 2, "color": "red"}));
    let mut review = admission_review("UPDATE", colored.clone(), colored.clone());
    review["request"]["dryRun"] = json!(true);
    let response = admit(&server, MUTATE, &review).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert!(
        response.get("patch").is_none() && response.get("patchType").is_none(),
        "{response}"
    );

    // A defaulter's error denies.
    let negative = gadget("v1", "negative", json!({"replicas": -1}));
    let response = admit(
        &server,
        MUTATE,
        &admission_review("CREATE", negative, Value::Null),
    )
    .await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403, "{response}");
    assert_eq!(
        response["status"]["message"],
        "negative replicas cannot be defaulted"
    );

    // An object that does not decode into the type is denied with the decode error.
    let broken = gadget("v1", "broken", json!({"replicas": "many"}));
    let response = admit(
        &server,
        MUTATE,
        &admission_review("CREATE", broken.clone(), Value::Null),
    )
    .await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 400, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("Gadget.webhook.kubesmith.io/v1") && message.contains("invalid type"),
        "{message}"
    );

    // Validation: a denial with message, code and field causes (and the validator's warning).
    let big = gadget("v1", "big", json!({"replicas": 11}));
    let response = admit(
        &server,
        VALIDATE,
        &admission_review("CREATE", big, Value::Null),
    )
    .await;
    assert_eq!(response["allowed"], false, "{response}");
    let status = &response["status"];
    assert_eq!(status["code"], 422, "{status}");
    assert_eq!(status["reason"], "Invalid", "{status}");
    assert_eq!(
        status["message"],
        "Gadget.webhook.kubesmith.io \"big\" is invalid: [spec.replicas: must be at most 10, spec.color: must be set with many replicas]"
    );
    assert_eq!(status["details"]["name"], "big");
    assert_eq!(status["details"]["group"], GROUP);
    assert_eq!(status["details"]["kind"], "Gadget");
    assert_eq!(
        status["details"]["causes"],
        json!([
            {"reason": "FieldValueInvalid", "message": "must be at most 10", "field": "spec.replicas"},
            {"reason": "FieldValueInvalid", "message": "must be set with many replicas", "field": "spec.color"},
        ])
    );
    assert_eq!(response["warnings"], json!(["consider a smaller gadget"]));

    // Admitted with warnings.
    let idle = gadget("v1", "idle", json!({"replicas": 0}));
    let response = admit(
        &server,
        VALIDATE,
        &admission_review("CREATE", idle, Value::Null),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        response["warnings"],
        json!(["a gadget without replicas does nothing"])
    );

    // Updates see the old and the new object.
    let red = gadget("v1", "paint", json!({"replicas": 1, "color": "red"}));
    let green = gadget("v1", "paint", json!({"replicas": 1, "color": "green"}));
    let response = admit(
        &server,
        VALIDATE,
        &admission_review("UPDATE", green.clone(), red.clone()),
    )
    .await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(
        response["status"]["details"]["causes"][0]["message"],
        "is immutable (was \"red\")"
    );
    let response = admit(
        &server,
        VALIDATE,
        &admission_review("UPDATE", red.clone(), red.clone()),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");

    // Deletes validate the object being deleted, the request's oldObject.
    let mut protected = gadget("v1", "vault", json!({"replicas": 1}));
    protected["metadata"]["labels"]["protected"] = json!("yes");
    let response = admit(
        &server,
        VALIDATE,
        &admission_review("DELETE", Value::Null, protected),
    )
    .await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403, "{response}");
    assert_eq!(response["status"]["message"], "gadget vault is protected");
    let response = admit(
        &server,
        VALIDATE,
        &admission_review("DELETE", Value::Null, red),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(response["warnings"], json!(["deleting gadget paint"]));
    // Defaulting ignores deletes.
    let response = admit(
        &server,
        MUTATE,
        &admission_review("DELETE", Value::Null, green),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");

    // A custom path, for a built-in kind.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}});
    let mut review = admission_review("CREATE", cm, Value::Null);
    review["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "ConfigMap"});
    let response = admit(&server, "/custom-validate", &review).await;
    assert_eq!(response["warnings"], json!(["saw config map settings"]));
    // A panicking webhook fails its request with 500; the server goes on.
    let (status, _) = post(&server, "/custom-mutate", &review).await;
    assert_eq!(status, 500);

    // Bad requests are answered with an error; the server keeps serving.
    let (status, answer) =
        post_raw(&server, VALIDATE, "application/json", b"{not json".to_vec()).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{answer}"
    );
    let (status, answer) = post(&server, VALIDATE, &json!({"kind": "AdmissionReview"})).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = post_raw(&server, VALIDATE, "text/plain", b"{}".to_vec()).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("expected application/json"),
        "{answer}"
    );
    let (status, _) = post(&server, "/mutate-nothing-here", &json!({})).await;
    assert_eq!(status, 404);
    let idle = gadget("v1", "again", json!({"replicas": 1}));
    let response = admit(
        &server,
        VALIDATE,
        &admission_review("CREATE", idle, Value::Null),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");

    // controller-runtime's metrics, by path and HTTP code.
    let text = mgr.metrics().encode();
    for line in [
        format!("controller_runtime_webhook_requests_total{{webhook=\"{MUTATE}\",code=\"200\"}} 5"),
        format!(
            "controller_runtime_webhook_requests_total{{webhook=\"{VALIDATE}\",code=\"200\"}} 7"
        ),
        format!(
            "controller_runtime_webhook_requests_total{{webhook=\"{VALIDATE}\",code=\"400\"}} 3"
        ),
        format!("controller_runtime_webhook_requests_in_flight{{webhook=\"{VALIDATE}\"}} 0"),
        format!("controller_runtime_webhook_latency_seconds_count{{webhook=\"{MUTATE}\"}} 5"),
        "# TYPE controller_runtime_webhook_latency_seconds histogram".to_owned(),
        "controller_runtime_webhook_requests_in_flight{webhook=\"/custom-validate\"} 0".to_owned(),
        "controller_runtime_webhook_requests_total{webhook=\"/custom-mutate\",code=\"500\"} 1"
            .to_owned(),
        "controller_runtime_webhook_requests_in_flight{webhook=\"/custom-mutate\"} 0".to_owned(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("/mutate-nothing-here"),
        "unknown paths are not recorded:\n{text}"
    );

    // The server stops with the manager.
    let addr = server.local_addr().await;
    running.stop().await.unwrap();
    eventually("the webhook server to stop listening", || async {
        tokio::net::TcpStream::connect(addr)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn conversion_goes_through_the_hub() {
    let env = support::env().await;
    let mgr = support::manager(&env, options());
    Webhook::managed_by(&mgr)
        .for_::<v1::Gadget>()
        .with_conversion::<v1beta1::Gadget>()
        .with_conversion::<v1alpha1::Gadget>()
        .complete()
        .unwrap();
    let server = mgr.webhook_server();
    assert_eq!(server.paths(), ["/convert"]);
    let running = Running::start(&mgr);

    let convert = |desired: &'static str, objects: Vec<Value>| {
        let server = server.clone();
        async move {
            let review = conversion_review(desired, objects);
            let (status, answer) = post(&server, "/convert", &review).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["kind"], "ConversionReview", "{answer}");
            assert_eq!(answer["response"]["uid"], "conversion-1", "{answer}");
            answer["response"].clone()
        }
    };

    // Hub to spoke, spoke to hub, spoke to spoke, in one review; metadata is preserved.
    let hub = gadget("v1", "hub", json!({"replicas": 3, "color": "red"}));
    let beta = gadget("v1beta1", "beta", json!({"size": 4, "color": "teal"}));
    let alpha = gadget("v1alpha1", "alpha", json!({"count": "5"}));
    let response = convert(
        "webhook.kubesmith.io/v1beta1",
        vec![hub.clone(), alpha.clone(), beta.clone()],
    )
    .await;
    assert_eq!(response["result"]["status"], "Success", "{response}");
    let objects = response["convertedObjects"].as_array().unwrap();
    assert_eq!(objects.len(), 3);
    for (converted, source) in objects.iter().zip([&hub, &alpha, &beta]) {
        assert_eq!(
            converted["apiVersion"], "webhook.kubesmith.io/v1beta1",
            "{converted}"
        );
        assert_eq!(converted["kind"], "Gadget", "{converted}");
        assert_eq!(converted["metadata"], source["metadata"], "{converted}");
    }
    assert_eq!(objects[0]["spec"], json!({"size": 3, "color": "red"}));
    assert_eq!(objects[1]["spec"], json!({"size": 5}));
    assert_eq!(
        objects[2], beta,
        "an object already in the desired version is unchanged"
    );

    let response = convert("webhook.kubesmith.io/v1", vec![beta.clone(), alpha]).await;
    let objects = response["convertedObjects"].as_array().unwrap();
    assert_eq!(objects[0]["apiVersion"], "webhook.kubesmith.io/v1");
    assert_eq!(objects[0]["spec"], json!({"replicas": 4, "color": "teal"}));
    assert_eq!(objects[1]["spec"], json!({"replicas": 5}));
    assert_eq!(objects[1]["metadata"]["uid"], "uid-alpha");

    let response = convert("webhook.kubesmith.io/v1alpha1", vec![beta, hub]).await;
    let objects = response["convertedObjects"].as_array().unwrap();
    assert_eq!(objects[0]["spec"], json!({"count": "4"}));
    assert_eq!(
        objects[0]["metadata"]["labels"],
        json!({"app": "demo", "converted": "true"})
    );
    assert_eq!(objects[0]["metadata"]["uid"], "uid-beta");
    assert_eq!(objects[1]["spec"], json!({"count": "3"}));

    // Failures: the conversion's error, an unknown version, an unknown kind.
    let bad = gadget("v1alpha1", "bad", json!({"count": "lots"}));
    let response = convert("webhook.kubesmith.io/v1", vec![bad]).await;
    assert_eq!(response["result"]["status"], "Failure", "{response}");
    assert_eq!(
        response["result"]["message"],
        "spec.count \"lots\" is not a number"
    );
    assert_eq!(response["convertedObjects"], json!([]));

    let ok = gadget("v1", "ok", json!({"replicas": 1}));
    let response = convert("webhook.kubesmith.io/v2", vec![ok]).await;
    assert_eq!(response["result"]["status"], "Failure", "{response}");
    let message = response["result"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"v2\"")
            && message.contains("v1 (hub), v1alpha1 (spoke), v1beta1 (spoke)"),
        "{message}"
    );

    let mut widget = gadget("v1", "w", json!({}));
    widget["kind"] = json!("Widget");
    let response = convert("webhook.kubesmith.io/v1beta1", vec![widget]).await;
    let message = response["result"]["message"].as_str().unwrap();
    assert!(
        message.contains("Widget.webhook.kubesmith.io")
            && message.contains("Gadget.webhook.kubesmith.io"),
        "{message}"
    );

    // A body that is not a ConversionReview.
    let (status, answer) = post(&server, "/convert", &json!({"kind": "ConversionReview"})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["response"]["result"]["status"], "Failure",
        "{answer}"
    );

    let text = mgr.metrics().encode();
    assert!(
        text.contains(
            "controller_runtime_webhook_requests_total{webhook=\"/convert\",code=\"200\"} 6"
        ),
        "{text}"
    );
    running.stop().await.unwrap();
    env.stop().await;
}

/// Writes a fresh self-signed certificate for `localhost` as tls.crt/tls.key in `dir`;
/// returns its DER.
fn write_certificate(dir: &std::path::Path) -> Vec<u8> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("tls.crt"), made.cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), made.signing_key.serialize_pem()).unwrap();
    made.cert.der().to_vec()
}

#[tokio::test]
async fn certificates_come_from_the_cert_dir_and_are_reloaded() {
    let env = support::env().await;
    let dir = tempfile::tempdir().unwrap();
    let first = write_certificate(dir.path());
    let mgr = support::manager(
        &env,
        Options {
            webhook_cert_path: Some(dir.path().to_owned()),
            ..options()
        },
    );
    register(&mgr);
    let server = mgr.webhook_server();
    let running = Running::start(&mgr);

    let ca = server.ca_bundle().await;
    assert_eq!(ca, std::fs::read(dir.path().join("tls.crt")).unwrap());
    let (_, presented) = connect(&server, &ca).await.expect("trusted connection");
    assert_eq!(presented, first);

    let second = write_certificate(dir.path());
    let ca = server.ca_bundle().await;
    assert_eq!(ca, std::fs::read(dir.path().join("tls.crt")).unwrap());
    let presented = eventually(
        "a new connection to present the new certificate",
        || async {
            let (_, presented) = connect(&server, &ca).await.ok()?;
            Some(presented)
        },
    )
    .await;
    assert_eq!(presented, second);
    // And it serves over the new certificate.
    let idle = gadget("v1", "idle", json!({"replicas": 1}));
    let response = admit(
        &server,
        VALIDATE,
        &admission_review("CREATE", idle, Value::Null),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");

    // A CA next to the certificate is what clients should trust.
    std::fs::write(dir.path().join("ca.crt"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    assert_eq!(server.ca_bundle().await, b"-----BEGIN CERTIFICATE-----\n");
    running.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn a_missing_certificate_is_a_clear_startup_error() {
    let env = support::env().await;
    let dir = tempfile::tempdir().unwrap();
    let mgr = support::manager(
        &env,
        Options {
            webhook_cert_path: Some(dir.path().to_owned()),
            ..options()
        },
    );
    register(&mgr);
    let err = mgr.run_until(async {}).await.unwrap_err().to_string();
    assert!(
        err.contains("tls.crt") && err.contains("--webhook-cert-path"),
        "{err}"
    );
    env.stop().await;
}

#[tokio::test]
async fn disabled_webhooks_listen_nowhere() {
    let env = support::env().await;
    let addr = support::free_addr();
    let mgr = support::manager(
        &env,
        Options {
            enable_webhooks: false,
            webhook_host: addr.ip(),
            webhook_port: addr.port(),
            health_probe_bind_address: Some(support::free_addr()),
            ..Options::default()
        },
    );
    register(&mgr);
    let probes = mgr.options().health_probe_bind_address.unwrap();
    let running = Running::start(&mgr);
    // Ready means the manager got past starting its servers and caches.
    eventually("the manager to be ready", || async {
        let (status, _) = support::http_get_with(probes, "/readyz", &[]).await?;
        (status == 200).then_some(())
    })
    .await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "something listens on {addr}"
    );
    let server = mgr.webhook_server();
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), server.local_addr())
            .await
            .is_err(),
        "local_addr resolved for a server that is not started"
    );
    running.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn bad_registrations_are_refused_with_the_reason() {
    let env = support::env().await;
    let mgr = support::manager(&env, options());
    let err = |result: Result<(), kubesmith_runtime::Error>| result.unwrap_err().to_string();

    let text = err(Webhook::managed_by(&mgr).for_::<v1::Gadget>().complete());
    assert!(
        text.contains("Gadget.webhook.kubesmith.io/v1") && text.contains("nothing to serve"),
        "{text}"
    );

    let text = err(Webhook::managed_by(&mgr)
        .for_::<v1::Gadget>()
        .with_validator(GadgetWebhook)
        .with_defaulter_path("/custom")
        .complete());
    assert!(
        text.contains("with_defaulter_path needs with_defaulter"),
        "{text}"
    );

    let text = err(Webhook::managed_by(&mgr)
        .for_::<v1::Gadget>()
        .with_defaulter(GadgetWebhook)
        .with_defaulter_path("custom")
        .complete());
    assert!(text.contains("must start with \"/\""), "{text}");

    let text = err(Webhook::managed_by(&mgr)
        .for_::<ConfigMap>()
        .with_validator(ConfigMapValidator)
        .with_validator_path("/convert")
        .complete());
    assert!(text.contains("reserved for conversion"), "{text}");

    register(&mgr);
    let text = err(Webhook::managed_by(&mgr)
        .for_::<v1::Gadget>()
        .with_validator(GadgetWebhook)
        .complete());
    assert!(
        text.contains(VALIDATE) && text.contains("another webhook"),
        "{text}"
    );

    // Spokes must be other versions of the hub's kind; a kind has one hub.
    Webhook::managed_by(&mgr)
        .for_::<v1::Gadget>()
        .with_conversion::<v1beta1::Gadget>()
        .complete()
        .unwrap();
    let text = err(Webhook::managed_by(&mgr)
        .for_::<v1::Gadget>()
        .with_conversion::<v1beta1::Gadget>()
        .complete());
    assert!(text.contains("already registered"), "{text}");
    let text = err(Webhook::managed_by(&mgr)
        .for_::<v1::Gadget>()
        .with_conversion::<v1alpha1::Gadget>()
        .with_conversion::<v1alpha1::Gadget>()
        .complete());
    assert!(text.contains("version v1alpha1 is given twice"), "{text}");
    // Refused as a whole: its defaulter is not served either.
    let text = err(Webhook::managed_by(&mgr)
        .for_::<v1beta1::Gadget>()
        .with_defaulter(NoDefaults)
        .with_conversion::<v1alpha1::Gadget>()
        .complete());
    assert!(text.contains("hub version v1"), "{text}");
    assert_eq!(mgr.webhook_server().paths(), ["/convert", MUTATE, VALIDATE]);
    env.stop().await;
}

const CHILD: &str = "KUBESMITH_TEST_CHILD";

/// Environment variables are process-wide (and setting them is `unsafe`): this test re-runs
/// itself as a child process with `ENABLE_WEBHOOKS` and `TMPDIR` set.
#[tokio::test]
async fn the_environment_disables_webhooks_and_provides_the_default_cert_dir() {
    const TEST: &str = "the_environment_disables_webhooks_and_provides_the_default_cert_dir";
    if std::env::var(CHILD).is_ok_and(|t| t == TEST) {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            flags: Flags,
        }
        let parsed = Cli::try_parse_from(["operator"])
            .unwrap()
            .flags
            .options()
            .unwrap();
        assert!(!parsed.enable_webhooks, "ENABLE_WEBHOOKS=false is read");
        let parsed = Cli::try_parse_from(["operator", "--enable-webhooks=true"])
            .unwrap()
            .flags
            .options()
            .unwrap();
        assert!(parsed.enable_webhooks, "the flag wins over the environment");

        // controller-runtime's default directory, under $TMPDIR, is used when it holds both files.
        let dir = std::env::temp_dir()
            .join("k8s-webhook-server")
            .join("serving-certs");
        std::fs::create_dir_all(&dir).unwrap();
        let written = write_certificate(&dir);
        let env = support::env().await;
        let mgr = support::manager(&env, options());
        register(&mgr);
        let server = mgr.webhook_server();
        let running = Running::start(&mgr);
        let ca = server.ca_bundle().await;
        assert_eq!(ca, std::fs::read(dir.join("tls.crt")).unwrap());
        let (_, presented) = connect(&server, &ca).await.expect("trusted connection");
        assert_eq!(presented, written);
        running.stop().await.unwrap();
        env.stop().await;
        eprintln!("child: checked");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    run_child(
        TEST,
        &[
            ("ENABLE_WEBHOOKS", "false".as_ref()),
            ("TMPDIR", tmp.path().as_os_str()),
        ],
    );
}

/// Runs `test` of this binary in a child process with `env` set; fails unless the child ran
/// it and it passed.
fn run_child(test: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("child: checked"),
        "the child did not run the test:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// In a child process with an empty `$TMPDIR`, so that the default certificate directory
/// starts empty.
#[tokio::test]
async fn a_self_signed_certificate_is_made_for_localhost_and_written_for_local_runs() {
    const TEST: &str = "a_self_signed_certificate_is_made_for_localhost_and_written_for_local_runs";
    if !std::env::var(CHILD).is_ok_and(|t| t == TEST) {
        let tmp = tempfile::tempdir().unwrap();
        run_child(TEST, &[("TMPDIR", tmp.path().as_os_str())]);
        return;
    }
    let env = support::env().await;
    // All interfaces, as by default: reached at the loopback address.
    let mgr = support::manager(
        &env,
        Options {
            webhook_host: "0.0.0.0".parse().unwrap(),
            ..options()
        },
    );
    register(&mgr);
    let server = mgr.webhook_server();
    let running = Running::start(&mgr);
    let ca = server.ca_bundle().await;
    assert!(String::from_utf8_lossy(&ca).starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        server.local_addr().await.ip(),
        std::net::Ipv4Addr::LOCALHOST
    );
    // Verified against the bundle as `localhost`, and it is the certificate served.
    let (_, presented) = connect(&server, &ca).await.expect("trusted connection");
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    assert_eq!(
        CertificateDer::from_pem_slice(&ca).unwrap().to_vec(),
        presented
    );
    // Written where a local `kubesmith envtest serve --webhooks` looks for the CA.
    let dir = std::env::temp_dir()
        .join("k8s-webhook-server")
        .join("serving-certs");
    assert_eq!(std::fs::read(dir.join("tls.crt")).unwrap(), ca);
    assert!(dir.join("tls.key").is_file());
    running.stop().await.unwrap();
    env.stop().await;
    eprintln!("child: checked");
}

#[tokio::test]
async fn a_standby_replica_serves_webhooks_too() {
    use k8s_openapi::api::coordination::v1::Lease;
    let env = support::env().await;
    let replica = || {
        support::manager(
            &env,
            Options {
                leader_election: true,
                leader_election_id: Some("gadget-operator-leader".into()),
                leader_election_namespace: Some("default".into()),
                retry_period: std::time::Duration::from_millis(200),
                ..options()
            },
        )
    };
    let leader = replica();
    register(&leader);
    let leading = Running::start(&leader);
    let leases: Api<Lease> = Api::namespaced(env.client(), "default");
    let holder = || async {
        let lease = leases.get_opt("gadget-operator-leader").await.ok()??;
        lease.spec?.holder_identity
    };
    eventually("the first replica to lead", || async {
        (holder().await? == leader.identity()).then_some(())
    })
    .await;

    let standby = replica();
    register(&standby);
    let waiting = Running::start(&standby);
    let server = standby.webhook_server();
    let idle = gadget("v1", "idle", json!({"replicas": 1}));
    let review = admission_review("CREATE", idle, Value::Null);
    // Times out, rather than hanging, if the server waited for leadership.
    let response = tokio::time::timeout(support::DEADLINE, admit(&server, VALIDATE, &review))
        .await
        .expect("the standby serves webhooks");
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        holder().await.as_deref(),
        Some(leader.identity()),
        "the standby answered without leading"
    );
    waiting.stop().await.unwrap();
    leading.stop().await.unwrap();
    env.stop().await;
}

/// A TLS connection offering only HTTP/2 through ALPN.
async fn connect_h2(
    server: &WebhookServer,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&server.ca_bundle().await) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.local_addr().await).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

#[tokio::test]
async fn http2_is_served_only_with_enable_http2() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let env = support::env().await;
    let off = support::manager(&env, options());
    register(&off);
    let on = support::manager(
        &env,
        Options {
            enable_http2: true,
            ..options()
        },
    );
    register(&on);
    let (running_off, running_on) = (Running::start(&off), Running::start(&on));

    assert!(
        connect_h2(&off.webhook_server()).await.is_err(),
        "HTTP/2 was negotiated without enable_http2"
    );

    let tls = connect_h2(&on.webhook_server()).await.expect("h2 over TLS");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let idle = gadget("v1", "idle", json!({"replicas": 1}));
    let review = admission_review("CREATE", idle, Value::Null);
    let request = hyper::Request::post(format!("https://localhost{VALIDATE}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&review).unwrap())))
        .unwrap();
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");

    running_off.stop().await.unwrap();
    running_on.stop().await.unwrap();
    env.stop().await;
}
