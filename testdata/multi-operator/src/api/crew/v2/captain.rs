//! The Captain kind of crew.testproject.org/v2.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// EDIT THIS FILE! THIS IS SCAFFOLDING FOR YOU TO OWN!
// Run `kubesmith generate` after editing it to regenerate the CRD.

/// CaptainSpec defines the desired state of Captain.
#[kubesmith_runtime::resource(
    group = "crew.testproject.org",
    version = "v2",
    kind = "Captain",
    plural = "captains",
    namespaced,
    status = "CaptainStatus"
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptainSpec {
    /// An example field of Captain. Edit captain.rs to remove or update it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foo: Option<String>,
}

/// CaptainStatus defines the observed state of Captain.
// `#[schema]` keeps unset `Option` fields out of the JSON, so a status patch never clears
// another writer's field with a `null`.
#[kubesmith_runtime::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptainStatus {
    /// The latest observations of the Captain's state. `Ready` is True once the
    /// controller has reconciled the generation named in its `observedGeneration`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
