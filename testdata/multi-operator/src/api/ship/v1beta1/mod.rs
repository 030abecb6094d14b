//! Version v1beta1 of the ship.testproject.org API group.

pub mod frigate;
pub use frigate::*;
// +kubesmith:scaffold:kinds
