//! memcached-operator: API types and controllers, shared by the manager binary and the tests.

pub mod api;
// Controllers and webhooks need the `manager` feature (on by default). `kubesmith generate`
// builds src/bin/manifests.rs without it, so a type edit recompiles only the API types.
#[cfg(feature = "manager")]
pub mod controller;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
#[cfg(feature = "manager")]
use kubesmith_runtime::Manager;

/// Every CRD of this project, as `kubesmith generate` writes them to `config/crd/bases`.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        <api::cache::v1alpha1::memcached::Memcached as kube::CustomResourceExt>::crd(),
        // +kubesmith:scaffold:crds
    ]
}

/// Registers every controller of this project with the manager.
#[cfg(feature = "manager")]
pub fn add_controllers(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    let _ = mgr; // used by the registrations kubesmith inserts below
    controller::memcached::add(mgr)?;
    // +kubesmith:scaffold:controllers
    Ok(())
}

/// Registers every webhook of this project with the manager's webhook server.
#[cfg(feature = "manager")]
pub fn add_webhooks(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    let _ = mgr; // used by the registrations kubesmith inserts below
    // +kubesmith:scaffold:webhooks
    Ok(())
}
