//! Finalizers: keep an object from being deleted until the controller has cleaned up after it.
//!
//! Both helpers patch with a JSON patch that first `test`s the current finalizer list, so a
//! concurrent change by someone else makes the patch fail (HTTP 422) instead of clobbering
//! their finalizer; the reconcile then errors and retries with fresh state. Other changes to
//! the object do not make them fail.
//!
//! ```no_run
//! use kubesmith_runtime::prelude::*;
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! const FINALIZER: &str = "example.com/cleanup";
//!
//! # async fn doc(ctx: Context<ConfigMap>) -> Result<Action, ReconcileError> {
//! let Some(obj) = ctx.get() else { return Ok(Action::await_change()) };
//! if obj.meta().deletion_timestamp.is_some() {
//!     // ... clean up external resources, then let the deletion finish:
//!     finalizer::remove(&ctx.api(), &*obj, FINALIZER).await?;
//!     return Ok(Action::await_change());
//! }
//! if finalizer::add(&ctx.api(), &*obj, FINALIZER).await? {
//!     return Ok(Action::await_change()); // the update triggers the next reconcile
//! }
//! # Ok(Action::await_change())
//! # }
//! ```

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

/// Whether `obj` carries the finalizer `name`.
pub fn has<K: Resource>(obj: &K, name: &str) -> bool {
    obj.finalizers().iter().any(|f| f == name)
}

/// Adds finalizer `name` to `obj` unless it is already there; returns whether it patched.
pub async fn add<K>(api: &Api<K>, obj: &K, name: &str) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if has(obj, name) {
        return Ok(false);
    }
    let current = obj.finalizers();
    let ops = if current.is_empty() {
        // kube-apiserver's `test` of a missing member against null passes, so this guards
        // "still no finalizers" without failing on unrelated changes (as kube-runtime does).
        // An explicit empty list is tested as such.
        let none = if obj.meta().finalizers.is_some() {
            json!([])
        } else {
            json!(null)
        };
        json!([
            { "op": "test", "path": "/metadata/finalizers", "value": none },
            { "op": "add", "path": "/metadata/finalizers", "value": [name] },
        ])
    } else {
        json!([
            { "op": "test", "path": "/metadata/finalizers", "value": current },
            { "op": "add", "path": "/metadata/finalizers/-", "value": name },
        ])
    };
    patch(api, obj, ops).await?;
    Ok(true)
}

/// Removes finalizer `name` from `obj` if present; returns whether it patched.
pub async fn remove<K>(api: &Api<K>, obj: &K, name: &str) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if !has(obj, name) {
        return Ok(false);
    }
    let current = obj.finalizers();
    let remaining: Vec<&String> = current.iter().filter(|f| *f != name).collect();
    let ops = json!([
        { "op": "test", "path": "/metadata/finalizers", "value": current },
        { "op": "replace", "path": "/metadata/finalizers", "value": remaining },
    ]);
    patch(api, obj, ops).await?;
    Ok(true)
}

async fn patch<K>(api: &Api<K>, obj: &K, ops: serde_json::Value) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(kube::Error::SerdeError)?;
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Json::<()>(patch),
    )
    .await?;
    Ok(())
}
