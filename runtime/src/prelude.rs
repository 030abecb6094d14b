//! Everything generated operator code uses: `use kubesmith_runtime::prelude::*;`.

pub use std::sync::Arc;
pub use std::time::Duration;

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
pub use kube::api::{Patch, PatchParams};
pub use kube::{Api, Resource, ResourceExt};

pub use crate::cache::ObjectKey;
pub use crate::controller::{Action, Context, Controller, ReconcileError, Reconciler, Request};
pub use crate::events::{EventType, Recorder};
pub use crate::manager::{Flags, Manager, Options};
pub use crate::webhook::{
    AdmissionError, ConversionError, Convertible, Defaulter, Validator, Warnings, Webhook,
};
pub use crate::{conditions, finalizer, predicate};
