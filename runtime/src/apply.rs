//! Writing children: create-or-update reporting what happened, server-side apply with the
//! controller's field manager, and client-go's slow-start batches for creating many objects.
//!
//! ```no_run
//! use kubesmith_runtime::prelude::*;
//! use kubesmith_runtime::apply::{self, Outcome};
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::ObjectMeta;
//!
//! # async fn doc(api: Api<ConfigMap>) -> Result<(), kubesmith_runtime::apply::CreateOrUpdateError> {
//! let skeleton = ConfigMap {
//!     metadata: ObjectMeta { name: Some("web-config".into()), ..ObjectMeta::default() },
//!     ..ConfigMap::default()
//! };
//! let (cm, outcome) = apply::create_or_update(&api, skeleton, |cm| {
//!     cm.data.get_or_insert_with(Default::default).insert("color".into(), "blue".into());
//! }).await?;
//! if outcome != Outcome::Unchanged {
//!     tracing::info!(?outcome, name = %cm.name_any(), "config map written");
//! }
//! # Ok(()) }
//! ```

use std::fmt::Debug;

use futures::future::join_all;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What [`create_or_update`] did (controller-runtime's `OperationResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The object did not exist and was created.
    Created,
    /// The object existed and `mutate` changed it; it was updated.
    Updated,
    /// The object existed and `mutate` changed nothing; nothing was written.
    Unchanged,
}

/// Why [`create_or_update`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateOrUpdateError {
    /// The API call failed (409 Conflict when the object changed since it was read).
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// `mutate` changed the name or namespace.
    #[error("create_or_update: mutate must not change the name or namespace of {namespace}/{name}")]
    IdentityChanged {
        /// The name before `mutate`.
        name: String,
        /// The namespace before `mutate` (empty for cluster-scoped objects).
        namespace: String,
    },
}

/// Reads the object named like `obj` (which needs at least its name), applies `mutate` to
/// what the server has (or to `obj` if nothing exists), and writes only if something changed:
/// a create, an update carrying the read resourceVersion (a concurrent change makes it fail
/// with 409, and the reconcile retries), or nothing.
///
/// `mutate` must leave the name and namespace alone; changing them is an error, reported
/// before anything is written.
pub async fn create_or_update<K>(
    api: &Api<K>,
    obj: K,
    mutate: impl FnOnce(&mut K),
) -> Result<(K, Outcome), CreateOrUpdateError>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = obj.name_any();
    let namespace = obj.namespace();
    let check_identity = |mutated: &K| -> Result<(), CreateOrUpdateError> {
        if mutated.name_any() != name || mutated.namespace() != namespace {
            return Err(CreateOrUpdateError::IdentityChanged {
                name: name.clone(),
                namespace: namespace.clone().unwrap_or_default(),
            });
        }
        Ok(())
    };
    match api.get_opt(&name).await? {
        None => {
            let mut new = obj;
            mutate(&mut new);
            check_identity(&new)?;
            let created = api.create(&PostParams::default(), &new).await?;
            Ok((created, Outcome::Created))
        }
        Some(existing) => {
            let mut changed = existing.clone();
            mutate(&mut changed);
            check_identity(&changed)?;
            if serde_json::to_value(&changed).ok() == serde_json::to_value(&existing).ok() {
                return Ok((existing, Outcome::Unchanged));
            }
            let updated = api.replace(&name, &PostParams::default(), &changed).await?;
            Ok((updated, Outcome::Updated))
        }
    }
}

/// Server-side applies `obj` as `field_manager` (use the controller's name), forcing
/// ownership of the fields it sets, as controller-runtime's `client.Apply` with
/// `ForceOwnership`. `obj` should contain only the fields this controller cares about
/// (with `apiVersion` and `kind`); fields it leaves out that it set before are removed.
pub async fn apply<K>(api: &Api<K>, obj: &K, field_manager: &str) -> Result<K, kube::Error>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    let params = PatchParams::apply(field_manager).force();
    api.patch(&obj.name_any(), &params, &Patch::Apply(obj))
        .await
}

/// The first error of a [`slow_start_batch`] and how many calls had succeeded.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({succeeded} succeeded before)")]
pub struct BatchError<E: std::error::Error + 'static> {
    /// Calls that succeeded before the failing batch ended.
    pub succeeded: usize,
    /// The first error of the failing batch.
    #[source]
    pub error: E,
}

/// Calls `f(0..count)` in batches of doubling size, starting at `initial_batch_size`, each
/// batch concurrently; stops after the first batch with a failure, as client-go's
/// `slowStartBatch`. Creating 500 pods against a quota that allows none fails after one call
/// instead of 500. Returns how many calls succeeded.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use kubesmith_runtime::apply::slow_start_batch;
///
/// let calls = AtomicUsize::new(0);
/// let result = slow_start_batch(10, 1, |i| {
///     calls.fetch_add(1, Ordering::SeqCst);
///     async move { if i == 4 { Err(std::io::Error::other("quota exceeded")) } else { Ok(()) } }
/// }).await;
/// let err = result.unwrap_err();
/// // batches 1, 2, 4: the third (calls 3..=6) contains the failure, nothing after it runs
/// assert_eq!(calls.load(Ordering::SeqCst), 7);
/// assert_eq!(err.succeeded, 6);
/// # }
/// ```
pub async fn slow_start_batch<F, Fut, E>(
    count: usize,
    initial_batch_size: usize,
    mut f: F,
) -> Result<usize, BatchError<E>>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
{
    let mut succeeded = 0;
    let mut next = 0;
    let mut batch = initial_batch_size.max(1);
    while next < count {
        let size = batch.min(count - next);
        let results = join_all((next..next + size).map(&mut f)).await;
        next += size;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(()) => succeeded += 1,
                Err(err) => {
                    if first_error.is_none() {
                        first_error = Some(err);
                    }
                }
            }
        }
        if let Some(error) = first_error {
            return Err(BatchError { succeeded, error });
        }
        batch = batch.saturating_mul(2);
    }
    Ok(succeeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_double_and_all_run_without_errors() {
        let sizes = std::sync::Mutex::new(Vec::new());
        let n = slow_start_batch(10, 1, |i| {
            sizes.lock().unwrap().push(i);
            async { Ok::<(), std::io::Error>(()) }
        })
        .await
        .unwrap();
        assert_eq!(n, 10);
        assert_eq!(sizes.into_inner().unwrap(), (0..10).collect::<Vec<_>>());
        assert_eq!(
            slow_start_batch(0, 1, |_| async { Ok::<(), std::io::Error>(()) })
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn a_failing_first_call_stops_everything() {
        let mut calls = 0;
        let err = slow_start_batch(500, 1, |_| {
            calls += 1;
            async { Err::<(), _>(std::io::Error::other("quota")) }
        })
        .await
        .unwrap_err();
        assert_eq!((calls, err.succeeded), (1, 0));
        assert_eq!(err.to_string(), "quota (0 succeeded before)");
    }
}
