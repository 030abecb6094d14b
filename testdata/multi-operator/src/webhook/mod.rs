//! Admission and conversion webhooks of multi-operator, one module per API version.

pub mod v1;
// +kubesmith:scaffold:webhookversions
