//! Pointing webhook configurations and CRD conversion webhooks at a local webhook server,
//! as controller-runtime's envtest `WebhookInstallOptions` does: a `service` reference
//! becomes `url = endpoint + path`, and `caBundle` becomes the endpoint's CA.

use base64::Engine as _;
use serde_json::{Value, json};

/// Where the webhooks of a test or a local run are served, and the CA that signed the
/// serving certificate. See [`Environment::install_webhooks`](crate::Environment::install_webhooks).
///
/// ```
/// let endpoint = kubesmith_envtest::WebhookEndpoint {
///     url: "https://127.0.0.1:9443".into(),
///     ca_bundle: b"-----BEGIN CERTIFICATE-----\n...".to_vec(),
/// };
/// assert!(endpoint.url.starts_with("https://"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// The base URL, such as `https://127.0.0.1:9443`; service paths are appended to it.
    pub url: String,
    /// The PEM certificate(s) the server's certificate chains to.
    pub ca_bundle: Vec<u8>,
}

impl WebhookEndpoint {
    fn client_config(&self, path: &str) -> Value {
        json!({
            "url": format!("{}{path}", self.url.trim_end_matches('/')),
            "caBundle": base64::engine::general_purpose::STANDARD.encode(&self.ca_bundle),
        })
    }
}

/// Rewrites every webhook of a Mutating/ValidatingWebhookConfiguration to call `endpoint`.
pub(crate) fn point_admission(config: &mut Value, endpoint: &WebhookEndpoint) {
    let Some(webhooks) = config.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return;
    };
    for hook in webhooks {
        let cc = &mut hook["clientConfig"];
        match cc.pointer("/service/path").and_then(Value::as_str) {
            Some(path) => *cc = endpoint.client_config(path),
            None if cc.get("service").is_some() => *cc = endpoint.client_config(""),
            None => {
                cc["caBundle"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(&endpoint.ca_bundle));
            }
        }
    }
}

/// Points a CRD with `conversion.strategy: Webhook` at `endpoint` (its service path, by
/// default `/convert`); returns whether it changed anything.
pub(crate) fn point_conversion(crd: &mut Value, endpoint: &WebhookEndpoint) -> bool {
    if crd
        .pointer("/spec/conversion/strategy")
        .and_then(Value::as_str)
        != Some("Webhook")
    {
        return false;
    }
    let webhook = &mut crd["spec"]["conversion"]["webhook"];
    if !webhook.is_object() {
        *webhook = json!({ "conversionReviewVersions": ["v1"] });
    }
    let path = webhook
        .pointer("/clientConfig/service/path")
        .and_then(Value::as_str)
        .unwrap_or("/convert")
        .to_string();
    let wanted = endpoint.client_config(&path);
    if webhook.get("clientConfig") == Some(&wanted) {
        return false;
    }
    webhook["clientConfig"] = wanted;
    true
}
