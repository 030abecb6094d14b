//! The Frigate kind of ship.testproject.org/v1beta1.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// EDIT THIS FILE! THIS IS SCAFFOLDING FOR YOU TO OWN!
// Run `kubesmith generate` after editing it to regenerate the CRD.

/// FrigateSpec defines the desired state of Frigate.
#[kubesmith_runtime::resource(
    group = "ship.testproject.org",
    version = "v1beta1",
    kind = "Frigate",
    plural = "frigates",
    storage,
    status = "FrigateStatus"
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrigateSpec {
    /// An example field of Frigate. Edit frigate.rs to remove or update it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foo: Option<String>,
}

/// FrigateStatus defines the observed state of Frigate.
// `#[schema]` keeps unset `Option` fields out of the JSON, so a status patch never clears
// another writer's field with a `null`.
#[kubesmith_runtime::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrigateStatus {
    /// The latest observations of the Frigate's state. `Ready` is True once the
    /// controller has reconciled the generation named in its `observedGeneration`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
