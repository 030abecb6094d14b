//! The crew.testproject.org API group.

pub mod v1;
pub mod v2;
// +kubesmith:scaffold:versions
