//! The sea-creatures.testproject.org API group.

pub mod v1beta2;
// +kubesmith:scaffold:versions
