//! Version v1 of the crew.testproject.org API group.

pub mod captain;
pub use captain::*;
pub mod admiral;
pub use admiral::*;
// +kubesmith:scaffold:kinds
