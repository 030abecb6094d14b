//! Version v2 of the crew.testproject.org API group.

pub mod captain;
pub use captain::*;
pub mod captain_conversion;
// +kubesmith:scaffold:kinds
