//! API types, one module per group.

pub mod cache;
// +kubesmith:scaffold:groups
