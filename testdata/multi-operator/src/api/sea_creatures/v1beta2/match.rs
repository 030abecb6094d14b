//! The Match kind of sea-creatures.testproject.org/v1beta2.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// EDIT THIS FILE! THIS IS SCAFFOLDING FOR YOU TO OWN!
// Run `kubesmith generate` after editing it to regenerate the CRD.

/// MatchSpec defines the desired state of Match.
#[kubesmith_runtime::resource(
    group = "sea-creatures.testproject.org",
    version = "v1beta2",
    kind = "Match",
    plural = "matches",
    namespaced,
    storage,
    status = "MatchStatus"
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchSpec {
    /// An example field of Match. Edit match.rs to remove or update it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foo: Option<String>,
}

/// MatchStatus defines the observed state of Match.
// `#[schema]` keeps unset `Option` fields out of the JSON, so a status patch never clears
// another writer's field with a `null`.
#[kubesmith_runtime::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchStatus {
    /// The latest observations of the Match's state. `Ready` is True once the
    /// controller has reconciled the generation named in its `observedGeneration`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
