//! The Redis kind of cache.example.com/v1.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// EDIT THIS FILE! THIS IS SCAFFOLDING FOR YOU TO OWN!
// Run `kubesmith generate` after editing it to regenerate the CRD.

/// RedisSpec defines the desired state of Redis.
#[kubesmith_runtime::resource(
    group = "cache.example.com",
    version = "v1",
    kind = "Redis",
    plural = "redises",
    namespaced,
    storage,
    status = "RedisStatus"
)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisSpec {
    /// An example field of Redis. Edit redis.rs to remove or update it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foo: Option<String>,
}

/// RedisStatus defines the observed state of Redis.
// `#[schema]` keeps unset `Option` fields out of the JSON, so a status patch never clears
// another writer's field with a `null`.
#[kubesmith_runtime::schema]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisStatus {
    /// The latest observations of the Redis's state. `Ready` is True once the
    /// controller has reconciled the generation named in its `observedGeneration`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
