//! Version v1beta2 of the sea-creatures.testproject.org API group.

pub mod r#match;
pub use r#match::*;
// +kubesmith:scaffold:kinds
