//! Webhooks of the v1 kinds.

pub mod captain;
// +kubesmith:scaffold:webhookkinds
