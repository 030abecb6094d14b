//! Admission and conversion webhooks, as controller-runtime's `webhook` packages: a
//! [`Defaulter`] answers with a JSON patch, a [`Validator`] admits (with warnings) or denies
//! (with a message, a code and field causes), and [`Convertible`] spokes convert through
//! their hub at `/convert`. The manager serves them over HTTPS (see [`WebhookServer`]).
//!
//! ```no_run
//! use kubesmith_runtime::prelude::*;
//! use kubesmith_runtime::webhook::{AdmissionError, Defaulter, Validator, Warnings, Webhook};
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! struct ConfigMapWebhook;
//!
//! impl Defaulter<ConfigMap> for ConfigMapWebhook {
//!     async fn default(&self, cm: &mut ConfigMap) -> Result<(), AdmissionError> {
//!         cm.labels_mut().entry("owner".into()).or_insert_with(|| "platform".into());
//!         Ok(())
//!     }
//! }
//!
//! impl Validator<ConfigMap> for ConfigMapWebhook {
//!     async fn validate_create(&self, cm: &ConfigMap) -> Result<Warnings, AdmissionError> {
//!         match cm.data.as_ref().map_or(0, |d| d.len()) {
//!             0 => Ok(vec!["an empty config map".into()]),
//!             ..=100 => Ok(Warnings::new()),
//!             _ => Err(AdmissionError::invalid("data", "must have at most 100 keys")),
//!         }
//!     }
//!     async fn validate_update(&self, _old: &ConfigMap, new: &ConfigMap) -> Result<Warnings, AdmissionError> {
//!         self.validate_create(new).await
//!     }
//!     async fn validate_delete(&self, _cm: &ConfigMap) -> Result<Warnings, AdmissionError> {
//!         Ok(Warnings::new())
//!     }
//! }
//!
//! # async fn doc() -> Result<(), kubesmith_runtime::Error> {
//! let mgr = Manager::from_env(Options::default()).await?;
//! Webhook::managed_by(&mgr)
//!     .for_::<ConfigMap>()
//!     .with_defaulter(ConfigMapWebhook)   // served at /mutate--v1-configmap
//!     .with_validator(ConfigMapWebhook)   // served at /validate--v1-configmap
//!     .complete()?;
//! mgr.run().await
//! # }
//! ```

mod admission;
mod certs;
mod conversion;
mod server;

use std::marker::PhantomData;
use std::sync::Arc;

use kube::Resource;
use kube::core::GroupVersionKind;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use admission::{AdmissionError, Defaulter, Validator, Warnings};
pub use conversion::{ConversionError, Convertible};
pub use server::WebhookServer;

use crate::{Error, Manager};

/// The path kubebuilder serves a kind's defaulting (`mutating`) or validating webhook at:
/// `/mutate-<group with dots as dashes>-<version>-<lowercase kind>` or `/validate-...`; the
/// core group is empty.
///
/// ```
/// use kube::core::GroupVersionKind;
/// use kubesmith_runtime::webhook::default_path;
///
/// let memcached = GroupVersionKind::gvk("cache.example.com", "v1alpha1", "Memcached");
/// assert_eq!(default_path(&memcached, true), "/mutate-cache-example-com-v1alpha1-memcached");
/// assert_eq!(default_path(&memcached, false), "/validate-cache-example-com-v1alpha1-memcached");
/// assert_eq!(default_path(&GroupVersionKind::gvk("", "v1", "Pod"), true), "/mutate--v1-pod");
/// ```
pub fn default_path(gvk: &GroupVersionKind, mutating: bool) -> String {
    let prefix = if mutating { "mutate" } else { "validate" };
    format!(
        "/{prefix}-{}-{}-{}",
        gvk.group.replace('.', "-"),
        gvk.version,
        gvk.kind.to_lowercase()
    )
}

/// The path conversion webhooks are served at, for every convertible kind.
pub const CONVERT_PATH: &str = server::CONVERT_PATH;

/// Entry point for registering webhooks:
/// `Webhook::managed_by(&mgr).for_::<K>().with_defaulter(d).with_validator(v).complete()`,
/// as controller-runtime's `ctrl.NewWebhookManagedBy(mgr).For(&K{})`.
#[derive(Debug)]
pub struct Webhook;

impl Webhook {
    /// Starts registering webhooks served by `manager`'s webhook server.
    pub fn managed_by(manager: &Manager) -> Builder<()> {
        Builder {
            manager: manager.clone(),
            defaulter: None,
            validator: None,
            defaulter_path: None,
            validator_path: None,
            spokes: Vec::new(),
            wrong_spoke: None,
            _kind: PhantomData,
        }
    }
}

/// Configures the webhooks of one kind; finish with [`complete`](Builder::complete).
pub struct Builder<K> {
    manager: Manager,
    defaulter: Option<Arc<dyn admission::Handler>>,
    validator: Option<Arc<dyn admission::Handler>>,
    defaulter_path: Option<String>,
    validator_path: Option<String>,
    /// Spoke versions, converted through `K` (the hub).
    spokes: Vec<(String, conversion::Version)>,
    /// A spoke of another kind than `K`, named as `Kind.group/version`.
    wrong_spoke: Option<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> std::fmt::Debug for Builder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("defaulter", &self.defaulter.is_some())
            .field("validator", &self.validator.is_some())
            .field("defaulter_path", &self.defaulter_path)
            .field("validator_path", &self.validator_path)
            .field(
                "spokes",
                &self.spokes.iter().map(|(v, _)| v).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Builder<()> {
    /// The kind the webhooks are for; with [`with_conversion`](Builder::with_conversion) it
    /// is the hub.
    pub fn for_<K>(self) -> Builder<K>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Builder {
            manager: self.manager,
            defaulter: None,
            validator: None,
            defaulter_path: None,
            validator_path: None,
            spokes: Vec::new(),
            wrong_spoke: None,
            _kind: PhantomData,
        }
    }
}

impl<K> Builder<K>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Serves `defaulter` as a mutating webhook, at [`default_path`] unless
    /// [`with_defaulter_path`](Self::with_defaulter_path) says otherwise.
    pub fn with_defaulter(mut self, defaulter: impl Defaulter<K>) -> Self {
        self.defaulter = Some(Arc::new(admission::DefaulterHandler {
            defaulter,
            _kind: PhantomData,
        }));
        self
    }

    /// Serves `validator` as a validating webhook, at [`default_path`] unless
    /// [`with_validator_path`](Self::with_validator_path) says otherwise.
    pub fn with_validator(mut self, validator: impl Validator<K>) -> Self {
        self.validator = Some(Arc::new(admission::ValidatorHandler {
            validator,
            _kind: PhantomData,
        }));
        self
    }

    /// Serves conversion between `Spoke` and `K`, the hub (and, through it, between spokes)
    /// at `/convert`. Repeat for every spoke version.
    pub fn with_conversion<Spoke>(mut self) -> Self
    where
        Spoke: Convertible<K> + Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        if (Spoke::group(&()), Spoke::kind(&())) == (K::group(&()), K::kind(&())) {
            self.spokes.push(conversion::Version::spoke::<K, Spoke>());
        } else if self.wrong_spoke.is_none() {
            // Reported by `complete`, which can return an error.
            self.wrong_spoke = Some(admission::type_name::<Spoke>());
        }
        self
    }

    /// Serves the defaulter at `path` instead of [`default_path`] (kubebuilder's
    /// `--defaulting-path`).
    pub fn with_defaulter_path(mut self, path: impl Into<String>) -> Self {
        self.defaulter_path = Some(path.into());
        self
    }

    /// Serves the validator at `path` instead of [`default_path`] (kubebuilder's
    /// `--validation-path`).
    pub fn with_validator_path(mut self, path: impl Into<String>) -> Self {
        self.validator_path = Some(path.into());
        self
    }

    /// Registers the webhooks with the manager's webhook server. Fails, registering nothing,
    /// if there is nothing to serve, a custom path is given without its webhook, a path is
    /// taken or malformed, or a spoke does not fit the hub.
    ///
    /// Register before [`Manager::run`]: the server starts only if webhooks were registered
    /// by then (later ones are served if it did).
    pub fn complete(self) -> Result<(), Error> {
        let name = admission::type_name::<K>();
        let invalid = |reason: String| Error::InvalidWebhook {
            kind: name.clone(),
            reason,
        };
        if self.defaulter.is_none()
            && self.validator.is_none()
            && self.spokes.is_empty()
            && self.wrong_spoke.is_none()
        {
            return Err(invalid(
                "nothing to serve: add with_defaulter, with_validator or with_conversion".into(),
            ));
        }
        if self.defaulter.is_none() && self.defaulter_path.is_some() {
            return Err(invalid(
                "with_defaulter_path needs with_defaulter: a custom path is only for its webhook"
                    .into(),
            ));
        }
        if self.validator.is_none() && self.validator_path.is_some() {
            return Err(invalid(
                "with_validator_path needs with_validator: a custom path is only for its webhook"
                    .into(),
            ));
        }
        let gvk = GroupVersionKind::gvk(&K::group(&()), &K::version(&()), &K::kind(&()));
        let server = self.manager.webhook_server();
        let mut handlers = Vec::new();
        for (handler, path, mutating) in [
            (self.defaulter, self.defaulter_path, true),
            (self.validator, self.validator_path, false),
        ] {
            if let Some(handler) = handler {
                let path = path.unwrap_or_else(|| default_path(&gvk, mutating));
                server.check_path(&path).map_err(&invalid)?;
                if handlers.iter().any(|(p, _)| *p == path) {
                    return Err(invalid(format!(
                        "the defaulter and the validator cannot share the path {path}"
                    )));
                }
                handlers.push((path, handler));
            }
        }
        if let Some(spoke) = self.wrong_spoke {
            return Err(invalid(format!(
                "the spoke {spoke} is another kind; a spoke is a version of the hub's kind"
            )));
        }
        let mut spokes = Vec::new();
        for (version, spoke) in self.spokes {
            if version == gvk.version || spokes.iter().any(|(v, _)| *v == version) {
                return Err(invalid(format!(
                    "version {version} is given twice; the hub and each spoke are distinct versions"
                )));
            }
            spokes.push((version, spoke));
        }
        // Each step checks and registers under one lock; a later failure undoes the
        // earlier step, so a refused builder leaves nothing behind.
        let paths: Vec<String> = handlers.iter().map(|(path, _)| path.clone()).collect();
        server.add_admission(handlers).map_err(&invalid)?;
        if !spokes.is_empty() {
            let registered = server.conversions().register(
                &gvk.group,
                &gvk.kind,
                conversion::Version::hub::<K>(),
                spokes,
            );
            if let Err(reason) = registered {
                server.remove_admission(&paths);
                return Err(invalid(reason));
            }
            server.add_conversion_route();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_kubebuilder() {
        let gvk = GroupVersionKind::gvk("cache.example.com", "v1alpha1", "Memcached");
        assert_eq!(
            default_path(&gvk, true),
            "/mutate-cache-example-com-v1alpha1-memcached"
        );
        assert_eq!(
            default_path(&gvk, false),
            "/validate-cache-example-com-v1alpha1-memcached"
        );
        let pod = GroupVersionKind::gvk("", "v1", "Pod");
        assert_eq!(default_path(&pod, true), "/mutate--v1-pod");
        assert_eq!(default_path(&pod, false), "/validate--v1-pod");
        let deployment = GroupVersionKind::gvk("apps", "v1", "Deployment");
        assert_eq!(
            default_path(&deployment, false),
            "/validate-apps-v1-deployment"
        );
    }
}
