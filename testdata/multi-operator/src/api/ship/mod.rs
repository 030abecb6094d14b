//! The ship.testproject.org API group.

pub mod v1beta1;
// +kubesmith:scaffold:versions
