//! The Admiral kind of crew.testproject.org/v1.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// EDIT THIS FILE! THIS IS SCAFFOLDING FOR YOU TO OWN!
// Run `kubesmith generate` after editing it to regenerate the CRD.

/// AdmiralSpec defines the desired state of Admiral.
#[kubesmith_runtime::resource(
    group = "crew.testproject.org",
    version = "v1",
    kind = "Admiral",
    plural = "admirales",
    storage,
    status = "AdmiralStatus"
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmiralSpec {
    /// An example field of Admiral. Edit admiral.rs to remove or update it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foo: Option<String>,
}

/// AdmiralStatus defines the observed state of Admiral.
// `#[schema]` keeps unset `Option` fields out of the JSON, so a status patch never clears
// another writer's field with a `null`.
#[kubesmith_runtime::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmiralStatus {
    /// The latest observations of the Admiral's state. `Ready` is True once the
    /// controller has reconciled the generation named in its `observedGeneration`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
