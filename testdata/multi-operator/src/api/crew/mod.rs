//! The crew.testproject.org API group.

pub mod v1;
// +kubesmith:scaffold:versions
