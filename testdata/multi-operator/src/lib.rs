//! multi-operator: API types and controllers, shared by the manager binary and the tests.

pub mod api;
// Controllers and webhooks need the `manager` feature (on by default). `kubesmith generate`
// builds src/bin/manifests.rs without it, so a type edit recompiles only the API types.
#[cfg(feature = "manager")]
pub mod controller;
#[cfg(feature = "manager")]
pub mod webhook;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
#[cfg(feature = "manager")]
use kubesmith_runtime::Manager;

/// Every CRD of this project, as `kubesmith generate` writes them to `config/crd/bases`.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        <api::crew::v1::captain::Captain as kube::CustomResourceExt>::crd(),
        <api::crew::v2::captain::Captain as kube::CustomResourceExt>::crd(),
        <api::crew::v1::admiral::Admiral as kube::CustomResourceExt>::crd(),
        <api::ship::v1beta1::frigate::Frigate as kube::CustomResourceExt>::crd(),
        <api::sea_creatures::v1beta2::r#match::Match as kube::CustomResourceExt>::crd(),
        // +kubesmith:scaffold:crds
    ]
}

/// Registers every controller of this project with the manager.
#[cfg(feature = "manager")]
pub fn add_controllers(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    let _ = mgr; // used by the registrations kubesmith inserts below
    controller::captain::add(mgr)?;
    controller::captain_backup::add(mgr)?;
    controller::frigate::add(mgr)?;
    controller::r#match::add(mgr)?;
    // +kubesmith:scaffold:controllers
    Ok(())
}

/// Registers every webhook of this project with the manager's webhook server.
#[cfg(feature = "manager")]
pub fn add_webhooks(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    let _ = mgr; // used by the registrations kubesmith inserts below
    webhook::v1::captain::add(mgr)?;
    // +kubesmith:scaffold:webhooks
    Ok(())
}
